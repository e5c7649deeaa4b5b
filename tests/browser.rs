//! Browser end to end in Debian's headless Chromium (driven over the DevTools protocol,
//! no downloaded browser): the lecturer's page publishes the fake camera through the SFU
//! and a student's page decodes it.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::*;
use futures_util::{SinkExt, StreamExt};
use ketang::demo::{self, DEMO_PASSWORD};
use serde_json::{json, Value};
use signaling::Role;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio_tungstenite::tungstenite::Message;

const CHROMIUM: &str = "/usr/bin/chromium";

struct Cdp {
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
    next: u64,
}

impl Cdp {
    async fn call(&mut self, method: &str, params: Value, session: Option<&str>) -> Value {
        self.next += 1;
        let id = self.next;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        self.ws
            .send(Message::Text(msg.to_string().into()))
            .await
            .unwrap();
        loop {
            let m = tokio::time::timeout(Duration::from_secs(30), self.ws.next())
                .await
                .expect("DevTools answers")
                .unwrap()
                .unwrap();
            let Message::Text(t) = m else { continue };
            let v: Value = serde_json::from_str(&t).unwrap();
            if v["id"] == id {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
        }
    }

    async fn open(&mut self, url: &str) -> String {
        let t = self
            .call("Target.createTarget", json!({"url": url}), None)
            .await;
        let a = self
            .call(
                "Target.attachToTarget",
                json!({"targetId": t["targetId"], "flatten": true}),
                None,
            )
            .await;
        a["sessionId"].as_str().unwrap().to_string()
    }

    async fn eval(&mut self, session: &str, expr: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expr, "awaitPromise": true, "returnByValue": true}),
                Some(session),
            )
            .await;
        r["result"]["value"].clone()
    }
}

/// Starts headless Chromium with the project's flags (plus `extra`) and a fresh profile,
/// connected over DevTools. Keep the profile directory alive while the browser runs.
async fn launch(extra: &[String]) -> (tokio::process::Child, Cdp, tempfile::TempDir) {
    assert!(
        std::path::Path::new(CHROMIUM).exists(),
        "this test needs Debian's chromium (apt-get install chromium)"
    );
    let profile = tempfile::tempdir().unwrap();
    let mut chromium = tokio::process::Command::new(CHROMIUM)
        .args([
            "--headless",
            "--use-fake-device-for-media-stream",
            "--use-fake-ui-for-media-stream",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--remote-debugging-port=0",
            "about:blank",
        ])
        .args(extra)
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("chromium starts");
    let mut lines = BufReader::new(chromium.stderr.take().unwrap()).lines();
    let ws_url = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(l) = lines.next_line().await.unwrap() {
            if let Some(u) = l.split("DevTools listening on ").nth(1) {
                return u.trim().to_string();
            }
        }
        panic!("chromium exited without a DevTools address");
    })
    .await
    .expect("chromium prints its DevTools address");
    // Keep draining its log so it never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    let (ws, _) = tokio_tungstenite::connect_async(ws_url.as_str())
        .await
        .unwrap();
    (chromium, Cdp { ws, next: 0 }, profile)
}

