//! WebSocket protocol: JSON messages tagged by `type`, carrying a protocol version. The
//! signaling issue grows this into the full room protocol; the envelope is fixed here.

use serde::{Deserialize, Serialize};

use crate::Role;

/// Version of the message set below; a client sending another major version is refused.
pub const PROTOCOL_VERSION: u32 = 1;

/// Messages a client sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum ClientMessage {
    /// First message: which protocol version the client speaks.
    Hello {
        /// Must equal [`PROTOCOL_VERSION`].
        version: u32,
    },
    /// Keep-alive.
    Ping {
        /// Echoed back.
        id: u64,
    },
}

/// Messages the server sends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    /// Answer to `hello`: who the server thinks you are.
    Welcome {
        /// Server protocol version.
        version: u32,
        /// Account id.
        user_id: i64,
        /// Account role.
        role: Role,
    },
    /// Answer to `ping`.
    Pong {
        /// The ping's id.
        id: u64,
    },
    /// The last message was refused; the connection stays open unless `fatal`.
    Error {
        /// Stable machine code.
        code: String,
        /// Human explanation.
        message: String,
        /// Whether the server closes the connection after this.
        fatal: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_type_tagged() {
        let m: ClientMessage = serde_json::from_str(r#"{"type":"hello","version":1}"#).unwrap();
        assert_eq!(m, ClientMessage::Hello { version: 1 });
        assert!(serde_json::from_str::<ClientMessage>(r#"{"type":"hello"}"#).is_err());
        assert!(
            serde_json::from_str::<ClientMessage>(r#"{"type":"hello","version":1,"x":2}"#).is_err()
        );
        let s = serde_json::to_string(&ServerMessage::Pong { id: 7 }).unwrap();
        assert_eq!(s, r#"{"type":"pong","id":7}"#);
    }
}
