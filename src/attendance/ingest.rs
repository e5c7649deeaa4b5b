//! The ingestor: one bounded channel from the media, signaling and face crates into one
//! writer task that applies events to the [`Tracker`] and writes each batch in one
//! transaction, at least every `flush_ms` (≤ 1 s). Senders wait when the channel is full
//! (nothing is dropped); waits, queue depth, batch sizes and write times are metrics.
//!
//! Start-up first closes every interval left open by a crash at its last heartbeat, so a
//! crash loses at most the time since the last written heartbeat.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::config::AttendanceConfig;
use super::events::AttendanceEvent;
use super::tracker::{Applied, Batch, Tracker};
use crate::store::{attendance as rows, Store, StoreResult};

/// Metrics of the ingest path.
#[derive(Clone)]
pub struct IngestMetrics {
    /// Events applied, by kind.
    pub events: IntCounterVec,
    /// Events refused (unknown session), by reason.
    pub rejected: IntCounterVec,
    /// Events queued and not yet taken by the writer.
    pub queue_depth: IntGauge,
    /// Sends that found the channel full and had to wait.
    pub backpressure_waits: IntCounter,
    /// Time senders spent waiting for room.
    pub send_wait: Histogram,
    /// Events per written batch.
    pub batch_events: Histogram,
    /// Time to write one batch.
    pub flush_seconds: Histogram,
    /// Failed batch writes (retried).
    pub write_errors: IntCounter,
    /// Intervals open in memory.
    pub open_intervals: IntGauge,
    /// Intervals closed at their heartbeat at start-up.
    pub recovered: IntCounter,
}

impl IngestMetrics {
    /// Creates the metrics and registers them on `registry` (ignoring a second registration
    /// on the same registry, so one registry may serve several ingestors in tests).
    pub fn register(registry: &Registry) -> Self {
        let m = Self {
            events: IntCounterVec::new(
                Opts::new(
                    "attendance_events_total",
                    "Attendance events applied, by kind",
                ),
                &["kind"],
            )
            .expect("metric"),
            rejected: IntCounterVec::new(
                Opts::new(
                    "attendance_events_rejected_total",
                    "Attendance events refused, by reason",
                ),
                &["reason"],
            )
            .expect("metric"),
            queue_depth: IntGauge::new(
                "attendance_ingest_queue_depth",
                "Attendance events waiting in the ingest channel",
            )
            .expect("metric"),
            backpressure_waits: IntCounter::new(
                "attendance_ingest_backpressure_waits_total",
                "Sends that waited because the ingest channel was full",
            )
            .expect("metric"),
            send_wait: Histogram::with_opts(
                HistogramOpts::new(
                    "attendance_ingest_send_wait_seconds",
                    "Time a sender waited for room in the ingest channel",
                )
                .buckets(vec![0.0001, 0.001, 0.01, 0.1, 0.5, 1.0, 5.0]),
            )
            .expect("metric"),
            batch_events: Histogram::with_opts(
                HistogramOpts::new("attendance_ingest_batch_events", "Events per written batch")
                    .buckets(vec![1.0, 10.0, 100.0, 1000.0, 5000.0, 20000.0]),
            )
            .expect("metric"),
            flush_seconds: Histogram::with_opts(
                HistogramOpts::new(
                    "attendance_ingest_flush_seconds",
                    "Time to write one attendance batch",
                )
                .buckets(vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0]),
            )
            .expect("metric"),
            write_errors: IntCounter::new(
                "attendance_ingest_write_errors_total",
                "Attendance batch writes that failed and were retried",
            )
            .expect("metric"),
            open_intervals: IntGauge::new(
                "attendance_open_intervals",
                "Live and watch intervals open in memory",
            )
            .expect("metric"),
            recovered: IntCounter::new(
                "attendance_intervals_recovered_total",
                "Intervals left open by a crash, closed at their last heartbeat at start-up",
            )
            .expect("metric"),
        };
        for c in [
            Box::new(m.events.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(m.rejected.clone()),
            Box::new(m.queue_depth.clone()),
            Box::new(m.backpressure_waits.clone()),
            Box::new(m.send_wait.clone()),
            Box::new(m.batch_events.clone()),
            Box::new(m.flush_seconds.clone()),
            Box::new(m.write_errors.clone()),
            Box::new(m.open_intervals.clone()),
            Box::new(m.recovered.clone()),
        ] {
            let _ = registry.register(c);
        }
        m
    }
}

