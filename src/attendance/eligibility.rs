//! Certificate eligibility (pure): all four criteria of the notice, each reported with
//! its actual value, what is required and, when it fails, the reason and the margin
//! ("watch time 76.4% < 80%"). Percentages are compared exactly in integers, so exactly
//! the threshold passes.

use serde::Serialize;

use super::config::Thresholds;

/// Status of a student's business plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    /// Nothing uploaded.
    Missing,
    /// Uploaded, awaiting the lecturer.
    Submitted,
    /// Approved by the lecturer.
    Approved,
    /// Rejected (may be resubmitted).
    Rejected,
}

impl PlanStatus {
    /// Chinese label for reports.
    pub fn label_zh(self) -> &'static str {
        match self {
            PlanStatus::Missing => "未提交",
            PlanStatus::Submitted => "待审核",
            PlanStatus::Approved => "已通过",
            PlanStatus::Rejected => "未通过",
        }
    }

    /// Parses the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "submitted" => Some(PlanStatus::Submitted),
            "approved" => Some(PlanStatus::Approved),
            "rejected" => Some(PlanStatus::Rejected),
            _ => None,
        }
    }
}

/// Everything eligibility depends on, for one student.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Inputs {
    /// Live time of the class, ms.
    pub live_ms: i64,
    /// The student's watch time, ms.
    pub watch_ms: i64,
    /// Face checks scheduled during live time.
    pub checks_scheduled: u32,
    /// Of those, `match`.
    pub checks_matched: u32,
    /// Best exam score (0–100), if any attempt was scored.
    pub exam_score: Option<u32>,
    /// Pass mark (0–100).
    pub pass_mark: u32,
    /// Business plan.
    pub plan: PlanStatus,
}

/// Which criterion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Criterion {
    /// Watch time ≥ threshold of live time.
    WatchTime,
    /// Attendance rate ≥ threshold.
    Attendance,
    /// Exam passed.
    Exam,
    /// Business plan approved.
    BusinessPlan,
}

/// One criterion's verdict.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Check {
    /// Which criterion.
    pub criterion: Criterion,
    /// Whether it is met.
    pub met: bool,
    /// What the student has, e.g. `76.4%`, `55/100`, `rejected`.
    pub actual: String,
    /// What is required, e.g. `≥ 80%`.
    pub required: String,
    /// Why it fails, with the margin; absent when met.
    pub reason: Option<String>,
}

/// A student's eligibility.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Verdict {
    /// All four criteria met.
    pub eligible: bool,
    /// Each criterion, in the notice's order.
    pub checks: Vec<Check>,
}

