//! Attendance and certificates: typed events from the media, signaling and face crates are
//! ingested in batches ([`ingest`]) into live and watch intervals and face checks;
//! [`intervals`] turns them into live time, watch time and attendance rate;
//! [`eligibility`] decides certificates; exams, business plans, reports, certificates, the
//! public roster notice and the subsidy summary build on those.

pub mod certificate_pdf;
pub mod config;
pub mod drive;
pub mod eligibility;
pub mod events;
pub mod exam;
pub mod ingest;
pub mod intervals;
pub mod notice;
pub mod plan_file;
pub mod reports;
pub mod subsidy;
pub mod summary;
pub mod tracker;

use std::sync::OnceLock;

use prometheus::Registry;

use crate::store::Store;
use config::AttendanceConfig;
use ingest::IngestSender;

/// The server's one ingestor, started on first use (the server starts it when it begins
/// serving, so start-up recovery runs then; commands such as `ketang demo` that never send
/// events never start it and never touch a running server's open intervals).
pub struct Hub {
    store: Store,
    config: AttendanceConfig,
    registry: Registry,
    sender: OnceLock<IngestSender>,
}

impl Hub {
    /// A hub that has not started yet.
    pub fn new(store: Store, config: AttendanceConfig, registry: Registry) -> Self {
        Self {
            store,
            config,
            registry,
            sender: OnceLock::new(),
        }
    }

    /// Where to send attendance events; starts the ingestor on first call (needs a Tokio
    /// runtime).
    pub fn sender(&self) -> &IngestSender {
        self.sender.get_or_init(|| {
            let ing = ingest::start(self.store.clone(), &self.config, &self.registry);
            ing.sender
        })
    }
}
