//! `ketang attendance drive`: feeds a scripted live session through the real ingestor
//! against the configured database, printing each heartbeat once it is queued. The crash
//! test kills it with SIGKILL mid-stream and runs it again with `--ticks 0`, which only
//! performs start-up recovery.

use std::io::Write;
use std::time::Duration;

use anyhow::Context;

use super::events::{AttendanceEvent, ClassSession, FlowState, VideoState};
use super::ingest;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::store::now_ms;

/// What to drive.
#[derive(Clone, Debug)]
pub struct DrivePlan {
    /// The room.
    pub session: ClassSession,
    /// Students whose delivery flows for the whole run.
    pub students: Vec<i64>,
    /// Heartbeats to send (0: only start up, i.e. recover, and exit).
    pub ticks: u64,
    /// Time between heartbeats.
    pub tick: Duration,
}

/// Runs the plan; prints `start <ms>` then `beat <ms>` after each queued heartbeat.
pub async fn run(config: &Config, plan: &DrivePlan) -> anyhow::Result<()> {
    let store = crate::server::open_store(config).await?;
    let metrics = Metrics::new();
    let ing = ingest::start(store.clone(), &config.attendance, metrics.registry());
    let tx = ing.sender;
    // Recovery runs before the first event is written; wait for it.
    tx.flush().await.context("ingestor stopped")?;
    let mut out = std::io::stdout().lock();
    if plan.ticks > 0 {
        let start = now_ms();
        tx.send(AttendanceEvent::LecturerVideo {
            session: plan.session,
            state: VideoState::Receiving,
            at: start,
        })
        .await?;
        for s in &plan.students {
            tx.send(AttendanceEvent::SubscriberFlow {
                student_id: *s,
                session: plan.session,
                state: FlowState::Flowing,
                at: start,
            })
            .await?;
        }
        writeln!(out, "start {start}")?;
        out.flush()?;
        for _ in 0..plan.ticks {
            tokio::time::sleep(plan.tick).await;
            let at = now_ms();
            tx.send(AttendanceEvent::Heartbeat {
                session: plan.session,
                at,
            })
            .await?;
            writeln!(out, "beat {at}")?;
            out.flush()?;
        }
    }
    tx.flush().await.context("ingestor stopped")?;
    writeln!(out, "done")?;
    Ok(())
}
