//! Supervision and data integrity against real SQLite and PostgreSQL: the audit chain under
//! tampering and concurrent writers, signed backups (tamper detection, chain across months,
//! round trip into both engines, bad input that must write nothing), key rotation, and the
//! class archive written when a class finishes.

mod common;

use std::path::Path;

use common::*;
use ketang::integrity::backup::{self, BackupError};
use ketang::integrity::bundle::{self, KeyChoice};
use ketang::integrity::signing::{PublicKeys, SigningKeys};
use ketang::integrity::{audit_verify, snapshot};
use ketang::store::{audit, Store};
use reqwest::StatusCode;
use serde_json::{json, Value};

macro_rules! on_both_engines {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::Engine::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::Engine::Postgres).await
            }
        }
    };
}

async fn open(engine: Engine, dir: &Path) -> Store {
    let store = Store::connect(&fresh_database(engine, dir).await)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    store
}

async fn append(store: &Store, n: usize, tag: &str) {
    for i in 0..n {
        let mut c = store.conn().await.unwrap();
        audit::record(
            &mut c,
            &audit::NewEntry {
                actor_id: Some(i as i64),
                actor_role: Some("admin"),
                action: "class.edit",
                target_kind: "class",
                target_id: Some(format!("{tag}{i}")),
                institution_id: None,
                detail: json!({"i": i}),
            },
        )
        .await
        .unwrap();
    }
}

async fn verify_log(store: &Store) -> Result<i64, String> {
    let mut c = store.conn().await.unwrap();
    audit_verify::verify(&mut c)
        .await
        .map_err(|e| e.to_string())
}

async fn exec(store: &Store, sql: &str) {
    sqlx::query(sql).execute(store.pool()).await.unwrap();
}

/// Each kind of tampering with the stored log is found and the first bad entry named.
async fn audit_tampering_is_detected(engine: Engine) {
    let cases: [(&str, &[&str], &str); 7] = [
        ("edit", &["UPDATE audit_log SET action = 'class.file' WHERE seq = 3"], "#3 (row id 3) was edited"),
        ("delete", &["DELETE FROM audit_log WHERE seq = 4"], "#4 is missing (deleted)"),
        ("delete the last", &["DELETE FROM audit_log WHERE seq = 6"], "#6 is missing (deleted)"),
        (
            "insert a plain row",
            &["INSERT INTO audit_log (id, at, action, target_kind, detail) VALUES (100, 1, 'forged', 'class', '{}')"],
            "row id 100 is not chained",
        ),
        (
            // Room made for a forged #3 by renumbering the later entries.
            "insert in the middle",
            &[
                "UPDATE audit_log SET seq = seq + 100 WHERE seq >= 3",
                "UPDATE audit_log SET seq = seq - 99 WHERE seq >= 100",
                "INSERT INTO audit_log (id, at, action, target_kind, detail, seq, prev_hash, hash) \
                 SELECT 100, at, 'forged', target_kind, detail, 3, hash, hash FROM audit_log WHERE seq = 2",
            ],
            "#4 (row id 3) was edited",
        ),
        (
            // A well-formed entry #7 (hash computed correctly) appended without the head.
            "append behind the module's back",
            &["INSERT INTO audit_log (id, at, action, target_kind, detail, seq, prev_hash, hash) \
               SELECT 100, at, action, target_kind, detail, 7, hash, 'HASH7' FROM audit_log WHERE seq = 6"],
            "#7 (row id 100) was inserted behind the audit module's back",
        ),
        (
            // Swap the contents of rows 2 and 3: row 2 now holds entry #3.
            "reorder",
            &[
                "UPDATE audit_log SET id = 1000 WHERE id = 2",
                "UPDATE audit_log SET id = 2 WHERE id = 3",
                "UPDATE audit_log SET id = 3 WHERE id = 1000",
            ],
            "#3 (row id 2) is out of order",
        ),
    ];
    for (what, sqls, expected) in cases {
        let dir = tempfile::tempdir().unwrap();
        let store = open(engine, dir.path()).await;
        append(&store, 6, "t").await;
        assert_eq!(verify_log(&store).await, Ok(6), "{what}: clean log");
        for sql in sqls {
            exec(&store, sql).await;
        }
        if what.starts_with("append") {
            // Give the appended row the hash a forger would compute.
            let (links, _) = audit::chain_links(&mut store.conn().await.unwrap())
                .await
                .unwrap();
            let seven = links.iter().find(|l| l.seq == 7).unwrap();
            let h = ketang::integrity::chain::entry_hash(&seven.prev_hash, seven);
            sqlx::query("UPDATE audit_log SET hash = $1 WHERE seq = 7")
                .bind(h)
                .execute(store.pool())
                .await
                .unwrap();
        }
        let err = verify_log(&store).await.expect_err(what);
        assert!(err.contains(expected), "{what}: {err}");
        store.pool().close().await;
    }
}
on_both_engines!(audit_tampering_is_detected);

