//! A WebRTC client for tests and the load tool: a publisher that sends synthetic VP8
//! (with real payload descriptors and keyframe bits, answering PLI with a keyframe) and
//! Opus-sized audio, and a subscriber that checks what it receives. Real peers over real
//! UDP, built like the server's (mDNS off).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rtc::media_stream::MediaStreamTrack;
use rtc::rtp;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodingParameters, RTCRtpEncodingParameters, RtpCodecKind,
};
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::track_remote::TrackRemoteEvent;
use webrtc::peer_connection::{PeerConnection, RTCPeerConnectionState, RTCSessionDescription};

use crate::peer::{self, opus, vp8, PeerEvents, PeerRole};
use crate::rtcp_tap::is_keyframe_request;
use crate::{MediaConfig, MediaError};

/// A client connection.
pub struct ClientPeer {
    /// The connection.
    pub pc: Arc<dyn PeerConnection>,
    /// Its callbacks.
    pub events: Arc<PeerEvents>,
    /// Set when the transport is connected.
    pub connected: Arc<AtomicBool>,
    /// When the transport first became connected (ICE and DTLS done).
    pub connected_at: Arc<Mutex<Option<Instant>>>,
}

impl ClientPeer {
    async fn new(cfg: &MediaConfig, role: PeerRole) -> Result<Self, MediaError> {
        let (pc, events) = peer::build_peer_with(cfg, role).await?;
        let connected = Arc::new(AtomicBool::new(false));
        Ok(Self {
            pc,
            events,
            connected,
            connected_at: Arc::default(),
        })
    }

    fn watch_state(&self) {
        let (c, at) = (self.connected.clone(), self.connected_at.clone());
        self.events.set_on_state(move |s| {
            let up = s == RTCPeerConnectionState::Connected;
            if up {
                at.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_or_insert_with(Instant::now);
            }
            c.store(up, Ordering::Release);
        });
    }

    /// Creates the offer (waiting for all candidates).
    pub async fn offer(&self) -> Result<String, MediaError> {
        let offer = self.pc.create_offer(None).await?;
        self.pc.set_local_description(offer).await?;
        if !self.events.wait_gathered(Duration::from_secs(5)).await {
            return Err(MediaError::IceGathering);
        }
        Ok(self
            .pc
            .local_description()
            .await
            .map(|d| d.sdp)
            .unwrap_or_default())
    }

    /// Applies the server's answer.
    pub async fn accept(&self, answer: &str) -> Result<(), MediaError> {
        let a = RTCSessionDescription::answer(answer.to_string())?;
        self.pc.set_remote_description(a).await?;
        Ok(())
    }

    /// Waits until connected; false on timeout.
    pub async fn wait_connected(&self, timeout: Duration) -> bool {
        let t0 = Instant::now();
        while t0.elapsed() < timeout {
            if self.connected.load(Ordering::Acquire) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        false
    }
}

/// Fills a synthetic payload so a receiver can check it is intact: a 1-byte VP8
/// descriptor, a 1-byte frame tag, an 8-byte packet index, then bytes derived from it.
pub fn synth_payload(index: u64, keyframe_start: bool, frame_start: bool, len: usize) -> Vec<u8> {
    let len = len.max(10);
    let mut p = Vec::with_capacity(len);
    p.push(if frame_start { 0x10 } else { 0x00 });
    p.push(if keyframe_start { 0x50 } else { 0x51 });
    p.extend_from_slice(&index.to_be_bytes());
    for i in 0..len - 10 {
        p.push((index as u8).wrapping_add(i as u8));
    }
    p
}

/// Checks a payload made by [`synth_payload`]; returns its index.
pub fn check_payload(p: &[u8]) -> Option<u64> {
    let index = u64::from_be_bytes(p.get(2..10)?.try_into().ok()?);
    p[10..]
        .iter()
        .enumerate()
        .all(|(i, b)| *b == (index as u8).wrapping_add(i as u8))
        .then_some(index)
}

/// A publishing client: one VP8 camera track, optionally a second (screen) and audio.
pub struct ClientPublisher {
    /// The connection.
    pub peer: ClientPeer,
    /// Video tracks and their SSRCs.
    pub video: Vec<(Arc<TrackLocalStaticRTP>, u32)>,
    /// Audio track and its SSRC.
    pub audio: Option<(Arc<TrackLocalStaticRTP>, u32)>,
    /// Keyframe requests received from the server.
    pub plis: Arc<AtomicU64>,
    /// A second SSRC of the first video track that [`Self::offer`] keeps out of the offer
    /// (bad-input tests: RTP from an SSRC the server never agreed to).
    pub undeclared_ssrc: Option<u32>,
    /// Packets handed to the connection on the undeclared SSRC.
    pub undeclared_sent: Arc<AtomicU64>,
    keyframe_wanted: Arc<AtomicBool>,
}

fn local_track(kind: RtpCodecKind, name: &str, ssrcs: &[u32]) -> Arc<TrackLocalStaticRTP> {
    let codec = if kind == RtpCodecKind::Video {
        vp8()
    } else {
        opus()
    };
    Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
        "client".to_string(),
        name.to_string(),
        name.to_string(),
        kind,
        ssrcs
            .iter()
            .map(|ssrc| RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(*ssrc),
                    ..Default::default()
                },
                codec: codec.clone(),
                ..Default::default()
            })
            .collect(),
    )))
}

