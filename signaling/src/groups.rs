//! Assistant groups (pure): each student has a *home* assistant, assigned once from the
//! roster in balanced groups of 20–30 (fewer only when the class is smaller). While the home
//! assistant is offline, an online student is *covered* by another online assistant, chosen
//! least-loaded so no assistant carries more than 30 while another has room; when the home
//! assistant comes back, the student returns.
//!
//! "Online" here means connected. Every operation returns the students whose effective
//! assistant changed, so the room can tell them and the assistants concerned.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Account id of an assistant or student.
pub type UserId = i64;

/// Group size limits (the notice: each assistant serves 20–30 students).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GroupLimits {
    /// Fewest students per group, unless the class itself is smaller.
    pub min: usize,
    /// Most students per group while another assistant has room.
    pub max: usize,
}

impl Default for GroupLimits {
    fn default() -> Self {
        Self { min: 20, max: 30 }
    }
}

/// A student whose effective assistant changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Move {
    /// The student.
    pub student: UserId,
    /// Assistant before (none if there was none online).
    pub from: Option<UserId>,
    /// Assistant after.
    pub to: Option<UserId>,
}

/// Balanced home groups: students (in roster order) dealt into `k` contiguous groups whose
/// sizes differ by at most one, `k` = as many assistants as keep groups at or above
/// `limits.min` but at least enough to keep them at or below `limits.max`.
pub fn assign(
    students: &[UserId],
    assistants: &[UserId],
    limits: GroupLimits,
) -> BTreeMap<UserId, Vec<UserId>> {
    let mut out: BTreeMap<UserId, Vec<UserId>> =
        assistants.iter().map(|a| (*a, Vec::new())).collect();
    if assistants.is_empty() || students.is_empty() {
        return out;
    }
    let n = students.len();
    let fewest = n.div_ceil(limits.max.max(1));
    let most = (n / limits.min.max(1)).max(1);
    // Use every assistant the limits allow; too few assistants overfill (the filing rules
    // forbid that), and a class no split fits (e.g. 35) stays at or below `max`.
    let k = if assistants.len() < fewest {
        assistants.len()
    } else if fewest <= most {
        most.min(assistants.len())
    } else {
        fewest
    };
    let (base, extra) = (n / k, n % k);
    let mut i = 0;
    for (g, a) in assistants.iter().take(k).enumerate() {
        let size = base + usize::from(g < extra);
        out.get_mut(a)
            .expect("assistant present")
            .extend_from_slice(&students[i..i + size]);
        i += size;
    }
    out
}

/// The live state of a class's groups.
#[derive(Clone, Debug)]
pub struct Groups {
    limits: GroupLimits,
    assistants: Vec<UserId>,
    home: BTreeMap<UserId, UserId>,
    online_assistants: BTreeSet<UserId>,
    online_students: BTreeSet<UserId>,
    /// Online students whose home assistant is offline → who covers them.
    cover: BTreeMap<UserId, UserId>,
    /// Online students per online assistant (home and covered).
    load: BTreeMap<UserId, usize>,
}

impl Groups {
    /// Groups for a roster; everybody starts offline.
    pub fn new(students: &[UserId], assistants: &[UserId], limits: GroupLimits) -> Self {
        let mut assistants = assistants.to_vec();
        assistants.sort_unstable();
        assistants.dedup();
        let mut students = students.to_vec();
        students.sort_unstable();
        students.dedup();
        let home = assign(&students, &assistants, limits)
            .into_iter()
            .flat_map(|(a, ss)| ss.into_iter().map(move |s| (s, a)))
            .collect();
        Self {
            limits,
            assistants,
            home,
            online_assistants: BTreeSet::new(),
            online_students: BTreeSet::new(),
            cover: BTreeMap::new(),
            load: BTreeMap::new(),
        }
    }

    /// The size limits in force.
    pub fn limits(&self) -> GroupLimits {
        self.limits
    }

    /// Whether `user` is one of the class's assistants.
    pub fn is_assistant(&self, user: UserId) -> bool {
        self.assistants.binary_search(&user).is_ok()
    }

    /// The student's home assistant.
    pub fn home_of(&self, student: UserId) -> Option<UserId> {
        self.home.get(&student).copied()
    }

    /// Home students of an assistant (online or not).
    pub fn home_group(&self, assistant: UserId) -> Vec<UserId> {
        self.home
            .iter()
            .filter(|(_, a)| **a == assistant)
            .map(|(s, _)| *s)
            .collect()
    }

    /// The online assistant currently looking after an online student.
    pub fn assistant_of(&self, student: UserId) -> Option<UserId> {
        if !self.online_students.contains(&student) {
            return None;
        }
        match self.home.get(&student) {
            Some(h) if self.online_assistants.contains(h) => Some(*h),
            _ => self.cover.get(&student).copied(),
        }
    }

