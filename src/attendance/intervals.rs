//! Live time, watch time and face checks in live time: pure set arithmetic on half-open
//! millisecond intervals (built on [`crate::filing::overlap`]).
//!
//! * live time of a class = measure of the union of the intervals in which the lecturer's
//!   video reached the server;
//! * watch time of a student = measure of ⋃ over sessions of (the student's delivery
//!   intervals in that session ∩ that session's live intervals). Unions make reconnects and
//!   duplicate reports count once; the intersection drops time before the lecture starts,
//!   during pauses and after it ends.

use std::collections::{BTreeMap, HashMap};

use super::events::FaceOutcome;
pub use crate::filing::overlap::{merge, Interval};

/// Total length of a set of intervals (overlaps counted once).
pub fn measure(intervals: &[Interval]) -> i64 {
    merge(intervals).iter().map(|iv| iv.end - iv.start).sum()
}

/// Intersection of two sets, each sorted, disjoint and non-touching (as [`merge`] returns).
pub fn intersect(a: &[Interval], b: &[Interval]) -> Vec<Interval> {
    let (mut i, mut j) = (0, 0);
    let mut out = Vec::new();
    while i < a.len() && j < b.len() {
        if let Some(iv) = a[i].intersection(&b[j]) {
            out.push(iv);
        }
        // Advance whichever ends first; the other may still meet the next one.
        if a[i].end <= b[j].end {
            i += 1;
        } else {
            j += 1;
        }
    }
    out
}

/// Whether instant `t` lies in a merged set.
pub fn covers(set: &[Interval], t: i64) -> bool {
    let idx = set.partition_point(|iv| iv.end <= t);
    set.get(idx).is_some_and(|iv| iv.contains(t))
}

/// A stored live interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveSpan {
    /// Session.
    pub session_id: i64,
    /// Time covered (an open interval ends at its last heartbeat).
    pub span: Interval,
}

/// A stored watch interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WatchSpan {
    /// Student.
    pub student_id: i64,
    /// Session.
    pub session_id: i64,
    /// Time covered.
    pub span: Interval,
}

/// A stored face check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Check {
    /// Student.
    pub student_id: i64,
    /// Session.
    pub session_id: i64,
    /// When it was scheduled.
    pub scheduled_at: i64,
    /// Outcome.
    pub outcome: FaceOutcome,
}

/// One student's totals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StudentTotals {
    /// Watch time (ms) over the whole class.
    pub watch_ms: i64,
    /// Watch time per session.
    pub watch_ms_by_session: BTreeMap<i64, i64>,
    /// Checks scheduled during live time.
    pub checks_scheduled: u32,
    /// Of those, `match`.
    pub checks_matched: u32,
}

/// Totals of a class.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClassTotals {
    /// Live time (ms) of the class: the union over all sessions.
    pub live_ms: i64,
    /// Live time per session.
    pub live_ms_by_session: BTreeMap<i64, i64>,
    /// Per student (only students with any watch interval or check appear).
    pub students: HashMap<i64, StudentTotals>,
}

impl ClassTotals {
    /// A student's totals, zero if nothing was recorded for them.
    pub fn student(&self, id: i64) -> StudentTotals {
        self.students.get(&id).cloned().unwrap_or_default()
    }
}

