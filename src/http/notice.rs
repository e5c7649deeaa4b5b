//! The public roster notice (公示) of a class's certified trainees, with masked names, ID
//! numbers and phones, as HTML and CSV. The bureau publishes it after confirming the
//! results; before that it is not public.

use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use sqlx::Row;
use utoipa::IntoParams;

use super::error::{ApiError, ApiResult};
use super::extract::CurrentUser;
use super::scope::class_for;
use super::AppState;
use crate::attendance::notice::{self, Certified};
use crate::attendance::reports::{to_csv, to_html, Table};
use crate::auth::Action;
use crate::store::results::{self, Results};
use crate::store::{audit, classes, Conn};

/// The notice table of a class: trainees with valid certificates.
pub async fn notice_table(conn: &mut Conn, class_id: i64) -> ApiResult<Table> {
    let class = classes::get(conn, class_id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("class {class_id}")))?;
    let rows = sqlx::query(
        "SELECT COALESCE(r.name, u.display_name) AS name, COALESCE(r.id_number_masked, '') AS idm, \
         COALESCE(r.mobile, '') AS mobile, c.number FROM trainee_certificates c \
         JOIN users u ON u.id = c.student_id LEFT JOIN student_records r ON r.user_id = u.id \
         WHERE c.class_id = $1 AND c.stamped_at IS NOT NULL AND c.verified_at IS NOT NULL \
         AND c.revoked_at IS NULL ORDER BY c.id",
    )
    .bind(class_id)
    .fetch_all(&mut *conn)
    .await?;
    let people = rows
        .iter()
        .map(|r| {
            Ok(Certified {
                name: r.try_get("name")?,
                id_number_masked: r.try_get("idm")?,
                mobile: r.try_get("mobile")?,
                certificate: r.try_get("number")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    Ok(notice::table(&class.name, &people))
}

/// The bureau publishes a class's roster notice (after confirming its results).
#[utoipa::path(post, path = "/api/classes/{id}/notice/publish", tag = "certificates",
    params(("id" = i64, Path, description = "class id")),
    responses((status = 200, body = Results), (status = 409, description = "results_not_confirmed")))]
pub async fn publish(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<Results>> {
    me.require(Action::PublishNotice)?;
    let mut tx = st.store.begin().await?;
    let class = class_for(&mut tx, &me.user, id).await?;
    match results::get(&mut tx, id).await? {
        Some(r) if r.status == "confirmed" => {}
        _ => {
            return Err(ApiError::conflict(
                "results_not_confirmed",
                "publish the notice after confirming the class's results",
            ))
        }
    }
    results::publish_notice(&mut tx, id).await?;
    audit::record(
        &mut tx,
        &audit::NewEntry {
            actor_id: Some(me.user.id),
            actor_role: Some(me.user.role.as_str()),
            action: "notice.publish",
            target_kind: "class",
            target_id: Some(id.to_string()),
            institution_id: Some(class.institution_id),
            detail: json!({}),
        },
    )
    .await?;
    let r = results::get(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("results"))?;
    tx.commit().await?;
    Ok(Json(r))
}

/// Format of the notice.
#[derive(Deserialize, IntoParams)]
pub struct NoticeQuery {
    /// `html` (default) or `csv`.
    pub format: Option<String>,
}

/// The published roster notice of a class (no login): HTML or CSV, masked.
#[utoipa::path(get, path = "/api/public/classes/{id}/notice", tag = "certificates",
    params(("id" = i64, Path, description = "class id"), NoticeQuery),
    responses((status = 200, description = "text/html or text/csv"), (status = 404, description = "not published")))]
pub async fn public_notice(
    State(st): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<NoticeQuery>,
) -> ApiResult<Response> {
    let mut conn = st.store.conn().await?;
    let published = results::get(&mut conn, id)
        .await?
        .and_then(|r| r.notice_published_at)
        .is_some();
    if !published {
        return Err(ApiError::not_found(format!(
            "published roster notice of class {id}"
        )));
    }
    let t = notice_table(&mut conn, id).await?;
    Ok(match q.format.as_deref() {
        Some("csv") => (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8")],
            to_csv(&t),
        )
            .into_response(),
        None | Some("html") => Html(to_html(&t)).into_response(),
        Some(other) => {
            return Err(ApiError::bad_request(
                "bad_format",
                format!("format {other:?}: use html or csv"),
            ))
        }
    })
}
