//! Development aid: `detect IMAGE...` prints each image's size, detector stage and face boxes.

use face::engine::{Engine, EngineConfig};
use face::frame::Frame;
use face::models::ModelSet;

fn main() {
    let models = std::env::var("KETANG_MODELS").unwrap_or_else(|_| "data/models".into());
    let models = ModelSet::verify(std::path::Path::new(&models)).expect("models");
    let engine = Engine::load(&models, EngineConfig::default()).expect("load");
    for p in std::env::args().skip(1) {
        let bytes = std::fs::read(&p).expect("read");
        let frame = Frame::decode(&bytes, face::image::DEFAULT_MAX_PIXELS).expect("decode");
        let t = std::time::Instant::now();
        let det = engine.detect(&frame);
        println!(
            "{p}\t{}x{}\t{:?}\t{:?}\t{:.1} ms",
            frame.width(),
            frame.height(),
            det.stage,
            det.faces,
            t.elapsed().as_secs_f64() * 1000.0
        );
    }
}
