//! The WebSocket entry (`/ws`): authenticated by the login token; speaks the versioned
//! protocol of the signaling crate. Rooms are joined over it (signaling issue).

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use signaling::protocol::{ClientMessage, ServerMessage, PROTOCOL_VERSION};

use super::extract::CurrentUser;
use crate::store::users::User;

/// Upgrades an authenticated request to a WebSocket.
pub async fn upgrade(me: CurrentUser, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(64 * 1024)
        .on_upgrade(move |socket| session(socket, me.user))
}

async fn send(socket: &mut WebSocket, msg: &ServerMessage) -> bool {
    let text = serde_json::to_string(msg).expect("server messages serialise");
    socket.send(Message::Text(text.into())).await.is_ok()
}

async fn session(mut socket: WebSocket, user: User) {
    while let Some(Ok(msg)) = socket.recv().await {
        let Message::Text(text) = msg else {
            if matches!(msg, Message::Close(_)) {
                break;
            }
            continue;
        };
        let reply = match serde_json::from_str::<ClientMessage>(&text) {
            Ok(ClientMessage::Hello { version }) if version == PROTOCOL_VERSION => {
                ServerMessage::Welcome {
                    version: PROTOCOL_VERSION,
                    user_id: user.id,
                    role: user.role,
                }
            }
            Ok(ClientMessage::Hello { version }) => {
                let _ = send(
                    &mut socket,
                    &ServerMessage::Error {
                        code: "unsupported_version".into(),
                        message: format!("server speaks version {PROTOCOL_VERSION}, not {version}"),
                        fatal: true,
                    },
                )
                .await;
                break;
            }
            Ok(ClientMessage::Ping { id }) => ServerMessage::Pong { id },
            Err(e) => ServerMessage::Error {
                code: "bad_message".into(),
                message: e.to_string(),
                fatal: false,
            },
        };
        if !send(&mut socket, &reply).await {
            break;
        }
    }
}
