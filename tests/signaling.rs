//! Class rooms over real WebSockets (tokio-tungstenite clients against the in-process
//! server): each role, the silent regulator, private help, reconnection, bad input,
//! persistence of interactions, media negotiation with real WebRTC peers over the room's
//! socket, and face-check state for assistants.

mod common;

use std::time::Duration;

use common::{world, Engine, TestServer};
use futures_util::{SinkExt, StreamExt};
use ketang::store::{classes, sessions, users};
use serde_json::{json, Value};
use signaling::Role;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

macro_rules! on_both_engines {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::Engine::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::Engine::Postgres).await
            }
        }
    };
}

type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A WebSocket client that remembers everything it received.
struct Ws {
    ws: Stream,
    seen: Vec<Value>,
    closed: Option<(u16, String)>,
}

impl Ws {
    async fn connect(base: &str, token: &str) -> Ws {
        let mut req = format!("{}/ws", base.replace("http://", "ws://"))
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        let (ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
        Ws {
            ws,
            seen: Vec::new(),
            closed: None,
        }
    }

    async fn send(&mut self, v: Value) {
        self.ws
            .send(Message::Text(v.to_string().into()))
            .await
            .unwrap();
    }

    async fn send_raw(&mut self, text: String) {
        self.ws.send(Message::Text(text.into())).await.unwrap();
    }

    /// Next message, or None on close/timeout.
    async fn next(&mut self, wait: Duration) -> Option<Value> {
        loop {
            match tokio::time::timeout(wait, self.ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    self.seen.push(v.clone());
                    return Some(v);
                }
                Ok(Some(Ok(Message::Close(frame)))) => {
                    self.closed = frame.map(|f| (u16::from(f.code), f.reason.to_string()));
                    return None;
                }
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(_))) | Ok(None) | Err(_) => return None,
            }
        }
    }

    /// Waits for a message of `kind` matching `pred`.
    async fn expect(&mut self, kind: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Some(v) if v["type"] == kind && pred(&v) => return v,
                Some(_) => continue,
                None => panic!(
                    "no {kind} message; closed {:?}; seen {:#?}",
                    self.closed, self.seen
                ),
            }
        }
    }

    async fn expect_type(&mut self, kind: &str) -> Value {
        self.expect(kind, |_| true).await
    }

    /// Reads whatever arrives for `dur`.
    async fn drain(&mut self, dur: Duration) {
        let deadline = tokio::time::Instant::now() + dur;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() || self.next(left).await.is_none() {
                return;
            }
        }
    }

    async fn join(&mut self, class_id: i64) -> Value {
        self.send(json!({"type": "join", "class_id": class_id}))
            .await;
        let j = self.expect_type("joined").await;
        self.expect_type("participants").await;
        j
    }

    fn saw(&self, pred: impl Fn(&Value) -> bool) -> bool {
        self.seen.iter().any(pred)
    }

    /// Whether any message names `user` as a participant, sender, target or list member.
    fn mentions(&self, user: i64) -> bool {
        fn walk(v: &Value, user: i64) -> bool {
            match v {
                Value::Object(m) => m.iter().any(|(k, x)| {
                    (matches!(k.as_str(), "user_id" | "from" | "to" | "by") && x == user)
                        || walk(x, user)
                }),
                Value::Array(a) => a.iter().any(|x| walk(x, user) || x == user),
                _ => false,
            }
        }
        self.seen.iter().any(|v| walk(v, user))
    }
}

/// A live class: lecturer, two assistants, 45 students (ids in roster order; the first 23
/// are assistant 1's group, the rest assistant 2's), a regulator; bearer tokens for all.
struct Class {
    id: i64,
    lecturer: (i64, String),
    assistants: Vec<(i64, String)>,
    students: Vec<(i64, String)>,
    regulator: (i64, String),
    admin: String,
}

async fn live_class(s: &TestServer) -> Class {
    let w = world(s, 2).await;
    let mut tx = s.store().begin().await.unwrap();
    let id = classes::insert(
        &mut tx,
        &classes::NewClass {
            institution_id: w.institution_id,
            name: "直播班",
            course_type: classes::CourseType::Syb,
            lecturer_id: w.lecturer_id,
        },
    )
    .await
    .unwrap();
    let now = chrono::Utc::now();
    classes::add_session(
        &mut tx,
        id,
        now - chrono::Duration::minutes(5),
        now + chrono::Duration::hours(2),
    )
    .await
    .unwrap();
    classes::set_assistants(&mut tx, id, &w.assistant_ids)
        .await
        .unwrap();
    let mut students = Vec::new();
    for i in 0..45 {
        let name = format!("student-{i:02}");
        let uid = users::insert(
            &mut tx,
            &users::NewUser {
                username: &name,
                password_hash: "unused",
                role: Role::Student,
                display_name: &format!("学员{i}"),
                institution_id: Some(w.institution_id),
                jurisdiction: None,
                must_change_password: false,
            },
        )
        .await
        .unwrap();
        classes::enroll(&mut tx, id, uid).await.unwrap();
        let token = format!("student-token-{i}");
        sessions::insert(&mut tx, &token, uid, 3_600_000)
            .await
            .unwrap();
        students.push((uid, token));
    }
    for status in ["submitted", "filed", "live"] {
        classes::set_status(&mut tx, id, status.parse().unwrap(), None)
            .await
            .unwrap();
    }
    let mut assistants = Vec::new();
    for (n, aid) in w.assistant_ids.iter().enumerate() {
        let token = format!("assistant-token-{n}");
        sessions::insert(&mut tx, &token, *aid, 3_600_000)
            .await
            .unwrap();
        assistants.push((*aid, token));
    }
    tx.commit().await.unwrap();
    let me = |c: &common::Client| c.token.clone().unwrap();
    let (_, reg) = w.regulator.get("/api/me").await;
    Class {
        id,
        lecturer: (w.lecturer_id, me(&w.lecturer)),
        assistants,
        students,
        regulator: (reg["id"].as_i64().unwrap(), me(&w.regulator)),
        admin: me(&w.admin),
    }
}

async fn connect_joined(s: &TestServer, token: &str, class_id: i64) -> (Ws, Value) {
    let mut ws = Ws::connect(&s.base, token).await;
    ws.send(json!({"type": "hello", "version": 1})).await;
    ws.expect_type("welcome").await;
    let j = ws.join(class_id).await;
    (ws, j)
}

