//! The exam: question banks per institution and course type, each class's exam settings,
//! and attempts.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::Row;

use super::classes::CourseType;
use super::{now_ms, Conn, StoreError, StoreResult};
use crate::attendance::exam::{QuestionKind, QuestionSpec};

/// A stored question, with its key.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Question {
    /// Id.
    pub id: i64,
    /// Kind.
    pub kind: QuestionKind,
    /// The question.
    pub prompt: String,
    /// Options.
    pub options: Vec<String>,
    /// Indices of the right options.
    pub answer: Vec<u32>,
    /// Weight.
    pub points: u32,
}

/// A class's exam settings.
#[derive(Clone, Copy, Debug, Serialize, utoipa::ToSchema)]
pub struct ExamSettings {
    /// Seconds per attempt.
    pub time_limit_secs: u32,
    /// Attempts allowed.
    pub max_attempts: u32,
    /// Pass mark out of 100.
    pub pass_mark: u32,
}

/// Attempt status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AttemptStatus {
    /// Running.
    Open,
    /// Answers received in time and scored.
    Submitted,
    /// The time limit passed without answers in time: no score.
    Expired,
}

impl AttemptStatus {
    fn as_str(self) -> &'static str {
        match self {
            AttemptStatus::Open => "open",
            AttemptStatus::Submitted => "submitted",
            AttemptStatus::Expired => "expired",
        }
    }
    fn parse(s: &str) -> StoreResult<Self> {
        match s {
            "open" => Ok(AttemptStatus::Open),
            "submitted" => Ok(AttemptStatus::Submitted),
            "expired" => Ok(AttemptStatus::Expired),
            o => Err(StoreError::Corrupt(format!("attempt status {o:?}"))),
        }
    }
}

/// An attempt.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Attempt {
    /// Id.
    pub id: i64,
    /// Class.
    pub class_id: i64,
    /// Student.
    pub student_id: i64,
    /// 1, 2, …
    pub number: u32,
    /// Questions of the attempt, in order.
    pub question_ids: Vec<i64>,
    /// Unix ms.
    pub started_at: i64,
    /// Unix ms.
    pub deadline_at: i64,
    /// Unix ms.
    pub submitted_at: Option<i64>,
    /// Answers given (question id → options).
    #[schema(value_type = Object)]
    pub answers: Option<HashMap<i64, Vec<u32>>>,
    /// 0–100.
    pub score: Option<u32>,
    /// Whether it passed.
    pub passed: Option<bool>,
    /// Status.
    pub status: AttemptStatus,
}

fn corrupt<E: std::fmt::Display>(what: &str) -> impl Fn(E) -> StoreError + '_ {
    move |e| StoreError::Corrupt(format!("{what}: {e}"))
}

fn question(r: &sqlx::any::AnyRow) -> StoreResult<Question> {
    let kind: String = r.try_get("kind")?;
    let options: String = r.try_get("options")?;
    let answer: String = r.try_get("answer")?;
    let points: i64 = r.try_get("points")?;
    Ok(Question {
        id: r.try_get("id")?,
        kind: QuestionKind::parse(&kind)
            .ok_or_else(|| StoreError::Corrupt(format!("question kind {kind:?}")))?,
        prompt: r.try_get("prompt")?,
        options: serde_json::from_str(&options).map_err(corrupt("question options"))?,
        answer: serde_json::from_str(&answer).map_err(corrupt("question answer"))?,
        points: points as u32,
    })
}

/// Adds a question to a bank.
pub async fn insert_question(
    conn: &mut Conn,
    institution_id: i64,
    course: CourseType,
    q: &QuestionSpec,
    created_by: i64,
) -> StoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO exam_questions (institution_id, course_type, kind, prompt, options, answer, \
         points, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
    )
    .bind(institution_id)
    .bind(course.as_str())
    .bind(q.kind.as_str())
    .bind(&q.prompt)
    .bind(serde_json::to_string(&q.options).expect("json"))
    .bind(serde_json::to_string(&q.answer).expect("json"))
    .bind(i64::from(q.points))
    .bind(created_by)
    .bind(now_ms())
    .fetch_one(&mut *conn)
    .await?)
}

/// The active questions of a bank, by id.
pub async fn bank(
    conn: &mut Conn,
    institution_id: i64,
    course: CourseType,
) -> StoreResult<Vec<Question>> {
    sqlx::query(
        "SELECT id, kind, prompt, options, answer, points FROM exam_questions \
         WHERE institution_id = $1 AND course_type = $2 AND retired = 0 ORDER BY id",
    )
    .bind(institution_id)
    .bind(course.as_str())
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(question)
    .collect()
}

/// Questions by id (retired ones too: old attempts keep their questions).
pub async fn questions(conn: &mut Conn, ids: &[i64]) -> StoreResult<Vec<Question>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let row = sqlx::query(
            "SELECT id, kind, prompt, options, answer, points FROM exam_questions WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&mut *conn)
        .await?;
        out.push(question(&row)?);
    }
    Ok(out)
}

/// A class's settings, if set.
pub async fn settings(conn: &mut Conn, class_id: i64) -> StoreResult<Option<ExamSettings>> {
    let row = sqlx::query(
        "SELECT time_limit_secs, max_attempts, pass_mark FROM class_exams WHERE class_id = $1",
    )
    .bind(class_id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|r| {
        Ok(ExamSettings {
            time_limit_secs: r.try_get::<i64, _>("time_limit_secs")? as u32,
            max_attempts: r.try_get::<i64, _>("max_attempts")? as u32,
            pass_mark: r.try_get::<i64, _>("pass_mark")? as u32,
        })
    })
    .transpose()
}