/// `sdp` without the lines that name `ssrc`.
pub fn strip_ssrc(sdp: &str, ssrc: u32) -> String {
    let name = ssrc.to_string();
    sdp.split_inclusive('\n')
        .filter(|l| !(l.starts_with("a=ssrc") && l.split([' ', ':']).any(|w| w.trim() == name)))
        .collect()
}

impl ClientPublisher {
    /// A publisher with `videos` VP8 tracks and `audio` Opus.
    pub async fn new(cfg: &MediaConfig, videos: usize, audio: bool) -> Result<Self, MediaError> {
        Self::build(cfg, videos, audio, false).await
    }

    /// A publisher whose first video track can also send on an SSRC its offer does not
    /// declare (see [`RunOptions::undeclared`]).
    pub async fn with_undeclared_ssrc(
        cfg: &MediaConfig,
        videos: usize,
        audio: bool,
    ) -> Result<Self, MediaError> {
        Self::build(cfg, videos, audio, true).await
    }

    /// The offer, without the undeclared SSRC if there is one.
    pub async fn offer(&self) -> Result<String, MediaError> {
        let sdp = self.peer.offer().await?;
        Ok(match self.undeclared_ssrc {
            Some(ssrc) => strip_ssrc(&sdp, ssrc),
            None => sdp,
        })
    }

    async fn build(
        cfg: &MediaConfig,
        videos: usize,
        audio: bool,
        undeclared: bool,
    ) -> Result<Self, MediaError> {
        let peer = ClientPeer::new(cfg, PeerRole::ClientSender).await?;
        peer.watch_state();
        let plis = Arc::new(AtomicU64::new(0));
        let keyframe_wanted = Arc::new(AtomicBool::new(true));
        let mut video = Vec::new();
        let undeclared_ssrc = (undeclared && videos > 0).then(rand::random::<u32>);
        for i in 0..videos {
            let ssrc: u32 = rand::random();
            let mut ssrcs = vec![ssrc];
            if i == 0 {
                ssrcs.extend(undeclared_ssrc);
            }
            let t = local_track(RtpCodecKind::Video, &format!("video{i}"), &ssrcs);
            peer.pc.add_track(t.clone() as Arc<dyn TrackLocal>).await?;
            let (plis, want) = (plis.clone(), keyframe_wanted.clone());
            let t2 = t.clone();
            tokio::spawn(async move {
                while let Some(TrackLocalEvent::OnRtcpPacket(pkts)) = t2.poll().await {
                    if pkts.iter().any(is_keyframe_request) {
                        plis.fetch_add(1, Ordering::Relaxed);
                        want.store(true, Ordering::Release);
                    }
                }
            });
            video.push((t, ssrc));
        }
        let audio = if audio {
            let ssrc: u32 = rand::random();
            let t = local_track(RtpCodecKind::Audio, "audio", &[ssrc]);
            peer.pc.add_track(t.clone() as Arc<dyn TrackLocal>).await?;
            Some((t, ssrc))
        } else {
            None
        };
        Ok(Self {
            peer,
            video,
            audio,
            plis,
            undeclared_ssrc,
            undeclared_sent: Arc::default(),
            keyframe_wanted,
        })
    }