/// Waits until `sql` counts at least `n` rows.
async fn eventually(s: &TestServer, sql: &str, n: i64) -> i64 {
    let mut got = 0;
    for _ in 0..100 {
        got = sqlx::query_scalar(sql)
            .fetch_one(s.store().pool())
            .await
            .unwrap();
        if got >= n {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{sql}: {got} < {n}");
}

const SHORT: Duration = Duration::from_millis(300);

/// The regulator's list of live rooms counts the people in each room (never regulators).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_rooms_count_the_people_in_each_room() {
    let s = TestServer::start(Engine::Sqlite).await;
    let c = live_class(&s).await;
    let mut reg_http = s.client();
    reg_http.token = Some(c.regulator.1.clone());
    let online = |rooms: Value| rooms[0]["online"].clone();
    let (_, rooms) = reg_http.get("/api/supervision/rooms").await;
    assert_eq!(rooms[0]["class_id"], c.id);
    assert_eq!(online(rooms), 0);

    let (mut lecturer, _) = connect_joined(&s, &c.lecturer.1, c.id).await;
    let (_s1, _) = connect_joined(&s, &c.students[0].1, c.id).await;
    let (s2, _) = connect_joined(&s, &c.students[1].1, c.id).await;
    let (_reg, _) = connect_joined(&s, &c.regulator.1, c.id).await;
    lecturer.expect("presence", |p| p["online"] == 3).await;
    let (_, rooms) = reg_http.get("/api/supervision/rooms").await;
    assert_eq!(online(rooms), 3, "the regulator is not counted");

    // A student who leaves for good is no longer counted.
    let mut s2 = s2;
    s2.send(json!({"type": "leave"})).await;
    lecturer.expect("presence", |p| p["online"] == 2).await;
    let (_, rooms) = reg_http.get("/api/supervision/rooms").await;
    assert_eq!(online(rooms), 2);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_enters_and_the_regulator_is_invisible_and_silent() {
    let s = TestServer::start(Engine::Sqlite).await;
    let c = live_class(&s).await;
    let (mut lecturer, j) = connect_joined(&s, &c.lecturer.1, c.id).await;
    assert_eq!(j["role"], "lecturer");
    let (mut a1, j) = connect_joined(&s, &c.assistants[0].1, c.id).await;
    assert_eq!(j["role"], "assistant");
    let (mut st, j) = connect_joined(&s, &c.students[0].1, c.id).await;
    assert_eq!(j["role"], "student");
    assert_eq!(j["assistant_id"], c.assistants[0].0);
    lecturer.expect("presence", |p| p["online"] == 3).await;
    a1.expect("group", |g| {
        g["students"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["user_id"] == c.students[0].0 && m["online"] == true)
    })
    .await;

    let (mut reg, j) = connect_joined(&s, &c.regulator.1, c.id).await;
    assert_eq!(j["role"], "regulator");
    // The regulator sees the list and the count …
    let list = reg
        .seen
        .iter()
        .find(|v| v["type"] == "participants")
        .unwrap()
        .clone();
    assert_eq!(list["online"], 3);
    let ids: Vec<i64> = list["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["user_id"].as_i64().unwrap())
        .collect();
    assert!(!ids.contains(&c.regulator.0));
    // … and the interaction between lecturer and students.
    st.send(json!({"type": "raise_hand"})).await;
    reg.expect("hands", |h| h["queue"] == json!([c.students[0].0]))
        .await;
    lecturer
        .send(json!({"type": "grant_speaking", "user_id": c.students[0].0}))
        .await;
    reg.expect("speaking", |v| v["granted"] == true).await;
    st.send(json!({"type": "chat", "text": "老师好"})).await;
    reg.expect("chat", |v| v["text"] == "老师好").await;
    st.send(json!({"type": "ask", "text": "补贴怎么申请?"}))
        .await;
    let q = reg.expect_type("question").await;
    a1.send(json!({"type": "mark_answered", "question_id": q["id"]}))
        .await;
    reg.expect_type("question_answered").await;
    // A regulator may watch any student's camera.
    st.send(json!({"type": "publish", "track": "camera"})).await;
    reg.send(json!({"type": "watch", "user_id": c.students[0].0}))
        .await;
    reg.expect("track", |t| {
        t["user_id"] == c.students[0].0 && t["published"] == true
    })
    .await;

    // It may send nothing and publish nothing.
    for (msg, what) in [
        (json!({"type": "chat", "text": "我是监管"}), "send chat"),
        (json!({"type": "publish", "track": "camera"}), "publish"),
        (json!({"type": "publish", "track": "microphone"}), "publish"),
        (
            json!({"type": "media_offer", "direction": "publish", "sdp": "v=0"}),
            "publish",
        ),
        (json!({"type": "raise_hand"}), "raise"),
        (
            json!({"type": "private_chat", "to": c.students[0].0, "text": "hi"}),
            "private",
        ),
    ] {
        reg.send(msg.clone()).await;
        let e = reg.expect_type("error").await;
        assert_eq!(e["code"], "forbidden", "{msg}");
        assert!(
            e["message"]
                .as_str()
                .unwrap()
                .contains("regulators are silent"),
            "{what}: {e}"
        );
        assert_eq!(e["fatal"], false);
    }
    // Receiving media is allowed: the offer reaches the media server, which finds it
    // is not SDP.
    reg.send(json!({"type": "media_offer", "direction": "subscribe", "sdp": "v=0"}))
        .await;
    assert_eq!(reg.expect_type("error").await["code"], "malformed_sdp");

    // Nobody else ever heard of the regulator or of anything it sent.
    for ws in [&mut lecturer, &mut a1, &mut st] {
        ws.drain(SHORT).await;
        assert!(!ws.mentions(c.regulator.0), "{:#?}", ws.seen);
        assert!(!ws.saw(|v| v["text"] == "我是监管"));
        assert!(ws
            .seen
            .iter()
            .filter(|v| v["type"] == "presence" || v["type"] == "participants")
            .all(|v| v["online"].as_u64().unwrap() <= 3));
    }
    // Targeting the regulator finds nobody.
    lecturer
        .send(json!({"type": "remove", "user_id": c.regulator.0}))
        .await;
    assert_eq!(lecturer.expect_type("error").await["code"], "not_found");

    // Entry and exit are audited; the institution cannot read the audit log.
    reg.send(json!({"type": "leave"})).await;
    reg.drain(SHORT).await;
    assert_eq!(reg.closed.as_ref().map(|c| c.0), Some(1000));
    eventually(
        &s,
        "SELECT COUNT(*) FROM audit_log WHERE action IN ('room.regulator_entered', 'room.regulator_left', 'room.regulator_watched')",
        3,
    )
    .await;
    let n: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM interaction_events WHERE actor_role = 'regulator'",
    )
    .fetch_one(s.store().pool())
    .await
    .unwrap();
    assert_eq!(n, 0, "the regulator is not in the class's teaching data");
    let admin = common::Client {
        token: Some(c.admin.clone()),
        ..s.client()
    };
    let (status, _) = admin.get("/api/audit").await;
    assert_eq!(status, 403);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_student_never_receives_another_students_camera_or_private_chat() {
    let s = TestServer::start(Engine::Sqlite).await;
    let c = live_class(&s).await;
    let (mut lecturer, _) = connect_joined(&s, &c.lecturer.1, c.id).await;
    let (mut a1, _) = connect_joined(&s, &c.assistants[0].1, c.id).await;
    let (mut a2, _) = connect_joined(&s, &c.assistants[1].1, c.id).await;
    let (s0, s1, s30) = (&c.students[0], &c.students[1], &c.students[30]);
    let (mut st0, _) = connect_joined(&s, &s0.1, c.id).await;
    let (mut st1, _) = connect_joined(&s, &s1.1, c.id).await;
    let (mut st30, j) = connect_joined(&s, &s30.1, c.id).await;
    assert_eq!(j["assistant_id"], c.assistants[1].0);

    st0.send(json!({"type": "publish", "track": "camera"}))
        .await;
    lecturer
        .expect("track", |t| t["user_id"] == s0.0 && t["track"] == "camera")
        .await;
    a1.expect("track", |t| t["user_id"] == s0.0).await;
    // Classmates may not ask for it either.
    st1.send(json!({"type": "watch", "user_id": s0.0})).await;
    assert_eq!(st1.expect_type("error").await["code"], "forbidden");
    // Nor may another group's assistant.
    a2.send(json!({"type": "watch", "user_id": s0.0})).await;
    assert_eq!(a2.expect_type("error").await["code"], "forbidden");

    // Private help between assistant 1 and student 0.
    a1.send(json!({"type": "private_chat", "to": s0.0, "text": "摄像头有点暗"}))
        .await;
    st0.expect("private_chat", |m| m["from"] == c.assistants[0].0)
        .await;
    st0.send(json!({"type": "private_chat", "to": c.assistants[0].0, "text": "好的"}))
        .await;
    a1.expect("private_chat", |m| m["text"] == "好的").await;
    a1.send(json!({"type": "private_call", "to": s0.0, "action": "invite"}))
        .await;
    st0.expect("private_call", |m| m["action"] == "invite")
        .await;
    st0.send(json!({"type": "private_call", "to": c.assistants[0].0, "action": "accept"}))
        .await;
    a1.expect("private_call", |m| m["action"] == "accept").await;
    // Across groups, refused.
    a1.send(json!({"type": "private_chat", "to": s30.0, "text": "hi"}))
        .await;
    assert_eq!(a1.expect_type("error").await["code"], "forbidden");

    for ws in [&mut st1, &mut st30, &mut a2, &mut lecturer] {
        ws.drain(SHORT).await;
        assert!(!ws.saw(|v| v["type"] == "private_chat" || v["type"] == "private_call"));
    }
    for ws in [&st1, &st30, &a2] {
        assert!(
            !ws.saw(|v| v["type"] == "track" && v["user_id"] == s0.0),
            "{:#?}",
            ws.seen
        );
    }
    // Private chat is teaching data too.
    eventually(
        &s,
        "SELECT COUNT(*) FROM interaction_events WHERE kind = 'private_chat'",
        2,
    )
    .await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnection_within_and_after_the_window() {
    let s = TestServer::start_with(Engine::Sqlite, |c| c.rooms.resume_window_ms = 1500).await;
    let c = live_class(&s).await;
    let (mut lecturer, _) = connect_joined(&s, &c.lecturer.1, c.id).await;
    let (mut a1, _) = connect_joined(&s, &c.assistants[0].1, c.id).await;
    let me = &c.students[0];
    let (mut st, j) = connect_joined(&s, &me.1, c.id).await;
    let token = j["resume_token"].as_str().unwrap().to_string();
    assert_eq!(j["resume_window_ms"], 1500);
    // Presence is batched, hands are sent at once: wait for the presence first so the two
    // cannot arrive in either order.
    lecturer.expect("presence", |p| p["online"] == 3).await;
    st.send(json!({"type": "raise_hand"})).await;
    lecturer
        .expect("hands", |h| h["queue"] == json!([me.0]))
        .await;

    // Drop the socket and come back at once with the token.
    drop(st);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut st = Ws::connect(&s.base, &me.1).await;
    st.send(json!({"type": "join", "class_id": c.id, "resume_token": token}))
        .await;
    let j = st.expect_type("joined").await;
    assert_eq!(j["resumed"], true);
    assert_eq!(j["hands"], json!([me.0]), "same place in the queue");
    assert_eq!(j["assistant_id"], c.assistants[0].0, "same group");
    lecturer.drain(SHORT).await;
    assert!(
        !lecturer.saw(
            |v| v["type"] == "presence" && v["left"].as_array().unwrap().contains(&json!(me.0))
        ),
        "no leave announced"
    );
    let joins = lecturer
        .seen
        .iter()
        .filter(|v| v["type"] == "presence")
        .flat_map(|v| v["joined"].as_array().unwrap().clone())
        .filter(|p| p["user_id"] == me.0)
        .count();
    assert_eq!(joins, 1, "no duplicate entry");
    a1.drain(SHORT).await;

    // Drop again and stay away past the window.
    let token = j["resume_token"].as_str().unwrap().to_string();
    drop(st);
    lecturer
        .expect("presence", |p| {
            p["left"].as_array().unwrap().contains(&json!(me.0))
        })
        .await;
    // The hand went with the place (sent at once; presence comes in the batch).
    assert!(lecturer.saw(|h| h["type"] == "hands" && h["queue"] == json!([])));
    let mut st = Ws::connect(&s.base, &me.1).await;
    st.send(json!({"type": "join", "class_id": c.id, "resume_token": token}))
        .await;
    let e = st.expect_type("error").await;
    assert_eq!(e["code"], "resume_expired");
    let j = st.join(c.id).await;
    assert_eq!(j["resumed"], false);
    assert_eq!(j["hands"], json!([]));
    lecturer
        .expect("presence", |p| {
            p["joined"]
                .as_array()
                .unwrap()
                .iter()
                .any(|x| x["user_id"] == me.0)
        })
        .await;
    eventually(
        &s,
        "SELECT COUNT(*) FROM interaction_events WHERE kind IN ('resumed', 'left')",
        2,
    )
    .await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_account_twice_keeps_the_newest_connection() {
    let s = TestServer::start(Engine::Sqlite).await;
    let c = live_class(&s).await;
    let (mut lecturer, _) = connect_joined(&s, &c.lecturer.1, c.id).await;
    let me = &c.students[3];
    let (mut old, _) = connect_joined(&s, &me.1, c.id).await;
    lecturer.expect("presence", |p| p["online"] == 2).await;
    let (mut new, j) = connect_joined(&s, &me.1, c.id).await;
    assert_eq!(j["resumed"], true);
    let e = old.expect_type("error").await;
    assert_eq!(
        (e["code"].as_str(), e["fatal"].as_bool()),
        (Some("replaced"), Some(true))
    );
    old.drain(SHORT).await;
    let (code, reason) = old
        .closed
        .clone()
        .expect("old connection closed with a frame");
    assert_eq!(code, 4001);
    assert!(reason.contains("connected again"), "{reason}");
    new.send(json!({"type": "chat", "text": "换了手机"})).await;
    lecturer.expect("chat", |m| m["text"] == "换了手机").await;
    lecturer.drain(SHORT).await;
    let presence: Vec<&Value> = lecturer
        .seen
        .iter()
        .filter(|v| v["type"] == "presence")
        .collect();
    let entries = presence
        .iter()
        .flat_map(|p| p["joined"].as_array().unwrap())
        .filter(|p| p["user_id"] == me.0)
        .count();
    assert_eq!(entries, 1, "one entry: {presence:#?}");
    assert!(
        presence
            .iter()
            .all(|p| p["left"].as_array().unwrap().is_empty()),
        "no leave: {presence:#?}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_assistants_students_move_while_it_is_away_and_come_back() {
    let s = TestServer::start(Engine::Sqlite).await;
    let c = live_class(&s).await;
    let (a1, j1) = connect_joined(&s, &c.assistants[0].1, c.id).await;
    let (mut a2, _) = connect_joined(&s, &c.assistants[1].1, c.id).await;
    let me = &c.students[0];
    let (mut st, j) = connect_joined(&s, &me.1, c.id).await;
    assert_eq!(j["assistant_id"], c.assistants[0].0);
    drop(a1);
    st.expect("assistant", |a| a["assistant_id"] == c.assistants[1].0)
        .await;
    a2.expect("group", |g| {
        g["students"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["user_id"] == me.0 && m["home"] == false)
    })
    .await;
    // Covered, the student may ask the other assistant for help.
    st.send(json!({"type": "private_chat", "to": c.assistants[1].0, "text": "在吗"}))
        .await;
    a2.expect("private_chat", |m| m["from"] == me.0).await;
    // The assistant returns and takes its students back.
    let mut a1 = Ws::connect(&s.base, &c.assistants[0].1).await;
    a1.send(json!({"type": "join", "class_id": c.id, "resume_token": j1["resume_token"]}))
        .await;
    assert_eq!(a1.expect_type("joined").await["resumed"], true);
    st.expect("assistant", |a| a["assistant_id"] == c.assistants[0].0)
        .await;
    a1.expect("group", |g| g["students"].as_array().unwrap().len() == 23)
        .await;
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_an_error_and_leaves_the_room_unaffected() {
    let s = TestServer::start(Engine::Sqlite).await;
    let c = live_class(&s).await;
    let (mut lecturer, _) = connect_joined(&s, &c.lecturer.1, c.id).await;
    let (mut bad, _) = connect_joined(&s, &c.students[0].1, c.id).await;
    let (mut good, _) = connect_joined(&s, &c.students[1].1, c.id).await;

    bad.send_raw("{not json".into()).await;
    assert_eq!(bad.expect_type("error").await["code"], "malformed_json");
    bad.send(json!({"type": "shout", "text": "x"})).await;
    assert_eq!(bad.expect_type("error").await["code"], "unknown_type");
    bad.send(json!({"type": "chat"})).await;
    assert_eq!(bad.expect_type("error").await["code"], "bad_message");
    bad.send(json!({"type": "chat", "text": "x".repeat(100_000)}))
        .await;
    let e = bad.expect_type("error").await;
    assert_eq!(e["code"], "too_large");
    assert_eq!(e["fatal"], false);
    bad.send(json!({"type": "grant_speaking", "user_id": c.students[1].0}))
        .await;
    assert_eq!(bad.expect_type("error").await["code"], "forbidden");
    bad.send(json!({"type": "mute", "user_id": c.lecturer.0}))
        .await;
    assert_eq!(bad.expect_type("error").await["code"], "forbidden");
    // Still in the room and heard.
    bad.send(json!({"type": "chat", "text": "还在"})).await;
    lecturer.expect("chat", |m| m["text"] == "还在").await;
    // Flooding: refused, then disconnected with a reason.
    for i in 0..30 {
        bad.send(json!({"type": "chat", "text": format!("刷屏{i}")}))
            .await;
    }
    let e = bad.expect("error", |e| e["code"] == "rate_limited").await;
    assert!(e["message"].as_str().unwrap().contains("too many"));
    bad.expect("error", |e| e["code"] == "flooding").await;
    bad.drain(SHORT).await;
    assert_eq!(bad.closed.as_ref().map(|c| c.0), Some(4003));
    // The room carries on.
    good.send(json!({"type": "chat", "text": "正常发言"})).await;
    lecturer.expect("chat", |m| m["text"] == "正常发言").await;
    let floods = lecturer
        .seen
        .iter()
        .filter(|v| v["type"] == "chat" && v["from"] == c.students[0].0)
        .count();
    assert!(floods <= 5, "{floods} flood lines got through");
    // A frame above the transport limit closes that connection only.
    let (mut huge, _) = connect_joined(&s, &c.students[2].1, c.id).await;
    huge.send_raw("x".repeat(400_000)).await;
    huge.drain(SHORT).await;
    assert_eq!(huge.closed.as_ref().map(|c| c.0), Some(1009));
    good.send(json!({"type": "ping", "id": 5})).await;
    assert_eq!(good.expect_type("pong").await["id"], 5);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entry_is_refused_outside_ones_live_classes() {
    let s = TestServer::start(Engine::Sqlite).await;
    let c = live_class(&s).await;
    let mut admin = Ws::connect(&s.base, &c.admin).await;
    admin.send(json!({"type": "join", "class_id": c.id})).await;
    assert_eq!(admin.expect_type("error").await["code"], "forbidden");
    let mut st = Ws::connect(&s.base, &c.students[0].1).await;
    st.send(json!({"type": "join", "class_id": 999})).await;
    assert_eq!(st.expect_type("error").await["code"], "not_found");
    st.send(json!({"type": "chat", "text": "hi"})).await;
    assert_eq!(st.expect_type("error").await["code"], "not_joined");
    let mut conn = s.store().conn().await.unwrap();
    classes::set_status(&mut conn, c.id, "finished".parse().unwrap(), None)
        .await
        .unwrap();
    drop(conn);
    st.send(json!({"type": "join", "class_id": c.id})).await;
    assert_eq!(st.expect_type("error").await["code"], "class_not_live");
    st.send(json!({"type": "hello", "version": 2})).await;
    st.drain(SHORT).await;
    assert_eq!(st.closed.as_ref().map(|c| c.0), Some(1002));
    s.stop().await;
}

async fn interactions_are_teaching_data(engine: Engine) {
    let s = TestServer::start(engine).await;
    let c = live_class(&s).await;
    let (mut lecturer, _) = connect_joined(&s, &c.lecturer.1, c.id).await;
    let (mut st, _) = connect_joined(&s, &c.students[0].1, c.id).await;
    let (mut other, _) = connect_joined(&s, &c.students[1].1, c.id).await;
    st.send(json!({"type": "raise_hand"})).await;
    lecturer.expect_type("hands").await;
    lecturer
        .send(json!({"type": "grant_speaking", "user_id": c.students[0].0}))
        .await;
    st.expect("speaking", |v| v["granted"] == true).await;
    st.send(json!({"type": "publish", "track": "microphone"}))
        .await;
    other
        .expect("track", |t| {
            t["user_id"] == c.students[0].0 && t["track"] == "microphone"
        })
        .await;
    lecturer
        .send(json!({"type": "revoke_speaking", "user_id": c.students[0].0}))
        .await;
    other
        .expect("track", |t| {
            t["user_id"] == c.students[0].0 && t["published"] == false
        })
        .await;
    st.send(json!({"type": "chat", "text": "商业计划书什么时候交"}))
        .await;
    st.send(json!({"type": "ask", "text": "考试几道题?"})).await;
    let q = lecturer.expect_type("question").await;
    lecturer
        .send(json!({"type": "mark_answered", "question_id": q["id"]}))
        .await;
    lecturer
        .send(json!({"type": "mute", "user_id": c.students[1].0}))
        .await;
    lecturer
        .send(json!({"type": "remove", "user_id": c.students[1].0}))
        .await;
    let e = other.expect("error", |e| e["code"] == "removed").await;
    assert_eq!(e["fatal"], true);
    lecturer
        .expect("removed", |r| r["user_id"] == c.students[1].0)
        .await;
    let kinds = [
        "joined",
        "hand_raised",
        "speaking_granted",
        "speaking_revoked",
        "chat",
        "question",
        "question_answered",
        "muted",
        "removed",
        "left",
    ];
    for k in kinds {
        eventually(
            &s,
            &format!(
                "SELECT COUNT(*) FROM interaction_events WHERE kind = '{k}' AND class_id = {}",
                c.id
            ),
            1,
        )
        .await;
    }
    let mut conn = s.store().conn().await.unwrap();
    let rows = ketang::store::interactions::list_for_class(&mut conn, c.id)
        .await
        .unwrap();
    let chat = rows.iter().find(|r| r.kind == "chat").unwrap();
    assert_eq!(chat.actor_id, c.students[0].0);
    assert_eq!(chat.detail["text"], "商业计划书什么时候交");
    let removed = rows.iter().find(|r| r.kind == "removed").unwrap();
    assert_eq!(
        (removed.actor_id, removed.target_id),
        (c.lecturer.0, Some(c.students[1].0))
    );
    drop(conn);
    s.stop().await;
}
on_both_engines!(interactions_are_teaching_data);

/// Sends a media offer over the room socket and returns the server's answer (or error).
async fn negotiate(ws: &mut Ws, direction: &str, sdp: String, user_id: Option<i64>) -> Value {
    let mut msg = json!({"type": "media_offer", "direction": direction, "sdp": sdp});
    if let Some(u) = user_id {
        msg["user_id"] = json!(u);
    }
    ws.send(msg).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        match ws.next(left).await {
            Some(v) if v["type"] == "media_answer" || v["type"] == "error" => return v,
            Some(_) => continue,
            None => panic!("no media answer; closed {:?}", ws.closed),
        }
    }
}

/// Publishes over the room socket and starts sending; returns the running publisher.
async fn publish_over_ws(
    ws: &mut Ws,
    videos: usize,
    audio: bool,
    index_base: u64,
    until: std::time::Instant,
) -> tokio::task::JoinHandle<media::client::ClientPublisher> {
    let cfg = media::MediaConfig::default();
    let p = media::client::ClientPublisher::new(&cfg, videos, audio)
        .await
        .unwrap();
    let a = negotiate(ws, "publish", p.peer.offer().await.unwrap(), None).await;
    assert_eq!(a["type"], "media_answer", "{a}");
    assert_eq!(a["direction"], "publish");
    assert!(a["session"].as_u64().is_some(), "{a}");
    p.peer.accept(a["sdp"].as_str().unwrap()).await.unwrap();
    assert!(p.peer.wait_connected(Duration::from_secs(10)).await);
    tokio::spawn(async move {
        let opts = media::client::RunOptions {
            fps: 15,
            frame_packets: 2,
            packet_len: 400,
            index_base,
            undeclared: false,
        };
        p.run(until, opts).await;
        p
    })
}

/// Subscribes over the room socket; returns the connected subscriber and the answer.
async fn subscribe_over_ws(
    ws: &mut Ws,
    user_id: Option<i64>,
) -> (media::client::ClientSubscriber, Value) {
    let cfg = media::MediaConfig::default();
    let audio = user_id.is_none();
    let sub = media::client::ClientSubscriber::new(&cfg, 1, audio, true)
        .await
        .unwrap();
    let a = negotiate(ws, "subscribe", sub.peer.offer().await.unwrap(), user_id).await;
    assert_eq!(a["type"], "media_answer", "{a}");
    assert_eq!(a["direction"], "subscribe");
    sub.peer.accept(a["sdp"].as_str().unwrap()).await.unwrap();
    assert!(sub.peer.wait_connected(Duration::from_secs(10)).await);
    (sub, a)
}

/// Video packet indexes a subscriber has received so far, once it has some.
async fn video_indexes(sub: &media::client::ClientSubscriber) -> Vec<u64> {
    for _ in 0..200 {
        let got: Vec<u64> = sub
            .snapshot()
            .iter()
            .filter(|r| r.video)
            .flat_map(|r| r.indexes.clone())
            .collect();
        if got.len() >= 10 {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no video arrived: {:?}", sub.snapshot());
}

const LECTURE: u64 = 0;
const STUDENT_CAM: u64 = 1 << 40;
const ASSISTANT_CAM: u64 = 2 << 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn media_negotiation_runs_over_the_room_socket_under_the_permission_table() {
    let s = TestServer::start(Engine::Sqlite).await;
    let c = live_class(&s).await;
    let (mut lecturer, _) = connect_joined(&s, &c.lecturer.1, c.id).await;
    let (mut a1, _) = connect_joined(&s, &c.assistants[0].1, c.id).await;
    let (mut a2, _) = connect_joined(&s, &c.assistants[1].1, c.id).await;
    let (s0, s1, s30) = (&c.students[0], &c.students[1], &c.students[30]);
    let (mut st0, _) = connect_joined(&s, &s0.1, c.id).await;
    let (mut st1, _) = connect_joined(&s, &s1.1, c.id).await;
    let (mut st30, _) = connect_joined(&s, &s30.1, c.id).await;
    let (mut reg, _) = connect_joined(&s, &c.regulator.1, c.id).await;
    let until = std::time::Instant::now() + Duration::from_secs(40);

    // The lecturer publishes over the socket; a student receives the lecture.
    let lecture = publish_over_ws(&mut lecturer, 1, true, LECTURE, until).await;
    let (st1_lecture, _) = subscribe_over_ws(&mut st1, None).await;
    assert!(video_indexes(&st1_lecture)
        .await
        .iter()
        .all(|i| *i < STUDENT_CAM));

    // A student publishes their camera; their assistant receives it …
    st0.send(json!({"type": "publish", "track": "camera"}))
        .await;
    a1.expect("track", |t| t["user_id"] == s0.0 && t["published"] == true)
        .await;
    let cam = publish_over_ws(&mut st0, 1, false, STUDENT_CAM, until).await;
    let (a1_view, a) = subscribe_over_ws(&mut a1, Some(s0.0)).await;
    assert_eq!(a["user_id"], s0.0);
    let got = video_indexes(&a1_view).await;
    assert!(
        got.iter().all(|i| (STUDENT_CAM..ASSISTANT_CAM).contains(i)),
        "{got:?}"
    );
    // … a regulator who asked for it receives it …
    reg.send(json!({"type": "watch", "user_id": s0.0})).await;
    reg.expect("track", |t| t["user_id"] == s0.0).await;
    let (reg_view, _) = subscribe_over_ws(&mut reg, Some(s0.0)).await;
    assert!(video_indexes(&reg_view)
        .await
        .iter()
        .all(|i| (STUDENT_CAM..ASSISTANT_CAM).contains(i)));
    // … and no other student, nor another group's assistant, may have it.
    for ws in [&mut st1, &mut st30, &mut a2] {
        let sub =
            media::client::ClientSubscriber::new(&media::MediaConfig::default(), 1, false, true)
                .await
                .unwrap();
        let e = negotiate(ws, "subscribe", sub.peer.offer().await.unwrap(), Some(s0.0)).await;
        assert_eq!(
            (e["type"].as_str(), e["code"].as_str()),
            (Some("error"), Some("forbidden")),
            "{e}"
        );
    }

    // A private call: the assistant's camera reaches the student in the call, nobody else.
    a1.send(json!({"type": "private_call", "to": s0.0, "action": "invite"}))
        .await;
    st0.expect("private_call", |m| m["action"] == "invite")
        .await;
    st0.send(json!({"type": "private_call", "to": c.assistants[0].0, "action": "accept"}))
        .await;
    a1.expect("private_call", |m| m["action"] == "accept").await;
    let a1_cam = publish_over_ws(&mut a1, 1, false, ASSISTANT_CAM, until).await;
    let (call_view, call) = subscribe_over_ws(&mut st0, Some(c.assistants[0].0)).await;
    assert!(video_indexes(&call_view)
        .await
        .iter()
        .all(|i| *i >= ASSISTANT_CAM));
    for ws in [&mut st1, &mut lecturer, &mut reg] {
        let sub =
            media::client::ClientSubscriber::new(&media::MediaConfig::default(), 1, false, true)
                .await
                .unwrap();
        let e = negotiate(
            ws,
            "subscribe",
            sub.peer.offer().await.unwrap(),
            Some(c.assistants[0].0),
        )
        .await;
        assert_eq!(e["code"], "forbidden", "{e}");
    }
    // Hanging up closes the student's view of the assistant.
    a1.send(json!({"type": "private_call", "to": s0.0, "action": "end"}))
        .await;
    let closed = st0.expect_type("media_closed").await;
    assert_eq!(closed["session"], call["session"]);

    // The lecture subscriber never got anything but the lecture.
    let lecture_seen: Vec<u64> = st1_lecture
        .snapshot()
        .iter()
        .flat_map(|r| r.indexes.clone())
        .collect();
    assert!(lecture_seen.iter().all(|i| *i < STUDENT_CAM));
    // Bad SDP over the socket: an error, the connection stays.
    st1.send(json!({"type": "media_offer", "direction": "publish", "sdp": "hello"}))
        .await;
    assert_eq!(st1.expect_type("error").await["code"], "malformed_sdp");
    st1.send(json!({"type": "ping", "id": 9})).await;
    assert_eq!(st1.expect_type("pong").await["id"], 9);
    for h in [lecture, cam, a1_cam] {
        h.abort();
    }
    s.stop().await;
}

/// Offers to receive `user_id`'s camera with sound; the answer or the error.
async fn offer_with_sound(ws: &mut Ws, user_id: i64) -> (media::client::ClientSubscriber, Value) {
    let sub = media::client::ClientSubscriber::new(&media::MediaConfig::default(), 1, true, true)
        .await
        .unwrap();
    let a = negotiate(
        ws,
        "subscribe",
        sub.peer.offer().await.unwrap(),
        Some(user_id),
    )
    .await;
    if a["type"] == "media_answer" {
        sub.peer.accept(a["sdp"].as_str().unwrap()).await.unwrap();
        assert!(sub.peer.wait_connected(Duration::from_secs(10)).await);
    }
    (sub, a)
}

/// Audio packets a subscriber has received, once some came (0 after 3 s of nothing).
async fn audio_packets(sub: &media::client::ClientSubscriber) -> u64 {
    for _ in 0..60 {
        let n: u64 = sub
            .snapshot()
            .iter()
            .filter(|r| !r.video)
            .map(|r| r.packets)
            .sum();
        if n >= 5 {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    0
}

/// A student's microphone is heard by the whole room only while they hold the floor, and by
/// their assistant only during a private call; the right ends, the sound ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_students_microphone_is_heard_only_on_the_floor_and_in_a_call() {
    let s = TestServer::start(Engine::Sqlite).await;
    let c = live_class(&s).await;
    let (mut lecturer, _) = connect_joined(&s, &c.lecturer.1, c.id).await;
    let (mut a1, _) = connect_joined(&s, &c.assistants[0].1, c.id).await;
    let (s0, s1) = (&c.students[0], &c.students[1]);
    let (mut st0, _) = connect_joined(&s, &s0.1, c.id).await;
    let (mut st1, _) = connect_joined(&s, &s1.1, c.id).await;
    let until = std::time::Instant::now() + Duration::from_secs(40);
    st0.send(json!({"type": "publish", "track": "camera"}))
        .await;
    // One publication carries camera and microphone; who hears it is the room's decision.
    let cam = publish_over_ws(&mut st0, 1, true, STUDENT_CAM, until).await;

    // Nobody hears the student yet: the assistant may watch, but not listen.
    for ws in [&mut a1, &mut lecturer] {
        let (_, e) = offer_with_sound(ws, s0.0).await;
        assert_eq!(e["code"], "forbidden", "{e}");
        assert!(e["message"].as_str().unwrap().contains("video only"), "{e}");
    }
    // Nor through the HTTP endpoint, which does not know who holds the floor.
    let mut http = s.client();
    http.token = Some(c.lecturer.1.clone());
    let sub = media::client::ClientSubscriber::new(&media::MediaConfig::default(), 1, true, true)
        .await
        .unwrap();
    let (st, body) = http
        .post(
            &format!("/api/rooms/{}/subscribe", c.id),
            json!({"sdp": sub.peer.offer().await.unwrap(), "student_id": s0.0}),
        )
        .await;
    assert_eq!(st, reqwest::StatusCode::FORBIDDEN, "{body}");

    // Given the floor, a classmate hears them; taken back, the sound ends.
    st0.send(json!({"type": "raise_hand"})).await;
    lecturer.expect_type("hands").await;
    lecturer
        .send(json!({"type": "grant_speaking", "user_id": s0.0}))
        .await;
    st1.expect("speaking", |m| m["granted"] == true).await;
    let (floor_view, a) = offer_with_sound(&mut st1, s0.0).await;
    assert_eq!(a["type"], "media_answer", "{a}");
    assert!(audio_packets(&floor_view).await > 0, "the floor is heard");
    lecturer
        .send(json!({"type": "revoke_speaking", "user_id": s0.0}))
        .await;
    let closed = st1.expect_type("media_closed").await;
    assert_eq!(closed["session"], a["session"]);

    // In a private call the assistant hears the student; hanging up ends it.
    a1.send(json!({"type": "private_call", "to": s0.0, "action": "invite"}))
        .await;
    st0.expect("private_call", |m| m["action"] == "invite")
        .await;
    st0.send(json!({"type": "private_call", "to": c.assistants[0].0, "action": "accept"}))
        .await;
    a1.expect("private_call", |m| m["action"] == "accept").await;
    let (call_view, a) = offer_with_sound(&mut a1, s0.0).await;
    assert_eq!(a["type"], "media_answer", "{a}");
    assert!(audio_packets(&call_view).await > 0, "the call is heard");
    let (_, e) = offer_with_sound(&mut st1, s0.0).await;
    assert_eq!(
        e["code"], "forbidden",
        "a classmate does not hear the call: {e}"
    );
    a1.send(json!({"type": "private_call", "to": s0.0, "action": "end"}))
        .await;
    let closed = a1.expect_type("media_closed").await;
    assert_eq!(closed["session"], a["session"]);
    cam.abort();
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn face_checks_reach_the_students_assistant_lecturer_and_regulators_only() {
    let s = TestServer::start(Engine::Sqlite).await;
    let c = live_class(&s).await;
    assert!(
        !s.state
            .rooms
            .report_face_check(c.id, c.students[0].0, "match", false, 1),
        "no room yet"
    );
    let (mut lecturer, _) = connect_joined(&s, &c.lecturer.1, c.id).await;
    let (mut a1, _) = connect_joined(&s, &c.assistants[0].1, c.id).await;
    let (mut a2, _) = connect_joined(&s, &c.assistants[1].1, c.id).await;
    let me = &c.students[0];
    let (mut st0, _) = connect_joined(&s, &me.1, c.id).await;
    let (mut st1, _) = connect_joined(&s, &c.students[1].1, c.id).await;
    let (mut st30, _) = connect_joined(&s, &c.students[30].1, c.id).await;
    let (mut reg, _) = connect_joined(&s, &c.regulator.1, c.id).await;
    a1.expect("group", |g| {
        g["students"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["user_id"] == me.0 && m["online"] == true)
    })
    .await;

    assert!(s
        .state
        .rooms
        .report_face_check(c.id, me.0, "mismatch", true, 1_767_225_600_000));
    for ws in [&mut a1, &mut lecturer, &mut reg] {
        let m = ws.expect_type("face_check").await;
        assert_eq!(m["student_id"], me.0);
        assert_eq!(m["outcome"], "mismatch");
        assert_eq!(m["at_ms"], 1_767_225_600_000_i64);
        assert_eq!(m["suspect_static"], true);
    }
    for ws in [&mut st0, &mut st1, &mut st30, &mut a2] {
        ws.drain(SHORT).await;
        assert!(!ws.saw(|v| v["type"] == "face_check"), "{:#?}", ws.seen);
    }

    // The assistant goes; the student is covered by the other one, whose group list
    // shows the last check.
    drop(a1);
    let g = a2
        .expect("group", |g| {
            g["students"]
                .as_array()
                .unwrap()
                .iter()
                .any(|m| m["user_id"] == me.0)
        })
        .await;
    let member = g["students"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["user_id"] == me.0)
        .unwrap()
        .clone();
    assert_eq!(member["home"], false);
    assert_eq!(member["face_check"]["outcome"], "mismatch");
    assert_eq!(member["face_check"]["suspect_static"], true);
    assert!(s
        .state
        .rooms
        .report_face_check(c.id, me.0, "match", false, 1_767_225_900_000));
    let m = a2.expect_type("face_check").await;
    assert_eq!(
        (m["student_id"].as_i64(), m["outcome"].as_str()),
        (Some(me.0), Some("match"))
    );
    for ws in [&mut st0, &mut st1, &mut st30] {
        ws.drain(SHORT).await;
        assert!(!ws.saw(|v| v["type"] == "face_check"));
    }
    s.stop().await;
}

async fn the_interaction_record_is_read_over_http_a_page_at_a_time(engine: Engine) {
    let s = TestServer::start(engine).await;
    let c = live_class(&s).await;
    let (mut lecturer, _) = connect_joined(&s, &c.lecturer.1, c.id).await;
    let (mut a1, _) = connect_joined(&s, &c.assistants[0].1, c.id).await;
    let me = &c.students[0];
    let (mut st, _) = connect_joined(&s, &me.1, c.id).await;
    for i in 0..3 {
        st.send(json!({"type": "chat", "text": format!("第{i}句")}))
            .await;
    }
    st.send(json!({"type": "ask", "text": "证书怎么领?"})).await;
    st.send(json!({"type": "raise_hand"})).await;
    lecturer.expect_type("hands").await;
    lecturer
        .send(json!({"type": "grant_speaking", "user_id": me.0}))
        .await;
    a1.send(json!({"type": "private_chat", "to": me.0, "text": "私聊内容"}))
        .await;
    st.expect("private_chat", |m| m["text"] == "私聊内容").await;
    // 3 joined + 3 chat + question + hand + grant + private chat.
    let total = eventually(
        &s,
        &format!(
            "SELECT COUNT(*) FROM interaction_events WHERE class_id = {}",
            c.id
        ),
        10,
    )
    .await;
    let client = |token: &str| common::Client {
        token: Some(token.to_string()),
        ..s.client()
    };
    let path = format!("/api/classes/{}/interactions", c.id);

    // The lecturer pages through everything but the private help, in order.
    let lect = client(&c.lecturer.1);
    let mut items: Vec<Value> = Vec::new();
    let mut after = 0;
    let mut pages = 0;
    loop {
        let (st, page) = lect.get(&format!("{path}?limit=3&after={after}")).await;
        assert_eq!(st, 200, "{page}");
        pages += 1;
        let got = page["items"].as_array().unwrap();
        assert!(got.len() <= 3);
        items.extend(got.iter().cloned());
        match page["next_after"].as_i64() {
            Some(n) => after = n,
            None => break,
        }
    }
    assert_eq!(items.len() as i64, total - 1, "all but the private chat");
    assert!(pages >= 3);
    let ids: Vec<i64> = items.iter().map(|i| i["id"].as_i64().unwrap()).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    assert!(!items.iter().any(|i| i["kind"] == "private_chat"));
    let chats: Vec<&Value> = items.iter().filter(|i| i["kind"] == "chat").collect();
    assert_eq!(chats.len(), 3);
    assert_eq!(chats[0]["detail"]["text"], "第0句");
    assert_eq!(chats[0]["actor_id"], me.0);
    assert_eq!(chats[0]["actor_role"], "student");
    let grant = items
        .iter()
        .find(|i| i["kind"] == "speaking_granted")
        .unwrap();
    assert_eq!(
        (grant["actor_id"].as_i64(), grant["target_id"].as_i64()),
        (Some(c.lecturer.0), Some(me.0))
    );
    // Filters.
    let (_, q) = lect.get(&format!("{path}?kind=question")).await;
    let q = q["items"].as_array().unwrap();
    assert_eq!(q.len(), 1);
    assert_eq!(q[0]["detail"]["text"], "证书怎么领?");

    // The institution's admin and a regulator of the jurisdiction see the private help too.
    let admin = client(&c.admin);
    let reg = client(&c.regulator.1);
    for who in [&admin, &reg] {
        let (st, page) = who.get(&format!("{path}?limit=1000")).await;
        assert_eq!(st, 200, "{page}");
        let all = page["items"].as_array().unwrap();
        assert_eq!(all.len() as i64, total);
        assert!(page["next_after"].is_null());
        let private = all.iter().find(|i| i["kind"] == "private_chat").unwrap();
        assert_eq!(private["detail"]["text"], "私聊内容");
    }
    // Bad paging is a clear 400.
    for q in ["limit=0", "limit=1001", "after=-1"] {
        let (st, body) = lect.get(&format!("{path}?{q}")).await;
        assert_eq!(st, 400, "{q}: {body}");
    }
    let (st, _) = lect.get(&format!("{path}?page=2")).await;
    assert_eq!(st, 400, "unknown query fields are refused");
    // Out of scope: 404; roles the table refuses: 403.
    for (user, want) in [("other-admin", 404), ("far-regulator", 404)] {
        let other = s.login(user, "password-123").await;
        let (st, body) = other.get(&path).await;
        assert_eq!(st, want, "{user}: {body}");
    }
    for token in [&c.assistants[0].1, &me.1] {
        let (st, _) = client(token).get(&path).await;
        assert_eq!(st, 403);
    }
    let (st, _) = lect.get("/api/classes/999999/interactions").await;
    assert_eq!(st, 404);
    s.stop().await;
}
on_both_engines!(the_interaction_record_is_read_over_http_a_page_at_a_time);
