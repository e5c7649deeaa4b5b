//! The class-filing (开班备案) check from the city labour-bureau notice.
//!
//! Every rule is checked and every violation reported, so the institution can
//! fix everything in one round instead of resubmitting once per problem.

use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::calendar::WorkCalendar;
use super::overlap::{self, Interval};

/// The numbers from the notice, configurable in case the bureau revises them.
#[derive(Clone, Copy, Debug, Deserialize, Serialize)]
pub struct FilingLimits {
    /// Working days of notice required before the first session (5).
    pub lead_working_days: u32,
    /// Most students one lecturer may teach at the same time (200).
    pub max_students_per_lecturer: u32,
    /// Fewest students an assistant should look after (20).
    pub assistant_min_students: u32,
    /// Most students an assistant may look after (30).
    pub assistant_max_students: u32,
}

impl Default for FilingLimits {
    /// The values in the notice.
    fn default() -> Self {
        Self {
            lead_working_days: 5,
            max_students_per_lecturer: 200,
            assistant_min_students: 20,
            assistant_max_students: 30,
        }
    }
}

/// One scheduled session of a class.
#[derive(Clone, Debug)]
pub struct SessionPlan {
    /// When the session begins.
    pub starts_at: DateTime<Utc>,
    /// When the session ends (exclusive).
    pub ends_at: DateTime<Utc>,
}

/// An SYB (Start Your Business) lecturer certificate held by the lecturer.
#[derive(Clone, Debug)]
pub struct SybCertificate {
    /// The certificate number, quoted in messages.
    pub number: String,
    /// First day the certificate is valid.
    pub valid_from: NaiveDate,
    /// Last day the certificate is valid; `None` means it never expires.
    pub valid_until: Option<NaiveDate>,
}

/// Another class the same lecturer teaches that is submitted, filed or live,
/// and so competes for the lecturer's capacity.
#[derive(Clone, Debug)]
pub struct LecturerCommitment {
    /// The other class's id, quoted in messages.
    pub class_id: i64,
    /// The other class's name, quoted in messages.
    pub class_name: String,
    /// Students enrolled in the other class.
    pub students: u32,
    /// The other class's sessions.
    pub sessions: Vec<SessionPlan>,
}

/// Everything the filing check needs to know about a class being submitted.
pub struct FilingRequest<'a> {
    /// When the institution submits the filing.
    pub submitted_at: DateTime<Utc>,
    /// The bureau's local offset (China: +08:00); every date in the rules is
    /// a local date.
    pub tz: FixedOffset,
    /// The class's sessions, in any order.
    pub sessions: &'a [SessionPlan],
    /// Students enrolled.
    pub students: u32,
    /// Assistants assigned.
    pub assistants: u32,
    /// The lecturer's SYB certificates.
    pub lecturer_certificates: &'a [SybCertificate],
    /// The lecturer's other submitted, filed or live classes.
    pub other_commitments: &'a [LecturerCommitment],
}

/// One broken rule: a stable machine-readable code and a message for people.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Violation {
    /// One of the constants in [`code`].
    pub code: &'static str,
    /// What is wrong, with the numbers and dates involved.
    pub message: String,
}

/// The codes a [`Violation`] can carry.
pub mod code {
    /// The class has no session.
    pub const NO_SESSIONS: &str = "no_sessions";
    /// A session ends at or before it starts.
    pub const SESSION_INVALID: &str = "session_invalid";
    /// The class has no students.
    pub const NO_STUDENTS: &str = "no_students";
    /// Submitted after the filing deadline.
    pub const SUBMITTED_TOO_LATE: &str = "submitted_too_late";
    /// No single SYB certificate is valid for the whole class.
    pub const LECTURER_NO_SYB_CERTIFICATE: &str = "lecturer_no_syb_certificate";
    /// The lecturer would teach too many students at once.
    pub const LECTURER_OVER_CAPACITY: &str = "lecturer_over_capacity";
    /// Too few assistants for the number of students.
    pub const ASSISTANTS_TOO_FEW: &str = "assistants_too_few";
    /// Too many assistants for the number of students.
    pub const ASSISTANTS_TOO_MANY: &str = "assistants_too_many";
}

