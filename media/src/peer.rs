//! Building a server-side peer connection: VP8 + Opus only, mDNS off (no multicast on
//! servers), host candidates on the configured address only, and non-trickle answers
//! (the answer is returned once ICE gathering is complete; host candidates are instant).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rtc::interceptor::{NackResponderBuilder, ReceiverReportBuilder, SenderReportBuilder, Slot};
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind,
};
use tokio::sync::Notify;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    register_default_interceptors, MediaEngine, PeerConnection, PeerConnectionBuilder,
    PeerConnectionEventHandler, RTCConfigurationBuilder, RTCIceConnectionState,
    RTCIceGatheringState, RTCPeerConnectionState, RTCSessionDescription, Registry,
    SettingEngineBuilder,
};

use crate::error::MediaError;
use crate::rtcp_tap::KeyframeRequestTap;
use crate::MediaConfig;

/// The VP8 codec every video track uses.
pub fn vp8() -> RTCRtpCodec {
    let fb = |typ: &str, parameter: &str| RTCPFeedback {
        typ: typ.to_string(),
        parameter: parameter.to_string(),
    };
    RTCRtpCodec {
        mime_type: MIME_TYPE_VP8.to_string(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: String::new(),
        rtcp_feedback: vec![fb("nack", ""), fb("nack", "pli"), fb("ccm", "fir")],
    }
}

/// The Opus codec every audio track uses.
pub fn opus() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_OPUS.to_string(),
        clock_rate: 48_000,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".to_string(),
        rtcp_feedback: vec![],
    }
}

/// A media engine that knows only what the SFU forwards.
pub fn media_engine() -> Result<MediaEngine, MediaError> {
    let mut m = MediaEngine::default();
    m.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: vp8(),
            payload_type: 96,
        },
        RtpCodecKind::Video,
    )?;
    m.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: opus(),
            payload_type: 111,
        },
        RtpCodecKind::Audio,
    )?;
    Ok(m)
}

type StateFn = Box<dyn Fn(RTCPeerConnectionState) + Send + Sync>;
type TrackFn = Box<dyn Fn(Arc<dyn TrackRemote>) + Send + Sync>;

/// Callbacks of one peer connection, set once after it is built.
#[derive(Default)]
pub struct PeerEvents {
    gathered: AtomicBool,
    gather_notify: Notify,
    on_state: OnceLock<StateFn>,
    on_track: OnceLock<TrackFn>,
    ice_connected_at: std::sync::Mutex<Option<std::time::Instant>>,
}

impl PeerEvents {
    /// Calls `f` on every connection-state change.
    pub fn set_on_state(&self, f: impl Fn(RTCPeerConnectionState) + Send + Sync + 'static) {
        let _ = self.on_state.set(Box::new(f));
    }

    /// Calls `f` for every remote track.
    pub fn set_on_track(&self, f: impl Fn(Arc<dyn TrackRemote>) + Send + Sync + 'static) {
        let _ = self.on_track.set(Box::new(f));
    }

    /// When ICE first reported `connected` (before DTLS), for timing joins.
    pub fn ice_connected_at(&self) -> Option<std::time::Instant> {
        *self
            .ice_connected_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until ICE gathering is complete; false on timeout.
    pub async fn wait_gathered(&self, timeout: Duration) -> bool {
        let wait = async {
            loop {
                let notified = self.gather_notify.notified();
                if self.gathered.load(Ordering::Acquire) {
                    return;
                }
                notified.await;
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }
}

/// Adapter from the crate's handler trait to [`PeerEvents`].
struct Handler(Arc<PeerEvents>);

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.0.gathered.store(true, Ordering::Release);
            self.0.gather_notify.notify_waiters();
        }
    }

    async fn on_ice_connection_state_change(&self, state: RTCIceConnectionState) {
        if state == RTCIceConnectionState::Connected {
            self.0
                .ice_connected_at
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert_with(std::time::Instant::now);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        if let Some(f) = self.0.on_state.get() {
            f(state);
        }
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        if let Some(f) = self.0.on_track.get() {
            f(track);
        }
    }
}

/// What a connection is for; decides its interceptors and its ICE behaviour.
///
/// Every packet walks the whole interceptor chain, moving through each interceptor's
/// queue, so a connection only carries the interceptors its direction needs (the profile
/// of the default chain on the SFU's send-only connections showed 13–20 % of the CPU in
/// those moves). The SFU's connections are ICE-lite (RFC 8445 §2.5: a server with a
/// reachable address answers the client's checks and sends none of its own); clients run
/// full ICE and start checking at once, as browsers do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerRole {
    /// The SFU receiving a publisher: the crate's default interceptors (NACK both ways,
    /// TWCC receiver, receiver and sender reports) and the keyframe-request tap.
    SfuIngest,
    /// The SFU sending to a viewer: NACK responder (retransmissions), sender reports and
    /// the keyframe-request tap.
    SfuEgress,
    /// A client that publishes (tests, load tool): default interceptors, full ICE.
    ClientSender,
    /// A client that only receives (tests, load tool): receiver reports only (it counts
    /// losses itself), full ICE.
    ClientReceiver,
}

