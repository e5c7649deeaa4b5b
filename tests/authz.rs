//! The authorisation matrix: every route × every role (and anonymous) gets exactly what
//! `ketang::auth::allowed(role, action)` says for the action its handler requires —
//! 403 `forbidden` when the table refuses the role, 401 `unauthenticated` without a login,
//! and otherwise the endpoint's normal answer. A refused request must change nothing.
//!
//! Regulators, on every route: no teaching data changes (every row of every teaching
//! table compared before and after) except through the bureau's own acts (filing or
//! returning a class), each of which is audited; and every request they make leaves a
//! `regulator.access` audit entry.
//!
//! Every case runs against a request that would succeed for an allowed role: valid bodies,
//! in-scope records, and a fresh class in the right lifecycle state for each mutating
//! class endpoint, so neither state nor a missing check can mask the permission result.

mod common;

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU16, Ordering};

use common::*;
use ketang::auth::{allowed, Action};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use signaling::Role;

/// What a route asks of the caller before doing anything else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Need {
    /// No login: anyone, anonymous included.
    Public,
    /// Any logged-in account; the handler names no action.
    LoggedIn,
    /// A login whose role the table allows this action (`me.require(action)`).
    Act(Action),
    /// Students need the first action, every other role the second (handlers that serve a
    /// student their own records and staff the class's).
    StudentOr(Action, Action),
}
use Need::{Act, LoggedIn, Public, StudentOr};

/// One route of the matrix.
struct Row {
    /// Upper-case HTTP method.
    method: &'static str,
    /// Path template as in the OpenAPI document.
    path: &'static str,
    need: Need,
    /// The status an allowed caller gets for the request the test sends.
    ok: u16,
}

const fn row(method: &'static str, path: &'static str, need: Need, ok: u16) -> Row {
    Row {
        method,
        path,
        need,
        ok,
    }
}

