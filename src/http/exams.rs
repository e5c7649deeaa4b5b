//! The exam over HTTP: question banks, a class's settings, timed attempts with automatic
//! scoring; regulators read questions, answers and every attempt.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::json;
use signaling::Role;
use utoipa::ToSchema;

use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, CurrentUser};
use super::scope::{class_for, own_institution};
use super::AppState;
use crate::attendance::exam::{self, Keyed, QuestionKind, QuestionSpec};
use crate::auth::Action;
use crate::store::classes::{Class, CourseType};
use crate::store::exams::{self, Attempt, AttemptStatus, ExamSettings, Question};
use crate::store::{audit, now_ms, Conn};

/// A new question.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewQuestion {
    /// Bank: `GYB` or `SYB` (of the caller's institution).
    pub course_type: CourseType,
    /// `single`, `multiple` or `true_false`.
    pub kind: QuestionKind,
    /// The question.
    pub prompt: String,
    /// Options (omit for true/false).
    #[serde(default)]
    pub options: Vec<String>,
    /// Indices of the right options.
    pub answer: Vec<u32>,
    /// Weight (default 1).
    #[serde(default = "one")]
    pub points: u32,
}

fn one() -> u32 {
    1
}

/// Adds a question to the institution's bank.
#[utoipa::path(post, path = "/api/exam-questions", tag = "exams", request_body = NewQuestion,
    responses((status = 201, body = Question), (status = 422, description = "invalid question")))]
pub async fn add_question(
    State(st): State<AppState>,
    me: CurrentUser,
    ApiJson(req): ApiJson<NewQuestion>,
) -> ApiResult<(StatusCode, Json<Question>)> {
    me.require(Action::ManageExam)?;
    let institution_id = own_institution(&me.user)?;
    let q = exam::validate(QuestionSpec {
        kind: req.kind,
        prompt: req.prompt,
        options: req.options,
        answer: req.answer,
        points: req.points,
    })
    .map_err(|errors| {
        ApiError::unprocessable("invalid_question", "the question is invalid; see `errors`")
            .with("errors", errors)
    })?;
    let mut tx = st.store.begin().await?;
    let id =
        exams::insert_question(&mut tx, institution_id, req.course_type, &q, me.user.id).await?;
    audit::record(
        &mut tx,
        &audit::NewEntry {
            actor_id: Some(me.user.id),
            actor_role: Some(me.user.role.as_str()),
            action: "exam.question.add",
            target_kind: "exam_question",
            target_id: Some(id.to_string()),
            institution_id: Some(institution_id),
            detail: json!({"course_type": req.course_type, "kind": q.kind}),
        },
    )
    .await?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(Question {
            id,
            kind: q.kind,
            prompt: q.prompt,
            options: q.options,
            answer: q.answer,
            points: q.points,
        }),
    ))
}

/// A class's exam as staff and regulators see it: settings and the bank with answers.
#[derive(Serialize, ToSchema)]
pub struct ExamView {
    /// Settings in force.
    pub settings: ExamSettings,
    /// Questions with their answers.
    pub questions: Vec<Question>,
}

async fn settings_for(st: &AppState, conn: &mut Conn, class_id: i64) -> ApiResult<ExamSettings> {
    let d = &st.config.attendance.exam;
    Ok(exams::settings(conn, class_id)
        .await?
        .unwrap_or(ExamSettings {
            time_limit_secs: d.time_limit_secs,
            max_attempts: d.max_attempts,
            pass_mark: d.pass_mark,
        }))
}

/// A class's exam settings and questions with answers (staff and regulators).
#[utoipa::path(get, path = "/api/classes/{id}/exam", tag = "exams",
    params(("id" = i64, Path, description = "class id")), responses((status = 200, body = ExamView)))]
pub async fn get_exam(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<ExamView>> {
    me.require(Action::ReadExam)?;
    let mut conn = st.store.conn().await?;
    let class = class_for(&mut conn, &me.user, id).await?;
    Ok(Json(ExamView {
        settings: settings_for(&st, &mut conn, id).await?,
        questions: exams::bank(&mut conn, class.institution_id, class.course_type).await?,
    }))
}

/// Sets a class's exam settings.
#[utoipa::path(put, path = "/api/classes/{id}/exam", tag = "exams",
    params(("id" = i64, Path, description = "class id")), request_body = ExamSettingsInput,
    responses((status = 200, body = ExamSettings)))]
