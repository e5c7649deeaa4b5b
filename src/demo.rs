//! `ketang demo`: an institution with lecturers (SYB certificates), assistants sized by the
//! group rule, a regulator, and K classes of N students whose live session is open now.
//! Idempotent: accounts and classes are found by name and reused; a second run adds
//! nothing but, if needed, a session open now.

use chrono::{Duration, NaiveDate, Utc};
use signaling::Role;

use crate::auth::password;
use crate::filing::rules::assistant_range;
use crate::filing::status::ClassStatus;
use crate::http::AppState;
use crate::registration::id_number;
use crate::registration::mobile::Mobile;
use crate::store::classes::{self, CourseType, NewClass};
use crate::store::students::{self, RealName};
use crate::store::users::{self, NewUser};
use crate::store::{institutions, lecturers, Conn, StoreResult};

/// Password of every demo account.
pub const DEMO_PASSWORD: &str = "ketang-demo";
/// The demo institution's name.
pub const INSTITUTION: &str = "开封市创业培训示范学校";
/// Its region code (开封市 鼓楼区); the demo regulator supervises `4102`.
pub const REGION: &str = "410204";

/// One account the demo made or found.
#[derive(Clone, Debug)]
pub struct DemoAccount {
    /// Role.
    pub role: Role,
    /// Login name.
    pub username: String,
    /// Shown name.
    pub display_name: String,
    /// Class it belongs to, for class staff and students.
    pub class: Option<i64>,
}

/// What `ketang demo` reports.
#[derive(Clone, Debug, Default)]
pub struct DemoReport {
    /// Every demo account.
    pub accounts: Vec<DemoAccount>,
    /// Live classes: (id, name, students).
    pub live_classes: Vec<(i64, String, i64)>,
    /// Accounts created by this run (0 on a re-run).
    pub created: usize,
}

impl DemoReport {
    /// Human-readable summary: URL, accounts, live classes.
    pub fn render(&self, url: &str) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Ketang demo data is ready ({} new accounts).",
            self.created
        );
        let _ = writeln!(
            s,
            "\nOpen {url} and log in; every demo password is {DEMO_PASSWORD:?}.\n"
        );
        let _ = writeln!(s, "{:<10} {:<24} {:<16} class", "role", "username", "name");
        for a in &self.accounts {
            let class = a.class.map(|c| c.to_string()).unwrap_or_default();
            let _ = writeln!(
                s,
                "{:<10} {:<24} {:<16} {class}",
                a.role.as_str(),
                a.username,
                a.display_name
            );
        }
        let _ = writeln!(s, "\nLive classes (open now):");
        for (id, name, n) in &self.live_classes {
            let _ = writeln!(s, "  class {id}: {name} — {n} students");
        }
        let _ = writeln!(s, "\nURL: {url}");
        s
    }
}

const SURNAMES: [&str; 20] = [
    "王", "李", "张", "刘", "陈", "杨", "赵", "黄", "周", "吴", "徐", "孙", "胡", "朱", "高", "林",
    "何", "郭", "马", "欧阳",
];
const GIVEN: [&str; 20] = [
    "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
    "涛", "明", "超", "秀兰", "霞",
];

fn student_name(class: u32, i: u32) -> String {
    let n = (class * 7919 + i * 31) as usize;
    format!(
        "{}{}",
        SURNAMES[n % SURNAMES.len()],
        GIVEN[(n / 20 + i as usize) % GIVEN.len()]
    )
}

/// An account the demo needs.
struct Wanted<'a> {
    role: Role,
    username: &'a str,
    display: &'a str,
    institution_id: Option<i64>,
    jurisdiction: Option<&'a str>,
    class: Option<i64>,
}

async fn ensure_user(
    conn: &mut Conn,
    report: &mut DemoReport,
    hash: &str,
    w: Wanted<'_>,
) -> StoreResult<i64> {
    let Wanted {
        role,
        username,
        display,
        institution_id,
        jurisdiction,
        class,
    } = w;
    let id = match users::get_with_hash(conn, username).await? {
        Some((u, _)) => u.id,
        None => {
            report.created += 1;
            users::insert(
                conn,
                &NewUser {
                    username,
                    password_hash: hash,
                    role,
                    display_name: display,
                    institution_id,
                    jurisdiction,
                    must_change_password: false,
                },
            )
            .await?
        }
    };
    report.accounts.push(DemoAccount {
        role,
        username: username.into(),
        display_name: display.into(),
        class,
    });
    Ok(id)
}

