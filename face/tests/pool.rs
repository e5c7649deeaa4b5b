//! The worker pool and the session driver on real photos: bad input fails alone and the
//! worker survives; saturation queues (nothing dropped); a session emits check events,
//! mismatch evidence and `suspect_static` for a repeated still image.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use face::engine::EngineConfig;
use face::frame::Frame;
use face::image::{ImageError, DEFAULT_MAX_PIXELS};
use face::models::ModelSet;
use face::pool::{EnrollError, FacePool, PoolConfig, PoolError, VerifyError};
use face::quality::EnrollmentPolicy;
use face::sampler::{Sampler, SamplerConfig, StudentId};
use face::session::{self, FaceEvent, FrameSource, Grab, GrabFuture, SessionInputs};
use face::static_guard::StaticGuardConfig;
use face::verify::{Outcome, DEFAULT_THRESHOLD};

fn dir(env: &str, default: &str) -> PathBuf {
    std::env::var_os(env).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(default)
    })
}

fn bytes(name: &str) -> Vec<u8> {
    std::fs::read(dir("KETANG_TEST_IMAGES", "data/test_images").join(name))
        .expect("run scripts/setup.sh")
}

fn pool(workers: usize, registry: &prometheus::Registry) -> FacePool {
    let models =
        ModelSet::verify(&dir("KETANG_MODELS", "data/models")).expect("run scripts/setup.sh");
    FacePool::start(
        &models,
        PoolConfig {
            workers,
            max_pixels: 5_000_000,
            engine: EngineConfig::default(),
        },
        registry,
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_and_panics_fail_alone_and_the_worker_survives() {
    let reg = prometheus::Registry::new();
    let p = pool(1, &reg);
    let enrolled = p
        .enroll(bytes("obama.jpg"), EnrollmentPolicy::default())
        .await
        .unwrap();
    let jpg = bytes("obama2.jpg");
    let bad: Vec<(Vec<u8>, ImageError)> = vec![
        (jpg[..jpg.len() / 3].to_vec(), ImageError::Corrupt),
        (
            b"this is a text file, not a photo".to_vec(),
            ImageError::UnknownFormat,
        ),
        // Header says 20000 × 20000: refused before decoding (limit 5 MP here).
        (
            {
                let mut png = face::image::synthetic(8, 8, face::image::ImageFormat::Png);
                png[16..20].copy_from_slice(&20_000u32.to_be_bytes());
                png[20..24].copy_from_slice(&20_000u32.to_be_bytes());
                png
            },
            ImageError::TooLarge {
                width: 20_000,
                height: 20_000,
                max_pixels: 5_000_000,
            },
        ),
    ];
    for (b, want) in bad {
        let got = p
            .verify_image(b.clone(), enrolled.embedding, DEFAULT_THRESHOLD)
            .await;
        assert_eq!(got.unwrap_err(), VerifyError::Image(want.clone()));
        assert_eq!(
            p.enroll(b, EnrollmentPolicy::default()).await.unwrap_err(),
            EnrollError::Image(want)
        );
    }
    let boom = p.run("test", |_| -> u32 { panic!("boom") }).await;
    assert_eq!(boom, Err(PoolError::Panicked("boom".into())));
    let v = p
        .verify_image(jpg, enrolled.embedding, DEFAULT_THRESHOLD)
        .await
        .unwrap();
    assert_eq!(v.outcome, Outcome::Match);
    let text = {
        let mut buf = String::new();
        for f in reg.gather() {
            buf.push_str(f.name());
            buf.push('\n');
        }
        buf
    };
    assert!(
        text.contains("face_queue_depth") && text.contains("face_job_seconds"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_saturated_pool_queues_every_job() {
    let reg = prometheus::Registry::new();
    let p = pool(1, &reg);
    let enrolled = p
        .enroll(bytes("obama.jpg"), EnrollmentPolicy::default())
        .await
        .unwrap();
    let frame = Frame::decode(&bytes("obama2.jpg"), DEFAULT_MAX_PIXELS)
        .unwrap()
        .resized(313, 600);
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (p, f) = (p.clone(), frame.clone());
        tasks.push(tokio::spawn(async move {
            p.sample(f, enrolled.embedding, DEFAULT_THRESHOLD).await
        }));
    }
    tokio::task::yield_now().await;
    let mut max_depth = p.queue_depth();
    let mut done = 0;
    for t in tasks {
        max_depth = max_depth.max(p.queue_depth());
        let s = t.await.unwrap().unwrap();
        assert_eq!(s.verification.outcome, Outcome::Match);
        done += 1;
    }
    assert_eq!(done, 8);
    assert!(
        max_depth >= 1,
        "jobs should have waited for the single worker"
    );
    assert_eq!(p.queue_depth(), 0);
}

/// Student 1 shows obama (enrolled as obama) from changing photos; student 2 is enrolled
/// as obama but a still photo of biden is fed in, always the same picture.
struct Files(
    HashMap<StudentId, Vec<Vec<u8>>>,
    std::sync::Mutex<HashMap<StudentId, usize>>,
);

impl FrameSource for Files {
    fn grab(&self, student: StudentId) -> GrabFuture {
        let mut counters = self.1.lock().unwrap();
        let n = counters.entry(student).or_default();
        *n += 1;
        let list = &self.0[&student];
        let frame = Frame::decode(&list[*n % list.len()], DEFAULT_MAX_PIXELS).unwrap();
        Box::pin(async move { Grab::Frame(frame) })
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn a_session_emits_checks_evidence_and_static_flags() {
    let reg = prometheus::Registry::new();
    let p = pool(1, &reg);
    let obama = p
        .enroll(bytes("obama.jpg"), EnrollmentPolicy::default())
        .await
        .unwrap()
        .embedding;
    let cfg = SamplerConfig {
        mean_interval_secs: 120,
        min_checks_per_session: 2,
        ..Default::default()
    };
    let mut sampler = Sampler::new(cfg, 0, 10 * 60_000, 42);
    sampler.add_student(1);
    sampler.add_student(2);
    let expected = sampler.scheduled(1).unwrap() + sampler.scheduled(2).unwrap();
    let source = Arc::new(Files(
        HashMap::from([
            (1, vec![bytes("obama2.jpg"), bytes("obama3.jpg")]),
            (2, vec![bytes("biden.jpg")]),
        ]),
        std::sync::Mutex::new(HashMap::new()),
    ));
    let start = tokio::time::Instant::now();
    let clock = move || start.elapsed().as_millis() as i64;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let inputs = SessionInputs {
        sampler,
        enrolled: std::sync::Arc::new(std::sync::RwLock::new(HashMap::from([
            (1, obama),
            (2, obama),
        ]))),
        threshold: DEFAULT_THRESHOLD,
        static_guard: StaticGuardConfig::default(),
    };
    session::run(inputs, source, p, clock, tx).await;
    let mut checks = Vec::new();
    let (mut evidence, mut flagged) = (0, Vec::new());
    while let Ok(e) = rx.try_recv() {
        match e {
            FaceEvent::Check(c) => checks.push(c),
            FaceEvent::Evidence { student, jpeg, .. } => {
                assert_eq!(student, 2);
                assert!(jpeg.starts_with(&[0xFF, 0xD8]));
                evidence += 1;
            }
            FaceEvent::SuspectStatic(s) => flagged.push(s.student),
        }
    }
    assert_eq!(checks.len() as u32, expected);
    for c in &checks {
        match c.student {
            1 => assert_eq!((c.outcome, c.attempts), (Outcome::Match, 1)),
            _ => assert_eq!((c.outcome, c.attempts), (Outcome::Mismatch, 3)),
        }
    }
    let student2_attempts: u32 = checks
        .iter()
        .filter(|c| c.student == 2)
        .map(|c| c.attempts)
        .sum();
    assert_eq!(
        evidence, student2_attempts,
        "every mismatch frame is kept as evidence"
    );
    assert!(
        !flagged.is_empty() && flagged.iter().all(|s| *s == 2),
        "{flagged:?}"
    );
}