/// Check a filing against every rule and return all violations, in rule
/// order; an empty list means the class may be filed.
pub fn check_filing(
    req: &FilingRequest,
    limits: &FilingLimits,
    calendar: &WorkCalendar,
) -> Vec<Violation> {
    let mut out = Vec::new();

    if req.sessions.is_empty() {
        out.push(violation(
            code::NO_SESSIONS,
            "no session is scheduled".into(),
        ));
    }
    for (i, s) in req.sessions.iter().enumerate() {
        if s.ends_at <= s.starts_at {
            out.push(violation(
                code::SESSION_INVALID,
                format!(
                    "session {} ends at {} but starts at {}: it must end after it starts",
                    i + 1,
                    local_time(s.ends_at, req.tz),
                    local_time(s.starts_at, req.tz),
                ),
            ));
        }
    }
    if req.students == 0 {
        out.push(violation(
            code::NO_STUDENTS,
            "no student is enrolled".into(),
        ));
    }

    // The date rules need at least one session to anchor them.
    let local_dates = req
        .sessions
        .iter()
        .map(|s| s.starts_at.with_timezone(&req.tz).date_naive());
    if let (Some(first), Some(last)) = (local_dates.clone().min(), local_dates.max()) {
        out.extend(check_lead_time(req, limits, calendar, first));
        out.extend(check_certificate(req.lecturer_certificates, first, last));
    }
    out.extend(check_capacity(req, limits));
    out.extend(check_assistants(req.students, req.assistants, limits));
    out
}

/// The inclusive range `(min, max)` of assistants acceptable for `students`.
///
/// `min` is the fewest assistants that keep everyone's group at or below the
/// maximum; `max` is the most that keep everyone's group at or above the
/// minimum. Both are at least 1. Where no count satisfies both bounds (31–39
/// students under 20–30: one assistant would serve more than 30, two would
/// serve fewer than 20), the upper bound gives way: no assistant ever serves
/// more than the maximum, and the smallest such count is accepted. A class
/// below the minimum group size, including an empty one, needs exactly one.
/// Limits of zero are treated as one to avoid dividing by zero.
pub fn assistant_range(students: u32, limits: &FilingLimits) -> (u32, u32) {
    let most_each = limits.assistant_max_students.max(1);
    let fewest_each = limits.assistant_min_students.max(1);
    let min = students.div_ceil(most_each).max(1);
    let max = (students / fewest_each).max(min);
    (min, max)
}

fn violation(code: &'static str, message: String) -> Violation {
    Violation { code, message }
}

/// A UTC instant as local wall-clock time, e.g. `2026-12-14 09:00 +08:00`.
fn local_time(t: DateTime<Utc>, tz: FixedOffset) -> String {
    t.with_timezone(&tz)
        .format("%Y-%m-%d %H:%M %:z")
        .to_string()
}

/// `submitted_too_late`: the submission's local date must not be after the
/// day `lead_working_days` working days before the first session.
fn check_lead_time(
    req: &FilingRequest,
    limits: &FilingLimits,
    calendar: &WorkCalendar,
    first: NaiveDate,
) -> Option<Violation> {
    let submitted = req.submitted_at.with_timezone(&req.tz).date_naive();
    let deadline = calendar.filing_deadline(first, limits.lead_working_days);
    (submitted > deadline).then(|| {
        violation(
            code::SUBMITTED_TOO_LATE,
            format!(
                "submitted on {submitted} for a class whose first session is on {first}: \
                 filing is required {} working days ahead, by {deadline}",
                limits.lead_working_days
            ),
        )
    })
}

