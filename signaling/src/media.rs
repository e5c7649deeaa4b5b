//! Where media negotiation leaves signaling. SDP offers/answers and ICE candidates travel
//! over the room's WebSocket as opaque strings; after the room has checked that the sender
//! may publish (regulators may not) or receive what it asks for, it hands them to a
//! [`MediaBridge`]. The application implements the bridge over its SFU; a node without one
//! uses [`NoMedia`], which answers every signal with a clear `media_unavailable` error.

use std::sync::Arc;

use crate::protocol::{MediaDirection, ServerMessage};
use crate::Role;

/// Who sent a media signal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MediaPeer {
    /// The class.
    pub class_id: i64,
    /// Its live session.
    pub session_id: i64,
    /// The participant.
    pub user_id: i64,
    /// Their role (the bridge may refuse, e.g., a subscribe-only role publishing).
    pub role: Role,
}

/// A negotiation step from a client, checked by the room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MediaSignal {
    /// SDP offer.
    Offer {
        /// Publish or subscribe.
        direction: MediaDirection,
        /// Opaque SDP.
        sdp: String,
        /// Subscribe: whose camera (the room has checked the sender may receive it);
        /// `None`, the lecture.
        target: Option<i64>,
        /// Subscribe to a camera: whether the sender may also hear that participant's
        /// microphone now; if not, an offer with an audio section must be refused.
        audio: bool,
    },
    /// SDP answer to a server offer.
    Answer {
        /// Opaque SDP.
        sdp: String,
    },
    /// Trickled ICE candidate.
    Candidate {
        /// Opaque candidate line.
        candidate: String,
        /// Media section id.
        sdp_mid: Option<String>,
        /// Media section index.
        sdp_mline_index: Option<u16>,
    },
}

/// Sends the media side's answers (`media_answer`, `media_offer`, `ice_candidate`, or an
/// `error`) back to the participant's current connection, through the room.
#[derive(Clone)]
pub struct MediaReply {
    send: Arc<dyn Fn(ServerMessage) + Send + Sync>,
}

impl MediaReply {
    /// A reply handle calling `send`.
    pub fn new(send: impl Fn(ServerMessage) + Send + Sync + 'static) -> Self {
        Self {
            send: Arc::new(send),
        }
    }

    /// Delivers one message to the participant.
    pub fn send(&self, msg: ServerMessage) {
        (self.send)(msg)
    }
}

/// The media crate's side of negotiation.
pub trait MediaBridge: Send + Sync + 'static {
    /// A checked signal from `peer`; answers go through `reply`, possibly later.
    fn signal(&self, peer: MediaPeer, signal: MediaSignal, reply: MediaReply);
    /// `peer` left the room for good: tear down their transports.
    fn left(&self, peer: MediaPeer) {
        let _ = peer;
    }
    /// `viewer` may no longer receive `publisher`'s camera (the floor was taken back, a
    /// call ended, the student moved to another assistant, a watch ended, the publisher
    /// left): close the subscriptions that `viewer` opened for it, telling them through
    /// `reply`.
    fn revoke(&self, viewer: MediaPeer, publisher: i64, reply: MediaReply) {
        let _ = (viewer, publisher, reply);
    }
}

/// The bridge used while no media server is wired in.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoMedia;

impl MediaBridge for NoMedia {
    fn signal(&self, _peer: MediaPeer, _signal: MediaSignal, reply: MediaReply) {
        reply.send(ServerMessage::error(
            "media_unavailable",
            "this node runs no media server yet; signaling works without media",
        ));
    }
}