/// Where producers send attendance events. Cheap to clone.
#[derive(Clone)]
pub struct IngestSender {
    tx: mpsc::Sender<Msg>,
    metrics: IngestMetrics,
}

enum Msg {
    Event(AttendanceEvent),
    /// Write everything received so far, then answer.
    Flush(oneshot::Sender<()>),
}

/// The ingestor has stopped (the server is shutting down).
#[derive(Debug, thiserror::Error)]
#[error("the attendance ingestor has stopped")]
pub struct IngestClosed;

impl IngestSender {
    /// Queues an event, waiting while the channel is full (never drops it).
    pub async fn send(&self, ev: AttendanceEvent) -> Result<(), IngestClosed> {
        let msg = match self.tx.try_send(Msg::Event(ev)) {
            Ok(()) => {
                self.metrics.queue_depth.inc();
                return Ok(());
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(IngestClosed),
            Err(mpsc::error::TrySendError::Full(m)) => m,
        };
        self.metrics.backpressure_waits.inc();
        let started = Instant::now();
        self.tx.send(msg).await.map_err(|_| IngestClosed)?;
        self.metrics.queue_depth.inc();
        self.metrics
            .send_wait
            .observe(started.elapsed().as_secs_f64());
        Ok(())
    }

    /// Waits until every event sent before this call is written.
    pub async fn flush(&self) -> Result<(), IngestClosed> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Msg::Flush(tx))
            .await
            .map_err(|_| IngestClosed)?;
        rx.await.map_err(|_| IngestClosed)
    }

    /// The metrics of this ingest path.
    pub fn metrics(&self) -> &IngestMetrics {
        &self.metrics
    }
}

/// A running ingestor: its sender and its writer task.
pub struct Ingestor {
    /// Where to send events.
    pub sender: IngestSender,
    /// Ends after every sender is dropped and the last batch is written.
    pub task: JoinHandle<()>,
}

/// Starts the writer task. It first closes intervals a crash left open.
pub fn start(store: Store, config: &AttendanceConfig, registry: &Registry) -> Ingestor {
    let metrics = IngestMetrics::register(registry);
    let (tx, rx) = mpsc::channel(config.channel_capacity.max(1));
    let writer = Writer {
        store,
        rx,
        metrics: metrics.clone(),
        tracker: Tracker::new(),
        sessions: HashMap::new(),
        max_batch: config.max_batch.max(1),
        flush_after: Duration::from_millis(config.flush_ms.clamp(1, 1000)),
    };
    let task = tokio::spawn(writer.run());
    Ingestor {
        sender: IngestSender { tx, metrics },
        task,
    }
}

/// Closes every interval left open (crash or stop) at its last heartbeat.
pub async fn recover(store: &Store) -> StoreResult<(u64, u64)> {
    let mut tx = store.begin().await?;
    let closed = rows::close_open_at_heartbeat(&mut tx).await?;
    tx.commit().await?;
    Ok(closed)
}

struct Writer {
    store: Store,
    rx: mpsc::Receiver<Msg>,
    metrics: IngestMetrics,
    tracker: Tracker,
    /// session id → its class (None: no such session).
    sessions: HashMap<i64, Option<i64>>,
    max_batch: usize,
    flush_after: Duration,
}