pub async fn put_exam(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<ExamSettingsInput>,
) -> ApiResult<Json<ExamSettings>> {
    me.require(Action::ManageExam)?;
    let mut errors = Vec::new();
    if !(60..=6 * 3600).contains(&req.time_limit_secs) {
        errors.push(json!({"field": "time_limit_secs", "reason": "60–21600 seconds"}));
    }
    if !(1..=10).contains(&req.max_attempts) {
        errors.push(json!({"field": "max_attempts", "reason": "1–10"}));
    }
    if req.pass_mark > 100 {
        errors.push(json!({"field": "pass_mark", "reason": "0–100"}));
    }
    if !errors.is_empty() {
        return Err(ApiError::unprocessable(
            "invalid_fields",
            "some fields are invalid; see `errors`",
        )
        .with("errors", errors));
    }
    let s = ExamSettings {
        time_limit_secs: req.time_limit_secs,
        max_attempts: req.max_attempts,
        pass_mark: req.pass_mark,
    };
    let mut tx = st.store.begin().await?;
    let class = class_for(&mut tx, &me.user, id).await?;
    exams::put_settings(&mut tx, id, &s).await?;
    audit::record(
        &mut tx,
        &audit::NewEntry {
            actor_id: Some(me.user.id),
            actor_role: Some(me.user.role.as_str()),
            action: "exam.settings",
            target_kind: "class",
            target_id: Some(id.to_string()),
            institution_id: Some(class.institution_id),
            detail: json!(s),
        },
    )
    .await?;
    tx.commit().await?;
    Ok(Json(s))
}

/// Exam settings.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExamSettingsInput {
    /// Seconds per attempt (60–21600).
    pub time_limit_secs: u32,
    /// Attempts allowed (1–10).
    pub max_attempts: u32,
    /// Pass mark out of 100.
    pub pass_mark: u32,
}

/// A question as a student sees it: no answer.
#[derive(Serialize, ToSchema)]
pub struct PaperQuestion {
    /// Id (use it as the key of the answer).
    pub id: i64,
    /// Kind.
    pub kind: QuestionKind,
    /// The question.
    pub prompt: String,
    /// Options.
    pub options: Vec<String>,
    /// Weight.
    pub points: u32,
}

/// A started attempt.
#[derive(Serialize, ToSchema)]
pub struct StartedAttempt {
    /// Attempt id.
    pub attempt_id: i64,
    /// 1, 2, …
    pub number: u32,
    /// Of how many allowed.
    pub max_attempts: u32,
    /// Answers must arrive by then (unix ms).
    pub deadline_at: i64,
    /// The paper.
    pub questions: Vec<PaperQuestion>,
}

/// Closes an open attempt whose time has run out (it counts as used, with no score).
async fn expire_if_over(st: &AppState, conn: &mut Conn, a: &Attempt, now: i64) -> ApiResult<bool> {
    let grace = i64::from(st.config.attendance.exam.grace_secs) * 1000;
    if a.status == AttemptStatus::Open && !exam::in_time(now, a.deadline_at, grace) {
        exams::finish_attempt(conn, a.id, AttemptStatus::Expired, now, None, None, None).await?;
        return Ok(true);
    }
    Ok(false)
}

/// Starts an exam attempt (students enrolled in the class).
#[utoipa::path(post, path = "/api/classes/{id}/exam/attempts", tag = "exams",
    params(("id" = i64, Path, description = "class id")),
    responses((status = 201, body = StartedAttempt),
        (status = 409, description = "attempt_limit_reached, attempt_in_progress or exam_has_no_questions")))]
pub async fn start_attempt(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<(StatusCode, Json<StartedAttempt>)> {
    me.require(Action::TakeExam)?;
    let now = now_ms();
    let mut tx = st.store.begin().await?;
    let class = class_for(&mut tx, &me.user, id).await?;
    let settings = settings_for(&st, &mut tx, id).await?;
    let previous = exams::attempts_of(&mut tx, id, me.user.id).await?;
    for a in &previous {
        if a.status == AttemptStatus::Open && !expire_if_over(&st, &mut tx, a, now).await? {
            return Err(ApiError::conflict(
                "attempt_in_progress",
                format!(
                    "attempt {} is still running until {}",
                    a.number, a.deadline_at
                ),
            )
            .with("attempt_id", a.id));
        }
    }
    if previous.len() as u32 >= settings.max_attempts {
        tx.commit().await?; // keep any expiry just recorded
        return Err(ApiError::conflict(
            "attempt_limit_reached",
            format!(
                "all {} allowed attempt(s) are used; no further attempt can be started",
                settings.max_attempts
            ),
        ));
    }
    let questions = exams::bank(&mut tx, class.institution_id, class.course_type).await?;
    if questions.is_empty() {
        return Err(ApiError::conflict(
            "exam_has_no_questions",
            "the question bank of this course is empty",
        ));
    }
    let number = previous.len() as u32 + 1;
    let deadline = now + i64::from(settings.time_limit_secs) * 1000;
    let qids: Vec<i64> = questions.iter().map(|q| q.id).collect();
    let attempt_id = exams::start_attempt(&mut tx, id, me.user.id, number, &qids, now, deadline)
        .await
        .map_err(|e| {
            if e.is_unique_violation() {
                ApiError::conflict("attempt_in_progress", "another attempt was just started")
            } else {
                e.into()
            }
        })?;
    tx.commit().await?;
    Ok((
        StatusCode::CREATED,
        Json(StartedAttempt {
            attempt_id,
            number,
            max_attempts: settings.max_attempts,
            deadline_at: deadline,
            questions: questions
                .into_iter()
                .map(|q| PaperQuestion {
                    id: q.id,
                    kind: q.kind,
                    prompt: q.prompt,
                    options: q.options,
                    points: q.points,
                })
                .collect(),
        }),
    ))
}

/// Answers to an attempt.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswersRequest {
    /// Question id → chosen option indices.
    #[schema(value_type = Object)]
    pub answers: HashMap<i64, Vec<u32>>,
}

