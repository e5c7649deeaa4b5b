//! `ketang serve`: open the store, apply migrations, load keys, bind, serve until a signal.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;

use crate::config::Config;
use crate::crypto::Keyring;
use crate::http::{self, AppState};
use crate::metrics::Metrics;
use crate::store::{sessions, Store};

/// Opens the database named by the configuration and brings its schema up to date.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let url = config.database_url();
    let store = Store::connect(&url).await?;
    store
        .migrate()
        .await
        .with_context(|| format!("migrating {}", crate::store::redact_url(&url)))?;
    // Entries written before the audit chain existed are chained once, in id order.
    let sealed = crate::store::audit::seal_unchained(&mut *store.conn().await?).await?;
    if sealed > 0 {
        tracing::info!(
            entries = sealed,
            "audit entries from before the hash chain were chained"
        );
    }
    Ok(store)
}

/// Builds the application state from a configuration.
pub async fn app_state(config: Config) -> anyhow::Result<AppState> {
    let store = open_store(&config).await?;
    let keys = Keyring::load_or_create(&config.key_dir())?;
    // The signing key is made on first run too (0600), not at the first backup.
    crate::integrity::signing::SigningKeys::load_or_create(&config.key_dir())?;
    Ok(AppState::new(store, keys, config, Metrics::new()))
}

/// Starts the face workers when face checks are enabled: a missing or damaged model file
/// stops start-up here, naming the file.
pub fn start_face(state: &AppState) -> anyhow::Result<()> {
    if !state.config.face.enabled {
        tracing::warn!(
            "face checks are disabled (face.enabled = false): attendance gets no face checks"
        );
        return Ok(());
    }
    state
        .face
        .start(&state.config.face, state.metrics.registry())
        .context("face checks are enabled (face.enabled); they need the model files")
}

/// A bound server, not yet serving.
pub struct Bound {
    listener: TcpListener,
    state: AppState,
}

impl Bound {
    /// Binds the configured address.
    pub async fn bind(state: AppState) -> anyhow::Result<Self> {
        let addr = state.config.listen;
        let listener =
            crate::listener::bind(addr).with_context(|| format!("cannot listen on {addr}"))?;
        Ok(Self { listener, state })
    }

    /// The address actually bound (port 0 resolves here).
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound socket has an address")
    }

    /// The URL people open.
    pub fn url(&self) -> String {
        match &self.state.config.public_url {
            Some(u) => u.clone(),
            None => format!("http://{}/", self.local_addr()),
        }
    }

    /// Serves until `shutdown` resolves.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let store = self.state.store.clone();
        // Starts attendance ingestion (and its crash recovery) with the server.
        self.state.attendance.sender();
        let janitor = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(3600));
            loop {
                tick.tick().await;
                if let Ok(mut conn) = store.conn().await {
                    match sessions::purge_expired(&mut conn).await {
                        Ok(n) if n > 0 => tracing::info!(purged = n, "expired sessions removed"),
                        Ok(_) => {}
                        Err(e) => tracing::warn!(error = %e, "session purge failed"),
                    }
                }
            }
        });
        let evidence_purge = tokio::spawn(crate::face_checks::purge_evidence_forever(
            self.state.store.clone(),
        ));
        // Watch signals to attendance, and face checks of running sessions.
        let live = crate::live::start(&self.state);
        let app = http::router(self.state);
        let result = axum::serve(
            self.listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown)
        .await;
        janitor.abort();
        evidence_purge.abort();
        for t in live {
            t.abort();
        }
        result.context("HTTP server failed")
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutting down");
}
