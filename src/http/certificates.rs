//! E-certificates: the institution stamps, the bureau verifies (验印), the trainee claims
//! and downloads the PDF, anyone verifies a number on the public page; revocation is
//! audited.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use signaling::Role;
use sqlx::Row;
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, CurrentUser};
use super::scope::{class_for, sees_institution};
use super::AppState;
use crate::attendance::certificate_pdf::{self, CertificateDoc};
use crate::attendance::reports::escape;
use crate::auth::Action;
use crate::registration::masking::mask_name;
use crate::store::certificates::{self, CertStatus, Certificate};
use crate::store::classes::{self, Class, CourseType};
use crate::store::{audit, institutions, Conn};

/// Count of certificates changed.
#[derive(Serialize, ToSchema)]
pub struct Changed {
    /// How many.
    pub changed: u64,
}

async fn audit_cert(
    conn: &mut Conn,
    me: &crate::store::users::User,
    institution_id: i64,
    action: &str,
    target: String,
    detail: serde_json::Value,
) -> ApiResult<()> {
    audit::record(
        conn,
        &audit::NewEntry {
            actor_id: Some(me.id),
            actor_role: Some(me.role.as_str()),
            action,
            target_kind: "certificate",
            target_id: Some(target),
            institution_id: Some(institution_id),
            detail,
        },
    )
    .await?;
    Ok(())
}

/// The institution stamps its seal on a class's issued certificates.
#[utoipa::path(post, path = "/api/classes/{id}/certificates/stamp", tag = "certificates",
    params(("id" = i64, Path, description = "class id")), responses((status = 200, body = Changed)))]
pub async fn stamp(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<Changed>> {
    me.require(Action::StampCertificates)?;
    let mut tx = st.store.begin().await?;
    let class = class_for(&mut tx, &me.user, id).await?;
    let n = certificates::stamp_class(&mut tx, id, me.user.id).await?;
    audit_cert(
        &mut tx,
        &me.user,
        class.institution_id,
        "certificates.stamp",
        format!("class:{id}"),
        json!({"stamped": n}),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(Changed { changed: n }))
}

/// The bureau verifies the stamped certificates of a class (验印); only then are they valid.
#[utoipa::path(post, path = "/api/classes/{id}/certificates/verify", tag = "certificates",
    params(("id" = i64, Path, description = "class id")),
    responses((status = 200, body = Changed), (status = 409, description = "nothing_to_verify: no stamped certificate awaits verification")))]
pub async fn verify(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<Changed>> {
    me.require(Action::VerifyCertificates)?;
    let mut tx = st.store.begin().await?;
    let class = class_for(&mut tx, &me.user, id).await?;
    let n = certificates::verify_class(&mut tx, id, me.user.id).await?;
    if n == 0 {
        return Err(ApiError::conflict("nothing_to_verify", "no certificate of this class is stamped and awaiting verification; the institution stamps them first"));
    }
    audit_cert(
        &mut tx,
        &me.user,
        class.institution_id,
        "certificates.verify",
        format!("class:{id}"),
        json!({"verified": n}),
    )
    .await?;
    tx.commit().await?;
    Ok(Json(Changed { changed: n }))
}

/// A class's certificates (staff and the bureau).
#[utoipa::path(get, path = "/api/classes/{id}/certificates", tag = "certificates",
    params(("id" = i64, Path, description = "class id")), responses((status = 200, body = Vec<Certificate>)))]
