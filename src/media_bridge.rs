//! The class room's media negotiation, carried out by this node's SFU. The room has already
//! checked every signal against its permission table (who may publish, whose camera a
//! viewer may receive now); this bridge turns a checked SDP offer into an SFU publish or
//! subscribe, answers over the participant's WebSocket, remembers the media sessions each
//! participant opened, and closes them when the room says so (the participant left, or lost
//! the right to a camera).
//!
//! Mapping onto the SFU's two kinds of publication: the lecturer publishes the lecture;
//! a student publishes their camera; an assistant's camera (for a private call) is
//! published the same way, under the assistant's id, and reaches only a subscription that
//! names the assistant — which the room allows only to the call peer. The SFU answers
//! offers with all candidates (no trickle), so the client's offer must carry its own.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use ::media::offer::OfferError;
use ::media::{MediaError, PublishKind, SessionId, Sfu, SubscribeTarget};
use signaling::media::{MediaBridge, MediaPeer, MediaReply, MediaSignal};
use signaling::protocol::{MediaDirection, ServerMessage};
use signaling::Role;

/// One media session a participant opened.
#[derive(Clone, Copy, Debug)]
struct Held {
    session: SessionId,
    /// Subscriptions to a camera: whose.
    target: Option<i64>,
}

/// Key of a participant in a class.
type Who = (i64, i64);

#[derive(Default)]
struct Book {
    sessions: HashMap<Who, Vec<Held>>,
    /// Bumped when the participant leaves: an offer still being answered is then undone.
    left: HashMap<Who, u64>,
    /// Bumped when a viewer loses a camera (viewer, publisher).
    revoked: HashMap<(i64, i64, i64), u64>,
}

impl Book {
    fn epoch(&self, who: Who, target: Option<i64>) -> (u64, u64) {
        let l = self.left.get(&who).copied().unwrap_or(0);
        let r = target
            .and_then(|t| self.revoked.get(&(who.0, who.1, t)).copied())
            .unwrap_or(0);
        (l, r)
    }
}

/// The [`MediaBridge`] over this node's SFU.
pub struct SfuBridge {
    sfu: Arc<Sfu>,
    book: Arc<Mutex<Book>>,
}

impl SfuBridge {
    /// A bridge to `sfu`.
    pub fn new(sfu: Arc<Sfu>) -> Arc<Self> {
        Arc::new(Self {
            sfu,
            book: Arc::default(),
        })
    }

    fn close_all(&self, sessions: Vec<SessionId>, reply: Option<MediaReply>, reason: &str) {
        if sessions.is_empty() {
            return;
        }
        let sfu = self.sfu.clone();
        let reason = reason.to_string();
        tokio::spawn(async move {
            for session in sessions {
                // Already gone (replaced, or its connection failed): nothing to close.
                if sfu.leave(session).await.is_ok() {
                    if let Some(r) = &reply {
                        r.send(ServerMessage::MediaClosed {
                            session,
                            reason: reason.clone(),
                        });
                    }
                }
            }
        });
    }

    fn offer(
        &self,
        peer: MediaPeer,
        direction: MediaDirection,
        sdp: String,
        target: Option<i64>,
        reply: MediaReply,
    ) {
        let who = (peer.class_id, peer.user_id);
        let what = match direction {
            MediaDirection::Publish => match peer.role {
                Role::Lecturer => Ok(PublishKind::Lecture),
                Role::Student | Role::Assistant => Ok(PublishKind::StudentCamera),
                Role::Regulator | Role::Admin => Err(()),
            }
            .map(Some),
            MediaDirection::Subscribe => Ok(None),
        };
        let Ok(publish) = what else {
            // The room refuses these first; kept as a second lock on the door.
            reply.send(ServerMessage::error(
                "forbidden",
                "this role publishes nothing",
            ));
            return;
        };
        let epoch = self
            .book
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .epoch(who, target);
        let (sfu, book) = (self.sfu.clone(), self.book.clone());
        tokio::spawn(async move {
            let answer = match publish {
                Some(kind) => sfu.publish(peer.class_id, peer.user_id, kind, &sdp).await,
                None => {
                    let t = target.map_or(SubscribeTarget::Lecture, SubscribeTarget::StudentCamera);
                    sfu.subscribe(peer.class_id, peer.user_id, t, &sdp).await
                }
            };
            let a = match answer {
                Ok(a) => a,
                Err(e) => {
                    let (code, message) = refusal(&e);
                    reply.send(ServerMessage::error(code, message));
                    return;
                }
            };
            let undone = {
                let mut b = book.lock().unwrap_or_else(|e| e.into_inner());
                if b.epoch(who, target) != epoch {
                    true
                } else {
                    let held = b.sessions.entry(who).or_default();
                    // Forget sessions the SFU has ended on its own (replaced, failed).
                    held.retain(|h| sfu.session_room(h.session).is_some());
                    held.push(Held {
                        session: a.session,
                        target,
                    });
                    false
                }
            };
            if undone {
                // The participant left, or lost this camera, while the SFU was answering.
                let _ = sfu.leave(a.session).await;
                reply.send(ServerMessage::error(
                    "forbidden",
                    "you may no longer receive this media",
                ));
                return;
            }
            tracing::debug!(
                class_id = peer.class_id,
                user_id = peer.user_id,
                session = a.session,
                ?direction,
                ?target,
                "media session over the room socket"
            );
            reply.send(ServerMessage::MediaAnswer {
                sdp: a.sdp,
                session: Some(a.session),
                direction: Some(direction),
                user_id: target,
            });
        });
    }
}

