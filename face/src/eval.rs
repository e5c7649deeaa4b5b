//! Accuracy on labelled pairs (`path_a  path_b  same`): each pair is verified as
//! enrollment (A, jittered) against probe (B); where an image holds several faces the one
//! nearest the centre is taken (as LFW is labelled). A pair where either image has no face
//! found counts as decided "not the same person" and is also counted in `no_face`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;

use crate::engine::{Engine, EngineConfig};
use crate::frame::Frame;
use crate::models::{ModelError, ModelSet};

/// One labelled pair.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pair {
    /// Enrollment image.
    pub a: PathBuf,
    /// Probe image.
    pub b: PathBuf,
    /// Same person?
    pub same: bool,
}

/// A pairs file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PairsError {
    /// Unreadable file.
    #[error("cannot read {path}: {reason}")]
    Io {
        /// Path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// Bad content.
    #[error("{path} line {line}: {reason}")]
    Syntax {
        /// Path.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// The models cannot be loaded.
    #[error(transparent)]
    Model(#[from] ModelError),
}

/// Reads a pairs TSV; paths are made relative to the file's folder.
pub fn read_pairs(path: &Path) -> Result<Vec<Pair>, PairsError> {
    let text = std::fs::read_to_string(path).map_err(|e| PairsError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    let base = path.parent().unwrap_or(Path::new("."));
    let syntax = |line: usize, reason: String| PairsError::Syntax {
        path: path.to_path_buf(),
        line,
        reason,
    };
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, h))
            if h.split('\t')
                .map(str::trim)
                .eq(["path_a", "path_b", "same"]) => {}
        _ => {
            return Err(syntax(
                1,
                "the header must be `path_a<TAB>path_b<TAB>same`".into(),
            ))
        }
    }
    let mut pairs = Vec::new();
    for (i, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        let cols: Vec<&str> = line.split('\t').collect();
        let [a, b, same] = cols.as_slice() else {
            return Err(syntax(
                i + 1,
                format!("expected 3 tab-separated columns, got {}", cols.len()),
            ));
        };
        let same = match same.trim() {
            "1" => true,
            "0" => false,
            other => {
                return Err(syntax(
                    i + 1,
                    format!("`same` must be 1 or 0, got {other:?}"),
                ))
            }
        };
        pairs.push(Pair {
            a: base.join(a.trim()),
            b: base.join(b.trim()),
            same,
        });
    }
    if pairs.is_empty() {
        return Err(syntax(2, "no pairs".into()));
    }
    Ok(pairs)
}

/// What happened to one pair.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PairResult {
    /// Index in the file.
    pub index: usize,
    /// Label.
    pub same: bool,
    /// Distance (None when a face was missed or an image could not be read).
    pub distance: Option<f64>,
    /// Why there is no distance.
    pub error: Option<String>,
    /// Wall time for the pair, milliseconds.
    pub ms: f64,
}

/// The summary line.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    /// Pairs evaluated.
    pub pairs: usize,
    /// Correct decisions ÷ pairs.
    pub accuracy: f64,
    /// Different-person pairs accepted ÷ different-person pairs.
    pub far: f64,
    /// Same-person pairs rejected ÷ same-person pairs.
    pub frr: f64,
    /// Threshold used.
    pub threshold: f64,
    /// Pairs where a face was not found in at least one image (or it could not be read).
    pub no_face: usize,
    /// Median wall time per pair, milliseconds.
    pub ms_per_pair_p50: f64,
}

