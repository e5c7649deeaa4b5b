//! When to check whom: a sans-IO scheduler for one live session. Each student gets an
//! independent random schedule — a Poisson process (memoryless: having just been checked
//! tells a student nothing about the next check) with the configured mean interval, topped
//! up with uniformly random times to the configured minimum per session. A failed attempt
//! is retried up to `max_retries` times within `retry_window` before the check counts.
//!
//! The owner feeds time and results in, and takes work and events out:
//! `poll_timeout` → sleep → `poll_due(now)` (frames to grab) → `handle_result` →
//! `poll_event` (finished checks for attendance). No clock, no tasks, no I/O here.

use std::collections::{BTreeMap, VecDeque};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::verify::Outcome;

/// Unix milliseconds.
pub type Ms = i64;

/// Sampling settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SamplerConfig {
    /// Mean time between checks of one student, seconds.
    pub mean_interval_secs: u64,
    /// Never fewer checks than this per student per session.
    pub min_checks_per_session: u32,
    /// Extra attempts after a failed one.
    pub max_retries: u32,
    /// All retries happen within this many seconds of the first attempt.
    pub retry_window_secs: u64,
}

impl Default for SamplerConfig {
    fn default() -> Self {
        Self {
            mean_interval_secs: 300,
            min_checks_per_session: 3,
            max_retries: 2,
            retry_window_secs: 30,
        }
    }
}

/// A student (account id).
pub type StudentId = i64;

/// A frame to grab and verify now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Due {
    /// Who.
    pub student: StudentId,
    /// Which scheduled check (0-based, per student).
    pub check: u32,
    /// 1 for the first attempt, up to 1 + `max_retries`.
    pub attempt: u32,
}

/// A check that is over: what attendance records.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckEvent {
    /// Who.
    pub student: StudentId,
    /// Which scheduled check.
    pub check: u32,
    /// When it was scheduled.
    pub scheduled_at: Ms,
    /// When the last attempt's result came in.
    pub decided_at: Ms,
    /// `match` if any attempt matched, else the last attempt's outcome.
    pub outcome: Outcome,
    /// Attempts made.
    pub attempts: u32,
    /// Distance of the deciding attempt, if a single face was compared.
    pub distance: Option<f64>,
}

#[derive(Clone, Debug)]
struct Student {
    /// Checks scheduled over the session.
    total: u32,
    /// Scheduled times not yet started, ascending.
    pending: VecDeque<(u32, Ms)>,
    /// The check in progress: (check, scheduled_at, attempt, next attempt at or in flight).
    current: Option<Current>,
}

#[derive(Clone, Copy, Debug)]
struct Current {
    check: u32,
    scheduled_at: Ms,
    attempt: u32,
    /// `Some(t)`: next attempt due at t; `None`: an attempt is in flight.
    due_at: Option<Ms>,
}

/// The scheduler of one session.
pub struct Sampler {
    cfg: SamplerConfig,
    start: Ms,
    end: Ms,
    rng: StdRng,
    students: BTreeMap<StudentId, Student>,
    events: VecDeque<CheckEvent>,
}

impl Sampler {
    /// A scheduler for live time `[start, end)`; `seed` must come from a secure source in
    /// production (times must not be guessable).
    pub fn new(cfg: SamplerConfig, start: Ms, end: Ms, seed: u64) -> Self {
        Self {
            cfg,
            start,
            end: end.max(start),
            rng: StdRng::seed_from_u64(seed),
            students: BTreeMap::new(),
            events: VecDeque::new(),
        }
    }

    /// The check times a student gets over the whole session.
    fn schedule(&mut self) -> Vec<Ms> {
        // Leave room for the retries of the last check inside live time.
        let retry_ms = self.cfg.retry_window_secs as i64 * 1000;
        let last = (self.end - retry_ms).max(self.start);
        let span = (last - self.start) as f64;
        let mean = (self.cfg.mean_interval_secs.max(1) * 1000) as f64;
        let mut times = Vec::new();
        let mut t = self.start as f64;
        loop {
            // Exponential gap: -mean · ln(U), U in (0, 1].
            let u: f64 = 1.0 - self.rng.gen::<f64>();
            t += -mean * u.ln();
            if t >= last as f64 {
                break;
            }
            times.push(t as Ms);
        }
        while times.len() < self.cfg.min_checks_per_session as usize {
            times.push(self.start + (self.rng.gen::<f64>() * span) as Ms);
        }
        times.sort_unstable();
        times
    }

