//! Ketang (课堂): live-classroom media server for government-subsidised online
//! entrepreneurship training. This crate is the application: configuration, the HTTP API,
//! authentication, the store, registration and filing rules; it wires the `signaling`,
//! `media` and `face` crates together.

pub mod attendance;
pub mod auth;
pub mod classroom;
pub mod cli;
pub mod config;
pub mod cpu_metric;
pub mod crypto;
pub mod demo;
pub mod face_checks;
pub mod filing;
pub mod http;
pub mod integrity;
pub mod listener;
pub mod live;
pub mod load;
pub mod media_bridge;
pub mod metrics;
pub mod registration;
pub mod server;
pub mod store;
pub mod telemetry;
