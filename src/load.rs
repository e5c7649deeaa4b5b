//! `ketang load`: real WebRTC peers over loopback against a running server. In each room
//! one lecturer publisher sends ≈1.2 Mbps of VP8-framed packets plus Opus-sized audio;
//! N enrolled students subscribe (spread over the rooms) and check what they receive.
//! Credentials: sessions are created directly in the server's store (same data directory
//! and configuration), so no password is needed. Server CPU and forwarded packets come
//! from the server's `/metrics`, so the load tool's own cost does not count.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use media::client::{ClientPublisher, ClientSubscriber, RunOptions};
use media::MediaConfig;
use serde_json::json;

use crate::config::Config;
use crate::server;
use crate::store::sessions;

/// Options of `ketang load`.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Server base URL.
    pub url: String,
    /// Subscribers in total.
    pub subscribers: usize,
    /// Measured seconds after everyone joined.
    pub seconds: u64,
    /// Rooms (class ids); empty = every live class.
    pub rooms: Vec<i64>,
}

struct RoomPlan {
    id: i64,
    lecturer: String,
    students: Vec<String>,
}

async fn plan(config: &Config, opts: &LoadOptions) -> anyhow::Result<Vec<RoomPlan>> {
    let store = server::open_store(config).await?;
    let mut conn = store.conn().await?;
    let classes: Vec<(i64, i64)> =
        sqlx::query_as("SELECT id, lecturer_id FROM classes WHERE status = 'live' ORDER BY id")
            .fetch_all(&mut *conn)
            .await?;
    let mut rooms = Vec::new();
    for (id, lecturer_id) in classes {
        if !opts.rooms.is_empty() && !opts.rooms.contains(&id) {
            continue;
        }
        let students: Vec<i64> = sqlx::query_scalar(
            "SELECT student_id FROM enrollments WHERE class_id = $1 ORDER BY student_id",
        )
        .bind(id)
        .fetch_all(&mut *conn)
        .await?;
        let token = |user: i64| {
            let t = format!("load-{}-{user}", rand::random::<u64>());
            (user, t)
        };
        let (lid, lt) = token(lecturer_id);
        sessions::insert(&mut conn, &lt, lid, 3_600_000).await?;
        let mut tokens = Vec::new();
        for s in students {
            let (sid, st) = token(s);
            sessions::insert(&mut conn, &st, sid, 3_600_000).await?;
            tokens.push(st);
        }
        rooms.push(RoomPlan {
            id,
            lecturer: lt,
            students: tokens,
        });
    }
    if rooms.is_empty() {
        bail!("no live class to load (run `ketang demo` first, or check --room)");
    }
    Ok(rooms)
}

/// An admitted subscriber and when it asked and got its answer.
struct Joined {
    s: ClientSubscriber,
    asked: Instant,
    answered: Instant,
}

struct Scrape {
    /// Packets dropped for a full queue or a refusing transport.
    drops: f64,
    cpu_s: f64,
    forwarded: f64,
    rss_bytes: f64,
}