/// Every route. Add a row with every new endpoint; `openapi_lists_no_route_missing_from_the_matrix`
/// fails until you do.
#[rustfmt::skip]
const MATRIX: &[Row] = &[
    //   method  path                                      needs                                 allowed → status
    row("POST", "/api/auth/login",                         Public,                               200),
    row("POST", "/api/auth/logout",                        LoggedIn,                             204),
    row("GET",  "/api/me",                                 Act(Action::UseOwnAccount),           200),
    // Wrong current password: refused by the handler after the permission check.
    row("POST", "/api/auth/password",                      Act(Action::UseOwnAccount),           422),
    row("GET",  "/api/institutions",                       Act(Action::ReadInstitutions),        200),
    row("POST", "/api/users",                              Act(Action::ManageStaff),             201),
    row("GET",  "/api/users",                              Act(Action::ReadStaff),               200),
    row("POST", "/api/lecturers/{id}/certificates",        Act(Action::ManageCertificates),      201),
    row("GET",  "/api/lecturers/{id}/certificates",        Act(Action::ReadCertificates),        200),
    row("POST", "/api/classes",                            Act(Action::CreateClass),             201),
    row("GET",  "/api/classes",                            Act(Action::ReadClasses),             200),
    row("GET",  "/api/classes/{id}",                       Act(Action::ReadClasses),             200),
    row("PUT",  "/api/classes/{id}/sessions",              Act(Action::EditClass),               200),
    row("PUT",  "/api/classes/{id}/assistants",            Act(Action::EditClass),               200),
    row("POST", "/api/classes/{id}/enrollments",           Act(Action::EditClass),               200),
    row("POST", "/api/classes/{id}/roster",                Act(Action::EditClass),               201),
    row("GET",  "/api/classes/{id}/students",              Act(Action::ReadClassStudents),       200),
    row("POST", "/api/classes/{id}/submit",                Act(Action::SubmitFiling),            200),
    row("POST", "/api/classes/{id}/file",                  Act(Action::DecideFiling),            200),
    row("POST", "/api/classes/{id}/return",                Act(Action::DecideFiling),            200),
    row("POST", "/api/classes/{id}/start",                 Act(Action::RunClass),                200),
    row("POST", "/api/classes/{id}/finish",                Act(Action::RunClass),                200),
    row("POST", "/api/register",                           Public,                               201),
    row("GET",  "/api/students/{id}",                      Act(Action::ReadStudent),             200),
    row("PUT",  "/api/students/{id}/photos/{kind}",        Act(Action::UploadStudentPhoto),      204),
    // The matrix server runs without face workers: allowed callers get 503 (tests/face.rs
    // enrolls for real).
    row("POST", "/api/students/{id}/face-enrollment",      Act(Action::UploadStudentPhoto),      503),
    row("GET",  "/api/students/{id}/face-enrollment",      Act(Action::ReadStudent),             200),
    row("GET",  "/api/classes/{id}/face-flags",            Act(Action::ReadClassResults),        200),
    row("GET",  "/api/audit",                              Act(Action::ReadAudit),               200),
    row("GET",  "/api/supervision/classes",                Act(Action::Supervise),               200),
    row("GET",  "/api/supervision/classes/{id}",           Act(Action::Supervise),               200),
    row("GET",  "/api/supervision/lecturers",              Act(Action::Supervise),               200),
    row("GET",  "/api/supervision/rooms",                  Act(Action::Supervise),               200),
    row("GET",  "/api/backups",                            Act(Action::ReadBackups),             200),
    row("GET",  "/api/backups/public-keys",                Act(Action::ReadBackups),             200),
    row("GET",  "/api/backups/{label}/files/{file}",       Act(Action::ReadBackups),             200),
    row("POST", "/api/exam-questions",                     Act(Action::ManageExam),              201),
    row("GET",  "/api/classes/{id}/exam",                  Act(Action::ReadExam),                200),
    row("PUT",  "/api/classes/{id}/exam",                  Act(Action::ManageExam),              200),
    row("POST", "/api/classes/{id}/exam/attempts",         Act(Action::TakeExam),                201),
    row("GET",  "/api/classes/{id}/exam/attempts",         StudentOr(Action::TakeExam, Action::ReadExam), 200),
    // No such attempt: the permission check comes first, then 404.
    row("POST", "/api/exam-attempts/{id}/answers",         Act(Action::TakeExam),                404),
    row("POST", "/api/classes/{id}/business-plan",         Act(Action::SubmitPlan),              201),
    row("GET",  "/api/classes/{id}/business-plans",        Act(Action::ReadPlans),               200),
    row("GET",  "/api/business-plans/{id}/file",           Act(Action::ReadPlans),               404),
    row("POST", "/api/business-plans/{id}/decision",       Act(Action::ReviewPlan),              404),
    row("GET",  "/api/classes/{id}/attendance",            Act(Action::ReadAttendance),          200),
    row("GET",  "/api/classes/{id}/reports/{file}",        Act(Action::ReadClassResults),        200),
    // A draft class has no results to submit, review, verify or publish: 409 after the
    // permission check (stamping finds nothing to stamp). These bureau acts on real results
    // are exercised, with their audit entries, in tests/attendance.rs.
    row("POST", "/api/classes/{id}/results",               Act(Action::SubmitResults),           409),
    row("GET",  "/api/classes/{id}/results",               Act(Action::ReadClassResults),        404),
    row("POST", "/api/classes/{id}/results/review",        Act(Action::ReviewResults),           409),
    row("POST", "/api/classes/{id}/certificates/stamp",    Act(Action::StampCertificates),       200),
    row("POST", "/api/classes/{id}/certificates/verify",   Act(Action::VerifyCertificates),      409),
    row("GET",  "/api/classes/{id}/certificates",          Act(Action::ReadClassResults),        200),
    row("GET",  "/api/me/certificates",                    Act(Action::ClaimCertificate),        200),
    row("POST", "/api/certificates/{number}/claim",        Act(Action::ClaimCertificate),        404),
    row("GET",  "/api/certificates/{number}/pdf",          StudentOr(Action::ClaimCertificate, Action::ReadAttendance), 404),
    row("POST", "/api/certificates/{number}/revoke",       Act(Action::RevokeCertificate),       404),
    row("GET",  "/api/public/certificates/{number}",       Public,                               404),
    row("GET",  "/verify/{number}",                        Public,                               404),
    row("POST", "/api/classes/{id}/notice/publish",        Act(Action::PublishNotice),           409),
    row("GET",  "/api/public/classes/{id}/notice",         Public,                               404),
    row("GET",  "/api/classes/{id}/subsidy",               Act(Action::ReadSubsidy),             200),
    row("GET",  "/api/classes/{id}/interactions",          Act(Action::ReadInteractions),        200),
    // The base class is a draft, not live: allowed callers get 409 after the permission check.
    row("POST", "/api/rooms/{class_id}/publish",           Act(Action::PublishMedia),            409),
    row("POST", "/api/rooms/{class_id}/subscribe",         Act(Action::WatchLecture),            409),
    // Routes outside the OpenAPI document.
    row("GET",  "/api/openapi.json",                       Public,                               200),
    row("GET",  "/metrics",                                Public,                               200),
    row("GET",  "/healthz",                                Public,                               200),
    row("GET",  "/ws",                                     LoggedIn,                             101),
];

