//! Building a server-side peer connection: VP8 + Opus only, mDNS off (no multicast on
//! servers), host candidates on the configured address only, and non-trickle answers
//! (the answer is returned once ICE gathering is complete; host candidates are instant).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rtc::interceptor::Slot;
use rtc::peer_connection::configuration::media_engine::{MIME_TYPE_OPUS, MIME_TYPE_VP8};
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RtpCodecKind,
};
use tokio::sync::Notify;
use webrtc::media_stream::track_remote::TrackRemote;
use webrtc::peer_connection::{
    register_default_interceptors, MediaEngine, PeerConnection, PeerConnectionBuilder,
    PeerConnectionEventHandler, RTCConfigurationBuilder, RTCIceGatheringState,
    RTCPeerConnectionState, RTCSessionDescription, Registry, SettingEngineBuilder,
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

/// Builds a peer connection bound to `cfg.bind_ip` on an ephemeral UDP port. Its
/// interceptors: NACK, reports, and [`KeyframeRequestTap`] last.
pub async fn build_peer(
    cfg: &MediaConfig,
) -> Result<(Arc<dyn PeerConnection>, Arc<PeerEvents>), MediaError> {
    let settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        .build();
    let mut media = media_engine()?;
    let registry = register_default_interceptors(Registry::new(), &mut media)?
        .with(Slot::from(14_000), KeyframeRequestTap::default());
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