async fn scrape(http: &reqwest::Client, url: &str) -> anyhow::Result<Scrape> {
    let text = http
        .get(format!("{url}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let sum = |name: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    let drops = text
        .lines()
        .filter(|l| {
            l.starts_with("media_drops_total{")
                && (l.contains("reason=\"queue_full\"") || l.contains("reason=\"transport\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    Ok(Scrape {
        drops,
        cpu_s: sum("ketang_process_cpu_seconds"),
        forwarded: sum("media_forwarded_packets_total"),
        rss_bytes: sum("process_resident_memory_bytes"),
    })
}

async fn post(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    body: serde_json::Value,
) -> anyhow::Result<Result<String, String>> {
    let res = http.post(url).bearer_auth(token).json(&body).send().await?;
    let ok = res.status().is_success();
    let v: serde_json::Value = res.json().await?;
    Ok(if ok {
        Ok(v["sdp"].as_str().unwrap_or_default().to_string())
    } else {
        Err(format!("{}: {}", v["code"], v["detail"]))
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs the load and returns the JSON summary line.
pub async fn run(config: Config, opts: LoadOptions) -> anyhow::Result<serde_json::Value> {
    let url = opts.url.trim_end_matches('/').to_string();
    let rooms = plan(&config, &opts).await?;
    let http = reqwest::Client::new();
    let cfg = MediaConfig::default();
    let end = Instant::now() + Duration::from_secs(opts.seconds + 120);
    let mut publishers = Vec::new();
    for r in &rooms {
        let p = ClientPublisher::new(&cfg, 1, true).await?;
        let offer = p.peer.offer().await?;
        let answer = post(
            &http,
            &format!("{url}/api/rooms/{}/publish", r.id),
            &r.lecturer,
            json!({"sdp": offer, "what": "lecture"}),
        )
        .await?
        .map_err(anyhow::Error::msg)
        .with_context(|| format!("publishing room {}", r.id))?;
        p.peer.accept(&answer).await?;
        let p = std::sync::Arc::new(p);
        let runner = p.clone();
        publishers.push(tokio::spawn(async move {
            runner.run(end, RunOptions::default()).await
        }));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Join: subscribers spread round-robin over the rooms, at most 200 per room.
    let join_start = Instant::now();
    let mut joins = Vec::new();
    let mut per_room = vec![0usize; rooms.len()];
    for i in 0..opts.subscribers {
        let k = i % rooms.len();
        let Some(token) = rooms[k].students.get(per_room[k]).cloned() else {
            continue;
        };
        per_room[k] += 1;
        let (http, url, room) = (http.clone(), url.clone(), rooms[k].id);
        let cfg = cfg.clone();
        joins.push(tokio::spawn(async move {
            let s = ClientSubscriber::new(&cfg, 1, true, false).await?;
            let offer = s.peer.offer().await?;
            let asked = Instant::now();
            let r = post(
                &http,
                &format!("{url}/api/rooms/{room}/subscribe"),
                &token,
                json!({"sdp": offer}),
            )
            .await?;
            match r {
                Ok(answer) => {
                    let answered = Instant::now();
                    s.peer.accept(&answer).await?;
                    anyhow::Ok(Ok(Joined { s, asked, answered }))
                }
                Err(e) => anyhow::Ok(Err(e)),
            }
        }));
        // Pace joins a little so 2 cores are not swamped by DTLS handshakes at once.
        if i % 20 == 19 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let mut subs = Vec::new();
    let mut refused: Vec<String> = Vec::new();
    for j in joins {
        match j.await? {
            Ok(Ok(s)) => subs.push(s),
            Ok(Err(e)) => refused.push(e),
            Err(e) => refused.push(e.to_string()),
        }
    }
    // Joined = connected and first video packet received.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let done = subs
            .iter()
            .filter(|j| {
                j.s.snapshot()
                    .iter()
                    .any(|r| r.video && r.first_at.is_some())
            })
            .count();
        if done == subs.len() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let join_s = join_start.elapsed().as_secs_f64();
    // Where the time to first frame goes: answer (HTTP + server set-up), transport
    // (ICE + DTLS, until the client sees `connected`), then the first video packet.
    let ms = |a: Instant, b: Instant| b.saturating_duration_since(a).as_secs_f64() * 1000.0;
    let sorted = |mut v: Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v
    };
    let firsts: Vec<(&Joined, Instant)> = subs
        .iter()
        .filter_map(|j| {
            let snap = j.s.snapshot();
            let first = snap.iter().filter(|r| r.video).find_map(|r| r.first_at)?;
            Some((j, first))
        })
        .collect();
    let ttff = sorted(firsts.iter().map(|(j, f)| ms(j.asked, *f)).collect());
    let answer_ms = sorted(
        firsts
            .iter()
            .map(|(j, _)| ms(j.asked, j.answered))
            .collect(),
    );
    let up_at = |j: &Joined| {
        *j.s.peer
            .connected_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    };
    let connect_ms = sorted(
        firsts
            .iter()
            .filter_map(|(j, _)| Some(ms(j.asked, up_at(j)?)))
            .collect(),
    );
    let ice_ms = sorted(
        firsts
            .iter()
            .filter_map(|(j, _)| Some(ms(j.asked, j.s.peer.events.ice_connected_at()?)))
            .collect(),
    );
    let after_connect_ms = sorted(
        firsts
            .iter()
            .filter_map(|(j, f)| Some(ms(up_at(j)?, *f)))
            .collect(),
    );
    let connected = ttff.len();

    // Measure.
    let count = |subs: &[Joined]| -> (u64, u64) {
        subs.iter()
            .flat_map(|j| j.s.snapshot())
            .fold((0, 0), |(p, l), r| (p + r.packets, l + r.lost))
    };
    let before = scrape(&http, &url).await?;
    let (p0, l0) = count(&subs);
    let t0 = Instant::now();
    tokio::time::sleep(Duration::from_secs(opts.seconds)).await;
    let after = scrape(&http, &url).await?;
    let (p1, l1) = count(&subs);
    let secs = t0.elapsed().as_secs_f64();
    let forwarded = after.forwarded - before.forwarded;
    let cpu_us = (after.cpu_s - before.cpu_s) * 1e6;
    let (got, lost) = ((p1 - p0) as f64, (l1 - l0) as f64);
    for j in &subs {
        let _ = j.s.peer.pc.close().await;
    }
    for p in publishers {
        p.abort();
    }
    if let Some(first) = refused.first() {
        eprintln!("{} joins refused, e.g. {first}", refused.len());
    }
    Ok(json!({
        "subscribers_requested": opts.subscribers,
        "subscribers_connected": connected,
        "refused": refused.len(),
        "rooms": rooms.len(),
        "join_s": (join_s * 100.0).round() / 100.0,
        "ttff_p50_ms": percentile(&ttff, 0.5).round(),
        "ttff_p95_ms": percentile(&ttff, 0.95).round(),
        "loss_pct": if got + lost > 0.0 { (lost / (got + lost) * 10000.0).round() / 100.0 } else { 0.0 },
        "forwarded_pps": (forwarded / secs).round(),
        "server_cpu_us_per_pkt": if forwarded > 0.0 { (cpu_us / forwarded * 100.0).round() / 100.0 } else { 0.0 },
        "server_rss_mb": (after.rss_bytes / 1e6).round(),
        "server_drops": after.drops - before.drops,
        "answer_p50_ms": percentile(&answer_ms, 0.5).round(),
        "answer_p95_ms": percentile(&answer_ms, 0.95).round(),
        "ice_p50_ms": percentile(&ice_ms, 0.5).round(),
        "ice_p95_ms": percentile(&ice_ms, 0.95).round(),
        "connect_p50_ms": percentile(&connect_ms, 0.5).round(),
        "connect_p95_ms": percentile(&connect_ms, 0.95).round(),
        "after_connect_p50_ms": percentile(&after_connect_ms, 0.5).round(),
        "after_connect_p95_ms": percentile(&after_connect_ms, 0.95).round(),
    }))
}
