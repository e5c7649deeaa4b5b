//! A finished class's results: the institution submits them, the bureau reviews them and
//! confirms the number of valid trainees (审核确定有效培训人数); confirmation issues the
//! eligible trainees' certificates (pending the institution's stamp and the bureau's 验印).

use axum::extract::{Path, State};
use axum::Json;
use rand::Rng;
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use super::classes::audit_class;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, CurrentUser};
use super::reports::summary_of;
use super::scope::class_for;
use super::AppState;
use crate::auth::Action;
use crate::filing::status::ClassStatus;
use crate::store::certificates;
use crate::store::classes::Class;
use crate::store::results::{self, ResultRow, Results};

/// The institution submits a finished class's results (a snapshot of every student's
/// eligibility) to the bureau.
#[utoipa::path(post, path = "/api/classes/{id}/results", tag = "certificates",
    params(("id" = i64, Path, description = "class id")),
    responses((status = 200, body = Results), (status = 409, description = "class_not_finished, results_awaiting_review or results_confirmed")))]
pub async fn submit_results(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<Results>> {
    me.require(Action::SubmitResults)?;
    let mut tx = st.store.begin().await?;
    let class = class_for(&mut tx, &me.user, id).await?;
    if class.status != ClassStatus::Finished {
        return Err(ApiError::conflict(
            "class_not_finished",
            format!(
                "class {id} is {}; results are submitted after it finishes",
                class.status
            ),
        ));
    }
    match results::get(&mut tx, id).await? {
        Some(r) if r.status == "submitted" => {
            return Err(ApiError::conflict(
                "results_awaiting_review",
                "the results await the bureau's review",
            ))
        }
        Some(r) if r.status == "confirmed" => {
            return Err(ApiError::conflict(
                "results_confirmed",
                "the bureau has already confirmed these results",
            ))
        }
        _ => {}
    }
    let summary = summary_of(&st, &mut tx, &class).await?;
    let snapshot: Vec<ResultRow> = summary
        .rows
        .iter()
        .map(|r| ResultRow {
            student_id: r.trainee.student_id,
            name: r.trainee.name.clone(),
            eligible: r.verdict.eligible,
            reasons: r.verdict.reasons(),
        })
        .collect();
    results::submit(&mut tx, id, &snapshot, me.user.id).await?;
    audit_class(
        &mut tx,
        &me.user,
        &class,
        "results.submit",
        json!({"eligible": summary.eligible, "students": snapshot.len()}),
    )
    .await?;
    let r = results::get(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("results"))?;
    tx.commit().await?;
    Ok(Json(r))
}

/// A class's submitted results and their review.
#[utoipa::path(get, path = "/api/classes/{id}/results", tag = "certificates",
    params(("id" = i64, Path, description = "class id")), responses((status = 200, body = Results)))]
pub async fn get_results(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<Results>> {
    // Whole-class data; students see their own row in /attendance.
    me.require(Action::ReadClassResults)?;
    let mut conn = st.store.conn().await?;
    class_for(&mut conn, &me.user, id).await?;
    Ok(Json(results::get(&mut conn, id).await?.ok_or_else(
        || ApiError::not_found(format!("results of class {id}")),
    )?))
}

/// The bureau's review.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Review {
    /// Confirm (true) or return to the institution (false).
    pub confirm: bool,
    /// When confirming: the number of valid trainees, which must equal the eligible
    /// trainees in the submitted results.
    pub valid_trainees: Option<i64>,
    /// Required when returning.
    pub comment: Option<String>,
}

fn certificate_number(class: &Class, seq: usize, year: i32) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ"; // Crockford base32
    let mut rng = rand::thread_rng();
    let suffix: String = (0..4)
        .map(|_| ALPHABET[rng.gen_range(0..32)] as char)
        .collect();
    format!(
        "{}{year}{:06}{:04}-{suffix}",
        class.course_type.as_str(),
        class.id,
        seq
    )
}

/// The bureau confirms the number of valid trainees (issuing their certificates) or returns
/// the results with a comment.
#[utoipa::path(post, path = "/api/classes/{id}/results/review", tag = "certificates",
    params(("id" = i64, Path, description = "class id")), request_body = Review,
    responses((status = 200, body = Results), (status = 422, description = "count_mismatch or comment_required")))]
pub async fn review_results(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<Review>,
) -> ApiResult<Json<Results>> {
    me.require(Action::ReviewResults)?;
    let comment = req
        .comment
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let mut tx = st.store.begin().await?;
    let class = class_for(&mut tx, &me.user, id).await?;
    let r = results::get(&mut tx, id)
        .await?
        .filter(|r| r.status == "submitted")
        .ok_or_else(|| {
            ApiError::conflict(
                "results_not_submitted",
                "there are no results awaiting review",
            )
        })?;
    if req.confirm {
        let n = req.valid_trainees.ok_or_else(|| {
            ApiError::unprocessable(
                "count_required",
                "give valid_trainees, the number of valid trainees you confirm",
            )
        })?;
        if n != r.eligible_count {
            return Err(ApiError::unprocessable(
                "count_mismatch",
                format!("the submitted results list {} eligible trainee(s), not {n}; return them with a comment if they are wrong", r.eligible_count),
            ));
        }
        results::review(&mut tx, id, Some(n), comment, me.user.id).await?;
        let year = chrono::Utc::now()
            .with_timezone(&st.config.tz())
            .format("%Y")
            .to_string()
            .parse()
            .unwrap_or(2026);
        let mut issued = 0;
        for row in r.snapshot.iter().filter(|r| r.eligible) {
            issued += 1;
            certificates::issue(
                &mut tx,
                &certificate_number(&class, issued, year),
                id,
                row.student_id,
            )
            .await?;
        }
        audit_class(
            &mut tx,
            &me.user,
            &class,
            "results.confirm",
            json!({"valid_trainees": n, "certificates_issued": issued}),
        )
        .await?;
    } else {
        let Some(c) = comment else {
            return Err(ApiError::unprocessable(
                "comment_required",
                "say why the results are returned",
            ));
        };
        results::review(&mut tx, id, None, Some(c), me.user.id).await?;
        audit_class(
            &mut tx,
            &me.user,
            &class,
            "results.return",
            json!({"comment": c}),
        )
        .await?;
    }
    let r = results::get(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("results"))?;
    tx.commit().await?;
    Ok(Json(r))
}
