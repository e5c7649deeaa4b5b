//! Live class rooms inside the application: who may enter which room, the roster a room
//! opens with, and persistence of what rooms report — interactions as teaching data
//! (`interaction_events`), a regulator's silent entry, exit and camera requests in the
//! audit log (which institutions cannot read).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use chrono::Utc;
use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts};
use signaling::actor::{RoomHandle, RoomSinks};
use signaling::events::RoomEvent;
use signaling::groups::GroupLimits;
use signaling::media::{MediaBridge, NoMedia};
use signaling::registry::Rooms;
use signaling::room::{Entrant, Member, RoomConfig, Roster};
use signaling::Role;
use sqlx::Row;
use tokio::sync::mpsc;

use crate::filing::rules::FilingLimits;
use crate::metrics::Metrics;
use crate::store::audit::{self, NewEntry};
use crate::store::users::User;
use crate::store::{interactions, Conn, Store, StoreError};

/// A lecturer may open the room this long before the session's start.
pub(crate) const EARLY_ENTRY_MS: i64 = 30 * 60 * 1000;

/// Why someone cannot enter a room (sent as an `error` message).
#[derive(Debug, thiserror::Error)]
pub enum EntryError {
    /// No such class, or not one of the caller's.
    #[error("no class {0} among yours")]
    NotFound(i64),
    /// Administrators do not take part in live classes.
    #[error("administrators do not enter class rooms")]
    Admin,
    /// The class is not live.
    #[error("class {0} is not live (status {1})")]
    NotLive(i64, String),
    /// Live, but no session is scheduled now.
    #[error("class {0} has no session running now")]
    NoSession(i64),
    /// The database failed.
    #[error("database error: {0}")]
    Store(#[from] StoreError),
}

impl EntryError {
    /// Stable code for the `error` message.
    pub fn code(&self) -> &'static str {
        match self {
            EntryError::NotFound(_) => "not_found",
            EntryError::Admin => "forbidden",
            EntryError::NotLive(..) => "class_not_live",
            EntryError::NoSession(_) => "no_session_now",
            EntryError::Store(_) => "internal",
        }
    }
}

/// Room metrics.
#[derive(Clone)]
struct RoomMetrics {
    rooms_open: IntGauge,
    connections: IntGauge,
    messages_in: IntCounterVec,
    messages_out: IntCounter,
    events_persisted: IntCounterVec,
}

impl RoomMetrics {
    fn new(metrics: &Metrics) -> Self {
        let m = Self {
            rooms_open: IntGauge::new("rooms_open", "Class rooms running on this node")
                .expect("metric"),
            connections: IntGauge::new("ws_connections", "Open WebSocket connections")
                .expect("metric"),
            messages_in: IntCounterVec::new(
                Opts::new("ws_messages_in_total", "Client messages by outcome"),
                &["outcome"],
            )
            .expect("metric"),
            messages_out: IntCounter::new("ws_messages_out_total", "Server messages sent")
                .expect("metric"),
            events_persisted: IntCounterVec::new(
                Opts::new(
                    "room_events_persisted_total",
                    "Room events written, by destination",
                ),
                &["destination"],
            )
            .expect("metric"),
        };
        let r = metrics.registry();
        // A second ClassRooms on the same registry (tests) keeps the first registration.
        let _ = r.register(Box::new(m.rooms_open.clone()));
        let _ = r.register(Box::new(m.connections.clone()));
        let _ = r.register(Box::new(m.messages_in.clone()));
        let _ = r.register(Box::new(m.messages_out.clone()));
        let _ = r.register(Box::new(m.events_persisted.clone()));
        m
    }
}

/// The application's rooms.
pub struct ClassRooms {
    store: Store,
    rooms: Arc<Rooms>,
    limits: GroupLimits,
    events: Mutex<Option<mpsc::UnboundedReceiver<RoomEvent>>>,
    writer: OnceLock<()>,
    /// Class → institution, for scoping audit entries.
    institutions: Arc<Mutex<HashMap<i64, i64>>>,
    metrics: RoomMetrics,
}

impl ClassRooms {
    /// Rooms with this configuration, without a media server.
    pub fn new(store: Store, cfg: RoomConfig, filing: &FilingLimits, metrics: &Metrics) -> Self {
        Self::with_media(store, cfg, filing, metrics, Arc::new(NoMedia))
    }