pub async fn list_class(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<Vec<Certificate>>> {
    // Whole-class data; students see their own row in /attendance.
    me.require(Action::ReadClassResults)?;
    let mut conn = st.store.conn().await?;
    class_for(&mut conn, &me.user, id).await?;
    Ok(Json(certificates::of_class(&mut conn, id).await?))
}

/// The caller's own certificates.
#[utoipa::path(get, path = "/api/me/certificates", tag = "certificates", responses((status = 200, body = Vec<Certificate>)))]
pub async fn mine(
    State(st): State<AppState>,
    me: CurrentUser,
) -> ApiResult<Json<Vec<Certificate>>> {
    me.require(Action::ClaimCertificate)?;
    let mut conn = st.store.conn().await?;
    Ok(Json(certificates::of_student(&mut conn, me.user.id).await?))
}

/// A certificate the caller may see: its trainee, or staff/bureau of its class.
async fn cert_for(
    conn: &mut Conn,
    me: &CurrentUser,
    number: &str,
) -> ApiResult<(Certificate, Class)> {
    let nf = || ApiError::not_found(format!("certificate {number}"));
    let cert = certificates::by_number(conn, number)
        .await?
        .ok_or_else(nf)?;
    let class = classes::get(conn, cert.class_id).await?.ok_or_else(nf)?;
    let visible = match me.user.role {
        Role::Student => cert.student_id == me.user.id,
        Role::Admin | Role::Regulator => {
            sees_institution(conn, &me.user, class.institution_id).await?
        }
        _ => false,
    };
    if visible {
        Ok((cert, class))
    } else {
        Err(nf())
    }
}

fn not_valid(cert: &Certificate) -> ApiError {
    match cert.status {
        CertStatus::Revoked => ApiError::conflict("certificate_revoked", format!("certificate {} was revoked: {}", cert.number, cert.revoke_reason.clone().unwrap_or_default())),
        _ => ApiError::conflict("certificate_not_valid", format!("certificate {} is not valid yet: the institution's stamp and the bureau's verification (验印) are both needed", cert.number)),
    }
}

/// The trainee claims a valid certificate.
#[utoipa::path(post, path = "/api/certificates/{number}/claim", tag = "certificates",
    params(("number" = String, Path, description = "certificate number")),
    responses((status = 200, body = Certificate), (status = 409, description = "certificate_not_valid or certificate_revoked")))]
pub async fn claim(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(number): Path<String>,
) -> ApiResult<Json<Certificate>> {
    me.require(Action::ClaimCertificate)?;
    let mut tx = st.store.begin().await?;
    let (cert, class) = cert_for(&mut tx, &me, &number).await?;
    if cert.status != CertStatus::Valid {
        return Err(not_valid(&cert));
    }
    certificates::claim(&mut tx, cert.id).await?;
    audit_cert(
        &mut tx,
        &me.user,
        class.institution_id,
        "certificate.claim",
        number.clone(),
        json!({}),
    )
    .await?;
    let cert = certificates::by_number(&mut tx, &number)
        .await?
        .ok_or_else(|| ApiError::not_found("certificate"))?;
    tx.commit().await?;
    Ok(Json(cert))
}

fn course_label(c: CourseType) -> &'static str {
    match c {
        CourseType::Gyb => "创业意识培训（GYB）",
        CourseType::Syb => "创办/改善企业培训（SYB）",
    }
}

fn date_zh(st: &AppState, ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map(|d| {
            d.with_timezone(&st.config.tz())
                .format("%Y年%-m月%-d日")
                .to_string()
        })
        .unwrap_or_default()
}

async fn trainee(conn: &mut Conn, student_id: i64) -> ApiResult<(String, String)> {
    let r = sqlx::query("SELECT COALESCE(r.name, u.display_name) AS name, COALESCE(r.id_number_masked, '') AS idm FROM users u LEFT JOIN student_records r ON r.user_id = u.id WHERE u.id = $1")
        .bind(student_id)
        .fetch_one(&mut *conn)
        .await?;
    Ok((r.try_get("name")?, r.try_get("idm")?))
}

/// The public verification URL of a certificate number.
pub fn verify_url(st: &AppState, number: &str) -> String {
    let base = st.config.public_url();
    format!("{}/verify/{number}", base.trim_end_matches('/'))
}

/// The certificate as a PDF (valid certificates only).
#[utoipa::path(get, path = "/api/certificates/{number}/pdf", tag = "certificates",
    params(("number" = String, Path, description = "certificate number")),
    responses((status = 200, description = "application/pdf"), (status = 409, description = "certificate_not_valid or certificate_revoked")))]
