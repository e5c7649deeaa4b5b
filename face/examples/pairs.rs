//! Development aid: `cargo run --release -p ketang-face --example pairs -- PAIRS.tsv [jitter] [workers]`
//! prints per-pair distances (TSV) to stdout and the summary at the calibrated and the
//! default threshold to stderr. The product command is `ketang face eval`.

use face::engine::EngineConfig;
use face::eval::{self, EvalOptions};
use face::models::ModelSet;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let pairs = eval::read_pairs(std::path::Path::new(&args[1])).expect("pairs");
    let jitter = args.get(2).map_or(0, |s| s.parse().unwrap());
    let workers = args.get(3).map_or(1, |s| s.parse().unwrap());
    let models = std::env::var("KETANG_MODELS").unwrap_or_else(|_| "data/models".into());
    let models = ModelSet::verify(std::path::Path::new(&models)).expect("models");
    let opts = EvalOptions {
        jitter,
        workers,
        max_pixels: face::image::DEFAULT_MAX_PIXELS,
        engine: EngineConfig::default(),
    };
    let res = eval::run(&pairs, &models, &opts).expect("run");
    for (r, p) in res.iter().zip(&pairs) {
        println!(
            "{}\t{}\t{}\t{}\t{}",
            p.a.display(),
            p.b.display(),
            r.same as u8,
            r.distance.map_or("NA".into(), |d| format!("{d:.4}")),
            r.error.clone().unwrap_or_default()
        );
    }
    let best = eval::best_threshold(&res);
    for t in [best, 0.5, 0.55, 0.6] {
        eprintln!(
            "{}",
            serde_json::to_string(&eval::summarise(&res, t)).unwrap()
        );
    }
}