    /// Students an assistant sees: its home group (online or not) and the online students it
    /// covers, each with whether it is online.
    pub fn members(&self, assistant: UserId) -> Vec<(UserId, bool)> {
        let mut out: Vec<(UserId, bool)> = self
            .home_group(assistant)
            .into_iter()
            .map(|s| (s, self.online_students.contains(&s)))
            .collect();
        out.extend(
            self.cover
                .iter()
                .filter(|(_, a)| **a == assistant)
                .map(|(s, _)| (*s, true)),
        );
        out.sort_unstable();
        out
    }

    /// Online students per online assistant.
    pub fn load(&self, assistant: UserId) -> usize {
        self.load.get(&assistant).copied().unwrap_or(0)
    }

    /// Adds a student enrolled after the room opened: into the smallest home group.
    pub fn add_student(&mut self, student: UserId) {
        if self.home.contains_key(&student) || self.assistants.is_empty() {
            return;
        }
        let mut sizes: BTreeMap<UserId, usize> = self.assistants.iter().map(|a| (*a, 0)).collect();
        for a in self.home.values() {
            *sizes.get_mut(a).expect("home is an assistant") += 1;
        }
        // Fill used groups first (empty groups are reserve assistants), then the reserve.
        let target = sizes
            .iter()
            .filter(|(_, n)| **n > 0 && **n < self.limits.max)
            .min_by_key(|(a, n)| (**n, **a))
            .or_else(|| sizes.iter().min_by_key(|(a, n)| (**n, **a)))
            .map(|(a, _)| *a)
            .expect("assistants not empty");
        self.home.insert(student, target);
    }

    fn effective_all(&self) -> BTreeMap<UserId, Option<UserId>> {
        self.online_students
            .iter()
            .map(|s| (*s, self.assistant_of(*s)))
            .collect()
    }

    /// Applies a change and reports whose assistant moved.
    fn change(&mut self, f: impl FnOnce(&mut Self)) -> Vec<Move> {
        let before = self.effective_all();
        f(self);
        self.settle();
        let after = self.effective_all();
        let mut moves = Vec::new();
        for s in before.keys().chain(after.keys()).collect::<BTreeSet<_>>() {
            let (from, to) = (
                before.get(s).copied().flatten(),
                after.get(s).copied().flatten(),
            );
            if from != to {
                moves.push(Move {
                    student: *s,
                    from,
                    to,
                });
            }
        }
        moves
    }

    /// A student connected.
    pub fn student_online(&mut self, student: UserId) -> Vec<Move> {
        self.change(|g| {
            g.online_students.insert(student);
        })
    }

    /// A student disconnected or left.
    pub fn student_offline(&mut self, student: UserId) -> Vec<Move> {
        self.change(|g| {
            g.online_students.remove(&student);
        })
    }

    /// An assistant connected: its home students come back to it.
    pub fn assistant_online(&mut self, assistant: UserId) -> Vec<Move> {
        if !self.is_assistant(assistant) {
            return Vec::new();
        }
        self.change(|g| {
            g.online_assistants.insert(assistant);
        })
    }

    /// An assistant disconnected: its students spread over the others.
    pub fn assistant_offline(&mut self, assistant: UserId) -> Vec<Move> {
        self.change(|g| {
            g.online_assistants.remove(&assistant);
        })
    }

    fn least_loaded(&self, except: Option<UserId>) -> Option<UserId> {
        self.online_assistants
            .iter()
            .filter(|a| Some(**a) != except)
            .min_by_key(|a| (self.load(**a), **a))
            .copied()
    }

