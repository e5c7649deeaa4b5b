//! Classes: creation, schedule, assistants, enrollment and roster import, and the filing
//! lifecycle (submit → file / return → start → finish).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use signaling::Role;
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, CurrentUser, Upload};
use super::scope::{class_for, own_institution};
use super::AppState;
use crate::auth::{password, Action};
use crate::filing::rules::{check_filing, FilingRequest, LecturerCommitment, Violation};
use crate::filing::status::{transition, ClassAction, ClassStatus};
use crate::registration::roster::{self, RowError};
use crate::store::classes::{self, Class, ClassScope, CourseType, NewClass};
use crate::store::students::{self, RealName, StudentView};
use crate::store::users::{self, NewUser, User};
use crate::store::{audit, lecturers, Conn};

/// Most sessions one class may schedule.
const MAX_SESSIONS: usize = 200;

/// A scheduled live session.
#[derive(Clone, Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionInput {
    /// Start, RFC 3339 (e.g. `2026-12-14T09:00:00+08:00`).
    pub starts_at: DateTime<Utc>,
    /// End, RFC 3339.
    pub ends_at: DateTime<Utc>,
}

/// A new draft class.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewClassRequest {
    /// Name, unique within the institution.
    pub name: String,
    /// `GYB` or `SYB`.
    pub course_type: CourseType,
    /// The lecturer's account id (a lecturer of this institution).
    pub lecturer_id: i64,
    /// Live sessions.
    #[serde(default)]
    pub sessions: Vec<SessionInput>,
}

fn check_sessions(sessions: &[SessionInput]) -> Vec<serde_json::Value> {
    let mut errors = Vec::new();
    if sessions.len() > MAX_SESSIONS {
        errors.push(
            json!({"field": "sessions", "reason": format!("at most {MAX_SESSIONS} sessions")}),
        );
    }
    for (i, s) in sessions.iter().enumerate() {
        if s.ends_at <= s.starts_at {
            errors.push(
                json!({"field": format!("sessions[{i}]"), "reason": "ends at or before it starts"}),
            );
        } else if s.ends_at - s.starts_at > chrono::Duration::hours(12) {
            errors.push(
                json!({"field": format!("sessions[{i}]"), "reason": "is longer than 12 hours"}),
            );
        }
    }
    errors
}

fn invalid(errors: Vec<serde_json::Value>) -> ApiError {
    ApiError::unprocessable("invalid_fields", "some fields are invalid; see `errors`")
        .with("errors", errors)
}

/// Appends an audit entry about `class` by `me`.
pub(crate) async fn audit_class(
    conn: &mut Conn,
    me: &User,
    class: &Class,
    action: &str,
    detail: serde_json::Value,
) -> ApiResult<()> {
    audit::record(
        conn,
        &audit::NewEntry {
            actor_id: Some(me.id),
            actor_role: Some(me.role.as_str()),
            action,
            target_kind: "class",
            target_id: Some(class.id.to_string()),
            institution_id: Some(class.institution_id),
            detail,
        },
    )
    .await?;
    Ok(())
}

/// Creates a draft class.
#[utoipa::path(post, path = "/api/classes", tag = "classes", request_body = NewClassRequest,
    responses((status = 201, body = Class), (status = 422, description = "invalid fields")))]
pub async fn create_class(
    State(st): State<AppState>,
    me: CurrentUser,
    ApiJson(req): ApiJson<NewClassRequest>,
) -> ApiResult<(StatusCode, Json<Class>)> {
    me.require(Action::CreateClass)?;
    let institution_id = own_institution(&me.user)?;
    let mut errors = check_sessions(&req.sessions);
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        errors.push(json!({"field": "name", "reason": "1–100 characters"}));
    }
    let mut tx = st.store.begin().await?;
    match users::get(&mut tx, req.lecturer_id).await? {
        Some(l) if l.role == Role::Lecturer && l.institution_id == Some(institution_id) => {}
        _ => errors.push(
            json!({"field": "lecturer_id", "reason": "is not a lecturer of this institution"}),
        ),
    }
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    let id = classes::insert(
        &mut tx,
        &NewClass {
            institution_id,
            name,
            course_type: req.course_type,
            lecturer_id: req.lecturer_id,
        },
    )
    .await
    .map_err(|e| {
        if e.is_unique_violation() {
            ApiError::conflict("class_exists", format!("a class named {name:?} exists"))
        } else {
            e.into()
        }
    })?;
    for s in &req.sessions {
        classes::add_session(&mut tx, id, s.starts_at, s.ends_at).await?;
    }
    let class = classes::get(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("class"))?;
    audit_class(
        &mut tx,
        &me.user,
        &class,
        "class.create",
        json!({"name": name}),
    )
    .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(class)))
}

