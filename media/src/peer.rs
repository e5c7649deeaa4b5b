//! Building a server-side peer connection: mDNS off (no multicast on servers), host
//! candidates on the configured address only.

use std::net::SocketAddr;
use std::sync::Arc;

use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, SettingEngineBuilder,
};

use crate::MediaConfig;

/// Errors while setting up a peer.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// The webrtc stack refused.
    #[error("webrtc: {0}")]
    Webrtc(#[from] webrtc::error::Error),
}

/// Handler that ignores every event (used until a room attaches its own).
#[derive(Clone, Default)]
pub struct NoEvents;

#[async_trait::async_trait]
impl PeerConnectionEventHandler for NoEvents {}

/// Builds a peer connection bound to `cfg.bind_ip` on an ephemeral UDP port.
pub async fn build_peer(
    cfg: &MediaConfig,
    handler: Arc<dyn PeerConnectionEventHandler>,
) -> Result<impl PeerConnection, PeerError> {
    let settings = SettingEngineBuilder::new()
        .with_multicast_dns_mode(rtc::ice::mdns::MulticastDnsMode::Disabled)
        .build();
    let mut media = MediaEngine::default();
    media.register_default_codecs()?;
    let pc = PeerConnectionBuilder::new()
        .with_configuration(RTCConfigurationBuilder::default().build())
        .with_setting_engine(settings)
        .with_media_engine(media)
        .with_handler(handler)
        .with_udp_addrs(vec![SocketAddr::new(cfg.bind_ip, 0)])
        .build()
        .await?;
    Ok(pc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn builds_a_peer_that_makes_an_offer() {
        let pc = build_peer(&MediaConfig::default(), Arc::new(NoEvents))
            .await
            .unwrap();
        pc.add_transceiver_from_kind(rtc::rtp_transceiver::rtp_sender::RtpCodecKind::Video, None)
            .await
            .unwrap();
        let offer = pc.create_offer(None).await.unwrap();
        assert!(offer.sdp.contains("m=video"), "{}", offer.sdp);
        pc.close().await.unwrap();
    }
}
