//! The room's async shell: one tokio task per live session. Commands come in on a channel;
//! the pure [`Room`] decides; the shell serialises nothing itself and only moves texts to
//! each connection's bounded outbox, events to the application, and media signals to the
//! [`MediaBridge`]. A connection whose outbox is full is too slow for the room: it is
//! dropped rather than allowed to stall everyone else.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::events::RoomEvent;
use crate::media::{MediaBridge, MediaReply};
use crate::protocol::ClientMessage;
use crate::room::{ConnId, Entrant, Input, Output, Room};

/// What a connection's writer receives.
#[derive(Clone, Debug)]
pub enum Outgoing {
    /// A JSON text frame (shared between recipients).
    Text(Arc<str>),
    /// Send a close frame and stop.
    Close {
        /// WebSocket close code.
        code: u16,
        /// Why.
        reason: String,
    },
}

/// The sending half of a connection's outbox.
pub type Outbox = mpsc::Sender<Outgoing>;

enum Command {
    Join {
        conn: ConnId,
        outbox: Outbox,
        input: Input,
        ack: oneshot::Sender<()>,
    },
    Input(Input),
}

/// Talks to a running room.
#[derive(Clone, Debug)]
pub struct RoomHandle {
    tx: mpsc::UnboundedSender<Command>,
    class_id: i64,
    session_id: i64,
    /// Listed participants, as of the room's last step (read without a round trip).
    online: Arc<AtomicUsize>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

/// The room is gone (it closed while idle); open it again.
#[derive(Debug, thiserror::Error)]
#[error("the room has closed")]
pub struct RoomClosed;

impl RoomHandle {
    /// The class.
    pub fn class_id(&self) -> i64 {
        self.class_id
    }

    /// The live session.
    pub fn session_id(&self) -> i64 {
        self.session_id
    }

    /// Listed participants (regulators are never counted), as of the room's last step.
    pub fn online(&self) -> usize {
        self.online.load(Ordering::Relaxed)
    }

    /// Whether the room task has ended.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Whether two handles talk to the same room task.
    pub fn same_room(&self, other: &RoomHandle) -> bool {
        self.tx.same_channel(&other.tx)
    }

    /// Asks to enter; resolves once the room has handled it (its answer is in `outbox`).
    pub async fn join(
        &self,
        conn: ConnId,
        outbox: Outbox,
        who: Entrant,
        resume_token: Option<String>,
        new_token: String,
    ) -> Result<(), RoomClosed> {
        let (ack, done) = oneshot::channel();
        let input = Input::Join {
            conn,
            who,
            resume_token,
            new_token,
        };
        self.tx
            .send(Command::Join {
                conn,
                outbox,
                input,
                ack,
            })
            .map_err(|_| RoomClosed)?;
        done.await.map_err(|_| RoomClosed)
    }

    /// Passes a client message on.
    pub fn message(&self, conn: ConnId, msg: ClientMessage) {
        let _ = self.tx.send(Command::Input(Input::Message { conn, msg }));
    }

    /// The connection has ended.
    pub fn disconnected(&self, conn: ConnId) {
        let _ = self.tx.send(Command::Input(Input::Disconnected { conn }));
    }

