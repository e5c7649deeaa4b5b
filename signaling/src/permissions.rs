//! The one role × action table of a class room: who may publish what, who may send what,
//! and who sees whom. The room asks these functions and nothing else; the tests below check
//! every row.

use serde::{Deserialize, Serialize};

use crate::Role;

/// A kind of media track a participant publishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrackKind {
    /// Camera video.
    Camera,
    /// Microphone audio.
    Microphone,
    /// Screen share.
    Screen,
}

impl TrackKind {
    /// Every kind.
    pub const ALL: [TrackKind; 3] = [TrackKind::Camera, TrackKind::Microphone, TrackKind::Screen];
}

/// Something a participant asks to do in a room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RoomAction {
    /// Publish a track of this kind.
    Publish(TrackKind),
    /// Receive media from the server (a subscribe offer and its ICE).
    Subscribe,
    /// Ask to receive a student's camera.
    WatchCamera,
    /// Send a chat line to the room.
    Chat,
    /// Put a question to the lecturer.
    Ask,
    /// Mark a question answered.
    MarkAnswered,
    /// Raise or lower one's hand.
    RaiseHand,
    /// Grant or revoke a student's right to speak.
    GrantSpeaking,
    /// Mute or unmute a participant's microphone.
    Mute,
    /// Remove a participant from the session.
    Remove,
    /// One-to-one text between an assistant and a student of their group.
    PrivateChat,
    /// One-to-one call signaling between an assistant and a student of their group.
    PrivateCall,
}

impl RoomAction {
    /// Every action, for the table tests.
    pub const ALL: [RoomAction; 14] = [
        RoomAction::Publish(TrackKind::Camera),
        RoomAction::Publish(TrackKind::Microphone),
        RoomAction::Publish(TrackKind::Screen),
        RoomAction::Subscribe,
        RoomAction::WatchCamera,
        RoomAction::Chat,
        RoomAction::Ask,
        RoomAction::MarkAnswered,
        RoomAction::RaiseHand,
        RoomAction::GrantSpeaking,
        RoomAction::Mute,
        RoomAction::Remove,
        RoomAction::PrivateChat,
        RoomAction::PrivateCall,
    ];
}

/// How far a role may perform an action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allowed {
    /// Never.
    No,
    /// Always (towards anyone the action can name).
    Yes,
    /// Only towards the students of one's own assistant group (or, for a student, towards
    /// their own assistant).
    OwnGroup,
    /// Only while the lecturer has granted the student the floor, or inside a private call
    /// with their assistant.
    WhenGranted,
}

/// The table. Administrators do not enter rooms; regulators publish and send nothing.
pub fn allowed(role: Role, action: RoomAction) -> Allowed {
    use Allowed::*;
    use Role::*;
    use RoomAction::*;
    match (role, action) {
        (Admin, _) => No,
        (Regulator, Subscribe | WatchCamera) => Yes,
        (Regulator, _) => No,

        (Lecturer, Publish(_)) => Yes,
        (Assistant, Publish(TrackKind::Camera | TrackKind::Microphone)) => OwnGroup,
        (Student, Publish(TrackKind::Camera)) => Yes,
        (Student, Publish(TrackKind::Microphone)) => WhenGranted,
        (Assistant | Student, Publish(TrackKind::Screen)) => No,

        (_, Subscribe) => Yes,
        (Lecturer, WatchCamera) => Yes,
        (Assistant, WatchCamera) => OwnGroup,
        (Student, WatchCamera) => No,

        (Lecturer | Assistant | Student, Chat) => Yes,
        (Student, Ask) => Yes,
        (Lecturer | Assistant, Ask) => No,
        (Lecturer | Assistant, MarkAnswered) => Yes,
        (Student, MarkAnswered) => No,
        (Student, RaiseHand) => Yes,
        (Lecturer | Assistant, RaiseHand) => No,
        (Lecturer, GrantSpeaking | Mute | Remove) => Yes,
        (Assistant | Student, GrantSpeaking | Mute | Remove) => No,
        (Assistant | Student, PrivateChat | PrivateCall) => OwnGroup,
        (Lecturer, PrivateChat | PrivateCall) => No,
    }
}