/// Seeds (or completes) the demo data.
pub async fn seed(
    state: &AppState,
    class_count: u32,
    students_per_class: u32,
) -> anyhow::Result<DemoReport> {
    let hash = tokio::task::spawn_blocking(|| password::hash(DEMO_PASSWORD)).await?;
    let keys = state.keys.clone();
    let mut report = DemoReport::default();
    let mut tx = state.store.begin().await?;

    let inst = match institutions::find_by_name(&mut tx, INSTITUTION).await? {
        Some(i) => i.id,
        None => institutions::insert(&mut tx, INSTITUTION, REGION).await?,
    };
    ensure_user(
        &mut tx,
        &mut report,
        &hash,
        Wanted {
            role: Role::Admin,
            username: "demo-admin",
            display: "示范学校管理员",
            institution_id: Some(inst),
            jurisdiction: None,
            class: None,
        },
    )
    .await?;
    ensure_user(
        &mut tx,
        &mut report,
        &hash,
        Wanted {
            role: Role::Regulator,
            username: "demo-regulator",
            display: "开封市人社局监管",
            institution_id: None,
            jurisdiction: Some("4102"),
            class: None,
        },
    )
    .await?;

    let now = Utc::now();
    let (assistants_needed, _) = assistant_range(students_per_class, &state.config.filing);
    for k in 1..=class_count {
        let lecturer_name = format!("demo-lecturer-{k}");
        let lecturer = ensure_user(
            &mut tx,
            &mut report,
            &hash,
            Wanted {
                role: Role::Lecturer,
                username: &lecturer_name,
                display: &format!("讲师{k}"),
                institution_id: Some(inst),
                jurisdiction: None,
                class: None,
            },
        )
        .await?;
        if lecturers::list(&mut tx, lecturer).await?.is_empty() {
            lecturers::insert(
                &mut tx,
                lecturer,
                &format!("SYB-DEMO-{k:04}"),
                "河南省人力资源和社会保障厅",
                NaiveDate::from_ymd_opt(2020, 1, 1).expect("date"),
                Some(NaiveDate::from_ymd_opt(2099, 12, 31).expect("date")),
            )
            .await?;
        }
        let class_name = format!("互联网+创业培训 SYB 示范班 {k}");
        let class_id = match classes::find_by_name(&mut tx, inst, &class_name).await? {
            Some(c) => c.id,
            None => {
                let id = classes::insert(
                    &mut tx,
                    &NewClass {
                        institution_id: inst,
                        name: &class_name,
                        course_type: CourseType::Syb,
                        lecturer_id: lecturer,
                    },
                )
                .await?;
                // Filed well ahead, as the 5-working-day rule requires.
                classes::set_status(&mut tx, id, ClassStatus::Submitted, None).await?;
                classes::set_status(&mut tx, id, ClassStatus::Filed, None).await?;
                classes::set_status(&mut tx, id, ClassStatus::Live, None).await?;
                sqlx::query("UPDATE classes SET submitted_at = $1, filed_at = $2 WHERE id = $3")
                    .bind((now - Duration::days(14)).timestamp_millis())
                    .bind((now - Duration::days(10)).timestamp_millis())
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                id
            }
        };
        let class = classes::get(&mut tx, class_id)
            .await?
            .expect("class just found");
        if class.open_session(now).is_none() {
            classes::add_session(
                &mut tx,
                class_id,
                now - Duration::minutes(10),
                now + Duration::hours(3),
            )
            .await?;
        }
        let mut assistant_ids = class.assistant_ids.clone();
        for j in 1..=assistants_needed {
            let id = ensure_user(
                &mut tx,
                &mut report,
                &hash,
                Wanted {
                    role: Role::Assistant,
                    username: &format!("demo-assistant-{k}-{j}"),
                    display: &format!("助教{k}-{j}"),
                    institution_id: Some(inst),
                    jurisdiction: None,
                    class: Some(class_id),
                },
            )
            .await?;
            if !assistant_ids.contains(&id) {
                assistant_ids.push(id);
            }
        }
        assistant_ids.sort_unstable();
        classes::set_assistants(&mut tx, class_id, &assistant_ids).await?;
        for i in 1..=students_per_class {
            let mobile = Mobile::parse(&format!("139{k:02}{i:06}"))
                .map_err(|e| anyhow::anyhow!("demo mobile: {e}"))?;
            let name = student_name(k, i);
            let uid = ensure_user(
                &mut tx,
                &mut report,
                &hash,
                Wanted {
                    role: Role::Student,
                    username: mobile.as_str(),
                    display: &name,
                    institution_id: Some(inst),
                    jurisdiction: None,
                    class: Some(class_id),
                },
            )
            .await?;
            if students::view(&mut tx, uid).await?.is_none() {
                // (class, index) → distinct (birth date, sequence): the sequence is the index
                // and the birth date differs between classes for the same index.
                let birth = NaiveDate::from_ymd_opt(1970, 1, 1).expect("date")
                    + Duration::days(i64::from(k * 97 + i * 3));
                let id_number = id_number::make(REGION, birth, i as u16);
                students::insert_record(
                    &mut tx,
                    &keys,
                    uid,
                    &RealName {
                        name,
                        id_number,
                        mobile,
                        household_place: "河南省开封市鼓楼区".into(),
                    },
                )
                .await?;
            }
            classes::enroll(&mut tx, class_id, uid).await?;
        }
        let class = classes::get(&mut tx, class_id)
            .await?
            .expect("class exists");
        if class.status == ClassStatus::Live {
            report
                .live_classes
                .push((class.id, class.name, class.students));
        }
    }
    tx.commit().await?;
    Ok(report)
}
