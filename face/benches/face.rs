//! End-to-end face verification cost on one core (decode excluded: frames arrive decoded
//! from the frame tap): detection → landmarks → embedding → decision, for a webcam-like
//! frame at 320×240 and 640×480; and enrollment (gates + 10-jitter embedding).
//!
//! `OPENBLAS_NUM_THREADS=1 cargo bench -p ketang-face --bench face`

use std::path::PathBuf;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use face::engine::{Engine, EngineConfig};
use face::frame::Frame;
use face::models::ModelSet;
use face::quality::EnrollmentPolicy;
use face::verify::{Outcome, DEFAULT_THRESHOLD};
use opencv::core::{Mat, Rect};
use opencv::prelude::*;

fn dir(env: &str, default: &str) -> PathBuf {
    std::env::var_os(env).map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("..")
            .join(default)
    })
}

fn photo(name: &str) -> Frame {
    let bytes = std::fs::read(dir("KETANG_TEST_IMAGES", "data/test_images").join(name))
        .expect("run scripts/setup.sh");
    Frame::decode(&bytes, face::image::DEFAULT_MAX_PIXELS).unwrap()
}

/// A 4:3 "webcam" view of obama.jpg with the face about 40% of the frame height.
fn webcam(width: u32, height: u32) -> Frame {
    let o = photo("obama.jpg");
    let roi = Mat::roi(o.bgr(), Rect::new(82, 0, 826, 620))
        .unwrap()
        .try_clone()
        .unwrap();
    Frame::from_bgr(roi).unwrap().resized(width, height)
}

fn bench(c: &mut Criterion) {
    let models =
        ModelSet::verify(&dir("KETANG_MODELS", "data/models")).expect("run scripts/setup.sh");
    let engine = Engine::load(&models, EngineConfig::default()).unwrap();
    let enrolled = engine
        .enroll(&photo("obama2.jpg"), &EnrollmentPolicy::default())
        .unwrap();

    let mut g = c.benchmark_group("verify");
    g.throughput(Throughput::Elements(1));
    g.measurement_time(Duration::from_secs(10));
    for (w, h) in [(320, 240), (640, 480)] {
        let frame = webcam(w, h);
        let v = engine.verify(&frame, &enrolled.embedding, DEFAULT_THRESHOLD);
        assert_eq!(v.outcome, Outcome::Match, "{w}x{h}: {v:?}");
        g.bench_function(format!("{w}x{h}"), |b| {
            b.iter(|| engine.verify(&frame, &enrolled.embedding, DEFAULT_THRESHOLD))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("enroll");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(15));
    let one_inch = photo("obama.jpg").resized(413, 516);
    let policy = EnrollmentPolicy::default();
    engine.enroll(&one_inch, &policy).unwrap();
    g.bench_function("one_inch_413x516_jitter10", |b| {
        b.iter(|| engine.enroll(&one_inch, &policy).unwrap())
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
