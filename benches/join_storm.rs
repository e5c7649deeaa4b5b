//! Join storm: N students join one class room at once over real WebSockets against a
//! `ketang serve` child process. For N = 50, 100, 200 it reports: the time until every
//! client holds the full participant list, server messages per join, and server CPU per
//! join (summed over the server's threads from /proc/PID/task/*/schedstat), with presence
//! batching on (50 ms) and off (one presence message per change).
//!
//! Run: `cargo bench -p ketang --bench join_storm` (release build).

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use ketang::store::{classes, institutions, lecturers, sessions, users, Store};
use serde_json::{json, Value};
use signaling::Role;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

const SIZES: [usize; 3] = [50, 100, 200];

struct ClassSeed {
    id: i64,
    staff: Vec<String>,
    students: Vec<String>,
}

async fn seed(url: &str) -> Vec<ClassSeed> {
    let store = Store::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    let mut tx = store.begin().await.unwrap();
    let inst = institutions::insert(&mut tx, "压测学校", "410204")
        .await
        .unwrap();
    let mut seq = 0;
    let mut user = |tx_role: Role| {
        seq += 1;
        (format!("u{seq}"), tx_role)
    };
    let mut out = Vec::new();
    for (k, n) in SIZES.iter().enumerate() {
        let mk = async |tx: &mut sqlx::Transaction<'static, sqlx::Any>,
                        (name, role): (String, Role)| {
            let id = users::insert(
                &mut *tx,
                &users::NewUser {
                    username: &name,
                    password_hash: "unused",
                    role,
                    display_name: &format!("学员{name}"),
                    institution_id: Some(inst),
                    jurisdiction: None,
                    must_change_password: false,
                },
            )
            .await
            .unwrap();
            let token = format!("token-{name}");
            sessions::insert(&mut *tx, &token, id, 86_400_000)
                .await
                .unwrap();
            (id, token)
        };
        let (lecturer, lt) = mk(&mut tx, user(Role::Lecturer)).await;
        lecturers::insert(
            &mut tx,
            lecturer,
            &format!("SYB-BENCH-{k}"),
            "test",
            chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap(),
            None,
        )
        .await
        .unwrap();
        let class = classes::insert(
            &mut tx,
            &classes::NewClass {
                institution_id: inst,
                name: &format!("压测班{n}"),
                course_type: classes::CourseType::Syb,
                lecturer_id: lecturer,
            },
        )
        .await
        .unwrap();
        let now = chrono::Utc::now();
        classes::add_session(
            &mut tx,
            class,
            now - chrono::Duration::minutes(5),
            now + chrono::Duration::hours(3),
        )
        .await
        .unwrap();
        let mut staff = vec![lt];
        let mut assistant_ids = Vec::new();
        for _ in 0..n.div_ceil(25) {
            let (a, t) = mk(&mut tx, user(Role::Assistant)).await;
            assistant_ids.push(a);
            staff.push(t);
        }
        classes::set_assistants(&mut tx, class, &assistant_ids)
            .await
            .unwrap();
        let mut students = Vec::new();
        for _ in 0..*n {
            let (s, t) = mk(&mut tx, user(Role::Student)).await;
            classes::enroll(&mut tx, class, s).await.unwrap();
            students.push(t);
        }
        for status in ["submitted", "filed", "live"] {
            classes::set_status(&mut tx, class, status.parse().unwrap(), None)
                .await
                .unwrap();
        }
        out.push(ClassSeed {
            id: class,
            staff,
            students,
        });
    }
    tx.commit().await.unwrap();
    store.pool().close().await;
    out
}

fn cpu_ns(pid: u32) -> u64 {
    let mut total = 0;
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for t in tasks.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("schedstat")) {
                total += s
                    .split_whitespace()
                    .next()
                    .and_then(|x| x.parse::<u64>().ok())
                    .unwrap_or(0);
            }
        }
    }
    total
}

