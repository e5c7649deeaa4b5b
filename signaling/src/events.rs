//! What a room reports to the application: every interaction, as teaching data for the
//! archive, and a regulator's silent entry, exit and camera requests, for the audit log.

use serde::Serialize;

use crate::Role;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    /// A participant entered the session.
    Joined,
    /// A participant came back to their place (resume or newer connection).
    Resumed,
    /// A participant left (or their resume window ran out).
    Left,
    /// A student raised their hand.
    HandRaised,
    /// A student lowered their hand.
    HandLowered,
    /// The lecturer gave a student the floor.
    SpeakingGranted,
    /// The lecturer took the floor back.
    SpeakingRevoked,
    /// A chat line.
    Chat,
    /// A question.
    Question,
    /// A question marked answered.
    QuestionAnswered,
    /// A microphone muted by the lecturer.
    Muted,
    /// A microphone allowed again.
    Unmuted,
    /// A participant removed by the lecturer.
    Removed,
    /// One-to-one text between assistant and student.
    PrivateChat,
    /// One-to-one call signaling between assistant and student.
    PrivateCall,
    /// A regulator entered silently (audit only).
    RegulatorEntered,
    /// A regulator left (audit only).
    RegulatorLeft,
    /// A regulator asked for a student's camera (audit only).
    RegulatorWatched,
}

impl EventKind {
    /// Stable name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Joined => "joined",
            EventKind::Resumed => "resumed",
            EventKind::Left => "left",
            EventKind::HandRaised => "hand_raised",
            EventKind::HandLowered => "hand_lowered",
            EventKind::SpeakingGranted => "speaking_granted",
            EventKind::SpeakingRevoked => "speaking_revoked",
            EventKind::Chat => "chat",
            EventKind::Question => "question",
            EventKind::QuestionAnswered => "question_answered",
            EventKind::Muted => "muted",
            EventKind::Unmuted => "unmuted",
            EventKind::Removed => "removed",
            EventKind::PrivateChat => "private_chat",
            EventKind::PrivateCall => "private_call",
            EventKind::RegulatorEntered => "regulator_entered",
            EventKind::RegulatorLeft => "regulator_left",
            EventKind::RegulatorWatched => "regulator_watched",
        }
    }

    /// Whether this goes to the audit log (a regulator's silent presence) rather than the
    /// class's teaching data, which the institution can read.
    pub fn is_audit(self) -> bool {
        matches!(
            self,
            EventKind::RegulatorEntered | EventKind::RegulatorLeft | EventKind::RegulatorWatched
        )
    }
}

/// One event out of a room.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RoomEvent {
    /// The class.
    pub class_id: i64,
    /// Its live session.
    pub session_id: i64,
    /// Unix ms.
    pub at: i64,
    /// Who acted.
    pub actor_id: i64,
    /// Their role.
    pub actor_role: Role,
    /// What happened.
    pub kind: EventKind,
    /// Whom it concerned, if anyone else.
    pub target_id: Option<i64>,
    /// Text and other facts.
    pub detail: serde_json::Value,
}
