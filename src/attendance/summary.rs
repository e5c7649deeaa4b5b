//! A class's attendance summary: per student live/watch time, face checks, exam, plan and
//! eligibility. Computed from the store on every call, so it always reflects the current
//! inputs (eligibility is recomputed whenever its inputs change). The pure part,
//! [`summarise`], is what the eligibility benchmark times.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;
use sqlx::Row;

use super::config::Thresholds;
use super::eligibility::{decide, percent_floor, Inputs, PlanStatus, Verdict};
use super::intervals::{class_totals, Check, LiveSpan, WatchSpan};
use crate::store::classes::{Class, CourseType};
use crate::store::{attendance as rows, exams, plans, Conn, StoreResult};

/// An enrolled student's identity as the reports show it.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Trainee {
    /// Account id.
    pub student_id: i64,
    /// Legal name (display name if no real-name record).
    pub name: String,
    /// `410102********1234`, if registered.
    pub id_number_masked: Option<String>,
    /// Mobile, if registered.
    pub mobile: Option<String>,
}

/// One student's row.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct StudentRow {
    /// Who.
    #[serde(flatten)]
    pub trainee: Trainee,
    /// Watch time, ms.
    pub watch_ms: i64,
    /// Watch time as % of live time (rounded down to 0.1).
    pub watch_percent: Option<f64>,
    /// Face checks scheduled during live time.
    pub checks_scheduled: u32,
    /// Of those, `match`.
    pub checks_matched: u32,
    /// Attendance rate, % (rounded down to 0.1).
    pub attendance_percent: Option<f64>,
    /// Best exam score.
    pub exam_score: Option<u32>,
    /// Business plan.
    pub plan: PlanStatus,
    /// Eligibility with reasons.
    pub verdict: Verdict,
}

/// A class's summary.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct ClassSummary {
    /// Class.
    pub class_id: i64,
    /// Name.
    pub class_name: String,
    /// GYB / SYB.
    pub course_type: CourseType,
    /// Live time, ms.
    pub live_ms: i64,
    /// Live time per session id, ms.
    pub live_ms_by_session: BTreeMap<i64, i64>,
    /// Pass mark in force.
    pub pass_mark: u32,
    /// Students, by id.
    pub rows: Vec<StudentRow>,
    /// How many are eligible.
    pub eligible: u32,
}

/// Everything [`summarise`] needs.
pub struct SummaryInputs<'a> {
    /// The class.
    pub class: &'a Class,
    /// Enrolled students.
    pub trainees: Vec<Trainee>,
    /// Live intervals.
    pub live: Vec<LiveSpan>,
    /// Watch intervals.
    pub watch: Vec<WatchSpan>,
    /// Face checks.
    pub checks: Vec<Check>,
    /// Best exam score per student.
    pub scores: HashMap<i64, u32>,
    /// Latest plan status per student.
    pub plans: HashMap<i64, PlanStatus>,
    /// Pass mark.
    pub pass_mark: u32,
}

/// Computes the summary (pure).
pub fn summarise(i: SummaryInputs<'_>, t: &Thresholds) -> ClassSummary {
    let totals = class_totals(&i.live, &i.watch, &i.checks);
    let mut rows = Vec::with_capacity(i.trainees.len());
    for tr in i.trainees {
        let s = totals.student(tr.student_id);
        let inputs = Inputs {
            live_ms: totals.live_ms,
            watch_ms: s.watch_ms,
            checks_scheduled: s.checks_scheduled,
            checks_matched: s.checks_matched,
            exam_score: i.scores.get(&tr.student_id).copied(),
            pass_mark: i.pass_mark,
            plan: i
                .plans
                .get(&tr.student_id)
                .copied()
                .unwrap_or(PlanStatus::Missing),
        };
        rows.push(StudentRow {
            trainee: tr,
            watch_ms: s.watch_ms,
            watch_percent: percent_floor(s.watch_ms, totals.live_ms),
            checks_scheduled: s.checks_scheduled,
            checks_matched: s.checks_matched,
            attendance_percent: percent_floor(
                i64::from(s.checks_matched),
                i64::from(s.checks_scheduled),
            ),
            exam_score: inputs.exam_score,
            plan: inputs.plan,
            verdict: decide(&inputs, t),
        });
    }
    ClassSummary {
        class_id: i.class.id,
        class_name: i.class.name.clone(),
        course_type: i.class.course_type,
        live_ms: totals.live_ms,
        live_ms_by_session: totals.live_ms_by_session,
        pass_mark: i.pass_mark,
        eligible: rows.iter().filter(|r| r.verdict.eligible).count() as u32,
        rows,
    }
}

/// Enrolled students with their real-name data, by account id.
pub async fn trainees(conn: &mut Conn, class_id: i64) -> StoreResult<Vec<Trainee>> {
    let rows = sqlx::query(
        "SELECT u.id, COALESCE(r.name, u.display_name) AS name, r.id_number_masked, r.mobile \
         FROM enrollments e JOIN users u ON u.id = e.student_id \
         LEFT JOIN student_records r ON r.user_id = u.id WHERE e.class_id = $1 ORDER BY u.id",
    )
    .bind(class_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Trainee {
                student_id: r.try_get("id")?,
                name: r.try_get("name")?,
                id_number_masked: r.try_get("id_number_masked")?,
                mobile: r.try_get("mobile")?,
            })
        })
        .collect()
}

/// Loads everything and computes the summary of a class.
pub async fn class_summary(
    conn: &mut Conn,
    class: &Class,
    t: &Thresholds,
    default_pass_mark: u32,
) -> StoreResult<ClassSummary> {
    let pass_mark = exams::settings(conn, class.id)
        .await?
        .map_or(default_pass_mark, |s| s.pass_mark);
    let inputs = SummaryInputs {
        class,
        trainees: trainees(conn, class.id).await?,
        live: rows::live_spans(conn, class.id).await?,
        watch: rows::watch_spans(conn, class.id).await?,
        checks: rows::checks(conn, class.id).await?,
        scores: exams::best_scores(conn, class.id).await?,
        plans: plans::latest_statuses(conn, class.id).await?,
        pass_mark,
    };
    Ok(summarise(inputs, t))
}