/// Classes the caller may see.
#[utoipa::path(get, path = "/api/classes", tag = "classes", responses((status = 200, body = Vec<Class>)))]
pub async fn list_classes(
    State(st): State<AppState>,
    me: CurrentUser,
) -> ApiResult<Json<Vec<Class>>> {
    me.require(Action::ReadClasses)?;
    let u = &me.user;
    let scope = match u.role {
        Role::Admin => ClassScope::Institution(own_institution(u)?),
        Role::Regulator => ClassScope::Jurisdiction(super::scope::jurisdiction(u)?),
        Role::Lecturer => ClassScope::Lecturer(u.id),
        Role::Assistant => ClassScope::Assistant(u.id),
        Role::Student => ClassScope::Student(u.id),
    };
    let mut conn = st.store.conn().await?;
    Ok(Json(classes::list(&mut conn, scope).await?))
}

/// One class.
#[utoipa::path(get, path = "/api/classes/{id}", tag = "classes",
    params(("id" = i64, Path, description = "class id")), responses((status = 200, body = Class)))]
pub async fn get_class(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<Class>> {
    me.require(Action::ReadClasses)?;
    let mut conn = st.store.conn().await?;
    Ok(Json(class_for(&mut conn, &me.user, id).await?))
}

/// Loads a class for editing: in scope and still a draft.
async fn draft_for(conn: &mut Conn, me: &User, id: i64) -> ApiResult<Class> {
    let class = class_for(conn, me, id).await?;
    if class.status != ClassStatus::Draft {
        return Err(ApiError::conflict(
            "class_not_draft",
            format!("class {id} is {}; only a draft can be changed (the bureau can return a submitted filing)", class.status.as_str()),
        ));
    }
    Ok(class)
}

/// New schedule.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionsRequest {
    /// The complete list of live sessions.
    pub sessions: Vec<SessionInput>,
}

/// Replaces a draft class's schedule.
#[utoipa::path(put, path = "/api/classes/{id}/sessions", tag = "classes",
    params(("id" = i64, Path, description = "class id")), request_body = SessionsRequest,
    responses((status = 200, body = Class)))]
pub async fn replace_sessions(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<SessionsRequest>,
) -> ApiResult<Json<Class>> {
    me.require(Action::EditClass)?;
    let errors = check_sessions(&req.sessions);
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    let mut tx = st.store.begin().await?;
    let class = draft_for(&mut tx, &me.user, id).await?;
    sqlx::query("DELETE FROM class_sessions WHERE class_id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    for s in &req.sessions {
        classes::add_session(&mut tx, id, s.starts_at, s.ends_at).await?;
    }
    audit_class(
        &mut tx,
        &me.user,
        &class,
        "class.sessions",
        json!({"sessions": req.sessions.len()}),
    )
    .await?;
    let class = classes::get(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("class"))?;
    tx.commit().await?;
    Ok(Json(class))
}

/// Assistant assignment.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssistantsRequest {
    /// Account ids of the class's assistants (assistants of this institution).
    pub assistant_ids: Vec<i64>,
}

/// Sets a draft class's assistants.
#[utoipa::path(put, path = "/api/classes/{id}/assistants", tag = "classes",
    params(("id" = i64, Path, description = "class id")), request_body = AssistantsRequest,
    responses((status = 200, body = Class)))]