fn start_server(dir: &Path, port: u16, batch_ms: u64) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ketang"))
        .arg("serve")
        .env("KETANG_DATA_DIR", dir)
        .env("KETANG_LISTEN", format!("127.0.0.1:{port}"))
        .env("KETANG_ROOMS__PRESENCE_BATCH_MS", batch_ms.to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ketang serve")
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(port: u16, token: &str) -> Ws {
    let mut req = format!("ws://127.0.0.1:{port}/ws")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    tokio_tungstenite::connect_async(req).await.unwrap().0
}

/// Joins and reads until the participant list holds `want` people. Returns (time to the
/// full list, messages read by then, the socket to keep it open).
async fn join_until_full(
    port: u16,
    token: String,
    class: i64,
    want: usize,
    t0: Instant,
) -> (Duration, usize, Ws) {
    let mut ws = connect(port, &token).await;
    ws.send(Message::Text(
        json!({"type":"join","class_id":class}).to_string().into(),
    ))
    .await
    .unwrap();
    let mut listed: HashSet<i64> = HashSet::new();
    let mut msgs = 0;
    loop {
        let Some(Ok(Message::Text(t))) = ws.next().await else {
            panic!("connection ended before the list was full");
        };
        msgs += 1;
        let v: Value = serde_json::from_str(&t).unwrap();
        match v["type"].as_str() {
            Some("participants") => {
                listed = v["participants"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["user_id"].as_i64().unwrap())
                    .collect()
            }
            Some("presence") => {
                for p in v["joined"].as_array().unwrap() {
                    listed.insert(p["user_id"].as_i64().unwrap());
                }
                for p in v["left"].as_array().unwrap() {
                    listed.remove(&p.as_i64().unwrap());
                }
            }
            Some("error") => panic!("{v}"),
            _ => {}
        }
        if listed.len() == want {
            return (t0.elapsed(), msgs, ws);
        }
    }
}

/// Counts what arrives on `ws` for `dur`.
async fn count_for(ws: &mut Ws, dur: Duration) -> usize {
    let mut n = 0;
    let deadline = tokio::time::Instant::now() + dur;
    while let Ok(Some(Ok(_))) = tokio::time::timeout_at(deadline, ws.next()).await {
        n += 1;
    }
    n
}

struct Row {
    batch_ms: u64,
    n: usize,
    full_max: Duration,
    full_p50: Duration,
    msgs_per_join: f64,
    cpu_per_join_us: f64,
}

async fn storm(port: u16, pid: u32, c: &ClassSeed, batch_ms: u64) -> Row {
    // Staff in first, as at a real class start.
    let mut staff = Vec::new();
    for t in &c.staff {
        let mut ws = connect(port, t).await;
        ws.send(Message::Text(
            json!({"type":"join","class_id":c.id}).to_string().into(),
        ))
        .await
        .unwrap();
        staff.push(ws);
    }
    for ws in &mut staff {
        count_for(ws, Duration::from_millis(200)).await;
    }
    let n = c.students.len();
    let want = n + c.staff.len();
    let cpu0 = cpu_ns(pid);
    let t0 = Instant::now();
    let tasks: Vec<_> = c
        .students
        .iter()
        .cloned()
        .map(|t| tokio::spawn(join_until_full(port, t, c.id, want, t0)))
        .collect();
    let mut times = Vec::new();
    let mut msgs = 0;
    let mut sockets = Vec::new();
    for t in tasks {
        let (d, m, ws) = t.await.unwrap();
        times.push(d);
        msgs += m;
        sockets.push(ws);
    }
    // Whatever else the storm caused (late batches, staff updates).
    let mut extra = 0;
    for ws in staff.iter_mut().chain(sockets.iter_mut()) {
        extra += count_for(ws, Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    for ws in staff.iter_mut().chain(sockets.iter_mut()) {
        extra += count_for(ws, Duration::from_millis(1)).await;
    }
    let cpu = cpu_ns(pid) - cpu0;
    times.sort();
    for mut ws in staff.into_iter().chain(sockets) {
        let _ = ws.close(None).await;
    }
    Row {
        batch_ms,
        n,
        full_max: *times.last().unwrap(),
        full_p50: times[times.len() / 2],
        msgs_per_join: (msgs + extra) as f64 / n as f64,
        cpu_per_join_us: cpu as f64 / 1000.0 / n as f64,
    }
}

async fn wait_healthy(port: u16) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("server did not start");
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut rows = Vec::new();
        for batch_ms in [50, 0] {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}/ketang.db", dir.path().display());
            let seeds = seed(&url).await;
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let mut child = start_server(dir.path(), port, batch_ms);
            wait_healthy(port).await;
            for c in &seeds {
                let row = storm(port, child.id(), c, batch_ms).await;
                println!(
                    "batch {:>2} ms  n={:>3}  full list: p50 {:>5} ms, max {:>5} ms  messages/join {:>6.1}  server CPU/join {:>7.0} µs",
                    row.batch_ms,
                    row.n,
                    row.full_p50.as_millis(),
                    row.full_max.as_millis(),
                    row.msgs_per_join,
                    row.cpu_per_join_us
                );
                rows.push(row);
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        let all_within_2s = rows
            .iter()
            .filter(|r| r.batch_ms > 0)
            .all(|r| r.full_max <= Duration::from_secs(2));
        println!("all clients held the full list within 2 s (batched): {all_within_2s}");
    });
}