/// Label of the backup the fixture writes (for the download route).
const BACKUP_LABEL: &str = "2026-10";

/// Routes by which a regulator may change teaching data: the bureau's own acts.
const BUREAU_ACTS: [&str; 2] = ["/api/classes/{id}/file", "/api/classes/{id}/return"];

/// Tables whose content is teaching data (everything but sessions, the audit log and the
/// integrity bookkeeping).
const TEACHING_TABLES: [&str; 9] = [
    "institutions",
    "users",
    "student_records",
    "student_files",
    "syb_certificates",
    "classes",
    "class_sessions",
    "enrollments",
    "assistant_assignments",
];

/// Matrix routes that the OpenAPI document does not (and need not) describe.
const NOT_IN_OPENAPI: [&str; 4] = ["/api/openapi.json", "/metrics", "/healthz", "/ws"];

/// Who sends the request: anonymous, then each role.
const CALLERS: [Option<Role>; 6] = [
    None,
    Some(Role::Admin),
    Some(Role::Lecturer),
    Some(Role::Assistant),
    Some(Role::Student),
    Some(Role::Regulator),
];

/// The login of each role in the world below.
fn credentials(role: Role) -> (&'static str, &'static str) {
    match role {
        Role::Admin => ("admin", "password-123"),
        Role::Lecturer => ("lecturer", "password-123"),
        Role::Assistant => ("assistant-1", "password-123"),
        Role::Student => ("13800000001", "student-pass-1"),
        Role::Regulator => ("regulator", "password-123"),
    }
}

fn caller_name(who: Option<Role>) -> &'static str {
    who.map_or("anonymous", Role::as_str)
}

/// What the table says should happen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Expect {
    Ok,
    Unauthenticated,
    Forbidden,
}

fn expectation(need: Need, who: Option<Role>) -> Expect {
    match (need, who) {
        (Public, _) => Expect::Ok,
        (_, None) => Expect::Unauthenticated,
        (LoggedIn, Some(_)) => Expect::Ok,
        (Act(action), Some(role)) if allowed(role, action) => Expect::Ok,
        (Act(_), Some(_)) => Expect::Forbidden,
        (StudentOr(student, _), Some(Role::Student)) => expectation(Act(student), who),
        (StudentOr(_, staff), Some(_)) => expectation(Act(staff), who),
    }
}

/// Lifecycle state of a fixture class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Draft,
    Submitted,
    Filed,
    Live,
}

