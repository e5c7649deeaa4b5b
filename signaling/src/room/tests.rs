//! The room's rules with a fake clock: every test drives [`Room`] directly.

use std::collections::HashMap;

use serde_json::Value;

use super::*;

const LECTURER: i64 = 1;
const REGULATOR: i64 = 2;
const A1: i64 = 11;
const A2: i64 = 12;

/// 45 students (100..145): groups of 23 (assistant 11) and 22 (assistant 12).
fn room() -> Room {
    room_with(RoomConfig::default())
}

fn room_with(cfg: RoomConfig) -> Room {
    let member = |id: i64| Member {
        user_id: id,
        name: format!("u{id}"),
    };
    Room::new(
        cfg,
        Roster {
            class_id: 7,
            session_id: 70,
            lecturer_id: LECTURER,
            assistants: vec![member(A1), member(A2)],
            students: (100..145).map(member).collect(),
            limits: GroupLimits::default(),
        },
        0,
    )
}

fn role_of(user: i64) -> Role {
    match user {
        LECTURER => Role::Lecturer,
        REGULATOR => Role::Regulator,
        A1 | A2 => Role::Assistant,
        _ => Role::Student,
    }
}

/// Collected outputs, per connection.
#[derive(Default)]
struct Seen {
    msgs: HashMap<ConnId, Vec<Value>>,
    closed: HashMap<ConnId, u16>,
    events: Vec<RoomEvent>,
    media: Vec<(MediaPeer, MediaSignal)>,
    /// (viewer, publisher) of revoked camera subscriptions.
    revoked: Vec<(i64, i64)>,
}

impl Seen {
    fn take(&mut self, out: Vec<Output>) {
        for o in out {
            match o {
                Output::Send { to, text } => {
                    let v: Value = serde_json::from_str(&text).unwrap();
                    for c in to {
                        self.msgs.entry(c).or_default().push(v.clone());
                    }
                }
                Output::Close { conn, code, .. } => {
                    self.closed.insert(conn, code);
                }
                Output::Event(e) => self.events.push(e),
                Output::Media { peer, signal } => self.media.push((peer, signal)),
                Output::MediaLeft(_) => {}
                Output::MediaRevoke { viewer, publisher } => {
                    self.revoked.push((viewer.user_id, publisher))
                }
            }
        }
    }

    fn of(&self, conn: ConnId, kind: &str) -> Vec<Value> {
        self.msgs
            .get(&conn)
            .map(|m| m.iter().filter(|v| v["type"] == kind).cloned().collect())
            .unwrap_or_default()
    }

    fn last(&self, conn: ConnId, kind: &str) -> Value {
        self.of(conn, kind).pop().unwrap_or(Value::Null)
    }

    fn clear(&mut self) {
        self.msgs.clear();
        self.events.clear();
    }

    fn event_kinds(&self) -> Vec<EventKind> {
        self.events.iter().map(|e| e.kind).collect()
    }
}

/// Connection id = user id (one connection each unless a test says otherwise).
fn join(room: &mut Room, seen: &mut Seen, now: i64, user: i64) {
    join_on(room, seen, now, user, user as ConnId, None);
}

fn join_on(
    room: &mut Room,
    seen: &mut Seen,
    now: i64,
    user: i64,
    conn: ConnId,
    token: Option<String>,
) {
    let out = room.handle(
        now,
        Input::Join {
            conn,
            who: Entrant {
                user_id: user,
                role: role_of(user),
                name: format!("u{user}"),
            },
            resume_token: token,
            new_token: format!("tok-{user}-{conn}"),
        },
    );
    seen.take(out);
}

fn send(room: &mut Room, seen: &mut Seen, now: i64, user: i64, msg: ClientMessage) {
    send_on(room, seen, now, user as ConnId, msg)
}

fn send_on(room: &mut Room, seen: &mut Seen, now: i64, conn: ConnId, msg: ClientMessage) {
    let out = room.handle(now, Input::Message { conn, msg });
    seen.take(out);
}

fn tick(room: &mut Room, seen: &mut Seen, now: i64) {
    let out = room.tick(now);
    seen.take(out);
}

