//! The store against real SQLite and a real PostgreSQL: migrations kept in step, each
//! aggregate round-trips, constraints hold, transactions roll back whole.

mod common;

use common::{fresh_database, id_number, Engine};
use ketang::crypto::Keyring;
use ketang::filing::status::ClassStatus;
use ketang::registration::id_number::ResidentId;
use ketang::registration::mobile::Mobile;
use ketang::store::classes::{self, ClassScope, CourseType, NewClass};
use ketang::store::students::{self, PhotoKind, RealName};
use ketang::store::users::{self, NewUser};
use ketang::store::{audit, institutions, lecturers, sessions, Store};
use signaling::Role;

async fn open(engine: Engine, dir: &std::path::Path) -> Store {
    let url = fresh_database(engine, dir).await;
    let store = Store::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    // Migrating twice is a no-op.
    store.migrate().await.unwrap();
    store
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_migrations_define_the_same_schema() {
    let d1 = tempfile::tempdir().unwrap();
    let d2 = tempfile::tempdir().unwrap();
    let lite = open(Engine::Sqlite, d1.path())
        .await
        .schema()
        .await
        .unwrap();
    let pg = open(Engine::Postgres, d2.path())
        .await
        .schema()
        .await
        .unwrap();
    assert!(lite.len() >= 11, "{lite:?}");
    assert_eq!(
        lite, pg,
        "migrations/sqlite and migrations/postgres drifted apart"
    );
    // And the migration files themselves pair up one to one.
    let names = |dir: &str| {
        let mut v: Vec<String> = std::fs::read_dir(format!("{}/{dir}", env!("CARGO_MANIFEST_DIR")))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(names("migrations/sqlite"), names("migrations/postgres"));
}

fn user<'a>(username: &'a str, role: Role, inst: Option<i64>) -> NewUser<'a> {
    NewUser {
        username,
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
        role,
        display_name: username,
        institution_id: inst,
        jurisdiction: None,
        must_change_password: false,
    }
}