/// The scored attempt.
#[derive(Serialize, ToSchema)]
pub struct AttemptResult {
    /// Attempt id.
    pub attempt_id: i64,
    /// 0–100.
    pub score: u32,
    /// Pass mark.
    pub pass_mark: u32,
    /// Whether it passed.
    pub passed: bool,
    /// Questions answered right.
    pub correct: u32,
    /// Questions in the paper.
    pub questions: u32,
}

/// Submits the answers of an attempt; it is scored at once.
#[utoipa::path(post, path = "/api/exam-attempts/{id}/answers", tag = "exams",
    params(("id" = i64, Path, description = "attempt id")), request_body = AnswersRequest,
    responses((status = 200, body = AttemptResult),
        (status = 409, description = "time_limit_exceeded or attempt_closed")))]
pub async fn submit_answers(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
    ApiJson(req): ApiJson<AnswersRequest>,
) -> ApiResult<Json<AttemptResult>> {
    me.require(Action::TakeExam)?;
    let now = now_ms();
    let mut tx = st.store.begin().await?;
    let a = exams::get_attempt(&mut tx, id)
        .await?
        .filter(|a| a.student_id == me.user.id)
        .ok_or_else(|| ApiError::not_found(format!("exam attempt {id}")))?;
    if a.status != AttemptStatus::Open {
        return Err(ApiError::conflict(
            "attempt_closed",
            format!(
                "attempt {} is already {}",
                a.number,
                json!(a.status).as_str().unwrap_or("")
            ),
        ));
    }
    if expire_if_over(&st, &mut tx, &a, now).await? {
        tx.commit().await?;
        let late = (now - a.deadline_at) as f64 / 1000.0;
        return Err(ApiError::conflict(
            "time_limit_exceeded",
            format!(
                "the time limit of attempt {} ended {late:.0} s before these answers arrived; \
                 they are not accepted and the attempt is closed without a score",
                a.number
            ),
        )
        .with("deadline_at", a.deadline_at));
    }
    let settings = settings_for(&st, &mut tx, a.class_id).await?;
    let questions = exams::questions(&mut tx, &a.question_ids).await?;
    let keyed: Vec<Keyed> = questions
        .iter()
        .map(|q| Keyed {
            id: q.id,
            answer: q.answer.clone(),
            points: q.points,
        })
        .collect();
    let scored = exam::score(&keyed, &req.answers);
    let passed = scored.score >= settings.pass_mark;
    if !exams::finish_attempt(
        &mut tx,
        id,
        AttemptStatus::Submitted,
        now,
        Some(&req.answers),
        Some(scored.score),
        Some(passed),
    )
    .await?
    {
        return Err(ApiError::conflict(
            "attempt_closed",
            "the attempt was closed meanwhile",
        ));
    }
    tx.commit().await?;
    Ok(Json(AttemptResult {
        attempt_id: id,
        score: scored.score,
        pass_mark: settings.pass_mark,
        passed,
        correct: scored.correct,
        questions: questions.len() as u32,
    }))
}

/// Every attempt in a class with its answers (staff and regulators); a student sees their own.
#[utoipa::path(get, path = "/api/classes/{id}/exam/attempts", tag = "exams",
    params(("id" = i64, Path, description = "class id")), responses((status = 200, body = Vec<Attempt>)))]
pub async fn list_attempts(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<Vec<Attempt>>> {
    if me.user.role == Role::Student {
        me.require(Action::TakeExam)?;
    } else {
        me.require(Action::ReadExam)?;
    }
    let mut conn = st.store.conn().await?;
    let _class: Class = class_for(&mut conn, &me.user, id).await?;
    let now = now_ms();
    let grace = i64::from(st.config.attendance.exam.grace_secs) * 1000;
    let mut all = if me.user.role == Role::Student {
        exams::attempts_of(&mut conn, id, me.user.id).await?
    } else {
        exams::attempts_in(&mut conn, id).await?
    };
    // Show overdue attempts as expired even before anyone touched them again.
    for a in &mut all {
        if a.status == AttemptStatus::Open && !exam::in_time(now, a.deadline_at, grace) {
            a.status = AttemptStatus::Expired;
        }
    }
    Ok(Json(all))
}
