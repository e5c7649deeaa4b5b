//! Shared test harness: an in-process Ketang server on 127.0.0.1 against a fresh SQLite
//! file or a fresh database in a throw-away PostgreSQL cluster (one cluster per test
//! binary, started with `initdb` into a temp dir and stopped when the binary exits).

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};

use ketang::config::Config;
use ketang::crypto::Keyring;
use ketang::http::AppState;
use ketang::metrics::Metrics;
use ketang::store::Store;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// Which engine a test runs against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

struct PgCluster {
    dir: PathBuf,
    socket_dir: PathBuf,
    port: u16,
}

static PG: OnceLock<PgCluster> = OnceLock::new();
static PG_DIR_FOR_EXIT: Mutex<Option<PathBuf>> = Mutex::new(None);
static DB_COUNTER: AtomicU32 = AtomicU32::new(0);

fn pg_bin(name: &str) -> PathBuf {
    for dir in ["/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin"] {
        let p = Path::new(dir).join(name);
        if p.exists() {
            return p;
        }
    }
    PathBuf::from(name)
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Runs a PostgreSQL tool, as the `postgres` user when we are root (initdb refuses root).
fn pg_command(tool: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(pg_bin(tool));
        c
    } else {
        Command::new(pg_bin(tool))
    }
}

extern "C" fn stop_cluster() {
    if let Some(dir) = PG_DIR_FOR_EXIT.lock().ok().and_then(|g| g.clone()) {
        let _ = pg_command("pg_ctl")
            .args(["stop", "-m", "immediate", "-D"])
            .arg(dir.join("data"))
            .output();
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn cluster() -> &'static PgCluster {
    PG.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("ketang-pg-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&dir).unwrap();
        let socket_dir = dir.join("sock");
        std::fs::create_dir_all(&socket_dir).unwrap();
        if is_root() {
            let st = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir).status().unwrap();
            assert!(st.success(), "chown temp dir to postgres");
        }
        let out = pg_command("initdb")
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync", "-D"])
            .arg(dir.join("data"))
            .output()
            .expect("run initdb (PostgreSQL 15 binaries are needed)");
        assert!(out.status.success(), "initdb failed: {}", String::from_utf8_lossy(&out.stderr));
        let port = free_port();
        let opts = format!(
            "-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
            socket_dir.display()
        );
        let out = pg_command("pg_ctl")
            .args(["start", "-w", "-t", "60", "-l"])
            .arg(dir.join("log"))
            .args(["-D"])
            .arg(dir.join("data"))
            .args(["-o", &opts])
            .output()
            .expect("run pg_ctl");
        assert!(
            out.status.success(),
            "pg_ctl start failed: {} {}",
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(dir.join("log")).unwrap_or_default()
        );
        *PG_DIR_FOR_EXIT.lock().unwrap() = Some(dir.clone());
        // SAFETY: registering a plain extern "C" fn; it runs when the test binary exits.
        unsafe { libc::atexit(stop_cluster) };
        PgCluster { dir, socket_dir, port }
    })
}

/// A fresh, empty database URL for `engine`; the folder holds SQLite files and keys.
pub async fn fresh_database(engine: Engine, dir: &Path) -> String {
    match engine {
        Engine::Sqlite => format!("sqlite://{}/ketang.db", dir.display()),
        Engine::Postgres => {
            let c = cluster();
            let name = format!(
                "t{}_{}",
                std::process::id(),
                DB_COUNTER.fetch_add(1, Ordering::SeqCst)
            );
            let admin = format!("postgres://postgres@127.0.0.1:{}/postgres", c.port);
            let store = Store::connect(&admin)
                .await
                .expect("connect to test cluster");
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(store.pool())
                .await
                .unwrap();
            store.pool().close().await;
            format!("postgres://postgres@127.0.0.1:{}/{name}", c.port)
        }
    }
}

/// A running in-process server and a temp folder it owns.
pub struct TestServer {
    pub base: String,
    pub state: AppState,
    pub dir: tempfile::TempDir,
    pub engine: Engine,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<()>>,
}

impl TestServer {
    pub async fn start(engine: Engine) -> Self {
        Self::start_with(engine, |_| {}).await
    }

