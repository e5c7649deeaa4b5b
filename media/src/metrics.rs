//! Prometheus metrics of the SFU, per room. Handles are resolved once per room so the
//! packet path only does atomic adds.

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// Why a packet (or event) was not forwarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// A subscriber's bounded queue was full (slow or stalled viewer).
    QueueFull,
    /// The subscriber waits for a keyframe; delta frames before it are useless.
    AwaitingKeyframe,
    /// Duplicate or too old.
    Stale,
    /// A track the publisher's offer did not announce.
    UnknownTrack,
    /// The transport refused the packet (not connected yet, or closed).
    Transport,
    /// The typed event queue was full.
    EventQueueFull,
    /// A packet on a publisher track with an SSRC that is not the track's.
    UnknownSsrc,
}

impl DropReason {
    /// Label value.
    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::QueueFull => "queue_full",
            DropReason::AwaitingKeyframe => "awaiting_keyframe",
            DropReason::Stale => "stale",
            DropReason::UnknownTrack => "unknown_track",
            DropReason::Transport => "transport",
            DropReason::EventQueueFull => "event_queue_full",
            DropReason::UnknownSsrc => "unknown_ssrc",
        }
    }

    const ALL: [DropReason; 7] = [
        DropReason::QueueFull,
        DropReason::AwaitingKeyframe,
        DropReason::Stale,
        DropReason::UnknownTrack,
        DropReason::Transport,
        DropReason::EventQueueFull,
        DropReason::UnknownSsrc,
    ];
}

/// The SFU's metric families.
#[derive(Clone)]
pub struct MediaMetrics {
    publishers: IntGaugeVec,
    subscribers: IntGaugeVec,
    forwarded_packets: IntCounterVec,
    forwarded_bytes: IntCounterVec,
    received_packets: IntCounterVec,
    pli_in: IntCounterVec,
    pli_out: IntCounterVec,
    replayed_packets: IntCounterVec,
    drops: IntCounterVec,
    /// Joins refused by admission control, by reason.
    pub refusals: IntCounterVec,
}

/// One room's handles.
#[derive(Clone)]
pub struct RoomMetrics {
    /// Publishing peers.
    pub publishers: IntGauge,
    /// Subscribing peers.
    pub subscribers: IntGauge,
    /// Packets handed to subscribers' transports.
    pub forwarded_packets: IntCounter,
    /// Payload bytes handed to subscribers' transports.
    pub forwarded_bytes: IntCounter,
    /// Packets received from publishers.
    pub received_packets: IntCounter,
    /// Keyframe requests received from subscribers.
    pub pli_in: IntCounter,
    /// Keyframe requests sent to publishers.
    pub pli_out: IntCounter,
    /// Cached packets (since the last keyframe) sent to joining subscribers.
    pub replayed_packets: IntCounter,
    drops: Vec<IntCounter>,
}

impl RoomMetrics {
    /// Counts `n` drops for `reason`.
    pub fn drop(&self, reason: DropReason, n: u64) {
        let i = DropReason::ALL
            .iter()
            .position(|r| *r == reason)
            .unwrap_or(0);
        self.drops[i].inc_by(n);
    }
}

impl MediaMetrics {
    /// Registers the families on `registry`.
    pub fn new(registry: &Registry) -> prometheus::Result<Self> {
        let room = &["room"];
        let gauge = |name: &str, help: &str| -> prometheus::Result<IntGaugeVec> {
            let g = IntGaugeVec::new(Opts::new(name, help), room)?;
            registry.register(Box::new(g.clone()))?;
            Ok(g)
        };
        let counter =
            |name: &str, help: &str, labels: &[&str]| -> prometheus::Result<IntCounterVec> {
                let c = IntCounterVec::new(Opts::new(name, help), labels)?;
                registry.register(Box::new(c.clone()))?;
                Ok(c)
            };
        Ok(Self {
            publishers: gauge("media_publishers", "Publishing peers per room")?,
            subscribers: gauge("media_subscribers", "Subscribing peers per room")?,
            forwarded_packets: counter(
                "media_forwarded_packets_total",
                "RTP packets handed to subscribers' transports",
                room,
            )?,
            forwarded_bytes: counter(
                "media_forwarded_bytes_total",
                "RTP payload bytes handed to subscribers' transports",
                room,
            )?,
            received_packets: counter(
                "media_received_packets_total",
                "RTP packets received from publishers",
                room,
            )?,
            pli_in: counter(
                "media_pli_in_total",
                "Keyframe requests (PLI/FIR) from subscribers",
                room,
            )?,
            pli_out: counter(
                "media_pli_out_total",
                "Keyframe requests sent to publishers after coalescing",
                room,
            )?,
            replayed_packets: counter(
                "media_replayed_packets_total",
                "Cached packets since the last keyframe sent to joining subscribers (also counted as forwarded)",
                room,
            )?,
            drops: counter(
                "media_drops_total",
                "Packets not forwarded, by reason",
                &["room", "reason"],
            )?,
            refusals: counter(
                "media_refusals_total",
                "Joins refused by admission control",
                &["reason"],
            )?,
        })
    }

    /// Metrics for a registry nobody reads (tests, tools).
    pub fn unregistered() -> Self {
        Self::new(&Registry::new()).expect("fresh registry")
    }

    /// The handles of room `room`.
    pub fn room(&self, room: i64) -> RoomMetrics {
        let r = room.to_string();
        let l = [r.as_str()];
        RoomMetrics {
            publishers: self.publishers.with_label_values(&l),
            subscribers: self.subscribers.with_label_values(&l),
            forwarded_packets: self.forwarded_packets.with_label_values(&l),
            forwarded_bytes: self.forwarded_bytes.with_label_values(&l),
            received_packets: self.received_packets.with_label_values(&l),
            pli_in: self.pli_in.with_label_values(&l),
            pli_out: self.pli_out.with_label_values(&l),
            replayed_packets: self.replayed_packets.with_label_values(&l),
            drops: DropReason::ALL
                .iter()
                .map(|d| self.drops.with_label_values(&[r.as_str(), d.as_str()]))
                .collect(),
        }
    }
}