    /// Adds a student (on the roster of this session); their schedule covers the whole
    /// session, so checks before they join count as `absent` (reported by the caller).
    pub fn add_student(&mut self, student: StudentId) {
        if self.students.contains_key(&student) {
            return;
        }
        let pending: VecDeque<(u32, Ms)> = self
            .schedule()
            .into_iter()
            .enumerate()
            .map(|(i, t)| (i as u32, t))
            .collect();
        self.students.insert(
            student,
            Student {
                total: pending.len() as u32,
                pending,
                current: None,
            },
        );
    }

    /// Checks scheduled for a student in total (the attendance denominator).
    pub fn scheduled(&self, student: StudentId) -> Option<u32> {
        self.students.get(&student).map(|s| s.total)
    }

    /// The earliest time something is due, if any.
    pub fn poll_timeout(&self) -> Option<Ms> {
        self.students
            .values()
            .filter_map(|s| match s.current {
                Some(c) => c.due_at,
                None => s.pending.front().map(|(_, t)| *t),
            })
            .min()
    }

    /// Everything due at `now`: the caller grabs a frame for each and reports back with
    /// [`Sampler::handle_result`]. A student never has two attempts in flight.
    pub fn poll_due(&mut self, now: Ms) -> Vec<Due> {
        let mut out = Vec::new();
        for (&student, s) in self.students.iter_mut() {
            if s.current.is_none() {
                if let Some(&(check, at)) = s.pending.front() {
                    if at <= now {
                        s.pending.pop_front();
                        s.current = Some(Current {
                            check,
                            scheduled_at: at,
                            attempt: 1,
                            due_at: Some(at),
                        });
                    }
                }
            }
            if let Some(c) = &mut s.current {
                if c.due_at.is_some_and(|t| t <= now) {
                    c.due_at = None;
                    out.push(Due {
                        student,
                        check: c.check,
                        attempt: c.attempt,
                    });
                }
            }
        }
        out
    }

    /// The result of an attempt handed out by [`Sampler::poll_due`]. Results that arrive
    /// late (a saturated worker pool delays them) are still used.
    pub fn handle_result(&mut self, now: Ms, due: Due, outcome: Outcome, distance: Option<f64>) {
        let retries = self.cfg.max_retries;
        let window = self.cfg.retry_window_secs as i64 * 1000;
        let Some(s) = self.students.get_mut(&due.student) else {
            return;
        };
        let Some(c) = &mut s.current else { return };
        if c.check != due.check || c.attempt != due.attempt || c.due_at.is_some() {
            return; // stale or duplicate
        }
        let finished = outcome == Outcome::Match || c.attempt > retries;
        if finished {
            self.events.push_back(CheckEvent {
                student: due.student,
                check: c.check,
                scheduled_at: c.scheduled_at,
                decided_at: now,
                outcome,
                attempts: c.attempt,
                distance,
            });
            s.current = None;
            return;
        }
        // Spread the retries over the window: attempt k+1 lands in the k-th slice after
        // the first attempt, at a random point, but never before now.
        let slice = window / retries.max(1) as i64;
        let lo = c.scheduled_at + slice * (c.attempt as i64 - 1);
        let at = lo + self.rng.gen_range(0..slice.max(1));
        c.attempt += 1;
        c.due_at = Some(at.max(now));
    }

    /// The next finished check.
    pub fn poll_event(&mut self) -> Option<CheckEvent> {
        self.events.pop_front()
    }

