//! Every request a regulator makes is recorded in the audit log (route, method, status):
//! the notice wants the bureau's own access supervised too. The middleware leaves a slot
//! in the request; the `CurrentUser` extractor fills it with the caller; after the
//! response the middleware appends an entry if the caller was a regulator.

use std::sync::{Arc, OnceLock};

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use signaling::Role;

use super::AppState;
use crate::store::audit;
use crate::store::users::User;

/// Who made the request, filled in by the extractor.
#[derive(Clone, Default)]
pub struct AccessSlot(Arc<OnceLock<(i64, Role)>>);

impl AccessSlot {
    /// Notes the authenticated caller.
    pub fn fill(&self, user: &User) {
        let _ = self.0.set((user.id, user.role));
    }
}

/// Appends `regulator.access` entries for regulators' requests.
pub async fn record_regulator_access(
    State(st): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let slot = AccessSlot::default();
    req.extensions_mut().insert(slot.clone());
    let method = req.method().as_str().to_owned();
    let path = req.uri().path().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| path.clone());
    let res = next.run(req).await;
    if let Some((id, Role::Regulator)) = slot.0.get().copied() {
        let entry = audit::NewEntry {
            actor_id: Some(id),
            actor_role: Some(Role::Regulator.as_str()),
            action: "regulator.access",
            target_kind: "route",
            target_id: Some(route),
            institution_id: None,
            detail: serde_json::json!({"method": method, "path": path, "status": res.status().as_u16()}),
        };
        let written = match st.store.conn().await {
            Ok(mut c) => audit::record(&mut c, &entry)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = written {
            tracing::error!(error = %e, user = id, "regulator access could not be audited");
        }
    }
    res
}
