//! The HTTP API end to end, against real SQLite and real PostgreSQL: registration, roster
//! import, the filing lifecycle, bad input, login throttling, encryption at rest.

mod common;

use common::*;
use reqwest::{Method, StatusCode};
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

fn codes(errors: &Value) -> Vec<(String, String)> {
    errors
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_string(),
                e["code"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect()
}

async fn registration(engine: Engine) {
    let s = TestServer::start(engine).await;
    let w = world(&s, 0).await;
    let anon = s.client();
    let (st, body) = anon
        .post("/api/register", common::registration(w.institution_id, 1))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let student_id = body["user_id"].as_i64().unwrap();
    assert_eq!(body["username"], "13800000001");

    let student = s.login("13800000001", "student-pass-1").await;
    let (st, me) = student.get(&format!("/api/students/{student_id}")).await;
    assert_eq!(st, StatusCode::OK, "{me}");
    let id = id_number(1);
    assert_eq!(
        me["id_number_masked"],
        format!("{}********{}", &id[..6], &id[14..])
    );
    assert_eq!(me["complete"], true);
    // The admin of the institution sees the record; another institution's admin does not.
    assert_eq!(
        w.admin.get(&format!("/api/students/{student_id}")).await.0,
        StatusCode::OK
    );
    let other = s.login("other-admin", "password-123").await;
    assert_eq!(
        other.get(&format!("/api/students/{student_id}")).await.0,
        StatusCode::NOT_FOUND
    );

    // Same ID number again (different mobile): conflict, nothing written.
    let users_before = s.count("users").await;
    let mut again = common::registration(w.institution_id, 1);
    again["mobile"] = json!("13700000009");
    let (st, body) = anon.post("/api/register", again).await;
    assert_eq!(st, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["code"], "id_number_registered");

    // Everything wrong at once: every problem is reported, nothing is written.
    let mut bad = common::registration(w.institution_id, 2);
    let mut id = id_number(2);
    let last = if id.ends_with('0') { '1' } else { '0' };
    id.pop();
    id.push(last);
    bad["id_number"] = json!(id);
    bad["name"] = json!("A1");
    bad["mobile"] = json!("12345");
    bad["household_place"] = json!("");
    bad["password"] = json!("short");
    bad["photo"] = json!(jpeg_b64(40, 40));
    bad["id_back"] = json!("not base64!!");
    let (st, body) = anon.post("/api/register", bad).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let got = codes(&body["errors"]);
    for (field, code) in [
        ("name", ""),
        ("id_number", "bad_check_digit"),
        ("mobile", ""),
        ("household_place", ""),
        ("password", "weak_password"),
        ("photo", "image_too_small"),
        ("id_back", "bad_base64"),
    ] {
        assert!(
            got.iter()
                .any(|(f, c)| f == field && (code.is_empty() || c == code)),
            "missing {field}/{code} in {got:?}"
        );
    }
    assert_eq!(s.count("users").await, users_before);
    assert_eq!(s.count("student_records").await, 1);
    assert_eq!(s.count("student_files").await, 3);

    // Lower-case x is accepted and normalised.
    let mut x_body = common::registration(w.institution_id, 3);
    let mut idx = String::new();
    for seq in 3..2000u16 {
        let candidate = id_number(seq);
        if candidate.ends_with('X') {
            idx = candidate;
            break;
        }
    }
    x_body["id_number"] = json!(idx.to_lowercase());
    let (st, body) = anon.post("/api/register", x_body).await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    s.stop().await;
}
on_both_engines!(registration);

async fn create_class(w: &World, name: &str, start_day: i64) -> i64 {
    let (st, body) = w
        .admin
        .post(
            "/api/classes",
            json!({
                "name": name,
                "course_type": "SYB",
                "lecturer_id": w.lecturer_id,
                "sessions": [
                    {"starts_at": at(start_day, 0), "ends_at": at(start_day, 3)},
                    {"starts_at": at(start_day + 1, 0), "ends_at": at(start_day + 1, 3)},
                ],
            }),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    body["id"].as_i64().unwrap()
}

async fn roster_import(engine: Engine) {
    let s = TestServer::start(engine).await;
    let w = world(&s, 2).await;
    let class = create_class(&w, "SYB 第一期", 20).await;
    let path = format!("/api/classes/{class}/roster");

    // Three bad rows among good ones (one with two bad cells) and a duplicate: all reported.
    let mut csv = roster_csv(5, 100);
    csv.push_str(&format!(
        "王五,{},139123,河南省开封市\n",
        "410204199001011234"
    ));
    csv.push_str("李四,12345,13912345678,河\n");
    csv.push_str(&format!(
        "赵六,{},13912345679,河南省开封市\n",
        id_number(100)
    ));
    let users_before = s.count("users").await;
    let (st, body) = w
        .admin
        .raw(Method::POST, &path, "text/csv", csv.into_bytes())
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "roster_rejected");
    let errs: Vec<(u64, String)> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["row"].as_u64().unwrap(),
                e["field"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for want in [
        (7, "id_number"),
        (7, "mobile"),
        (8, "id_number"),
        (8, "household_place"),
        (9, "id_number"),
    ] {
        assert!(
            errs.iter().any(|(r, f)| *r == want.0 && f == want.1),
            "missing {want:?} in {errs:?}"
        );
    }
    assert_eq!(s.count("users").await, users_before, "nothing written");
    assert_eq!(s.count("enrollments").await, 0);

    // A good CSV (UTF-8 with BOM) imports every row and creates accounts.
    let mut good = vec![0xEF, 0xBB, 0xBF];
    good.extend_from_slice(roster_csv(30, 100).as_bytes());
    let (st, body) = w.admin.raw(Method::POST, &path, "text/csv", good).await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    assert_eq!(body["enrolled"], 30);
    assert_eq!(body["created"].as_array().unwrap().len(), 30);
    let first = &body["created"][0];
    let student = s
        .login(
            first["username"].as_str().unwrap(),
            first["initial_password"].as_str().unwrap(),
        )
        .await;
    let (_, me) = student.get("/api/me").await;
    assert_eq!(me["must_change_password"], true);
    // Until the one-time password is changed, nothing else is allowed.
    let (st, body) = student.get("/api/classes").await;
    assert_eq!(
        (st, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("password_change_required"))
    );
    let (st, body) = student
        .post(
            "/api/auth/password",
            json!({"current_password": first["initial_password"], "new_password": "my-own-password"}),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{body}");
    assert_eq!(student.get("/api/classes").await.0, StatusCode::OK);

    // Another institution cannot pull our students into its class, and a row naming a
    // different person under a registered ID number is refused.
    let other = s.login("other-admin", "password-123").await;
    let (st, other_lecturer) = other
        .post("/api/users", json!({"username": "other-lecturer", "password": "password-123", "role": "lecturer", "display_name": "别校讲师"}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{other_lecturer}");
    let (st, oc) = other
        .post("/api/classes", json!({"name": "别校班", "course_type": "GYB", "lecturer_id": other_lecturer["id"], "sessions": []}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{oc}");
    let steal = format!(
        "姓名,身份证号,手机号,户籍所在地\n随便,{},13700000001,河南省郑州市\n",
        id_number(100)
    );
    let (st, body) = other
        .raw(
            Method::POST,
            &format!("/api/classes/{}/roster", oc["id"]),
            "text/csv",
            steal.into_bytes(),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["code"], "other_institution");
    let (_, list) = other
        .get(&format!("/api/classes/{}/students", oc["id"]))
        .await;
    assert_eq!(list, json!([]));
    let mismatch = format!(
        "姓名,身份证号,手机号,户籍所在地\n冒名顶替,{},13700000002,河南省开封市\n",
        id_number(100)
    );
    let class2 = create_class(&w, "SYB 第一期 B", 20).await;
    let (st, body) = w
        .admin
        .raw(
            Method::POST,
            &format!("/api/classes/{class2}/roster"),
            "text/csv",
            mismatch.into_bytes(),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["code"], "name_mismatch");

    // XLSX: more students; one already registered is reused, not duplicated.
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    for (c, h) in ["姓名", "身份证号", "手机号", "户籍所在地"]
        .iter()
        .enumerate()
    {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for (r, i) in (130..145u16).enumerate() {
        let row = r as u32 + 1;
        sheet
            .write_string(row, 0, format!("学员{i}号").replace(char::is_numeric, "甲"))
            .unwrap();
        sheet.write_string(row, 1, id_number(i)).unwrap();
        sheet
            .write_number(row, 2, format!("139{:08}", i).parse::<f64>().unwrap())
            .unwrap();
        sheet.write_string(row, 3, "河南省开封市").unwrap();
    }
    let xlsx = book.save_to_buffer().unwrap();
    let (st, body) = w
        .admin
        .raw(
            Method::POST,
            &path,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            xlsx.clone(),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    assert_eq!(body["enrolled"], 15);
    // The same file again: every row is already enrolled; all reported, nothing written.
    let (st, body) = w
        .admin
        .raw(
            Method::POST,
            &path,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            xlsx,
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"].as_array().unwrap().len(), 15);
    assert_eq!(s.count("enrollments").await, 45);

    // The class's student list shows masked ID numbers only.
    let (st, list) = w
        .lecturer
        .get(&format!("/api/classes/{class}/students"))
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 45);
    let text = list.to_string();
    assert!(!text.contains(&id_number(100)));
    s.stop().await;
}
on_both_engines!(roster_import);

async fn filing_lifecycle(engine: Engine) {
    let s = TestServer::start(engine).await;
    let w = world(&s, 2).await;
    // Starts in 2 days: too late; 45 students need 2 assistants, none assigned.
    let class = create_class(&w, "SYB 第二期", 2).await;
    let (st, body) = w
        .admin
        .raw(
            Method::POST,
            &format!("/api/classes/{class}/roster"),
            "text/csv",
            roster_csv(45, 300).into_bytes(),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let (st, body) = w
        .admin
        .post(&format!("/api/classes/{class}/submit"), json!(null))
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let codes: Vec<&str> = body["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["code"].as_str().unwrap())
        .collect();
    assert!(codes.contains(&"submitted_too_late"), "{codes:?}");
    assert!(codes.contains(&"assistants_too_few"), "{codes:?}");
    let (_, c) = w.admin.get(&format!("/api/classes/{class}")).await;
    assert_eq!(c["status"], "draft");

    // Fix both, submit.
    let (st, _) = w
        .admin
        .put(
            &format!("/api/classes/{class}/sessions"),
            json!({"sessions": [{"starts_at": at(21, 0), "ends_at": at(21, 3)}]}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = w
        .admin
        .put(
            &format!("/api/classes/{class}/assistants"),
            json!({"assistant_ids": w.assistant_ids}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    // Only a filed class can go live.
    let (st, body) = w
        .lecturer
        .post(&format!("/api/classes/{class}/start"), json!(null))
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{body}");
    let (st, body) = w
        .admin
        .post(&format!("/api/classes/{class}/submit"), json!(null))
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "submitted");
    // Submitted classes are frozen; the institution cannot file its own class.
    let (st, _) = w
        .admin
        .put(
            &format!("/api/classes/{class}/assistants"),
            json!({"assistant_ids": []}),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_eq!(
        w.admin
            .post(&format!("/api/classes/{class}/file"), json!(null))
            .await
            .0,
        StatusCode::FORBIDDEN
    );

    // The bureau returns it with a reason, the institution resubmits, the bureau files it.
    let (st, body) = w
        .regulator
        .post(
            &format!("/api/classes/{class}/return"),
            json!({"reason": "教学计划缺失"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "draft");
    assert_eq!(body["return_reason"], "教学计划缺失");
    let (st, _) = w
        .admin
        .post(&format!("/api/classes/{class}/submit"), json!(null))
        .await;
    assert_eq!(st, StatusCode::OK);
    let far = s.login("far-regulator", "password-123").await;
    assert_eq!(
        far.post(&format!("/api/classes/{class}/file"), json!(null))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (st, body) = w
        .regulator
        .post(&format!("/api/classes/{class}/file"), json!(null))
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "filed");
    let (st, body) = w
        .lecturer
        .post(&format!("/api/classes/{class}/start"), json!(null))
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "live");

    // Every state change is in the audit log, with who did it.
    let (st, log) = w
        .regulator
        .get(&format!("/api/audit?target_kind=class&target_id={class}"))
        .await;
    assert_eq!(st, StatusCode::OK);
    let actions: Vec<(&str, &str)> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap(),
                e["actor_role"].as_str().unwrap(),
            )
        })
        .collect();
    for want in [
        ("class.submit", "admin"),
        ("class.return", "regulator"),
        ("class.file", "regulator"),
        ("class.start", "lecturer"),
    ] {
        assert!(actions.contains(&want), "{want:?} not in {actions:?}");
    }
    assert_eq!(w.admin.get("/api/audit").await.0, StatusCode::FORBIDDEN);
    s.stop().await;
}
on_both_engines!(filing_lifecycle);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lecturer_capacity_counts_other_classes_at_overlapping_times() {
    let s = TestServer::start(Engine::Sqlite).await;
    let w = world(&s, 8).await;
    let a = create_class(&w, "A 班", 20).await;
    let b = create_class(&w, "B 班", 20).await;
    let c = create_class(&w, "C 班", 40).await;
    for (class, seq) in [(a, 1000u16), (b, 2000), (c, 3000)] {
        let (st, body) = w
            .admin
            .raw(
                Method::POST,
                &format!("/api/classes/{class}/roster"),
                "text/csv",
                roster_csv(120, seq).into_bytes(),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{body}");
    }
    let (st, _) = w
        .admin
        .put(
            &format!("/api/classes/{a}/assistants"),
            json!({"assistant_ids": w.assistant_ids[..4]}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = w
        .admin
        .put(
            &format!("/api/classes/{b}/assistants"),
            json!({"assistant_ids": w.assistant_ids[4..8]}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = w
        .admin
        .put(
            &format!("/api/classes/{c}/assistants"),
            json!({"assistant_ids": w.assistant_ids[..4]}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(
        w.admin
            .post(&format!("/api/classes/{a}/submit"), json!(null))
            .await
            .0,
        StatusCode::OK
    );
    // B overlaps A: 240 students at once > 200.
    let (st, body) = w
        .admin
        .post(&format!("/api/classes/{b}/submit"), json!(null))
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        body["violations"][0]["code"], "lecturer_over_capacity",
        "{body}"
    );
    // C is three weeks later: no overlap, fine.
    let (st, body) = w
        .admin
        .post(&format!("/api/classes/{c}/submit"), json!(null))
        .await;
    assert_eq!(st, StatusCode::OK, "{body}");
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_problem_json_and_writes_nothing() {
    let s = TestServer::start(Engine::Sqlite).await;
    let w = world(&s, 0).await;
    let classes_before = s.count("classes").await;
    let url = format!("{}/api/classes", s.base);
    let token = w.admin.token.clone().unwrap();
    let http = reqwest::Client::new();
    let send = |body: Vec<u8>, ct: &'static str| {
        http.post(&url)
            .bearer_auth(&token)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let problem = |r: reqwest::Response| async move {
        let st = r.status();
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let v: Value = r.json().await.unwrap();
        (st, v["code"].as_str().unwrap().to_string())
    };
    // Malformed JSON.
    let (st, code) = problem(
        send(b"{\"name\": ".to_vec(), "application/json")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (st, code.as_str()),
        (StatusCode::BAD_REQUEST, "malformed_json")
    );
    // Unknown field.
    let body = json!({"name": "x", "course_type": "SYB", "lecturer_id": w.lecturer_id, "sessions": [], "price": 1});
    let (st, code) = problem(
        send(body.to_string().into_bytes(), "application/json")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (st, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body")
    );
    // Wrong type.
    let body = json!({"name": "x", "course_type": "MBA", "lecturer_id": w.lecturer_id});
    let (st, code) = problem(
        send(body.to_string().into_bytes(), "application/json")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (st, code.as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "invalid_body")
    );
    // Wrong content type.
    let body = json!({"name": "x", "course_type": "SYB", "lecturer_id": w.lecturer_id});
    let (st, code) = problem(
        send(body.to_string().into_bytes(), "text/plain")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (st, code.as_str()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
    );
    // Oversized (the JSON limit is 64 KiB).
    let big =
        json!({"name": "x".repeat(200_000), "course_type": "SYB", "lecturer_id": w.lecturer_id});
    let (st, code) = problem(
        send(big.to_string().into_bytes(), "application/json")
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (st, code.as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large")
    );
    // A roster that is not CSV or XLSX, and one of the wrong media type.
    let class = create_class(&w, "D 班", 20).await;
    let (st, body) = w
        .admin
        .raw(
            Method::POST,
            &format!("/api/classes/{class}/roster"),
            "application/octet-stream",
            vec![0, 159, 146, 150, 0, 1, 2],
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (st, _) = w
        .admin
        .raw(
            Method::POST,
            &format!("/api/classes/{class}/roster"),
            "image/png",
            b"a,b".to_vec(),
        )
        .await;
    assert_eq!(st, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // Unknown paths and methods are problems too.
    assert_eq!(w.admin.get("/api/nope").await.0, StatusCode::NOT_FOUND);
    let (st, _) = w
        .admin
        .raw(Method::DELETE, "/api/classes", "application/json", vec![])
        .await;
    assert_eq!(st, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(s.count("classes").await, classes_before + 1);
    assert_eq!(s.count("enrollments").await, 0);
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_is_throttled_after_repeated_failures() {
    let s = TestServer::start_with(Engine::Sqlite, |c| c.auth.max_failures = 3).await;
    world(&s, 0).await;
    let c = s.client();
    for _ in 0..2 {
        let (st, body) = c
            .post(
                "/api/auth/login",
                json!({"username": "admin", "password": "wrong-password"}),
            )
            .await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["code"], "invalid_credentials");
    }
    let (st, body) = c
        .post(
            "/api/auth/login",
            json!({"username": "admin", "password": "wrong-password"}),
        )
        .await;
    assert_eq!(st, StatusCode::TOO_MANY_REQUESTS, "{body}");
    // Locked: even the right password is refused, with Retry-After.
    let res = reqwest::Client::new()
        .post(format!("{}/api/auth/login", s.base))
        .json(&json!({"username": "admin", "password": "password-123"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(
        res.headers()["retry-after"]
            .to_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 0
    );
    // Other accounts are unaffected; the failures are counted in /metrics.
    s.login("lecturer", "password-123").await;
    let metrics = reqwest::get(format!("{}/metrics", s.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("login_failures_total{reason=\"bad_credentials\"} 3"),
        "{metrics}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cookie_sessions_and_logout() {
    let s = TestServer::start(Engine::Sqlite).await;
    world(&s, 0).await;
    let http = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();
    let res = http
        .post(format!("{}/api/auth/login", s.base))
        .json(&json!({"username": "admin", "password": "password-123"}))
        .send()
        .await
        .unwrap();
    let cookie = res.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let me = http.get(format!("{}/api/me", s.base)).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let out = http
        .post(format!("{}/api/auth/logout", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), StatusCode::NO_CONTENT);
    let me = http.get(format!("{}/api/me", s.base)).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    s.stop().await;
}

/// Files under `dir` (recursively) that contain `needle`.
fn files_containing(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let p = entry.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    hits.push(p);
                }
            }
        }
    }
    hits
}

async fn encryption_at_rest(engine: Engine) {
    let s = TestServer::start(engine).await;
    let w = world(&s, 0).await;
    let (st, body) = s
        .client()
        .post("/api/register", common::registration(w.institution_id, 77))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let id = id_number(77);
    let photo = face::image::synthetic(300, 400, face::image::ImageFormat::Jpeg);
    match engine {
        Engine::Sqlite => {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(s.store().pool())
                .await
                .unwrap();
            let hits = files_containing(s.dir.path(), id.as_bytes());
            assert!(hits.is_empty(), "ID number in clear in {hits:?}");
            assert!(
                files_containing(s.dir.path(), &photo[..64]).is_empty(),
                "photo in clear"
            );
            // …while the file does hold the (masked) record.
            assert!(!files_containing(s.dir.path(), "河南省开封市鼓楼区".as_bytes()).is_empty());
        }
        Engine::Postgres => {
            let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM student_records WHERE id_number_masked LIKE '%' AND position(convert_to($1, 'UTF8') in id_number_enc) = 0")
                .bind(&id)
                .fetch_one(s.store().pool())
                .await
                .unwrap();
            assert_eq!(n, 1);
            let dump: String =
                sqlx::query_scalar("SELECT string_agg(t::text, '|') FROM student_records t")
                    .fetch_one(s.store().pool())
                    .await
                    .unwrap();
            assert!(!dump.contains(&id), "ID number in clear in a row");
        }
    }
    // Decryption works through the store.
    let mut conn = s.store().conn().await.unwrap();
    let uid = body["user_id"].as_i64().unwrap();
    let revealed = ketang::store::students::reveal_id_number(&mut conn, &s.state.keys, uid)
        .await
        .unwrap();
    assert_eq!(revealed.as_deref(), Some(id.as_str()));
    drop(conn);
    s.stop().await;
}
on_both_engines!(encryption_at_rest);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_speaks_the_versioned_protocol_to_logged_in_users() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message;
    let s = TestServer::start(Engine::Sqlite).await;
    let w = world(&s, 0).await;
    let ws_url = format!("{}/ws", s.base.replace("http://", "ws://"));
    // Without a token the upgrade is refused.
    let err = tokio_tungstenite::connect_async(&ws_url).await.unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
    let mut req = ws_url.clone().into_client_request().unwrap();
    req.headers_mut().insert(
        "authorization",
        format!("Bearer {}", w.regulator.token.clone().unwrap())
            .parse()
            .unwrap(),
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    ws.send(Message::Text(r#"{"type":"hello","version":1}"#.into()))
        .await
        .unwrap();
    let reply = recv_json(&mut ws).await;
    assert_eq!(reply["type"], "welcome");
    assert_eq!(reply["role"], "regulator");
    ws.send(Message::Text(r#"{"type":"shout"}"#.into()))
        .await
        .unwrap();
    let reply = recv_json(&mut ws).await;
    assert_eq!(reply["type"], "error");
    assert_eq!(reply["code"], "unknown_type");
    ws.send(Message::Text(r#"{"type":"ping","id":9}"#.into()))
        .await
        .unwrap();
    let reply = recv_json(&mut ws).await;
    assert_eq!(reply, json!({"type": "pong", "id": 9}));
    s.stop().await;
}

async fn recv_json<S>(ws: &mut S) -> Value
where
    S: futures_util::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    use futures_util::StreamExt;
    match ws.next().await.unwrap().unwrap() {
        tokio_tungstenite::tungstenite::Message::Text(t) => serde_json::from_str(&t).unwrap(),
        other => panic!("unexpected {other:?}"),
    }
}