impl Writer {
    async fn run(mut self) {
        let mut delay = Duration::from_millis(100);
        loop {
            match recover(&self.store).await {
                Ok((live, watch)) => {
                    self.metrics.recovered.inc_by(live + watch);
                    if live + watch > 0 {
                        tracing::warn!(
                            live,
                            watch,
                            "closed intervals left open at their last heartbeat"
                        );
                    }
                    break;
                }
                Err(e) => {
                    tracing::error!(error = %e, "attendance recovery failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
        let mut pending: Vec<AttendanceEvent> = Vec::with_capacity(self.max_batch);
        let mut waiters: Vec<oneshot::Sender<()>> = Vec::new();
        loop {
            // Block for the first message, then collect until the batch is full or its
            // first event has waited `flush_after`.
            let Some(first) = self.rx.recv().await else {
                break;
            };
            let deadline = tokio::time::Instant::now() + self.flush_after;
            let mut closed = false;
            let mut msg = Some(first);
            loop {
                match msg.take() {
                    Some(Msg::Event(ev)) => pending.push(ev),
                    Some(Msg::Flush(w)) => {
                        waiters.push(w);
                        break;
                    }
                    None => {}
                }
                if pending.len() >= self.max_batch {
                    break;
                }
                match self.rx.try_recv() {
                    Ok(m) => msg = Some(m),
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        closed = true;
                        break;
                    }
                    Err(mpsc::error::TryRecvError::Empty) => {
                        match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                            Ok(Some(m)) => msg = Some(m),
                            Ok(None) => {
                                closed = true;
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                }
            }
            self.metrics.queue_depth.sub(pending.len() as i64);
            self.write(&mut pending).await;
            for w in waiters.drain(..) {
                let _ = w.send(());
            }
            if closed {
                break;
            }
        }
        if !pending.is_empty() {
            self.write(&mut pending).await;
        }
        tracing::info!("attendance ingestor stopped");
    }

    /// Looks up sessions not seen before, so events for unknown sessions are refused
    /// instead of failing the batch.
    async fn resolve_sessions(&mut self, events: &[AttendanceEvent]) {
        let mut missing: Vec<i64> = events
            .iter()
            .map(|e| e.session().session_id)
            .filter(|s| !self.sessions.contains_key(s))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        for id in missing {
            let mut delay = Duration::from_millis(100);
            loop {
                let found = async {
                    let mut conn = self.store.conn().await?;
                    rows::session_class(&mut conn, id).await
                }
                .await;
                match found {
                    Ok(class) => {
                        self.sessions.insert(id, class);
                        break;
                    }
                    Err(e) => {
                        tracing::error!(error = %e, session_id = id, "session lookup failed; retrying");
                        tokio::time::sleep(delay).await;
                        delay = (delay * 2).min(Duration::from_secs(5));
                    }
                }
            }
        }
    }

    async fn write(&mut self, pending: &mut Vec<AttendanceEvent>) {
        if pending.is_empty() {
            return;
        }
        self.resolve_sessions(pending).await;
        let n = pending.len();
        for ev in pending.drain(..) {
            let s = ev.session();
            match self.sessions.get(&s.session_id) {
                Some(Some(class)) if *class == s.class_id => {}
                Some(Some(_)) => {
                    self.metrics
                        .rejected
                        .with_label_values(&["class_mismatch"])
                        .inc();
                    tracing::warn!(
                        ?ev,
                        "attendance event names the wrong class for its session; refused"
                    );
                    continue;
                }
                _ => {
                    self.metrics
                        .rejected
                        .with_label_values(&["unknown_session"])
                        .inc();
                    tracing::warn!(?ev, "attendance event for an unknown session; refused");
                    continue;
                }
            }
            let applied = self.tracker.apply(&ev);
            if applied == Applied::NotOpen {
                self.metrics
                    .events
                    .with_label_values(&["stop_not_open"])
                    .inc();
            } else {
                self.metrics.events.with_label_values(&[ev.kind()]).inc();
            }
        }
        let batch = self.tracker.take_batch();
        self.metrics
            .open_intervals
            .set(self.tracker.open_count() as i64);
        self.metrics.batch_events.observe(n as f64);
        if batch.is_empty() {
            return;
        }
        let started = Instant::now();
        let mut delay = Duration::from_millis(50);
        // Retry until written: dropping a batch would lose attendance; senders meanwhile
        // wait on the full channel, which the metrics show.
        while let Err(e) = self.write_once(&batch).await {
            self.metrics.write_errors.inc();
            tracing::error!(error = %e, "attendance batch write failed; retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(5));
        }
        self.metrics
            .flush_seconds
            .observe(started.elapsed().as_secs_f64());
    }

    async fn write_once(&self, batch: &Batch) -> StoreResult<()> {
        let mut tx = self.store.begin().await?;
        rows::write_batch(&mut tx, batch).await?;
        tx.commit().await?;
        Ok(())
    }
}
