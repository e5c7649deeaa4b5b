//! Business plans over HTTP: the student uploads a PDF or DOCX (checked by content, size
//! limited), the class's lecturer approves or rejects it with a comment, and a rejected plan
//! may be resubmitted.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use signaling::Role;
use utoipa::{IntoParams, ToSchema};

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, CurrentUser, Upload};
use super::scope::class_for;
use super::AppState;
use crate::attendance::eligibility::PlanStatus;
use crate::attendance::plan_file;
use crate::auth::Action;
use crate::store::plans::{self, NewPlan, Plan};
use crate::store::{audit, classes};

/// Upload options.
#[derive(Deserialize, IntoParams)]
pub struct UploadQuery {
    /// File name to keep with the plan (the type is decided by content, not by this name).
    pub filename: Option<String>,
}

/// Uploads the caller's business plan for a class (raw body: the PDF or DOCX file).
#[utoipa::path(post, path = "/api/classes/{id}/business-plan", tag = "plans",
    params(("id" = i64, Path, description = "class id"), UploadQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = Plan),
        (status = 413, description = "plan_too_large"),
        (status = 415, description = "not_pdf_or_docx: the content is neither a PDF nor a DOCX"),
        (status = 409, description = "plan_awaiting_review or plan_already_approved")))]
pub async fn upload_plan(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
    Query(q): Query<UploadQuery>,
    upload: Upload,
) -> ApiResult<(StatusCode, Json<Plan>)> {
    me.require(Action::SubmitPlan)?;
    let max = st.config.attendance.plan_max_bytes;
    if upload.bytes.len() > max {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "plan_too_large",
            format!(
                "the plan is {} bytes; at most {max} bytes are accepted",
                upload.bytes.len()
            ),
        ));
    }
    let kind = plan_file::sniff(&upload.bytes).map_err(|e| {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not_pdf_or_docx",
            e.to_string(),
        )
    })?;
    let mut tx = st.store.begin().await?;
    let class = class_for(&mut tx, &me.user, id).await?;
    let latest = plans::latest(&mut tx, id, me.user.id).await?;
    let version =
        match &latest {
            None => 1,
            Some(p) if p.status == PlanStatus::Rejected => p.version + 1,
            Some(p) if p.status == PlanStatus::Approved => {
                return Err(ApiError::conflict(
                    "plan_already_approved",
                    "your business plan is already approved",
                ))
            }
            Some(_) => return Err(ApiError::conflict(
                "plan_awaiting_review",
                "your business plan awaits the lecturer's review; resubmit only after a rejection",
            )),
        };
    let name = q
        .filename
        .map(|n| n.trim().chars().take(200).collect::<String>())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("business-plan.{}", kind.extension()));
    let sha = hex::encode(Sha256::digest(&upload.bytes));
    let plan_id = plans::insert(
        &mut tx,
        &NewPlan {
            class_id: id,
            student_id: me.user.id,
            version,
            file_name: &name,
            content_type: kind.mime(),
            content: &upload.bytes,
            sha256: &sha,
        },
    )
    .await?;
    audit::record(
        &mut tx,
        &audit::NewEntry {
            actor_id: Some(me.user.id),
            actor_role: Some(me.user.role.as_str()),
            action: "plan.upload",
            target_kind: "business_plan",
            target_id: Some(plan_id.to_string()),
            institution_id: Some(class.institution_id),
            detail: json!({"class_id": id, "version": version, "sha256": sha}),
        },
    )
    .await?;
    let plan = plans::get(&mut tx, plan_id)
        .await?
        .ok_or_else(|| ApiError::not_found("plan"))?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(plan)))
}

/// Business plans of a class, every version (a student sees their own).
#[utoipa::path(get, path = "/api/classes/{id}/business-plans", tag = "plans",
    params(("id" = i64, Path, description = "class id")), responses((status = 200, body = Vec<Plan>)))]