pub async fn set_assistants(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<AssistantsRequest>,
) -> ApiResult<Json<Class>> {
    me.require(Action::EditClass)?;
    let mut tx = st.store.begin().await?;
    let class = draft_for(&mut tx, &me.user, id).await?;
    let mut ids = req.assistant_ids.clone();
    ids.sort_unstable();
    ids.dedup();
    let mut errors = Vec::new();
    for a in &ids {
        match users::get(&mut tx, *a).await? {
            Some(u) if u.role == Role::Assistant && u.institution_id == Some(class.institution_id) => {}
            _ => errors.push(json!({"field": "assistant_ids", "reason": format!("{a} is not an assistant of this institution")})),
        }
    }
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    classes::set_assistants(&mut tx, id, &ids).await?;
    audit_class(
        &mut tx,
        &me.user,
        &class,
        "class.assistants",
        json!({"assistant_ids": ids}),
    )
    .await?;
    let class = classes::get(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("class"))?;
    tx.commit().await?;
    Ok(Json(class))
}

/// Enrollment of already-registered students.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// Student account ids.
    pub student_ids: Vec<i64>,
}

fn capacity_error(st: &AppState, total: usize) -> Option<ApiError> {
    let max = st.config.filing.max_students_per_lecturer as usize;
    (total > max).then(|| {
        ApiError::unprocessable(
            "class_full",
            format!(
                "the class would have {total} students; a lecturer teaches at most {max} at once"
            ),
        )
    })
}

/// Enrolls registered students of this institution in a draft class (all or none).
#[utoipa::path(post, path = "/api/classes/{id}/enrollments", tag = "classes",
    params(("id" = i64, Path, description = "class id")), request_body = EnrollRequest,
    responses((status = 200, body = Class)))]
pub async fn enroll_students(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<EnrollRequest>,
) -> ApiResult<Json<Class>> {
    me.require(Action::EditClass)?;
    let mut tx = st.store.begin().await?;
    let class = draft_for(&mut tx, &me.user, id).await?;
    let mut errors = Vec::new();
    let mut added = 0usize;
    for s in &req.student_ids {
        match users::get(&mut tx, *s).await? {
            Some(u) if u.role == Role::Student && u.institution_id == Some(class.institution_id) => {
                if students::view(&mut tx, *s).await?.is_none() {
                    errors.push(json!({"field": "student_ids", "reason": format!("{s} has no real-name record")}));
                } else if classes::enroll(&mut tx, id, *s).await? {
                    added += 1;
                }
            }
            _ => errors.push(json!({"field": "student_ids", "reason": format!("{s} is not a student of this institution")})),
        }
    }
    if !errors.is_empty() {
        return Err(invalid(errors));
    }
    if let Some(e) = capacity_error(&st, class.students as usize + added) {
        return Err(e);
    }
    audit_class(
        &mut tx,
        &me.user,
        &class,
        "class.enroll",
        json!({"added": added}),
    )
    .await?;
    let class = classes::get(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("class"))?;
    tx.commit().await?;
    Ok(Json(class))
}

/// A roster row that created a new account: the initial password is shown only here.
#[derive(Serialize, ToSchema)]
pub struct CreatedAccount {
    /// Spreadsheet row.
    pub row: usize,
    /// Account id.
    pub user_id: i64,
    /// Login name (the mobile number).
    pub username: String,
    /// One-time initial password; the student must change it.
    pub initial_password: String,
}

/// Result of a roster import.
#[derive(Serialize, ToSchema)]
pub struct RosterImported {
    /// Rows enrolled.
    pub enrolled: usize,
    /// Rows matching an already registered student (by ID number).
    pub existing_students: usize,
    /// New accounts with their initial passwords.
    pub created: Vec<CreatedAccount>,
}

/// Imports a roster (CSV or XLSX, by content) into a draft class, all or nothing: on any
/// bad row nothing is written and every problem is listed (row, field, reason).
#[utoipa::path(post, path = "/api/classes/{id}/roster", tag = "classes",
    params(("id" = i64, Path, description = "class id")),
    request_body(content = Vec<u8>, content_type = "text/csv", description = "CSV (UTF-8 or GBK) or XLSX; header row: 姓名, 身份证号, 手机号, 户籍所在地"),
    responses((status = 201, body = RosterImported), (status = 422, description = "bad rows, all listed in `errors`")))]
