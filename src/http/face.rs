//! Face enrollment: the student's one-inch photo becomes the encrypted embedding that the
//! live face checks compare with. Enrolling is explicit (the student or their institution
//! asks for it after uploading the photo) so a refused photo comes back at once with a
//! reason the student understands.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;
use serde_json::json;
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult};
use super::extract::CurrentUser;
use super::students::student_in_scope;
use super::AppState;
use crate::auth::Action;
use crate::face_checks::{enroll_from_photo, EnrollmentError};
use crate::store::audit;
use crate::store::face::{self as face_store, EnrollmentInfo};
use ::face::pool::EnrollError;

/// A student's enrollment state.
#[derive(Debug, Serialize, ToSchema)]
pub struct EnrollmentView {
    /// Whether an enrollment embedding is on file.
    pub enrolled: bool,
    /// Its measurements (absent when not enrolled).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enrollment: Option<EnrollmentInfo>,
}

fn refused(e: EnrollmentError) -> ApiError {
    match e {
        EnrollmentError::NoPhoto => ApiError::conflict(
            "no_photo",
            "upload the one-inch photo first (PUT /api/students/{id}/photos/photo)",
        ),
        EnrollmentError::Refused(EnrollError::Quality(issue)) => {
            ApiError::unprocessable(issue.code(), issue.to_string())
        }
        EnrollmentError::Refused(EnrollError::Image(e)) => ApiError::unprocessable(
            "invalid_photo",
            format!("the one-inch photo on file cannot be read: {e}"),
        ),
        EnrollmentError::Refused(EnrollError::Pool(e)) => {
            tracing::error!(error = %e, "face worker failed during enrollment");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "face_unavailable",
                "face verification failed on the server; try again later",
            )
        }
        EnrollmentError::Store(e) => e.into(),
    }
}

/// Computes the student's face enrollment from their one-inch photo on file (exactly one
/// face, large, sharp and well exposed enough), replacing any earlier one.
#[utoipa::path(post, path = "/api/students/{id}/face-enrollment", tag = "students",
    params(("id" = i64, Path, description = "student account id")),
    responses((status = 200, body = EnrollmentView),
              (status = 409, description = "no one-inch photo on file"),
              (status = 422, description = "the photo was refused; `code` says why"),
              (status = 503, description = "face verification does not run on this server")))]
pub async fn enroll(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<EnrollmentView>> {
    me.require(Action::UploadStudentPhoto)?;
    let student = {
        let mut conn = st.store.conn().await?;
        student_in_scope(&mut conn, &me, id).await?
    };
    let pool = st.face.pool().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "face_unavailable",
            "face verification is not enabled on this server",
        )
    })?;
    enroll_from_photo(&st.store, &st.keys, pool, st.config.face.enrollment, id)
        .await
        .map_err(refused)?;
    let mut tx = st.store.begin().await?;
    let info = face_store::enrollment_info(&mut tx, id).await?;
    audit::record(
        &mut tx,
        &audit::NewEntry {
            actor_id: Some(me.user.id),
            actor_role: Some(me.user.role.as_str()),
            action: "student.face.enroll",
            target_kind: "user",
            target_id: Some(id.to_string()),
            institution_id: student.institution_id,
            detail: json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Json(EnrollmentView {
        enrolled: info.is_some(),
        enrollment: info,
    }))
}

/// Whether the student is enrolled for face checks, with the photo's measurements.
#[utoipa::path(get, path = "/api/students/{id}/face-enrollment", tag = "students",
    params(("id" = i64, Path, description = "student account id")),
    responses((status = 200, body = EnrollmentView)))]
pub async fn enrollment(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<EnrollmentView>> {
    me.require(Action::ReadStudent)?;
    let mut conn = st.store.conn().await?;
    student_in_scope(&mut conn, &me, id).await?;
    let info = face_store::enrollment_info(&mut conn, id).await?;
    Ok(Json(EnrollmentView {
        enrolled: info.is_some(),
        enrollment: info,
    }))
}

/// A class's static-image flags: two consecutive face samples of a student that were
/// near-identical (a photo fed through a virtual camera), for the assistants, the
/// lecturer, the institution and the regulator to review.
#[utoipa::path(get, path = "/api/classes/{id}/face-flags", tag = "reports",
    params(("id" = i64, Path, description = "class id")),
    responses((status = 200, body = Vec<face_store::FaceFlag>)))]
pub async fn flags(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<Vec<face_store::FaceFlag>>> {
    me.require(Action::ReadClassResults)?;
    let mut conn = st.store.conn().await?;
    super::scope::class_for(&mut conn, &me.user, id).await?;
    Ok(Json(face_store::flags_for_class(&mut conn, id).await?))
}