    pub async fn start_with(engine: Engine, tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config {
            data_dir: dir.path().to_path_buf(),
            listen: "127.0.0.1:0".parse().unwrap(),
            ..Config::default()
        };
        config.database_url = Some(fresh_database(engine, dir.path()).await);
        tweak(&mut config);
        let store = Store::connect(&config.database_url()).await.unwrap();
        store.migrate().await.unwrap();
        let keys = Keyring::load_or_create(&config.key_dir()).unwrap();
        let state = AppState::new(store, keys, config, Metrics::new());
        let bound = ketang::server::Bound::bind(state.clone()).await.unwrap();
        let base = format!("http://{}", bound.local_addr());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let handle = tokio::spawn(async move {
            bound
                .serve(async {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Self {
            base,
            state,
            dir,
            engine,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    pub fn store(&self) -> &Store {
        &self.state.store
    }

    pub fn client(&self) -> Client {
        Client {
            base: self.base.clone(),
            http: reqwest::Client::new(),
            token: None,
        }
    }

    /// Logs in and returns a client carrying the bearer token.
    pub async fn login(&self, username: &str, password: &str) -> Client {
        let mut c = self.client();
        let (status, body) = c
            .post(
                "/api/auth/login",
                json!({"username": username, "password": password}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "login {username}: {body}");
        c.token = Some(body["token"].as_str().unwrap().to_string());
        c
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(h) = self.handle.take() {
            let _ = h.await;
        }
        self.state.store.pool().close().await;
    }

    /// Row count of a table.
    pub async fn count(&self, table: &str) -> i64 {
        sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(self.store().pool())
            .await
            .unwrap()
    }
}

/// A small HTTP client bound to a server, optionally authenticated.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub http: reqwest::Client,
    pub token: Option<String>,
}

impl Client {
    fn req(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        let r = self.http.request(method, format!("{}{}", self.base, path));
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    pub async fn send(&self, r: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let res = r.send().await.unwrap();
        let status = res.status();
        let ct = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        // API errors are problem+json; human pages (e.g. /verify/{number}) answer in HTML.
        let api = res.url().path().starts_with("/api/");
        let text = res.text().await.unwrap();
        if api && (status.is_client_error() || status.is_server_error()) {
            assert_eq!(
                ct, "application/problem+json",
                "{status} without problem+json: {text}"
            );
        }
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(self.req(Method::GET, path)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.req(Method::POST, path).json(&body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(self.req(Method::PUT, path).json(&body)).await
    }

    pub async fn raw(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> (StatusCode, Value) {
        self.send(
            self.req(method, path)
                .header("content-type", content_type)
                .body(body),
        )
        .await
    }
}

/// A valid resident ID number for tests.
pub fn id_number(seq: u16) -> String {
    let birth = chrono::NaiveDate::from_ymd_opt(1990, 3, 7).unwrap()
        + chrono::Duration::days(i64::from(seq));
    ketang::registration::id_number::make("410204", birth, seq % 1000)
        .as_str()
        .to_string()
}

/// A JPEG of the given size, base64-encoded.
pub fn jpeg_b64(w: u32, h: u32) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(face::image::synthetic(
        w,
        h,
        face::image::ImageFormat::Jpeg,
    ))
}

/// A complete, valid registration body.
pub fn registration(institution_id: i64, seq: u16) -> Value {
    json!({
        "institution_id": institution_id,
        "password": "student-pass-1",
        "name": "张小明",
        "id_number": id_number(seq),
        "mobile": format!("138{:08}", seq),
        "household_place": "河南省开封市鼓楼区",
        "id_front": jpeg_b64(640, 400),
        "id_back": jpeg_b64(640, 400),
        "photo": jpeg_b64(300, 400),
    })
}

/// Seeds an institution with an admin, a lecturer (with SYB certificate), `assistants`
/// assistants and a regulator through the CLI-level store functions. Returns ids.
pub struct World {
    pub institution_id: i64,
    pub admin: Client,
    pub regulator: Client,
    pub lecturer_id: i64,
    pub lecturer: Client,
    pub assistant_ids: Vec<i64>,
}

pub async fn world(server: &TestServer, assistants: usize) -> World {
    use ketang::store::{institutions, lecturers, users};
    use signaling::Role;
    let hash = ketang::auth::password::hash("password-123");
    let mut tx = server.store().begin().await.unwrap();
    let inst = institutions::insert(&mut tx, "测试培训学校", "410204")
        .await
        .unwrap();
    let other = institutions::insert(&mut tx, "郑州别的学校", "410100")
        .await
        .unwrap();
    let mk = |username: &'static str, role: Role, inst: Option<i64>, j: Option<&'static str>| {
        let hash = hash.clone();
        (username, role, inst, j, hash)
    };
    let mut ids = std::collections::HashMap::new();
    let mut specs = vec![
        mk("admin", Role::Admin, Some(inst), None),
        mk("regulator", Role::Regulator, None, Some("4102")),
        mk("lecturer", Role::Lecturer, Some(inst), None),
        mk("other-admin", Role::Admin, Some(other), None),
        mk("far-regulator", Role::Regulator, None, Some("4101")),
    ];
    let names: Vec<&'static str> = [
        "assistant-1",
        "assistant-2",
        "assistant-3",
        "assistant-4",
        "assistant-5",
        "assistant-6",
        "assistant-7",
        "assistant-8",
    ][..assistants]
        .to_vec();
    for n in &names {
        specs.push(mk(n, Role::Assistant, Some(inst), None));
    }
    for (username, role, inst, j, hash) in specs {
        let id = users::insert(
            &mut tx,
            &users::NewUser {
                username,
                password_hash: &hash,
                role,
                display_name: username,
                institution_id: inst,
                jurisdiction: j,
                must_change_password: false,
            },
        )
        .await
        .unwrap();
        ids.insert(username, id);
    }
    lecturers::insert(
        &mut tx,
        ids["lecturer"],
        "SYB-TEST-0001",
        "河南省人力资源和社会保障厅",
        chrono::NaiveDate::from_ymd_opt(2020, 1, 1).unwrap(),
        None,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    World {
        institution_id: inst,
        admin: server.login("admin", "password-123").await,
        regulator: server.login("regulator", "password-123").await,
        lecturer_id: ids["lecturer"],
        lecturer: server.login("lecturer", "password-123").await,
        assistant_ids: names.iter().map(|n| ids[n]).collect(),
    }
}

/// RFC 3339 time `days` from now at 09:00 China time, plus `hours`.
pub fn at(days: i64, hours: i64) -> String {
    let tz = chrono::FixedOffset::east_opt(8 * 3600).unwrap();
    let d = chrono::Utc::now().with_timezone(&tz).date_naive() + chrono::Duration::days(days);
    let t = d.and_hms_opt(9, 0, 0).unwrap() + chrono::Duration::hours(hours);
    format!("{}+08:00", t.format("%Y-%m-%dT%H:%M:%S"))
}

/// A CSV roster of `n` valid students starting at `seq`.
pub fn roster_csv(n: u16, seq: u16) -> String {
    let mut s = String::from("姓名,身份证号,手机号,户籍所在地\n");
    for i in seq..seq + n {
        s.push_str(&format!(
            "学员{},{},139{:08},河南省开封市\n",
            to_chinese(i),
            id_number(i),
            i
        ));
    }
    s
}

fn to_chinese(i: u16) -> String {
    const D: [&str; 10] = ["零", "一", "二", "三", "四", "五", "六", "七", "八", "九"];
    i.to_string()
        .chars()
        .map(|c| D[c.to_digit(10).unwrap() as usize])
        .collect()
}

/// A class seeded straight into the store: its id, session ids and enrolled students.
pub struct SeededClass {
    pub class_id: i64,
    pub sessions: Vec<i64>,
    pub students: Vec<i64>,
}

/// One institution and lecturer, a class with `sessions` daily sessions of `hours` each
/// (the first starting now) and `students` enrolled student accounts, in one transaction.
pub async fn seed_class(
    store: &Store,
    sessions: usize,
    hours: i64,
    students: usize,
) -> SeededClass {
    use ketang::store::classes::{self, CourseType, NewClass};
    use ketang::store::institutions;
    use ketang::store::users::{self, NewUser};
    use signaling::Role;
    let mut tx = store.begin().await.unwrap();
    let inst = institutions::insert(&mut tx, "种子学校", "410204")
        .await
        .unwrap();
    let lecturer = users::insert(
        &mut tx,
        &NewUser {
            username: "seed-lecturer",
            password_hash: "x",
            role: Role::Lecturer,
            display_name: "讲师",
            institution_id: Some(inst),
            jurisdiction: None,
            must_change_password: false,
        },
    )
    .await
    .unwrap();
    let class_id = classes::insert(
        &mut tx,
        &NewClass {
            institution_id: inst,
            name: "班级",
            course_type: CourseType::Syb,
            lecturer_id: lecturer,
        },
    )
    .await
    .unwrap();
    let base = chrono::Utc::now();
    let mut sess = Vec::new();
    for i in 0..sessions {
        let s = base + chrono::Duration::days(i as i64);
        sess.push(
            classes::add_session(&mut tx, class_id, s, s + chrono::Duration::hours(hours))
                .await
                .unwrap(),
        );
    }
    let mut ids = Vec::new();
    for i in 0..students {
        let name = format!("seed-student-{i}");
        let id = users::insert(
            &mut tx,
            &NewUser {
                username: &name,
                password_hash: "x",
                role: Role::Student,
                display_name: &name,
                institution_id: None,
                jurisdiction: None,
                must_change_password: false,
            },
        )
        .await
        .unwrap();
        classes::enroll(&mut tx, class_id, id).await.unwrap();
        ids.push(id);
    }
    tx.commit().await.unwrap();
    SeededClass {
        class_id,
        sessions: sess,
        students: ids,
    }
}
