//! Supervision and data integrity (issue 7): the hash-chained audit log and its
//! verification, signed monthly backups (create, verify, restore), signed class archives,
//! and key handling (signing keys, rotation and re-encryption of data at rest).
//!
//! Everything here is built on one idea, the signed bundle ([`bundle`]): a folder of
//! files, a manifest with the SHA-256 of each, and an Ed25519 signature over the manifest.

pub mod archive;
pub mod audit_verify;
pub mod backup;
pub mod bundle;
pub mod chain;
pub mod cli;
pub mod keys;
pub mod schedule;
pub mod signing;
pub mod snapshot;