    /// Rooms whose media signals go to `media`.
    pub fn with_media(
        store: Store,
        cfg: RoomConfig,
        filing: &FilingLimits,
        metrics: &Metrics,
        media: Arc<dyn MediaBridge>,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            store,
            rooms: Rooms::new(cfg, RoomSinks { events: tx, media }),
            limits: GroupLimits {
                min: filing.assistant_min_students as usize,
                max: filing.assistant_max_students as usize,
            },
            events: Mutex::new(Some(rx)),
            writer: OnceLock::new(),
            institutions: Arc::new(Mutex::new(HashMap::new())),
            metrics: RoomMetrics::new(metrics),
        }
    }

    /// The room configuration.
    pub fn config(&self) -> &RoomConfig {
        self.rooms.config()
    }

    /// People in the room of a class now (0 when its room is not running); regulators
    /// are never counted.
    pub fn online(&self, class_id: i64) -> u32 {
        self.rooms.online(class_id).unwrap_or(0) as u32
    }

    /// Counts a connection opening (+1) or closing (-1).
    pub fn connection(&self, delta: i64) {
        self.metrics.connections.add(delta);
    }

    /// Counts a client message by outcome (`ok`, or an error code).
    pub fn message_in(&self, outcome: &str) {
        self.metrics.messages_in.with_label_values(&[outcome]).inc();
    }

    /// Counts a server message sent.
    pub fn message_out(&self) {
        self.metrics.messages_out.inc();
    }

    /// Checks that `user` belongs in the live session of `class_id` and returns its room
    /// (opened if needed) and how the user enters it.
    pub async fn admit(
        &self,
        user: &User,
        class_id: i64,
    ) -> Result<(RoomHandle, Entrant), EntryError> {
        self.start_writer();
        if user.role == Role::Admin {
            return Err(EntryError::Admin);
        }
        let mut conn = self.store.conn().await?;
        let class = crate::http::scope::class_for(&mut conn, user, class_id)
            .await
            .map_err(|_| EntryError::NotFound(class_id))?;
        if class.status != crate::filing::status::ClassStatus::Live {
            return Err(EntryError::NotLive(class_id, class.status.to_string()));
        }
        let now = Utc::now().timestamp_millis();
        let session = class
            .sessions
            .iter()
            .find(|s| {
                s.starts_at.timestamp_millis() - EARLY_ENTRY_MS <= now
                    && now < s.ends_at.timestamp_millis()
            })
            .ok_or(EntryError::NoSession(class_id))?
            .id;
        let who = Entrant {
            user_id: user.id,
            role: user.role,
            name: user.display_name.clone(),
        };
        self.institutions
            .lock()
            .expect("lock")
            .insert(class_id, class.institution_id);
        if let Some(h) = self.rooms.get(class_id) {
            return Ok((h, who));
        }
        let roster = Roster {
            class_id,
            session_id: session,
            lecturer_id: class.lecturer_id,
            assistants: members(&mut conn, &class.assistant_ids).await?,
            students: enrolled(&mut conn, class_id).await?,
            limits: self.limits,
        };
        let handle = self.rooms.open(roster, now);
        self.metrics.rooms_open.set(self.rooms.len() as i64);
        Ok((handle, who))
    }

    /// Tells the live room of `class_id` about a student's face check: their current
    /// assistant, the lecturer and silent regulators receive a `face_check` message, and
    /// the assistant's group list shows it from then on. False when no room is running
    /// for the class (nobody to tell; the outcome is persisted by the attendance code).
    pub fn report_face_check(
        &self,
        class_id: i64,
        student_id: i64,
        outcome: &str,
        suspect_static: bool,
        at_ms: i64,
    ) -> bool {
        self.rooms
            .get(class_id)
            .is_some_and(|room| room.face_check(student_id, outcome, suspect_static, at_ms))
    }

    fn start_writer(&self) {
        self.writer.get_or_init(|| {
            let rx = self
                .events
                .lock()
                .expect("lock")
                .take()
                .expect("writer starts once");
            tokio::spawn(write_events(
                self.store.clone(),
                rx,
                self.institutions.clone(),
                self.metrics.clone(),
            ));
        });
    }
}

async fn members(conn: &mut Conn, ids: &[i64]) -> Result<Vec<Member>, StoreError> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(u) = crate::store::users::get(conn, *id).await? {
            out.push(Member {
                user_id: u.id,
                name: u.display_name,
            });
        }
    }
    Ok(out)
}

async fn enrolled(conn: &mut Conn, class_id: i64) -> Result<Vec<Member>, StoreError> {
    let rows = sqlx::query(
        "SELECT u.id, u.display_name FROM enrollments e JOIN users u ON u.id = e.student_id \
         WHERE e.class_id = $1 ORDER BY e.enrolled_at, u.id",
    )
    .bind(class_id)
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Member {
                user_id: r.try_get("id")?,
                name: r.try_get("display_name")?,
            })
        })
        .collect()
}

/// Writes room events in batches: whatever has queued up goes in one transaction.
async fn write_events(
    store: Store,
    mut rx: mpsc::UnboundedReceiver<RoomEvent>,
    institutions: Arc<Mutex<HashMap<i64, i64>>>,
    metrics: RoomMetrics,
) {
    let mut batch = Vec::new();
    while rx.recv_many(&mut batch, 512).await > 0 {
        let (audited, teaching): (Vec<RoomEvent>, Vec<RoomEvent>) =
            batch.drain(..).partition(|e| e.kind.is_audit());
        let result: Result<(), StoreError> = async {
            let mut tx = store.begin().await?;
            interactions::insert(&mut tx, &teaching).await?;
            for e in &audited {
                let institution_id = institutions.lock().expect("lock").get(&e.class_id).copied();
                audit::record(
                    &mut tx,
                    &NewEntry {
                        actor_id: Some(e.actor_id),
                        actor_role: Some(e.actor_role.as_str()),
                        action: &format!("room.{}", e.kind.as_str()),
                        target_kind: "class",
                        target_id: Some(e.class_id.to_string()),
                        institution_id,
                        detail: serde_json::json!({
                            "session_id": e.session_id,
                            "at": e.at,
                            "student_id": e.target_id,
                            "detail": e.detail,
                        }),
                    },
                )
                .await?;
            }
            tx.commit().await?;
            Ok(())
        }
        .await;
        match result {
            Ok(()) => {
                metrics
                    .events_persisted
                    .with_label_values(&["teaching_data"])
                    .inc_by(teaching.len() as u64);
                metrics
                    .events_persisted
                    .with_label_values(&["audit_log"])
                    .inc_by(audited.len() as u64);
            }
            Err(e) => {
                tracing::error!(error = %e, events = teaching.len() + audited.len(), "room events not persisted")
            }
        }
    }
}
