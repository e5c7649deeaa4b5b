//! Real-name registration (实名注册) and a student's photos.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;
use signaling::Role;
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, CurrentUser, Upload};
use super::scope::sees_institution;
use super::AppState;
use crate::auth::{password, Action};
use crate::registration::fields;
use crate::registration::id_number::ResidentId;
use crate::registration::mobile::Mobile;
use crate::store::students::{self, PhotoKind, RealName, StudentView};
use crate::store::users::{self, NewUser};
use crate::store::{audit, institutions, Conn};

/// Largest accepted photo, decoded.
pub const MAX_PHOTO_BYTES: usize = 5 * 1024 * 1024;

/// Self-registration of a student with the training institution they sign up with.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Institution the student registers with.
    pub institution_id: i64,
    /// Password for the new account (at least 8 characters). The login name is the mobile number.
    pub password: String,
    /// Legal name as on the ID card.
    pub name: String,
    /// 18-digit resident ID number.
    pub id_number: String,
    /// Mainland mobile number.
    pub mobile: String,
    /// Household-registration place (户籍所在地).
    pub household_place: String,
    /// ID card front, base64 (or a `data:` URL), JPEG or PNG.
    pub id_front: String,
    /// ID card back, base64 (or a `data:` URL).
    pub id_back: String,
    /// Recent one-inch photo, base64 (or a `data:` URL): the face used for attendance.
    pub photo: String,
}

/// A new student account.
#[derive(Serialize, ToSchema)]
pub struct Registered {
    /// Account id.
    pub user_id: i64,
    /// Login name (the mobile number).
    pub username: String,
}

fn field_error(field: &str, code: &str, reason: impl std::fmt::Display) -> serde_json::Value {
    json!({"field": field, "code": code, "reason": reason.to_string()})
}

/// Minimum pixel size per photo kind: an ID card scan vs. a portrait.
fn min_size(kind: PhotoKind) -> (u32, u32) {
    match kind {
        PhotoKind::IdFront | PhotoKind::IdBack => (300, 180),
        PhotoKind::Photo => (150, 200),
    }
}

/// Checks a photo by content: decodes, sizes; returns its MIME type.
pub fn check_photo(kind: PhotoKind, bytes: &[u8]) -> Result<&'static str, (String, String)> {
    if bytes.len() > MAX_PHOTO_BYTES {
        return Err((
            "too_large".into(),
            format!(
                "is {} KiB; at most {} KiB",
                bytes.len() / 1024,
                MAX_PHOTO_BYTES / 1024
            ),
        ));
    }
    let (w, h) = min_size(kind);
    face::image::probe(bytes, w, h)
        .map(|info| info.format.mime())
        .map_err(|e| {
            let code = match e {
                face::image::ImageError::UnknownFormat => "not_an_image",
                face::image::ImageError::Corrupt => "corrupt_image",
                face::image::ImageError::TooSmall { .. } => "image_too_small",
                face::image::ImageError::TooLarge { .. } => "image_too_large",
            };
            (code.into(), e.to_string())
        })
}

fn decode_b64(s: &str) -> Option<Vec<u8>> {
    let data = match s.strip_prefix("data:") {
        Some(rest) => rest.split_once(";base64,")?.1,
        None => s,
    };
    base64::engine::general_purpose::STANDARD
        .decode(data.trim())
        .ok()
}

/// Registers a student: validates every field (all errors at once), stores the record with
/// the ID number and photos encrypted, and creates the account.
#[utoipa::path(post, path = "/api/register", tag = "students", request_body = RegisterRequest,
    responses((status = 201, body = Registered), (status = 422, description = "invalid fields, all listed"),
              (status = 409, description = "ID number or mobile already registered")))]