/// The login name of a class's lecturer.
async fn lecturer_username(server: &TestServer, class: i64) -> String {
    let mut conn = server.store().conn().await.unwrap();
    let c = ketang::store::classes::get(&mut conn, class)
        .await
        .unwrap()
        .unwrap();
    ketang::store::users::get(&mut conn, c.lecturer_id)
        .await
        .unwrap()
        .unwrap()
        .username
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_student_page_decodes_the_lecturers_fake_camera() {
    let server = TestServer::start(Engine::Sqlite).await;
    let report = demo::seed(&server.state, 1, 2).await.unwrap();
    let class = report.live_classes[0].0;
    let lecturer_name = lecturer_username(&server, class).await;
    let student_name = report
        .accounts
        .iter()
        .find(|a| a.role == Role::Student && a.class == Some(class))
        .unwrap()
        .username
        .clone();
    let lecturer = server.login(&lecturer_name, DEMO_PASSWORD).await;
    let student = server.login(&student_name, DEMO_PASSWORD).await;

    let (mut chromium, mut cdp, _profile) = launch(&[]).await;

    let page = |token: &str, mode: &str| {
        format!(
            "{}/live.html#class={class}&token={token}&mode={mode}",
            server.base
        )
    };
    let lect = cdp
        .open(&page(lecturer.token.as_deref().unwrap(), "lecture"))
        .await;
    let watch = cdp
        .open(&page(student.token.as_deref().unwrap(), "watch"))
        .await;

    let t0 = Instant::now();
    let mut frames = 0;
    while t0.elapsed() < Duration::from_secs(40) {
        frames = cdp
            .eval(&watch, "window.ketangFrames ? window.ketangFrames() : 0")
            .await
            .as_u64()
            .unwrap_or(0);
        if frames > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let lect_status = cdp.eval(&lect, "window.ketangStatus").await;
    let watch_status = cdp.eval(&watch, "window.ketangStatus").await;
    assert!(
        frames > 0,
        "student decoded no frame in 40 s (lecturer: {lect_status}, student: {watch_status})"
    );
    assert_eq!(watch_status, "connection connected");
    let sent = cdp
        .eval(&lect, "window.ketangFrames()")
        .await
        .as_u64()
        .unwrap_or(0);
    assert!(sent > 0, "the lecturer's page encoded frames");

    // The student's page publishes the camera; the frame tap decodes a keyframe of it.
    let student_id = student.get("/api/me").await.1["id"].as_i64().unwrap();
    let cam = cdp
        .open(&page(student.token.as_deref().unwrap(), "camera"))
        .await;
    let t0 = Instant::now();
    let image = loop {
        match server
            .state
            .sfu
            .next_keyframe(class, student_id, Duration::from_secs(10))
            .await
        {
            Ok(img) => break img,
            Err(e) if t0.elapsed() < Duration::from_secs(30) => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
            Err(e) => panic!(
                "no frame from the student's camera: {e} (page: {})",
                cdp.eval(&cam, "window.ketangStatus").await
            ),
        }
    };
    assert_eq!(
        (image.width, image.height),
        (320, 240),
        "the low-resolution camera"
    );
    assert_eq!(image.rgb.len(), 320 * 240 * 3);
    let distinct: std::collections::HashSet<&[u8]> = image.rgb.chunks(3).collect();
    assert!(
        distinct.len() > 16,
        "a real picture, not a flat fill ({} colours)",
        distinct.len()
    );
    // And the lecture watcher never receives it: its page still shows one video track.
    let tracks = cdp
        .eval(
            &watch,
            "window.ketangPc.getReceivers().filter(r => r.track.kind === 'video').length",
        )
        .await;
    assert_eq!(tracks, 1);
    let _ = chromium.kill().await;
    server.stop().await;
}

fn test_image(name: &str) -> Vec<u8> {
    let dir = std::env::var_os("KETANG_TEST_IMAGES")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/test_images")
        });
    std::fs::read(dir.join(name)).expect("run scripts/setup.sh")
}