async fn aggregates_round_trip(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let store = open(engine, dir.path()).await;
    let keys = Keyring::load_or_create(&dir.path().join("keys")).unwrap();
    let mut tx = store.begin().await.unwrap();
    let inst = institutions::insert(&mut tx, "学校", "410204")
        .await
        .unwrap();
    let admin = users::insert(&mut tx, &user("admin", Role::Admin, Some(inst)))
        .await
        .unwrap();
    let lect = users::insert(&mut tx, &user("lect", Role::Lecturer, Some(inst)))
        .await
        .unwrap();
    let stu = users::insert(&mut tx, &user("stu", Role::Student, Some(inst)))
        .await
        .unwrap();
    let asst = users::insert(&mut tx, &user("asst", Role::Assistant, Some(inst)))
        .await
        .unwrap();
    tx.commit().await.unwrap();

    let mut c = store.conn().await.unwrap();
    // Unique username.
    let dup = users::insert(&mut c, &user("admin", Role::Admin, Some(inst)))
        .await
        .unwrap_err();
    assert!(dup.is_unique_violation(), "{dup}");
    let u = users::get(&mut c, admin).await.unwrap().unwrap();
    assert_eq!((u.role, u.institution_id), (Role::Admin, Some(inst)));
    assert_eq!(
        users::list_by_institution(&mut c, inst, Some(Role::Student))
            .await
            .unwrap()
            .len(),
        1
    );
    assert_eq!(
        users::list_by_jurisdiction(&mut c, "4102", None)
            .await
            .unwrap()
            .len(),
        4
    );
    assert_eq!(
        users::list_by_jurisdiction(&mut c, "4101", None)
            .await
            .unwrap()
            .len(),
        0
    );

    // Sessions: valid until expiry, then gone.
    sessions::insert(&mut c, "tok", stu, 60_000).await.unwrap();
    assert_eq!(sessions::user_for(&mut c, "tok").await.unwrap(), Some(stu));
    sessions::insert(&mut c, "old", stu, -1).await.unwrap();
    assert_eq!(sessions::user_for(&mut c, "old").await.unwrap(), None);
    assert_eq!(sessions::purge_expired(&mut c).await.unwrap(), 1);

    // Real-name record: encrypted, unique by blind index, photos round-trip.
    let today = chrono::Utc::now().date_naive();
    let rid = ResidentId::parse(&id_number(5), today).unwrap();
    let rec = RealName {
        name: "张三".into(),
        id_number: rid.clone(),
        mobile: Mobile::parse("13812345678").unwrap(),
        household_place: "河南省开封市".into(),
    };
    students::insert_record(&mut c, &keys, stu, &rec)
        .await
        .unwrap();
    assert_eq!(
        students::find_by_id_number(&mut c, &keys, &rid)
            .await
            .unwrap(),
        Some(stu)
    );
    let again = students::insert_record(&mut c, &keys, admin, &rec)
        .await
        .unwrap_err();
    assert!(again.is_unique_violation());
    students::put_photo(
        &mut c,
        &keys,
        stu,
        PhotoKind::Photo,
        "image/jpeg",
        b"\xFF\xD8\xFFfake",
    )
    .await
    .unwrap();
    students::put_photo(
        &mut c,
        &keys,
        stu,
        PhotoKind::Photo,
        "image/png",
        b"\x89PNGfake",
    )
    .await
    .unwrap();
    let (ct, bytes) = students::get_photo(&mut c, &keys, stu, PhotoKind::Photo)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (ct.as_str(), bytes.as_slice()),
        ("image/png", &b"\x89PNGfake"[..])
    );
    let view = students::view(&mut c, stu).await.unwrap().unwrap();
    assert_eq!(view.photos, vec![PhotoKind::Photo]);
    assert!(!view.complete);
    assert_eq!(view.id_number_masked, rid.masked());

    // Certificates and classes.
    let from = chrono::NaiveDate::from_ymd_opt(2024, 1, 1).unwrap();
    lecturers::insert(&mut c, lect, "SYB-1", "人社厅", from, None)
        .await
        .unwrap();
    let certs = lecturers::list(&mut c, lect).await.unwrap();
    assert_eq!((certs[0].valid_from, certs[0].valid_until), (from, None));
    let class = classes::insert(
        &mut c,
        &NewClass {
            institution_id: inst,
            name: "一期",
            course_type: CourseType::Gyb,
            lecturer_id: lect,
        },
    )
    .await
    .unwrap();
    let t0 = chrono::Utc::now();
    classes::add_session(
        &mut c,
        class,
        t0 + chrono::Duration::hours(2),
        t0 + chrono::Duration::hours(3),
    )
    .await
    .unwrap();
    classes::add_session(
        &mut c,
        class,
        t0 - chrono::Duration::hours(1),
        t0 + chrono::Duration::hours(1),
    )
    .await
    .unwrap();
    assert!(classes::enroll(&mut c, class, stu).await.unwrap());
    assert!(
        !classes::enroll(&mut c, class, stu).await.unwrap(),
        "enrolling twice is a no-op"
    );
    classes::set_assistants(&mut c, class, &[asst])
        .await
        .unwrap();
    classes::set_status(&mut c, class, ClassStatus::Submitted, None)
        .await
        .unwrap();
    let got = classes::get(&mut c, class).await.unwrap().unwrap();
    assert_eq!(got.status, ClassStatus::Submitted);
    assert!(got.submitted_at.is_some());
    assert_eq!((got.students, got.assistant_ids.clone()), (1, vec![asst]));
    assert_eq!(got.sessions.len(), 2);
    assert!(
        got.sessions[0].starts_at < got.sessions[1].starts_at,
        "sessions ordered by start"
    );
    assert!(got.open_session(t0).is_some());
    classes::set_status(&mut c, class, ClassStatus::Draft, Some("缺材料"))
        .await
        .unwrap();
    let got = classes::get(&mut c, class).await.unwrap().unwrap();
    assert_eq!(got.return_reason.as_deref(), Some("缺材料"));
    for scope in [
        ClassScope::Institution(inst),
        ClassScope::Jurisdiction("41"),
        ClassScope::Lecturer(lect),
        ClassScope::Assistant(asst),
        ClassScope::Student(stu),
    ] {
        assert_eq!(
            classes::list(&mut c, scope.clone()).await.unwrap().len(),
            1,
            "{scope:?}"
        );
    }
    assert_eq!(
        classes::list(&mut c, ClassScope::Student(admin))
            .await
            .unwrap()
            .len(),
        0
    );
    // A session that ends before it starts violates the schema's CHECK.
    assert!(
        classes::add_session(&mut c, class, t0, t0 - chrono::Duration::hours(1))
            .await
            .is_err()
    );

    // Audit: append and read back, newest first.
    for action in ["a.one", "a.two"] {
        audit::record(
            &mut c,
            &audit::NewEntry {
                actor_id: Some(admin),
                actor_role: Some("admin"),
                action,
                target_kind: "class",
                target_id: Some(class.to_string()),
                institution_id: Some(inst),
                detail: serde_json::json!({"k": 1}),
            },
        )
        .await
        .unwrap();
    }
    let log = audit::list(&mut c, "41", Some(("class", &class.to_string())), 10)
        .await
        .unwrap();
    assert_eq!(
        log.iter().map(|e| e.action.as_str()).collect::<Vec<_>>(),
        vec!["a.two", "a.one"]
    );
    assert_eq!(log[0].detail["k"], 1);
    // Another jurisdiction does not see them.
    assert!(audit::list(&mut c, "31", None, 10)
        .await
        .unwrap()
        .is_empty());
    drop(c);

    // A failed transaction leaves nothing behind.
    let mut tx = store.begin().await.unwrap();
    users::insert(&mut tx, &user("ghost", Role::Student, Some(inst)))
        .await
        .unwrap();
    drop(tx);
    let mut c = store.conn().await.unwrap();
    assert!(users::get_with_hash(&mut c, "ghost")
        .await
        .unwrap()
        .is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregates_round_trip_on_sqlite() {
    aggregates_round_trip(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aggregates_round_trip_on_postgres() {
    aggregates_round_trip(Engine::Postgres).await;
}

#[tokio::test]
async fn bad_database_urls_are_clear_errors() {
    let e = Store::connect("mysql://x").await.unwrap_err();
    assert!(e.to_string().contains("unsupported database URL"), "{e}");
    let e = Store::connect("postgres://nobody:secret@127.0.0.1:1/x")
        .await
        .unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("cannot open database") && !msg.contains("secret"),
        "{msg}"
    );
}