/// Summarises pair results at `threshold`.
pub fn summarise(results: &[PairResult], threshold: f64) -> Report {
    let (mut correct, mut fa, mut fr, mut diff, mut same, mut no_face) = (0, 0, 0, 0, 0, 0);
    for r in results {
        let accepted = r.distance.is_some_and(|d| d <= threshold);
        if r.distance.is_none() {
            no_face += 1;
        }
        if r.same {
            same += 1;
            if accepted {
                correct += 1;
            } else {
                fr += 1;
            }
        } else {
            diff += 1;
            if accepted {
                fa += 1;
            } else {
                correct += 1;
            }
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let mut ms: Vec<f64> = results.iter().map(|r| r.ms).collect();
    ms.sort_by(f64::total_cmp);
    Report {
        pairs: results.len(),
        accuracy: ratio(correct, results.len()),
        far: ratio(fa, diff),
        frr: ratio(fr, same),
        threshold,
        no_face,
        ms_per_pair_p50: ms.get(ms.len() / 2).copied().unwrap_or(0.0),
    }
}

/// Options of a run.
#[derive(Clone, Debug)]
pub struct EvalOptions {
    /// Jittered copies for the enrollment side.
    pub jitter: u32,
    /// Worker threads (each loads its own networks).
    pub workers: usize,
    /// Pixel limit for decoding.
    pub max_pixels: u64,
    /// Pipeline settings.
    pub engine: EngineConfig,
}

fn embed_one(
    engine: &Engine,
    path: &Path,
    jitter: u32,
    max_pixels: u64,
) -> Result<crate::embed::Embedding, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let frame =
        Frame::decode(&bytes, max_pixels).map_err(|e| format!("{}: {e}", path.display()))?;
    engine
        .central_face(&frame, jitter)
        .map(|c| c.embedding)
        .ok_or_else(|| format!("{}: no face found", path.display()))
}

/// Verifies every pair (in parallel on `workers` threads); results in file order.
pub fn run(
    pairs: &[Pair],
    models: &ModelSet,
    opts: &EvalOptions,
) -> Result<Vec<PairResult>, PairsError> {
    let next = AtomicUsize::new(0);
    let out = Mutex::new(Vec::with_capacity(pairs.len()));
    let load_error = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..opts.workers.max(1) {
            s.spawn(|| {
                let engine = match Engine::load(models, opts.engine) {
                    Ok(e) => e,
                    Err(e) => {
                        *load_error.lock().expect("lock") = Some(e);
                        return;
                    }
                };
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(p) = pairs.get(i) else { break };
                    let t = Instant::now();
                    let res =
                        embed_one(&engine, &p.a, opts.jitter, opts.max_pixels).and_then(|a| {
                            embed_one(&engine, &p.b, 0, opts.max_pixels).map(|b| a.distance(&b))
                        });
                    let ms = t.elapsed().as_secs_f64() * 1000.0;
                    let (distance, error) = match res {
                        Ok(d) => (Some(d), None),
                        Err(e) => (None, Some(e)),
                    };
                    out.lock().expect("lock").push(PairResult {
                        index: i,
                        same: p.same,
                        distance,
                        error,
                        ms,
                    });
                }
            });
        }
    });
    if let Some(e) = load_error.into_inner().expect("lock") {
        return Err(e.into());
    }
    let mut v = out.into_inner().expect("lock");
    v.sort_by_key(|r| r.index);
    Ok(v)
}

/// The threshold with the best accuracy on `results` (ties: the midpoint of the best
/// interval), for calibration on a development set.
pub fn best_threshold(results: &[PairResult]) -> f64 {
    let mut cands: Vec<f64> = results.iter().filter_map(|r| r.distance).collect();
    cands.sort_by(f64::total_cmp);
    cands.dedup();
    let mut best = (0.0, 0.6);
    let mut best_range: Vec<f64> = Vec::new();
    for w in cands.windows(2) {
        let t = (w[0] + w[1]) / 2.0;
        let acc = summarise(results, t).accuracy;
        if acc > best.0 + 1e-12 {
            best = (acc, t);
            best_range = vec![t];
        } else if (acc - best.0).abs() <= 1e-12 {
            best_range.push(t);
        }
    }
    match (best_range.first(), best_range.last()) {
        (Some(a), Some(b)) => (a + b) / 2.0,
        _ => best.1,
    }
}

/// K-fold cross-validation of the threshold choice: for each fold, the threshold is chosen
/// on the other folds ([`best_threshold`]) and the fold is judged with it, so every pair
/// is decided by a threshold that never saw it (the LFW protocol, with 10 folds).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CrossValidation {
    /// Folds (pair `i` is in fold `i mod folds`).
    pub folds: usize,
    /// Correct held-out decisions ÷ pairs.
    pub accuracy: f64,
    /// Held-out false accepts ÷ different-person pairs.
    pub far: f64,
    /// Held-out false rejects ÷ same-person pairs.
    pub frr: f64,
    /// The threshold chosen without each fold, in fold order.
    pub thresholds: Vec<f64>,
}