pub async fn import_roster(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
    upload: Upload,
) -> ApiResult<(StatusCode, Json<RosterImported>)> {
    me.require(Action::EditClass)?;
    const ACCEPTED: [&str; 5] = [
        "text/csv",
        "application/csv",
        "text/plain",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/octet-stream",
    ];
    if !ACCEPTED.contains(&upload.content_type.as_str()) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the roster as text/csv or an .xlsx spreadsheet",
        ));
    }
    let format = roster::sniff_format(&upload.bytes).ok_or_else(|| {
        ApiError::unprocessable(
            "unreadable_roster",
            "the file is neither CSV text nor an XLSX spreadsheet",
        )
    })?;
    let today = Utc::now().with_timezone(&st.config.tz()).date_naive();
    let max = st.config.filing.max_students_per_lecturer as usize;
    let rows = roster::parse_roster(&upload.bytes, format, today, max).map_err(roster_rejected)?;

    // Classify rows outside the transaction so password hashing (slow by design) does not
    // hold the database's write lock; the transaction re-checks everything.
    let mut conn = st.store.conn().await?;
    let mut new_rows = Vec::new();
    for r in &rows {
        if students::find_by_id_number(&mut conn, &st.keys, &r.id_number)
            .await?
            .is_none()
        {
            new_rows.push(r.row);
        }
    }
    drop(conn);
    let secrets = tokio::task::spawn_blocking(move || {
        new_rows
            .into_iter()
            .map(|row| {
                let pw = password::generate();
                let hash = password::hash(&pw);
                (row, pw, hash)
            })
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|_| ApiError::unprocessable("internal", "hashing failed"))?;

    let mut tx = st.store.begin().await?;
    let class = draft_for(&mut tx, &me.user, id).await?;
    if let Some(e) = capacity_error(&st, class.students as usize + rows.len()) {
        return Err(e);
    }
    let mut errors: Vec<RowError> = Vec::new();
    let mut created = Vec::new();
    let mut existing = 0;
    let row_error = |row: usize, field: &str, code: &str, reason: String| RowError {
        row,
        field: field.into(),
        code: code.into(),
        reason,
    };
    for r in &rows {
        let student_id = match students::find_by_id_number(&mut tx, &st.keys, &r.id_number).await? {
            Some(sid) => {
                // A registered student is reused only by their own institution and only
                // when the roster names the same person; otherwise an admin could pull
                // another institution's student (and their personal data) into a class.
                let owner = users::get(&mut tx, sid)
                    .await?
                    .and_then(|u| u.institution_id);
                let record = students::view(&mut tx, sid).await?;
                if owner != Some(class.institution_id) {
                    errors.push(row_error(
                        r.row,
                        "id_number",
                        "other_institution",
                        "is registered with another training institution".into(),
                    ));
                    continue;
                }
                if record.as_ref().map(|v| v.name.as_str()) != Some(r.name.as_str()) {
                    errors.push(row_error(
                        r.row,
                        "name",
                        "name_mismatch",
                        "does not match the name registered with this ID number".into(),
                    ));
                    continue;
                }
                existing += 1;
                sid
            }
            None => {
                let Some((_, pw, hash)) = secrets.iter().find(|(row, _, _)| *row == r.row) else {
                    errors.push(row_error(
                        r.row,
                        "id_number",
                        "changed_during_import",
                        "was registered by someone else during the import; retry".into(),
                    ));
                    continue;
                };
                let username = r.mobile.as_str();
                if users::get_with_hash(&mut tx, username).await?.is_some() {
                    errors.push(row_error(
                        r.row,
                        "mobile",
                        "mobile_in_use",
                        format!("{} is the login of another account", r.mobile.masked()),
                    ));
                    continue;
                }
                let uid = users::insert(
                    &mut tx,
                    &NewUser {
                        username,
                        password_hash: hash,
                        role: Role::Student,
                        display_name: &r.name,
                        institution_id: Some(class.institution_id),
                        jurisdiction: None,
                        must_change_password: true,
                    },
                )
                .await?;
                students::insert_record(
                    &mut tx,
                    &st.keys,
                    uid,
                    &RealName {
                        name: r.name.clone(),
                        id_number: r.id_number.clone(),
                        mobile: r.mobile.clone(),
                        household_place: r.household_place.clone(),
                    },
                )
                .await?;
                created.push(CreatedAccount {
                    row: r.row,
                    user_id: uid,
                    username: username.to_string(),
                    initial_password: pw.clone(),
                });
                uid
            }
        };
        if !classes::enroll(&mut tx, id, student_id).await? {
            errors.push(row_error(
                r.row,
                "id_number",
                "already_enrolled",
                "this student is already enrolled in the class".into(),
            ));
        }
    }
    if !errors.is_empty() {
        // Dropping the transaction rolls back every row written above.
        return Err(roster_rejected(errors));
    }
    audit_class(
        &mut tx,
        &me.user,
        &class,
        "class.roster_import",
        json!({"rows": rows.len(), "created": created.len(), "existing": existing}),
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(RosterImported {
            enrolled: rows.len(),
            existing_students: existing,
            created,
        }),
    ))
}