    /// Restores the rules after any change: covers dropped where not needed, every online
    /// student without an online home assistant covered by the least-loaded one, and covers
    /// moved off assistants above `max` while another has room.
    fn settle(&mut self) {
        let online_students = &self.online_students;
        let online_assistants = &self.online_assistants;
        let home = &self.home;
        self.cover.retain(|s, a| {
            online_students.contains(s)
                && online_assistants.contains(a)
                && !home.get(s).is_some_and(|h| online_assistants.contains(h))
        });
        self.load = self.online_assistants.iter().map(|a| (*a, 0)).collect();
        for s in &self.online_students {
            let a = match self.home.get(s) {
                Some(h) if self.online_assistants.contains(h) => Some(*h),
                _ => self.cover.get(s).copied(),
            };
            if let Some(a) = a {
                *self.load.get_mut(&a).expect("online assistant") += 1;
            }
        }
        if self.online_assistants.is_empty() {
            return;
        }
        let uncovered: Vec<UserId> = self
            .online_students
            .iter()
            .filter(|s| {
                !self
                    .home
                    .get(s)
                    .is_some_and(|h| self.online_assistants.contains(h))
                    && !self.cover.contains_key(s)
            })
            .copied()
            .collect();
        for s in uncovered {
            let a = self.least_loaded(None).expect("some assistant online");
            self.cover.insert(s, a);
            *self.load.get_mut(&a).expect("online") += 1;
        }
        // Move covered students off overfull assistants while someone has room.
        while let Some((&over, _)) = self
            .load
            .iter()
            .filter(|(a, n)| **n > self.limits.max && self.cover.values().any(|c| c == *a))
            .max_by_key(|(a, n)| (**n, std::cmp::Reverse(**a)))
        {
            let Some(room) = self.least_loaded(Some(over)) else {
                break;
            };
            if self.load(room) >= self.limits.max {
                break;
            }
            let s = *self
                .cover
                .iter()
                .rev()
                .find(|(_, a)| **a == over)
                .expect("over has a cover")
                .0;
            self.cover.insert(s, room);
            *self.load.get_mut(&over).expect("online") -= 1;
            *self.load.get_mut(&room).expect("online") += 1;
        }
    }