/// `lecturer_no_syb_certificate`: one certificate must be valid on every
/// session date, from the first to the last.
fn check_certificate(
    certificates: &[SybCertificate],
    first: NaiveDate,
    last: NaiveDate,
) -> Option<Violation> {
    let covers = |c: &SybCertificate| {
        c.valid_from <= first && c.valid_until.is_none_or(|until| last <= until)
    };
    if certificates.iter().any(covers) {
        return None;
    }
    let message = if certificates.is_empty() {
        "the lecturer holds no SYB lecturer certificate".to_owned()
    } else {
        let reasons: Vec<String> = certificates
            .iter()
            .map(|c| {
                if c.valid_from > first {
                    format!(
                        "certificate {} is valid only from {}, after the first session on {first}",
                        c.number, c.valid_from
                    )
                } else {
                    // Not covering and not starting late, so it expires early.
                    let until = c.valid_until.unwrap_or(last);
                    format!(
                        "certificate {} expires on {until}, before the last session on {last}",
                        c.number
                    )
                }
            })
            .collect();
        format!(
            "no SYB lecturer certificate is valid for the whole class ({first} to {last}): {}",
            reasons.join("; ")
        )
    };
    Some(violation(code::LECTURER_NO_SYB_CERTIFICATE, message))
}

fn interval(s: &SessionPlan) -> Option<Interval> {
    Interval::new(s.starts_at.timestamp_millis(), s.ends_at.timestamp_millis())
}

/// `lecturer_over_capacity`: while this class runs, its students plus those
/// of the lecturer's overlapping classes must stay within the limit.
fn check_capacity(req: &FilingRequest, limits: &FilingLimits) -> Option<Violation> {
    // Merge first so the class's own overlapping sessions count its students
    // once, not once per session.
    let own: Vec<Interval> = req.sessions.iter().filter_map(interval).collect();
    let own = overlap::merge(&own);

    // Other classes only count where they coincide with this one: an overload
    // among them alone is not this filing's fault.
    let mut items: Vec<(Interval, u32)> = own.iter().map(|&iv| (iv, req.students)).collect();
    for c in req.other_commitments {
        for theirs in c.sessions.iter().filter_map(interval) {
            items.extend(
                own.iter()
                    .filter_map(|mine| mine.intersection(&theirs))
                    .map(|iv| (iv, c.students)),
            );
        }
    }

    let (peak, at) = overlap::peak_load(&items)?;
    if peak <= limits.max_students_per_lecturer {
        return None;
    }
    let others: Vec<String> = req
        .other_commitments
        .iter()
        .filter(|c| {
            c.sessions
                .iter()
                .filter_map(interval)
                .any(|iv| iv.contains(at))
        })
        .map(|c| {
            format!(
                "{} (#{}, {} students)",
                c.class_name, c.class_id, c.students
            )
        })
        .collect();
    let company = if others.is_empty() {
        format!("this class alone has {} students", req.students)
    } else {
        format!(
            "this class ({} students) overlaps {}",
            req.students,
            others.join(", ")
        )
    };
    let when = DateTime::<Utc>::from_timestamp_millis(at)
        .map(|t| local_time(t, req.tz))
        .unwrap_or_else(|| at.to_string());
    Some(violation(
        code::LECTURER_OVER_CAPACITY,
        format!(
            "the lecturer would teach {peak} students at once from {when}, over the limit of {}: {company}",
            limits.max_students_per_lecturer
        ),
    ))
}

