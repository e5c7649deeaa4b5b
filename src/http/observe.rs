//! `/metrics`, `/healthz` and the middleware that counts and times every request.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;

/// Prometheus text exposition.
pub async fn metrics(State(st): State<AppState>) -> impl IntoResponse {
    st.metrics
        .throttle_keys
        .set(st.account_throttle.tracked() as i64);
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        st.metrics.render(),
    )
}

/// Liveness and database reachability.
pub async fn healthz(State(st): State<AppState>) -> Response {
    match sqlx::query("SELECT 1").execute(st.store.pool()).await {
        Ok(_) => "ok".into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "health check: database unreachable");
            (
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "database unreachable",
            )
                .into_response()
        }
    }
}

/// Counts requests by method, route template and status, and records latency.
pub async fn track_requests(State(st): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    // The route template, not the raw path: ids must not explode label cardinality.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let res = next.run(req).await;
    let status = res.status().as_u16().to_string();
    st.metrics
        .http_requests
        .with_label_values(&[&method, &route, &status])
        .inc();
    st.metrics
        .http_latency
        .with_label_values(&[&method, &route])
        .observe(started.elapsed().as_secs_f64());
    res
}
