//! Ketang class rooms: roles, permissions, presence, assistant groups, chat and hand-raise,
//! silent regulators, and the WebSocket protocol types. No HTTP, no SQL: rooms take
//! commands and emit typed events that the application persists.

pub mod protocol;
pub mod role;

pub use role::Role;