fn roster_rejected(errors: Vec<RowError>) -> ApiError {
    ApiError::unprocessable(
        "roster_rejected",
        format!(
            "the roster has {} problem(s); nothing was imported",
            errors.len()
        ),
    )
    .with("errors", errors)
}

/// A class's students (ID numbers masked).
#[utoipa::path(get, path = "/api/classes/{id}/students", tag = "classes",
    params(("id" = i64, Path, description = "class id")),
    responses((status = 200, body = Vec<StudentView>)))]
pub async fn list_students(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<Vec<StudentView>>> {
    me.require(Action::ReadClassStudents)?;
    let mut conn = st.store.conn().await?;
    let class = class_for(&mut conn, &me.user, id).await?;
    if me.user.role == Role::Regulator {
        audit_class(
            &mut conn,
            &me.user,
            &class,
            "regulator.read_roster",
            json!({}),
        )
        .await?;
    }
    Ok(Json(students::list_for_class(&mut conn, id).await?))
}

/// The filing rules' verdict on a class, as of `now`.
async fn filing_violations(
    st: &AppState,
    conn: &mut Conn,
    class: &Class,
    now: DateTime<Utc>,
) -> ApiResult<Vec<Violation>> {
    let certs: Vec<_> = lecturers::list(conn, class.lecturer_id)
        .await?
        .iter()
        .map(|c| c.for_rules())
        .collect();
    let commitments: Vec<LecturerCommitment> =
        classes::lecturer_commitments(conn, class.lecturer_id, class.id)
            .await?
            .into_iter()
            .map(|c| LecturerCommitment {
                class_id: c.id,
                class_name: c.name.clone(),
                students: c.students as u32,
                sessions: c.session_plans(),
            })
            .collect();
    let sessions = class.session_plans();
    let req = FilingRequest {
        submitted_at: now,
        tz: st.config.tz(),
        sessions: &sessions,
        students: class.students as u32,
        assistants: class.assistant_ids.len() as u32,
        lecturer_certificates: &certs,
        other_commitments: &commitments,
    };
    Ok(check_filing(&req, &st.config.filing, &st.config.calendar))
}

/// Applies a lifecycle action to a class in one transaction, with its audit entry.
async fn change_status(
    st: &AppState,
    me: &User,
    id: i64,
    action: ClassAction,
    reason: Option<&str>,
) -> ApiResult<Class> {
    let mut tx = st.store.begin().await?;
    let class = class_for(&mut tx, me, id).await?;
    // Serialise filings per lecturer: the capacity rule reads the lecturer's other classes.
    sqlx::query("UPDATE users SET id = id WHERE id = $1")
        .bind(class.lecturer_id)
        .execute(&mut *tx)
        .await?;
    let next = transition(class.status, action)
        .map_err(|e| ApiError::conflict("invalid_transition", e.to_string()))?;
    if action == ClassAction::Submit {
        let violations = filing_violations(st, &mut tx, &class, Utc::now()).await?;
        if !violations.is_empty() {
            return Err(ApiError::unprocessable(
                "filing_rules_violated",
                format!(
                    "the class breaks {} filing rule(s); nothing was submitted",
                    violations.len()
                ),
            )
            .with("violations", violations));
        }
    }
    classes::set_status(&mut tx, id, next, reason).await?;
    audit_class(
        &mut tx,
        me,
        &class,
        &format!("class.{}", action.as_str()),
        json!({"from": class.status.as_str(), "to": next.as_str(), "reason": reason}),
    )
    .await?;
    let class = classes::get(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("class"))?;
    tx.commit().await?;
    tracing::info!(
        class_id = id,
        action = action.as_str(),
        status = next.as_str(),
        "class status changed"
    );
    Ok(class)
}

/// Submits a draft class for filing; every broken rule is reported at once.
#[utoipa::path(post, path = "/api/classes/{id}/submit", tag = "classes",
    params(("id" = i64, Path, description = "class id")),
    responses((status = 200, body = Class), (status = 422, description = "filing rules violated, all listed in `violations`")))]
