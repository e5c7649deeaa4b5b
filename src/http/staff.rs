//! Staff accounts (lecturers, assistants) and lecturers' SYB certificates.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::NaiveDate;
use serde::Deserialize;
use signaling::Role;
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, CurrentUser};
use super::scope::{own_institution, sees_institution};
use super::AppState;
use crate::auth::{password, Action};
use crate::store::lecturers::{self, Certificate};
use crate::store::users::{self, NewUser, User};
use crate::store::{audit, Conn};

/// A new lecturer or assistant account in the caller's institution.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStaff {
    /// Login name.
    pub username: String,
    /// Initial password (at least 8 characters).
    pub password: String,
    /// `lecturer` or `assistant`.
    pub role: String,
    /// Name shown to students.
    pub display_name: String,
}

/// Creates a lecturer or assistant account.
#[utoipa::path(post, path = "/api/users", tag = "institutions", request_body = NewStaff,
    responses((status = 201, body = User), (status = 409, description = "username taken")))]
pub async fn create_user(
    State(st): State<AppState>,
    me: CurrentUser,
    ApiJson(req): ApiJson<NewStaff>,
) -> ApiResult<(StatusCode, Json<User>)> {
    me.require(Action::ManageStaff)?;
    let institution_id = own_institution(&me.user)?;
    let mut errors = Vec::new();
    let role = match req.role.as_str() {
        "lecturer" => Some(Role::Lecturer),
        "assistant" => Some(Role::Assistant),
        _ => {
            errors.push(
                serde_json::json!({"field": "role", "reason": "must be lecturer or assistant"}),
            );
            None
        }
    };
    let username = req.username.trim().to_string();
    if username.len() < 3 || username.len() > 64 || username.chars().any(char::is_whitespace) {
        errors
            .push(serde_json::json!({"field": "username", "reason": "3–64 characters, no spaces"}));
    }
    if let Some(why) = password::policy_violation(&req.password) {
        errors.push(serde_json::json!({"field": "password", "reason": why}));
    }
    let display = req.display_name.trim().to_string();
    if display.is_empty() || display.chars().count() > 50 {
        errors.push(serde_json::json!({"field": "display_name", "reason": "1–50 characters"}));
    }
    let (Some(role), true) = (role, errors.is_empty()) else {
        return Err(
            ApiError::unprocessable("invalid_fields", "some fields are invalid")
                .with("errors", errors),
        );
    };
    let pw = req.password;
    let hash = tokio::task::spawn_blocking(move || password::hash(&pw))
        .await
        .map_err(|_| ApiError::unprocessable("internal", "hashing failed"))?;
    let mut tx = st.store.begin().await?;
    let id = users::insert(
        &mut tx,
        &NewUser {
            username: &username,
            password_hash: &hash,
            role,
            display_name: &display,
            institution_id: Some(institution_id),
            jurisdiction: None,
            must_change_password: false,
        },
    )
    .await
    .map_err(|e| {
        if e.is_unique_violation() {
            ApiError::conflict("username_taken", format!("username {username:?} is taken"))
        } else {
            e.into()
        }
    })?;
    audit::record(
        &mut tx,
        &audit::NewEntry {
            actor_id: Some(me.user.id),
            actor_role: Some(me.user.role.as_str()),
            action: "user.create",
            target_kind: "user",
            target_id: Some(id.to_string()),
            institution_id: Some(institution_id),
            detail: serde_json::json!({"role": role, "username": username}),
        },
    )
    .await?;
    let user = users::get(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(user)))
}

/// Filter by role.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct UserQuery {
    /// Only this role.
    pub role: Option<String>,
}

/// Staff accounts of the caller's institution, or of a regulator's jurisdiction
/// (students only with `?role=student`).
#[utoipa::path(get, path = "/api/users", tag = "institutions", params(UserQuery),
    responses((status = 200, body = Vec<User>)))]
pub async fn list_users(
    State(st): State<AppState>,
    me: CurrentUser,
    Query(q): Query<UserQuery>,
) -> ApiResult<Json<Vec<User>>> {
    me.require(Action::ReadStaff)?;
    let role = q
        .role
        .as_deref()
        .map(|r| {
            r.parse::<Role>()
                .map_err(|e| ApiError::bad_request("bad_role", e.to_string()))
        })
        .transpose()?;
    let mut conn = st.store.conn().await?;
    let list = if me.user.role == Role::Regulator {
        users::list_by_jurisdiction(&mut conn, super::scope::jurisdiction(&me.user)?, role).await?
    } else {
        users::list_by_institution(&mut conn, own_institution(&me.user)?, role).await?
    };
    // Staff listing: students (whose login is their mobile number) only when asked for.
    let list = match role {
        Some(_) => list,
        None => list
            .into_iter()
            .filter(|u| u.role != Role::Student)
            .collect(),
    };
    Ok(Json(list))
}

