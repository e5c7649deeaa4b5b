//! Time intervals and the peak of overlapping loads (e.g. students a lecturer
//! is teaching at once across several classes).

/// A half-open time span `[start, end)` in unix milliseconds.
///
/// Half-open so that back-to-back sessions (one ends at 10:00, the next starts
/// at 10:00) do not overlap.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interval {
    /// First instant covered, inclusive.
    pub start: i64,
    /// First instant no longer covered, exclusive.
    pub end: i64,
}

impl Interval {
    /// An interval from `start` to `end`, or `None` if it would be empty
    /// (`end <= start`).
    pub fn new(start: i64, end: i64) -> Option<Self> {
        (start < end).then_some(Self { start, end })
    }

    /// Whether some instant lies in both intervals. Touching intervals
    /// `[a, b)` and `[b, c)` do not overlap.
    pub fn overlaps(&self, other: &Interval) -> bool {
        self.start < other.end && other.start < self.end
    }

    /// Whether the instant `t` lies in the interval.
    pub fn contains(&self, t: i64) -> bool {
        self.start <= t && t < self.end
    }

    /// The common part of both intervals, or `None` if they do not overlap.
    pub fn intersection(&self, other: &Interval) -> Option<Interval> {
        Interval::new(self.start.max(other.start), self.end.min(other.end))
    }
}

/// The union of `intervals` as sorted, disjoint, non-touching intervals.
///
/// Empty intervals (built by hand with `end <= start`) are dropped.
pub fn merge(intervals: &[Interval]) -> Vec<Interval> {
    let mut sorted: Vec<Interval> = intervals
        .iter()
        .copied()
        .filter(|iv| iv.start < iv.end)
        .collect();
    sorted.sort_unstable_by_key(|iv| iv.start);
    let mut merged: Vec<Interval> = Vec::with_capacity(sorted.len());
    for iv in sorted {
        match merged.last_mut() {
            // `<=` joins touching intervals too: the union is the same set.
            Some(last) if iv.start <= last.end => last.end = last.end.max(iv.end),
            _ => merged.push(iv),
        }
    }
    merged
}

