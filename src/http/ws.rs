//! The WebSocket entry (`/ws`): authenticated by the login token (bearer header or session
//! cookie), speaking the versioned protocol of the signaling crate. One task per
//! connection reads client frames, checks size and shape, and passes messages to the
//! class's room; it also writes what the room queues in the connection's outbox.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::State;
use axum::response::Response;
use rand::RngCore;
use signaling::actor::{Outgoing, RoomHandle};
use signaling::protocol::{decode, ClientMessage, ServerMessage, PROTOCOL_VERSION};
use tokio::sync::mpsc;

use super::extract::CurrentUser;
use super::AppState;
use crate::store::users::User;

/// Largest text message answered normally; bigger ones get a `too_large` error.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;
/// Largest frame the transport accepts; bigger ones close the connection (1009).
pub const MAX_FRAME_BYTES: usize = 256 * 1024;
/// Unreadable or refused-at-the-door messages in a row before the connection is closed.
const MAX_BAD_IN_A_ROW: u32 = 20;

static NEXT_CONN: AtomicU64 = AtomicU64::new(1);

/// Upgrades an authenticated request to a WebSocket.
pub async fn upgrade(
    State(st): State<AppState>,
    me: CurrentUser,
    ws: WebSocketUpgrade,
) -> Response {
    ws.max_message_size(MAX_FRAME_BYTES)
        .max_frame_size(MAX_FRAME_BYTES)
        .on_upgrade(move |socket| session(socket, me.user, st))
}

async fn send(socket: &mut WebSocket, st: &AppState, msg: &ServerMessage) -> bool {
    st.rooms.message_out();
    socket
        .send(Message::Text(msg.to_json().into()))
        .await
        .is_ok()
}

async fn close(socket: &mut WebSocket, code: u16, reason: &str) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.to_string().into(),
        })))
        .await;
}

fn token() -> String {
    let mut b = [0u8; 24];
    rand::thread_rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// What the reader decided about one frame.
enum Step {
    Continue,
    Reply(ServerMessage),
    Stop { code: u16, reason: String },
}

struct Conn {
    id: u64,
    user: User,
    outbox: mpsc::Sender<Outgoing>,
    room: Option<RoomHandle>,
    bad: u32,
}

async fn session(mut socket: WebSocket, user: User, st: AppState) {
    let (outbox, mut queued) = mpsc::channel(st.rooms.config().outbox_capacity.max(16));
    let mut c = Conn {
        id: NEXT_CONN.fetch_add(1, Ordering::Relaxed),
        user,
        outbox,
        room: None,
        bad: 0,
    };
    st.rooms.connection(1);
    tracing::debug!(conn = c.id, user = c.user.id, "websocket open");
    loop {
        tokio::select! {
            out = queued.recv() => match out {
                Some(Outgoing::Text(text)) => {
                    st.rooms.message_out();
                    if socket.send(Message::Text(text.as_ref().into())).await.is_err() {
                        break;
                    }
                }
                Some(Outgoing::Close { code, reason }) => {
                    close(&mut socket, code, &reason).await;
                    break;
                }
                None => break,
            },
            frame = socket.recv() => {
                let step = match frame {
                    None | Some(Ok(Message::Close(_))) => break,
                    Some(Err(e)) => {
                        // Oversized frames end here (the transport refuses them).
                        tracing::debug!(conn = c.id, error = %e, "websocket read failed");
                        close(&mut socket, 1009, "message too big or malformed frame").await;
                        break;
                    }
                    Some(Ok(Message::Text(text))) => on_text(&st, &mut c, text.as_str()).await,
                    Some(Ok(Message::Binary(_))) => refuse(&st, &mut c, "bad_message", "send JSON text frames, not binary"),
                    Some(Ok(_)) => Step::Continue,
                };
                match step {
                    Step::Continue => {}
                    Step::Reply(msg) => {
                        if !send(&mut socket, &st, &msg).await {
                            break;
                        }
                    }
                    Step::Stop { code, reason } => {
                        close(&mut socket, code, &reason).await;
                        break;
                    }
                }
            }
        }
    }
    if let Some(room) = &c.room {
        room.disconnected(c.id);
    }
    st.rooms.connection(-1);
    tracing::debug!(conn = c.id, "websocket closed");
}

fn refuse(st: &AppState, c: &mut Conn, code: &str, message: &str) -> Step {
    st.rooms.message_in(code);
    c.bad += 1;
    if c.bad >= MAX_BAD_IN_A_ROW {
        return Step::Stop {
            code: 1008,
            reason: format!("{MAX_BAD_IN_A_ROW} bad messages in a row"),
        };
    }
    Step::Reply(ServerMessage::error(code, message))
}

async fn on_text(st: &AppState, c: &mut Conn, text: &str) -> Step {
    if text.len() > MAX_MESSAGE_BYTES {
        return refuse(
            st,
            c,
            "too_large",
            &format!(
                "messages are at most {MAX_MESSAGE_BYTES} bytes, this one is {}",
                text.len()
            ),
        );
    }
    let msg = match decode(text) {
        Ok(m) => m,
        Err(e) => return refuse(st, c, e.code(), &e.to_string()),
    };
    c.bad = 0;
    st.rooms.message_in("ok");
    match msg {
        ClientMessage::Hello { version } if version == PROTOCOL_VERSION => {
            Step::Reply(ServerMessage::Welcome {
                version: PROTOCOL_VERSION,
                user_id: c.user.id,
                role: c.user.role,
            })
        }
        ClientMessage::Hello { version } => Step::Stop {
            code: 1002,
            reason: format!("server speaks protocol version {PROTOCOL_VERSION}, not {version}"),
        },
        ClientMessage::Ping { id } => Step::Reply(ServerMessage::Pong { id }),
        ClientMessage::Join {
            class_id,
            resume_token,
        } => join(st, c, class_id, resume_token).await,
        other => match &c.room {
            Some(room) => {
                room.message(c.id, other);
                Step::Continue
            }
            None => Step::Reply(ServerMessage::error("not_joined", "send `join` first")),
        },
    }
}

async fn join(st: &AppState, c: &mut Conn, class_id: i64, resume_token: Option<String>) -> Step {
    if let Some(room) = &c.room {
        if room.class_id() != class_id {
            return Step::Reply(ServerMessage::error(
                "already_joined",
                "one connection serves one room; open another connection",
            ));
        }
    }
    // A room that closed while idle between admission and joining is opened again.
    for _ in 0..3 {
        let (room, who) = match st.rooms.admit(&c.user, class_id).await {
            Ok(x) => x,
            Err(e) => {
                if matches!(e, crate::classroom::EntryError::Store(_)) {
                    tracing::error!(error = %e, "room admission failed");
                }
                return Step::Reply(ServerMessage::error(e.code(), e.to_string()));
            }
        };
        let joined = room
            .join(c.id, c.outbox.clone(), who, resume_token.clone(), token())
            .await;
        if joined.is_ok() {
            c.room = Some(room);
            return Step::Continue;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Step::Reply(ServerMessage::error(
        "room_unavailable",
        "the room could not be opened; try again",
    ))
}