/// Writers appending at the same time queue on the head row: one unforked chain.
async fn concurrent_appends_keep_one_chain(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(engine, dir.path()).await;
    let mut tasks = Vec::new();
    for t in 0..6 {
        let s = store.clone();
        tasks.push(tokio::spawn(async move {
            append(&s, 15, &format!("w{t}-")).await
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(verify_log(&store).await, Ok(90));
    // An append inside a caller's transaction that rolls back leaves no trace in the chain.
    let mut tx = store.begin().await.unwrap();
    audit::record(
        &mut tx,
        &audit::NewEntry {
            actor_id: None,
            actor_role: None,
            action: "x",
            target_kind: "y",
            target_id: None,
            institution_id: None,
            detail: json!({}),
        },
    )
    .await
    .unwrap();
    tx.rollback().await.unwrap();
    append(&store, 1, "after").await;
    assert_eq!(verify_log(&store).await, Ok(91));
}
on_both_engines!(concurrent_appends_keep_one_chain);

/// A server with data in every foundation table, a stored file and a finished, archived class.
async fn seeded(engine: Engine) -> (TestServer, World) {
    let s = TestServer::start(engine).await;
    let w = world(&s, 1).await;
    for seq in 1..=3 {
        let (st, body) = s
            .client()
            .post("/api/register", registration(w.institution_id, seq))
            .await;
        assert_eq!(st, StatusCode::CREATED, "{body}");
    }
    let (st, class) = w
        .admin
        .post(
            "/api/classes",
            json!({"name": "备份测试班", "course_type": "SYB", "lecturer_id": w.lecturer_id,
                   "sessions": [{"starts_at": at(21, 0), "ends_at": at(21, 3)}]}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{class}");
    let id = class["id"].as_i64().unwrap();
    let (st, body) = w
        .admin
        .raw(
            reqwest::Method::POST,
            &format!("/api/classes/{id}/roster"),
            "text/csv",
            roster_csv(2, 500).into_bytes(),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    // Classroom interaction (teaching data written by the rooms).
    sqlx::query(
        "INSERT INTO interaction_events (class_id, session_id, at, actor_id, actor_role, kind, \
         target_id, detail) VALUES ($1, $2, $3, $4, 'lecturer', 'chat', NULL, $5)",
    )
    .bind(id)
    .bind(class["sessions"][0]["id"].as_i64().unwrap())
    .bind(1_764_000_000_000i64)
    .bind(w.lecturer_id)
    .bind(r#"{"text":"大家好"}"#)
    .execute(s.store().pool())
    .await
    .unwrap();
    // Attendance, exam, plan, results and certificate rows (one each), so the round trip
    // covers every table the attendance records live in.
    let student = body["created"][0]["user_id"].as_i64().unwrap();
    let session = class["sessions"][0]["id"].as_i64().unwrap();
    let t = 1_764_000_000_000i64;
    let lecturer = w.lecturer_id;
    let inst = w.institution_id;
    let statements: Vec<(String, Vec<Value>)> = vec![
        ("INSERT INTO live_intervals (class_id, session_id, started_at, last_seen_at, ended_at, closed_by) VALUES ($1, $2, $3, $4, $5, 'event')".into(), vec![json!(id), json!(session), json!(t), json!(t + 60_000), json!(t + 60_000)]),
        ("INSERT INTO watch_intervals (class_id, session_id, student_id, started_at, last_seen_at, ended_at, closed_by) VALUES ($1, $2, $3, $4, $5, $6, 'recovery')".into(), vec![json!(id), json!(session), json!(student), json!(t), json!(t + 30_000), json!(t + 30_000)]),
        ("INSERT INTO face_checks (class_id, session_id, student_id, scheduled_at, outcome, recorded_at) VALUES ($1, $2, $3, $4, 'match', $5)".into(), vec![json!(id), json!(session), json!(student), json!(t + 10_000), json!(t + 11_000)]),
        ("INSERT INTO exam_questions (institution_id, course_type, kind, prompt, options, answer, points, created_by, created_at) VALUES ($1, 'SYB', 'true_false', '创业需要计划', '[\"对\",\"错\"]', '[0]', 1, $2, $3)".into(), vec![json!(inst), json!(lecturer), json!(t)]),
        ("INSERT INTO class_exams (class_id, time_limit_secs, max_attempts, pass_mark, updated_at) VALUES ($1, 1800, 2, 60, $2)".into(), vec![json!(id), json!(t)]),
        ("INSERT INTO exam_attempts (class_id, student_id, number, question_ids, started_at, deadline_at, submitted_at, answers, score, passed, status) VALUES ($1, $2, 1, '[1]', $3, $4, $5, '{}', 100, 1, 'submitted')".into(), vec![json!(id), json!(student), json!(t), json!(t + 1_800_000), json!(t + 60_000)]),
        ("INSERT INTO business_plans (class_id, student_id, version, file_name, content_type, size_bytes, sha256, content, status, submitted_at) VALUES ($1, $2, 1, 'plan.pdf', 'application/pdf', 8, 'x', $3, 'submitted', $4)".into(), vec![json!(id), json!(student), json!("bytes"), json!(t)]),
        ("INSERT INTO class_reports (class_id, kind, format, content, generated_at) VALUES ($1, 'attendance', 'csv', $2, $3)".into(), vec![json!(id), json!("bytes"), json!(t)]),
        ("INSERT INTO class_results (class_id, status, snapshot, eligible_count, submitted_by, submitted_at) VALUES ($1, 'submitted', '{}', 1, $2, $3)".into(), vec![json!(id), json!(lecturer), json!(t)]),
        ("INSERT INTO face_enrollments (user_id, embedding_enc, face_px, sharpness, brightness, enrolled_at) VALUES ($1, $2, 180, $3, $4, $5)".into(), vec![json!(student), json!("ciphertext"), json!(812.5), json!(0.43), json!(t)]),
        ("INSERT INTO face_evidence (user_id, class_id, captured_at, distance, frame_enc, expires_at) VALUES ($1, $2, $3, $4, $5, $6)".into(), vec![json!(student), json!(id), json!(t), json!(0.81), json!("ciphertext"), json!(t + 90 * 86_400_000)]),
        ("INSERT INTO trainee_certificates (number, class_id, student_id, issued_at) VALUES ('KT-TEST-0001', $1, $2, $3)".into(), vec![json!(id), json!(student), json!(t)]),
        ("INSERT INTO face_flags (class_id, session_id, student_id, at, previous_at, mean_abs_diff) VALUES ($1, $2, $3, $4, $5, $6)".into(), vec![json!(id), json!(session), json!(student), json!(t + 20_000), json!(t + 10_000), json!(0.4)]),
    ];
    for (sql, args) in statements {
        let mut q = sqlx::query(&sql);
        for a in args {
            q = match a {
                Value::Number(n) if n.is_f64() => q.bind(n.as_f64().unwrap()),
                Value::Number(n) => q.bind(n.as_i64().unwrap()),
                // Text stands for a BLOB's bytes here.
                Value::String(b) => q.bind(b.into_bytes()),
                other => panic!("{other}"),
            };
        }
        q.execute(s.store().pool())
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }
    // Regulator reads are audited too.
    assert_eq!(w.regulator.get("/api/classes").await.0, StatusCode::OK);
    let files = s.dir.path().join("files/recordings");
    std::fs::create_dir_all(&files).unwrap();
    std::fs::write(
        files.join("session-1.webm"),
        b"\x1aE\xdf\xa3 pretend recording bytes",
    )
    .unwrap();
    (s, w)
}

fn signing(s: &TestServer) -> SigningKeys {
    SigningKeys::load_or_create(&s.state.config.key_dir()).unwrap()
}

async fn make_backup(s: &TestServer, out: &Path) -> backup::Created {
    backup::create(
        s.store(),
        &s.state.config.data_dir,
        out,
        None,
        &signing(s),
        (None, "test"),
    )
    .await
    .unwrap()
}

fn known_keys(s: &TestServer) -> PublicKeys {
    signing(s).public_keys()
}

/// Every table's rows, sorted (engine-neutral JSON lines).
async fn all_rows(store: &Store) -> Vec<(String, Vec<String>)> {
    let mut c = store.conn().await.unwrap();
    let mut out = Vec::new();
    for t in snapshot::tables(&mut c, store.kind()).await.unwrap() {
        let rows = snapshot::canonical_rows(&mut c, &t).await.unwrap();
        out.push((t.name, rows));
    }
    out
}

/// Backup from `engine` restores into a fresh SQLite and a fresh PostgreSQL database with
/// every table equal to the source at snapshot time, and the restored database keeps
/// working (ids continue, the audit chain verifies and extends).
async fn round_trip_into_both_engines(engine: Engine) {
    let (s, _w) = seeded(engine).await;
    // More rows than one restore batch (100), and not a multiple of it.
    append(s.store(), 237, "bulk").await;
    let expected = all_rows(s.store()).await;
    assert!(
        expected.len() >= 14,
        "{:?}",
        expected.iter().map(|t| &t.0).collect::<Vec<_>>()
    );
    for (t, rows) in &expected {
        if !matches!(
            t.as_str(),
            "backups" | "class_archives" | "assistant_assignments" | "syb_certificates"
        ) {
            assert!(
                !rows.is_empty(),
                "seed leaves {t} empty: the round trip would prove little"
            );
        }
    }
    let out = s.dir.path().join("backups/2026-11");
    let created = make_backup(&s, &out).await;
    let v = bundle::verify(&out, &known_keys(&s), KeyChoice::Known).unwrap();
    assert!(v
        .manifest
        .files
        .iter()
        .any(|f| f.path == "files/recordings/session-1.webm"));
    let info = backup::info_of(&out, &v).unwrap();
    assert_eq!(
        info.engine,
        if engine == Engine::Sqlite {
            "sqlite"
        } else {
            "postgres"
        }
    );
    for target in [Engine::Sqlite, Engine::Postgres] {
        let dir = tempfile::tempdir().unwrap();
        let url = fresh_database(target, dir.path()).await;
        let r = backup::restore(&out, &url, &known_keys(&s), KeyChoice::Known)
            .await
            .unwrap();
        assert_eq!(r.rows, created.rows, "{target:?}");
        let restored = Store::connect(&url).await.unwrap();
        let got = all_rows(&restored).await;
        assert_eq!(got.len(), expected.len());
        for ((te, re), (tg, rg)) in expected.iter().zip(&got) {
            assert_eq!(te, tg);
            assert_eq!(re, rg, "table {te} differs after {engine:?} -> {target:?}");
        }
        // The restored log verifies, and new writes continue the chain and the ids.
        append(&restored, 2, "restored").await;
        assert!(verify_log(&restored).await.is_ok());
        let inst: i64 = sqlx::query_scalar(
            "INSERT INTO institutions (name, region_code, created_at) VALUES ('新学校', '410204', 0) RETURNING id",
        )
        .fetch_one(restored.pool())
        .await
        .unwrap();
        let max_before: i64 =
            sqlx::query_scalar("SELECT MAX(id) FROM institutions WHERE name <> '新学校'")
                .fetch_one(restored.pool())
                .await
                .unwrap();
        assert!(inst > max_before, "{target:?}: id {inst} reused");
        restored.pool().close().await;
    }
    s.stop().await;
}
on_both_engines!(round_trip_into_both_engines);

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

fn flip_byte(path: &Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    let i = at.min(b.len() - 1);
    b[i] ^= 0x01;
    std::fs::write(path, b).unwrap();
}

fn verify_err(dir: &Path, keys: &PublicKeys, choice: KeyChoice) -> String {
    backup::verify_path(dir, keys, choice)
        .expect_err("tampered backup verified")
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_kind_of_tampering_with_a_backup_is_named() {
    let (s, _w) = seeded(Engine::Sqlite).await;
    let root = s.dir.path().join("monthly");
    let oct = root.join("2026-10");
    make_backup(&s, &oct).await;
    append(s.store(), 3, "november").await;
    let nov = root.join("2026-11");
    make_backup(&s, &nov).await;
    let keys = known_keys(&s);
    // Clean: one backup, and the folder of backups with its chain.
    assert!(backup::verify_path(&nov, &keys, KeyChoice::Known).is_ok());
    let r = backup::verify_path(&root, &keys, KeyChoice::Known).unwrap();
    assert_eq!(
        r.checked.iter().map(|c| c.1).collect::<Vec<_>>(),
        vec![1, 2]
    );

    let scratch = tempfile::tempdir().unwrap();
    let fresh = |name: &str| {
        let d = scratch.path().join(name);
        copy_dir(&nov, &d);
        d
    };
    // One byte flipped in each kind of file.
    let d = fresh("table");
    flip_byte(&d.join("tables/users.jsonl"), 10);
    let e = verify_err(&d, &keys, KeyChoice::Known);
    assert!(
        e.starts_with("tables/users.jsonl was altered: its SHA-256 is"),
        "{e}"
    );
    let d = fresh("stored");
    flip_byte(&d.join("files/recordings/session-1.webm"), 3);
    let e = verify_err(&d, &keys, KeyChoice::Known);
    assert!(
        e.starts_with("files/recordings/session-1.webm was altered"),
        "{e}"
    );
    let d = fresh("manifest");
    // Inside a hash value: still valid JSON, so only the signature can tell.
    let m = std::fs::read_to_string(d.join("manifest.json")).unwrap();
    let at = m.find("\"sha256\": \"").unwrap() + 12;
    flip_byte(&d.join("manifest.json"), at);
    let e = verify_err(&d, &keys, KeyChoice::Known);
    assert!(
        e.starts_with("manifest.sig does not verify manifest.json with key"),
        "{e}"
    );
    let d = fresh("manifest-syntax");
    flip_byte(&d.join("manifest.json"), 0);
    let e = verify_err(&d, &keys, KeyChoice::Known);
    assert!(
        e.starts_with("manifest.json was altered or truncated"),
        "{e}"
    );
    let d = fresh("sig");
    // One hex digit of the signature changed (still a well-formed signature).
    let mut sig = std::fs::read_to_string(d.join("manifest.sig"))
        .unwrap()
        .into_bytes();
    sig[5] = if sig[5] == b'0' { b'1' } else { b'0' };
    std::fs::write(d.join("manifest.sig"), sig).unwrap();
    let e = verify_err(&d, &keys, KeyChoice::Known);
    assert!(e.starts_with("manifest.sig does not verify"), "{e}");
    // A file deleted, one added, one truncated.
    let d = fresh("deleted");
    std::fs::remove_file(d.join("tables/classes.jsonl")).unwrap();
    assert_eq!(
        verify_err(&d, &keys, KeyChoice::Known),
        "tables/classes.jsonl is missing"
    );
    let d = fresh("added");
    std::fs::write(d.join("tables/extra.jsonl"), b"[1]\n").unwrap();
    assert_eq!(
        verify_err(&d, &keys, KeyChoice::Known),
        "tables/extra.jsonl is not in the manifest (added after signing)"
    );
    let d = fresh("truncated");
    let p = d.join("tables/audit_log.jsonl");
    let len = std::fs::metadata(&p).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let e = verify_err(&d, &keys, KeyChoice::Known);
    assert!(
        e.starts_with(&format!(
            "tables/audit_log.jsonl was truncated or extended: {} bytes",
            len / 2
        )),
        "{e}"
    );
    // The signature replaced by a valid signature of another key.
    let d = fresh("resigned");
    let other = tempfile::tempdir().unwrap();
    let mallory = SigningKeys::load_or_create(other.path()).unwrap();
    let sig = mallory.sign(&std::fs::read(d.join("manifest.json")).unwrap());
    std::fs::write(d.join("manifest.sig"), hex::encode(sig.to_bytes())).unwrap();
    let e = verify_err(&d, &keys, KeyChoice::Known);
    assert!(
        e.starts_with("manifest.sig does not verify manifest.json with key"),
        "{e}"
    );
    // Garbage in place of the signature, and no signature.
    let d = fresh("garbage-sig");
    std::fs::write(d.join("manifest.sig"), b"not a signature").unwrap();
    assert!(verify_err(&d, &keys, KeyChoice::Known).starts_with("manifest.sig was altered"));
    let d = fresh("unsigned");
    std::fs::remove_file(d.join("manifest.sig")).unwrap();
    assert!(verify_err(&d, &keys, KeyChoice::Known).starts_with("manifest.sig is missing"));
    // A wrong public key given on the command line.
    let e = verify_err(
        &nov,
        &PublicKeys::single(mallory.verifying_key()),
        KeyChoice::Pinned,
    );
    assert!(
        e.starts_with(&format!(
            "wrong public key: the given key is {}",
            mallory.key_id()
        )),
        "{e}"
    );

    // Two months swapped.
    let swapped = scratch.path().join("swapped");
    copy_dir(&oct, &swapped.join("2026-11"));
    copy_dir(&nov, &swapped.join("2026-10"));
    let e = verify_err(&swapped, &keys, KeyChoice::Known);
    assert_eq!(e, "folder 2026-10 holds the backup labelled \"2026-11\" (#2): backups were swapped or renamed");
    // A month replaced by another validly signed backup of the same label.
    let replaced = scratch.path().join("replaced");
    copy_dir(&root, &replaced);
    std::fs::remove_dir_all(replaced.join("2026-10")).unwrap();
    let again = replaced.join("2026-10");
    let s2 = TestServer::start(Engine::Sqlite).await;
    // Same signing key (the operator re-signing an older state cannot fake the chain link).
    std::fs::copy(
        s.state.config.key_dir().join("signing.key"),
        s2.state.config.key_dir().join("signing.key"),
    )
    .ok();
    backup::create(
        s2.store(),
        &s2.state.config.data_dir,
        &again,
        None,
        &signing(&s),
        (None, "test"),
    )
    .await
    .unwrap();
    let e = verify_err(&replaced, &keys, KeyChoice::Known);
    assert!(
        e.contains("backups are out of order") || e.contains("does not chain onto 2026-10"),
        "{e}"
    );
    // A month deleted from the middle of the chain.
    let gap = scratch.path().join("gap");
    copy_dir(&root, &gap);
    let dec = gap.join("2026-12");
    make_backup(&s, &dec).await;
    std::fs::remove_dir_all(gap.join("2026-11")).unwrap();
    assert_eq!(
        verify_err(&gap, &keys, KeyChoice::Known),
        "backup #2 is missing between 2026-10 (#1) and 2026-12 (#3)"
    );
    s2.stop().await;
    s.stop().await;
}

/// What the target looks like: tables and rows (to prove nothing was written).
async fn target_state(engine: Engine, url: &str, dir: &Path) -> (bool, usize) {
    if engine == Engine::Sqlite {
        let exists = dir.join("ketang.db").exists();
        return (exists, 0);
    }
    let s = Store::connect(url).await.unwrap();
    let mut c = s.conn().await.unwrap();
    let n = snapshot::tables(&mut c, s.kind()).await.unwrap().len();
    drop(c);
    s.pool().close().await;
    (true, n)
}

/// A folder that is not a backup, a truncated backup, a wrong key, a non-empty target:
/// each a clear error, and the target database is left exactly as it was.
async fn bad_restores_write_nothing(engine: Engine) {
    let (s, _w) = seeded(Engine::Sqlite).await;
    let good = s.dir.path().join("b1");
    make_backup(&s, &good).await;
    let keys = known_keys(&s);
    let scratch = tempfile::tempdir().unwrap();
    let not_backup = scratch.path().join("photos");
    std::fs::create_dir_all(&not_backup).unwrap();
    std::fs::write(not_backup.join("a.jpg"), b"jpeg").unwrap();
    let truncated = scratch.path().join("truncated");
    copy_dir(&good, &truncated);
    let p = truncated.join("tables/student_records.jsonl");
    let len = std::fs::metadata(&p).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(len - 7)
        .unwrap();
    let other = tempfile::tempdir().unwrap();
    let wrong = PublicKeys::single(
        SigningKeys::load_or_create(other.path())
            .unwrap()
            .verifying_key(),
    );
    let cases: Vec<(&str, &Path, &PublicKeys, KeyChoice, String)> = vec![
        (
            "not a backup",
            &not_backup,
            &keys,
            KeyChoice::Known,
            format!(
                "{} is not a Ketang backup or archive: it has no manifest.json",
                not_backup.display()
            ),
        ),
        (
            "missing folder",
            Path::new("/nonexistent/backup"),
            &keys,
            KeyChoice::Known,
            "/nonexistent/backup does not exist".into(),
        ),
        (
            "truncated",
            &truncated,
            &keys,
            KeyChoice::Known,
            "tables/student_records.jsonl was truncated or extended".into(),
        ),
        (
            "wrong key",
            &good,
            &wrong,
            KeyChoice::Pinned,
            "wrong public key".into(),
        ),
    ];
    for (what, dir, k, choice, expected) in cases {
        let tdir = tempfile::tempdir().unwrap();
        let url = fresh_database(engine, tdir.path()).await;
        let before = target_state(engine, &url, tdir.path()).await;
        let e = backup::restore(dir, &url, k, choice)
            .await
            .expect_err(what)
            .to_string();
        assert!(e.starts_with(&expected), "{what}: {e}");
        assert_eq!(
            target_state(engine, &url, tdir.path()).await,
            before,
            "{what}: target changed"
        );
    }
    // A correctly signed backup whose data cannot load (a duplicated user row, as a bug in
    // the writer might produce): the load fails half-way and the transaction takes the
    // schema and every row with it.
    let broken = scratch.path().join("broken");
    {
        let (m, _) = bundle::read_manifest(&good).unwrap();
        let mut info: backup::BackupInfo = serde_json::from_value(m.content.clone()).unwrap();
        let mut w = bundle::BundleWriter::create(&broken).unwrap();
        for f in &m.files {
            let mut bytes = std::fs::read(good.join(&f.path)).unwrap();
            if f.path == "tables/users.jsonl" {
                let first = bytes.split(|b| *b == b'\n').next().unwrap().to_vec();
                bytes.extend_from_slice(&first);
                bytes.push(b'\n');
                info.tables
                    .iter_mut()
                    .find(|t| t.file == f.path)
                    .unwrap()
                    .rows += 1;
            }
            w.add(&f.path, &bytes).unwrap();
        }
        w.finish(
            "backup",
            "broken",
            serde_json::to_value(&info).unwrap(),
            &signing(&s),
        )
        .unwrap();
    }
    let tdir = tempfile::tempdir().unwrap();
    let url = fresh_database(engine, tdir.path()).await;
    let before = target_state(engine, &url, tdir.path()).await;
    let e = backup::restore(&broken, &url, &keys, KeyChoice::Known)
        .await
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("tables/users.jsonl line "), "{e}");
    assert_eq!(
        target_state(engine, &url, tdir.path()).await,
        before,
        "half-loaded target"
    );

    // A target that holds data is refused and left alone.
    let tdir = tempfile::tempdir().unwrap();
    let url = fresh_database(engine, tdir.path()).await;
    let busy = Store::connect(&url).await.unwrap();
    busy.migrate().await.unwrap();
    exec(
        &busy,
        "INSERT INTO institutions (name, region_code, created_at) VALUES ('已有', '410204', 1)",
    )
    .await;
    let e = backup::restore(&good, &url, &keys, KeyChoice::Known)
        .await
        .unwrap_err();
    assert!(
        matches!(e, BackupError::TargetNotEmpty { ref table, rows: 1, .. } if table == "institutions"),
        "{e}"
    );
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM institutions")
        .fetch_one(busy.pool())
        .await
        .unwrap();
    assert_eq!(n, 1);
    let users: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users")
        .fetch_one(busy.pool())
        .await
        .unwrap();
    assert_eq!(users, 0);
    busy.pool().close().await;
    s.stop().await;
}
on_both_engines!(bad_restores_write_nothing);

/// Rotation re-encrypts every ciphertext under the new key, keeps old keys (old backups
/// restore and decrypt) and keeps the old public signing key (old backups verify).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_rotation_reencrypts_and_old_backups_still_verify() {
    let (s, _w) = seeded(Engine::Sqlite).await;
    let before = s.dir.path().join("before");
    make_backup(&s, &before).await;
    let key_dir = s.state.config.key_dir();
    let r = ketang::integrity::keys::rotate(s.store(), &key_dir)
        .await
        .unwrap();
    assert_eq!(r.data_key_id, 2);
    // 3 registered students: ID number + 3 photos each; 2 roster students: ID number only.
    assert_eq!(r.reencrypted, 3 * 4 + 2);
    let keys = ketang::crypto::Keyring::load_or_create(&key_dir).unwrap();
    let blobs: Vec<Vec<u8>> = sqlx::query_scalar("SELECT id_number_enc FROM student_records")
        .fetch_all(s.store().pool())
        .await
        .unwrap();
    for b in &blobs {
        assert_eq!(ketang::crypto::Keyring::key_id_of(b), Some(2));
        keys.decrypt(b, ketang::store::students::ID_CONTEXT)
            .unwrap();
    }
    let photos: Vec<Vec<u8>> = sqlx::query_scalar("SELECT ciphertext FROM student_files")
        .fetch_all(s.store().pool())
        .await
        .unwrap();
    assert!(photos
        .iter()
        .all(|b| ketang::crypto::Keyring::key_id_of(b) == Some(2)));
    // Rotating again with nothing left on old keys re-encrypts everything once more.
    // The backup from before the rotation still verifies with the published keys…
    let published = ketang::integrity::signing::load_public_keys(&key_dir).unwrap();
    assert_eq!(published.ids().len(), 2);
    backup::verify_path(&before, &published, KeyChoice::Known).unwrap();
    // …and its encrypted data opens with the rotated keyring after a restore.
    let tdir = tempfile::tempdir().unwrap();
    let url = fresh_database(Engine::Sqlite, tdir.path()).await;
    backup::restore(&before, &url, &published, KeyChoice::Known)
        .await
        .unwrap();
    let restored = Store::connect(&url).await.unwrap();
    let old: Vec<Vec<u8>> = sqlx::query_scalar("SELECT id_number_enc FROM student_records")
        .fetch_all(restored.pool())
        .await
        .unwrap();
    assert!(old
        .iter()
        .all(|b| ketang::crypto::Keyring::key_id_of(b) == Some(1)));
    for b in &old {
        keys.decrypt(b, ketang::store::students::ID_CONTEXT)
            .unwrap();
    }
    // New backups are signed by the new key.
    let after = s.dir.path().join("after");
    let c = make_backup(&s, &after).await;
    let v = bundle::verify(&after, &published, KeyChoice::Known).unwrap();
    assert_eq!(v.manifest.key_id, r.signing_key_id);
    assert_eq!(c.sequence, 2);
    assert!(verify_log(s.store()).await.is_ok());
    restored.pool().close().await;
    s.stop().await;
}

fn bundle_files(dir: &Path) -> Vec<String> {
    let (m, _) = bundle::read_manifest(dir).unwrap();
    m.files.into_iter().map(|f| f.path).collect()
}

/// Finishing a class writes its signed archive: roster, forms, encrypted ID copies,
/// teaching plan, staff, audit trail; the sections still to come are listed as pending.
async fn class_end_writes_a_signed_archive(engine: Engine) {
    let s = TestServer::start(engine).await;
    let w = world(&s, 1).await;
    let (st, body) = s
        .client()
        .post("/api/register", registration(w.institution_id, 7))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let student = body["user_id"].as_i64().unwrap();
    let (_, class) = w
        .admin
        .post(
            "/api/classes",
            json!({"name": "归档班", "course_type": "GYB", "lecturer_id": w.lecturer_id,
                   "sessions": [{"starts_at": at(21, 0), "ends_at": at(21, 3)}]}),
        )
        .await;
    let id = class["id"].as_i64().unwrap();
    let (st, b) = w
        .admin
        .post(
            &format!("/api/classes/{id}/enrollments"),
            json!({"student_ids": [student]}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let (st, b) = w
        .admin
        .put(
            &format!("/api/classes/{id}/assistants"),
            json!({"assistant_ids": w.assistant_ids}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    for (c, verb) in [
        (&w.admin, "submit"),
        (&w.regulator, "file"),
        (&w.lecturer, "start"),
    ] {
        let (st, b) = c
            .post(&format!("/api/classes/{id}/{verb}"), json!(null))
            .await;
        assert_eq!(st, StatusCode::OK, "{verb}: {b}");
    }
    let dir = s.dir.path().join(format!("archives/class-{id}"));
    assert!(!dir.exists());
    let (st, b) = w
        .lecturer
        .post(&format!("/api/classes/{id}/finish"), json!(null))
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    let keys = known_keys(&s);
    let v = bundle::verify(&dir, &keys, KeyChoice::Known).unwrap();
    assert_eq!(v.manifest.kind, "class-archive");
    let files = bundle_files(&dir);
    for f in [
        "class.json",
        "teaching_plan.json",
        "staff.json",
        "roster.jsonl",
        "registration_forms.jsonl",
        "id_copies/index.jsonl",
        &format!("id_copies/{student}/id_front.enc"),
        &format!("id_copies/{student}/id_back.enc"),
        &format!("id_copies/{student}/photo.enc"),
        "audit_trail.jsonl",
    ] {
        assert!(files.iter().any(|x| x == f), "{f} not in {files:?}");
    }
    // ID copies are the stored ciphertext, not the photos.
    let enc = std::fs::read(dir.join(format!("id_copies/{student}/photo.enc"))).unwrap();
    let plain = s.state.keys.decrypt(&enc, b"student_files.photo").unwrap();
    assert_eq!(
        &plain[..2],
        b"\xff\xd8",
        "the one-inch photo is a JPEG once decrypted"
    );
    let forms = std::fs::read_to_string(dir.join("registration_forms.jsonl")).unwrap();
    assert!(
        !forms.contains(&id_number(7)),
        "ID number in clear in the archive"
    );
    let sections = &v.manifest.content["sections"];
    assert_eq!(sections["roster"]["status"], "included");
    assert_eq!(sections["id_copies"]["records"], 3);
    for pending in [
        "recordings",
        "attendance",
        "exam_transcript",
        "evaluations",
        "business_plans",
        "interaction_log",
    ] {
        assert_eq!(sections[pending]["status"], "pending", "{pending}");
    }
    let trail = std::fs::read_to_string(dir.join("audit_trail.jsonl")).unwrap();
    for act in [
        "class.create",
        "class.submit",
        "class.file",
        "class.start",
        "class.finish",
    ] {
        assert!(trail.contains(act), "{act} missing from the trail");
    }
    // Tampering with the archive is caught like a backup's.
    flip_byte(&dir.join("roster.jsonl"), 4);
    let e = verify_err(&dir, &keys, KeyChoice::Known);
    assert!(e.starts_with("roster.jsonl was altered"), "{e}");
    assert!(verify_log(s.store()).await.is_ok());
    s.stop().await;
}
on_both_engines!(class_end_writes_a_signed_archive);

fn ketang_cmd(data: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_ketang"));
    c.env_remove("KETANG_DATABASE_URL")
        .env_remove("KETANG_CONFIG")
        .env("KETANG_DATA_DIR", data)
        .env("RUST_LOG", "warn");
    c
}

fn run(c: &mut std::process::Command) -> (i32, String, String) {
    let out = c.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The operator's commands: backup create / verify / restore, audit verify, key export.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_backup_verify_restore_and_audit_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let (code, _, err) = run(ketang_cmd(&data).args(["demo", "--students", "5"]));
    assert_eq!(code, 0, "{err}");
    let out = tmp.path().join("bk");
    let (code, stdout, err) = run(ketang_cmd(&data)
        .args(["backup", "create", "--out"])
        .arg(&out));
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("(#1)"), "{stdout}");
    let (code, stdout, err) = run(ketang_cmd(&data).args(["backup", "verify"]).arg(&out));
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("verified"), "{stdout}");
    let pubkey = tmp.path().join("bureau.pub");
    let (code, _, err) = run(ketang_cmd(&data)
        .args(["key", "export", "--out"])
        .arg(&pubkey));
    assert_eq!(code, 0, "{err}");
    // The bureau verifies with only the public key, from a folder with no keys at all.
    let elsewhere = tmp.path().join("bureau");
    let (code, _, err) = run(ketang_cmd(&elsewhere)
        .args(["backup", "verify"])
        .arg(&out)
        .arg("--pubkey")
        .arg(&pubkey));
    assert_eq!(code, 0, "{err}");
    flip_byte(&out.join("tables/classes.jsonl"), 2);
    let (code, _, err) = run(ketang_cmd(&elsewhere)
        .args(["backup", "verify"])
        .arg(&out)
        .arg("--pubkey")
        .arg(&pubkey));
    assert_ne!(code, 0);
    assert!(err.contains("tables/classes.jsonl was altered"), "{err}");
    let target = format!("sqlite://{}/restored.db", tmp.path().display());
    let (code, _, err) = run(ketang_cmd(&elsewhere)
        .args(["backup", "restore"])
        .arg(&out)
        .args(["--pubkey"])
        .arg(&pubkey)
        .args(["--into", &target]));
    assert_ne!(code, 0);
    assert!(
        err.contains("nothing was restored") && err.contains("tables/classes.jsonl was altered"),
        "{err}"
    );
    assert!(!tmp.path().join("restored.db").exists());
    // A second backup anchors the log (its head includes the first backup's entry #1).
    let out2 = tmp.path().join("bk2");
    let (code, _, err) = run(ketang_cmd(&data)
        .args(["backup", "create", "--out"])
        .arg(&out2));
    assert_eq!(code, 0, "{err}");
    // Audit verify: clean, then after an edit it names the entry and fails.
    let (code, stdout, err) = run(ketang_cmd(&data).args(["audit", "verify"]));
    assert_eq!(code, 0, "{err}");
    assert!(stdout.contains("audit log intact: 2 entries"), "{stdout}");
    let (code, stdout, err) = run(ketang_cmd(&data)
        .args(["audit", "verify", "--backups"])
        .arg(&out2));
    assert_eq!(code, 0, "{err}");
    assert!(
        stdout.contains("1 signed backup anchor(s) match"),
        "{stdout}"
    );
    let store = Store::connect(&format!("sqlite://{}/ketang.db", data.display()))
        .await
        .unwrap();
    exec(
        &store,
        "UPDATE audit_log SET detail = '{\"tampered\": true}' WHERE seq = 1",
    )
    .await;
    store.pool().close().await;
    let (code, _, err) = run(ketang_cmd(&data).args(["audit", "verify"]));
    assert_ne!(code, 0);
    // (The demo writes no audit entries; #1 is the backup's own.)
    assert!(
        err.contains("audit entry #1 (row id 1) was edited"),
        "{err}"
    );
}

/// Regulators see their jurisdiction's classes, dossiers, lecturers and live rooms (and
/// nothing of another jurisdiction), and fetch backups and the public key through the API
/// that verify on their side.
async fn regulator_reads_and_backup_downloads(engine: Engine) {
    let (s, w) = seeded(engine).await;
    let far = s.login("far-regulator", "password-123").await;
    let (st, list) = w.regulator.get("/api/supervision/classes").await;
    assert_eq!(st, StatusCode::OK, "{list}");
    let list = list.as_array().unwrap().clone();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["institution"], "测试培训学校");
    assert_eq!(list[0]["progress"]["sessions_total"], 1);
    assert_eq!(list[0]["progress"]["hours_total"], 3.0);
    let id = list[0]["class"]["id"].as_i64().unwrap();
    let (_, far_list) = far.get("/api/supervision/classes").await;
    assert_eq!(far_list, json!([]));
    assert_eq!(
        far.get(&format!("/api/supervision/classes/{id}")).await.0,
        StatusCode::NOT_FOUND
    );

    let (st, d) = w
        .regulator
        .get(&format!("/api/supervision/classes/{id}"))
        .await;
    assert_eq!(st, StatusCode::OK, "{d}");
    assert_eq!(d["students"].as_array().unwrap().len(), 2, "{d}");
    assert!(d["students"][0]["id_number_masked"]
        .as_str()
        .unwrap()
        .contains("********"));
    assert_eq!(d["lecturer"]["certificates"][0]["number"], "SYB-TEST-0001");
    for pending in ["attendance", "certificates", "exam"] {
        assert_eq!(d["sections"][pending]["status"], "pending", "{d}");
    }
    let (_, lects) = w.regulator.get("/api/supervision/lecturers").await;
    assert_eq!(lects.as_array().unwrap().len(), 1);
    assert_eq!(far.get("/api/supervision/lecturers").await.1, json!([]));

    // Live rooms: none until the class goes live; then listed, nobody in it yet (the
    // counts of people connected are tested over WebSockets in tests/signaling.rs).
    assert_eq!(w.regulator.get("/api/supervision/rooms").await.1, json!([]));
    let (st, b) = w
        .admin
        .put(
            &format!("/api/classes/{id}/assistants"),
            json!({"assistant_ids": w.assistant_ids}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    for (c, verb) in [
        (&w.admin, "submit"),
        (&w.regulator, "file"),
        (&w.lecturer, "start"),
    ] {
        let (st, b) = c
            .post(&format!("/api/classes/{id}/{verb}"), json!(null))
            .await;
        assert_eq!(st, StatusCode::OK, "{verb}: {b}");
    }
    let (_, rooms) = w.regulator.get("/api/supervision/rooms").await;
    assert_eq!(rooms[0]["class_id"], id);
    assert_eq!(rooms[0]["enrolled"], 2);
    assert_eq!(rooms[0]["online"], 0);
    assert_eq!(far.get("/api/supervision/rooms").await.1, json!([]));

    // Backups through the API, verified on the bureau's side with the served public key.
    let out = s.dir.path().join("backups/2026-11");
    make_backup(&s, &out).await;
    let (st, list) = w.regulator.get("/api/backups").await;
    assert_eq!(st, StatusCode::OK, "{list}");
    assert_eq!(list[0]["label"], "2026-11");
    let files: Vec<String> = list[0]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f.as_str().unwrap().to_string())
        .collect();
    assert!(files.contains(&"tables/users.jsonl".to_string()));
    let (_, keys) = w.regulator.get("/api/backups/public-keys").await;
    let pubkey = keys[0]["public_key"].as_str().unwrap().to_string();
    let bureau = tempfile::tempdir().unwrap();
    let copy = bureau.path().join("2026-11");
    for f in &files {
        let url = format!(
            "{}/api/backups/2026-11/files/{}",
            s.base,
            f.replace('/', "%2F")
        );
        let res = w
            .regulator
            .http
            .get(url)
            .bearer_auth(w.regulator.token.as_ref().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{f}");
        let p = copy.join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, res.bytes().await.unwrap()).unwrap();
    }
    let key = PublicKeys::single(ketang::integrity::signing::parse_public_key(&pubkey).unwrap());
    backup::verify_path(&copy, &key, KeyChoice::Pinned).unwrap();
    // Only listed files can be fetched.
    let (st, _) = w
        .regulator
        .get("/api/backups/2026-11/files/..%2F..%2Fkeys%2Fsigning.key")
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // Downloads and every regulator request are in the audit log, and the log verifies.
    let n: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'backup.download'")
            .fetch_one(s.store().pool())
            .await
            .unwrap();
    assert_eq!(n, files.len() as i64);
    let accesses: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = 'regulator.access'")
            .fetch_one(s.store().pool())
            .await
            .unwrap();
    assert!(accesses >= 10 + files.len() as i64, "{accesses}");
    assert!(verify_log(s.store()).await.is_ok());
    s.stop().await;
}
on_both_engines!(regulator_reads_and_backup_downloads);

/// Entries written before migration 0004 are chained once, by whichever comes first (start-up
/// or the first append); a plain row slipped in afterwards is never adopted.
async fn pre_chain_entries_are_adopted_once(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let url = fresh_database(engine, dir.path()).await;
    let store = Store::connect(&url).await.unwrap();
    // The database as the foundation release left it: only migration 0001.
    let sub = if engine == Engine::Sqlite {
        "sqlite"
    } else {
        "postgres"
    };
    let only_first = dir.path().join("m");
    std::fs::create_dir_all(&only_first).unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("migrations")
        .join(sub);
    std::fs::copy(
        src.join("0001_foundation.sql"),
        only_first.join("0001_foundation.sql"),
    )
    .unwrap();
    sqlx::migrate::Migrator::new(only_first.as_path())
        .await
        .unwrap()
        .run(store.pool())
        .await
        .unwrap();
    for i in 0..4 {
        sqlx::query(
            "INSERT INTO audit_log (at, actor_role, action, target_kind, target_id, detail) \
             VALUES ($1, 'admin', 'class.create', 'class', $2, '{}')",
        )
        .bind(1_700_000_000_000i64 + i)
        .bind(i.to_string())
        .execute(store.pool())
        .await
        .unwrap();
    }
    store.migrate().await.unwrap();
    // No start-up sealing: the first append adopts the old entries before itself.
    append(&store, 2, "new").await;
    assert_eq!(verify_log(&store).await, Ok(6));
    let first: (i64, String) = sqlx::query_as("SELECT seq, action FROM audit_log WHERE id = 1")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_eq!(first, (1, "class.create".to_string()));
    // Start-up sealing again is a no-op.
    let mut c = store.conn().await.unwrap();
    assert_eq!(audit::seal_unchained(&mut c).await.unwrap(), 0);
    drop(c);
    // A plain row inserted now stays unchained and is reported, also after a "restart".
    exec(&store, "INSERT INTO audit_log (at, action, target_kind, detail) VALUES (1, 'forged', 'class', '{}')").await;
    let mut c = store.conn().await.unwrap();
    audit::seal_unchained(&mut c).await.unwrap();
    drop(c);
    let e = verify_log(&store).await.unwrap_err();
    assert!(e.contains("is not chained"), "{e}");
    store.pool().close().await;
}
on_both_engines!(pre_chain_entries_are_adopted_once);
