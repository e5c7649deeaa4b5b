//! Media settings from the application's configuration.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// How the SFU binds and admits peers.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Address UDP sockets bind to (one per peer connection).
    pub bind_ip: IpAddr,
    /// Most subscribers this node serves at once; further joins are refused.
    pub max_subscribers: u32,
    /// Most RTP packets per second this node forwards; joins that would exceed it are refused.
    pub max_forwarded_pps: u64,
    /// At most one keyframe request per publisher track per this many milliseconds.
    pub keyframe_interval_ms: u64,
    /// Media counts as stalled after this long without a delivered packet.
    pub stall_after_ms: u64,
    /// Give up answering when ICE gathering takes longer.
    pub gather_timeout_ms: u64,
    /// Typed events held for the application before new ones are dropped.
    pub event_queue: usize,
    /// Send a joining viewer the cached packets since the publisher's last keyframe
    /// instead of waiting for a new keyframe (off: measure the difference).
    pub keyframe_replay: bool,
    /// Run the SFU's side of ICE as ICE-lite (answer checks, send none); off: full ICE.
    pub ice_lite: bool,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            bind_ip: IpAddr::from([127, 0, 0, 1]),
            max_subscribers: 1000,
            max_forwarded_pps: 200_000,
            keyframe_interval_ms: 500,
            stall_after_ms: 2000,
            gather_timeout_ms: 5000,
            event_queue: 4096,
            keyframe_replay: true,
            ice_lite: true,
        }
    }
}
