//! Media settings from the application's configuration.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// How the SFU binds and admits peers.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// Address UDP sockets bind to (one per peer connection).
    pub bind_ip: IpAddr,
    /// Most subscribers this node serves at once.
    pub max_subscribers: u32,
}

impl Default for MediaConfig {
    fn default() -> Self {
        Self {
            bind_ip: IpAddr::from([127, 0, 0, 1]),
            max_subscribers: 1000,
        }
    }
}