    /// Sends synthetic media until `until`: `fps` video frames of `frame_packets`
    /// packets of `packet_len` bytes on each video track (a keyframe whenever one was
    /// requested), and a 20 ms audio packet every 20 ms. Returns video packets sent.
    pub async fn run(&self, until: Instant, o: RunOptions) -> u64 {
        let RunOptions {
            fps,
            frame_packets,
            packet_len,
            index_base,
            undeclared,
        } = o;
        let rogue = self.undeclared_ssrc.filter(|_| undeclared);
        let mut rogue_seq = 0u16;
        let mut seq: Vec<u16> = vec![0; self.video.len()];
        let mut aseq = 0u16;
        let mut index = index_base;
        let frame_every = Duration::from_secs(1) / fps.max(1);
        let mut next_frame = Instant::now();
        let mut next_audio = Instant::now();
        let mut frame = 0u32;
        while Instant::now() < until {
            let now = Instant::now();
            if now >= next_frame {
                let key = self.keyframe_wanted.swap(false, Ordering::AcqRel);
                let mut first = true;
                for ((t, ssrc), s) in self.video.iter().zip(seq.iter_mut()) {
                    for i in 0..frame_packets {
                        let payload = synth_payload(index, key && i == 0, i == 0, packet_len);
                        index += 1;
                        let pkt = rtp::Packet {
                            header: rtp::header::Header {
                                version: 2,
                                marker: i + 1 == frame_packets,
                                payload_type: 96,
                                sequence_number: *s,
                                timestamp: frame.wrapping_mul(90_000 / fps.max(1)),
                                ssrc: *ssrc,
                                ..Default::default()
                            },
                            payload: payload.into(),
                        };
                        *s = s.wrapping_add(1);
                        if let (Some(r), true) = (rogue, first) {
                            // The same frame again on the undeclared SSRC, with indexes
                            // of its own so a receiver can tell them apart.
                            let mut bad = pkt.clone();
                            bad.header.ssrc = r;
                            bad.header.sequence_number = rogue_seq;
                            // Every frame a keyframe: the worst case for a viewer waiting for one.
                            bad.payload = synth_payload(
                                index - 1 + UNDECLARED_INDEX,
                                i == 0,
                                i == 0,
                                packet_len,
                            )
                            .into();
                            rogue_seq = rogue_seq.wrapping_add(1);
                            if t.write_rtp(bad).await.is_ok() {
                                self.undeclared_sent.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        let _ = t.write_rtp(pkt).await;
                    }
                    first = false;
                }
                frame += 1;
                next_frame += frame_every;
            }
            if let Some((a, assrc)) = &self.audio {
                if now >= next_audio {
                    let pkt = rtp::Packet {
                        header: rtp::header::Header {
                            version: 2,
                            payload_type: 111,
                            ssrc: *assrc,
                            sequence_number: aseq,
                            timestamp: (aseq as u32).wrapping_mul(960),
                            ..Default::default()
                        },
                        payload: vec![0xfc; 80].into(),
                    };
                    aseq = aseq.wrapping_add(1);
                    let _ = a.write_rtp(pkt).await;
                    next_audio += Duration::from_millis(20);
                }
            }
            let wake = next_frame.min(next_audio);
            tokio::time::sleep_until(wake.max(Instant::now()).into()).await;
        }
        index
    }
}

/// How a [`ClientPublisher`] sends.
#[derive(Clone, Copy, Debug)]
pub struct RunOptions {
    /// Video frames per second.
    pub fps: u32,
    /// RTP packets per video frame.
    pub frame_packets: u32,
    /// Bytes per video packet.
    pub packet_len: usize,
    /// First synthetic packet index (to tell publishers apart).
    pub index_base: u64,
    /// Also send every packet of the first video track on its undeclared SSRC (only for
    /// a publisher made by [`ClientPublisher::with_undeclared_ssrc`]), with payload indexes
    /// offset by [`UNDECLARED_INDEX`].
    pub undeclared: bool,
}

/// Offset of the payload indexes sent on an undeclared SSRC.
pub const UNDECLARED_INDEX: u64 = 1 << 50;

impl Default for RunOptions {
    /// ≈1.2 Mbps: 30 fps × 4 packets × 1200 bytes (plus 50 audio packets/s).
    fn default() -> Self {
        Self {
            fps: 30,
            frame_packets: 4,
            packet_len: 1200,
            index_base: 0,
            undeclared: false,
        }
    }
}

/// What a subscribing client received on one track.
#[derive(Clone, Debug, Default)]
pub struct Received {
    /// Track kind.
    pub video: bool,
    /// SSRCs seen.
    pub ssrcs: Vec<u32>,
    /// Packets received.
    pub packets: u64,
    /// Payloads that failed [`check_payload`] (video only).
    pub corrupt: u64,
    /// Packets whose sequence number was not the previous + 1.
    pub out_of_order: u64,
    /// Sequence-number gaps (lost packets).
    pub lost: u64,
    /// Synthetic packet indexes seen (video only), in arrival order.
    pub indexes: Vec<u64>,
    /// When the first packet arrived.
    pub first_at: Option<Instant>,
}

/// A subscribing client.
pub struct ClientSubscriber {
    /// The connection.
    pub peer: ClientPeer,
    /// Per remote track.
    pub received: Arc<Mutex<Vec<Received>>>,
}

impl ClientSubscriber {
    /// Offers to receive `videos` video and (if `audio`) one audio track.
    /// `keep_indexes` records every video packet index (tests; the load tool does not).
    pub async fn new(
        cfg: &MediaConfig,
        videos: usize,
        audio: bool,
        keep_indexes: bool,
    ) -> Result<Self, MediaError> {
        // Receiver reports only: the client counts losses itself, and a lean chain lets
        // one load-tool core carry hundreds of viewers.
        let peer = ClientPeer::new(cfg, PeerRole::ClientReceiver).await?;
        peer.watch_state();
        let recv = || {
            Some(RTCRtpTransceiverInit {
                direction: RTCRtpTransceiverDirection::Recvonly,
                ..Default::default()
            })
        };
        if audio {
            peer.pc
                .add_transceiver_from_kind(RtpCodecKind::Audio, recv())
                .await?;
        }
        for _ in 0..videos {
            peer.pc
                .add_transceiver_from_kind(RtpCodecKind::Video, recv())
                .await?;
        }
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        let r = received.clone();
        peer.events.set_on_track(move |track| {
            let r = r.clone();
            tokio::spawn(async move {
                let video = track.kind().await == RtpCodecKind::Video;
                let i = {
                    let mut g = r.lock().unwrap_or_else(|e| e.into_inner());
                    g.push(Received {
                        video,
                        ..Default::default()
                    });
                    g.len() - 1
                };
                let mut last: Option<u16> = None;
                while let Some(evt) = track.poll().await {
                    let TrackRemoteEvent::OnRtpPacket(p) = evt else {
                        continue;
                    };
                    let mut g = r.lock().unwrap_or_else(|e| e.into_inner());
                    let rec = &mut g[i];
                    rec.packets += 1;
                    rec.first_at.get_or_insert_with(Instant::now);
                    if !rec.ssrcs.contains(&p.header.ssrc) {
                        rec.ssrcs.push(p.header.ssrc);
                    }
                    let seq = p.header.sequence_number;
                    if let Some(l) = last {
                        let d = seq.wrapping_sub(l);
                        if d == 0 || d >= 0x8000 {
                            rec.out_of_order += 1;
                        } else if d > 1 {
                            rec.lost += u64::from(d - 1);
                        }
                    }
                    if last.is_none_or(|l| seq.wrapping_sub(l) < 0x8000) {
                        last = Some(seq);
                    }
                    if video {
                        match check_payload(&p.payload) {
                            Some(ix) if keep_indexes => rec.indexes.push(ix),
                            Some(_) => {}
                            None => rec.corrupt += 1,
                        }
                    }
                }
            });
        });
        Ok(Self { peer, received })
    }

    /// A snapshot of what arrived.
    pub fn snapshot(&self) -> Vec<Received> {
        self.received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}
