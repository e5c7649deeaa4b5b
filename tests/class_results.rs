//! Exams, business plans, reports, results review, certificates, the roster notice and the
//! subsidy summary over HTTP, on real SQLite and PostgreSQL; the end-to-end test drives a
//! scripted class through the real ingestion path.

mod common;

use common::*;
use ketang::attendance::plan_file::sample_docx;
use ketang::filing::status::ClassStatus;
use ketang::store::classes::{self, CourseType, NewClass};
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

#[allow(dead_code)] // used by the end-to-end test
struct Student {
    id: i64,
    seq: u16,
    name: String,
    client: Client,
}

#[allow(dead_code)]
struct Class {
    id: i64,
    session: i64,
    students: Vec<Student>,
}

/// A live GYB class of registered students (real names, ID numbers, mobiles, photos).
async fn live_class(s: &TestServer, w: &World, names: &[&str]) -> Class {
    let mut students = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let seq = 10 + i as u16;
        let mut body = registration(w.institution_id, seq);
        body["name"] = json!(name);
        let (st, b) = s.client().post("/api/register", body).await;
        assert_eq!(st, StatusCode::CREATED, "{b}");
        let client = s.login(&format!("138{seq:08}"), "student-pass-1").await;
        students.push(Student {
            id: b["user_id"].as_i64().unwrap(),
            seq,
            name: name.to_string(),
            client,
        });
    }
    let mut tx = s.store().begin().await.unwrap();
    let id = classes::insert(
        &mut tx,
        &NewClass {
            institution_id: w.institution_id,
            name: "创业意识培训第1期",
            course_type: CourseType::Gyb,
            lecturer_id: w.lecturer_id,
        },
    )
    .await
    .unwrap();
    let start = chrono::Utc::now() - chrono::Duration::hours(1);
    let session = classes::add_session(&mut tx, id, start, start + chrono::Duration::hours(3))
        .await
        .unwrap();
    for st in &students {
        classes::enroll(&mut tx, id, st.id).await.unwrap();
    }
    classes::set_status(&mut tx, id, ClassStatus::Live, None)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    Class {
        id,
        session,
        students,
    }
}

async fn add_questions(w: &World) {
    for q in [
        json!({"course_type": "GYB", "kind": "single", "prompt": "创业第一步是？", "options": ["评估自己", "借钱", "辞职"], "answer": [0]}),
        json!({"course_type": "GYB", "kind": "multiple", "prompt": "企业类型有？", "options": ["个体工商户", "有限责任公司", "天气"], "answer": [0, 1]}),
        json!({"course_type": "GYB", "kind": "true_false", "prompt": "创业无需计划。", "answer": [1]}),
        json!({"course_type": "GYB", "kind": "single", "prompt": "营业执照由谁颁发？", "options": ["市场监管部门", "学校"], "answer": [0], "points": 2}),
    ] {
        let (st, b) = w.lecturer.post("/api/exam-questions", q).await;
        assert_eq!(st, StatusCode::CREATED, "{b}");
    }
}

