//! Ketang class rooms: roles, permissions, presence, assistant groups, chat and hand-raise,
//! silent regulators, and the WebSocket protocol types. No HTTP, no SQL: rooms take
//! commands and emit typed events that the application persists.

pub mod actor;
pub mod events;
pub mod flood;
pub mod groups;
pub mod media;
pub mod permissions;
pub mod protocol;
pub mod registry;
pub mod role;
pub mod room;

pub use role::Role;