/// The largest total load present at any single instant, and the earliest
/// instant at which that peak begins.
///
/// Each item is an interval with the load it carries while it runs. Returns
/// `None` if no item covers any instant (no items, or only empty intervals).
/// A total above `u32::MAX` is reported as `u32::MAX`.
pub fn peak_load(items: &[(Interval, u32)]) -> Option<(u32, i64)> {
    // Sweep line: +load at each start, -load at each end.
    let mut events: Vec<(i64, i64)> = Vec::with_capacity(items.len() * 2);
    for &(iv, load) in items {
        if iv.start < iv.end {
            events.push((iv.start, i64::from(load)));
            events.push((iv.end, -i64::from(load)));
        }
    }
    events.sort_unstable_by_key(|&(t, _)| t);

    let mut level: i64 = 0;
    let mut best: Option<(i64, i64)> = None;
    let mut i = 0;
    while i < events.len() {
        // Apply every event at this timestamp before reading the level, so an
        // interval ending at `t` is gone before one starting at `t` is added
        // (half-open intervals that touch never stack).
        let t = events[i].0;
        while i < events.len() && events[i].0 == t {
            level += events[i].1;
            i += 1;
        }
        // Strictly greater keeps the earliest instant on ties.
        if best.is_none_or(|(peak, _)| level > peak) {
            best = Some((level, t));
        }
    }
    best.map(|(peak, t)| (u32::try_from(peak).unwrap_or(u32::MAX), t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn iv(start: i64, end: i64) -> Interval {
        Interval::new(start, end).unwrap()
    }

    #[test]
    fn new_rejects_empty_and_reversed() {
        assert_eq!(Interval::new(5, 5), None);
        assert_eq!(Interval::new(6, 5), None);
        assert_eq!(Interval::new(5, 6), Some(Interval { start: 5, end: 6 }));
    }

    #[test]
    fn overlap_is_half_open() {
        assert!(iv(0, 10).overlaps(&iv(9, 20)));
        assert!(iv(9, 20).overlaps(&iv(0, 10)));
        assert!(iv(0, 10).overlaps(&iv(2, 3)), "containment");
        assert!(!iv(0, 10).overlaps(&iv(10, 20)), "touching");
        assert!(!iv(10, 20).overlaps(&iv(0, 10)), "touching");
        assert!(!iv(0, 10).overlaps(&iv(15, 20)));
    }

    #[test]
    fn contains_and_intersection() {
        assert!(iv(0, 10).contains(0));
        assert!(!iv(0, 10).contains(10));
        assert_eq!(iv(0, 10).intersection(&iv(5, 20)), Some(iv(5, 10)));
        assert_eq!(iv(0, 10).intersection(&iv(10, 20)), None);
    }

    #[test]
    fn merge_joins_overlapping_and_touching() {
        let merged = merge(&[
            iv(20, 30),
            iv(0, 10),
            iv(5, 12),
            iv(12, 15),
            iv(40, 50),
            Interval { start: 60, end: 55 },
        ]);
        assert_eq!(merged, vec![iv(0, 15), iv(20, 30), iv(40, 50)]);
    }

    #[test]
    fn peak_of_nothing_is_none() {
        assert_eq!(peak_load(&[]), None);
        assert_eq!(peak_load(&[(Interval { start: 3, end: 3 }, 7)]), None);
    }

    #[test]
    fn peak_sums_overlapping_loads_and_reports_when_it_begins() {
        let items = [(iv(0, 100), 150), (iv(50, 200), 80), (iv(150, 300), 100)];
        assert_eq!(peak_load(&items), Some((230, 50)));
    }

    #[test]
    fn peak_keeps_the_earliest_instant_on_ties() {
        let items = [(iv(0, 10), 5), (iv(20, 30), 5)];
        assert_eq!(peak_load(&items), Some((5, 0)));
    }

    #[test]
    fn peak_saturates_instead_of_overflowing() {
        let items = [(iv(0, 10), u32::MAX), (iv(0, 10), 1)];
        assert_eq!(peak_load(&items), Some((u32::MAX, 0)));
    }

    /// Total load covering instant `t`, computed the obvious way.
    fn load_at(items: &[(Interval, u32)], t: i64) -> u64 {
        items
            .iter()
            .filter(|(iv, _)| iv.contains(t))
            .map(|&(_, load)| u64::from(load))
            .sum()
    }

    fn arb_items() -> impl Strategy<Value = Vec<(Interval, u32)>> {
        // Lengths down to -3 produce some empty intervals, which must be ignored.
        prop::collection::vec((-50i64..50, -3i64..30, 0u32..300), 0..12).prop_map(|v| {
            v.into_iter()
                .map(|(start, len, load)| {
                    (
                        Interval {
                            start,
                            end: start + len,
                        },
                        load,
                    )
                })
                .collect()
        })
    }

    proptest! {
        #[test]
        fn peak_matches_brute_force_at_every_start(items in arb_items()) {
            // The load only rises at a start, so the maximum is attained at one.
            let starts: Vec<i64> = items
                .iter()
                .filter(|(iv, _)| iv.start < iv.end)
                .map(|(iv, _)| iv.start)
                .collect();
            let brute = starts.iter().map(|&s| load_at(&items, s)).max();
            match peak_load(&items) {
                None => prop_assert!(brute.is_none()),
                Some((peak, at)) => {
                    prop_assert_eq!(Some(u64::from(peak)), brute);
                    prop_assert_eq!(load_at(&items, at), u64::from(peak));
                    // No earlier instant reaches the peak.
                    let earliest = starts
                        .iter()
                        .copied()
                        .filter(|&s| load_at(&items, s) == u64::from(peak))
                        .min();
                    prop_assert_eq!(Some(at), earliest);
                }
            }
        }

        #[test]
        fn touching_intervals_never_add_up(
            a in -1000i64..1000,
            ab in 1i64..100,
            bc in 1i64..100,
            l1 in 0u32..1000,
            l2 in 0u32..1000,
        ) {
            let b = a + ab;
            let c = b + bc;
            let items = [(iv(a, b), l1), (iv(b, c), l2)];
            let expected = if l2 > l1 { (l2, b) } else { (l1, a) };
            prop_assert_eq!(peak_load(&items), Some(expected));
            // Order of the input must not matter.
            prop_assert_eq!(peak_load(&[items[1], items[0]]), Some(expected));
        }
    }
}
