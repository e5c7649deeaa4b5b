//! WebSocket protocol: JSON messages tagged by `type`, one WebSocket per participant. A
//! client opens with `hello` (protocol version) and `join` (class id); everything after
//! happens inside that class's room. `docs/protocol.md` has an example exchange per role.
//!
//! Media negotiation (SDP offer/answer, ICE) runs over the same socket as opaque strings;
//! the room checks who may publish and hands them to the [`crate::media::MediaBridge`]
//! that the media crate implements.

use serde::{Deserialize, Serialize};

use crate::permissions::TrackKind;
use crate::Role;

/// Version of the message set below; a client sending another version is refused.
pub const PROTOCOL_VERSION: u32 = 1;

/// Most characters in a chat line, question or private message.
pub const MAX_TEXT_CHARS: usize = 500;

/// Whether a media offer sends media to the server or asks to receive it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MediaDirection {
    /// The client publishes tracks (refused for regulators).
    Publish,
    /// The client receives tracks.
    Subscribe,
}

/// A step of a private call between an assistant and a student.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallAction {
    /// Ring the other side.
    Invite,
    /// Pick up.
    Accept,
    /// Refuse.
    Decline,
    /// Hang up.
    End,
}

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
    /// Enter the live session of a class; with a resume token, return to one's place.
    Join {
        /// The class.
        class_id: i64,
        /// Token from an earlier `joined`, to resume within the window.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        resume_token: Option<String>,
    },
    /// Leave the room for good (no resume).
    Leave,
    /// Announce a published track.
    Publish {
        /// Which track.
        track: TrackKind,
    },
    /// Withdraw a track.
    Unpublish {
        /// Which track.
        track: TrackKind,
    },
    /// Ask to receive a student's camera (lecturer, own assistant, regulator).
    Watch {
        /// The student.
        user_id: i64,
    },
    /// Stop watching a student's camera.
    Unwatch {
        /// The student.
        user_id: i64,
    },
    /// Student: join the hand-raise queue.
    RaiseHand,
    /// Student: leave the hand-raise queue.
    LowerHand,
    /// Lecturer: give a student the floor (their camera and microphone go to the room).
    GrantSpeaking {
        /// The student.
        user_id: i64,
    },
    /// Lecturer: take the floor back.
    RevokeSpeaking {
        /// The student.
        user_id: i64,
    },
    /// A chat line to the whole room.
    Chat {
        /// 1–500 characters.
        text: String,
    },
    /// Student: a question for the lecturer.
    Ask {
        /// 1–500 characters.
        text: String,
    },
    /// Lecturer or assistant: mark a question answered.
    MarkAnswered {
        /// The question's id.
        question_id: u64,
    },
    /// Lecturer: mute a participant's microphone.
    Mute {
        /// Whom.
        user_id: i64,
    },
    /// Lecturer: allow the microphone again.
    Unmute {
        /// Whom.
        user_id: i64,
    },
    /// Lecturer: remove a participant from this session.
    Remove {
        /// Whom.
        user_id: i64,
    },
    /// One-to-one text between an assistant and a student of their group.
    PrivateChat {
        /// The other side.
        to: i64,
        /// 1–500 characters.
        text: String,
    },
    /// One-to-one call signaling between an assistant and a student of their group.
    PrivateCall {
        /// The other side.
        to: i64,
        /// Invite, accept, decline or end.
        action: CallAction,
    },
    /// SDP offer for the media server (opaque to signaling). Each offer opens its own
    /// media session; the answer names it.
    MediaOffer {
        /// Publish or subscribe.
        direction: MediaDirection,
        /// The SDP, with all ICE candidates (the media server does not trickle).
        sdp: String,
        /// Subscribe only: whose camera to receive (a student's, or one's call peer's);
        /// omitted, the lecture.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_id: Option<i64>,
    },
    /// SDP answer to a server-initiated offer (renegotiation).
    MediaAnswer {
        /// The SDP.
        sdp: String,
    },
    /// A trickled ICE candidate.
    IceCandidate {
        /// `candidate:` line, opaque.
        candidate: String,
        /// Media section id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sdp_mid: Option<String>,
        /// Media section index.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sdp_mline_index: Option<u16>,
    },
}

impl ClientMessage {
    /// Every `type` tag a client may send (to tell "unknown type" from "bad fields").
    pub const TYPES: [&'static str; 23] = [
        "hello",
        "ping",
        "join",
        "leave",
        "publish",
        "unpublish",
        "watch",
        "unwatch",
        "raise_hand",
        "lower_hand",
        "grant_speaking",
        "revoke_speaking",
        "chat",
        "ask",
        "mark_answered",
        "mute",
        "unmute",
        "remove",
        "private_chat",
        "private_call",
        "media_offer",
        "media_answer",
        "ice_candidate",
    ];
}