/// Sets a class's settings.
pub async fn put_settings(conn: &mut Conn, class_id: i64, s: &ExamSettings) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO class_exams (class_id, time_limit_secs, max_attempts, pass_mark, updated_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (class_id) DO UPDATE SET \
         time_limit_secs = excluded.time_limit_secs, max_attempts = excluded.max_attempts, \
         pass_mark = excluded.pass_mark, updated_at = excluded.updated_at",
    )
    .bind(class_id)
    .bind(i64::from(s.time_limit_secs))
    .bind(i64::from(s.max_attempts))
    .bind(i64::from(s.pass_mark))
    .bind(now_ms())
    .execute(&mut *conn)
    .await?;
    Ok(())
}

const ATTEMPT_COLS: &str = "id, class_id, student_id, number, question_ids, started_at, \
     deadline_at, submitted_at, answers, score, passed, status";

fn attempt(r: &sqlx::any::AnyRow) -> StoreResult<Attempt> {
    let qids: String = r.try_get("question_ids")?;
    let answers: Option<String> = r.try_get("answers")?;
    let status: String = r.try_get("status")?;
    let score: Option<i64> = r.try_get("score")?;
    let passed: Option<i64> = r.try_get("passed")?;
    Ok(Attempt {
        id: r.try_get("id")?,
        class_id: r.try_get("class_id")?,
        student_id: r.try_get("student_id")?,
        number: r.try_get::<i64, _>("number")? as u32,
        question_ids: serde_json::from_str(&qids).map_err(corrupt("attempt questions"))?,
        started_at: r.try_get("started_at")?,
        deadline_at: r.try_get("deadline_at")?,
        submitted_at: r.try_get("submitted_at")?,
        answers: answers
            .map(|a| serde_json::from_str(&a))
            .transpose()
            .map_err(corrupt("attempt answers"))?,
        score: score.map(|s| s as u32),
        passed: passed.map(super::flag),
        status: AttemptStatus::parse(&status)?,
    })
}

/// A student's attempts in a class, by number.
pub async fn attempts_of(
    conn: &mut Conn,
    class_id: i64,
    student_id: i64,
) -> StoreResult<Vec<Attempt>> {
    sqlx::query(&format!(
        "SELECT {ATTEMPT_COLS} FROM exam_attempts WHERE class_id = $1 AND student_id = $2 \
         ORDER BY number"
    ))
    .bind(class_id)
    .bind(student_id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(attempt)
    .collect()
}

/// Every attempt in a class.
pub async fn attempts_in(conn: &mut Conn, class_id: i64) -> StoreResult<Vec<Attempt>> {
    sqlx::query(&format!(
        "SELECT {ATTEMPT_COLS} FROM exam_attempts WHERE class_id = $1 ORDER BY student_id, number"
    ))
    .bind(class_id)
    .fetch_all(&mut *conn)
    .await?
    .iter()
    .map(attempt)
    .collect()
}

/// One attempt.
pub async fn get_attempt(conn: &mut Conn, id: i64) -> StoreResult<Option<Attempt>> {
    sqlx::query(&format!(
        "SELECT {ATTEMPT_COLS} FROM exam_attempts WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?
    .as_ref()
    .map(attempt)
    .transpose()
}

/// Starts an attempt; the UNIQUE (class, student, number) key refuses a concurrent duplicate.
pub async fn start_attempt(
    conn: &mut Conn,
    class_id: i64,
    student_id: i64,
    number: u32,
    question_ids: &[i64],
    started_at: i64,
    deadline_at: i64,
) -> StoreResult<i64> {
    Ok(sqlx::query_scalar(
        "INSERT INTO exam_attempts (class_id, student_id, number, question_ids, started_at, \
         deadline_at, status) VALUES ($1, $2, $3, $4, $5, $6, 'open') RETURNING id",
    )
    .bind(class_id)
    .bind(student_id)
    .bind(i64::from(number))
    .bind(serde_json::to_string(question_ids).expect("json"))
    .bind(started_at)
    .bind(deadline_at)
    .fetch_one(&mut *conn)
    .await?)
}

/// Closes an open attempt; false if it was no longer open.
pub async fn finish_attempt(
    conn: &mut Conn,
    id: i64,
    status: AttemptStatus,
    at: i64,
    answers: Option<&HashMap<i64, Vec<u32>>>,
    score: Option<u32>,
    passed: Option<bool>,
) -> StoreResult<bool> {
    let done = sqlx::query(
        "UPDATE exam_attempts SET status = $1, submitted_at = $2, answers = $3, score = $4, \
         passed = $5 WHERE id = $6 AND status = 'open'",
    )
    .bind(status.as_str())
    .bind(at)
    .bind(answers.map(|a| serde_json::to_string(a).expect("json")))
    .bind(score.map(i64::from))
    .bind(passed.map(i64::from))
    .bind(id)
    .execute(&mut *conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Best score per student in a class.
pub async fn best_scores(conn: &mut Conn, class_id: i64) -> StoreResult<HashMap<i64, u32>> {
    let rows = sqlx::query(
        "SELECT student_id, MAX(score) AS best FROM exam_attempts \
         WHERE class_id = $1 AND score IS NOT NULL GROUP BY student_id",
    )
    .bind(class_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get("student_id")?,
                r.try_get::<i64, _>("best")? as u32,
            ))
        })
        .collect()
}