/// Whether participants of this role appear in participant lists, counts and presence
/// events. Regulators never do: they are silent and invisible.
pub fn listed(subject: Role) -> bool {
    !matches!(subject, Role::Regulator | Role::Admin)
}

/// How a viewer stands towards a publisher, for [`receives_track`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Relation {
    /// The viewer is the publisher's assistant (or the publisher is the viewer's assistant).
    pub same_group: bool,
    /// The publisher (a student) holds the floor.
    pub speaking: bool,
    /// The viewer asked to watch the publisher's camera.
    pub watching: bool,
    /// Viewer and publisher are in a private call with each other.
    pub in_call: bool,
}

/// Whether `viewer` receives `publisher`'s track of `kind` — who sees and hears whom.
/// Nobody receives their own tracks back.
pub fn receives_track(viewer: Role, publisher: Role, kind: TrackKind, rel: Relation) -> bool {
    use Role::*;
    use TrackKind::*;
    match (publisher, kind) {
        // The lecture goes to everyone.
        (Lecturer, _) => viewer != Admin,
        // A student's camera: the lecturer, their assistant, whoever asked to watch it (a
        // regulator, the lecturer), their call peer — and the whole room while they speak.
        (Student, Camera) => match viewer {
            Lecturer => true,
            Assistant => rel.same_group || rel.in_call || rel.speaking,
            Regulator => rel.watching || rel.speaking,
            Student => rel.speaking,
            Admin => false,
        },
        // A student's microphone: the whole room while they speak, else their call peer.
        (Student, Microphone) => match viewer {
            Admin => false,
            Assistant => rel.speaking || rel.in_call,
            _ => rel.speaking,
        },
        // Assistants talk one-to-one only.
        (Assistant, Camera | Microphone) => viewer == Student && rel.in_call,
        (Student | Assistant, Screen) | (Regulator | Admin, _) => false,
    }
}