    /// Whether every check of every student is finished.
    pub fn is_done(&self) -> bool {
        self.students
            .values()
            .all(|s| s.pending.is_empty() && s.current.is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MIN: Ms = 60_000;

    /// Runs a session where every attempt's outcome comes from `f`; results arrive
    /// `delay` ms after the attempt is handed out.
    fn simulate(
        cfg: SamplerConfig,
        len: Ms,
        students: i64,
        seed: u64,
        delay: Ms,
        mut f: impl FnMut(Due) -> Outcome,
    ) -> (Sampler, Vec<CheckEvent>, Vec<(Ms, Due)>) {
        let mut s = Sampler::new(cfg, 0, len, seed);
        for id in 0..students {
            s.add_student(id);
        }
        let mut events = Vec::new();
        let mut handed = Vec::new();
        let mut in_flight: Vec<(Ms, Due)> = Vec::new();
        let mut now = 0;
        loop {
            let next_result = in_flight.iter().map(|(t, _)| *t).min();
            let next = match (s.poll_timeout(), next_result) {
                (Some(a), Some(b)) => a.min(b),
                (a, b) => match a.or(b) {
                    Some(t) => t,
                    None => break,
                },
            };
            now = now.max(next);
            for d in s.poll_due(now) {
                handed.push((now, d));
                in_flight.push((now + delay, d));
            }
            let (ready, rest): (Vec<_>, Vec<_>) =
                in_flight.into_iter().partition(|(t, _)| *t <= now);
            in_flight = rest;
            for (_, d) in ready {
                s.handle_result(now, d, f(d), None);
            }
            while let Some(e) = s.poll_event() {
                events.push(e);
            }
        }
        (s, events, handed)
    }

    #[test]
    fn mean_interval_holds_over_many_sessions() {
        let cfg = SamplerConfig::default();
        // 200 students × 2 h: expect about 24 checks each at a 5-minute mean.
        let (s, events, _) = simulate(cfg, 120 * MIN, 200, 7, 100, |_| Outcome::Match);
        assert!(s.is_done());
        let per = events.len() as f64 / 200.0;
        assert!((21.0..27.0).contains(&per), "{per} checks per student");
        for id in 0..200 {
            let n = events.iter().filter(|e| e.student == id).count() as u32;
            assert_eq!(Some(n), s.scheduled(id));
        }
    }

    #[test]
    fn short_sessions_still_get_the_minimum() {
        let cfg = SamplerConfig {
            min_checks_per_session: 4,
            ..Default::default()
        };
        let (_, events, _) = simulate(cfg, 10 * MIN, 50, 3, 0, |_| Outcome::Match);
        for id in 0..50 {
            assert!(events.iter().filter(|e| e.student == id).count() >= 4);
        }
    }

    #[test]
    fn failed_attempts_are_retried_twice_within_the_window() {
        let cfg = SamplerConfig::default();
        let (_, events, handed) = simulate(cfg, 30 * MIN, 5, 11, 50, |_| Outcome::NoFace);
        assert!(!events.is_empty());
        for e in &events {
            assert_eq!(e.attempts, 3);
            assert_eq!(e.outcome, Outcome::NoFace);
            let times: Vec<Ms> = handed
                .iter()
                .filter(|(_, d)| d.student == e.student && d.check == e.check)
                .map(|(t, _)| *t)
                .collect();
            assert_eq!(times.len(), 3);
            assert!(times.windows(2).all(|w| w[0] < w[1]));
            assert!(times[2] - e.scheduled_at <= 30_000, "{times:?}");
        }
    }

    #[test]
    fn a_retry_that_matches_counts_as_a_match() {
        let cfg = SamplerConfig::default();
        let (_, events, _) = simulate(cfg, 30 * MIN, 3, 5, 10, |d| {
            if d.attempt == 2 {
                Outcome::Match
            } else {
                Outcome::Mismatch
            }
        });
        assert!(events
            .iter()
            .all(|e| e.outcome == Outcome::Match && e.attempts == 2));
    }

    #[test]
    fn slow_results_delay_checks_but_none_is_lost() {
        // Results take 90 s (a saturated pool): the schedule slips, nothing is dropped.
        let cfg = SamplerConfig::default();
        let (s, events, _) = simulate(cfg, 60 * MIN, 20, 9, 90_000, |_| Outcome::Match);
        for id in 0..20 {
            let n = events.iter().filter(|e| e.student == id).count() as u32;
            assert_eq!(Some(n), s.scheduled(id));
        }
    }

    #[test]
    fn schedules_differ_between_students_and_seeds() {
        let mut a = Sampler::new(SamplerConfig::default(), 0, 60 * MIN, 1);
        let mut b = Sampler::new(SamplerConfig::default(), 0, 60 * MIN, 2);
        let (x, y, z) = (a.schedule(), a.schedule(), b.schedule());
        assert_ne!(x, y);
        assert_ne!(x, z);
    }

    proptest! {
        #[test]
        fn checks_lie_in_live_time_and_meet_the_minimum(
            len_min in 1i64..240, mean in 30u64..900, min in 0u32..6, seed: u64
        ) {
            let cfg = SamplerConfig { mean_interval_secs: mean, min_checks_per_session: min, ..Default::default() };
            let mut s = Sampler::new(cfg, 1_000, 1_000 + len_min * MIN, seed);
            let times = s.schedule();
            prop_assert!(times.len() >= min as usize);
            prop_assert!(times.windows(2).all(|w| w[0] <= w[1]));
            prop_assert!(times.iter().all(|t| (1_000..1_000 + len_min * MIN).contains(t)));
        }
    }
}
