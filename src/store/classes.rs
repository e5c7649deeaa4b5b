//! Classes, their scheduled live sessions, enrollments and assistant assignments.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use super::{now_ms, Conn, StoreError, StoreResult};
use crate::filing::rules::SessionPlan;
use crate::filing::status::ClassStatus;

/// Course type: the subsidy standard depends on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize, Serialize, utoipa::ToSchema)]
pub enum CourseType {
    /// Generate Your Business (创业意识培训).
    #[serde(rename = "GYB")]
    Gyb,
    /// Start / Improve Your Business (创办/改善企业培训).
    #[serde(rename = "SYB")]
    Syb,
}

impl CourseType {
    /// Database name.
    pub fn as_str(self) -> &'static str {
        match self {
            CourseType::Gyb => "GYB",
            CourseType::Syb => "SYB",
        }
    }

    fn parse(s: &str) -> StoreResult<Self> {
        match s {
            "GYB" => Ok(CourseType::Gyb),
            "SYB" => Ok(CourseType::Syb),
            other => Err(StoreError::Corrupt(format!("course type {other:?}"))),
        }
    }
}

/// A scheduled live session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Session {
    /// Id.
    pub id: i64,
    /// Start (UTC).
    pub starts_at: DateTime<Utc>,
    /// End (UTC).
    pub ends_at: DateTime<Utc>,
}

/// A class with its schedule and headcounts.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Class {
    /// Id.
    pub id: i64,
    /// Institution running it.
    pub institution_id: i64,
    /// Name (unique within the institution).
    pub name: String,
    /// GYB or SYB.
    pub course_type: CourseType,
    /// Lecturer's account id.
    pub lecturer_id: i64,
    /// Lifecycle state.
    #[schema(value_type = String)]
    pub status: ClassStatus,
    /// When it was last submitted for filing (unix ms).
    pub submitted_at: Option<i64>,
    /// When the bureau filed it (unix ms).
    pub filed_at: Option<i64>,
    /// The bureau's reason, if it returned the filing.
    pub return_reason: Option<String>,
    /// Live sessions, by start.
    pub sessions: Vec<Session>,
    /// Enrolled students.
    pub students: i64,
    /// Assigned assistants' account ids.
    pub assistant_ids: Vec<i64>,
}

impl Class {
    /// The schedule in the shape the filing rules take.
    pub fn session_plans(&self) -> Vec<SessionPlan> {
        self.sessions
            .iter()
            .map(|s| SessionPlan {
                starts_at: s.starts_at,
                ends_at: s.ends_at,
            })
            .collect()
    }

    /// The session running at `now`, if any.
    pub fn open_session(&self, now: DateTime<Utc>) -> Option<&Session> {
        self.sessions
            .iter()
            .find(|s| s.starts_at <= now && now < s.ends_at)
    }
}

/// Fields of a new class.
#[derive(Clone, Debug)]
pub struct NewClass<'a> {
    /// Institution.
    pub institution_id: i64,
    /// Name.
    pub name: &'a str,
    /// GYB or SYB.
    pub course_type: CourseType,
    /// Lecturer.
    pub lecturer_id: i64,
}

fn ms_to_dt(ms: i64) -> StoreResult<DateTime<Utc>> {
    DateTime::from_timestamp_millis(ms).ok_or_else(|| StoreError::Corrupt(format!("time {ms}")))
}

/// Creates a draft class; returns its id.
pub async fn insert(conn: &mut Conn, c: &NewClass<'_>) -> StoreResult<i64> {
    let now = now_ms();
    Ok(sqlx::query_scalar(
        "INSERT INTO classes (institution_id, name, course_type, lecturer_id, status, \
         created_at, updated_at) VALUES ($1, $2, $3, $4, 'draft', $5, $5) RETURNING id",
    )
    .bind(c.institution_id)
    .bind(c.name)
    .bind(c.course_type.as_str())
    .bind(c.lecturer_id)
    .bind(now)
    .fetch_one(&mut *conn)
    .await?)
}

/// Adds a live session.
pub async fn add_session(
    conn: &mut Conn,
    class_id: i64,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
) -> StoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO class_sessions (class_id, starts_at, ends_at) VALUES ($1, $2, $3) \
         RETURNING id",
    )
    .bind(class_id)
    .bind(starts_at.timestamp_millis())
    .bind(ends_at.timestamp_millis())
    .fetch_one(&mut *conn)
    .await?)
}

