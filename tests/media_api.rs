//! The media endpoints with real WebRTC peers over loopback: who may publish and watch
//! what, and clear errors for bad offers, while a room keeps flowing.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ketang::demo::{self, DEMO_PASSWORD};
use media::client::{ClientPublisher, ClientSubscriber, RunOptions};
use media::MediaConfig;
use reqwest::StatusCode;
use serde_json::json;
use signaling::Role;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_and_watch_with_role_checks_and_bad_input() {
    let server = TestServer::start(Engine::Sqlite).await;
    let report = demo::seed(&server.state, 2, 3).await.unwrap();
    let (a, b) = (report.live_classes[0].0, report.live_classes[1].0);
    let account = |role: Role, class: i64| {
        report
            .accounts
            .iter()
            .find(|x| x.role == role && x.class == Some(class))
            .unwrap_or_else(|| panic!("{role:?} of {class}"))
            .username
            .clone()
    };
    let students_a: Vec<String> = report
        .accounts
        .iter()
        .filter(|x| x.role == Role::Student && x.class == Some(a))
        .map(|x| x.username.clone())
        .collect();
    let lecturer_name = {
        let mut conn = server.store().conn().await.unwrap();
        let class = ketang::store::classes::get(&mut conn, a)
            .await
            .unwrap()
            .unwrap();
        ketang::store::users::get(&mut conn, class.lecturer_id)
            .await
            .unwrap()
            .unwrap()
            .username
    };
    let lecturer = server.login(&lecturer_name, DEMO_PASSWORD).await;
    let student1 = server.login(&students_a[0], DEMO_PASSWORD).await;
    let student2 = server.login(&students_a[1], DEMO_PASSWORD).await;
    let student_b = server
        .login(&account(Role::Student, b), DEMO_PASSWORD)
        .await;
    let assistant = server
        .login(&account(Role::Assistant, a), DEMO_PASSWORD)
        .await;
    let regulator = server.login("demo-regulator", DEMO_PASSWORD).await;
    let cfg = MediaConfig::default();

    // The lecturer publishes the lecture.
    let publisher = ClientPublisher::new(&cfg, 1, true).await.unwrap();
    let offer = publisher.peer.offer().await.unwrap();
    let (st, body) = lecturer
        .post(
            &format!("/api/rooms/{a}/publish"),
            json!({"sdp": offer, "what": "lecture"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    publisher
        .peer
        .accept(body["sdp"].as_str().unwrap())
        .await
        .unwrap();
    assert!(publisher.peer.wait_connected(Duration::from_secs(10)).await);

    // An enrolled student watches it.
    let watcher = ClientSubscriber::new(&cfg, 1, true, false).await.unwrap();
    let offer = watcher.peer.offer().await.unwrap();
    let (st, body) = student1
        .post(&format!("/api/rooms/{a}/subscribe"), json!({"sdp": offer}))
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    watcher
        .peer
        .accept(body["sdp"].as_str().unwrap())
        .await
        .unwrap();
    assert!(watcher.peer.wait_connected(Duration::from_secs(10)).await);
    let running = {
        let until = Instant::now() + Duration::from_secs(4);
        tokio::spawn(async move { publisher.run(until, RunOptions::default()).await })
    };

    let video_offer = || async {
        ClientPublisher::new(&cfg, 1, false)
            .await
            .unwrap()
            .peer
            .offer()
            .await
            .unwrap()
    };
    let recv_offer = || async {
        ClientSubscriber::new(&cfg, 1, false, false)
            .await
            .unwrap()
            .peer
            .offer()
            .await
            .unwrap()
    };
    let problem = |st: StatusCode, body: &serde_json::Value, want: StatusCode, code: &str| {
        assert_eq!(st, want, "{body}");
        assert_eq!(body["code"], code, "{body}");
    };

    // Unauthenticated.
    let (st, body) = server
        .client()
        .post(
            &format!("/api/rooms/{a}/publish"),
            json!({"sdp": video_offer().await, "what": "lecture"}),
        )
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{body}");
    // A student may not publish the lecture; a regulator publishes nothing.
    let (st, body) = student2
        .post(
            &format!("/api/rooms/{a}/publish"),
            json!({"sdp": video_offer().await, "what": "lecture"}),
        )
        .await;
    problem(st, &body, StatusCode::FORBIDDEN, "forbidden");
    let (st, body) = regulator
        .post(
            &format!("/api/rooms/{a}/publish"),
            json!({"sdp": video_offer().await, "what": "camera"}),
        )
        .await;
    problem(st, &body, StatusCode::FORBIDDEN, "forbidden");
    // A student of another class does not see this room.
    let (st, body) = student_b
        .post(
            &format!("/api/rooms/{a}/subscribe"),
            json!({"sdp": recv_offer().await}),
        )
        .await;
    problem(st, &body, StatusCode::NOT_FOUND, "not_found");
    // A student may not watch another student's camera.
    let s2_id = student2.get("/api/me").await.1["id"].as_i64().unwrap();
    let (st, body) = student1
        .post(
            &format!("/api/rooms/{a}/subscribe"),
            json!({"sdp": recv_offer().await, "student_id": s2_id}),
        )
        .await;
    problem(st, &body, StatusCode::FORBIDDEN, "forbidden");
    // The class's assistant may.
    let (st, body) = assistant
        .post(
            &format!("/api/rooms/{a}/subscribe"),
            json!({"sdp": recv_offer().await, "student_id": s2_id}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    // Bad offers.
    let (st, body) = student2
        .post(
            &format!("/api/rooms/{a}/publish"),
            json!({"sdp": "v=0\r\nnonsense", "what": "camera"}),
        )
        .await;
    problem(st, &body, StatusCode::BAD_REQUEST, "malformed_sdp");
    let h264 = video_offer().await.replace("VP8/90000", "H264/90000");
    let (st, body) = student2
        .post(
            &format!("/api/rooms/{a}/publish"),
            json!({"sdp": h264, "what": "camera"}),
        )
        .await;
    problem(
        st,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "no_usable_codec",
    );
    let two = ClientPublisher::new(&cfg, 2, false)
        .await
        .unwrap()
        .peer
        .offer()
        .await
        .unwrap();
    let (st, body) = student2
        .post(
            &format!("/api/rooms/{a}/publish"),
            json!({"sdp": two, "what": "camera"}),
        )
        .await;
    problem(
        st,
        &body,
        StatusCode::UNPROCESSABLE_ENTITY,
        "too_many_tracks",
    );
    // A student publishes their camera.
    let (st, body) = student2
        .post(
            &format!("/api/rooms/{a}/publish"),
            json!({"sdp": video_offer().await, "what": "camera"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");

    running.await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = watcher.snapshot();
    let video = got.iter().find(|r| r.video).expect("video track");
    assert!(video.packets > 200, "the room kept flowing: {got:?}");
    assert_eq!((video.corrupt, video.lost, video.out_of_order), (0, 0, 0));
    let (_, metrics) = server.client().get("/metrics").await;
    let text = metrics.as_str().unwrap_or_default().to_string();
    assert!(
        text.contains(&format!("media_forwarded_packets_total{{room=\"{a}\"}}")),
        "{text}"
    );
    server.stop().await;
}
