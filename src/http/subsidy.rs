//! The subsidy summary of a class: certified trainees × standard, and the materials the
//! application needs with which are present.

use axum::extract::{Path, State};
use axum::Json;

use super::error::ApiResult;
use super::extract::CurrentUser;
use super::scope::class_for;
use super::AppState;
use crate::attendance::subsidy::{self, MaterialFacts, SubsidySummary};
use crate::auth::Action;
use crate::store::certificates::{self, CertStatus};
use crate::store::{reports, results};

/// A class's subsidy summary.
#[utoipa::path(get, path = "/api/classes/{id}/subsidy", tag = "certificates",
    params(("id" = i64, Path, description = "class id")), responses((status = 200, body = SubsidySummary)))]
pub async fn get_subsidy(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<SubsidySummary>> {
    me.require(Action::ReadSubsidy)?;
    let mut conn = st.store.conn().await?;
    let class = class_for(&mut conn, &me.user, id).await?;
    let valid: Vec<i64> = certificates::of_class(&mut conn, id)
        .await?
        .into_iter()
        .filter(|c| c.status == CertStatus::Valid)
        .map(|c| c.student_id)
        .collect();
    let mut with_ids = 0;
    for s in &valid {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM student_files WHERE user_id = $1 AND kind IN ('id_front', 'id_back')")
            .bind(s)
            .fetch_one(&mut *conn)
            .await?;
        if n == 2 {
            with_ids += 1;
        }
    }
    let facts = MaterialFacts {
        enrolled: class.students as u32,
        certified: valid.len() as u32,
        certified_with_id_copies: with_ids,
        attendance_report: reports::get(&mut conn, id, "attendance", "xlsx")
            .await?
            .is_some(),
        exam_transcript: reports::get(&mut conn, id, "transcript", "xlsx")
            .await?
            .is_some(),
        results_confirmed: results::get(&mut conn, id)
            .await?
            .is_some_and(|r| r.status == "confirmed"),
    };
    Ok(Json(subsidy::summarise(
        class.course_type,
        &st.config.attendance.subsidy,
        &facts,
    )))
}
