//! The HTTP API (axum): one file per resource, JSON in and out, problem+json errors, an
//! OpenAPI document generated from the handlers, Prometheus metrics, the WebSocket entry
//! and the static pages.

pub mod access_log;
pub mod audit;
pub mod auth;
pub mod backups;
pub mod certificates;
pub mod classes;
pub mod error;
pub mod exams;
pub mod extract;
pub mod face;
pub mod institutions;
pub mod interactions;
pub mod media;
pub mod notice;
pub mod observe;
pub mod plans;
pub mod reports;
pub mod results;
pub mod scope;
pub mod staff;
pub mod students;
pub mod subsidy;
pub mod supervision;
pub mod ws;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use tower_http::services::ServeDir;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::throttle::LoginThrottle;
use crate::config::Config;
use crate::crypto::Keyring;
use crate::metrics::Metrics;
use crate::store::Store;
use error::ApiError;

/// Shared state of every handler.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Encryption keys for personal data.
    pub keys: Arc<Keyring>,
    /// Configuration in force.
    pub config: Arc<Config>,
    /// Failed logins per account.
    pub account_throttle: Arc<LoginThrottle>,
    /// Failed logins per client address (looser: many people share an address).
    pub address_throttle: Arc<LoginThrottle>,
    /// Metrics registry.
    pub metrics: Metrics,
    /// Live class rooms (signaling).
    pub rooms: Arc<crate::classroom::ClassRooms>,
    /// Attendance event ingestion.
    pub attendance: Arc<crate::attendance::Hub>,
    /// The SFU of this node.
    pub sfu: Arc<::media::Sfu>,
    /// Face verification workers (when enabled and started).
    pub face: crate::face_checks::FaceService,
    /// The SFU's event stream, until the serving node takes it (`crate::live`).
    media_events: Arc<std::sync::Mutex<Option<tokio::sync::mpsc::Receiver<::media::MediaEvent>>>>,
}

impl AppState {
    /// State for a server with this configuration.
    pub fn new(store: Store, keys: Keyring, config: Config, metrics: Metrics) -> Self {
        let a = &config.auth;
        let window = Duration::from_secs(a.failure_window_secs);
        let lockout = Duration::from_secs(a.lockout_secs);
        let (sfu, media_events) = start_sfu(&config, &metrics);
        let rooms = Arc::new(crate::classroom::ClassRooms::with_media(
            store.clone(),
            config.rooms,
            &config.filing,
            &metrics,
            crate::media_bridge::SfuBridge::new(sfu.clone()),
        ));
        let attendance = Arc::new(crate::attendance::Hub::new(
            store.clone(),
            config.attendance.clone(),
            metrics.registry().clone(),
        ));
        Self {
            rooms,
            attendance,
            store,
            keys: Arc::new(keys),
            account_throttle: Arc::new(LoginThrottle::new(a.max_failures, window, lockout)),
            address_throttle: Arc::new(LoginThrottle::new(
                a.max_failures.saturating_mul(4),
                window,
                lockout,
            )),
            sfu,
            media_events: Arc::new(std::sync::Mutex::new(Some(media_events))),
            face: Default::default(),
            config: Arc::new(config),
            metrics,
        }
    }
}

impl AppState {
    /// The SFU's event stream (once: the serving node feeds it to attendance).
    pub fn take_media_events(&self) -> Option<tokio::sync::mpsc::Receiver<::media::MediaEvent>> {
        self.media_events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }
}

/// Starts the SFU; its typed events wait for the serving node (`crate::live`); until then
/// (and in commands that never serve) the bounded queue fills and the SFU drops them.
fn start_sfu(
    config: &Config,
    metrics: &Metrics,
) -> (
    Arc<::media::Sfu>,
    tokio::sync::mpsc::Receiver<::media::MediaEvent>,
) {
    let media_metrics = ::media::MediaMetrics::new(metrics.registry()).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "media metrics already registered; not exported twice");
        ::media::MediaMetrics::unregistered()
    });
    ::media::Sfu::new(config.media.clone(), media_metrics)
}

/// Top-level OpenAPI description; paths are added by the routers below.
#[derive(OpenApi)]
#[openapi(
    info(title = "Ketang API", description = "Live-classroom server for 互联网+创业培训"),
    tags(
        (name = "auth", description = "Login and accounts"),
        (name = "students", description = "Real-name registration"),
        (name = "institutions", description = "Training institutions and staff"),
        (name = "classes", description = "Classes, rosters and filing (开班备案)"),
        (name = "supervision", description = "Regulator reads and the audit log"),
        (name = "exams", description = "Question banks, timed attempts, automatic scoring"),
        (name = "plans", description = "Business plans and the lecturer's review"),
        (name = "reports", description = "Attendance, eligibility and the automatic reports"),
        (name = "certificates", description = "Results review, e-certificates, roster notice (公示), subsidy"),
        (name = "media", description = "Publishing and watching live rooms (WebRTC, SDP offer/answer)"),
    )
)]
pub struct ApiDoc;

