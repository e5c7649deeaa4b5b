//! The audit log, readable by regulators only (the institution cannot read what the bureau
//! did in its rooms).

use axum::extract::{Query, State};
use axum::Json;
use serde::Deserialize;

use super::error::ApiResult;
use super::extract::CurrentUser;
use super::AppState;
use crate::auth::Action;
use crate::store::audit::{self, Entry};

/// Filters.
#[derive(Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Only entries about this kind of record (e.g. `class`)…
    pub target_kind: Option<String>,
    /// …with this id.
    pub target_id: Option<String>,
    /// At most this many (default 200, max 1000).
    pub limit: Option<i64>,
}

/// Audit entries of the regulator's jurisdiction, newest first.
#[utoipa::path(get, path = "/api/audit", tag = "supervision", params(AuditQuery),
    responses((status = 200, body = Vec<Entry>)))]
pub async fn list_audit(
    State(st): State<AppState>,
    me: CurrentUser,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Vec<Entry>>> {
    me.require(Action::ReadAudit)?;
    let mut conn = st.store.conn().await?;
    let target = match (&q.target_kind, &q.target_id) {
        (Some(k), Some(i)) => Some((k.as_str(), i.as_str())),
        _ => None,
    };
    let limit = q.limit.unwrap_or(200).clamp(1, 1000);
    Ok(Json(
        audit::list(
            &mut conn,
            super::scope::jurisdiction(&me.user)?,
            target,
            limit,
        )
        .await?,
    ))
}