/// Whether `viewer` is told a student's face-check outcomes (`rel.same_group`: the viewer
/// is the student's current assistant). Never other students: whether a classmate passed
/// attendance is none of theirs.
pub fn sees_face_checks(viewer: Role, rel: Relation) -> bool {
    match viewer {
        Role::Assistant => rel.same_group,
        Role::Lecturer | Role::Regulator => true,
        Role::Student | Role::Admin => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Allowed::*;
    use Role::*;
    use RoomAction::*;
    use TrackKind::*;

    /// The table written out row by row: [lecturer, assistant, student, regulator].
    fn expected(action: RoomAction) -> [Allowed; 4] {
        match action {
            Publish(Camera) => [Yes, OwnGroup, Yes, No],
            Publish(Microphone) => [Yes, OwnGroup, WhenGranted, No],
            Publish(Screen) => [Yes, No, No, No],
            Subscribe => [Yes, Yes, Yes, Yes],
            WatchCamera => [Yes, OwnGroup, No, Yes],
            Chat => [Yes, Yes, Yes, No],
            Ask => [No, No, Yes, No],
            MarkAnswered => [Yes, Yes, No, No],
            RaiseHand => [No, No, Yes, No],
            GrantSpeaking => [Yes, No, No, No],
            Mute => [Yes, No, No, No],
            Remove => [Yes, No, No, No],
            PrivateChat => [No, OwnGroup, OwnGroup, No],
            PrivateCall => [No, OwnGroup, OwnGroup, No],
        }
    }

    #[test]
    fn every_row_of_the_action_table() {
        for action in RoomAction::ALL {
            let want = expected(action);
            for (i, role) in [Lecturer, Assistant, Student, Regulator]
                .into_iter()
                .enumerate()
            {
                assert_eq!(allowed(role, action), want[i], "{role} {action:?}");
            }
            assert_eq!(allowed(Admin, action), No, "admins do not enter rooms");
        }
    }

    #[test]
    fn regulators_send_and_publish_nothing() {
        for action in RoomAction::ALL {
            let a = allowed(Regulator, action);
            assert_eq!(
                a != No,
                matches!(action, Subscribe | WatchCamera),
                "{action:?}"
            );
        }
    }

    #[test]
    fn only_regulators_are_unlisted() {
        assert!(listed(Lecturer) && listed(Assistant) && listed(Student));
        assert!(!listed(Regulator));
    }

    fn rel(same_group: bool, speaking: bool, watching: bool, in_call: bool) -> Relation {
        Relation {
            same_group,
            speaking,
            watching,
            in_call,
        }
    }

    #[test]
    fn lecture_tracks_reach_every_room_role() {
        for kind in TrackKind::ALL {
            for viewer in [Lecturer, Assistant, Student, Regulator] {
                assert!(receives_track(viewer, Lecturer, kind, Relation::default()));
            }
        }
    }

    #[test]
    fn a_student_camera_reaches_only_lecturer_own_assistant_and_watchers() {
        let none = Relation::default();
        assert!(receives_track(Lecturer, Student, Camera, none));
        assert!(!receives_track(Assistant, Student, Camera, none));
        assert!(receives_track(
            Assistant,
            Student,
            Camera,
            rel(true, false, false, false)
        ));
        assert!(!receives_track(Student, Student, Camera, none));
        // Even a classmate "watching" gets nothing: students may not watch.
        assert!(!receives_track(
            Student,
            Student,
            Camera,
            rel(true, false, true, true)
        ));
        assert!(!receives_track(Regulator, Student, Camera, none));
        assert!(receives_track(
            Regulator,
            Student,
            Camera,
            rel(false, false, true, false)
        ));
        // Holding the floor sends it to everyone.
        for viewer in [Lecturer, Assistant, Student, Regulator] {
            assert!(receives_track(
                viewer,
                Student,
                Camera,
                rel(false, true, false, false)
            ));
        }
    }

    #[test]
    fn a_student_microphone_needs_the_floor_or_a_call() {
        let none = Relation::default();
        for viewer in [Lecturer, Assistant, Student, Regulator] {
            assert!(!receives_track(viewer, Student, Microphone, none));
            assert!(receives_track(
                viewer,
                Student,
                Microphone,
                rel(false, true, false, false)
            ));
        }
        assert!(receives_track(
            Assistant,
            Student,
            Microphone,
            rel(true, false, false, true)
        ));
        assert!(!receives_track(
            Assistant,
            Student,
            Microphone,
            rel(true, false, false, false)
        ));
    }

    #[test]
    fn assistant_media_is_one_to_one() {
        for kind in [Camera, Microphone] {
            assert!(receives_track(
                Student,
                Assistant,
                kind,
                rel(true, false, false, true)
            ));
            assert!(!receives_track(
                Student,
                Assistant,
                kind,
                rel(true, false, false, false)
            ));
            for viewer in [Lecturer, Assistant, Regulator] {
                assert!(!receives_track(
                    viewer,
                    Assistant,
                    kind,
                    rel(true, true, true, true)
                ));
            }
        }
    }

    #[test]
    fn nothing_comes_from_regulators() {
        for kind in TrackKind::ALL {
            for viewer in Role::ALL {
                assert!(!receives_track(
                    viewer,
                    Regulator,
                    kind,
                    rel(true, true, true, true)
                ));
            }
        }
    }

    #[test]
    fn face_checks_reach_own_assistant_lecturer_and_regulators_only() {
        let mine = rel(true, false, false, false);
        let other = Relation::default();
        // [lecturer, assistant, student, regulator, admin] for (own group, other).
        let want = [
            (Lecturer, true, true),
            (Assistant, true, false),
            (Student, false, false),
            (Regulator, true, true),
            (Admin, false, false),
        ];
        for (role, own, not_own) in want {
            assert_eq!(sees_face_checks(role, mine), own, "{role} own");
            assert_eq!(sees_face_checks(role, other), not_own, "{role} other");
        }
        // Whatever else holds between them, a student never sees a classmate's.
        assert!(!sees_face_checks(Student, rel(true, true, true, true)));
    }
}
