//! Regulator reads over a jurisdiction: every class with its filing, schedule and
//! progress; a class's full dossier (students, lecturer and certificates, assistants, and
//! the sections other parts of Ketang will fill: attendance, certificates, exam); every
//! lecturer with certificates; and the rooms live now with their online counts.
//! Read-only: these handlers write nothing but the audit entry of the access itself.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::Json;
use chrono::Utc;
use serde::Serialize;
use signaling::Role;
use utoipa::ToSchema;

use super::error::ApiResult;
use super::extract::CurrentUser;
use super::scope::class_for;
use super::AppState;
use crate::auth::Action;
use crate::store::classes::{self, Class, ClassScope};
use crate::store::institutions::{self, Institution};
use crate::store::lecturers::{self, Certificate};
use crate::store::students::{self, StudentView};
use crate::store::users::{self, User};

/// How far a class has got through its schedule.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Progress {
    /// Sessions scheduled.
    pub sessions_total: usize,
    /// Sessions whose end has passed.
    pub sessions_held: usize,
    /// Hours scheduled.
    pub hours_total: f64,
    /// Hours whose end has passed.
    pub hours_held: f64,
    /// Start of the next session (unix ms), if any.
    pub next_session_at: Option<i64>,
}

fn progress(class: &Class, now: chrono::DateTime<Utc>) -> Progress {
    let hours = |s: &classes::Session| (s.ends_at - s.starts_at).num_minutes() as f64 / 60.0;
    let held: Vec<_> = class.sessions.iter().filter(|s| s.ends_at <= now).collect();
    Progress {
        sessions_total: class.sessions.len(),
        sessions_held: held.len(),
        hours_total: class.sessions.iter().map(hours).sum(),
        hours_held: held.iter().map(|s| hours(s)).sum(),
        next_session_at: class
            .sessions
            .iter()
            .filter(|s| s.starts_at > now)
            .map(|s| s.starts_at.timestamp_millis())
            .min(),
    }
}

/// One class as the bureau sees it in a listing.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ClassOverview {
    /// The class: filing status and times, schedule, headcounts.
    pub class: Class,
    /// Institution name.
    pub institution: String,
    /// Schedule progress.
    pub progress: Progress,
}

/// Every class in the regulator's jurisdiction with filing info and progress.
#[utoipa::path(get, path = "/api/supervision/classes", tag = "supervision",
    responses((status = 200, body = Vec<ClassOverview>)))]
pub async fn list_classes(
    State(st): State<AppState>,
    me: CurrentUser,
) -> ApiResult<Json<Vec<ClassOverview>>> {
    me.require(Action::Supervise)?;
    let jurisdiction = me.user.jurisdiction.as_deref().unwrap_or("");
    let mut conn = st.store.conn().await?;
    let names: BTreeMap<i64, String> = institutions::list_in_jurisdiction(&mut conn, jurisdiction)
        .await?
        .into_iter()
        .map(|i| (i.id, i.name))
        .collect();
    let now = Utc::now();
    let list = classes::list(&mut conn, ClassScope::Jurisdiction(jurisdiction))
        .await?
        .into_iter()
        .map(|c| ClassOverview {
            institution: names.get(&c.institution_id).cloned().unwrap_or_default(),
            progress: progress(&c, now),
            class: c,
        })
        .collect();
    Ok(Json(list))
}

/// A lecturer with certificates.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LecturerRecord {
    /// The account.
    pub lecturer: User,
    /// SYB certificates.
    pub certificates: Vec<Certificate>,
}

/// A part of the dossier another part of Ketang provides.
#[derive(Clone, Debug, Serialize, ToSchema)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum DossierSection {
    /// Data present.
    Available {
        /// The records.
        #[schema(value_type = Object)]
        data: serde_json::Value,
    },
    /// Not produced by this version yet.
    Pending {
        /// Why.
        reason: String,
    },
}

/// Everything the bureau may see about one class.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ClassDossier {
    /// Class, filing info, schedule.
    pub class: Class,
    /// Its institution.
    pub institution: Option<Institution>,
    /// Schedule progress.
    pub progress: Progress,
    /// Lecturer and certificates.
    pub lecturer: Option<LecturerRecord>,
    /// Assistants.
    pub assistants: Vec<User>,
    /// Enrolled students (ID numbers masked).
    pub students: Vec<StudentView>,
    /// Attendance, trainee certificates, exam questions and attempts: filled by the
    /// branches that store them (each key stays; its status changes).
    pub sections: BTreeMap<String, DossierSection>,
    /// The signed class archive, once written.
    pub archive: Option<ArchiveRef>,
}