/// Computes live time, watch time and the face checks that count, for one class.
pub fn class_totals(live: &[LiveSpan], watch: &[WatchSpan], checks: &[Check]) -> ClassTotals {
    let mut live_by_session: BTreeMap<i64, Vec<Interval>> = BTreeMap::new();
    for l in live {
        live_by_session
            .entry(l.session_id)
            .or_default()
            .push(l.span);
    }
    let live_sets: BTreeMap<i64, Vec<Interval>> = live_by_session
        .into_iter()
        .map(|(s, v)| (s, merge(&v)))
        .collect();
    let all_live: Vec<Interval> = live_sets.values().flatten().copied().collect();
    let mut out = ClassTotals {
        live_ms: measure(&all_live),
        live_ms_by_session: live_sets
            .iter()
            .map(|(s, v)| (*s, v.iter().map(|iv| iv.end - iv.start).sum()))
            .collect(),
        students: HashMap::new(),
    };

    let mut watch_by: HashMap<(i64, i64), Vec<Interval>> = HashMap::new();
    for w in watch {
        watch_by
            .entry((w.student_id, w.session_id))
            .or_default()
            .push(w.span);
    }
    let empty = Vec::new();
    let mut counted: HashMap<i64, Vec<Interval>> = HashMap::new();
    for ((student, session), spans) in watch_by {
        let live = live_sets.get(&session).unwrap_or(&empty);
        let watched = intersect(&merge(&spans), live);
        let ms: i64 = watched.iter().map(|iv| iv.end - iv.start).sum();
        out.students
            .entry(student)
            .or_default()
            .watch_ms_by_session
            .insert(session, ms);
        counted.entry(student).or_default().extend(watched);
    }
    for (student, spans) in counted {
        // Sessions of one class do not normally overlap, but if they did the union still
        // counts each instant once.
        out.students.entry(student).or_default().watch_ms = measure(&spans);
    }

    for c in checks {
        let live = live_sets.get(&c.session_id).unwrap_or(&empty);
        if covers(live, c.scheduled_at) {
            let t = out.students.entry(c.student_id).or_default();
            t.checks_scheduled += 1;
            if c.outcome.is_present() {
                t.checks_matched += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MIN: i64 = 60_000;
    const HOUR: i64 = 60 * MIN;

    fn iv(a: i64, b: i64) -> Interval {
        Interval::new(a, b).unwrap()
    }
    fn live(session_id: i64, a: i64, b: i64) -> LiveSpan {
        LiveSpan {
            session_id,
            span: iv(a, b),
        }
    }
    fn watch(student_id: i64, session_id: i64, a: i64, b: i64) -> WatchSpan {
        WatchSpan {
            student_id,
            session_id,
            span: iv(a, b),
        }
    }
    fn check(student_id: i64, session_id: i64, at: i64, outcome: FaceOutcome) -> Check {
        Check {
            student_id,
            session_id,
            scheduled_at: at,
            outcome,
        }
    }

    #[test]
    fn intersect_of_overlapping_sets() {
        let a = [iv(0, 10), iv(20, 30), iv(40, 50)];
        let b = [iv(5, 25), iv(28, 45)];
        assert_eq!(
            intersect(&a, &b),
            vec![iv(5, 10), iv(20, 25), iv(28, 30), iv(40, 45)]
        );
        assert_eq!(intersect(&a, &[]), vec![]);
    }

    #[test]
    fn covers_is_half_open() {
        let set = [iv(0, 10), iv(20, 30)];
        assert!(covers(&set, 0));
        assert!(covers(&set, 9));
        assert!(!covers(&set, 10));
        assert!(!covers(&set, 15));
        assert!(covers(&set, 20));
        assert!(!covers(&set, 30));
        assert!(!covers(&[], 0));
    }

    #[test]
    fn reconnects_do_not_double_count() {
        // Two transports reported flowing at once after a reconnect, and a duplicate report.
        let t = class_totals(
            &[live(1, 0, HOUR)],
            &[
                watch(7, 1, 0, 40 * MIN),
                watch(7, 1, 30 * MIN, HOUR),
                watch(7, 1, 30 * MIN, HOUR),
            ],
            &[],
        );
        assert_eq!(t.live_ms, HOUR);
        assert_eq!(t.student(7).watch_ms, HOUR);
    }

    #[test]
    fn lecturer_pauses_are_not_watch_time() {
        // Lecturer streams 0–20 and 30–60 min; the student is connected throughout.
        let t = class_totals(
            &[live(1, 0, 20 * MIN), live(1, 30 * MIN, HOUR)],
            &[watch(7, 1, 0, HOUR)],
            &[],
        );
        assert_eq!(t.live_ms, 50 * MIN);
        assert_eq!(t.student(7).watch_ms, 50 * MIN);
    }

    #[test]
    fn joining_before_live_starts_counts_only_from_the_start() {
        let t = class_totals(&[live(1, 10 * MIN, HOUR)], &[watch(7, 1, 0, 30 * MIN)], &[]);
        assert_eq!(t.student(7).watch_ms, 20 * MIN);
        // And staying after the lecturer stopped adds nothing.
        let t = class_totals(
            &[live(1, 0, 30 * MIN)],
            &[watch(7, 1, 20 * MIN, 2 * HOUR)],
            &[],
        );
        assert_eq!(t.student(7).watch_ms, 10 * MIN);
    }

    #[test]
    fn sessions_across_midnight_count_whole() {
        // 2026-03-01 23:00 to 2026-03-02 01:00 China time (UTC+8).
        let start = chrono::DateTime::parse_from_rfc3339("2026-03-01T23:00:00+08:00")
            .unwrap()
            .timestamp_millis();
        let t = class_totals(
            &[live(1, start, start + 2 * HOUR)],
            &[watch(7, 1, start + 30 * MIN, start + 90 * MIN)],
            &[check(7, 1, start + 61 * MIN, FaceOutcome::Match)],
        );
        assert_eq!(t.live_ms, 2 * HOUR);
        assert_eq!(t.student(7).watch_ms, HOUR);
        assert_eq!(t.student(7).checks_scheduled, 1);
    }

    #[test]
    fn several_sessions_per_class_add_up_and_do_not_cross() {
        let day = 24 * HOUR;
        let t = class_totals(
            &[live(1, 0, 2 * HOUR), live(2, day, day + 3 * HOUR)],
            &[
                watch(7, 1, 0, HOUR),
                // Session 2's delivery interval that lies in session 1's time: not live for
                // session 2, so it does not count.
                watch(7, 2, HOUR, 2 * HOUR),
                watch(7, 2, day, day + 3 * HOUR),
            ],
            &[],
        );
        assert_eq!(t.live_ms, 5 * HOUR);
        assert_eq!(t.live_ms_by_session[&1], 2 * HOUR);
        assert_eq!(t.live_ms_by_session[&2], 3 * HOUR);
        let s = t.student(7);
        assert_eq!(s.watch_ms, 4 * HOUR);
        assert_eq!(s.watch_ms_by_session[&1], HOUR);
        assert_eq!(s.watch_ms_by_session[&2], 3 * HOUR);
    }

    #[test]
    fn only_checks_in_live_time_count_and_only_match_is_present() {
        let t = class_totals(
            &[live(1, 0, 10 * MIN), live(1, 20 * MIN, 30 * MIN)],
            &[],
            &[
                check(7, 1, MIN, FaceOutcome::Match),
                check(7, 1, 2 * MIN, FaceOutcome::CameraOff),
                check(7, 1, 3 * MIN, FaceOutcome::Absent),
                check(7, 1, 15 * MIN, FaceOutcome::Match), // lecturer paused
                check(7, 1, 21 * MIN, FaceOutcome::Match),
                check(7, 1, 30 * MIN, FaceOutcome::Match), // live ended (half-open)
                check(7, 2, 5 * MIN, FaceOutcome::Match),  // another session, never live
            ],
        );
        let s = t.student(7);
        assert_eq!((s.checks_scheduled, s.checks_matched), (4, 2));
    }

    #[test]
    fn nobody_watches_a_class_that_never_went_live() {
        let t = class_totals(&[], &[watch(7, 1, 0, HOUR)], &[]);
        assert_eq!(t.live_ms, 0);
        assert_eq!(t.student(7).watch_ms, 0);
        assert_eq!(t.student(99), StudentTotals::default());
    }

    fn arb_set() -> impl Strategy<Value = Vec<Interval>> {
        prop::collection::vec((0i64..1000, 1i64..200), 0..10).prop_map(|v| {
            v.into_iter()
                .map(|(s, l)| Interval {
                    start: s,
                    end: s + l,
                })
                .collect()
        })
    }

    fn brute(set: &[Interval], t: i64) -> bool {
        set.iter().any(|iv| iv.contains(t))
    }

    proptest! {
        #[test]
        fn measure_matches_counting_instants(a in arb_set()) {
            let n = (0..1200).filter(|&t| brute(&a, t)).count() as i64;
            prop_assert_eq!(measure(&a), n);
        }

        #[test]
        fn intersect_matches_counting_instants(a in arb_set(), b in arb_set()) {
            let got = intersect(&merge(&a), &merge(&b));
            for t in 0..1200 {
                prop_assert_eq!(covers(&got, t), brute(&a, t) && brute(&b, t), "t={}", t);
            }
            // Output stays sorted and disjoint.
            prop_assert_eq!(merge(&got).len(), got.len());
        }

        #[test]
        fn watch_never_exceeds_live_and_duplicates_change_nothing(
            l in arb_set(),
            w in arb_set(),
        ) {
            let live_spans: Vec<LiveSpan> = l.iter().map(|&span| LiveSpan { session_id: 1, span }).collect();
            let watch_spans: Vec<WatchSpan> = w.iter().map(|&span| WatchSpan { student_id: 7, session_id: 1, span }).collect();
            let once = class_totals(&live_spans, &watch_spans, &[]);
            let mut doubled = watch_spans.clone();
            doubled.extend(watch_spans.iter().copied());
            let twice = class_totals(&live_spans, &doubled, &[]);
            prop_assert!(once.student(7).watch_ms <= once.live_ms);
            prop_assert_eq!(once.student(7).watch_ms, twice.student(7).watch_ms);
            let n = (0..1200).filter(|&t| brute(&l, t) && brute(&w, t)).count() as i64;
            prop_assert_eq!(once.student(7).watch_ms, n);
        }
    }
}