pub async fn list_plans(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<Vec<Plan>>> {
    me.require(Action::ReadPlans)?;
    let mut conn = st.store.conn().await?;
    class_for(&mut conn, &me.user, id).await?;
    let mut all = plans::list(&mut conn, id).await?;
    if me.user.role == Role::Student {
        all.retain(|p| p.student_id == me.user.id);
    }
    Ok(Json(all))
}

async fn plan_for(st: &AppState, me: &CurrentUser, plan_id: i64) -> ApiResult<Plan> {
    let mut conn = st.store.conn().await?;
    let not_found = || ApiError::not_found(format!("business plan {plan_id}"));
    let plan = plans::get(&mut conn, plan_id)
        .await?
        .ok_or_else(not_found)?;
    class_for(&mut conn, &me.user, plan.class_id)
        .await
        .map_err(|_| not_found())?;
    if me.user.role == Role::Student && plan.student_id != me.user.id {
        return Err(not_found());
    }
    Ok(plan)
}

/// Downloads a plan's file.
#[utoipa::path(get, path = "/api/business-plans/{id}/file", tag = "plans",
    params(("id" = i64, Path, description = "plan id")), responses((status = 200, description = "the file")))]
pub async fn download_plan(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<impl IntoResponse> {
    me.require(Action::ReadPlans)?;
    let plan = plan_for(&st, &me, id).await?;
    let mut conn = st.store.conn().await?;
    let bytes = plans::content(&mut conn, id)
        .await?
        .ok_or_else(|| ApiError::not_found("plan file"))?;
    Ok((
        [
            (header::CONTENT_TYPE, plan.content_type.clone()),
            (
                header::CONTENT_DISPOSITION,
                format!(
                    "attachment; filename=\"plan-{}-v{}\"",
                    plan.id, plan.version
                ),
            ),
        ],
        bytes,
    ))
}

/// The lecturer's decision.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Decision {
    /// Approve (true) or reject (false).
    pub approve: bool,
    /// Comment to the student (required when rejecting).
    pub comment: Option<String>,
}

/// The class's lecturer approves or rejects a plan awaiting review.
#[utoipa::path(post, path = "/api/business-plans/{id}/decision", tag = "plans",
    params(("id" = i64, Path, description = "plan id")), request_body = Decision,
    responses((status = 200, body = Plan), (status = 409, description = "plan_not_awaiting_review")))]
pub async fn decide_plan(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<Decision>,
) -> ApiResult<Json<Plan>> {
    me.require(Action::ReviewPlan)?;
    let comment = req
        .comment
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    if !req.approve && comment.is_none() {
        return Err(ApiError::unprocessable(
            "comment_required",
            "say why the plan is rejected: the student reads the comment before resubmitting",
        ));
    }
    if comment.is_some_and(|c| c.chars().count() > 2000) {
        return Err(ApiError::unprocessable(
            "comment_too_long",
            "at most 2000 characters",
        ));
    }
    let plan = plan_for(&st, &me, id).await?;
    let mut tx = st.store.begin().await?;
    let class = classes::get(&mut tx, plan.class_id)
        .await?
        .ok_or_else(|| ApiError::not_found("class"))?;
    if !plans::decide(&mut tx, id, req.approve, comment, me.user.id).await? {
        return Err(ApiError::conflict(
            "plan_not_awaiting_review",
            "this plan version is not awaiting a decision",
        ));
    }
    audit::record(
        &mut tx,
        &audit::NewEntry {
            actor_id: Some(me.user.id),
            actor_role: Some(me.user.role.as_str()),
            action: if req.approve {
                "plan.approve"
            } else {
                "plan.reject"
            },
            target_kind: "business_plan",
            target_id: Some(id.to_string()),
            institution_id: Some(class.institution_id),
            detail: json!({"comment": comment, "student_id": plan.student_id}),
        },
    )
    .await?;
    let plan = plans::get(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("plan"))?;
    tx.commit().await?;
    Ok(Json(plan))
}
