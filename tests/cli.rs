//! The `ketang` binary as an operator uses it: demo, serve, migrate, user create, config.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn ketang(dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ketang"));
    c.current_dir(dir)
        .env_remove("KETANG_DATABASE_URL")
        .env_remove("KETANG_CONFIG")
        .env("KETANG_DATA_DIR", dir.join("data"))
        .env("RUST_LOG", "warn");
    c
}

fn run(c: &mut Command) -> (i32, String, String) {
    let out = c.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Starts `ketang serve` on an ephemeral port; returns the child and the URL it printed.
#[allow(clippy::zombie_processes)] // the caller reaps it in `stop`
fn serve(dir: &std::path::Path) -> (std::process::Child, String) {
    let mut child = ketang(dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        assert!(Instant::now() < deadline, "serve printed no URL");
        let line = lines.next().expect("serve exited").unwrap();
        if let Some(i) = line.find("http://") {
            return (child, line[i..].trim().to_string());
        }
    }
}

fn stop(mut child: std::process::Child) {
    // SAFETY: sending SIGTERM to our own child.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "serve exited with {status}");
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    panic!("serve did not stop on SIGTERM");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_then_serve_prints_a_url_and_answers() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (code, out, err) = run(ketang(dir).args(["demo", "--classes", "2", "--students", "45"]));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("http://127.0.0.1:8080/"), "{out}");
    for account in [
        "demo-admin",
        "demo-regulator",
        "demo-lecturer-1",
        "demo-lecturer-2",
        "demo-assistant-2-2",
        "13902000045",
    ] {
        assert!(out.contains(account), "{account} not printed:\n{out}");
    }
    assert!(out.contains("(98 new accounts)"), "{out}");
    assert!(
        out.contains("class 1:") && out.contains("class 2:"),
        "{out}"
    );
    // The key file is private.
    let mode = std::fs::metadata(dir.join("data/keys/data.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // Run twice: nothing is duplicated.
    let (code, out2, err) = run(ketang(dir).args(["demo", "--classes", "2", "--students", "45"]));
    assert_eq!(code, 0, "{err}");
    assert!(out2.contains("(0 new accounts)"), "{out2}");

    let (child, url) = serve(dir);
    let http = reqwest::Client::new();
    let metrics = http
        .get(format!("{url}metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for m in ["process_cpu_seconds_total", "process_resident_memory_bytes"] {
        assert!(metrics.contains(m), "{m} missing from /metrics");
    }
    let doc: serde_json::Value = http
        .get(format!("{url}api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        doc["paths"]["/api/classes/{id}/submit"]["post"].is_object(),
        "{doc}"
    );
    // The demo's classes are live with a session open now, 45 students each.
    let login: serde_json::Value = http
        .post(format!("{url}api/auth/login"))
        .json(&serde_json::json!({"username": "demo-admin", "password": "ketang-demo"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = login["token"].as_str().unwrap();
    let classes: serde_json::Value = http
        .get(format!("{url}api/classes"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let classes = classes.as_array().unwrap();
    assert_eq!(classes.len(), 2);
    let now = chrono::Utc::now();
    for c in classes {
        assert_eq!(c["status"], "live");
        assert_eq!(c["students"], 45);
        assert_eq!(c["assistant_ids"].as_array().unwrap().len(), 2);
        let open = c["sessions"].as_array().unwrap().iter().any(|s| {
            let a: chrono::DateTime<chrono::Utc> =
                s["starts_at"].as_str().unwrap().parse().unwrap();
            let b: chrono::DateTime<chrono::Utc> = s["ends_at"].as_str().unwrap().parse().unwrap();
            a <= now && now < b
        });
        assert!(open, "no session open now in {c}");
    }
    let metrics = http
        .get(format!("{url}metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains(
            "http_requests_total{method=\"GET\",route=\"/api/classes\",status=\"200\"} 1"
        ),
        "{metrics}"
    );
    stop(child);
}

#[test]
fn demo_refuses_more_than_200_students() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, _, err) = run(ketang(tmp.path()).args(["demo", "--students", "201"]));
    assert_eq!(code, 2);
    assert!(err.contains("201"), "{err}");
}

#[test]
fn migrate_and_user_create() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let (code, out, err) = run(ketang(dir).arg("migrate"));
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("up to date"), "{out}");

    let create = |args: &[&str], password: &str| {
        let mut child = ketang(dir)
            .args(["user", "create", "--password-stdin"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        writeln!(child.stdin.take().unwrap(), "{password}").unwrap();
        let out = child.wait_with_output().unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = create(
        &[
            "--role",
            "admin",
            "--username",
            "boss",
            "--institution",
            "新学校",
            "--region",
            "410204",
        ],
        "long-password",
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("created admin"), "{out}");
    let (code, _, err) = create(
        &[
            "--role",
            "regulator",
            "--username",
            "bureau",
            "--jurisdiction",
            "4102",
        ],
        "long-password",
    );
    assert_eq!(code, 0, "{err}");
    // Clear refusals.
    let (code, _, err) = create(
        &["--role", "regulator", "--username", "r2"],
        "long-password",
    );
    assert_ne!(code, 0);
    assert!(err.contains("--jurisdiction"), "{err}");
    let (code, _, err) = create(
        &[
            "--role",
            "admin",
            "--username",
            "a2",
            "--institution",
            "没有的学校",
        ],
        "long-password",
    );
    assert_ne!(code, 0);
    assert!(err.contains("does not exist"), "{err}");
    let (code, _, err) = create(
        &[
            "--role",
            "admin",
            "--username",
            "boss",
            "--institution",
            "新学校",
        ],
        "long-password",
    );
    assert_ne!(code, 0);
    assert!(err.contains("taken"), "{err}");
    let (code, _, err) = create(&["--role", "teacher", "--username", "t"], "long-password");
    assert_ne!(code, 0);
    assert!(err.contains("teacher"), "{err}");
    let (code, _, err) = create(
        &[
            "--role",
            "regulator",
            "--username",
            "r3",
            "--jurisdiction",
            "41",
        ],
        "short",
    );
    assert_ne!(code, 0);
    assert!(err.contains("at least 8"), "{err}");
}

#[test]
fn bad_configuration_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = tmp.path().join("ketang.toml");
    std::fs::write(&cfg, "listen = \"127.0.0.1:9\"\nno_such_key = 1\n").unwrap();
    let (code, _, err) = run(ketang(tmp.path()).arg("--config").arg(&cfg).arg("migrate"));
    assert_ne!(code, 0);
    assert!(err.contains("no_such_key"), "{err}");
    let (code, _, err) = run(ketang(tmp.path()).args(["--config", "missing.toml", "migrate"]));
    assert_ne!(code, 0);
    assert!(err.contains("missing.toml"), "{err}");
    let (code, _, err) = run(ketang(tmp.path())
        .env("KETANG_DATABASE_URL", "mysql://x")
        .arg("migrate"));
    assert_ne!(code, 0);
    assert!(err.contains("unsupported database URL"), "{err}");
}