/// A participant as others see them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParticipantInfo {
    /// Account id.
    pub user_id: i64,
    /// Display name.
    pub name: String,
    /// Role (never `regulator`: regulators are not listed).
    pub role: Role,
}

/// A student as their assistant sees them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMember {
    /// Account id.
    pub user_id: i64,
    /// Display name.
    pub name: String,
    /// Connected now.
    pub online: bool,
    /// In the assistant's own group (false: covered while their assistant is away).
    pub home: bool,
    /// The student's last face check in this session, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub face_check: Option<FaceCheckState>,
}

/// The outcome of a student's last face check, as their assistant sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaceCheckState {
    /// `match`, `mismatch`, `no_face`, `multiple_faces`, `camera_off` or `absent`.
    pub outcome: String,
    /// When the sample was taken, unix ms.
    pub at_ms: i64,
    /// The camera looked like a still picture (the static guard's suspicion).
    pub suspect_static: bool,
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
    /// You are in the room. A `participants` message follows.
    Joined {
        /// The class.
        class_id: i64,
        /// Its live session.
        session_id: i64,
        /// Your role in the room.
        role: Role,
        /// Whether you returned to your earlier place (resume or a newer connection).
        resumed: bool,
        /// Present it in `join` to come back after a drop.
        resume_token: String,
        /// How long after a drop the token works.
        resume_window_ms: u64,
        /// Students: your assistant now.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        assistant_id: Option<i64>,
        /// The hand-raise queue.
        hands: Vec<i64>,
        /// Students holding the floor.
        speaking: Vec<i64>,
    },
    /// The full participant list (sent after `joined`); `presence` messages update it.
    Participants {
        /// Everyone listed (regulators never are).
        participants: Vec<ParticipantInfo>,
        /// How many are online.
        online: usize,
    },
    /// Batched changes to the participant list.
    Presence {
        /// New participants.
        joined: Vec<ParticipantInfo>,
        /// Participants gone.
        left: Vec<i64>,
        /// How many are online now.
        online: usize,
    },
    /// Assistants: your group's students and their online state.
    Group {
        /// The students.
        students: Vec<GroupMember>,
    },
    /// Students: your assistant changed (none while no assistant is online).
    Assistant {
        /// The assistant.
        assistant_id: Option<i64>,
    },
    /// A track you may receive was published or withdrawn.
    Track {
        /// Publisher.
        user_id: i64,
        /// Which track.
        track: TrackKind,
        /// Published now.
        published: bool,
    },
    /// The hand-raise queue, first come first.
    Hands {
        /// Student ids in order.
        queue: Vec<i64>,
    },
    /// A student was given or lost the floor.
    Speaking {
        /// The student.
        user_id: i64,
        /// Holds the floor now.
        granted: bool,
    },
    /// A chat line.
    Chat {
        /// Sequence number within the session.
        id: u64,
        /// Sender.
        from: i64,
        /// Sender's name.
        name: String,
        /// Sender's role.
        role: Role,
        /// The text.
        text: String,
        /// Unix ms.
        at: i64,
    },
    /// A question.
    Question {
        /// Id to mark it answered.
        id: u64,
        /// Asker.
        from: i64,
        /// Asker's name.
        name: String,
        /// The text.
        text: String,
        /// Unix ms.
        at: i64,
    },
    /// A question was answered.
    QuestionAnswered {
        /// The question.
        id: u64,
        /// Who marked it.
        by: i64,
    },
    /// A participant's microphone was muted or allowed again.
    Muted {
        /// The participant.
        user_id: i64,
        /// Muted now.
        muted: bool,
    },
    /// The lecturer removed a participant.
    Removed {
        /// The participant.
        user_id: i64,
    },
    /// One-to-one text (only the two sides receive it).
    PrivateChat {
        /// Sender.
        from: i64,
        /// Recipient.
        to: i64,
        /// The text.
        text: String,
        /// Unix ms.
        at: i64,
    },
    /// One-to-one call signaling (only the two sides receive it).
    PrivateCall {
        /// Sender.
        from: i64,
        /// Recipient.
        to: i64,
        /// What happened.
        action: CallAction,
    },
    /// SDP offer from the media server (renegotiation).
    MediaOffer {
        /// The SDP.
        sdp: String,
    },
    /// SDP answer from the media server.
    MediaAnswer {
        /// The SDP.
        sdp: String,
        /// The media session the offer opened.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        session: Option<u64>,
        /// The offer's direction.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        direction: Option<MediaDirection>,
        /// Subscribe: whose camera (omitted: the lecture).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user_id: Option<i64>,
    },
    /// The media server closed one of your media sessions (you may no longer receive that
    /// camera, or you published again).
    MediaClosed {
        /// The session.
        session: u64,
        /// Why.
        reason: String,
    },
    /// A student's face check (their assistant, the lecturer and regulators only).
    FaceCheck {
        /// The student.
        student_id: i64,
        /// `match`, `mismatch`, `no_face`, `multiple_faces`, `camera_off` or `absent`.
        outcome: String,
        /// When the sample was taken, unix ms.
        at_ms: i64,
        /// The camera looked like a still picture.
        suspect_static: bool,
    },
    /// ICE candidate from the media server.
    IceCandidate {
        /// `candidate:` line.
        candidate: String,
        /// Media section id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sdp_mid: Option<String>,
        /// Media section index.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sdp_mline_index: Option<u16>,
    },
}