pub async fn pdf(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(number): Path<String>,
) -> ApiResult<Response> {
    if me.user.role == Role::Student {
        me.require(Action::ClaimCertificate)?;
    } else {
        me.require(Action::ReadAttendance)?;
    }
    let mut conn = st.store.conn().await?;
    let (cert, class) = cert_for(&mut conn, &me, &number).await?;
    if cert.status != CertStatus::Valid {
        return Err(not_valid(&cert));
    }
    let (name, idm) = trainee(&mut conn, cert.student_id).await?;
    let inst = institutions::get(&mut conn, class.institution_id)
        .await?
        .map(|i| i.name)
        .unwrap_or_default();
    let first = class
        .sessions
        .first()
        .map(|s| s.starts_at.timestamp_millis());
    let last = class.sessions.last().map(|s| s.ends_at.timestamp_millis());
    let doc = CertificateDoc {
        number: cert.number.clone(),
        name,
        id_number_masked: idm,
        course: course_label(class.course_type).into(),
        class_name: class.name.clone(),
        institution: inst,
        period: format!("{}至{}", date_zh(&st, first), date_zh(&st, last)),
        stamped_on: date_zh(&st, cert.stamped_at),
        verified_on: date_zh(&st, cert.verified_at),
        verify_url: verify_url(&st, &cert.number),
    };
    let cfg = &st.config.attendance;
    let font_path = cfg.certificate_font.clone();
    let index = cfg.certificate_font_index;
    let bytes = tokio::task::spawn_blocking(move || {
        let font = std::fs::read(&font_path).map_err(|e| {
            certificate_pdf::PdfError::Font(format!("{}: {e}", font_path.display()))
        })?;
        certificate_pdf::render(&doc, &font, index)
    })
    .await
    .map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "rendering stopped",
        )
    })?
    .map_err(|e| {
        tracing::error!(error = %e, "certificate PDF failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "certificate_render_failed",
            e.to_string(),
        )
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/pdf".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("inline; filename=\"{number}.pdf\""),
            ),
        ],
        bytes,
    )
        .into_response())
}

/// Why a certificate is revoked.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RevokeRequest {
    /// Reason (shown on the public verification page).
    pub reason: String,
}

/// Revokes a certificate, with a reason (audited).
#[utoipa::path(post, path = "/api/certificates/{number}/revoke", tag = "certificates",
    params(("number" = String, Path, description = "certificate number")), request_body = RevokeRequest,
    responses((status = 200, body = Certificate), (status = 409, description = "already_revoked")))]
pub async fn revoke(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(number): Path<String>,
    ApiJson(req): ApiJson<RevokeRequest>,
) -> ApiResult<Json<Certificate>> {
    me.require(Action::RevokeCertificate)?;
    let reason = req.reason.trim();
    if reason.is_empty() || reason.chars().count() > 500 {
        return Err(ApiError::unprocessable(
            "reason_required",
            "give a reason of 1–500 characters",
        ));
    }
    let mut tx = st.store.begin().await?;
    let (cert, class) = cert_for(&mut tx, &me, &number).await?;
    if !certificates::revoke(&mut tx, cert.id, reason, me.user.id).await? {
        return Err(ApiError::conflict(
            "already_revoked",
            format!("certificate {number} is already revoked"),
        ));
    }
    audit_cert(
        &mut tx,
        &me.user,
        class.institution_id,
        "certificate.revoke",
        number.clone(),
        json!({"reason": reason, "student_id": cert.student_id}),
    )
    .await?;
    let cert = certificates::by_number(&mut tx, &number)
        .await?
        .ok_or_else(|| ApiError::not_found("certificate"))?;
    tx.commit().await?;
    Ok(Json(cert))
}

/// What the public verification shows: nothing but masked identity and the facts.
#[derive(Serialize, ToSchema)]
pub struct PublicCertificate {
    /// Number.
    pub number: String,
    /// `valid`, `revoked` or `pending`.
    pub status: CertStatus,
    /// Masked name (`张*明`).
    pub name_masked: String,
    /// Course.
    pub course: String,
    /// Class.
    pub class_name: String,
    /// Institution.
    pub institution: String,
    /// Date of the bureau's verification (local date), if verified.
    pub date: String,
    /// When revoked, the date.
    pub revoked_on: Option<String>,
    /// When revoked, why.
    pub revoke_reason: Option<String>,
}