fn error_code(seen: &Seen, conn: ConnId) -> String {
    seen.last(conn, "error")["code"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[test]
fn presence_is_batched_into_one_message_per_connection() {
    let mut r = room();
    let mut s = Seen::default();
    join(&mut r, &mut s, 0, LECTURER);
    for (i, u) in (100..140).enumerate() {
        join(&mut r, &mut s, i as i64, u);
    }
    // Inside the window: nobody has a presence message yet.
    assert!(s.of(LECTURER as ConnId, "presence").is_empty());
    assert_eq!(r.next_deadline(), Some(50));
    tick(&mut r, &mut s, 50);
    let p = s.of(LECTURER as ConnId, "presence");
    assert_eq!(p.len(), 1);
    assert_eq!(p[0]["joined"].as_array().unwrap().len(), 41);
    assert_eq!(p[0]["online"], 41);
    // Every student got exactly: joined, participants, one presence (+ tracks: none).
    for u in 100..140u64 {
        let kinds: Vec<String> = s.msgs[&u]
            .iter()
            .map(|v| v["type"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(kinds, ["joined", "participants", "presence"], "student {u}");
    }
    // A later joiner gets the full list in `participants`.
    join(&mut r, &mut s, 100, 140);
    let list = s.last(140, "participants");
    assert_eq!(list["participants"].as_array().unwrap().len(), 41);
    assert_eq!(list["online"], 41);
}

#[test]
fn without_batching_every_join_fans_out() {
    let cfg = RoomConfig {
        presence_batch_ms: 0,
        ..RoomConfig::default()
    };
    let mut r = room_with(cfg);
    let mut s = Seen::default();
    join(&mut r, &mut s, 0, LECTURER);
    for u in 100..120 {
        join(&mut r, &mut s, 0, u);
    }
    assert_eq!(s.of(LECTURER as ConnId, "presence").len(), 21);
}

#[test]
fn the_regulator_is_invisible_and_silent() {
    let mut r = room();
    let mut s = Seen::default();
    join(&mut r, &mut s, 0, LECTURER);
    join(&mut r, &mut s, 0, A1);
    join(&mut r, &mut s, 0, 100);
    tick(&mut r, &mut s, 50);
    s.clear();
    join(&mut r, &mut s, 60, REGULATOR);
    tick(&mut r, &mut s, 200);
    // Nobody hears of it; the count stays 3.
    for c in [LECTURER, A1, 100] {
        assert!(
            !s.msgs.contains_key(&(c as ConnId)),
            "{c} heard of the regulator"
        );
    }
    assert_eq!(r.online(), 3);
    let list = s.last(REGULATOR as ConnId, "participants");
    let ids: Vec<i64> = list["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["user_id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![LECTURER, A1, 100]);
    assert_eq!(list["online"], 3);
    assert_eq!(s.event_kinds(), vec![EventKind::RegulatorEntered]);
    // The regulator hears the room …
    send(&mut r, &mut s, 300, 100, ClientMessage::RaiseHand);
    send(
        &mut r,
        &mut s,
        300,
        100,
        ClientMessage::Chat {
            text: "老师好".into(),
        },
    );
    send(
        &mut r,
        &mut s,
        300,
        LECTURER,
        ClientMessage::GrantSpeaking { user_id: 100 },
    );
    assert_eq!(s.last(REGULATOR as ConnId, "chat")["text"], "老师好");
    assert_eq!(
        s.last(REGULATOR as ConnId, "hands")["queue"],
        serde_json::json!([])
    );
    assert_eq!(s.last(REGULATOR as ConnId, "speaking")["granted"], true);
    // … but may say and publish nothing.
    s.clear();
    for msg in [
        ClientMessage::Chat { text: "hi".into() },
        ClientMessage::Ask { text: "?".into() },
        ClientMessage::RaiseHand,
        ClientMessage::Publish {
            track: TrackKind::Camera,
        },
        ClientMessage::Publish {
            track: TrackKind::Microphone,
        },
        ClientMessage::MediaOffer {
            direction: MediaDirection::Publish,
            sdp: "v=0".into(),
            user_id: None,
        },
        ClientMessage::PrivateChat {
            to: 100,
            text: "hi".into(),
        },
        ClientMessage::Mute { user_id: 100 },
    ] {
        send(&mut r, &mut s, 400, REGULATOR, msg.clone());
        let e = s.last(REGULATOR as ConnId, "error");
        assert_eq!(e["code"], "forbidden", "{msg:?}");
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains("regulators are silent"),
            "{e}"
        );
        assert_eq!(e["fatal"], false);
    }
    for c in [LECTURER, A1, 100] {
        assert!(
            !s.msgs.contains_key(&(c as ConnId)),
            "{c} received something from the regulator"
        );
    }
    assert!(s.media.is_empty());
    // Receiving media is allowed.
    send(
        &mut r,
        &mut s,
        400,
        REGULATOR,
        ClientMessage::MediaOffer {
            direction: MediaDirection::Subscribe,
            sdp: "v=0".into(),
            user_id: None,
        },
    );
    assert_eq!(s.media.len(), 1);
    // Targeting the regulator finds nobody.
    send(
        &mut r,
        &mut s,
        400,
        LECTURER,
        ClientMessage::Remove { user_id: REGULATOR },
    );
    assert_eq!(error_code(&s, LECTURER as ConnId), "not_found");
    // Leaving is audited and unseen.
    s.clear();
    send(&mut r, &mut s, 500, REGULATOR, ClientMessage::Leave);
    tick(&mut r, &mut s, 1000);
    assert_eq!(s.event_kinds(), vec![EventKind::RegulatorLeft]);
    assert!(s.events.iter().all(|e| e.kind.is_audit()));
    assert!(s.msgs.keys().all(|c| *c == REGULATOR as ConnId));
}

#[test]
fn the_regulator_may_watch_any_student_camera() {
    let mut r = room();
    let mut s = Seen::default();
    join(&mut r, &mut s, 0, REGULATOR);
    join(&mut r, &mut s, 0, 130); // group of assistant 12
    send(
        &mut r,
        &mut s,
        1,
        130,
        ClientMessage::Publish {
            track: TrackKind::Camera,
        },
    );
    assert!(s.of(REGULATOR as ConnId, "track").is_empty());
    send(
        &mut r,
        &mut s,
        2,
        REGULATOR,
        ClientMessage::Watch { user_id: 130 },
    );
    let t = s.last(REGULATOR as ConnId, "track");
    assert_eq!(
        (t["user_id"].as_i64(), t["published"].as_bool()),
        (Some(130), Some(true))
    );
    assert!(s.event_kinds().contains(&EventKind::RegulatorWatched));
}

#[test]
fn a_student_never_receives_another_students_camera() {
    let mut r = room();
    let mut s = Seen::default();
    for u in [LECTURER, A1, A2, 100, 101, 130] {
        join(&mut r, &mut s, 0, u);
    }
    tick(&mut r, &mut s, 50);
    s.clear();
    send(
        &mut r,
        &mut s,
        60,
        100,
        ClientMessage::Publish {
            track: TrackKind::Camera,
        },
    );
    // Lecturer and 100's own assistant (11) get the track; nobody else.
    assert_eq!(s.of(LECTURER as ConnId, "track").len(), 1);
    assert_eq!(s.of(A1 as ConnId, "track").len(), 1);
    for c in [A2, 101, 130] {
        assert!(s.of(c as ConnId, "track").is_empty(), "{c}");
    }
    send(
        &mut r,
        &mut s,
        61,
        101,
        ClientMessage::Watch { user_id: 100 },
    );
    assert_eq!(error_code(&s, 101), "forbidden");
    send(
        &mut r,
        &mut s,
        62,
        A2,
        ClientMessage::Watch { user_id: 100 },
    );
    assert_eq!(error_code(&s, A2 as ConnId), "forbidden");
    // A student's microphone needs the floor.
    send(
        &mut r,
        &mut s,
        63,
        100,
        ClientMessage::Publish {
            track: TrackKind::Microphone,
        },
    );
    assert_eq!(error_code(&s, 100), "forbidden");
    // Given the floor, camera and microphone go to the whole room.
    send(
        &mut r,
        &mut s,
        64,
        LECTURER,
        ClientMessage::GrantSpeaking { user_id: 100 },
    );
    assert_eq!(s.last(101, "track")["user_id"], 100);
    send(
        &mut r,
        &mut s,
        65,
        100,
        ClientMessage::Publish {
            track: TrackKind::Microphone,
        },
    );
    assert_eq!(s.last(130, "track")["track"], "microphone");
    // Floor taken back: the classmates lose both, the lecturer keeps the camera.
    s.clear();
    send(
        &mut r,
        &mut s,
        66,
        LECTURER,
        ClientMessage::RevokeSpeaking { user_id: 100 },
    );
    let lost: Vec<Value> = s.of(101, "track");
    assert_eq!(lost.len(), 2);
    assert!(lost.iter().all(|t| t["published"] == false));
    assert!(s
        .of(LECTURER as ConnId, "track")
        .iter()
        .all(|t| t["track"] == "microphone"));
}

#[test]
fn private_chat_and_calls_reach_only_the_two_sides() {
    let mut r = room();
    let mut s = Seen::default();
    for u in [LECTURER, REGULATOR, A1, A2, 100, 101, 130] {
        join(&mut r, &mut s, 0, u);
    }
    tick(&mut r, &mut s, 50);
    s.clear();
    send(
        &mut r,
        &mut s,
        60,
        A1,
        ClientMessage::PrivateChat {
            to: 100,
            text: "需要帮忙吗".into(),
        },
    );
    send(
        &mut r,
        &mut s,
        61,
        100,
        ClientMessage::PrivateChat {
            to: A1,
            text: "谢谢".into(),
        },
    );
    assert_eq!(s.of(100, "private_chat").len(), 2);
    assert_eq!(s.of(A1 as ConnId, "private_chat").len(), 2);
    for c in [LECTURER, REGULATOR, A2, 101, 130] {
        assert!(s.of(c as ConnId, "private_chat").is_empty(), "{c}");
    }
    // Across groups: refused.
    send(
        &mut r,
        &mut s,
        62,
        A1,
        ClientMessage::PrivateChat {
            to: 130,
            text: "hi".into(),
        },
    );
    assert_eq!(error_code(&s, A1 as ConnId), "forbidden");
    send(
        &mut r,
        &mut s,
        63,
        101,
        ClientMessage::PrivateChat {
            to: 100,
            text: "hi".into(),
        },
    );
    assert_eq!(error_code(&s, 101), "forbidden");
    // A call: invite, accept, the student's microphone reaches the assistant only.
    s.clear();
    send(
        &mut r,
        &mut s,
        70,
        A1,
        ClientMessage::PrivateCall {
            to: 100,
            action: CallAction::Invite,
        },
    );
    send(
        &mut r,
        &mut s,
        71,
        100,
        ClientMessage::PrivateCall {
            to: A1,
            action: CallAction::Accept,
        },
    );
    send(
        &mut r,
        &mut s,
        72,
        100,
        ClientMessage::Publish {
            track: TrackKind::Microphone,
        },
    );
    send(
        &mut r,
        &mut s,
        73,
        A1,
        ClientMessage::Publish {
            track: TrackKind::Camera,
        },
    );
    assert_eq!(s.last(A1 as ConnId, "track")["track"], "microphone");
    assert_eq!(s.last(100, "track")["user_id"], A1);
    for c in [LECTURER, REGULATOR, A2, 101, 130] {
        assert!(s.of(c as ConnId, "private_call").is_empty(), "{c}");
        assert!(s.of(c as ConnId, "track").is_empty(), "{c}");
    }
    send(
        &mut r,
        &mut s,
        74,
        A1,
        ClientMessage::PrivateCall {
            to: 100,
            action: CallAction::End,
        },
    );
    assert_eq!(s.last(A1 as ConnId, "track")["published"], false);
    assert!(s.event_kinds().contains(&EventKind::PrivateCall));
}

#[test]
fn hands_questions_mute_and_remove() {
    let mut r = room();
    let mut s = Seen::default();
    for u in [LECTURER, A1, 100, 101] {
        join(&mut r, &mut s, 0, u);
    }
    send(&mut r, &mut s, 1, 100, ClientMessage::RaiseHand);
    send(&mut r, &mut s, 2, 101, ClientMessage::RaiseHand);
    send(&mut r, &mut s, 3, 100, ClientMessage::RaiseHand);
    assert_eq!(
        s.last(LECTURER as ConnId, "hands")["queue"],
        serde_json::json!([100, 101])
    );
    send(
        &mut r,
        &mut s,
        4,
        100,
        ClientMessage::GrantSpeaking { user_id: 101 },
    );
    assert_eq!(error_code(&s, 100), "forbidden");
    send(
        &mut r,
        &mut s,
        5,
        LECTURER,
        ClientMessage::GrantSpeaking { user_id: 101 },
    );
    assert_eq!(s.last(100, "hands")["queue"], serde_json::json!([100]));
    send(
        &mut r,
        &mut s,
        6,
        100,
        ClientMessage::Ask {
            text: "什么是SYB?".into(),
        },
    );
    let q = s.last(LECTURER as ConnId, "question");
    let qid = q["id"].as_u64().unwrap();
    send(
        &mut r,
        &mut s,
        7,
        101,
        ClientMessage::MarkAnswered { question_id: qid },
    );
    assert_eq!(error_code(&s, 101), "forbidden");
    send(
        &mut r,
        &mut s,
        8,
        A1,
        ClientMessage::MarkAnswered { question_id: qid },
    );
    assert_eq!(s.last(100, "question_answered")["id"], qid);
    send(
        &mut r,
        &mut s,
        9,
        LECTURER,
        ClientMessage::MarkAnswered { question_id: qid },
    );
    assert_eq!(error_code(&s, LECTURER as ConnId), "already_answered");
    send(
        &mut r,
        &mut s,
        10,
        101,
        ClientMessage::Publish {
            track: TrackKind::Microphone,
        },
    );
    send(
        &mut r,
        &mut s,
        11,
        LECTURER,
        ClientMessage::Mute { user_id: 101 },
    );
    assert_eq!(s.last(100, "muted")["muted"], true);
    send(
        &mut r,
        &mut s,
        12,
        101,
        ClientMessage::Publish {
            track: TrackKind::Microphone,
        },
    );
    assert_eq!(error_code(&s, 101), "muted");
    send(
        &mut r,
        &mut s,
        13,
        LECTURER,
        ClientMessage::Remove { user_id: 101 },
    );
    assert_eq!(s.closed.get(&101), Some(&close::REMOVED));
    assert_eq!(s.last(101, "error")["code"], "removed");
    assert_eq!(s.last(100, "removed")["user_id"], 101);
    // Cannot come back this session.
    join_on(&mut r, &mut s, 20, 101, 9101, None);
    assert_eq!(s.last(9101, "error")["code"], "removed");
    tick(&mut r, &mut s, 100);
    assert_eq!(r.online(), 3);
    use EventKind::*;
    let kinds = s.event_kinds();
    for k in [
        HandRaised,
        SpeakingGranted,
        Question,
        QuestionAnswered,
        Muted,
        Removed,
        Left,
    ] {
        assert!(kinds.contains(&k), "{k:?} not emitted");
    }
}

#[test]
fn resuming_within_the_window_keeps_the_place_without_a_duplicate() {
    let mut r = room();
    let mut s = Seen::default();
    join(&mut r, &mut s, 0, LECTURER);
    join(&mut r, &mut s, 0, 100);
    send(&mut r, &mut s, 1, 100, ClientMessage::RaiseHand);
    tick(&mut r, &mut s, 50);
    let token = s.last(100, "joined")["resume_token"]
        .as_str()
        .unwrap()
        .to_string();
    let assistant = r.groups().home_of(100);
    s.clear();
    s.take(r.handle(1000, Input::Disconnected { conn: 100 }));
    join_on(&mut r, &mut s, 20_000, 100, 5000, Some(token.clone()));
    tick(&mut r, &mut s, 30_000);
    let j = s.last(5000, "joined");
    assert_eq!(j["resumed"], true);
    assert_eq!(j["hands"], serde_json::json!([100]));
    assert!(
        s.of(LECTURER as ConnId, "presence").is_empty(),
        "no leave, no second join"
    );
    assert_eq!(r.online(), 2);
    assert_eq!(r.groups().home_of(100), assistant);
    // The old connection's late close changes nothing.
    s.take(r.handle(30_001, Input::Disconnected { conn: 100 }));
    tick(&mut r, &mut s, 70_000);
    assert_eq!(r.online(), 2);
}

#[test]
fn after_the_window_the_place_is_released() {
    let mut r = room();
    let mut s = Seen::default();
    join(&mut r, &mut s, 0, LECTURER);
    join(&mut r, &mut s, 0, 100);
    send(&mut r, &mut s, 1, 100, ClientMessage::RaiseHand);
    tick(&mut r, &mut s, 50);
    let token = s.last(100, "joined")["resume_token"]
        .as_str()
        .unwrap()
        .to_string();
    s.clear();
    s.take(r.handle(1000, Input::Disconnected { conn: 100 }));
    tick(&mut r, &mut s, 1050); // the assistant hears the student went offline
    assert_eq!(r.next_deadline(), Some(31_000));
    tick(&mut r, &mut s, 31_000);
    tick(&mut r, &mut s, 31_050);
    assert_eq!(
        s.last(LECTURER as ConnId, "presence")["left"],
        serde_json::json!([100])
    );
    assert_eq!(
        s.last(LECTURER as ConnId, "hands")["queue"],
        serde_json::json!([])
    );
    join_on(&mut r, &mut s, 40_000, 100, 6000, Some(token));
    assert_eq!(error_code(&s, 6000), "resume_expired");
    join_on(&mut r, &mut s, 40_001, 100, 6000, None);
    assert_eq!(s.last(6000, "joined")["resumed"], false);
}

#[test]
fn a_second_connection_replaces_the_first() {
    let mut r = room();
    let mut s = Seen::default();
    join(&mut r, &mut s, 0, LECTURER);
    join(&mut r, &mut s, 0, 100);
    tick(&mut r, &mut s, 50);
    s.clear();
    join_on(&mut r, &mut s, 60, 100, 7000, None);
    assert_eq!(s.last(100, "error")["code"], "replaced");
    assert_eq!(s.closed.get(&100), Some(&close::REPLACED));
    assert_eq!(s.last(7000, "joined")["resumed"], true);
    tick(&mut r, &mut s, 200);
    assert!(s.of(LECTURER as ConnId, "presence").is_empty());
    // The old socket's messages are no longer the participant's.
    send_on(
        &mut r,
        &mut s,
        201,
        100,
        ClientMessage::Chat { text: "x".into() },
    );
    assert_eq!(error_code(&s, 100), "not_joined");
}

#[test]
fn an_assistants_students_spread_and_return() {
    let mut r = room();
    let mut s = Seen::default();
    join(&mut r, &mut s, 0, A1);
    join(&mut r, &mut s, 0, A2);
    for u in 100..145 {
        join(&mut r, &mut s, 0, u);
    }
    send(
        &mut r,
        &mut s,
        1,
        100,
        ClientMessage::Publish {
            track: TrackKind::Camera,
        },
    );
    tick(&mut r, &mut s, 50);
    let g = s.last(A1 as ConnId, "group");
    assert_eq!(g["students"].as_array().unwrap().len(), 23);
    s.clear();
    s.take(r.handle(100, Input::Disconnected { conn: A1 as ConnId }));
    tick(&mut r, &mut s, 150);
    assert_eq!(r.groups().assistant_of(100), Some(A2));
    assert_eq!(s.last(100, "assistant")["assistant_id"], A2);
    assert_eq!(
        s.last(A2 as ConnId, "group")["students"]
            .as_array()
            .unwrap()
            .len(),
        45
    );
    // The camera of a moved student follows it.
    assert_eq!(s.last(A2 as ConnId, "track")["user_id"], 100);
    let token = format!("tok-{A1}-{A1}");
    s.clear();
    join_on(&mut r, &mut s, 200, A1, 8000, Some(token));
    tick(&mut r, &mut s, 250);
    assert_eq!(r.groups().assistant_of(100), Some(A1));
    assert_eq!(s.last(100, "assistant")["assistant_id"], A1);
    assert_eq!(s.last(A2 as ConnId, "track")["published"], false);
}

#[test]
fn chat_flooding_is_refused_then_disconnected() {
    let mut r = room();
    let mut s = Seen::default();
    join(&mut r, &mut s, 0, LECTURER);
    join(&mut r, &mut s, 0, 100);
    for i in 0..5 {
        send(
            &mut r,
            &mut s,
            10 + i,
            100,
            ClientMessage::Chat {
                text: format!("m{i}"),
            },
        );
    }
    assert_eq!(s.of(LECTURER as ConnId, "chat").len(), 5);
    send(
        &mut r,
        &mut s,
        20,
        100,
        ClientMessage::Chat {
            text: "spam".into(),
        },
    );
    assert_eq!(error_code(&s, 100), "rate_limited");
    for i in 0..9 {
        send(
            &mut r,
            &mut s,
            21 + i,
            100,
            ClientMessage::Chat {
                text: "spam".into(),
            },
        );
    }
    assert_eq!(s.closed.get(&100), Some(&close::FLOODING));
    assert_eq!(s.last(100, "error")["code"], "flooding");
    assert_eq!(s.of(LECTURER as ConnId, "chat").len(), 5);
    // Over-long and empty text.
    send(
        &mut r,
        &mut s,
        5000,
        LECTURER,
        ClientMessage::Chat {
            text: "字".repeat(501),
        },
    );
    assert_eq!(error_code(&s, LECTURER as ConnId), "bad_text");
    send(
        &mut r,
        &mut s,
        5001,
        LECTURER,
        ClientMessage::Chat { text: "  ".into() },
    );
    assert_eq!(error_code(&s, LECTURER as ConnId), "bad_text");
}

#[test]
fn media_replies_reach_the_current_connection() {
    let mut r = room();
    let mut s = Seen::default();
    join(&mut r, &mut s, 0, 100);
    send(
        &mut r,
        &mut s,
        1,
        100,
        ClientMessage::MediaOffer {
            direction: MediaDirection::Publish,
            sdp: "v=0 offer".into(),
            user_id: None,
        },
    );
    let (peer, signal) = s.media.pop().unwrap();
    assert_eq!(
        (peer.user_id, peer.role, peer.class_id),
        (100, Role::Student, 7)
    );
    assert_eq!(
        signal,
        MediaSignal::Offer {
            direction: MediaDirection::Publish,
            sdp: "v=0 offer".into(),
            target: None,
            audio: true,
        }
    );
    s.take(r.handle(
        2,
        Input::MediaReply {
            user_id: 100,
            msg: ServerMessage::MediaAnswer {
                sdp: "v=0 answer".into(),
                session: Some(3),
                direction: Some(MediaDirection::Publish),
                user_id: None,
            },
        },
    ));
    assert_eq!(s.last(100, "media_answer")["sdp"], "v=0 answer");
}

#[test]
fn interaction_events_carry_class_session_and_text() {
    let mut r = room();
    let mut s = Seen::default();
    join(&mut r, &mut s, 0, 100);
    send(
        &mut r,
        &mut s,
        5,
        100,
        ClientMessage::Chat {
            text: "你好".into(),
        },
    );
    let e = s.events.iter().find(|e| e.kind == EventKind::Chat).unwrap();
    assert_eq!(
        (e.class_id, e.session_id, e.at, e.actor_id),
        (7, 70, 5, 100)
    );
    assert_eq!(e.detail["text"], "你好");
    assert!(!e.kind.is_audit());
}

fn subscribe_to(room: &mut Room, seen: &mut Seen, now: i64, viewer: i64, publisher: i64) {
    send(
        room,
        seen,
        now,
        viewer,
        ClientMessage::MediaOffer {
            direction: MediaDirection::Subscribe,
            sdp: format!("v=0 {viewer}->{publisher}"),
            user_id: Some(publisher),
        },
    );
}

/// Whether the subscribe offer of `viewer` for `publisher` that went to the media side may
/// carry sound (None: no such offer went).
fn with_audio(seen: &Seen, viewer: i64, publisher: i64) -> Option<bool> {
    seen.media.iter().rev().find_map(|(peer, sig)| match sig {
        MediaSignal::Offer {
            target: Some(t),
            audio,
            ..
        } if peer.user_id == viewer && *t == publisher => Some(*audio),
        _ => None,
    })
}

/// Whether the last subscribe offer of `viewer` went to the media side for `publisher`.
fn forwarded(seen: &mut Seen, viewer: i64, publisher: i64) -> bool {
    let before = seen.media.len();
    let hit = seen.media.iter().any(|(peer, sig)| {
        peer.user_id == viewer
            && matches!(sig, MediaSignal::Offer { target: Some(t), .. } if *t == publisher)
    });
    seen.media.clear();
    hit && before > 0
}

#[test]
fn camera_subscriptions_follow_the_permission_table_and_are_revoked_with_it() {
    let mut r = room();
    let mut s = Seen::default();
    for u in [LECTURER, REGULATOR, A1, A2, 100, 101] {
        join(&mut r, &mut s, 0, u);
    }
    tick(&mut r, &mut s, 100);
    send(
        &mut r,
        &mut s,
        110,
        100,
        ClientMessage::Publish {
            track: TrackKind::Camera,
        },
    );
    // The lecturer and the student's own assistant may receive it.
    for viewer in [LECTURER, A1] {
        subscribe_to(&mut r, &mut s, 120, viewer, 100);
        assert_eq!(
            with_audio(&s, viewer, 100),
            Some(false),
            "camera only: {viewer}"
        );
        assert!(forwarded(&mut s, viewer, 100), "{viewer}");
    }
    // A classmate and another group's assistant may not; nothing reaches the media side.
    for viewer in [101, A2] {
        s.clear();
        subscribe_to(&mut r, &mut s, 130, viewer, 100);
        assert_eq!(error_code(&s, viewer as ConnId), "forbidden", "{viewer}");
        assert!(!forwarded(&mut s, viewer, 100), "{viewer}");
    }
    // A regulator needs to ask (`watch`, audited) first.
    s.clear();
    subscribe_to(&mut r, &mut s, 140, REGULATOR, 100);
    assert_eq!(error_code(&s, REGULATOR as ConnId), "forbidden");
    send(
        &mut r,
        &mut s,
        150,
        REGULATOR,
        ClientMessage::Watch { user_id: 100 },
    );
    subscribe_to(&mut r, &mut s, 160, REGULATOR, 100);
    assert!(forwarded(&mut s, REGULATOR, 100));
    send(
        &mut r,
        &mut s,
        170,
        REGULATOR,
        ClientMessage::Unwatch { user_id: 100 },
    );
    assert_eq!(s.revoked, vec![(REGULATOR, 100)]);

    // The floor opens the camera to classmates, and taking it back closes it again.
    send(
        &mut r,
        &mut s,
        200,
        LECTURER,
        ClientMessage::GrantSpeaking { user_id: 100 },
    );
    subscribe_to(&mut r, &mut s, 210, 101, 100);
    assert_eq!(with_audio(&s, 101, 100), Some(true), "the floor is heard");
    assert!(forwarded(&mut s, 101, 100));
    s.revoked.clear();
    send(
        &mut r,
        &mut s,
        220,
        LECTURER,
        ClientMessage::RevokeSpeaking { user_id: 100 },
    );
    assert_eq!(s.revoked, vec![(101, 100)]);

    // The assistant goes away: its students move to the other one, and so does the camera.
    s.revoked.clear();
    s.take(r.handle(300, Input::Disconnected { conn: A1 as ConnId }));
    assert_eq!(s.revoked, vec![(A1, 100)]);
    subscribe_to(&mut r, &mut s, 310, A2, 100);
    assert!(forwarded(&mut s, A2, 100));

    // The student leaves for good: whoever received the camera loses it.
    s.revoked.clear();
    send(&mut r, &mut s, 400, 100, ClientMessage::Leave);
    s.revoked.sort();
    assert_eq!(s.revoked, vec![(LECTURER, 100), (A2, 100)]);
}

#[test]
fn a_private_call_camera_reaches_only_the_two_sides() {
    let mut r = room();
    let mut s = Seen::default();
    for u in [LECTURER, REGULATOR, A1, 100, 101] {
        join(&mut r, &mut s, 0, u);
    }
    tick(&mut r, &mut s, 100);
    // Before the call nobody may receive the assistant's camera.
    subscribe_to(&mut r, &mut s, 110, 100, A1);
    assert_eq!(error_code(&s, 100), "forbidden");
    send(
        &mut r,
        &mut s,
        120,
        A1,
        ClientMessage::PrivateCall {
            to: 100,
            action: CallAction::Invite,
        },
    );
    send(
        &mut r,
        &mut s,
        130,
        100,
        ClientMessage::PrivateCall {
            to: A1,
            action: CallAction::Accept,
        },
    );
    subscribe_to(&mut r, &mut s, 140, 100, A1);
    assert!(forwarded(&mut s, 100, A1));
    subscribe_to(&mut r, &mut s, 140, A1, 100);
    assert_eq!(with_audio(&s, A1, 100), Some(true), "the call is heard");
    assert!(forwarded(&mut s, A1, 100));
    for viewer in [101, LECTURER, REGULATOR] {
        s.clear();
        subscribe_to(&mut r, &mut s, 150, viewer, A1);
        assert_eq!(error_code(&s, viewer as ConnId), "forbidden", "{viewer}");
        assert!(!forwarded(&mut s, viewer, A1));
    }
    send(
        &mut r,
        &mut s,
        160,
        A1,
        ClientMessage::PrivateCall {
            to: 100,
            action: CallAction::End,
        },
    );
    s.revoked.sort();
    assert_eq!(
        s.revoked,
        vec![(A1, 100), (100, A1)],
        "the student's view of the call ends, and so does the assistant's subscription \
         with sound (the camera alone they may open again: same group)"
    );
}

#[test]
fn media_offers_name_whose_camera_only_when_subscribing() {
    let mut r = room();
    let mut s = Seen::default();
    for u in [LECTURER, 100, 101] {
        join(&mut r, &mut s, 0, u);
    }
    send(
        &mut r,
        &mut s,
        10,
        100,
        ClientMessage::MediaOffer {
            direction: MediaDirection::Publish,
            sdp: "v=0".into(),
            user_id: Some(101),
        },
    );
    assert_eq!(error_code(&s, 100), "bad_message");
    subscribe_to(&mut r, &mut s, 20, 100, LECTURER);
    assert_eq!(error_code(&s, 100), "bad_message");
    subscribe_to(&mut r, &mut s, 30, 100, 999);
    assert_eq!(error_code(&s, 100), "not_found");
    assert!(s.media.is_empty());
    // The lecture needs no name.
    send(
        &mut r,
        &mut s,
        40,
        100,
        ClientMessage::MediaOffer {
            direction: MediaDirection::Subscribe,
            sdp: "v=0".into(),
            user_id: None,
        },
    );
    assert_eq!(s.media.len(), 1);
}

fn face(room: &mut Room, seen: &mut Seen, now: i64, student: i64, outcome: &str) {
    seen.take(room.handle(
        now,
        Input::FaceCheck {
            student_id: student,
            outcome: outcome.into(),
            suspect_static: outcome == "match",
            at_ms: now,
        },
    ));
}

#[test]
fn face_checks_reach_the_students_assistant_lecturer_and_regulators_only() {
    let mut r = room();
    let mut s = Seen::default();
    for u in [LECTURER, REGULATOR, A1, A2, 100, 101, 130] {
        join(&mut r, &mut s, 0, u);
    }
    tick(&mut r, &mut s, 100);
    s.clear();
    face(&mut r, &mut s, 200, 100, "match");
    for c in [LECTURER, REGULATOR, A1] {
        let m = s.last(c as ConnId, "face_check");
        assert_eq!(m["student_id"], 100, "{c}");
        assert_eq!(m["outcome"], "match");
        assert_eq!(m["at_ms"], 200);
        assert_eq!(m["suspect_static"], true);
    }
    for c in [A2, 100, 101, 130] {
        assert!(s.of(c as ConnId, "face_check").is_empty(), "{c}");
    }
    // Not a student of this class: ignored.
    s.clear();
    face(&mut r, &mut s, 210, 9999, "mismatch");
    face(&mut r, &mut s, 210, A2, "mismatch");
    assert!(s.msgs.is_empty());
    // The group snapshot carries each member's last check.
    face(&mut r, &mut s, 220, 100, "no_face");
    s.take(r.handle(230, Input::Disconnected { conn: A1 as ConnId }));
    tick(&mut r, &mut s, 300);
    let g = s.last(A2 as ConnId, "group");
    let m = g["students"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user_id"] == 100)
        .unwrap()
        .clone();
    assert_eq!(m["home"], false);
    assert_eq!(m["face_check"]["outcome"], "no_face");
    assert_eq!(m["face_check"]["at_ms"], 220);
    let never = g["students"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user_id"] == 130)
        .unwrap()
        .clone();
    assert!(never.get("face_check").is_none(), "{never}");
    // Now covered by A2, the student's next check goes there.
    s.clear();
    face(&mut r, &mut s, 400, 100, "absent");
    assert_eq!(s.last(A2 as ConnId, "face_check")["outcome"], "absent");
}

mod churn {
    //! Random joins, drops, leaves, floors, watches, calls and subscriptions: after every
    //! input, each camera subscription the room has handed to the media side and not
    //! revoked is one the permission table allows now.

    use std::collections::{BTreeSet, HashMap};

    use proptest::prelude::*;

    use super::*;

    const USERS: [i64; 9] = [LECTURER, REGULATOR, A1, A2, 100, 101, 102, 130, 131];

    #[derive(Clone, Debug)]
    enum Op {
        Join(usize),
        Drop(usize),
        Leave(usize),
        Wait(i64),
        Send(usize, Act, usize),
    }

    #[derive(Clone, Copy, Debug)]
    enum Act {
        PublishCamera,
        Grant,
        Revoke,
        Watch,
        Unwatch,
        Invite,
        Accept,
        End,
        Subscribe,
    }

    fn op() -> impl Strategy<Value = Op> {
        let u = 0..USERS.len();
        let act = prop_oneof![
            1 => Just(Act::PublishCamera),
            1 => Just(Act::Grant),
            1 => Just(Act::Revoke),
            1 => Just(Act::Watch),
            1 => Just(Act::Unwatch),
            1 => Just(Act::Invite),
            1 => Just(Act::Accept),
            1 => Just(Act::End),
            3 => Just(Act::Subscribe),
        ];
        prop_oneof![
            3 => u.clone().prop_map(Op::Join),
            1 => u.clone().prop_map(Op::Drop),
            1 => u.clone().prop_map(Op::Leave),
            1 => (0i64..1500).prop_map(Op::Wait),
            8 => (u.clone(), act, u).prop_map(|(a, x, b)| Op::Send(a, x, b)),
        ]
    }

    fn message(act: Act, other: i64) -> ClientMessage {
        use ClientMessage as C;
        match act {
            Act::PublishCamera => C::Publish {
                track: TrackKind::Camera,
            },
            Act::Grant => C::GrantSpeaking { user_id: other },
            Act::Revoke => C::RevokeSpeaking { user_id: other },
            Act::Watch => C::Watch { user_id: other },
            Act::Unwatch => C::Unwatch { user_id: other },
            Act::Invite | Act::Accept | Act::End => C::PrivateCall {
                to: other,
                action: match act {
                    Act::Invite => CallAction::Invite,
                    Act::Accept => CallAction::Accept,
                    _ => CallAction::End,
                },
            },
            Act::Subscribe => C::MediaOffer {
                direction: MediaDirection::Subscribe,
                sdp: "v=0".into(),
                user_id: Some(other),
            },
        }
    }

    fn apply(out: Vec<Output>, active: &mut BTreeSet<(i64, i64)>) {
        for o in out {
            match o {
                Output::Media {
                    peer,
                    signal:
                        MediaSignal::Offer {
                            target: Some(p), ..
                        },
                } => {
                    active.insert((peer.user_id, p));
                }
                Output::MediaRevoke { viewer, publisher } => {
                    active.remove(&(viewer.user_id, publisher));
                }
                Output::MediaLeft(peer) => active.retain(|(v, _)| *v != peer.user_id),
                _ => {}
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn camera_subscriptions_never_outlive_the_right_to_them(
            ops in proptest::collection::vec(op(), 0..120),
        ) {
            let cfg = RoomConfig {
                resume_window_ms: 1000,
                ..RoomConfig::default()
            };
            let mut r = room_with(cfg);
            let mut now = 0;
            let mut next_conn: ConnId = 1000;
            let mut conn_of: HashMap<i64, ConnId> = HashMap::new();
            let mut active = BTreeSet::new();
            for op in ops {
                now += 1;
                let out = match op {
                    Op::Join(u) => {
                        let user = USERS[u];
                        next_conn += 1;
                        conn_of.insert(user, next_conn);
                        r.handle(now, Input::Join {
                            conn: next_conn,
                            who: Entrant { user_id: user, role: role_of(user), name: format!("u{user}") },
                            resume_token: None,
                            new_token: format!("t{next_conn}"),
                        })
                    }
                    Op::Drop(u) => match conn_of.remove(&USERS[u]) {
                        Some(conn) => r.handle(now, Input::Disconnected { conn }),
                        None => Vec::new(),
                    },
                    Op::Leave(u) => match conn_of.get(&USERS[u]) {
                        Some(&conn) => r.handle(now, Input::Message { conn, msg: ClientMessage::Leave }),
                        None => Vec::new(),
                    },
                    Op::Wait(ms) => {
                        now += ms;
                        r.tick(now)
                    }
                    Op::Send(a, act, b) => match conn_of.get(&USERS[a]) {
                        Some(&conn) => r.handle(now, Input::Message { conn, msg: message(act, USERS[b]) }),
                        None => Vec::new(),
                    },
                };
                apply(out, &mut active);
                for (v, p) in &active {
                    prop_assert!(
                        r.may_receive(*v, *p, TrackKind::Camera),
                        "{v} still holds {p}'s camera after {op:?}"
                    );
                    // Between students, only while the publisher holds the floor.
                    if role_of(*v) == Role::Student && role_of(*p) == Role::Student {
                        prop_assert!(r.participants[p].speaking);
                    }
                }
            }
        }
    }
}
