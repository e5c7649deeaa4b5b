//! Real WebRTC peers over loopback: publisher → SFU → subscribers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use media::client::{ClientPublisher, ClientSubscriber, RunOptions};
use media::offer::OfferError;
use media::{
    MediaConfig, MediaError, MediaEvent, MediaMetrics, PublishKind, Sfu, SubscribeTarget,
    WatchChange,
};
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;

const WAIT: Duration = Duration::from_secs(10);

async fn publish(
    sfu: &Arc<Sfu>,
    room: i64,
    who: i64,
    kind: PublishKind,
    videos: usize,
    audio: bool,
) -> ClientPublisher {
    let cfg = MediaConfig::default();
    let p = ClientPublisher::new(&cfg, videos, audio).await.unwrap();
    let offer = p.peer.offer().await.unwrap();
    let answer = sfu.publish(room, who, kind, &offer).await.unwrap();
    p.peer.accept(&answer.sdp).await.unwrap();
    assert!(p.peer.wait_connected(WAIT).await, "publisher connects");
    p
}

async fn subscribe(
    sfu: &Arc<Sfu>,
    room: i64,
    who: i64,
    target: SubscribeTarget,
    videos: usize,
    audio: bool,
) -> ClientSubscriber {
    subscribe_session(sfu, room, who, target, videos, audio)
        .await
        .0
}

async fn subscribe_session(
    sfu: &Arc<Sfu>,
    room: i64,
    who: i64,
    target: SubscribeTarget,
    videos: usize,
    audio: bool,
) -> (ClientSubscriber, u64) {
    let s = ClientSubscriber::new(&MediaConfig::default(), videos, audio, true)
        .await
        .unwrap();
    let offer = s.peer.offer().await.unwrap();
    let answer = sfu.subscribe(room, who, target, &offer).await.unwrap();
    s.peer.accept(&answer.sdp).await.unwrap();
    assert!(s.peer.wait_connected(WAIT).await, "subscriber connects");
    (s, answer.session)
}