    /// Online students (for tests and the room).
    pub fn online_students(&self) -> impl Iterator<Item = UserId> + '_ {
        self.online_students.iter().copied()
    }

    /// Online assistants.
    pub fn online_assistants(&self) -> impl Iterator<Item = UserId> + '_ {
        self.online_assistants.iter().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ids(range: std::ops::Range<i64>) -> Vec<UserId> {
        range.collect()
    }

    fn sizes(m: &BTreeMap<UserId, Vec<UserId>>) -> Vec<usize> {
        m.values().map(Vec::len).collect()
    }

    #[test]
    fn two_hundred_students_eight_assistants_are_dealt_evenly() {
        let g = assign(&ids(1000..1200), &ids(1..9), GroupLimits::default());
        assert_eq!(sizes(&g), vec![25; 8]);
        // Contiguous, in roster order.
        assert_eq!(g[&1][0], 1000);
        assert_eq!(g[&8][24], 1199);
    }

    #[test]
    fn surplus_assistants_stay_in_reserve_rather_than_shrinking_groups() {
        // 45 students, 4 assistants: 2 groups (22/23) keep everyone ≥ 20.
        let g = assign(&ids(100..145), &ids(1..5), GroupLimits::default());
        assert_eq!(sizes(&g), vec![23, 22, 0, 0]);
    }

    #[test]
    fn a_small_class_is_one_group() {
        let g = assign(&ids(100..112), &ids(1..3), GroupLimits::default());
        assert_eq!(sizes(&g), vec![12, 0]);
    }

    #[test]
    fn too_few_assistants_overfill_evenly() {
        // The filing rules forbid it, but the room must still work.
        let g = assign(&ids(100..190), &ids(1..3), GroupLimits::default());
        assert_eq!(sizes(&g), vec![45, 45]);
    }

    #[test]
    fn students_spread_when_their_assistant_leaves_and_return_when_it_comes_back() {
        let mut g = Groups::new(&ids(100..175), &ids(1..4), GroupLimits::default());
        for a in 1..4 {
            g.assistant_online(a);
        }
        for s in 100..175 {
            g.student_online(s);
        }
        assert_eq!((g.load(1), g.load(2), g.load(3)), (25, 25, 25));
        let moves = g.assistant_offline(1);
        assert_eq!(moves.len(), 25);
        assert!(moves.iter().all(|m| m.from == Some(1) && m.to != Some(1)));
        assert_eq!(g.load(2) + g.load(3), 75);
        assert!(g.load(2).abs_diff(g.load(3)) <= 1);
        let back = g.assistant_online(1);
        assert_eq!(back.len(), 25);
        assert!(back.iter().all(|m| m.to == Some(1)));
        assert_eq!((g.load(1), g.load(2), g.load(3)), (25, 25, 25));
    }

    #[test]
    fn a_home_student_arriving_pushes_a_cover_elsewhere() {
        // Reserve assistant 3 has room; 2 is full of covers plus its own.
        let mut g = Groups::new(&ids(100..140), &ids(1..4), GroupLimits::default());
        // 40 students → groups of 20 for assistants 1 and 2; 3 is reserve.
        g.assistant_online(2);
        for s in 100..120 {
            g.student_online(s); // home 1 (offline) → covered by 2
        }
        assert_eq!(g.load(2), 20);
        g.assistant_online(3);
        for s in 120..140 {
            g.student_online(s); // home 2
        }
        assert!(g.load(2) <= 30, "{}", g.load(2));
        assert_eq!(g.load(2) + g.load(3), 40);
    }

    #[derive(Clone, Debug)]
    enum Op {
        Student(usize, bool),
        Assistant(usize, bool),
        Late,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (0usize..250, any::<bool>()).prop_map(|(i, on)| Op::Student(i, on)),
            2 => (0usize..10, any::<bool>()).prop_map(|(i, on)| Op::Assistant(i, on)),
            1 => Just(Op::Late),
        ]
    }

    /// `roster`: the number of students the groups were built from, when no student was
    /// added since (home sizes are then checked against the limits).
    fn check(g: &Groups, roster: Option<usize>, n_assistants: usize, limits: GroupLimits) {
        let online_a: BTreeSet<UserId> = g.online_assistants().collect();
        let mut home_sizes: BTreeMap<UserId, usize> = BTreeMap::new();
        for a in g.home.values() {
            *home_sizes.entry(*a).or_default() += 1;
        }
        if let Some(n) = roster {
            assert_eq!(g.home.len(), if n_assistants > 0 { n } else { 0 });
            let fits = n_assistants > 0
                && n.div_ceil(limits.max) <= n_assistants
                && n.div_ceil(limits.max) <= (n / limits.min).max(1);
            if fits && n >= limits.min {
                for (a, size) in &home_sizes {
                    assert!(
                        (limits.min..=limits.max).contains(size),
                        "home group of {a} has {size} of {n}"
                    );
                }
            } else if fits {
                assert!(home_sizes.len() <= 1, "a small class is one group");
            }
            let (lo, hi) = (home_sizes.values().min(), home_sizes.values().max());
            if let (Some(lo), Some(hi)) = (lo, hi) {
                assert!(hi - lo <= 1, "unbalanced: {lo}..{hi}");
            }
        }
        let class_allows = home_sizes.values().all(|n| *n <= limits.max);
        let members: BTreeMap<UserId, BTreeSet<(UserId, bool)>> = online_a
            .iter()
            .map(|a| (*a, g.members(*a).into_iter().collect()))
            .collect();
        let mut load: BTreeMap<UserId, usize> = BTreeMap::new();
        for s in g.online_students() {
            let a = g.assistant_of(s);
            if online_a.is_empty() {
                assert_eq!(a, None);
                continue;
            }
            let a = a.expect("online student has an assistant while any is online");
            assert!(online_a.contains(&a), "assistant {a} of {s} is offline");
            // Exactly one: listed as online by exactly one online assistant.
            let listed = members.values().filter(|m| m.contains(&(s, true))).count();
            assert_eq!(listed, 1, "student {s} listed by {listed} assistants");
            // With the home assistant whenever it is online.
            if let Some(h) = g.home_of(s) {
                if online_a.contains(&h) {
                    assert_eq!(a, h);
                }
            }
            *load.entry(a).or_default() += 1;
        }
        for a in &online_a {
            assert_eq!(g.load(*a), load.get(a).copied().unwrap_or(0));
        }
        if class_allows {
            let max = online_a.iter().map(|a| g.load(*a)).max().unwrap_or(0);
            let min = online_a.iter().map(|a| g.load(*a)).min().unwrap_or(0);
            assert!(
                max <= limits.max || min >= limits.max,
                "an assistant carries {max} while another has {min}"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(128))]
        #[test]
        fn group_invariants_hold_under_random_churn(
            n_students in 0usize..=200,
            n_assistants in 0usize..=8,
            ops in proptest::collection::vec(op(), 0..400),
        ) {
            let limits = GroupLimits::default();
            let students: Vec<UserId> = (0..n_students as i64).map(|i| 1000 + i).collect();
            let assistants: Vec<UserId> = (0..n_assistants as i64).map(|i| 1 + i).collect();
            let mut g = Groups::new(&students, &assistants, limits);
            let mut total = n_students;
            check(&g, Some(total), n_assistants, limits);
            for op in ops {
                match op {
                    Op::Student(i, on) if total > 0 => {
                        let s = 1000 + (i % total) as i64;
                        if on { g.student_online(s); } else { g.student_offline(s); }
                    }
                    Op::Assistant(i, on) if n_assistants > 0 => {
                        let a = 1 + (i % n_assistants) as i64;
                        if on { g.assistant_online(a); } else { g.assistant_offline(a); }
                    }
                    Op::Late if n_assistants > 0 && total < 200 => {
                        g.add_student(1000 + total as i64);
                        total += 1;
                    }
                    _ => {}
                }
                // Late enrollments may overfill the groups the roster sized: home sizes are
                // checked only while the roster is unchanged.
                check(&g, (total == n_students).then_some(total), n_assistants, limits);
            }
        }
    }
}
