//! Exams, business plans, reports, results review, certificates, the roster notice and the
//! subsidy summary over HTTP, on real SQLite and PostgreSQL; the end-to-end test drives a
//! scripted class through the real ingestion path.

mod common;

use common::*;
use ketang::attendance::events::{
    AttendanceEvent, ClassSession, FaceOutcome, FlowState, VideoState,
};
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

struct Student {
    id: i64,
    seq: u16,
    name: String,
    client: Client,
}

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

const MIN: i64 = 60_000;

/// A scripted class through the real ingestion path to reports, eligibility, results
/// review, certificates, the masked roster notice and the subsidy summary.
async fn end_to_end(engine: Engine) {
    let s = TestServer::start(engine).await;
    let w = world(&s, 0).await;
    let c = live_class(&s, &w, &["张小明", "欧阳振华", "李雷", "王芳", "赵四"]).await;
    add_questions(&w).await;
    let ids: Vec<i64> = c.students.iter().map(|s| s.id).collect();
    let (a, b, cc, d, e) = (ids[0], ids[1], ids[2], ids[3], ids[4]);
    let room = ClassSession {
        class_id: c.id,
        session_id: c.session,
    };
    let t0 = chrono::Utc::now().timestamp_millis() - 3 * 60 * MIN;
    let video = |state, m: i64| AttendanceEvent::LecturerVideo {
        session: room,
        state,
        at: t0 + m * MIN,
    };
    let flow = |student_id, state, m: i64| AttendanceEvent::SubscriberFlow {
        student_id,
        session: room,
        state,
        at: t0 + m * MIN,
    };
    let mut script = vec![
        // Everyone but b is connected before the lecture starts.
        flow(a, FlowState::Flowing, -5),
        flow(cc, FlowState::Flowing, -1),
        flow(d, FlowState::Flowing, 0),
        flow(e, FlowState::Flowing, 0),
        video(VideoState::Receiving, 0),
        // a's reconnect report while flowing: must not double count.
        flow(a, FlowState::Flowing, 30),
        // b joins at 24 min: exactly 96 of 120 live minutes = 80%.
        flow(b, FlowState::Flowing, 24),
        // The lecturer pauses 60–70; b drops and comes back inside the pause.
        video(VideoState::Stopped, 60),
        flow(b, FlowState::Stalled, 62),
        flow(b, FlowState::Flowing, 68),
        video(VideoState::Receiving, 70),
        // c leaves at 101 min: 60 + 31 = 91 of 120 = 75.8%.
        flow(cc, FlowState::Stalled, 101),
        video(VideoState::Stopped, 130),
        flow(a, FlowState::Stalled, 135),
        flow(b, FlowState::Stalled, 130),
        flow(d, FlowState::Stalled, 130),
        flow(e, FlowState::Stalled, 131),
    ];
    // A face check every 5 minutes of live time, plus one at 127: 25 each. b misses 5
    // (20/25 = exactly 80%), d misses 6 (19/25), the others match all. One check during
    // the pause does not count.
    let live_minutes: Vec<i64> = (0..60)
        .step_by(5)
        .chain((70..130).step_by(5))
        .chain([127])
        .collect();
    assert_eq!(live_minutes.len(), 25);
    for (k, m) in live_minutes.iter().enumerate() {
        for &st in &ids {
            let outcome = if (st == b && k < 5) || (st == d && k < 6) {
                if k % 2 == 0 {
                    FaceOutcome::CameraOff
                } else {
                    FaceOutcome::Absent
                }
            } else {
                FaceOutcome::Match
            };
            script.push(AttendanceEvent::FaceCheck {
                student_id: st,
                session: room,
                scheduled_at: t0 + m * MIN + 1000,
                outcome,
            });
        }
    }
    script.push(AttendanceEvent::FaceCheck {
        student_id: d,
        session: room,
        scheduled_at: t0 + 65 * MIN,
        outcome: FaceOutcome::Absent,
    });
    let tx = s.state.attendance.sender();
    for ev in script {
        tx.send(ev).await.unwrap();
    }
    tx.flush().await.unwrap();

    // Exam: e answers everything wrong; the others everything right.
    let (_, key) = w.lecturer.get(&format!("/api/classes/{}/exam", c.id)).await;
    for st in &c.students {
        let (code, started) = st
            .client
            .post(&format!("/api/classes/{}/exam/attempts", c.id), json!(null))
            .await;
        assert_eq!(code, StatusCode::CREATED, "{started}");
        let attempt = started["attempt_id"].as_i64().unwrap();
        let (code, r) = st
            .client
            .post(
                &format!("/api/exam-attempts/{attempt}/answers"),
                answers(&started, st.id != e, &key),
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{r}");
    }
    // Plans: e's is rejected, the others approved.
    for st in &c.students {
        let (code, p) = st
            .client
            .raw(
                Method::POST,
                &format!("/api/classes/{}/business-plan", c.id),
                "application/pdf",
                b"%PDF-1.7\n%%EOF\n".to_vec(),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED, "{p}");
        let approve = st.id != e;
        let (code, _) = w
            .lecturer
            .post(
                &format!("/api/business-plans/{}/decision", p["id"]),
                json!({"approve": approve, "comment": "评语"}),
            )
            .await;
        assert_eq!(code, StatusCode::OK);
    }

    let (code, summary) = w
        .admin
        .get(&format!("/api/classes/{}/attendance", c.id))
        .await;
    assert_eq!(code, StatusCode::OK, "{summary}");
    assert_eq!(summary["live_ms"], 120 * MIN);
    let row = |id: i64| {
        summary["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["student_id"] == id)
            .unwrap()
            .clone()
    };
    let reasons = |id: i64| -> Vec<String> {
        row(id)["verdict"]["checks"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|c| c["reason"].as_str().map(String::from))
            .collect()
    };
    assert_eq!(
        (
            row(a)["watch_ms"].as_i64(),
            row(a)["verdict"]["eligible"].as_bool()
        ),
        (Some(120 * MIN), Some(true))
    );
    assert_eq!(row(b)["watch_ms"], 96 * MIN);
    assert_eq!(row(b)["watch_percent"], 80.0);
    assert_eq!(
        (
            row(b)["checks_scheduled"].as_u64(),
            row(b)["checks_matched"].as_u64()
        ),
        (Some(25), Some(20))
    );
    assert_eq!(
        row(b)["verdict"]["eligible"],
        true,
        "exactly 80% / 80% passes: {}",
        row(b)
    );
    assert_eq!(reasons(cc), vec!["watch time 75.8% < 80%"]);
    assert_eq!(reasons(d), vec!["attendance 76.0% (19/25) < 80%"]);
    assert_eq!(
        reasons(e),
        vec!["exam score 0 < pass mark 60", "business plan rejected"]
    );
    assert_eq!(summary["eligible"], 2);

    // Class end: the reports are produced and stored automatically.
    let (code, _) = w
        .lecturer
        .post(&format!("/api/classes/{}/finish", c.id), json!(null))
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(s.count("class_reports").await, 4);
    let (code, csv) = w
        .regulator
        .get(&format!(
            "/api/classes/{}/reports/attendance.csv?stored=true",
            c.id
        ))
        .await;
    assert_eq!(code, StatusCode::OK);
    let csv = csv
        .as_str()
        .unwrap()
        .trim_start_matches('\u{feff}')
        .to_string();
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().starts_with("序号,姓名,身份证号,直播总时长(分钟),观看时长(分钟),观看比例(%),应考勤次数,人脸识别通过次数,考勤率(%),考试成绩,创业计划书,是否合格,不合格原因"));
    let b_line = lines.find(|l| l.contains("欧阳振华")).unwrap().to_string();
    assert!(
        b_line.contains(",120,96,80,25,20,80,100,已通过,合格,"),
        "{b_line}"
    );
    let res = reqwest::Client::new()
        .get(format!(
            "{}/api/classes/{}/reports/transcript.xlsx",
            s.base, c.id
        ))
        .bearer_auth(w.admin.token.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let bytes = res.bytes().await.unwrap().to_vec();
    {
        use calamine::{Reader, Xlsx};
        let mut wb: Xlsx<_> = Xlsx::new(std::io::Cursor::new(bytes)).unwrap();
        let name = wb.sheet_names()[0].clone();
        let sheet = wb.worksheet_range(&name).unwrap();
        let rows: Vec<Vec<String>> = sheet
            .rows()
            .map(|r| r.iter().map(|c| c.to_string()).collect())
            .collect();
        assert_eq!(
            rows[0],
            vec![
                "序号",
                "姓名",
                "身份证号",
                "考试次数",
                "各次成绩",
                "最高成绩",
                "及格线",
                "是否通过"
            ]
        );
        assert_eq!(rows.len(), 6);
        let e_row = rows.iter().find(|r| r[1] == "赵四").unwrap();
        assert_eq!((e_row[5].as_str(), e_row[7].as_str()), ("0", "未通过"));
    }
    let (code, html) = w
        .admin
        .get(&format!("/api/classes/{}/reports/attendance.html", c.id))
        .await;
    assert_eq!(code, StatusCode::OK);
    assert!(html.as_str().unwrap().contains("<th>不合格原因</th>"));

    // Results: submitted by the institution, confirmed by the bureau with the right count.
    let (code, r) = w
        .admin
        .post(&format!("/api/classes/{}/results", c.id), json!(null))
        .await;
    assert_eq!(
        (code, r["eligible_count"].as_i64()),
        (StatusCode::OK, Some(2)),
        "{r}"
    );
    let (code, r) = w
        .regulator
        .post(
            &format!("/api/classes/{}/results/review", c.id),
            json!({"confirm": true, "valid_trainees": 3}),
        )
        .await;
    assert_eq!(
        (code, r["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("count_mismatch")),
        "{r}"
    );
    let (code, r) = w
        .regulator
        .post(
            &format!("/api/classes/{}/results/review", c.id),
            json!({"confirm": true, "valid_trainees": 2}),
        )
        .await;
    assert_eq!(
        (code, r["status"].as_str()),
        (StatusCode::OK, Some("confirmed")),
        "{r}"
    );
    let (_, certs) = w
        .admin
        .get(&format!("/api/classes/{}/certificates", c.id))
        .await;
    let certs = certs.as_array().unwrap().clone();
    assert_eq!(certs.len(), 2);
    let number_of = |id: i64| {
        certs.iter().find(|c| c["student_id"] == id).unwrap()["number"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let (na, nb) = (number_of(a), number_of(b));
    assert_ne!(na, nb);

    // Not valid before the stamp and the bureau's verification.
    let sa = &c.students[0].client;
    let (code, body) = sa
        .post(&format!("/api/certificates/{na}/claim"), json!(null))
        .await;
    assert_eq!(
        (code, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("certificate_not_valid"))
    );
    let (code, body) = w
        .regulator
        .post(
            &format!("/api/classes/{}/certificates/verify", c.id),
            json!(null),
        )
        .await;
    assert_eq!(
        (code, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("nothing_to_verify"))
    );
    let (code, body) = w
        .admin
        .post(
            &format!("/api/classes/{}/certificates/stamp", c.id),
            json!(null),
        )
        .await;
    assert_eq!((code, body["changed"].as_u64()), (StatusCode::OK, Some(2)));
    let (_, public) = s
        .client()
        .get(&format!("/api/public/certificates/{na}"))
        .await;
    assert_eq!(public["status"], "pending");
    let (code, body) = w
        .regulator
        .post(
            &format!("/api/classes/{}/certificates/verify", c.id),
            json!(null),
        )
        .await;
    assert_eq!((code, body["changed"].as_u64()), (StatusCode::OK, Some(2)));
    let (code, body) = sa
        .post(&format!("/api/certificates/{na}/claim"), json!(null))
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert!(body["claimed_at"].is_i64());
    // Another student cannot see a's certificate.
    let (code, _) = c.students[1]
        .client
        .post(&format!("/api/certificates/{na}/claim"), json!(null))
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let pdf = reqwest::Client::new()
        .get(format!("{}/api/certificates/{na}/pdf", s.base))
        .bearer_auth(sa.token.clone().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(pdf.status(), StatusCode::OK);
    assert_eq!(pdf.headers()["content-type"], "application/pdf");
    let pdf = pdf.bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF-") && pdf.len() < 200_000);
    let (code, public) = s
        .client()
        .get(&format!("/api/public/certificates/{na}"))
        .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(
        (public["status"].as_str(), public["name_masked"].as_str()),
        (Some("valid"), Some("张*明"))
    );
    assert_eq!(public["institution"], "测试培训学校");
    let (code, _) = s.client().get("/api/public/certificates/GYB-NOPE").await;
    assert_eq!(code, StatusCode::NOT_FOUND);

    // The roster notice: not public until published; then masked only.
    let (code, _) = s
        .client()
        .get(&format!("/api/public/classes/{}/notice", c.id))
        .await;
    assert_eq!(code, StatusCode::NOT_FOUND);
    let (code, _) = w
        .admin
        .post(
            &format!("/api/classes/{}/notice/publish", c.id),
            json!(null),
        )
        .await;
    assert_eq!(code, StatusCode::FORBIDDEN);
    let (code, _) = w
        .regulator
        .post(
            &format!("/api/classes/{}/notice/publish", c.id),
            json!(null),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let (_, html) = s
        .client()
        .get(&format!("/api/public/classes/{}/notice", c.id))
        .await;
    let (_, csv) = s
        .client()
        .get(&format!("/api/public/classes/{}/notice?format=csv", c.id))
        .await;
    let (html, csv) = (
        html.as_str().unwrap().to_string(),
        csv.as_str().unwrap().to_string(),
    );
    for page in [&html, &csv] {
        assert!(page.contains("张*明") && page.contains("欧阳*华"), "{page}");
        for st in &c.students {
            let id = id_number(st.seq);
            assert!(!page.contains(&st.name), "name {} unmasked", st.name);
            assert!(!page.contains(&id), "ID number unmasked");
            assert!(!page.contains(&id[6..14]), "birth date shown");
            assert!(
                !page.contains(&format!("138{:08}", st.seq)),
                "mobile unmasked"
            );
        }
        let ida = id_number(c.students[0].seq);
        assert!(page.contains(&format!("{}********{}", &ida[..6], &ida[14..])));
        assert!(page.contains(&format!("138****{:04}", c.students[0].seq)));
        assert!(
            !page.contains("李雷") && !page.contains("李*"),
            "only certified trainees are listed"
        );
    }

    // Revocation: audited, shown on the public page, and the certificate stops working.
    let (code, body) = w
        .regulator
        .post(
            &format!("/api/certificates/{nb}/revoke"),
            json!({"reason": " "}),
        )
        .await;
    assert_eq!(
        (code, body["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("reason_required"))
    );
    let (code, _) = w
        .regulator
        .post(
            &format!("/api/certificates/{nb}/revoke"),
            json!({"reason": "冒名顶替参训"}),
        )
        .await;
    assert_eq!(code, StatusCode::OK);
    let (code, body) = w
        .regulator
        .post(
            &format!("/api/certificates/{nb}/revoke"),
            json!({"reason": "again"}),
        )
        .await;
    assert_eq!(
        (code, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_revoked"))
    );
    let (_, public) = s
        .client()
        .get(&format!("/api/public/certificates/{nb}"))
        .await;
    assert_eq!(
        (public["status"].as_str(), public["revoke_reason"].as_str()),
        (Some("revoked"), Some("冒名顶替参训"))
    );
    let (code, page) = s.client().get(&format!("/verify/{nb}")).await;
    assert_eq!(code, StatusCode::OK);
    let page = page.as_str().unwrap();
    assert!(
        page.contains("已撤销") && page.contains("冒名顶替参训") && page.contains("欧阳*华"),
        "{page}"
    );
    assert!(!page.contains("欧阳振华"));
    let sb = &c.students[1].client;
    let (code, body) = sb
        .post(&format!("/api/certificates/{nb}/claim"), json!(null))
        .await;
    assert_eq!(
        (code, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("certificate_revoked"))
    );
    let (_, audit) = w
        .regulator
        .get(&format!(
            "/api/audit?target_kind=certificate&target_id={nb}"
        ))
        .await;
    assert!(audit.to_string().contains("certificate.revoke"), "{audit}");
    let (_, csv) = s
        .client()
        .get(&format!("/api/public/classes/{}/notice?format=csv", c.id))
        .await;
    assert!(
        !csv.as_str().unwrap().contains("欧阳*华"),
        "a revoked certificate leaves the notice"
    );

    // Subsidy: one valid certificate × 200 CNY (GYB), every material present.
    let (code, sub) = w.admin.get(&format!("/api/classes/{}/subsidy", c.id)).await;
    assert_eq!(code, StatusCode::OK, "{sub}");
    assert_eq!(
        (sub["certified"].as_u64(), sub["amount_cny"].as_u64()),
        (Some(1), Some(200))
    );
    assert_eq!(sub["complete"], true, "{sub}");
    s.stop().await;
}
on_both_engines!(end_to_end);