/// Packets kept per outgoing stream for retransmission on NACK (2 s of a 1.2 Mbps camera).
const NACK_BUFFER: u16 = 256;

/// Tick of the ICE agent while connecting (the crate's default is 200 ms; browsers pace
/// checks every 50 ms). The agent acts on a nominated pair, and the DTLS handshake
/// starts, on this tick: at 200 ms it was most of a join's time on loopback.
const ICE_CHECK_INTERVAL: Duration = Duration::from_millis(50);

fn registry(role: PeerRole, media: &mut MediaEngine) -> Result<Registry, MediaError> {
    let tap = Slot::from(14_000);
    Ok(match role {
        PeerRole::SfuIngest | PeerRole::ClientSender => {
            register_default_interceptors(Registry::new(), media)?
                .with(tap, KeyframeRequestTap::default())
        }
        PeerRole::SfuEgress => Registry::new()
            .with(
                Slot::NackResponder,
                NackResponderBuilder::new().with_size(NACK_BUFFER).build(),
            )
            .with(Slot::SenderReport, SenderReportBuilder::new().build())
            .with(tap, KeyframeRequestTap::default()),
        PeerRole::ClientReceiver => {
            Registry::new().with(Slot::ReceiverReport, ReceiverReportBuilder::new().build())
        }
    })
}

/// Builds an SFU connection for a publisher ([`PeerRole::SfuIngest`]) bound to
/// `cfg.bind_ip` on an ephemeral UDP port.
pub async fn build_peer(
    cfg: &MediaConfig,
) -> Result<(Arc<dyn PeerConnection>, Arc<PeerEvents>), MediaError> {
    build_peer_with(cfg, PeerRole::SfuIngest).await
}

/// Builds a connection for `role` bound to `cfg.bind_ip` on an ephemeral UDP port.
pub async fn build_peer_with(
    cfg: &MediaConfig,
    role: PeerRole,
) -> Result<(Arc<dyn PeerConnection>, Arc<PeerEvents>), MediaError> {
    let settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        .with_ice_connection_attempts(Some(ICE_CHECK_INTERVAL), None);
    let settings = match role {
        PeerRole::SfuIngest | PeerRole::SfuEgress => settings.with_lite(cfg.ice_lite),
        PeerRole::ClientSender | PeerRole::ClientReceiver => settings,
    }
    .build();
    let mut media = media_engine()?;
    let registry = registry(role, &mut media)?;
    let events = Arc::new(PeerEvents::default());
    let pc = PeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::default().build())
        .with_setting_engine(settings)
        .with_media_engine(media)
        .with_interceptor_registry(registry)
        .with_handler(Arc::new(Handler(events.clone())))
        .with_udp_addrs(vec![SocketAddr::new(cfg.bind_ip, 0)])
        .build()
        .await?;
    Ok((Arc::new(pc), events))
}

/// Applies `offer`, answers it and waits for ICE gathering so the answer carries every
/// candidate (no trickle).
pub async fn answer(
    pc: &Arc<dyn PeerConnection>,
    events: &PeerEvents,
    offer: &str,
    gather_timeout: Duration,
) -> Result<String, MediaError> {
    let offer = RTCSessionDescription::offer(offer.to_string())
        .map_err(|e| crate::offer::OfferError::Malformed(e.to_string()))?;
    pc.set_remote_description(offer)
        .await
        .map_err(|e| crate::offer::OfferError::Malformed(e.to_string()))?;
    let answer = pc.create_answer(None).await?;
    pc.set_local_description(answer).await?;
    if !events.wait_gathered(gather_timeout).await {
        return Err(MediaError::IceGathering);
    }
    pc.local_description()
        .await
        .map(|d| d.sdp)
        .ok_or(MediaError::IceGathering)
}