/// `assistants_too_few` / `assistants_too_many` against [`assistant_range`].
fn check_assistants(students: u32, assistants: u32, limits: &FilingLimits) -> Option<Violation> {
    let (min, max) = assistant_range(students, limits);
    let code = if assistants < min {
        code::ASSISTANTS_TOO_FEW
    } else if assistants > max {
        code::ASSISTANTS_TOO_MANY
    } else {
        return None;
    };
    Some(violation(
        code,
        format!(
            "{students} students need {min}–{max} assistants (each serves {}–{}); {assistants} assigned",
            limits.assistant_min_students, limits.assistant_max_students
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn cst() -> FixedOffset {
        FixedOffset::east_opt(8 * 3600).unwrap()
    }

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    /// A UTC instant given as Beijing wall-clock time.
    fn bj(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        cst()
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .unwrap()
            .with_timezone(&Utc)
    }

    fn utc(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    /// A session on a Beijing date from `from` to `to` o'clock.
    fn session(y: i32, mo: u32, d: u32, from: u32, to: u32) -> SessionPlan {
        SessionPlan {
            starts_at: bj(y, mo, d, from, 0),
            ends_at: bj(y, mo, d, to, 0),
        }
    }

    fn cert(number: &str, from: NaiveDate, until: Option<NaiveDate>) -> SybCertificate {
        SybCertificate {
            number: number.into(),
            valid_from: from,
            valid_until: until,
        }
    }

    fn commitment(
        id: i64,
        name: &str,
        students: u32,
        sessions: Vec<SessionPlan>,
    ) -> LecturerCommitment {
        LecturerCommitment {
            class_id: id,
            class_name: name.into(),
            students,
            sessions,
        }
    }

    /// Owns the borrowed parts of a [`FilingRequest`]; starts out valid: two
    /// Monday morning sessions from 2026-12-14, filed on the deadline day.
    struct Fixture {
        submitted_at: DateTime<Utc>,
        sessions: Vec<SessionPlan>,
        students: u32,
        assistants: u32,
        certificates: Vec<SybCertificate>,
        commitments: Vec<LecturerCommitment>,
        calendar: WorkCalendar,
    }

    impl Fixture {
        fn new() -> Self {
            Self {
                submitted_at: bj(2026, 12, 7, 16, 0),
                sessions: vec![session(2026, 12, 14, 9, 12), session(2026, 12, 21, 9, 12)],
                students: 52,
                assistants: 2,
                certificates: vec![cert(
                    "SYB-2024-0001",
                    date(2024, 1, 1),
                    Some(date(2028, 12, 31)),
                )],
                commitments: vec![],
                calendar: WorkCalendar::default(),
            }
        }

        fn check(&self) -> Vec<Violation> {
            let req = FilingRequest {
                submitted_at: self.submitted_at,
                tz: cst(),
                sessions: &self.sessions,
                students: self.students,
                assistants: self.assistants,
                lecturer_certificates: &self.certificates,
                other_commitments: &self.commitments,
            };
            check_filing(&req, &FilingLimits::default(), &self.calendar)
        }

        fn codes(&self) -> Vec<&'static str> {
            self.check().iter().map(|v| v.code).collect()
        }

        /// The single violation reported, which must carry `code`.
        fn only(&self, code: &str) -> Violation {
            let mut v = self.check();
            assert_eq!(v.len(), 1, "expected only {code}, got {v:#?}");
            let v = v.remove(0);
            assert_eq!(v.code, code);
            v
        }
    }

    #[test]
    fn a_valid_request_has_no_violations() {
        assert_eq!(Fixture::new().check(), vec![]);
    }

    #[test]
    fn limits_default_to_the_notice() {
        let l = FilingLimits::default();
        assert_eq!(
            (
                l.lead_working_days,
                l.max_students_per_lecturer,
                l.assistant_min_students,
                l.assistant_max_students
            ),
            (5, 200, 20, 30)
        );
    }

    #[test]
    fn no_sessions() {
        let mut f = Fixture::new();
        f.sessions.clear();
        let v = f.only(code::NO_SESSIONS);
        assert_eq!(v.message, "no session is scheduled");
    }

    #[test]
    fn session_invalid_names_the_session() {
        let mut f = Fixture::new();
        f.sessions.push(session(2026, 12, 28, 12, 12));
        f.sessions.push(session(2027, 1, 4, 12, 9));
        let v = f.check();
        assert_eq!(v.len(), 2, "{v:#?}");
        assert!(v.iter().all(|v| v.code == code::SESSION_INVALID));
        assert!(v[0].message.starts_with("session 3 "), "{}", v[0].message);
        assert!(v[1].message.starts_with("session 4 "), "{}", v[1].message);
        assert!(
            v[1].message.contains("2027-01-04 09:00 +08:00"),
            "{}",
            v[1].message
        );
    }

    #[test]
    fn no_students() {
        let mut f = Fixture::new();
        f.students = 0;
        f.assistants = 1;
        f.only(code::NO_STUDENTS);
    }

    #[test]
    fn deadline_across_a_weekend() {
        // First session Monday 2026-12-14: deadline Monday 2026-12-07.
        let mut f = Fixture::new();
        f.submitted_at = bj(2026, 12, 7, 23, 59);
        assert_eq!(f.codes(), Vec::<&str>::new());

        f.submitted_at = bj(2026, 12, 8, 0, 0);
        let v = f.only(code::SUBMITTED_TOO_LATE);
        assert_eq!(
            v.message,
            "submitted on 2026-12-08 for a class whose first session is on 2026-12-14: \
             filing is required 5 working days ahead, by 2026-12-07"
        );
    }

    #[test]
    fn the_earliest_session_counts_even_if_listed_last() {
        let mut f = Fixture::new();
        f.sessions.reverse();
        f.submitted_at = bj(2026, 12, 8, 9, 0);
        f.only(code::SUBMITTED_TOO_LATE);
    }

    #[test]
    fn a_holiday_in_the_window_moves_the_deadline_earlier() {
        let mut f = Fixture::new();
        f.calendar.holidays.insert(date(2026, 12, 10));
        f.submitted_at = bj(2026, 12, 4, 10, 0);
        assert_eq!(f.check(), vec![]);
        f.submitted_at = bj(2026, 12, 7, 10, 0);
        let v = f.only(code::SUBMITTED_TOO_LATE);
        assert!(v.message.ends_with("by 2026-12-04"), "{}", v.message);
    }

    #[test]
    fn a_makeup_saturday_moves_the_deadline_later() {
        let mut f = Fixture::new();
        f.calendar.makeup_workdays.insert(date(2026, 12, 12));
        f.submitted_at = bj(2026, 12, 8, 10, 0);
        assert_eq!(f.check(), vec![]);
        f.submitted_at = bj(2026, 12, 9, 10, 0);
        let v = f.only(code::SUBMITTED_TOO_LATE);
        assert!(v.message.ends_with("by 2026-12-08"), "{}", v.message);
    }

    #[test]
    fn submission_date_is_the_local_date() {
        let mut f = Fixture::new();
        // 2026-12-06T17:00Z is 2026-12-07 01:00 in Beijing: on the deadline.
        f.submitted_at = utc("2026-12-06T17:00:00Z");
        assert_eq!(f.check(), vec![]);
        // Still 2026-12-07 in UTC, but already 2026-12-08 in Beijing: late.
        f.submitted_at = utc("2026-12-07T16:00:00Z");
        let v = f.only(code::SUBMITTED_TOO_LATE);
        assert!(
            v.message.starts_with("submitted on 2026-12-08 "),
            "{}",
            v.message
        );
        f.submitted_at = utc("2026-12-07T15:59:59Z");
        assert_eq!(f.check(), vec![]);
    }

    #[test]
    fn session_date_is_the_local_date() {
        let mut f = Fixture::new();
        // Monday 2026-12-14T16:30Z is Tuesday 00:30 in Beijing, so the
        // deadline is Tuesday 2026-12-08, not Monday 2026-12-07.
        f.sessions = vec![SessionPlan {
            starts_at: utc("2026-12-14T16:30:00Z"),
            ends_at: utc("2026-12-14T19:30:00Z"),
        }];
        f.submitted_at = bj(2026, 12, 8, 12, 0);
        assert_eq!(f.check(), vec![]);
    }

    #[test]
    fn no_certificate_at_all() {
        let mut f = Fixture::new();
        f.certificates.clear();
        let v = f.only(code::LECTURER_NO_SYB_CERTIFICATE);
        assert_eq!(v.message, "the lecturer holds no SYB lecturer certificate");
    }

    #[test]
    fn certificate_expiring_mid_class() {
        let mut f = Fixture::new();
        f.certificates = vec![cert(
            "SYB-2021-0042",
            date(2021, 6, 1),
            Some(date(2026, 12, 18)),
        )];
        let v = f.only(code::LECTURER_NO_SYB_CERTIFICATE);
        assert_eq!(
            v.message,
            "no SYB lecturer certificate is valid for the whole class (2026-12-14 to 2026-12-21): \
             certificate SYB-2021-0042 expires on 2026-12-18, before the last session on 2026-12-21"
        );
        // Valid through the last session day itself is enough.
        f.certificates[0].valid_until = Some(date(2026, 12, 21));
        assert_eq!(f.check(), vec![]);
    }

    #[test]
    fn certificate_not_yet_valid_and_one_without_expiry() {
        let mut f = Fixture::new();
        f.certificates = vec![
            cert("SYB-OLD", date(2019, 1, 1), Some(date(2025, 12, 31))),
            cert("SYB-NEW", date(2026, 12, 15), None),
        ];
        let v = f.only(code::LECTURER_NO_SYB_CERTIFICATE);
        assert!(
            v.message.contains(
                "certificate SYB-OLD expires on 2025-12-31, before the last session on 2026-12-21"
            ),
            "{}",
            v.message
        );
        assert!(
            v.message.contains("certificate SYB-NEW is valid only from 2026-12-15, after the first session on 2026-12-14"),
            "{}",
            v.message
        );
        f.certificates[1].valid_from = date(2026, 12, 14);
        assert_eq!(f.check(), vec![], "no expiry covers any later date");
    }

    #[test]
    fn over_capacity_only_when_sessions_overlap() {
        let mut f = Fixture::new();
        f.students = 120;
        f.assistants = 5;
        // Touching: the other class runs 12:00–15:00 right after this one.
        f.commitments = vec![commitment(
            7,
            "创业提升班",
            100,
            vec![session(2026, 12, 14, 12, 15)],
        )];
        assert_eq!(f.check(), vec![]);

        // Overlapping by an hour from 11:00: 220 students at once.
        f.commitments[0].sessions = vec![session(2026, 12, 14, 11, 14)];
        let v = f.only(code::LECTURER_OVER_CAPACITY);
        assert_eq!(
            v.message,
            "the lecturer would teach 220 students at once from 2026-12-14 11:00 +08:00, \
             over the limit of 200: this class (120 students) overlaps 创业提升班 (#7, 100 students)"
        );
    }

    #[test]
    fn capacity_at_exactly_the_limit_passes() {
        let mut f = Fixture::new();
        f.students = 100;
        f.assistants = 4;
        f.commitments = vec![commitment(7, "A", 100, vec![session(2026, 12, 14, 9, 12)])];
        assert_eq!(f.check(), vec![]);
    }

    #[test]
    fn over_capacity_names_only_the_classes_at_the_peak() {
        let mut f = Fixture::new();
        f.students = 100;
        f.assistants = 4;
        f.commitments = vec![
            commitment(1, "A", 60, vec![session(2026, 12, 14, 9, 10)]),
            commitment(2, "B", 90, vec![session(2026, 12, 21, 10, 11)]),
            commitment(3, "C", 30, vec![session(2026, 12, 21, 10, 12)]),
        ];
        let v = f.only(code::LECTURER_OVER_CAPACITY);
        assert!(
            v.message.starts_with(
                "the lecturer would teach 220 students at once from 2026-12-21 10:00 +08:00"
            ),
            "{}",
            v.message
        );
        assert!(
            v.message
                .ends_with("overlaps B (#2, 90 students), C (#3, 30 students)"),
            "{}",
            v.message
        );
    }

    #[test]
    fn a_class_alone_can_exceed_capacity() {
        let mut f = Fixture::new();
        f.students = 201;
        f.assistants = 7;
        let v = f.only(code::LECTURER_OVER_CAPACITY);
        assert!(
            v.message.ends_with("this class alone has 201 students"),
            "{}",
            v.message
        );
    }

    #[test]
    fn other_classes_overloading_each_other_are_not_this_filings_fault() {
        let mut f = Fixture::new();
        // A and B already overlap on a day this class does not run.
        f.commitments = vec![
            commitment(1, "A", 150, vec![session(2026, 12, 15, 9, 12)]),
            commitment(2, "B", 150, vec![session(2026, 12, 15, 9, 12)]),
        ];
        assert_eq!(f.check(), vec![]);
    }

    #[test]
    fn own_overlapping_sessions_count_students_once() {
        let mut f = Fixture::new();
        f.students = 150;
        f.assistants = 5;
        f.sessions.push(session(2026, 12, 14, 10, 11));
        assert_eq!(f.check(), vec![]);
    }

    #[test]
    fn assistants_too_few_and_too_many() {
        let mut f = Fixture::new();
        f.assistants = 1;
        let v = f.only(code::ASSISTANTS_TOO_FEW);
        assert_eq!(
            v.message,
            "52 students need 2–2 assistants (each serves 20–30); 1 assigned"
        );
        f.assistants = 3;
        let v = f.only(code::ASSISTANTS_TOO_MANY);
        assert_eq!(
            v.message,
            "52 students need 2–2 assistants (each serves 20–30); 3 assigned"
        );
    }

    #[test]
    fn every_violation_is_reported_at_once() {
        let mut f = Fixture::new();
        f.sessions.push(session(2026, 12, 28, 12, 9));
        f.submitted_at = bj(2026, 12, 10, 9, 0);
        f.certificates.clear();
        f.students = 180;
        f.assistants = 0;
        f.commitments = vec![commitment(9, "X", 40, vec![session(2026, 12, 21, 8, 10)])];
        assert_eq!(
            f.codes(),
            vec![
                code::SESSION_INVALID,
                code::SUBMITTED_TOO_LATE,
                code::LECTURER_NO_SYB_CERTIFICATE,
                code::LECTURER_OVER_CAPACITY,
                code::ASSISTANTS_TOO_FEW,
            ]
        );

        let mut empty = Fixture::new();
        empty.sessions.clear();
        empty.students = 0;
        empty.assistants = 0;
        assert_eq!(
            empty.codes(),
            vec![
                code::NO_SESSIONS,
                code::NO_STUDENTS,
                code::ASSISTANTS_TOO_FEW
            ]
        );
    }

    #[test]
    fn assistant_range_table() {
        let limits = FilingLimits::default();
        let table = [
            (0, (1, 1)),
            (1, (1, 1)),
            (19, (1, 1)),
            (20, (1, 1)),
            (30, (1, 1)),
            (31, (2, 2)),
            (39, (2, 2)),
            (40, (2, 2)),
            (52, (2, 2)),
            (60, (2, 3)),
            (61, (3, 3)),
            (200, (7, 10)),
        ];
        for (students, expected) in table {
            assert_eq!(
                assistant_range(students, &limits),
                expected,
                "{students} students"
            );
        }
    }

    #[test]
    fn assistant_range_survives_zero_limits() {
        let limits = FilingLimits {
            assistant_min_students: 0,
            assistant_max_students: 0,
            ..FilingLimits::default()
        };
        assert_eq!(assistant_range(5, &limits), (5, 5));
    }

    proptest! {
        #[test]
        fn every_assistant_count_in_range_admits_a_fair_split(students in 1u32..=200) {
            let limits = FilingLimits::default();
            let (min, max) = assistant_range(students, &limits);
            prop_assert!(min >= 1 && min <= max);
            for k in min..=max {
                // The most even split; if it breaks a bound, every split does.
                let smallest = students / k;
                let largest = students.div_ceil(k);
                prop_assert!(largest <= 30, "{students} over {k}: a group of {largest}");
                if students >= 20 && !(31..=39).contains(&students) {
                    prop_assert!(smallest >= 20, "{students} over {k}: a group of {smallest}");
                }
            }
            if students < 20 {
                prop_assert_eq!((min, max), (1, 1));
            }
            // Nothing outside the range would do: one fewer overloads someone,
            // one more leaves someone under 20 (unless it is the 31–39 case).
            prop_assert!(min == 1 || students.div_ceil(min - 1) > 30);
            if students >= 20 && !(31..=39).contains(&students) {
                prop_assert!(students / (max + 1) < 20);
            }
        }
    }
}