fn metric(registry: &prometheus::Registry, name: &str, room: &str) -> f64 {
    registry
        .gather()
        .iter()
        .filter(|f| f.name() == name)
        .flat_map(|f| f.get_metric().to_vec())
        .filter(|m| {
            m.get_label()
                .iter()
                .any(|l| l.name() == "room" && l.value() == room)
        })
        .map(|m| m.get_counter().value() + m.get_gauge().value())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lecture_reaches_every_subscriber_intact_and_in_order() {
    let registry = prometheus::Registry::new();
    let (sfu, mut events) = Sfu::new(
        MediaConfig::default(),
        MediaMetrics::new(&registry).unwrap(),
    );
    let lecturer = publish(&sfu, 1, 100, PublishKind::Lecture, 1, true).await;
    let mut subs = Vec::new();
    let mut sessions = Vec::new();
    for i in 0..4 {
        let (s, session) =
            subscribe_session(&sfu, 1, 200 + i, SubscribeTarget::Lecture, 1, true).await;
        subs.push(s);
        sessions.push(session);
    }
    let sent = lecturer
        .run(
            Instant::now() + Duration::from_secs(3),
            RunOptions::default(),
        )
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    for s in &subs {
        let got = s.snapshot();
        let video: Vec<_> = got.iter().filter(|r| r.video).collect();
        let audio: Vec<_> = got.iter().filter(|r| !r.video).collect();
        assert_eq!(video.len(), 1, "{got:?}");
        let v = video[0];
        assert!(v.packets > sent / 2, "received {} of {sent}", v.packets);
        assert_eq!(v.corrupt, 0);
        assert_eq!(v.out_of_order, 0);
        assert_eq!(v.lost, 0);
        assert!(
            v.indexes.windows(2).all(|w| w[1] == w[0] + 1),
            "in order, none missing"
        );
        assert_eq!(v.ssrcs.len(), 1);
        assert!(audio.len() == 1 && audio[0].packets > 50, "{audio:?}");
    }
    assert_eq!(sfu.stats(1).subscribers, 4);
    assert_eq!(sfu.stats(1).flowing, 4);
    assert!(metric(&registry, "media_forwarded_packets_total", "1") > 0.0);
    assert_eq!(metric(&registry, "media_subscribers", "1"), 4.0);
    assert_eq!(metric(&registry, "media_publishers", "1"), 1.0);
    // Typed watch events for the attendance code.
    let mut seen = Vec::new();
    while let Ok(e) = events.try_recv() {
        seen.push(e);
    }
    for i in 0..4 {
        for change in [WatchChange::Connected, WatchChange::Flowing] {
            assert!(
                seen.iter().any(|e| matches!(e, MediaEvent::Watch { participant, change: c, .. } if *participant == 200 + i && *c == change)),
                "{change:?} for {i}: {seen:?}"
            );
        }
    }
    assert!(seen.iter().any(|e| matches!(
        e,
        MediaEvent::LectureVideo {
            change: WatchChange::Flowing,
            ..
        }
    )));
    // Leaving frees the place and reports the end of watching.
    sfu.leave(sessions[0]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(sfu.subscriber_count(), 3);
    assert_eq!(metric(&registry, "media_subscribers", "1"), 3.0);
    let mut ended = Vec::new();
    while let Ok(e) = events.try_recv() {
        ended.push(e);
    }
    assert!(
        ended.iter().any(|e| matches!(
            e,
            MediaEvent::Watch {
                participant: 200,
                change: WatchChange::Disconnected,
                ..
            }
        )),
        "{ended:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keyframe_requests_are_coalesced_towards_the_publisher() {
    let registry = prometheus::Registry::new();
    let (sfu, _events) = Sfu::new(
        MediaConfig::default(),
        MediaMetrics::new(&registry).unwrap(),
    );
    let lecturer = Arc::new(publish(&sfu, 2, 100, PublishKind::Lecture, 1, false).await);
    let l = lecturer.clone();
    let running = tokio::spawn(async move {
        l.run(
            Instant::now() + Duration::from_secs(4),
            RunOptions::default(),
        )
        .await
    });
    let mut subs = Vec::new();
    for i in 0..5 {
        subs.push(subscribe(&sfu, 2, 300 + i, SubscribeTarget::Lecture, 1, false).await);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = lecturer.plis.load(std::sync::atomic::Ordering::Relaxed);
    // Every viewer sends 10 PLIs within ~200 ms: 50 requests.
    let mut senders = Vec::new();
    for s in &subs {
        let rtcp_ssrc = s.snapshot()[0].ssrcs[0];
        let receivers = s.peer.pc.get_receivers().await;
        senders.push((receivers, rtcp_ssrc));
    }
    for _ in 0..10 {
        for (receivers, ssrc) in &senders {
            for r in receivers {
                let _ = r
                    .track()
                    .write_rtcp(vec![Box::new(PictureLossIndication {
                        sender_ssrc: 1,
                        media_ssrc: *ssrc,
                    })])
                    .await;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let after = lecturer.plis.load(std::sync::atomic::Ordering::Relaxed);
    let pli_in = metric(&registry, "media_pli_in_total", "2");
    assert!(pli_in >= 40.0, "the SFU saw the viewers' PLIs: {pli_in}");
    let reached = after - before;
    assert!(
        (1..=2).contains(&reached),
        "50 requests within 200 ms reach the publisher as 1–2 PLIs, got {reached}"
    );
    running.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_students_camera_reaches_their_assistant_but_not_another_student() {
    let (sfu, _events) = Sfu::new(MediaConfig::default(), MediaMetrics::unregistered());
    // The lecture here is video only, so any audio student B hears would be student A's.
    let lecturer = Arc::new(publish(&sfu, 3, 100, PublishKind::Lecture, 1, false).await);
    let student_a = Arc::new(publish(&sfu, 3, 201, PublishKind::StudentCamera, 1, true).await);
    let student_b = subscribe(&sfu, 3, 202, SubscribeTarget::Lecture, 1, true).await;
    let assistant = subscribe(&sfu, 3, 150, SubscribeTarget::StudentCamera(201), 1, true).await;
    let until = Instant::now() + Duration::from_secs(3);
    let (l, a) = (lecturer.clone(), student_a.clone());
    let t1 = tokio::spawn(async move { l.run(until, RunOptions::default()).await });
    let cam = RunOptions {
        fps: 10,
        frame_packets: 1,
        packet_len: 600,
        index_base: 1 << 40,
        undeclared: false,
    };
    let t2 = tokio::spawn(async move { a.run(until, cam).await });
    t1.await.unwrap();
    t2.await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let b = student_b.snapshot();
    let b_video: Vec<u64> = b
        .iter()
        .filter(|r| r.video)
        .flat_map(|r| r.indexes.clone())
        .collect();
    assert!(!b_video.is_empty(), "student B sees the lecture");
    assert!(
        b_video.iter().all(|i| *i < 1 << 40),
        "student B never receives student A's camera"
    );
    let asst = assistant.snapshot();
    let asst_video: Vec<u64> = asst
        .iter()
        .filter(|r| r.video)
        .flat_map(|r| r.indexes.clone())
        .collect();
    assert!(
        asst_video.len() > 10,
        "the assistant sees student A: {asst:?}"
    );
    assert!(
        asst_video.iter().all(|i| *i >= 1 << 40),
        "and only student A"
    );
    // Student A's microphone goes with the camera to a viewer of it (the room decides who
    // may be one), never to a lecture subscriber.
    let audio = |r: &[media::client::Received]| -> u64 {
        r.iter().filter(|x| !x.video).map(|x| x.packets).sum()
    };
    assert!(audio(&asst) > 20, "the viewer hears student A: {asst:?}");
    assert_eq!(audio(&b), 0, "student B never hears student A");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_offers_are_refused_clearly_and_other_rooms_go_on() {
    let cfg = MediaConfig {
        max_subscribers: 2,
        ..MediaConfig::default()
    };
    let (sfu, _events) = Sfu::new(cfg, MediaMetrics::unregistered());
    let lecturer = Arc::new(publish(&sfu, 4, 100, PublishKind::Lecture, 1, false).await);
    let watcher = subscribe(&sfu, 4, 200, SubscribeTarget::Lecture, 1, false).await;
    let l = lecturer.clone();
    let running = tokio::spawn(async move {
        l.run(
            Instant::now() + Duration::from_secs(3),
            RunOptions::default(),
        )
        .await
    });

    // Malformed SDP.
    let e = sfu
        .publish(5, 1, PublishKind::Lecture, "not sdp at all")
        .await
        .unwrap_err();
    assert!(
        matches!(e, MediaError::Offer(OfferError::Malformed(_))),
        "{e}"
    );
    let e = sfu
        .subscribe(5, 1, SubscribeTarget::Lecture, "v=0\r\nm=garbage\r\n")
        .await
        .unwrap_err();
    assert!(
        matches!(e, MediaError::Offer(OfferError::Malformed(_))),
        "{e}"
    );
    // A real offer whose video is H264 only.
    let good = ClientPublisher::new(&MediaConfig::default(), 1, false)
        .await
        .unwrap()
        .peer
        .offer()
        .await
        .unwrap();
    let h264 = good.replace("VP8/90000", "H264/90000");
    let e = sfu
        .publish(5, 1, PublishKind::Lecture, &h264)
        .await
        .unwrap_err();
    assert!(
        matches!(e, MediaError::Offer(OfferError::NoUsableCodec { .. })),
        "{e}"
    );
    assert!(e.to_string().contains("VP8"), "{e}");
    // Too many tracks: three video tracks from a lecturer, two from a student.
    let three = ClientPublisher::new(&MediaConfig::default(), 3, true)
        .await
        .unwrap()
        .peer
        .offer()
        .await
        .unwrap();
    let e = sfu
        .publish(5, 1, PublishKind::Lecture, &three)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            MediaError::Offer(OfferError::TooManyTracks { video: 3, .. })
        ),
        "{e}"
    );
    let two = ClientPublisher::new(&MediaConfig::default(), 2, false)
        .await
        .unwrap()
        .peer
        .offer()
        .await
        .unwrap();
    let e = sfu
        .publish(5, 2, PublishKind::StudentCamera, &two)
        .await
        .unwrap_err();
    assert!(
        matches!(e, MediaError::Offer(OfferError::TooManyTracks { .. })),
        "{e}"
    );
    // Capacity: the node takes 2 subscribers; the third is refused with the reason.
    let _second = subscribe(&sfu, 5, 201, SubscribeTarget::Lecture, 1, false).await;
    let third = ClientSubscriber::new(&MediaConfig::default(), 1, false, false)
        .await
        .unwrap();
    let e = sfu
        .subscribe(
            5,
            202,
            SubscribeTarget::Lecture,
            &third.peer.offer().await.unwrap(),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, MediaError::Refused(_)), "{e}");
    assert!(e.to_string().contains("2 of 2 subscribers"), "{e}");
    // Unknown session.
    assert!(matches!(
        sfu.leave(999_999).await,
        Err(MediaError::NoSuchSession(_))
    ));

    running.await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let got = watcher.snapshot();
    assert!(
        got[0].packets > 100 && got[0].corrupt == 0 && got[0].lost == 0,
        "room 4 unaffected: {got:?}"
    );
    // Nothing half-made: failed attempts left no session or subscriber behind.
    assert_eq!(sfu.subscriber_count(), 2);
    assert_eq!(sfu.stats(5).subscribers, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rtp_from_an_undeclared_ssrc_is_not_forwarded_and_does_not_disturb_the_stream() {
    let registry = prometheus::Registry::new();
    let (sfu, _events) = Sfu::new(
        MediaConfig::default(),
        MediaMetrics::new(&registry).unwrap(),
    );
    let cfg = MediaConfig::default();
    // The lecturer's camera track has a second SSRC that its offer does not declare.
    let lecturer = ClientPublisher::with_undeclared_ssrc(&cfg, 1, true)
        .await
        .unwrap();
    let hidden = lecturer.undeclared_ssrc.unwrap();
    let offer = lecturer.offer().await.unwrap();
    assert!(!offer.contains(&format!("ssrc:{hidden}")), "{offer}");
    let answer = sfu
        .publish(6, 100, PublishKind::Lecture, &offer)
        .await
        .unwrap();
    lecturer.peer.accept(&answer.sdp).await.unwrap();
    assert!(lecturer.peer.wait_connected(WAIT).await);
    let mut subs = Vec::new();
    for i in 0..3 {
        subs.push(subscribe(&sfu, 6, 400 + i, SubscribeTarget::Lecture, 1, true).await);
    }
    // Every frame goes out twice: on the declared SSRC and, as a keyframe with its own
    // indexes and numbering, on the undeclared one.
    let sent = lecturer
        .run(
            Instant::now() + Duration::from_secs(3),
            RunOptions {
                undeclared: true,
                ..RunOptions::default()
            },
        )
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rogue = lecturer
        .undeclared_sent
        .load(std::sync::atomic::Ordering::Relaxed);
    assert!(rogue > 100, "the undeclared SSRC was sent: {rogue}");
    for s in &subs {
        let got = s.snapshot();
        let video: Vec<_> = got.iter().filter(|r| r.video).collect();
        assert_eq!(video.len(), 1, "no extra track appeared: {got:?}");
        let v = video[0];
        assert_eq!(v.ssrcs.len(), 1, "one outgoing stream");
        assert!(
            v.indexes
                .iter()
                .all(|i| *i < media::client::UNDECLARED_INDEX),
            "nothing of the undeclared SSRC was forwarded"
        );
        assert!(v.packets > sent / 2, "received {} of {sent}", v.packets);
        assert_eq!((v.corrupt, v.lost, v.out_of_order), (0, 0, 0));
        assert!(
            v.indexes.windows(2).all(|w| w[1] == w[0] + 1),
            "the declared stream is intact and in order"
        );
    }
    let forwarded = metric(&registry, "media_forwarded_packets_total", "6");
    assert!(forwarded > 0.0);
    // The SFU took in the declared video and the audio only (≈150 audio packets in 3 s):
    // the undeclared stream (as many packets again) stopped at the transport or at the
    // track's SSRC check, before the fan-out.
    let received = metric(&registry, "media_received_packets_total", "6");
    assert!(
        received < (sent + 300) as f64,
        "received {received}, sent {sent} declared + {rogue} undeclared"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_joiner_starts_from_the_cached_keyframe_without_a_new_request() {
    let registry = prometheus::Registry::new();
    let (sfu, _events) = Sfu::new(
        MediaConfig::default(),
        MediaMetrics::new(&registry).unwrap(),
    );
    let lecturer = Arc::new(publish(&sfu, 7, 100, PublishKind::Lecture, 1, false).await);
    let first = subscribe(&sfu, 7, 500, SubscribeTarget::Lecture, 1, false).await;
    // 30 small frames a second: the cache (≤ 160 packets) holds the whole run.
    let slow = RunOptions {
        fps: 30,
        frame_packets: 1,
        packet_len: 300,
        ..RunOptions::default()
    };
    let l = lecturer.clone();
    let running =
        tokio::spawn(async move { l.run(Instant::now() + Duration::from_secs(4), slow).await });
    // The first viewer's keyframe has gone by; a second viewer joins mid-stream.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let plis_before = lecturer.plis.load(std::sync::atomic::Ordering::Relaxed);
    let late = subscribe(&sfu, 7, 501, SubscribeTarget::Lecture, 1, false).await;
    running.await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let plis_after = lecturer.plis.load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(
        plis_after, plis_before,
        "the joiner needed no keyframe from the publisher"
    );
    let early: Vec<u64> = first.snapshot()[0].indexes.clone();
    let got = late.snapshot();
    let v = &got[0];
    assert!(v.packets > 60, "{got:?}");
    assert_eq!((v.corrupt, v.lost, v.out_of_order), (0, 0, 0));
    assert_eq!(
        v.indexes.first(),
        early.first(),
        "it starts with the keyframe the first viewer started with"
    );
    assert!(
        v.indexes.windows(2).all(|w| w[1] == w[0] + 1),
        "then every packet since, in order"
    );
    assert!(metric(&registry, "media_replayed_packets_total", "7") >= 20.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_packet_rate_budget_counts_viewers_still_joining() {
    // ≈170 packets/s per viewer (120 video + 50 audio): room for one viewer, not two.
    let cfg = MediaConfig {
        max_forwarded_pps: 300,
        ..MediaConfig::default()
    };
    let (sfu, _events) = Sfu::new(cfg, MediaMetrics::unregistered());
    let lecturer = Arc::new(publish(&sfu, 8, 100, PublishKind::Lecture, 1, true).await);
    let l = lecturer.clone();
    let running = tokio::spawn(async move {
        l.run(
            Instant::now() + Duration::from_secs(3),
            RunOptions::default(),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(sfu.stats(8).lecture_pps > 100, "{:?}", sfu.stats(8));
    // The first viewer is answered but has not connected yet (answer not applied): it
    // forwards nothing so far, yet its place counts.
    let first = ClientSubscriber::new(&MediaConfig::default(), 1, true, false)
        .await
        .unwrap();
    sfu.subscribe(
        8,
        600,
        SubscribeTarget::Lecture,
        &first.peer.offer().await.unwrap(),
    )
    .await
    .unwrap();
    let second = ClientSubscriber::new(&MediaConfig::default(), 1, true, false)
        .await
        .unwrap();
    let e = sfu
        .subscribe(
            8,
            601,
            SubscribeTarget::Lecture,
            &second.peer.offer().await.unwrap(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            MediaError::Refused(media::capacity::Refusal::PacketRate { .. })
        ),
        "{e}"
    );
    assert!(e.to_string().contains("packets/s"), "{e}");
    assert_eq!(sfu.subscriber_count(), 1, "the refusal took no place");
    running.await.unwrap();
}