impl Verdict {
    /// The reasons of the failing criteria, joined for a report cell.
    pub fn reasons(&self) -> String {
        self.checks
            .iter()
            .filter_map(|c| c.reason.clone())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// `num/den` as a percentage rounded down to 0.1 (so 79.99% shows as 79.9%, never 80.0%).
pub fn percent_floor(num: i64, den: i64) -> Option<f64> {
    if den <= 0 {
        return None;
    }
    let tenths = (i128::from(num) * 1000) / i128::from(den);
    Some(tenths as f64 / 10.0)
}

/// Formats a threshold without a needless `.0`.
pub fn fmt_percent(p: f64) -> String {
    if (p - p.round()).abs() < 1e-9 {
        format!("{}%", p.round() as i64)
    } else {
        format!("{p:.1}%")
    }
}

/// Whether `num/den ≥ threshold%`, exactly (threshold in hundredths of a percent).
fn at_least(num: i64, den: i64, threshold: f64) -> bool {
    if den <= 0 {
        return false;
    }
    let bp = (threshold * 100.0).round() as i128; // basis points
    i128::from(num) * 10_000 >= i128::from(den) * bp
}

/// Decides eligibility.
pub fn decide(i: &Inputs, t: &Thresholds) -> Verdict {
    let mut checks = Vec::with_capacity(4);

    let watch_required = format!("≥ {}", fmt_percent(t.watch_percent));
    checks.push(match percent_floor(i.watch_ms, i.live_ms) {
        None => Check {
            criterion: Criterion::WatchTime,
            met: false,
            actual: "—".into(),
            required: watch_required,
            reason: Some("no live time was recorded for the class".into()),
        },
        Some(p) => {
            let met = at_least(i.watch_ms, i.live_ms, t.watch_percent);
            Check {
                criterion: Criterion::WatchTime,
                met,
                actual: format!("{p:.1}%"),
                required: watch_required,
                reason: (!met)
                    .then(|| format!("watch time {p:.1}% < {}", fmt_percent(t.watch_percent))),
            }
        }
    });

    let att_required = format!("≥ {}", fmt_percent(t.attendance_percent));
    let scheduled = i64::from(i.checks_scheduled);
    let matched = i64::from(i.checks_matched);
    checks.push(match percent_floor(matched, scheduled) {
        None => Check {
            criterion: Criterion::Attendance,
            met: false,
            actual: "—".into(),
            required: att_required,
            reason: Some("no face check was scheduled during live time".into()),
        },
        Some(p) => {
            let met = at_least(matched, scheduled, t.attendance_percent);
            Check {
                criterion: Criterion::Attendance,
                met,
                actual: format!("{p:.1}% ({matched}/{scheduled})"),
                required: att_required,
                reason: (!met).then(|| {
                    format!(
                        "attendance {p:.1}% ({matched}/{scheduled}) < {}",
                        fmt_percent(t.attendance_percent)
                    )
                }),
            }
        }
    });

    let exam_required = format!("≥ {}/100", i.pass_mark);
    checks.push(match i.exam_score {
        None => Check {
            criterion: Criterion::Exam,
            met: false,
            actual: "—".into(),
            required: exam_required,
            reason: Some("exam not taken".into()),
        },
        Some(s) => {
            let met = s >= i.pass_mark;
            Check {
                criterion: Criterion::Exam,
                met,
                actual: format!("{s}/100"),
                required: exam_required,
                reason: (!met).then(|| format!("exam score {s} < pass mark {}", i.pass_mark)),
            }
        }
    });

    let plan_met = i.plan == PlanStatus::Approved;
    checks.push(Check {
        criterion: Criterion::BusinessPlan,
        met: plan_met,
        actual: format!("{:?}", i.plan).to_lowercase(),
        required: "approved".into(),
        reason: (!plan_met).then(|| match i.plan {
            PlanStatus::Missing => "business plan not submitted".to_string(),
            PlanStatus::Submitted => "business plan awaiting the lecturer's review".to_string(),
            PlanStatus::Rejected => "business plan rejected".to_string(),
            PlanStatus::Approved => unreachable!(),
        }),
    });

    Verdict {
        eligible: checks.iter().all(|c| c.met),
        checks,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn good() -> Inputs {
        Inputs {
            live_ms: 1000,
            watch_ms: 1000,
            checks_scheduled: 10,
            checks_matched: 10,
            exam_score: Some(90),
            pass_mark: 60,
            plan: PlanStatus::Approved,
        }
    }

    #[test]
    fn exactly_at_every_threshold_passes() {
        let i = Inputs {
            live_ms: 40 * 3_600_000,
            watch_ms: 32 * 3_600_000,
            checks_scheduled: 480,
            checks_matched: 384,
            exam_score: Some(60),
            ..good()
        };
        let v = decide(&i, &Thresholds::default());
        assert!(v.eligible, "{v:?}");
        assert!(v.checks.iter().all(|c| c.reason.is_none()));
    }

    #[test]
    fn one_millisecond_or_one_check_short_fails_with_margin() {
        let t = Thresholds::default();
        let v = decide(
            &Inputs {
                live_ms: 100_000,
                watch_ms: 79_999,
                ..good()
            },
            &t,
        );
        assert!(!v.eligible);
        assert_eq!(
            v.checks[0].reason.as_deref(),
            Some("watch time 79.9% < 80%")
        );
        let v = decide(
            &Inputs {
                checks_scheduled: 5,
                checks_matched: 3,
                ..good()
            },
            &t,
        );
        assert_eq!(
            v.checks[1].reason.as_deref(),
            Some("attendance 60.0% (3/5) < 80%")
        );
        let v = decide(
            &Inputs {
                exam_score: Some(59),
                ..good()
            },
            &t,
        );
        assert_eq!(
            v.checks[2].reason.as_deref(),
            Some("exam score 59 < pass mark 60")
        );
    }

    #[test]
    fn the_issue_example_reads_as_written() {
        let v = decide(
            &Inputs {
                live_ms: 1000,
                watch_ms: 764,
                ..good()
            },
            &Thresholds::default(),
        );
        assert_eq!(v.reasons(), "watch time 76.4% < 80%");
    }

    #[test]
    fn missing_inputs_fail_with_a_clear_reason() {
        let v = decide(
            &Inputs {
                live_ms: 0,
                watch_ms: 0,
                checks_scheduled: 0,
                checks_matched: 0,
                exam_score: None,
                pass_mark: 60,
                plan: PlanStatus::Missing,
            },
            &Thresholds::default(),
        );
        assert!(!v.eligible);
        assert_eq!(
            v.reasons(),
            "no live time was recorded for the class; no face check was scheduled during live \
             time; exam not taken; business plan not submitted"
        );
    }

    #[test]
    fn thresholds_come_from_configuration() {
        let t = Thresholds {
            watch_percent: 66.7,
            attendance_percent: 50.0,
        };
        let i = Inputs {
            live_ms: 1000,
            watch_ms: 667,
            checks_scheduled: 2,
            checks_matched: 1,
            ..good()
        };
        assert!(decide(&i, &t).eligible);
        let v = decide(&Inputs { watch_ms: 666, ..i }, &t);
        assert_eq!(v.reasons(), "watch time 66.6% < 66.7%");
    }

    proptest! {
        #[test]
        fn watch_criterion_is_exactly_the_ratio_test(live in 1i64..10_000_000, frac in 0i64..=1000) {
            let watch = live * frac / 1000;
            let v = decide(&Inputs { live_ms: live, watch_ms: watch, ..good() }, &Thresholds::default());
            // watch/live ≥ 0.8  ⇔  5·watch ≥ 4·live
            prop_assert_eq!(v.checks[0].met, 5 * watch >= 4 * live);
            prop_assert_eq!(v.eligible, v.checks.iter().all(|c| c.met));
        }

        #[test]
        fn attendance_criterion_is_exactly_the_ratio_test(sched in 1u32..2000, matched_frac in 0u32..=100) {
            let matched = sched * matched_frac / 100;
            let v = decide(&Inputs { checks_scheduled: sched, checks_matched: matched, ..good() }, &Thresholds::default());
            prop_assert_eq!(v.checks[1].met, 5 * matched >= 4 * sched);
            // A failing percentage never displays as the threshold itself.
            if !v.checks[1].met {
                let reason = v.checks[1].reason.clone().unwrap();
                prop_assert!(!reason.starts_with("attendance 80.0%"), "{}", reason);
            }
        }
    }
}