/// A lecturer's SYB certificate.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCertificate {
    /// Certificate number.
    pub number: String,
    /// Issuing authority (national or provincial labour department).
    pub issuer: String,
    /// First valid day.
    pub valid_from: NaiveDate,
    /// Last valid day; omit for no expiry.
    pub valid_until: Option<NaiveDate>,
}

async fn lecturer_in_scope(conn: &mut Conn, me: &User, lecturer_id: i64) -> ApiResult<User> {
    let not_found = || ApiError::not_found(format!("lecturer {lecturer_id}"));
    let lecturer = users::get(conn, lecturer_id).await?.ok_or_else(not_found)?;
    if lecturer.role != Role::Lecturer {
        return Err(not_found());
    }
    let visible = match me.role {
        Role::Lecturer => me.id == lecturer_id,
        _ => match lecturer.institution_id {
            Some(inst) => sees_institution(conn, me, inst).await?,
            None => false,
        },
    };
    if visible {
        Ok(lecturer)
    } else {
        Err(not_found())
    }
}

/// Records a lecturer's SYB certificate.
#[utoipa::path(post, path = "/api/lecturers/{id}/certificates", tag = "institutions",
    params(("id" = i64, Path, description = "lecturer id")), request_body = NewCertificate,
    responses((status = 201, body = Certificate)))]
pub async fn add_certificate(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<NewCertificate>,
) -> ApiResult<(StatusCode, Json<Certificate>)> {
    me.require(Action::ManageCertificates)?;
    let mut tx = st.store.begin().await?;
    let lecturer = lecturer_in_scope(&mut tx, &me.user, id).await?;
    let number = req.number.trim();
    let issuer = req.issuer.trim();
    let mut errors = Vec::new();
    if number.is_empty() || number.len() > 64 {
        errors.push(serde_json::json!({"field": "number", "reason": "1–64 characters"}));
    }
    if issuer.is_empty() || issuer.chars().count() > 100 {
        errors.push(serde_json::json!({"field": "issuer", "reason": "1–100 characters"}));
    }
    if req.valid_until.is_some_and(|u| u < req.valid_from) {
        errors.push(serde_json::json!({"field": "valid_until", "reason": "is before valid_from"}));
    }
    if !errors.is_empty() {
        return Err(
            ApiError::unprocessable("invalid_fields", "some fields are invalid")
                .with("errors", errors),
        );
    }
    let cert_id = lecturers::insert(
        &mut tx,
        lecturer.id,
        number,
        issuer,
        req.valid_from,
        req.valid_until,
    )
    .await
    .map_err(|e| {
        if e.is_unique_violation() {
            ApiError::conflict(
                "certificate_exists",
                format!("certificate {number} is already recorded"),
            )
        } else {
            e.into()
        }
    })?;
    audit::record(
        &mut tx,
        &audit::NewEntry {
            actor_id: Some(me.user.id),
            actor_role: Some(me.user.role.as_str()),
            action: "lecturer.certificate.add",
            target_kind: "user",
            target_id: Some(lecturer.id.to_string()),
            institution_id: lecturer.institution_id,
            detail: serde_json::json!({"number": number, "valid_from": req.valid_from, "valid_until": req.valid_until}),
        },
    )
    .await?;
    let cert = lecturers::list(&mut tx, lecturer.id)
        .await?
        .into_iter()
        .find(|c| c.id == cert_id)
        .ok_or_else(|| ApiError::not_found("certificate"))?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(cert)))
}

/// A lecturer's certificates.
#[utoipa::path(get, path = "/api/lecturers/{id}/certificates", tag = "institutions",
    params(("id" = i64, Path, description = "lecturer id")),
    responses((status = 200, body = Vec<Certificate>)))]
pub async fn list_certificates(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<Vec<Certificate>>> {
    me.require(Action::ReadCertificates)?;
    let mut conn = st.store.conn().await?;
    let lecturer = lecturer_in_scope(&mut conn, &me.user, id).await?;
    Ok(Json(lecturers::list(&mut conn, lecturer.id).await?))
}
