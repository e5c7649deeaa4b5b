//! The typed attendance events. The media, signaling and face crates report what they see
//! (the lecturer's video arriving, packets flowing to a student, a face sample's outcome);
//! the server maps those onto these events and sends them to the ingestor. Times are the
//! server's clock in unix milliseconds: never a client's claim.

use serde::{Deserialize, Serialize};

/// One live session of a class (a room).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ClassSession {
    /// The class.
    pub class_id: i64,
    /// The scheduled session (`class_sessions.id`).
    pub session_id: i64,
}

/// Whether the lecturer's video is reaching the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VideoState {
    /// Video packets from the lecturer are arriving.
    Receiving,
    /// They stopped (pause, network loss, publisher left).
    Stopped,
}

/// Whether the lecturer's packets are being delivered to a student's subscriber transport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FlowState {
    /// Transport connected and the lecture's packets are delivered.
    Flowing,
    /// Disconnected, or nothing delivered for the stall timeout.
    Stalled,
}

/// The result of one scheduled face check (after the sampler's retries).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FaceOutcome {
    /// The face matches the enrollment photo: present.
    Match,
    /// A face, but someone else's.
    Mismatch,
    /// No face in the frame.
    NoFace,
    /// More than one face.
    MultipleFaces,
    /// The student's camera track was off.
    CameraOff,
    /// The student was not connected at all.
    Absent,
}

impl FaceOutcome {
    /// Every outcome.
    pub const ALL: [FaceOutcome; 6] = [
        FaceOutcome::Match,
        FaceOutcome::Mismatch,
        FaceOutcome::NoFace,
        FaceOutcome::MultipleFaces,
        FaceOutcome::CameraOff,
        FaceOutcome::Absent,
    ];

    /// Database name.
    pub fn as_str(self) -> &'static str {
        match self {
            FaceOutcome::Match => "match",
            FaceOutcome::Mismatch => "mismatch",
            FaceOutcome::NoFace => "no_face",
            FaceOutcome::MultipleFaces => "multiple_faces",
            FaceOutcome::CameraOff => "camera_off",
            FaceOutcome::Absent => "absent",
        }
    }

    /// Parses the database name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == s)
    }

    /// Only `match` counts as present.
    pub fn is_present(self) -> bool {
        self == FaceOutcome::Match
    }
}

/// Something that bears on live time, watch time or attendance.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum AttendanceEvent {
    /// The lecturer's video started or stopped reaching the server.
    LecturerVideo {
        /// Room.
        session: ClassSession,
        /// New state.
        state: VideoState,
        /// When (unix ms).
        at: i64,
    },
    /// Delivery of the lecture to one student started or stalled.
    SubscriberFlow {
        /// Student's account id.
        student_id: i64,
        /// Room.
        session: ClassSession,
        /// New state.
        state: FlowState,
        /// When (unix ms).
        at: i64,
    },
    /// The room is alive at `at`: every interval of the session still open continues at
    /// least until then. Rooms send one about every second; a crash loses at most the time
    /// since the last one that was written.
    Heartbeat {
        /// Room.
        session: ClassSession,
        /// When (unix ms).
        at: i64,
    },
    /// The outcome of a face check scheduled for a student.
    FaceCheck {
        /// Student's account id.
        student_id: i64,
        /// Room.
        session: ClassSession,
        /// When the check was scheduled (unix ms): this decides whether it lies in live time.
        scheduled_at: i64,
        /// Final outcome after retries.
        outcome: FaceOutcome,
    },
}

impl AttendanceEvent {
    /// The room the event belongs to.
    pub fn session(&self) -> ClassSession {
        match *self {
            AttendanceEvent::LecturerVideo { session, .. }
            | AttendanceEvent::SubscriberFlow { session, .. }
            | AttendanceEvent::Heartbeat { session, .. }
            | AttendanceEvent::FaceCheck { session, .. } => session,
        }
    }

    /// Metric label of the kind of event.
    pub fn kind(&self) -> &'static str {
        match self {
            AttendanceEvent::LecturerVideo { .. } => "lecturer_video",
            AttendanceEvent::SubscriberFlow { .. } => "subscriber_flow",
            AttendanceEvent::Heartbeat { .. } => "heartbeat",
            AttendanceEvent::FaceCheck { .. } => "face_check",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcome_names_round_trip_and_only_match_is_present() {
        for o in FaceOutcome::ALL {
            assert_eq!(FaceOutcome::parse(o.as_str()), Some(o));
            assert_eq!(o.is_present(), o == FaceOutcome::Match);
            let json = serde_json::to_string(&o).unwrap();
            assert_eq!(json, format!("\"{}\"", o.as_str()));
        }
        assert_eq!(FaceOutcome::parse("present"), None);
    }

    #[test]
    fn events_serialise_with_a_type_tag() {
        let ev = AttendanceEvent::SubscriberFlow {
            student_id: 7,
            session: ClassSession {
                class_id: 1,
                session_id: 2,
            },
            state: FlowState::Flowing,
            at: 1000,
        };
        let v = serde_json::to_value(ev).unwrap();
        assert_eq!(v["type"], "subscriber_flow");
        assert_eq!(v["state"], "flowing");
        assert_eq!(serde_json::from_value::<AttendanceEvent>(v).unwrap(), ev);
    }
}