const CLASS_COLUMNS: &str = "id, institution_id, name, course_type, lecturer_id, status, \
     submitted_at, filed_at, return_reason";

async fn hydrate(conn: &mut Conn, row: &sqlx::any::AnyRow) -> StoreResult<Class> {
    let id: i64 = row.try_get("id")?;
    let status: String = row.try_get("status")?;
    let course: String = row.try_get("course_type")?;
    let sessions = sqlx::query(
        "SELECT id, starts_at, ends_at FROM class_sessions WHERE class_id = $1 ORDER BY starts_at",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(|r| {
        Ok(Session {
            id: r.try_get("id")?,
            starts_at: ms_to_dt(r.try_get("starts_at")?)?,
            ends_at: ms_to_dt(r.try_get("ends_at")?)?,
        })
    })
    .collect::<StoreResult<Vec<_>>>()?;
    let students: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM enrollments WHERE class_id = $1")
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
    let assistant_ids: Vec<i64> = sqlx::query_scalar(
        "SELECT assistant_id FROM assistant_assignments WHERE class_id = $1 ORDER BY assistant_id",
    )
    .bind(id)
    .fetch_all(&mut *conn)
    .await?;
    Ok(Class {
        id,
        institution_id: row.try_get("institution_id")?,
        name: row.try_get("name")?,
        course_type: CourseType::parse(&course)?,
        lecturer_id: row.try_get("lecturer_id")?,
        status: status
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("class status {status:?}")))?,
        submitted_at: row.try_get("submitted_at")?,
        filed_at: row.try_get("filed_at")?,
        return_reason: row.try_get("return_reason")?,
        sessions,
        students,
        assistant_ids,
    })
}

async fn fetch_many(conn: &mut Conn, rows: Vec<sqlx::any::AnyRow>) -> StoreResult<Vec<Class>> {
    let mut out = Vec::with_capacity(rows.len());
    for row in &rows {
        out.push(hydrate(conn, row).await?);
    }
    Ok(out)
}

/// Ids of the classes being taught live now (status `live`), ascending.
pub async fn live_ids(conn: &mut Conn) -> StoreResult<Vec<i64>> {
    Ok(
        sqlx::query_scalar("SELECT id FROM classes WHERE status = 'live' ORDER BY id")
            .fetch_all(&mut *conn)
            .await?,
    )
}