/// Where a class's signed archive is.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ArchiveRef {
    /// SHA-256 of its manifest.
    pub manifest_sha256: String,
    /// Unix ms written.
    pub created_at: i64,
}

/// Sections whose tables are not in this version, and why.
const PENDING_SECTIONS: &[(&str, &str)] = &[
    (
        "attendance",
        "attendance events and reports are not stored yet",
    ),
    ("certificates", "trainee e-certificates are not issued yet"),
    ("exam", "exam questions and attempts are not stored yet"),
];

async fn lecturer_record(
    conn: &mut crate::store::Conn,
    id: i64,
) -> ApiResult<Option<LecturerRecord>> {
    Ok(match users::get(conn, id).await? {
        Some(u) if u.role == Role::Lecturer => Some(LecturerRecord {
            certificates: lecturers::list(conn, id).await?,
            lecturer: u,
        }),
        _ => None,
    })
}

/// One class's full dossier (404 outside the jurisdiction).
#[utoipa::path(get, path = "/api/supervision/classes/{id}", tag = "supervision",
    params(("id" = i64, Path, description = "class id")),
    responses((status = 200, body = ClassDossier)))]
pub async fn class_dossier(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<ClassDossier>> {
    me.require(Action::Supervise)?;
    let mut conn = st.store.conn().await?;
    let class = class_for(&mut conn, &me.user, id).await?;
    let mut assistants = Vec::new();
    for a in &class.assistant_ids {
        if let Some(u) = users::get(&mut conn, *a).await? {
            assistants.push(u);
        }
    }
    let archive = sqlx::query_as::<_, (String, i64)>(
        "SELECT manifest_sha256, created_at FROM class_archives WHERE class_id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .map(|(manifest_sha256, created_at)| ArchiveRef {
        manifest_sha256,
        created_at,
    });
    let sections = PENDING_SECTIONS
        .iter()
        .map(|(k, why)| {
            (
                (*k).to_string(),
                DossierSection::Pending {
                    reason: (*why).into(),
                },
            )
        })
        .collect();
    Ok(Json(ClassDossier {
        institution: institutions::get(&mut conn, class.institution_id).await?,
        progress: progress(&class, Utc::now()),
        lecturer: lecturer_record(&mut conn, class.lecturer_id).await?,
        assistants,
        students: students::list_for_class(&mut conn, id).await?,
        sections,
        archive,
        class,
    }))
}

/// Every lecturer of the jurisdiction's institutions, with certificates.
#[utoipa::path(get, path = "/api/supervision/lecturers", tag = "supervision",
    responses((status = 200, body = Vec<LecturerRecord>)))]
pub async fn list_lecturers(
    State(st): State<AppState>,
    me: CurrentUser,
) -> ApiResult<Json<Vec<LecturerRecord>>> {
    me.require(Action::Supervise)?;
    let mut conn = st.store.conn().await?;
    let jurisdiction = me.user.jurisdiction.as_deref().unwrap_or("");
    let mut out = Vec::new();
    for u in users::list_by_jurisdiction(&mut conn, jurisdiction, Some(Role::Lecturer)).await? {
        out.push(LecturerRecord {
            certificates: lecturers::list(&mut conn, u.id).await?,
            lecturer: u,
        });
    }
    Ok(Json(out))
}

/// A room live now.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct LiveRoom {
    /// Class id (also the room id).
    pub class_id: i64,
    /// Class name.
    pub name: String,
    /// Institution.
    pub institution_id: i64,
    /// Enrolled students.
    pub enrolled: i64,
    /// People in the room now: connected, or dropped and still within their resume
    /// window. Silent regulators are never counted. 0 when nobody has entered yet.
    pub online: u32,
}

/// Classes of the jurisdiction that are live now, with online counts.
#[utoipa::path(get, path = "/api/supervision/rooms", tag = "supervision",
    responses((status = 200, body = Vec<LiveRoom>)))]
pub async fn live_rooms(
    State(st): State<AppState>,
    me: CurrentUser,
) -> ApiResult<Json<Vec<LiveRoom>>> {
    me.require(Action::Supervise)?;
    let mut conn = st.store.conn().await?;
    let jurisdiction = me.user.jurisdiction.as_deref().unwrap_or("");
    let rooms = classes::list(&mut conn, ClassScope::Jurisdiction(jurisdiction))
        .await?
        .into_iter()
        .filter(|c| c.status.as_str() == "live")
        .map(|c| LiveRoom {
            online: st.rooms.online(c.id),
            class_id: c.id,
            name: c.name,
            institution_id: c.institution_id,
            enrolled: c.students,
        })
        .collect();
    Ok(Json(rooms))
}
