//! Class filing (开班备案) for subsidised entrepreneurship training.
//!
//! A city labour-bureau notice requires a training institution to file each
//! class at least five working days before it starts, taught by a lecturer
//! holding an SYB lecturer certificate, who teaches at most 200 students at a
//! time, with one assistant per 20–30 students. This module holds those rules
//! as pure functions — dates, times and calendars are passed in; nothing here
//! reads the clock or does IO:
//!
//! - [`calendar`]: working days under the official holiday calendar, and the
//!   filing deadline;
//! - [`overlap`]: half-open time intervals and the peak of overlapping loads;
//! - [`rules`]: the filing check, reporting every violation at once;
//! - [`status`]: the class lifecycle from draft to archive.

pub mod calendar;
pub mod overlap;
pub mod rules;
pub mod status;