/// One class.
pub async fn get(conn: &mut Conn, id: i64) -> StoreResult<Option<Class>> {
    let row = sqlx::query(&format!(
        "SELECT {CLASS_COLUMNS} FROM classes WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(row) => Ok(Some(hydrate(conn, &row).await?)),
        None => Ok(None),
    }
}

/// By institution and name.
pub async fn find_by_name(
    conn: &mut Conn,
    institution_id: i64,
    name: &str,
) -> StoreResult<Option<Class>> {
    let row = sqlx::query(&format!(
        "SELECT {CLASS_COLUMNS} FROM classes WHERE institution_id = $1 AND name = $2"
    ))
    .bind(institution_id)
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?;
    match row {
        Some(row) => Ok(Some(hydrate(conn, &row).await?)),
        None => Ok(None),
    }
}

/// Which classes a listing covers.
#[derive(Clone, Debug)]
pub enum ClassScope<'a> {
    /// One institution's classes.
    Institution(i64),
    /// Classes of institutions in a regulator's jurisdiction (region-code prefix).
    Jurisdiction(&'a str),
    /// Classes taught by a lecturer.
    Lecturer(i64),
    /// Classes an assistant is assigned to.
    Assistant(i64),
    /// Classes a student is enrolled in.
    Student(i64),
}

/// Classes in a scope, by id.
pub async fn list(conn: &mut Conn, scope: ClassScope<'_>) -> StoreResult<Vec<Class>> {
    let cols = CLASS_COLUMNS
        .split(", ")
        .map(|c| format!("c.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let q = match scope {
        ClassScope::Institution(id) => {
            sqlx::query(&format!(
                "SELECT {cols} FROM classes c WHERE c.institution_id = $1 ORDER BY c.id"
            ))
            .bind(id)
            .fetch_all(&mut *conn)
            .await?
        }
        ClassScope::Jurisdiction(prefix) => {
            sqlx::query(&format!(
                "SELECT {cols} FROM classes c JOIN institutions i ON i.id = c.institution_id \
                 WHERE i.region_code LIKE $1 ORDER BY c.id"
            ))
            .bind(format!("{prefix}%"))
            .fetch_all(&mut *conn)
            .await?
        }
        ClassScope::Lecturer(id) => {
            sqlx::query(&format!(
                "SELECT {cols} FROM classes c WHERE c.lecturer_id = $1 ORDER BY c.id"
            ))
            .bind(id)
            .fetch_all(&mut *conn)
            .await?
        }
        ClassScope::Assistant(id) => {
            sqlx::query(&format!(
                "SELECT {cols} FROM classes c JOIN assistant_assignments a ON a.class_id = c.id \
                 WHERE a.assistant_id = $1 ORDER BY c.id"
            ))
            .bind(id)
            .fetch_all(&mut *conn)
            .await?
        }
        ClassScope::Student(id) => {
            sqlx::query(&format!(
                "SELECT {cols} FROM classes c JOIN enrollments e ON e.class_id = c.id \
                 WHERE e.student_id = $1 ORDER BY c.id"
            ))
            .bind(id)
            .fetch_all(&mut *conn)
            .await?
        }
    };
    fetch_many(conn, q).await
}

/// A lecturer's other classes that hold students at some time: submitted, filed or live.
pub async fn lecturer_commitments(
    conn: &mut Conn,
    lecturer_id: i64,
    except_class: i64,
) -> StoreResult<Vec<Class>> {
    let rows = sqlx::query(&format!(
        "SELECT {CLASS_COLUMNS} FROM classes WHERE lecturer_id = $1 AND id <> $2 \
         AND status IN ('submitted', 'filed', 'live') ORDER BY id"
    ))
    .bind(lecturer_id)
    .bind(except_class)
    .fetch_all(&mut *conn)
    .await?;
    fetch_many(conn, rows).await
}

/// Writes a new status and the timestamps/reason that go with it.
pub async fn set_status(
    conn: &mut Conn,
    id: i64,
    status: ClassStatus,
    return_reason: Option<&str>,
) -> StoreResult<()> {
    let now = now_ms();
    sqlx::query(
        "UPDATE classes SET status = $1, updated_at = $2, \
         submitted_at = CASE WHEN $1 = 'submitted' THEN $2 ELSE submitted_at END, \
         filed_at = CASE WHEN $1 = 'filed' THEN $2 ELSE filed_at END, \
         return_reason = CASE WHEN $1 = 'submitted' THEN NULL ELSE COALESCE($3, return_reason) END \
         WHERE id = $4",
    )
    .bind(status.as_str())
    .bind(now)
    .bind(return_reason)
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// Enrolls a student; false if already enrolled.
pub async fn enroll(conn: &mut Conn, class_id: i64, student_id: i64) -> StoreResult<bool> {
    let done = sqlx::query(
        "INSERT INTO enrollments (class_id, student_id, enrolled_at) VALUES ($1, $2, $3) \
         ON CONFLICT (class_id, student_id) DO NOTHING",
    )
    .bind(class_id)
    .bind(student_id)
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Whether a student is enrolled in a class.
pub async fn is_enrolled(conn: &mut Conn, class_id: i64, student_id: i64) -> StoreResult<bool> {
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM enrollments WHERE class_id = $1 AND student_id = $2",
    )
    .bind(class_id)
    .bind(student_id)
    .fetch_one(&mut *conn)
    .await?;
    Ok(n > 0)
}

/// Replaces the class's assistants.
pub async fn set_assistants(conn: &mut Conn, class_id: i64, ids: &[i64]) -> StoreResult<()> {
    sqlx::query("DELETE FROM assistant_assignments WHERE class_id = $1")
        .bind(class_id)
        .execute(&mut *conn)
        .await?;
    let now = now_ms();
    for id in ids {
        sqlx::query(
            "INSERT INTO assistant_assignments (class_id, assistant_id, assigned_at) \
             VALUES ($1, $2, $3)",
        )
        .bind(class_id)
        .bind(id)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