pub async fn submit_class(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<Class>> {
    me.require(Action::SubmitFiling)?;
    Ok(Json(
        change_status(&st, &me.user, id, ClassAction::Submit, None).await?,
    ))
}

/// The bureau files (approves) a submitted class.
#[utoipa::path(post, path = "/api/classes/{id}/file", tag = "classes",
    params(("id" = i64, Path, description = "class id")), responses((status = 200, body = Class)))]
pub async fn file_class(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<Class>> {
    me.require(Action::DecideFiling)?;
    Ok(Json(
        change_status(&st, &me.user, id, ClassAction::File, None).await?,
    ))
}

/// The bureau's reason for returning a filing.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnRequest {
    /// Why the filing is returned (shown to the institution).
    pub reason: String,
}

/// The bureau returns a submitted class to draft, with a reason.
#[utoipa::path(post, path = "/api/classes/{id}/return", tag = "classes",
    params(("id" = i64, Path, description = "class id")), request_body = ReturnRequest,
    responses((status = 200, body = Class)))]
pub async fn return_class(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<ReturnRequest>,
) -> ApiResult<Json<Class>> {
    me.require(Action::DecideFiling)?;
    let reason = req.reason.trim();
    if reason.is_empty() || reason.chars().count() > 1000 {
        return Err(invalid(vec![
            json!({"field": "reason", "reason": "1–1000 characters"}),
        ]));
    }
    Ok(Json(
        change_status(&st, &me.user, id, ClassAction::Return, Some(reason)).await?,
    ))
}

/// Starts live teaching of a filed class.
#[utoipa::path(post, path = "/api/classes/{id}/start", tag = "classes",
    params(("id" = i64, Path, description = "class id")), responses((status = 200, body = Class)))]
pub async fn start_class(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<Class>> {
    me.require(Action::RunClass)?;
    Ok(Json(
        change_status(&st, &me.user, id, ClassAction::Start, None).await?,
    ))
}

/// Ends live teaching of a class.
#[utoipa::path(post, path = "/api/classes/{id}/finish", tag = "classes",
    params(("id" = i64, Path, description = "class id")), responses((status = 200, body = Class)))]
pub async fn finish_class(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<Class>> {
    me.require(Action::RunClass)?;
    let class = change_status(&st, &me.user, id, ClassAction::Finish, None).await?;
    // The class archive is written at class end; a failure is logged and does not undo the
    // finish (`ketang archive create --class ID` writes it later).
    crate::integrity::archive::after_finish(&st, id).await;
    // The attendance report and exam transcript are produced automatically at class end;
    // a failure is logged and the reports stay available on demand.
    if let Err(e) = super::reports::store_reports(&st, &class).await {
        tracing::error!(class_id = id, detail = %e.detail, "class-end reports failed");
    }
    Ok(Json(class))
}
