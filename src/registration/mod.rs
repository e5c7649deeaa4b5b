//! Trainee registration data: validation of the personal fields that
//! subsidised-training rules require (name, resident ID number, mobile,
//! household registration place), masking for display, and roster import.
//!
//! Everything here is pure: no IO and no clock; callers pass `today`.

pub mod fields;
pub mod id_number;
pub mod masking;
pub mod mobile;
pub mod roster;

pub use fields::{parse_household_place, parse_name, FieldError, FieldKind};
pub use id_number::{IdNumberError, ResidentId};
pub use masking::mask_name;
pub use mobile::{Mobile, MobileError};
pub use roster::{parse_roster, sniff_format, RosterFormat, RosterRow, RowError};