enum Body {
    None,
    Json(Value),
    Raw(&'static str, Vec<u8>),
}

/// A request ready to send, and the class it touches (if any).
struct Prepared {
    client: Client,
    path: String,
    body: Body,
    class: Option<i64>,
}

/// The seeded world: one institution with every role, a registered student, and a draft
/// class whose roster was imported, with the student enrolled and an assistant assigned.
struct Ctx {
    server: TestServer,
    world: World,
    anon: Client,
    assistant: Client,
    student: Client,
    student_id: i64,
    assistant_id: i64,
    /// Students created by the base class's roster import (not in the fixture classes).
    roster_ids: Vec<i64>,
    base_class: i64,
    counter: AtomicU16,
}

impl Ctx {
    async fn new() -> Self {
        let server = TestServer::start(Engine::Sqlite).await;
        let world = world(&server, 2).await;
        let anon = server.client();
        let (st, body) = anon
            .post("/api/register", registration(world.institution_id, 1))
            .await;
        assert_eq!(st, StatusCode::CREATED, "{body}");
        let student_id = body["user_id"].as_i64().unwrap();
        let (user, pw) = credentials(Role::Student);
        let student = server.login(user, pw).await;
        let (user, pw) = credentials(Role::Assistant);
        let assistant = server.login(user, pw).await;
        let mut cx = Ctx {
            assistant_id: world.assistant_ids[0],
            server,
            world,
            anon,
            assistant,
            student,
            student_id,
            roster_ids: Vec::new(),
            base_class: 0,
            counter: AtomicU16::new(1),
        };
        // Every client is who the matrix thinks it is.
        for role in Role::ALL {
            let (st, me) = cx.client(Some(role)).get("/api/me").await;
            assert_eq!(st, StatusCode::OK, "{me}");
            assert_eq!(me["role"], role.as_str(), "{me}");
        }

        let class = cx.new_class().await;
        let (st, body) = cx
            .world
            .admin
            .raw(
                Method::POST,
                &format!("/api/classes/{class}/roster"),
                "text/csv",
                roster_csv(3, 2000).into_bytes(),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{body}");
        cx.roster_ids = body["created"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["user_id"].as_i64().unwrap())
            .collect();
        assert_eq!(cx.roster_ids.len(), 3);
        cx.staff_class(class).await;
        let (_, c) = cx.world.admin.get(&format!("/api/classes/{class}")).await;
        assert_eq!(
            (c["status"].as_str(), c["students"].as_i64()),
            (Some("draft"), Some(4))
        );
        cx.base_class = class;
        let signing = ketang::integrity::signing::SigningKeys::load_or_create(
            &cx.server.state.config.key_dir(),
        )
        .unwrap();
        let out = cx.server.dir.path().join("backups").join(BACKUP_LABEL);
        ketang::integrity::backup::create(
            cx.server.store(),
            &cx.server.state.config.data_dir,
            &out,
            None,
            &signing,
            (None, "test"),
        )
        .await
        .unwrap();
        cx
    }

    /// Every row of every teaching table, plus audit entries (count) and the regulator's
    /// access entries (count).
    async fn teaching_data(&self) -> Vec<Vec<String>> {
        let store = self.server.store();
        let mut conn = store.conn().await.unwrap();
        let tables = ketang::integrity::snapshot::tables(&mut conn, store.kind())
            .await
            .unwrap();
        let mut out = Vec::new();
        for name in TEACHING_TABLES {
            let t = tables.iter().find(|t| t.name == name).expect(name);
            out.push(
                ketang::integrity::snapshot::canonical_rows(&mut conn, t)
                    .await
                    .unwrap(),
            );
        }
        out
    }

    /// Audit entries after row id `after`: (action, target_id, actor role).
    async fn audit_since(&self, after: i64) -> Vec<(String, Option<String>, Option<String>)> {
        sqlx::query_as(
            "SELECT action, target_id, actor_role FROM audit_log WHERE id > $1 ORDER BY id",
        )
        .bind(after)
        .fetch_all(self.server.store().pool())
        .await
        .unwrap()
    }

    async fn last_audit_id(&self) -> i64 {
        sqlx::query_scalar("SELECT COALESCE(MAX(id), 0) FROM audit_log")
            .fetch_one(self.server.store().pool())
            .await
            .unwrap()
    }

    fn next(&self) -> u16 {
        self.counter.fetch_add(1, Ordering::SeqCst)
    }

    fn client(&self, who: Option<Role>) -> Client {
        match who {
            None => self.anon.clone(),
            Some(Role::Admin) => self.world.admin.clone(),
            Some(Role::Lecturer) => self.world.lecturer.clone(),
            Some(Role::Assistant) => self.assistant.clone(),
            Some(Role::Student) => self.student.clone(),
            Some(Role::Regulator) => self.world.regulator.clone(),
        }
    }

    /// A new draft class of the lecturer, three weeks out (in time for filing).
    async fn new_class(&self) -> i64 {
        let n = self.next();
        let (st, body) = self
            .world
            .admin
            .post(
                "/api/classes",
                json!({
                    "name": format!("权限矩阵 {n} 班"),
                    "course_type": "SYB",
                    "lecturer_id": self.world.lecturer_id,
                    "sessions": [{"starts_at": at(21, 0), "ends_at": at(21, 3)}],
                }),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{body}");
        body["id"].as_i64().unwrap()
    }

    /// Assigns the assistant and enrolls the student, so both see the class.
    async fn staff_class(&self, class: i64) {
        let (st, body) = self
            .world
            .admin
            .put(
                &format!("/api/classes/{class}/assistants"),
                json!({"assistant_ids": [self.assistant_id]}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{body}");
        let (st, body) = self
            .world
            .admin
            .post(
                &format!("/api/classes/{class}/enrollments"),
                json!({"student_ids": [self.student_id]}),
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{body}");
    }

    /// A fresh class in `stage`, ready for the next lifecycle step, visible to every role.
    async fn class_at(&self, stage: Stage) -> i64 {
        let class = self.new_class().await;
        self.staff_class(class).await;
        let steps = [
            (Stage::Submitted, &self.world.admin, "submit"),
            (Stage::Filed, &self.world.regulator, "file"),
            (Stage::Live, &self.world.lecturer, "start"),
        ];
        for (reached, client, verb) in steps {
            if stage < reached {
                break;
            }
            let (st, body) = client
                .post(&format!("/api/classes/{class}/{verb}"), json!(null))
                .await;
            assert_eq!(st, StatusCode::OK, "{verb} fixture class: {body}");
        }
        class
    }

    /// The request for `row` as `who`, on fresh fixtures where the route changes state.
    async fn prepare(&self, row: &Row, who: Option<Role>) -> Prepared {
        let mut client = self.client(who);
        let mut class = None;
        let lecturer = self.world.lecturer_id;
        let student = self.student_id;
        let (path, body) = match (row.method, row.path) {
            ("POST", "/api/auth/login") => (
                row.path.to_string(),
                Body::Json(json!({"username": "lecturer", "password": "password-123"})),
            ),
            ("POST", "/api/auth/logout") => {
                // A session of its own, so the shared client stays logged in.
                if let Some(role) = who {
                    let (user, pw) = credentials(role);
                    client = self.server.login(user, pw).await;
                }
                (row.path.to_string(), Body::Json(json!(null)))
            }
            ("POST", "/api/auth/password") => (
                row.path.to_string(),
                Body::Json(json!({
                    "current_password": "not-the-password",
                    "new_password": "a-brand-new-password",
                })),
            ),
            ("POST", "/api/users") => (
                row.path.to_string(),
                Body::Json(json!({
                    "username": format!("authz-staff-{}", self.next()),
                    "password": "password-123",
                    "role": "assistant",
                    "display_name": "矩阵助教",
                })),
            ),
            ("POST", "/api/lecturers/{id}/certificates") => (
                format!("/api/lecturers/{lecturer}/certificates"),
                Body::Json(json!({
                    "number": format!("SYB-AUTHZ-{}", self.next()),
                    "issuer": "河南省人力资源和社会保障厅",
                    "valid_from": "2021-01-01",
                    "valid_until": null,
                })),
            ),
            ("GET", "/api/lecturers/{id}/certificates") => (
                format!("/api/lecturers/{lecturer}/certificates"),
                Body::None,
            ),
            ("POST", "/api/classes") => (
                row.path.to_string(),
                Body::Json(json!({
                    "name": format!("权限矩阵新建 {} 班", self.next()),
                    "course_type": "GYB",
                    "lecturer_id": lecturer,
                    "sessions": [{"starts_at": at(30, 0), "ends_at": at(30, 3)}],
                })),
            ),
            ("GET", "/api/backups/{label}/files/{file}") => (
                format!("/api/backups/{BACKUP_LABEL}/files/tables%2Fclasses.jsonl"),
                Body::None,
            ),
            ("GET", "/api/classes/{id}")
            | ("GET", "/api/classes/{id}/students")
            | ("GET", "/api/supervision/classes/{id}") => {
                class = Some(self.base_class);
                (
                    row.path.replace("{id}", &self.base_class.to_string()),
                    Body::None,
                )
            }
            ("POST", "/api/exam-questions") => (
                row.path.to_string(),
                Body::Json(json!({
                    "course_type": "SYB",
                    "kind": "single",
                    "prompt": format!("创业计划书的第一部分是？{}", self.next()),
                    "options": ["企业概况", "财务计划"],
                    "answer": [0],
                })),
            ),
            ("PUT", "/api/classes/{id}/exam") => {
                class = Some(self.base_class);
                (
                    row.path.replace("{id}", &self.base_class.to_string()),
                    Body::Json(
                        json!({"time_limit_secs": 1800, "max_attempts": 3, "pass_mark": 60}),
                    ),
                )
            }
            ("POST", "/api/exam-attempts/{id}/answers") => (
                "/api/exam-attempts/999999/answers".to_string(),
                Body::Json(json!({"answers": {}})),
            ),
            ("POST", "/api/classes/{id}/business-plan") => {
                class = Some(self.base_class);
                (
                    row.path.replace("{id}", &self.base_class.to_string()),
                    Body::Raw("application/pdf", minimal_pdf()),
                )
            }
            ("GET", "/api/business-plans/{id}/file") => {
                ("/api/business-plans/999999/file".to_string(), Body::None)
            }
            ("POST", "/api/business-plans/{id}/decision") => (
                "/api/business-plans/999999/decision".to_string(),
                Body::Json(json!({"approve": true, "comment": "好"})),
            ),
            ("GET", "/api/classes/{id}/face-flags") => {
                class = Some(self.base_class);
                (
                    format!("/api/classes/{}/face-flags", self.base_class),
                    Body::None,
                )
            }
            ("GET", "/api/classes/{id}/reports/{file}") => {
                class = Some(self.base_class);
                (
                    format!("/api/classes/{}/reports/attendance.csv", self.base_class),
                    Body::None,
                )
            }
            ("POST", "/api/classes/{id}/results/review") => (
                String::new(),
                Body::Json(json!({"confirm": true, "valid_trainees": 0, "comment": null})),
            ),
            ("POST", "/api/certificates/{number}/revoke") => (
                "/api/certificates/NO-SUCH-CERT/revoke".to_string(),
                Body::Json(json!({"reason": "材料不实"})),
            ),
            ("POST", "/api/certificates/{number}/claim") => (
                "/api/certificates/NO-SUCH-CERT/claim".to_string(),
                Body::Json(json!(null)),
            ),
            ("GET", "/api/certificates/{number}/pdf")
            | ("GET", "/api/public/certificates/{number}")
            | ("GET", "/verify/{number}") => {
                (row.path.replace("{number}", "NO-SUCH-CERT"), Body::None)
            }
            ("GET", p)
                if p.starts_with("/api/classes/{id}/")
                    || p.starts_with("/api/public/classes/{id}/") =>
            {
                class = Some(self.base_class);
                (p.replace("{id}", &self.base_class.to_string()), Body::None)
            }
            ("POST", "/api/rooms/{class_id}/publish") => {
                class = Some(self.base_class);
                (
                    row.path.replace("{class_id}", &self.base_class.to_string()),
                    Body::Json(json!({"sdp": "v=0", "what": "camera"})),
                )
            }
            ("POST", "/api/rooms/{class_id}/subscribe") => {
                class = Some(self.base_class);
                (
                    row.path.replace("{class_id}", &self.base_class.to_string()),
                    Body::Json(json!({"sdp": "v=0"})),
                )
            }
            ("PUT", "/api/classes/{id}/sessions") => (
                String::new(),
                Body::Json(json!({
                    "sessions": [
                        {"starts_at": at(22, 0), "ends_at": at(22, 3)},
                        {"starts_at": at(23, 0), "ends_at": at(23, 3)},
                    ],
                })),
            ),
            ("PUT", "/api/classes/{id}/assistants") => (
                String::new(),
                Body::Json(json!({"assistant_ids": self.world.assistant_ids})),
            ),
            ("POST", "/api/classes/{id}/enrollments") => (
                String::new(),
                Body::Json(json!({"student_ids": [self.roster_ids[0]]})),
            ),
            ("POST", "/api/classes/{id}/roster") => (
                String::new(),
                Body::Raw(
                    "text/csv",
                    roster_csv(2, 2100 + 10 * self.next()).into_bytes(),
                ),
            ),
            ("POST", "/api/classes/{id}/return") => {
                (String::new(), Body::Json(json!({"reason": "教学计划缺失"})))
            }
            ("POST", p) if p.starts_with("/api/classes/{id}/") => {
                (String::new(), Body::Json(json!(null)))
            }
            ("POST", "/api/register") => (
                row.path.to_string(),
                Body::Json(registration(self.world.institution_id, 100 + self.next())),
            ),
            ("GET", "/api/students/{id}") => (format!("/api/students/{student}"), Body::None),
            ("GET", "/api/students/{id}/face-enrollment") => (
                format!("/api/students/{student}/face-enrollment"),
                Body::None,
            ),
            ("POST", "/api/students/{id}/face-enrollment") => (
                format!("/api/students/{student}/face-enrollment"),
                Body::Json(json!(null)),
            ),
            ("PUT", "/api/students/{id}/photos/{kind}") => (
                format!("/api/students/{student}/photos/photo"),
                Body::Raw(
                    "image/jpeg",
                    face::image::synthetic(320, 420, face::image::ImageFormat::Jpeg),
                ),
            ),
            ("GET", p) if !p.contains('{') => (p.to_string(), Body::None),
            (m, p) => panic!("no request for {m} {p}: add one to Ctx::prepare"),
        };
        // Class-changing routes get a fresh class in the state the route acts on.
        let path = if path.is_empty() {
            let stage = match row.path.rsplit('/').next().unwrap() {
                "file" | "return" => Stage::Submitted,
                "start" => Stage::Filed,
                "finish" => Stage::Live,
                _ => Stage::Draft,
            };
            let id = self.class_at(stage).await;
            class = Some(id);
            row.path.replace("{id}", &id.to_string())
        } else {
            path
        };
        Prepared {
            client,
            path,
            body,
            class,
        }
    }

    /// Sends and returns the status and the (problem) body.
    async fn send(&self, row: &Row, p: Prepared) -> (StatusCode, Value) {
        if row.path == "/ws" {
            return ws_handshake(&p.client).await;
        }
        let c = &p.client;
        match (row.method, p.body) {
            ("GET", Body::None) => c.get(&p.path).await,
            ("POST", Body::Json(v)) => c.post(&p.path, v).await,
            ("PUT", Body::Json(v)) => c.put(&p.path, v).await,
            (m, Body::Raw(ct, bytes)) => {
                let method = Method::from_bytes(m.as_bytes()).unwrap();
                c.raw(method, &p.path, ct, bytes).await
            }
            (m, _) => panic!("unsupported request shape for {m} {}", row.path),
        }
    }

    /// Everything a refused request must leave alone: row counts, last changes, and the
    /// class it aimed at.
    async fn fingerprint(&self, class: Option<i64>) -> (Vec<i64>, Option<Value>) {
        let queries = [
            "SELECT COUNT(*) FROM users",
            "SELECT COUNT(*) FROM auth_sessions",
            "SELECT COUNT(*) FROM student_records",
            "SELECT COUNT(*) FROM student_files",
            "SELECT COALESCE(MAX(uploaded_at), 0) FROM student_files",
            "SELECT COUNT(*) FROM syb_certificates",
            "SELECT COUNT(*) FROM classes",
            "SELECT COALESCE(MAX(updated_at), 0) FROM classes",
            "SELECT COUNT(*) FROM class_sessions",
            "SELECT COUNT(*) FROM enrollments",
            "SELECT COUNT(*) FROM assistant_assignments",
            "SELECT COUNT(*) FROM backups",
            "SELECT COUNT(*) FROM class_archives",
        ];
        let mut values = Vec::new();
        for q in queries {
            let v: i64 = sqlx::query_scalar(q)
                .fetch_one(self.server.store().pool())
                .await
                .unwrap();
            values.push(v);
        }
        let class = match class {
            Some(id) => {
                let (st, body) = self.world.admin.get(&format!("/api/classes/{id}")).await;
                assert_eq!(st, StatusCode::OK, "{body}");
                Some(body)
            }
            None => None,
        };
        (values, class)
    }

    /// Runs one (route, caller) case; `Err` describes a mismatch.
    async fn case(&self, row: &Row, who: Option<Role>) -> Result<(), String> {
        let label = format!("{} {} as {}", row.method, row.path, caller_name(who));
        let prepared = self.prepare(row, who).await;
        let class = prepared.class;
        let before = self.fingerprint(class).await;
        let regulator = who == Some(Role::Regulator);
        let teaching_before = if regulator {
            Some(self.teaching_data().await)
        } else {
            None
        };
        let audit_mark = self.last_audit_id().await;
        let (status, body) = self.send(row, prepared).await;
        let new_audit = self.audit_since(audit_mark).await;
        if regulator {
            // Some regulator requests are logged only after the response is sent: wait
            // until the access entry is there.
            let mut entries = new_audit.clone();
            for _ in 0..50 {
                if entries.iter().any(|(a, _, _)| a == "regulator.access") || row.need == Public {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                entries = self.audit_since(audit_mark).await;
            }
            let accessed = entries.iter().any(|(a, t, r)| {
                a == "regulator.access"
                    && t.as_deref() == Some(row.path)
                    && r.as_deref() == Some("regulator")
            });
            // Public routes (login, registration, health, metrics, the API document) do not
            // look at the caller, so there is no regulator to attribute them to.
            if !accessed && row.need != Public {
                return Err(format!(
                    "{label}: no regulator.access audit entry: {entries:?}"
                ));
            }
            let teaching_after = self.teaching_data().await;
            let changed = teaching_before.as_ref() != Some(&teaching_after);
            let bureau_act = BUREAU_ACTS.contains(&row.path);
            // Public routes act for nobody (self-registration ignores the token it carries).
            if changed && !bureau_act && row.need != Public {
                return Err(format!(
                    "{label}: a regulator changed teaching data ({status})"
                ));
            }
            if bureau_act {
                let verb = row.path.rsplit('/').next().unwrap();
                let act = format!("class.{verb}");
                let id = class.map(|c| c.to_string());
                if !entries
                    .iter()
                    .any(|(a, t, r)| *a == act && *t == id && r.as_deref() == Some("regulator"))
                {
                    return Err(format!(
                        "{label}: bureau act not audited as {act}: {entries:?}"
                    ));
                }
                if !changed {
                    return Err(format!("{label}: the bureau act changed nothing"));
                }
            }
        } else if !new_audit.iter().all(|(a, _, _)| a != "regulator.access") {
            return Err(format!(
                "{label}: non-regulator request logged as regulator access"
            ));
        }
        let expect = expectation(row.need, who);
        let (want, code) = match expect {
            Expect::Ok => (row.ok, None),
            Expect::Unauthenticated => (401, Some("unauthenticated")),
            Expect::Forbidden => (403, Some("forbidden")),
        };
        if status.as_u16() != want {
            return Err(format!("{label}: expected {want}, got {status}: {body}"));
        }
        if let Some(code) = code {
            if body["code"] != code {
                return Err(format!("{label}: expected code {code:?}: {body}"));
            }
            if self.fingerprint(class).await != before {
                return Err(format!("{label}: refused with {status} but changed state"));
            }
        }
        Ok(())
    }
}

/// Opens `/ws` with the client's token (if any); 101 on success, else the refusal.
async fn ws_handshake(client: &Client) -> (StatusCode, Value) {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Error;
    let url = format!("{}/ws", client.base.replacen("http", "ws", 1));
    let mut req = url.into_client_request().unwrap();
    if let Some(t) = &client.token {
        req.headers_mut()
            .insert("authorization", format!("Bearer {t}").parse().unwrap());
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((mut socket, res)) => {
            let _ = socket.close(None).await;
            (res.status(), Value::Null)
        }
        Err(Error::Http(res)) => {
            let ct = res
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_string();
            assert_eq!(ct, "application/problem+json", "/ws refusal {res:?}");
            let body = res
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice(b).ok())
                .unwrap_or(Value::Null);
            (res.status(), body)
        }
        Err(e) => panic!("/ws handshake failed: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_every_role_as_the_permission_table_says() {
    let cx = Ctx::new().await;
    let mut failures = Vec::new();
    let mut cases = 0;
    for row in MATRIX {
        for who in CALLERS {
            cases += 1;
            if let Err(e) = cx.case(row, who).await {
                failures.push(e);
            }
        }
    }
    assert_eq!(cases, MATRIX.len() * CALLERS.len());
    assert!(
        failures.is_empty(),
        "{} of {cases} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    cx.server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_lists_no_route_missing_from_the_matrix() {
    let s = TestServer::start(Engine::Sqlite).await;
    let (st, doc) = s.client().get("/api/openapi.json").await;
    assert_eq!(st, StatusCode::OK);
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in [
            "get", "put", "post", "delete", "options", "head", "patch", "trace",
        ] {
            if item.get(method).is_some() {
                documented.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    assert!(documented.len() >= 20, "{documented:?}");
    let in_matrix: BTreeSet<(String, String)> = MATRIX
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    assert_eq!(in_matrix.len(), MATRIX.len(), "duplicate matrix rows");
    let missing: Vec<_> = documented.difference(&in_matrix).collect();
    assert!(
        missing.is_empty(),
        "routes in /api/openapi.json without an authorisation-matrix row: {missing:?}"
    );
    // And no stale or misspelt rows: every row is documented or a known extra route.
    let stale: Vec<_> = in_matrix
        .difference(&documented)
        .filter(|(_, p)| !NOT_IN_OPENAPI.contains(&p.as_str()))
        .collect();
    assert!(stale.is_empty(), "matrix rows not in the API: {stale:?}");
    s.stop().await;
}

#[test]
fn every_action_guards_some_route() {
    // Checked inside a route for one variant of its request: subscribing with a
    // `student_id` (a student's camera) needs WatchStudentCamera; tests/media_api.rs
    // covers it role by role.
    const BY_REQUEST: [Action; 1] = [Action::WatchStudentCamera];
    for action in Action::ALL {
        if BY_REQUEST.contains(&action) {
            continue;
        }
        assert!(
            MATRIX.iter().any(|r| match r.need {
                Act(a) => a == action,
                StudentOr(a, b) => a == action || b == action,
                _ => false,
            }),
            "{action:?} is in the permission table but no matrix route requires it"
        );
    }
}

/// The smallest file that is really a PDF (header, one empty page, trailer).
fn minimal_pdf() -> Vec<u8> {
    b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 612 792]>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF\n".to_vec()
}