    /// Reports a student's face check; false when the room has closed.
    pub fn face_check(
        &self,
        student_id: i64,
        outcome: &str,
        suspect_static: bool,
        at_ms: i64,
    ) -> bool {
        self.tx
            .send(Command::Input(Input::FaceCheck {
                student_id,
                outcome: outcome.to_string(),
                suspect_static,
                at_ms,
            }))
            .is_ok()
    }
}

/// Where a room's outputs go besides connections.
#[derive(Clone)]
pub struct RoomSinks {
    /// Interaction and audit events, for the application to persist.
    pub events: mpsc::UnboundedSender<RoomEvent>,
    /// The media side.
    pub media: Arc<dyn MediaBridge>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Starts a room task; `on_idle` runs when it closes for lack of participants.
pub fn spawn(room: Room, sinks: RoomSinks, on_idle: impl FnOnce() + Send + 'static) -> RoomHandle {
    let (tx, rx) = mpsc::unbounded_channel();
    let handle = RoomHandle {
        tx: tx.clone(),
        class_id: room.class_id(),
        session_id: room.session_id(),
        online: Arc::new(AtomicUsize::new(0)),
    };
    let weak = tx.downgrade();
    drop(tx);
    let online = handle.online.clone();
    tokio::spawn(run(room, rx, weak, sinks, online, on_idle));
    handle
}

async fn run(
    mut room: Room,
    mut rx: mpsc::UnboundedReceiver<Command>,
    me: mpsc::WeakUnboundedSender<Command>,
    sinks: RoomSinks,
    online: Arc<AtomicUsize>,
    on_idle: impl FnOnce() + Send + 'static,
) {
    let class_id = room.class_id();
    tracing::info!(class_id, "room opened");
    let mut outboxes: HashMap<ConnId, Outbox> = HashMap::new();
    let idle_check = Duration::from_millis(room.config().idle_close_ms.clamp(1000, 60_000));
    loop {
        let wait = room
            .next_deadline()
            .map(|t| Duration::from_millis((t - now_ms()).max(0) as u64))
            .unwrap_or(idle_check);
        let cmd = tokio::select! {
            c = rx.recv() => match c {
                Some(c) => Some(c),
                None => break,
            },
            _ = tokio::time::sleep(wait) => None,
        };
        let now = now_ms();
        let mut out = match cmd {
            Some(Command::Join {
                conn,
                outbox,
                input,
                ack,
            }) => {
                outboxes.insert(conn, outbox);
                let out = room.handle(now, input);
                let _ = ack.send(());
                out
            }
            Some(Command::Input(input)) => {
                if let Input::Disconnected { conn } = &input {
                    outboxes.remove(conn);
                }
                room.handle(now, input)
            }
            None => room.tick(now),
        };
        // Outputs may drop slow connections, whose disconnection produces more outputs.
        while !out.is_empty() {
            let mut slow = Vec::new();
            for o in out.drain(..) {
                deliver(o, &mut outboxes, &mut slow, &me, &sinks);
            }
            for conn in slow {
                tracing::warn!(class_id, conn, "connection too slow for the room; dropped");
                out.extend(room.handle(now, Input::Disconnected { conn }));
            }
        }
        online.store(room.online(), Ordering::Relaxed);
        if room.is_idle(now) {
            break;
        }
    }
    tracing::info!(class_id, "room closed");
    on_idle();
}

fn deliver(
    o: Output,
    outboxes: &mut HashMap<ConnId, Outbox>,
    slow: &mut Vec<ConnId>,
    me: &mpsc::WeakUnboundedSender<Command>,
    sinks: &RoomSinks,
) {
    match o {
        Output::Send { to, text } => {
            for conn in to {
                if let Some(ob) = outboxes.get(&conn) {
                    match ob.try_send(Outgoing::Text(text.clone())) {
                        Ok(()) => {}
                        Err(mpsc::error::TrySendError::Full(_)) => {
                            outboxes.remove(&conn);
                            slow.push(conn);
                        }
                        // The writer is gone; its reader reports the disconnection.
                        Err(mpsc::error::TrySendError::Closed(_)) => {}
                    }
                }
            }
        }
        Output::Close { conn, code, reason } => {
            if let Some(ob) = outboxes.remove(&conn) {
                let _ = ob.try_send(Outgoing::Close { code, reason });
            }
        }
        Output::Event(e) => {
            let _ = sinks.events.send(e);
        }
        Output::Media { peer, signal } => {
            let reply = reply_to(me, peer.user_id);
            sinks.media.signal(peer, signal, reply);
        }
        Output::MediaLeft(peer) => sinks.media.left(peer),
        Output::MediaRevoke { viewer, publisher } => {
            let reply = reply_to(me, viewer.user_id);
            sinks.media.revoke(viewer, publisher, reply);
        }
    }
}

/// A reply handle that brings the media side's answer back into the room, which sends it
/// to the participant's current connection.
fn reply_to(me: &mpsc::WeakUnboundedSender<Command>, user_id: i64) -> MediaReply {
    let me = me.clone();
    MediaReply::new(move |msg| {
        if let Some(tx) = me.upgrade() {
            let _ = tx.send(Command::Input(Input::MediaReply { user_id, msg }));
        }
    })
}