async fn public_view(st: &AppState, number: &str) -> ApiResult<PublicCertificate> {
    let mut conn = st.store.conn().await?;
    let nf = || ApiError::not_found(format!("certificate {number} (no such certificate number)"));
    let cert = certificates::by_number(&mut conn, number)
        .await?
        .ok_or_else(nf)?;
    let class = classes::get(&mut conn, cert.class_id)
        .await?
        .ok_or_else(nf)?;
    let (name, _) = trainee(&mut conn, cert.student_id).await?;
    let inst = institutions::get(&mut conn, class.institution_id)
        .await?
        .map(|i| i.name)
        .unwrap_or_default();
    Ok(PublicCertificate {
        number: cert.number.clone(),
        status: cert.status,
        name_masked: mask_name(&name),
        course: course_label(class.course_type).into(),
        class_name: class.name,
        institution: inst,
        date: date_zh(st, cert.verified_at),
        revoked_on: cert.revoked_at.map(|t| date_zh(st, Some(t))),
        revoke_reason: cert.revoke_reason,
    })
}

/// Public verification of a certificate number (no login).
#[utoipa::path(get, path = "/api/public/certificates/{number}", tag = "certificates",
    params(("number" = String, Path, description = "certificate number")),
    responses((status = 200, body = PublicCertificate), (status = 404, description = "no such certificate")))]
pub async fn public_certificate(
    State(st): State<AppState>,
    Path(number): Path<String>,
) -> ApiResult<Json<PublicCertificate>> {
    Ok(Json(public_view(&st, &number).await?))
}

/// The public verification page the certificate's QR code opens (no login).
#[utoipa::path(get, path = "/verify/{number}", tag = "certificates",
    params(("number" = String, Path, description = "certificate number")),
    responses((status = 200, description = "HTML page", content_type = "text/html")))]
pub async fn verify_page(State(st): State<AppState>, Path(number): Path<String>) -> Response {
    let head = "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>证书验证</title><style>body{font-family:sans-serif;margin:2em;max-width:40em}.valid{color:#070}.revoked,.pending{color:#b00}td{padding:4px 12px 4px 0}</style></head><body><h1>电子培训合格证书验证</h1>";
    match public_view(&st, &number).await {
        Ok(c) => {
            let (cls, label) = match c.status {
                CertStatus::Valid => ("valid", "有效"),
                CertStatus::Revoked => ("revoked", "已撤销"),
                CertStatus::Pending => ("pending", "未生效（待盖章/验印）"),
            };
            let mut body = format!(
                "{head}<p class=\"{cls}\"><strong>{label}</strong></p><table>\
                 <tr><td>证书编号</td><td>{}</td></tr><tr><td>姓名</td><td>{}</td></tr>\
                 <tr><td>培训项目</td><td>{}</td></tr><tr><td>班级</td><td>{}</td></tr>\
                 <tr><td>培训机构</td><td>{}</td></tr><tr><td>验印日期</td><td>{}</td></tr>",
                escape(&c.number), escape(&c.name_masked), escape(&c.course), escape(&c.class_name), escape(&c.institution), escape(&c.date)
            );
            if let (Some(on), Some(why)) = (&c.revoked_on, &c.revoke_reason) {
                body.push_str(&format!("<tr><td>撤销日期</td><td>{}</td></tr><tr><td>撤销原因</td><td>{}</td></tr>", escape(on), escape(why)));
            }
            body.push_str("</table></body></html>");
            Html(body).into_response()
        }
        Err(e) if e.status == StatusCode::NOT_FOUND => (
            StatusCode::NOT_FOUND,
            Html(format!("{head}<p class=\"revoked\"><strong>查无此证书</strong>：编号 {} 不存在。</p></body></html>", escape(&number))),
        )
            .into_response(),
        Err(e) => e.into_response(),
    }
}