pub async fn register(
    State(st): State<AppState>,
    ApiJson(req): ApiJson<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<Registered>)> {
    let today = chrono::Utc::now()
        .with_timezone(&st.config.tz())
        .date_naive();
    let mut errors = Vec::new();
    let name = fields::parse_name(&req.name)
        .map_err(|e| errors.push(field_error("name", e.code(), &e)))
        .ok();
    let id_number = ResidentId::parse(&req.id_number, today)
        .map_err(|e| errors.push(field_error("id_number", e.code(), &e)))
        .ok();
    let mobile = Mobile::parse(&req.mobile)
        .map_err(|e| errors.push(field_error("mobile", e.code(), &e)))
        .ok();
    let place = fields::parse_household_place(&req.household_place)
        .map_err(|e| errors.push(field_error("household_place", e.code(), &e)))
        .ok();
    if let Some(why) = password::policy_violation(&req.password) {
        errors.push(field_error("password", "weak_password", why));
    }
    let mut photos = Vec::new();
    for (kind, data) in [
        (PhotoKind::IdFront, &req.id_front),
        (PhotoKind::IdBack, &req.id_back),
        (PhotoKind::Photo, &req.photo),
    ] {
        let Some(bytes) = decode_b64(data) else {
            errors.push(field_error(
                kind.as_str(),
                "bad_base64",
                "is not base64 data",
            ));
            continue;
        };
        match check_photo(kind, &bytes) {
            Ok(mime) => photos.push((kind, mime, bytes)),
            Err((code, why)) => {
                errors.push(json!({"field": kind.as_str(), "code": code, "reason": why}))
            }
        }
    }
    let mut conn = st.store.conn().await?;
    if institutions::get(&mut conn, req.institution_id)
        .await?
        .is_none()
    {
        errors.push(field_error(
            "institution_id",
            "unknown_institution",
            "no such institution",
        ));
    }
    let (Some(name), Some(id_number), Some(mobile), Some(place), true) =
        (name, id_number, mobile, place, errors.is_empty())
    else {
        return Err(ApiError::unprocessable(
            "invalid_registration",
            "some fields are invalid; every problem is listed in `errors`",
        )
        .with("errors", errors));
    };
    if students::find_by_id_number(&mut conn, &st.keys, &id_number)
        .await?
        .is_some()
    {
        return Err(ApiError::conflict(
            "id_number_registered",
            "this ID number is already registered; log in instead",
        )
        .with(
            "errors",
            [field_error(
                "id_number",
                "already_registered",
                "is already registered",
            )],
        ));
    }
    drop(conn);
    let pw = req.password.clone();
    let hash = tokio::task::spawn_blocking(move || password::hash(&pw))
        .await
        .map_err(|_| ApiError::unprocessable("internal", "hashing failed"))?;
    let record = RealName {
        name,
        id_number,
        mobile,
        household_place: place,
    };
    let mut tx = st.store.begin().await?;
    let username = record.mobile.as_str().to_string();
    let user_id = users::insert(
        &mut tx,
        &NewUser {
            username: &username,
            password_hash: &hash,
            role: Role::Student,
            display_name: &record.name,
            institution_id: Some(req.institution_id),
            jurisdiction: None,
            must_change_password: false,
        },
    )
    .await
    .map_err(|e| {
        if e.is_unique_violation() {
            ApiError::conflict(
                "mobile_registered",
                "an account with this mobile number exists; log in instead",
            )
        } else {
            e.into()
        }
    })?;
    students::insert_record(&mut tx, &st.keys, user_id, &record)
        .await
        .map_err(|e| {
            if e.is_unique_violation() {
                ApiError::conflict(
                    "id_number_registered",
                    "this ID number is already registered",
                )
            } else {
                e.into()
            }
        })?;
    for (kind, mime, bytes) in &photos {
        students::put_photo(&mut tx, &st.keys, user_id, *kind, mime, bytes).await?;
    }
    audit::record(
        &mut tx,
        &audit::NewEntry {
            actor_id: Some(user_id),
            actor_role: Some("student"),
            action: "student.register",
            target_kind: "user",
            target_id: Some(user_id.to_string()),
            institution_id: Some(req.institution_id),
            detail: json!({}),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(user_id, "student registered");
    Ok((StatusCode::CREATED, Json(Registered { user_id, username })))
}

/// Loads a student account the caller may see.
pub(crate) async fn student_in_scope(
    conn: &mut Conn,
    me: &CurrentUser,
    id: i64,
) -> ApiResult<users::User> {
    let not_found = || ApiError::not_found(format!("student {id}"));
    let student = users::get(conn, id).await?.ok_or_else(not_found)?;
    if student.role != Role::Student {
        return Err(not_found());
    }
    let visible = match me.user.role {
        Role::Student => me.user.id == id,
        _ => match student.institution_id {
            Some(inst) => sees_institution(conn, &me.user, inst).await?,
            None => false,
        },
    };
    if visible {
        Ok(student)
    } else {
        Err(not_found())
    }
}

/// A student's real-name record (ID number masked).
#[utoipa::path(get, path = "/api/students/{id}", tag = "students",
    params(("id" = i64, Path, description = "student account id")),
    responses((status = 200, body = StudentView)))]