/// Waits until `sql` (one bound class id) counts at least one row.
async fn rows(server: &TestServer, sql: &str, class: i64, within: Duration) -> i64 {
    let t0 = Instant::now();
    loop {
        let n: i64 = sqlx::query_scalar(sql)
            .bind(class)
            .fetch_one(server.store().pool())
            .await
            .unwrap();
        if n > 0 || t0.elapsed() > within {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The whole live path with a real face: Chromium's camera plays a photo of a student
/// (a Motion-JPEG file as the fake capture device); the lecturer's page publishes, the
/// student's pages watch and publish the camera. The server records live time and watch
/// time from the SFU's signals, and its face sampler takes frames from the SFU's tap,
/// verifies them against the enrollment and records `match`; a classmate who never came
/// is recorded `absent`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_time_watch_time_and_face_checks_from_a_real_camera() {
    let server = TestServer::start_with(Engine::Sqlite, |c| {
        if let Some(m) = std::env::var_os("KETANG_MODELS") {
            c.face.models_dir = m.into();
        }
        c.face.workers = 1;
        c.face.session_scan_secs = 1;
        c.face.sampler.mean_interval_secs = 3;
        c.face.sampler.min_checks_per_session = 1;
        c.face.sampler.retry_window_secs = 6;
    })
    .await;
    let report = demo::seed(&server.state, 1, 2).await.unwrap();
    let class = report.live_classes[0].0;
    let name_of = |role: Role| {
        report
            .accounts
            .iter()
            .filter(|a| a.role == role && (a.class == Some(class) || role == Role::Lecturer))
            .map(|a| a.username.clone())
            .collect::<Vec<_>>()
    };
    let lecturer_name = lecturer_username(&server, class).await;
    let students = name_of(Role::Student);
    let lecturer = server.login(&lecturer_name, DEMO_PASSWORD).await;
    let student = server.login(&students[0], DEMO_PASSWORD).await;
    let student_id = student.get("/api/me").await.1["id"].as_i64().unwrap();

    // Enroll the student from a photo of Obama; the camera will show another one.
    server
        .state
        .face
        .start(&server.state.config.face, &prometheus::Registry::new())
        .unwrap();
    {
        let mut conn = server.store().conn().await.unwrap();
        ketang::store::students::put_photo(
            &mut conn,
            &server.state.keys,
            student_id,
            ketang::store::students::PhotoKind::Photo,
            "image/jpeg",
            &test_image("obama.jpg"),
        )
        .await
        .unwrap();
    }
    ketang::face_checks::enroll_from_photo(
        server.store(),
        &server.state.keys,
        server.state.face.pool().unwrap(),
        server.state.config.face.enrollment,
        student_id,
    )
    .await
    .unwrap();

    // The fake camera: a 4:3 webcam-like view of obama2.jpg (head and shoulders), 640×480,
    // as a Motion-JPEG file.
    let cam_dir = tempfile::tempdir().unwrap();
    let photo = face::frame::Frame::decode(&test_image("obama2.jpg"), u64::MAX).unwrap();
    let jpeg = photo
        .cropped(0, 100, 626, 470)
        .resized(640, 480)
        .to_jpeg(90);
    let mjpeg = cam_dir.path().join("camera.mjpeg");
    std::fs::write(&mjpeg, jpeg.repeat(30)).unwrap();
    let (mut chromium, mut cdp, _profile) = launch(&[format!(
        "--use-file-for-fake-video-capture={}",
        mjpeg.display()
    )])
    .await;
    let page = |token: &str, mode: &str| {
        format!(
            "{}/live.html#class={class}&token={token}&mode={mode}",
            server.base
        )
    };
    let token = student.token.as_deref().unwrap();
    cdp.open(&page(lecturer.token.as_deref().unwrap(), "lecture"))
        .await;
    cdp.open(&page(token, "watch")).await;
    cdp.open(&page(token, "camera")).await;

    let within = Duration::from_secs(90);
    let live = rows(
        &server,
        "SELECT COUNT(*) FROM live_intervals WHERE class_id = $1",
        class,
        within,
    )
    .await;
    assert!(live > 0, "the lecturer's video made live time");
    let sql = format!(
        "SELECT COUNT(*) FROM watch_intervals WHERE class_id = $1 AND student_id = {student_id}"
    );
    assert!(rows(&server, &sql, class, within).await > 0, "watch time");
    let sql = format!(
        "SELECT COUNT(*) FROM face_checks WHERE class_id = $1 AND student_id = {student_id} \
         AND outcome = 'match'"
    );
    let matched = rows(&server, &sql, class, within).await;
    let outcomes: Vec<(i64, String)> =
        sqlx::query_as("SELECT student_id, outcome FROM face_checks WHERE class_id = $1")
            .bind(class)
            .fetch_all(server.store().pool())
            .await
            .unwrap();
    if matched == 0 {
        let ev: Vec<(i64, Option<f64>)> =
            sqlx::query_as("SELECT id, distance FROM face_evidence ORDER BY id")
                .fetch_all(server.store().pool())
                .await
                .unwrap();
        panic!("no face check matched: {outcomes:?}; evidence distances {ev:?}");
    }
    let sql = format!(
        "SELECT COUNT(*) FROM face_checks WHERE class_id = $1 AND student_id <> {student_id} \
         AND outcome = 'absent'"
    );
    assert!(
        rows(&server, &sql, class, within).await > 0,
        "the classmate who never came is absent: {outcomes:?}"
    );
    // The camera plays one still photo: consecutive samples are near-identical, so the
    // student is flagged for review, and the class's staff can read the flags.
    let sql = format!(
        "SELECT COUNT(*) FROM face_flags WHERE class_id = $1 AND student_id = {student_id}"
    );
    assert!(
        rows(&server, &sql, class, within).await > 0,
        "a still camera is flagged"
    );
    let (st, flags) = lecturer
        .get(&format!("/api/classes/{class}/face-flags"))
        .await;
    assert_eq!(st, reqwest::StatusCode::OK, "{flags}");
    assert_eq!(flags[0]["student_id"], student_id, "{flags}");
    assert!(
        flags[0]["mean_abs_diff"].as_f64().unwrap()
            < server.state.config.face.static_guard.max_mean_abs_diff
    );
    let _ = chromium.kill().await;
    server.stop().await;
}