/// Folder of the browser pages: `static/` next to the sources, else `./static`.
fn static_dir() -> PathBuf {
    let beside_sources = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/static"));
    if beside_sources.is_dir() {
        beside_sources
    } else {
        PathBuf::from("static")
    }
}

/// The API routes with their OpenAPI description.
pub fn api_router(state: &AppState) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let limits = &state.config.limits;
    let json = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::login))
        .routes(routes!(auth::logout))
        .routes(routes!(auth::me))
        .routes(routes!(auth::change_password))
        .routes(routes!(institutions::list_institutions))
        .routes(routes!(staff::create_user, staff::list_users))
        .routes(routes!(staff::add_certificate, staff::list_certificates))
        .routes(routes!(classes::create_class, classes::list_classes))
        .routes(routes!(classes::get_class))
        .routes(routes!(classes::replace_sessions))
        .routes(routes!(classes::set_assistants))
        .routes(routes!(classes::enroll_students))
        .routes(routes!(classes::list_students))
        .routes(routes!(classes::submit_class))
        .routes(routes!(classes::file_class))
        .routes(routes!(classes::return_class))
        .routes(routes!(classes::start_class))
        .routes(routes!(classes::finish_class))
        .routes(routes!(students::get_student))
        .routes(routes!(face::enroll, face::enrollment))
        .routes(routes!(face::flags))
        .routes(routes!(audit::list_audit))
        .routes(routes!(supervision::list_classes))
        .routes(routes!(supervision::class_dossier))
        .routes(routes!(supervision::list_lecturers))
        .routes(routes!(supervision::live_rooms))
        .routes(routes!(backups::list_backups))
        .routes(routes!(backups::public_keys))
        .routes(routes!(backups::download))
        .routes(routes!(exams::add_question))
        .routes(routes!(exams::get_exam, exams::put_exam))
        .routes(routes!(exams::start_attempt, exams::list_attempts))
        .routes(routes!(exams::submit_answers))
        .routes(routes!(plans::list_plans))
        .routes(routes!(plans::download_plan))
        .routes(routes!(plans::decide_plan))
        .routes(routes!(reports::get_attendance))
        .routes(routes!(reports::get_report))
        .routes(routes!(results::submit_results, results::get_results))
        .routes(routes!(results::review_results))
        .routes(routes!(certificates::stamp))
        .routes(routes!(certificates::verify))
        .routes(routes!(certificates::list_class))
        .routes(routes!(certificates::mine))
        .routes(routes!(certificates::claim))
        .routes(routes!(certificates::pdf))
        .routes(routes!(certificates::revoke))
        .routes(routes!(certificates::public_certificate))
        .routes(routes!(certificates::verify_page))
        .routes(routes!(notice::publish))
        .routes(routes!(notice::public_notice))
        .routes(routes!(subsidy::get_subsidy))
        .routes(routes!(media::publish))
        .routes(routes!(media::subscribe))
        .routes(routes!(interactions::list_interactions))
        .layer(DefaultBodyLimit::max(limits.json_bytes));
    let uploads = OpenApiRouter::new()
        .routes(routes!(students::register))
        .routes(routes!(students::put_photo))
        .routes(routes!(classes::import_roster))
        .routes(routes!(plans::upload_plan))
        .layer(DefaultBodyLimit::max(limits.upload_bytes));
    json.merge(uploads).split_for_parts()
}

/// The whole application router.
pub fn router(state: AppState) -> Router {
    let (api, doc) = api_router(&state);
    let doc = Arc::new(doc);
    Router::new()
        .merge(api)
        .route(
            "/api/openapi.json",
            get(move || {
                let doc = doc.clone();
                async move { axum::Json(doc.as_ref().clone()) }
            }),
        )
        .route("/metrics", get(observe::metrics))
        .route("/healthz", get(observe::healthz))
        .route("/ws", get(ws::upgrade))
        .route_service(
            "/",
            tower_http::services::ServeFile::new(static_dir().join("index.html")),
        )
        .fallback_service(ServeDir::new(static_dir()).fallback(axum::routing::any(not_found)))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access_log::record_regulator_access,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observe::track_requests,
        ))
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(uri.path().to_string())
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this path does not accept that method",
    )
}