pub async fn get_student(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<StudentView>> {
    me.require(Action::ReadStudent)?;
    let mut conn = st.store.conn().await?;
    let student = student_in_scope(&mut conn, &me, id).await?;
    let view = students::view(&mut conn, id)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("real-name record of student {id}")))?;
    if me.user.role == Role::Regulator {
        audit::record(
            &mut conn,
            &audit::NewEntry {
                actor_id: Some(me.user.id),
                actor_role: Some("regulator"),
                action: "regulator.read_student",
                target_kind: "user",
                target_id: Some(id.to_string()),
                institution_id: student.institution_id,
                detail: json!({}),
            },
        )
        .await?;
    }
    Ok(Json(view))
}

/// Uploads (or replaces) one of a student's photos: the raw JPEG/PNG bytes as the body.
#[utoipa::path(put, path = "/api/students/{id}/photos/{kind}", tag = "students",
    params(("id" = i64, Path, description = "student account id"),
           ("kind" = PhotoKind, Path, description = "id_front, id_back or photo")),
    request_body(content = Vec<u8>, content_type = "image/jpeg"),
    responses((status = 204), (status = 422, description = "not a usable image")))]
pub async fn put_photo(
    State(st): State<AppState>,
    me: CurrentUser,
    Path((id, kind)): Path<(i64, String)>,
    upload: Upload,
) -> ApiResult<StatusCode> {
    me.require(Action::UploadStudentPhoto)?;
    let kind = PhotoKind::ALL
        .into_iter()
        .find(|k| k.as_str() == kind)
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "photo kind {kind:?} (use id_front, id_back or photo)"
            ))
        })?;
    if !matches!(upload.content_type.as_str(), "image/jpeg" | "image/png") {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the photo as image/jpeg or image/png",
        ));
    }
    let mime = check_photo(kind, &upload.bytes).map_err(|(code, why)| {
        ApiError::unprocessable("invalid_photo", format!("{}: {why}", kind.as_str())).with(
            "errors",
            [json!({"field": kind.as_str(), "code": code, "reason": why})],
        )
    })?;
    let mut tx = st.store.begin().await?;
    let student = student_in_scope(&mut tx, &me, id).await?;
    if students::view(&mut tx, id).await?.is_none() {
        return Err(ApiError::not_found(format!(
            "real-name record of student {id}"
        )));
    }
    students::put_photo(&mut tx, &st.keys, id, kind, mime, &upload.bytes).await?;
    audit::record(
        &mut tx,
        &audit::NewEntry {
            actor_id: Some(me.user.id),
            actor_role: Some(me.user.role.as_str()),
            action: "student.photo.put",
            target_kind: "user",
            target_id: Some(id.to_string()),
            institution_id: student.institution_id,
            detail: json!({"kind": kind.as_str()}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(StatusCode::NO_CONTENT)
}