/// Cross-validates the threshold over `folds` folds (at least 2).
pub fn cross_validate(results: &[PairResult], folds: usize) -> CrossValidation {
    let folds = folds.max(2);
    let (mut correct, mut fa, mut fr, mut diff, mut same) = (0, 0, 0, 0, 0);
    let mut thresholds = Vec::with_capacity(folds);
    for k in 0..folds {
        let (test, train): (Vec<_>, Vec<_>) = results
            .iter()
            .enumerate()
            .partition(|(i, _)| i % folds == k);
        let train: Vec<PairResult> = train.into_iter().map(|(_, r)| r.clone()).collect();
        let t = best_threshold(&train);
        thresholds.push(t);
        for (_, r) in test {
            let accepted = r.distance.is_some_and(|d| d <= t);
            match (r.same, accepted) {
                (true, true) | (false, false) => correct += 1,
                (true, false) => fr += 1,
                (false, true) => fa += 1,
            }
            if r.same {
                same += 1;
            } else {
                diff += 1;
            }
        }
    }
    let ratio = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    CrossValidation {
        folds,
        accuracy: ratio(correct, results.len()),
        far: ratio(fa, diff),
        frr: ratio(fr, same),
        thresholds,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(same: bool, d: Option<f64>) -> PairResult {
        PairResult {
            index: 0,
            same,
            distance: d,
            error: None,
            ms: 1.0,
        }
    }

    #[test]
    fn summary_counts_errors_both_ways_and_missed_faces() {
        let rs = [
            r(true, Some(0.3)),
            r(true, Some(0.7)), // false reject
            r(true, None),      // missed face → rejected
            r(false, Some(0.9)),
            r(false, Some(0.4)), // false accept
        ];
        let s = summarise(&rs, 0.5);
        assert_eq!(s.pairs, 5);
        assert_eq!(s.no_face, 1);
        assert!((s.accuracy - 2.0 / 5.0).abs() < 1e-12);
        assert!((s.far - 0.5).abs() < 1e-12);
        assert!((s.frr - 2.0 / 3.0).abs() < 1e-12);
        let t = best_threshold(&[r(true, Some(0.3)), r(true, Some(0.4)), r(false, Some(0.8))]);
        assert!((0.4..0.8).contains(&t), "{t}");
    }

    #[test]
    fn pairs_file_errors_name_the_line() {
        let dir = std::env::temp_dir().join(format!("ketang-pairs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("pairs.tsv");
        std::fs::write(
            &p,
            "path_a\tpath_b\tsame\nx/1.jpg\ty/2.jpg\t1\nx/1.jpg\ty/2.jpg\tyes\n",
        )
        .unwrap();
        let err = read_pairs(&p).unwrap_err().to_string();
        assert!(err.contains("line 3"), "{err}");
        std::fs::write(&p, "a\tb\tc\n").unwrap();
        assert!(read_pairs(&p).unwrap_err().to_string().contains("header"));
        std::fs::write(&p, "path_a\tpath_b\tsame\nx/1.jpg\ty/2.jpg\t0\n").unwrap();
        let pairs = read_pairs(&p).unwrap();
        assert_eq!(pairs[0].a, dir.join("x/1.jpg"));
        assert!(!pairs[0].same);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn cross_validation_judges_each_pair_with_a_threshold_chosen_without_it() {
        // Separable except one outlier per class; every fold's threshold lies in the gap.
        let mut v = Vec::new();
        for i in 0..40 {
            v.push(r(true, Some(0.30 + i as f64 * 0.005)));
            v.push(r(false, Some(0.80 + i as f64 * 0.005)));
        }
        v.push(r(true, Some(0.95)));
        v.push(r(false, Some(0.20)));
        let cv = cross_validate(&v, 10);
        assert_eq!(cv.thresholds.len(), 10);
        assert!(
            cv.thresholds.iter().all(|t| (0.495..0.80).contains(t)),
            "{cv:?}"
        );
        assert_eq!(cv.accuracy, 80.0 / 82.0);
        assert_eq!(cv.far, 1.0 / 41.0);
        assert_eq!(cv.frr, 1.0 / 41.0);
        // Missed faces are never accepted.
        let cv = cross_validate(&[r(true, None), r(true, Some(0.3)), r(false, Some(0.9))], 3);
        assert_eq!(cv.frr, 0.5);
    }
}