impl ServerMessage {
    /// A refusal that keeps the connection open.
    pub fn error(code: &str, message: impl Into<String>) -> Self {
        ServerMessage::Error {
            code: code.into(),
            message: message.into(),
            fatal: false,
        }
    }

    /// A refusal after which the server closes the connection.
    pub fn fatal(code: &str, message: impl Into<String>) -> Self {
        ServerMessage::Error {
            code: code.into(),
            message: message.into(),
            fatal: true,
        }
    }

    /// The JSON text sent on the wire.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server messages serialise")
    }
}

/// Why a client message could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON at all.
    #[error("not valid JSON: {0}")]
    Malformed(String),
    /// JSON, but the `type` is missing or not one of ours.
    #[error("unknown message type {0:?}")]
    UnknownType(String),
    /// A known type with missing, extra or mistyped fields.
    #[error("bad {kind} message: {detail}")]
    BadFields {
        /// The `type`.
        kind: String,
        /// What serde said.
        detail: String,
    },
}

impl DecodeError {
    /// Stable code for the `error` message.
    pub fn code(&self) -> &'static str {
        match self {
            DecodeError::Malformed(_) => "malformed_json",
            DecodeError::UnknownType(_) => "unknown_type",
            DecodeError::BadFields { .. } => "bad_message",
        }
    }
}

/// Reads one client message, telling malformed JSON, unknown types and bad fields apart.
pub fn decode(text: &str) -> Result<ClientMessage, DecodeError> {
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    let kind = value
        .get("type")
        .and_then(|t| t.as_str())
        .unwrap_or_default()
        .to_string();
    if !ClientMessage::TYPES.contains(&kind.as_str()) {
        return Err(DecodeError::UnknownType(kind));
    }
    serde_json::from_value(value).map_err(|e| DecodeError::BadFields {
        kind,
        detail: e.to_string(),
    })
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

    #[test]
    fn decode_tells_errors_apart() {
        assert_eq!(decode("{nope").unwrap_err().code(), "malformed_json");
        assert_eq!(
            decode(r#"{"type":"shout"}"#).unwrap_err().code(),
            "unknown_type"
        );
        assert_eq!(
            decode(r#"{"text":"hi"}"#).unwrap_err().code(),
            "unknown_type"
        );
        assert_eq!(
            decode(r#"{"type":"chat"}"#).unwrap_err().code(),
            "bad_message"
        );
        assert_eq!(
            decode(r#"{"type":"chat","text":"你好"}"#).unwrap(),
            ClientMessage::Chat {
                text: "你好".into()
            }
        );
        assert_eq!(
            decode(r#"{"type":"join","class_id":3}"#).unwrap(),
            ClientMessage::Join {
                class_id: 3,
                resume_token: None
            }
        );
    }

    #[test]
    fn every_client_type_is_listed() {
        // Each listed tag names a variant: it decodes, or fails on its fields.
        for t in ClientMessage::TYPES {
            if let Err(e) = decode(&format!(r#"{{"type":"{t}"}}"#)) {
                assert_eq!(e.code(), "bad_message", "{t}");
            }
        }
        let media = ClientMessage::MediaOffer {
            direction: MediaDirection::Publish,
            sdp: "v=0".into(),
            user_id: None,
        };
        let json = serde_json::to_string(&media).unwrap();
        assert_eq!(
            json,
            r#"{"type":"media_offer","direction":"publish","sdp":"v=0"}"#
        );
    }
}
