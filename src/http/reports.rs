//! Attendance summary and the automatic reports (attendance report, exam transcript) as
//! CSV, XLSX and HTML, on demand or as stored at class end.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use signaling::Role;
use utoipa::IntoParams;

use super::error::{ApiError, ApiResult};
use super::extract::CurrentUser;
use super::scope::class_for;
use super::AppState;
use crate::attendance::reports::{self, Table};
use crate::attendance::summary::{self, ClassSummary};
use crate::auth::Action;
use crate::store::classes::Class;
use crate::store::{self, exams, Conn};

/// The current summary of a class.
pub async fn summary_of(st: &AppState, conn: &mut Conn, class: &Class) -> ApiResult<ClassSummary> {
    let cfg = &st.config.attendance;
    Ok(summary::class_summary(conn, class, &cfg.thresholds, cfg.exam.pass_mark).await?)
}

/// Live time, watch time, attendance, exam, plan and eligibility with reasons for every
/// student of a class (a student sees only their own row). Always computed from the
/// current inputs.
#[utoipa::path(get, path = "/api/classes/{id}/attendance", tag = "reports",
    params(("id" = i64, Path, description = "class id")), responses((status = 200, body = ClassSummary)))]
pub async fn get_attendance(
    State(st): State<AppState>,
    me: CurrentUser,
    Path(id): Path<i64>,
) -> ApiResult<Json<ClassSummary>> {
    me.require(Action::ReadAttendance)?;
    let mut conn = st.store.conn().await?;
    let class = class_for(&mut conn, &me.user, id).await?;
    let mut s = summary_of(&st, &mut conn, &class).await?;
    if me.user.role == Role::Student {
        s.rows.retain(|r| r.trainee.student_id == me.user.id);
    }
    Ok(Json(s))
}

/// Builds both report tables of a class.
pub async fn tables(st: &AppState, conn: &mut Conn, class: &Class) -> ApiResult<(Table, Table)> {
    let s = summary_of(st, conn, class).await?;
    let attempts = exams::attempts_in(conn, class.id).await?;
    Ok((
        reports::attendance_table(&s),
        reports::transcript_table(&s, &attempts),
    ))
}

/// Generates and stores the CSV and XLSX reports of a class (at class end).
pub async fn store_reports(st: &AppState, class: &Class) -> ApiResult<()> {
    let mut tx = st.store.begin().await?;
    let (att, tr) = tables(st, &mut tx, class).await?;
    for (kind, t) in [("attendance", &att), ("transcript", &tr)] {
        store::reports::put(&mut tx, class.id, kind, "csv", &reports::to_csv(t)).await?;
        let xlsx = reports::to_xlsx(t).map_err(xlsx_err)?;
        store::reports::put(&mut tx, class.id, kind, "xlsx", &xlsx).await?;
    }
    tx.commit().await?;
    tracing::info!(class_id = class.id, "class-end reports stored");
    Ok(())
}

fn xlsx_err(e: rust_xlsxwriter::XlsxError) -> ApiError {
    tracing::error!(error = %e, "xlsx rendering failed");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal",
        "the report could not be rendered",
    )
}

/// Which copy.
#[derive(Deserialize, IntoParams)]
pub struct ReportQuery {
    /// `true`: the copy stored at class end instead of a fresh one.
    #[serde(default)]
    pub stored: bool,
}

const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// A report file: `attendance.csv`, `attendance.xlsx`, `attendance.html`,
/// `transcript.csv`, `transcript.xlsx` or `transcript.html`.
#[utoipa::path(get, path = "/api/classes/{id}/reports/{file}", tag = "reports",
    params(("id" = i64, Path, description = "class id"), ("file" = String, Path, description = "e.g. attendance.xlsx"), ReportQuery),
    responses((status = 200, description = "the report"), (status = 404, description = "no such report")))]
pub async fn get_report(
    State(st): State<AppState>,
    me: CurrentUser,
    Path((id, file)): Path<(i64, String)>,
    Query(q): Query<ReportQuery>,
) -> ApiResult<Response> {
    // Whole-class data; students see their own row in /attendance.
    me.require(Action::ReadClassResults)?;
    let (kind, format) = file
        .split_once('.')
        .filter(|(k, f)| {
            matches!(*k, "attendance" | "transcript") && matches!(*f, "csv" | "xlsx" | "html")
        })
        .ok_or_else(|| ApiError::not_found(format!("report {file:?}")))?;
    let mut conn = st.store.conn().await?;
    let class = class_for(&mut conn, &me.user, id).await?;
    let ctype = match format {
        "csv" => "text/csv; charset=utf-8",
        "xlsx" => XLSX,
        _ => "text/html; charset=utf-8",
    };
    let disposition = format!("attachment; filename=\"class-{id}-{kind}.{format}\"");
    if q.stored {
        let (bytes, _) = store::reports::get(&mut conn, id, kind, format)
            .await?
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "stored {file} (reports are stored when the class finishes)"
                ))
            })?;
        return Ok((
            [
                (header::CONTENT_TYPE, ctype.to_string()),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            bytes,
        )
            .into_response());
    }
    let (att, tr) = tables(&st, &mut conn, &class).await?;
    let t = if kind == "attendance" { att } else { tr };
    Ok(match format {
        "csv" => (
            [
                (header::CONTENT_TYPE, ctype.to_string()),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            reports::to_csv(&t),
        )
            .into_response(),
        "xlsx" => (
            [
                (header::CONTENT_TYPE, ctype.to_string()),
                (header::CONTENT_DISPOSITION, disposition),
            ],
            reports::to_xlsx(&t).map_err(xlsx_err)?,
        )
            .into_response(),
        _ => (
            [(header::CONTENT_TYPE, ctype.to_string())],
            reports::to_html(&t),
        )
            .into_response(),
    })
}
