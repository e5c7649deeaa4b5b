//! Authentication and authorisation: argon2id passwords, session tokens, login throttling,
//! and the one role × action permission table.

pub mod password;
pub mod permissions;
pub mod throttle;

pub use permissions::{allowed, Action};