/// Answers to a started attempt: all right, or all wrong.
fn answers(started: &Value, right: bool, key: &Value) -> Value {
    let mut out = serde_json::Map::new();
    for q in started["questions"].as_array().unwrap() {
        let id = q["id"].as_i64().unwrap();
        let k = key["questions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|k| k["id"] == id)
            .unwrap()["answer"]
            .clone();
        let a = if right {
            k
        } else {
            let n = q["options"].as_array().unwrap().len() as u64;
            let wrong: Vec<u64> = (0..n)
                .filter(|i| !k.as_array().unwrap().contains(&json!(i)))
                .take(1)
                .collect();
            json!(wrong)
        };
        out.insert(id.to_string(), a);
    }
    json!({ "answers": out })
}

async fn exam_and_plan_bad_input(engine: Engine) {
    let s = TestServer::start_with(engine, |c| c.attendance.exam.grace_secs = 0).await;
    let w = world(&s, 0).await;
    let c = live_class(&s, &w, &["张小明", "李雷"]).await;
    add_questions(&w).await;
    // An invalid question: every problem listed.
    let (st, b) = w
        .lecturer
        .post("/api/exam-questions", json!({"course_type": "GYB", "kind": "single", "prompt": "", "options": ["A"], "answer": [3]}))
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    assert!(b["errors"].as_array().unwrap().len() >= 3, "{b}");

    let (st, b) = w
        .lecturer
        .put(
            &format!("/api/classes/{}/exam", c.id),
            json!({"time_limit_secs": 60, "max_attempts": 1, "pass_mark": 60}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{b}");
    // The regulator reads questions with their answers.
    let (st, key) = w
        .regulator
        .get(&format!("/api/classes/{}/exam", c.id))
        .await;
    assert_eq!(st, StatusCode::OK, "{key}");
    assert_eq!(key["questions"].as_array().unwrap().len(), 4);
    assert!(key["questions"][0]["answer"].is_array());

    let student = &c.students[0].client;
    let (st, started) = student
        .post(&format!("/api/classes/{}/exam/attempts", c.id), json!(null))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{started}");
    assert!(
        started["questions"][0].get("answer").is_none(),
        "students never see the key"
    );
    // A second attempt while one runs.
    let (st, b) = student
        .post(&format!("/api/classes/{}/exam/attempts", c.id), json!(null))
        .await;
    assert_eq!(
        (st, b["code"].as_str()),
        (StatusCode::CONFLICT, Some("attempt_in_progress"))
    );
    // Answers after the time limit: move the deadline into the past.
    let attempt = started["attempt_id"].as_i64().unwrap();
    sqlx::query("UPDATE exam_attempts SET deadline_at = deadline_at - 61000 WHERE id = $1")
        .bind(attempt)
        .execute(s.store().pool())
        .await
        .unwrap();
    let (st, b) = student
        .post(
            &format!("/api/exam-attempts/{attempt}/answers"),
            answers(&started, true, &key),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{b}");
    assert_eq!(b["code"], "time_limit_exceeded");
    assert!(
        b["detail"].as_str().unwrap().contains("not accepted"),
        "{b}"
    );
    // The attempt is used up: a second one is beyond the limit of 1.
    let (st, b) = student
        .post(&format!("/api/classes/{}/exam/attempts", c.id), json!(null))
        .await;
    assert_eq!(st, StatusCode::CONFLICT, "{b}");
    assert_eq!(b["code"], "attempt_limit_reached");

    // The other student passes in time.
    let other = &c.students[1].client;
    let (_, started) = other
        .post(&format!("/api/classes/{}/exam/attempts", c.id), json!(null))
        .await;
    let attempt = started["attempt_id"].as_i64().unwrap();
    let (st, r) = other
        .post(
            &format!("/api/exam-attempts/{attempt}/answers"),
            answers(&started, true, &key),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    assert_eq!(
        (r["score"].as_u64(), r["passed"].as_bool()),
        (Some(100), Some(true))
    );
    // Answering twice is refused.
    let (st, b) = other
        .post(
            &format!("/api/exam-attempts/{attempt}/answers"),
            answers(&started, true, &key),
        )
        .await;
    assert_eq!(
        (st, b["code"].as_str()),
        (StatusCode::CONFLICT, Some("attempt_closed"))
    );
    // The regulator sees every attempt with answers.
    let (_, all) = w
        .regulator
        .get(&format!("/api/classes/{}/exam/attempts", c.id))
        .await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    assert!(all
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["status"] == "expired" && a["score"].is_null()));

    // Business plans: not really a PDF (by content), a broken PDF, a ZIP that is no DOCX.
    let up = |bytes: Vec<u8>, ctype: &'static str| {
        let cl = student.clone();
        let path = format!("/api/classes/{}/business-plan?filename=plan.pdf", c.id);
        async move { cl.raw(Method::POST, &path, ctype, bytes).await }
    };
    let (st, b) = up(
        b"this is a text file named plan.pdf".to_vec(),
        "application/pdf",
    )
    .await;
    assert_eq!(
        (st, b["code"].as_str()),
        (StatusCode::UNSUPPORTED_MEDIA_TYPE, Some("not_pdf_or_docx"))
    );
    let (st, b) = up(b"%PDF-1.4 truncated".to_vec(), "application/pdf").await;
    assert_eq!(st, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{b}");
    assert!(b["detail"].as_str().unwrap().contains("truncated"));
    assert_eq!(s.count("business_plans").await, 0);
    // Too large.
    let mut big = b"%PDF-1.4\n".to_vec();
    big.resize(10 * 1024 * 1024 + 10, b' ');
    big.extend_from_slice(b"%%EOF");
    let (st, b) = up(big, "application/pdf").await;
    assert_eq!(
        (st, b["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("plan_too_large"))
    );

    // A real DOCX; then rejection with comment, resubmission, approval.
    let (st, p1) = up(sample_docx("我的创业计划"), "application/octet-stream").await;
    assert_eq!(st, StatusCode::CREATED, "{p1}");
    assert_eq!(
        p1["content_type"],
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
    );
    let (st, b) = up(sample_docx("again"), "application/octet-stream").await;
    assert_eq!(
        (st, b["code"].as_str()),
        (StatusCode::CONFLICT, Some("plan_awaiting_review"))
    );
    let p1id = p1["id"].as_i64().unwrap();
    let (st, b) = w
        .lecturer
        .post(
            &format!("/api/business-plans/{p1id}/decision"),
            json!({"approve": false}),
        )
        .await;
    assert_eq!(
        (st, b["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("comment_required"))
    );
    let (st, b) = w
        .admin
        .post(
            &format!("/api/business-plans/{p1id}/decision"),
            json!({"approve": true}),
        )
        .await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{b}");
    let (st, b) = w
        .lecturer
        .post(
            &format!("/api/business-plans/{p1id}/decision"),
            json!({"approve": false, "comment": "缺少财务预测"}),
        )
        .await;
    assert_eq!(
        (st, b["status"].as_str()),
        (StatusCode::OK, Some("rejected"))
    );
    let (st, p2) = up(
        b"%PDF-1.7\n1 0 obj<<>>endobj\n%%EOF\n".to_vec(),
        "text/plain",
    )
    .await;
    assert_eq!(st, StatusCode::CREATED, "{p2}");
    assert_eq!(
        (p2["version"].as_u64(), p2["content_type"].as_str()),
        (Some(2), Some("application/pdf"))
    );
    let (st, _) = w
        .lecturer
        .post(
            &format!("/api/business-plans/{}/decision", p2["id"]),
            json!({"approve": true, "comment": "很好"}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, b) = up(sample_docx("third"), "application/octet-stream").await;
    assert_eq!(
        (st, b["code"].as_str()),
        (StatusCode::CONFLICT, Some("plan_already_approved"))
    );
    let (st, b) = w
        .lecturer
        .post(
            &format!("/api/business-plans/{p1id}/decision"),
            json!({"approve": true}),
        )
        .await;
    assert_eq!(
        (st, b["code"].as_str()),
        (StatusCode::CONFLICT, Some("plan_not_awaiting_review"))
    );
    // Eligibility follows the new inputs at once.
    let (_, summary) = student
        .get(&format!("/api/classes/{}/attendance", c.id))
        .await;
    let rows = summary["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1, "a student sees only their own row");
    assert_eq!(rows[0]["plan"], "approved");
    let reasons: Vec<&str> = rows[0]["verdict"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["reason"].as_str())
        .collect();
    assert_eq!(
        reasons,
        vec![
            "no live time was recorded for the class",
            "no face check was scheduled during live time",
            "exam not taken"
        ]
    );
    s.stop().await;
}
on_both_engines!(exam_and_plan_bad_input);
