//! Working-day arithmetic under the Chinese public-holiday calendar.
//!
//! Holidays are announced each year by the State Council, and the days around
//! them are reshuffled: some weekdays become holidays and some Saturdays or
//! Sundays become make-up working days (调休). Neither can be computed, so the
//! calendar is data that the caller loads and passes in.

use std::collections::BTreeSet;

use chrono::{Datelike, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

/// The official calendar of non-working weekdays and worked weekend days.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct WorkCalendar {
    /// Days off that would otherwise be working days (public holidays).
    pub holidays: BTreeSet<NaiveDate>,
    /// Saturdays or Sundays that are worked to make up for a holiday.
    pub makeup_workdays: BTreeSet<NaiveDate>,
}

impl WorkCalendar {
    /// Whether `d` is a working day.
    ///
    /// A make-up day wins over everything else, then holidays, then the
    /// ordinary Saturday/Sunday weekend.
    pub fn is_working_day(&self, d: NaiveDate) -> bool {
        if self.makeup_workdays.contains(&d) {
            return true;
        }
        if self.holidays.contains(&d) {
            return false;
        }
        !matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
    }

    /// The date that lies `n` working days before `d`.
    ///
    /// Steps back one day at a time from `d` (which itself is not counted) and
    /// returns the `n`-th working day reached, so for `n >= 1` the result is
    /// always a working day. With no holidays, Monday minus 5 is the previous
    /// Monday. `n == 0` returns `d`. Stops at the earliest representable date
    /// rather than panicking.
    pub fn subtract_working_days(&self, d: NaiveDate, n: u32) -> NaiveDate {
        let mut day = d;
        let mut remaining = n;
        while remaining > 0 {
            let Some(prev) = day.pred_opt() else {
                return day;
            };
            day = prev;
            if self.is_working_day(day) {
                remaining -= 1;
            }
        }
        day
    }

    /// The last day on which a class starting on `first_session_day` may be
    /// filed when the notice demands `lead` working days' notice.
    ///
    /// "提前5个工作日" is read as: submit no later than the day that lies five
    /// working days before the start. A submission on date `s` is in time iff
    /// `s <= filing_deadline(..)`. For a Monday start with no holidays the
    /// deadline is the previous Monday.
    pub fn filing_deadline(&self, first_session_day: NaiveDate, lead: u32) -> NaiveDate {
        self.subtract_working_days(first_session_day, lead)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    #[test]
    fn weekdays_work_and_weekends_do_not() {
        let cal = WorkCalendar::default();
        // 2026-12-07 is a Monday.
        for d in 7..=11 {
            assert!(cal.is_working_day(date(2026, 12, d)), "Dec {d}");
        }
        assert!(!cal.is_working_day(date(2026, 12, 12)));
        assert!(!cal.is_working_day(date(2026, 12, 13)));
    }

    #[test]
    fn holidays_and_makeup_days_override_the_week() {
        let cal = WorkCalendar {
            holidays: [date(2026, 10, 1), date(2026, 10, 10)].into(),
            makeup_workdays: [date(2026, 10, 10), date(2026, 9, 27)].into(),
        };
        assert!(!cal.is_working_day(date(2026, 10, 1)), "Thursday holiday");
        assert!(cal.is_working_day(date(2026, 9, 27)), "make-up Sunday");
        // Listed as both: the make-up entry wins.
        assert!(cal.is_working_day(date(2026, 10, 10)));
    }

    #[test]
    fn subtracting_skips_weekends() {
        let cal = WorkCalendar::default();
        let monday = date(2026, 12, 14);
        assert_eq!(cal.subtract_working_days(monday, 0), monday);
        assert_eq!(cal.subtract_working_days(monday, 1), date(2026, 12, 11));
        assert_eq!(cal.subtract_working_days(monday, 5), date(2026, 12, 7));
        assert_eq!(cal.subtract_working_days(monday, 6), date(2026, 12, 4));
        // Starting on a Sunday: Friday is the first working day back.
        assert_eq!(
            cal.subtract_working_days(date(2026, 12, 13), 1),
            date(2026, 12, 11)
        );
    }

    #[test]
    fn a_holiday_in_the_window_moves_the_deadline_earlier() {
        let plain = WorkCalendar::default();
        let with_holiday = WorkCalendar {
            holidays: [date(2026, 12, 9)].into(),
            ..WorkCalendar::default()
        };
        let monday = date(2026, 12, 14);
        assert_eq!(plain.filing_deadline(monday, 5), date(2026, 12, 7));
        assert_eq!(with_holiday.filing_deadline(monday, 5), date(2026, 12, 4));
    }

    #[test]
    fn a_makeup_saturday_in_the_window_moves_the_deadline_later() {
        let cal = WorkCalendar {
            makeup_workdays: [date(2026, 12, 12)].into(),
            ..WorkCalendar::default()
        };
        assert_eq!(
            cal.filing_deadline(date(2026, 12, 14), 5),
            date(2026, 12, 8)
        );
    }

    #[test]
    fn national_day_week_with_makeup_weekend() {
        // A golden week shaped like the real ones: Thu 1 – Thu 8 October off,
        // Sunday 27 September and Saturday 10 October worked.
        let cal = WorkCalendar {
            holidays: (1..=8).map(|d| date(2026, 10, d)).collect(),
            makeup_workdays: [date(2026, 9, 27), date(2026, 10, 10)].into(),
        };
        // Counting back from Monday 12 October: Sat 10, Fri 9, then the holiday
        // week is skipped, Wed 30, Tue 29, Mon 28 September.
        assert_eq!(
            cal.filing_deadline(date(2026, 10, 12), 5),
            date(2026, 9, 28)
        );
    }

    #[test]
    fn the_earliest_date_does_not_panic() {
        let cal = WorkCalendar::default();
        assert_eq!(cal.subtract_working_days(NaiveDate::MIN, 3), NaiveDate::MIN);
    }
}
