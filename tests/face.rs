//! Face enrollment wired to the store on real SQLite and PostgreSQL: the embedding is
//! computed from the stored one-inch photo and stored encrypted; a refused photo stores
//! nothing; mismatch evidence is encrypted and purged after its retention.

mod common;

use std::path::PathBuf;

use common::{fresh_database, Engine};
use ketang::crypto::Keyring;
use ketang::face_checks::{self, EnrollmentError};
use ketang::store::face::{self as face_store, NewEvidence};
use ketang::store::students::{self, PhotoKind};
use ketang::store::users::{self, NewUser};
use ketang::store::Store;
use signaling::Role;

fn test_image(name: &str) -> Vec<u8> {
    let dir = std::env::var_os("KETANG_TEST_IMAGES")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/test_images"));
    std::fs::read(dir.join(name)).expect("run scripts/setup.sh")
}

async fn enrollment_and_evidence(engine: Engine) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&fresh_database(engine, dir.path()).await)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    let keys = Keyring::load_or_create(&dir.path().join("keys")).unwrap();
    let mut cfg = face::FaceConfig::default();
    if let Some(m) = std::env::var_os("KETANG_MODELS") {
        cfg.models_dir = m.into();
    } else {
        cfg.models_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/models");
    }
    cfg.workers = 1;
    let pool = face_checks::start_pool(&cfg, &prometheus::Registry::new()).unwrap();

    let mut conn = store.conn().await.unwrap();
    let mut ids = Vec::new();
    for name in ["obama", "crowd"] {
        ids.push(
            users::insert(
                &mut conn,
                &NewUser {
                    username: name,
                    password_hash: "x",
                    role: Role::Student,
                    display_name: name,
                    institution_id: None,
                    jurisdiction: None,
                    must_change_password: false,
                },
            )
            .await
            .unwrap(),
        );
    }
    let (obama, crowd) = (ids[0], ids[1]);
    // No photo on file yet.
    let err = face_checks::enroll_from_photo(&store, &keys, &pool, cfg.enrollment, obama)
        .await
        .unwrap_err();
    assert!(matches!(err, EnrollmentError::NoPhoto), "{err}");

    let photo = test_image("obama.jpg");
    students::put_photo(
        &mut conn,
        &keys,
        obama,
        PhotoKind::Photo,
        "image/jpeg",
        &photo,
    )
    .await
    .unwrap();
    let q = face_checks::enroll_from_photo(&store, &keys, &pool, cfg.enrollment, obama)
        .await
        .unwrap();
    assert!(q.face_px >= 200, "{q:?}");
    let stored = face_store::get_enrollment(&mut conn, &keys, obama)
        .await
        .unwrap()
        .unwrap();
    // Encrypted at rest: the raw column is not the embedding's bytes.
    let raw: Vec<u8> =
        sqlx::query_scalar("SELECT embedding_enc FROM face_enrollments WHERE user_id = $1")
            .bind(obama)
            .fetch_one(&mut *conn)
            .await
            .unwrap();
    let plain = stored.to_bytes();
    assert!(!raw.windows(16).any(|w| w == &plain[..16]));
    // The stored embedding verifies obama2 and refuses biden.
    let v = pool
        .verify_image(test_image("obama2.jpg"), stored, cfg.threshold)
        .await
        .unwrap();
    assert_eq!(v.outcome, face::verify::Outcome::Match);
    let v = pool
        .verify_image(test_image("biden.jpg"), stored, cfg.threshold)
        .await
        .unwrap();
    assert_eq!(v.outcome, face::verify::Outcome::Mismatch);

    // A photo that is not usable is refused with its reason and stores nothing.
    let text = b"not a photo at all".to_vec();
    students::put_photo(
        &mut conn,
        &keys,
        crowd,
        PhotoKind::Photo,
        "image/jpeg",
        &text,
    )
    .await
    .unwrap();
    let err = face_checks::enroll_from_photo(&store, &keys, &pool, cfg.enrollment, crowd)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a JPEG or PNG"), "{err}");
    assert!(face_store::get_enrollment(&mut conn, &keys, crowd)
        .await
        .unwrap()
        .is_none());

    // Evidence: encrypted, readable back, purged after the retention period.
    let frame = test_image("biden.jpg");
    let day = 86_400_000;
    let old = face_store::put_evidence(
        &mut conn,
        &keys,
        &NewEvidence {
            user_id: obama,
            class_id: None,
            captured_at: 1_000,
            distance: Some(0.9),
            jpeg: &frame,
        },
        90,
    )
    .await
    .unwrap();
    let recent = face_store::put_evidence(
        &mut conn,
        &keys,
        &NewEvidence {
            user_id: obama,
            class_id: None,
            captured_at: 50 * day,
            distance: None,
            jpeg: &frame,
        },
        90,
    )
    .await
    .unwrap();
    let (uid, _, jpeg) = face_store::get_evidence(&mut conn, &keys, old)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((uid, jpeg.len()), (obama, frame.len()));
    assert_eq!(
        face_store::purge_expired_evidence(&mut conn, 90 * day)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        face_store::purge_expired_evidence(&mut conn, 90 * day + 1_000)
            .await
            .unwrap(),
        1
    );
    assert!(face_store::get_evidence(&mut conn, &keys, old)
        .await
        .unwrap()
        .is_none());
    assert!(face_store::get_evidence(&mut conn, &keys, recent)
        .await
        .unwrap()
        .is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrollment_and_evidence_on_sqlite() {
    enrollment_and_evidence(Engine::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrollment_and_evidence_on_postgres() {
    enrollment_and_evidence(Engine::Postgres).await;
}

/// Enrollment through the API: the student's institution asks, and a refused photo comes
/// back with the reason; the state is readable afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enrollment_over_http() {
    use reqwest::StatusCode;
    use serde_json::json;
    let s = common::TestServer::start_with(Engine::Sqlite, |c| {
        c.face.models_dir = models_dir();
        c.face.workers = 1;
    })
    .await;
    let w = common::world(&s, 1).await;
    let anon = s.client();
    // Registered with a synthetic (faceless) one-inch photo.
    let (st, body) = anon
        .post("/api/register", common::registration(w.institution_id, 1))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    let id = body["user_id"].as_i64().unwrap();
    let path = format!("/api/students/{id}/face-enrollment");

    // Face checks not started on this server yet: a clear 503.
    let (st, body) = w.admin.post(&path, json!(null)).await;
    assert_eq!(st, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], "face_unavailable");
    s.state
        .face
        .start(&s.state.config.face, &prometheus::Registry::new())
        .unwrap();

    let (st, body) = w.admin.get(&path).await;
    assert_eq!(
        (st, body["enrolled"].clone()),
        (StatusCode::OK, json!(false))
    );
    let (st, body) = w.admin.post(&path, json!(null)).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "no_face", "{body}");
    assert!(body["detail"].as_str().unwrap().contains("whole face"));

    let put = |bytes: Vec<u8>| {
        let admin = w.admin.clone();
        let url = format!("{}/api/students/{id}/photos/photo", s.base);
        async move {
            admin
                .send(
                    admin
                        .http
                        .put(url)
                        .bearer_auth(admin.token.clone().unwrap())
                        .header("content-type", "image/jpeg")
                        .body(bytes),
                )
                .await
        }
    };
    // An upscaled thumbnail: big enough to upload, too blurred to enroll.
    let big = face::frame::Frame::decode(&test_image("obama.jpg"), u64::MAX).unwrap();
    let (w0, h0) = (big.width(), big.height());
    let soft = big.resized(w0 / 6, h0 / 6).resized(w0, h0).to_jpeg(90);
    let (st, b) = put(soft).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{b}");
    let (st, body) = w.admin.post(&path, json!(null)).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "blurry", "{body}");
    let (_, body) = w.admin.get(&path).await;
    assert_eq!(body["enrolled"], false, "a refused photo stores nothing");

    let (st, b) = put(test_image("obama.jpg")).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{b}");
    let (st, body) = w.admin.post(&path, json!(null)).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["enrolled"], true);
    assert!(
        body["enrollment"]["face_px"].as_i64().unwrap() >= 200,
        "{body}"
    );
    let (_, body) = w.regulator.get(&path).await;
    assert_eq!(body["enrolled"], true, "{body}");
    s.stop().await;
}

fn models_dir() -> PathBuf {
    std::env::var_os("KETANG_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/models"))
}

#[test]
fn missing_models_are_one_clear_startup_error() {
    let cfg = face::FaceConfig {
        models_dir: PathBuf::from("/nonexistent/ketang-models"),
        ..Default::default()
    };
    let err = face_checks::start_pool(&cfg, &prometheus::Registry::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("/nonexistent/ketang-models/shape_predictor_5_face_landmarks.dat")
            && err.contains("setup.sh"),
        "{err}"
    );
}