/// Stable code and message for an SFU refusal (the same codes as the HTTP endpoints).
/// Whether an offer has an audio section (unparsable offers are left to the SFU, which
/// refuses them with the reason).
fn offers_audio(sdp: &str) -> bool {
    ::media::offer::inspect(sdp, usize::MAX, usize::MAX).is_ok_and(|s| s.audio > 0)
}

fn refusal(e: &MediaError) -> (&'static str, String) {
    match e {
        MediaError::Offer(OfferError::Malformed(d)) => {
            ("malformed_sdp", format!("the offer is not valid SDP: {d}"))
        }
        MediaError::Offer(o @ OfferError::NoUsableCodec { .. }) => {
            ("no_usable_codec", o.to_string())
        }
        MediaError::Offer(o @ OfferError::TooManyTracks { .. }) => {
            ("too_many_tracks", o.to_string())
        }
        MediaError::Offer(o @ OfferError::NoMedia) => ("no_media", o.to_string()),
        MediaError::Refused(r) => ("media_node_full", r.to_string()),
        other => {
            tracing::error!(error = %other, "media error");
            (
                "media_failed",
                "the media server could not set up the connection; it has been logged".into(),
            )
        }
    }
}

impl MediaBridge for SfuBridge {
    fn signal(&self, peer: MediaPeer, signal: MediaSignal, reply: MediaReply) {
        match signal {
            MediaSignal::Offer {
                direction,
                sdp,
                target,
                audio,
            } => {
                if target.is_some() && !audio && offers_audio(&sdp) {
                    reply.send(ServerMessage::error(
                        "forbidden",
                        "you may hear this participant only while they hold the floor or are \
                         in a call with you: offer video only",
                    ));
                    return;
                }
                self.offer(peer, direction, sdp, target, reply)
            }
            MediaSignal::Answer { .. } => reply.send(ServerMessage::error(
                "no_server_offer",
                "the media server sends no offers: each of your offers opens its own session",
            )),
            MediaSignal::Candidate { .. } => reply.send(ServerMessage::error(
                "trickle_unsupported",
                "send the offer once ICE gathering is complete, with all candidates; the answer carries the server's",
            )),
        }
    }

    fn left(&self, peer: MediaPeer) {
        let who = (peer.class_id, peer.user_id);
        let sessions = {
            let mut b = self.book.lock().unwrap_or_else(|e| e.into_inner());
            *b.left.entry(who).or_default() += 1;
            b.revoked.retain(|k, _| (k.0, k.1) != who);
            b.sessions.remove(&who).unwrap_or_default()
        };
        self.close_all(sessions.iter().map(|h| h.session).collect(), None, "left");
    }

    fn revoke(&self, viewer: MediaPeer, publisher: i64, reply: MediaReply) {
        let who = (viewer.class_id, viewer.user_id);
        let sessions = {
            let mut b = self.book.lock().unwrap_or_else(|e| e.into_inner());
            *b.revoked.entry((who.0, who.1, publisher)).or_default() += 1;
            let held = b.sessions.entry(who).or_default();
            let (gone, kept): (Vec<Held>, Vec<Held>) =
                held.drain(..).partition(|h| h.target == Some(publisher));
            *held = kept;
            gone
        };
        self.close_all(
            sessions.iter().map(|h| h.session).collect(),
            Some(reply),
            &format!("you may no longer receive {publisher}'s camera"),
        );
    }
}
