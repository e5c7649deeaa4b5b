//! The class archive: at class end, one signed bundle (same manifest and signature as the
//! backups) holding what the notice requires to be kept per class. Sections that other
//! parts of Ketang will produce (recordings, attendance, exam transcript, evaluations,
//! business plans, interaction log) are listed in the manifest as `pending` with the
//! reason, so a later version fills them without changing the bundle format.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Serialize;
use sqlx::Row;

use super::bundle::{BundleError, BundleWriter};
use super::signing::SigningKeys;
use crate::crypto::Keyring;
use crate::store::{audit, classes, institutions, lecturers, students, users, Store, StoreError};

/// Bundle kind of class archives.
pub const KIND: &str = "class-archive";

/// State of one archive section.
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq, Eq)]
#[serde(tag = "status", rename_all = "lowercase")]
pub enum Section {
    /// Present, in these files.
    Included {
        /// Files of the bundle.
        files: Vec<String>,
        /// Records in it.
        records: u64,
    },
    /// Not produced by this version of Ketang yet.
    Pending {
        /// Why.
        reason: String,
    },
}

/// Sections this version cannot fill yet, and why. A branch that adds the data replaces
/// its line here with code in [`create`].
pub const PENDING: &[(&str, &str)] = &[
    (
        "recordings",
        "sessions are not recorded yet (media recording)",
    ),
    (
        "attendance",
        "attendance events are not stored yet (attendance ingest)",
    ),
    ("exam_transcript", "the online exam is not built yet"),
    ("evaluations", "course evaluations are not collected yet"),
    (
        "business_plans",
        "business-plan submission is not built yet",
    ),
    (
        "interaction_log",
        "chat / Q&A / hand-raise are not persisted yet (signaling)",
    ),
];

/// Errors of archiving.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// No such class.
    #[error("class {0} does not exist")]
    NoClass(i64),
    /// Archives are made at class end.
    #[error("class {id} is {status}; it is archived when it has finished")]
    NotFinished {
        /// Class.
        id: i64,
        /// Its status.
        status: String,
    },
    /// Already archived.
    #[error("class {0} is archived already, at {1}")]
    Exists(i64, String),
    /// Bundle writing failed.
    #[error(transparent)]
    Bundle(#[from] BundleError),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ArchiveError {
    fn from(e: sqlx::Error) -> Self {
        ArchiveError::Store(e.into())
    }
}

/// What `create` made.
#[derive(Clone, Debug, Serialize)]
pub struct Archived {
    /// Folder.
    pub dir: PathBuf,
    /// SHA-256 of its manifest.
    pub manifest_sha256: String,
    /// Sections and their state.
    pub sections: BTreeMap<String, Section>,
}

fn jsonl<T: Serialize>(items: &[T]) -> Vec<u8> {
    let mut out = Vec::new();
    for i in items {
        serde_json::to_writer(&mut out, i).expect("serialisable");
        out.push(b'\n');
    }
    out
}

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    let mut b = serde_json::to_vec_pretty(v).expect("serialisable");
    b.push(b'\n');
    b
}

/// Folder of a class's archive under `root`.
pub fn archive_dir(root: &Path, class_id: i64) -> PathBuf {
    root.join(format!("class-{class_id}"))
}

/// Writes the signed archive of finished class `class_id` into `root/class-ID` and
/// records it (with an audit entry).
pub async fn create(
    store: &Store,
    root: &Path,
    class_id: i64,
    signing: &SigningKeys,
) -> Result<Archived, ArchiveError> {
    let mut tx = store.begin().await?;
    // Take the write lock first: reading, then upgrading to a writer could fail on SQLite.
    sqlx::query("UPDATE classes SET id = id WHERE id = $1")
        .bind(class_id)
        .execute(&mut *tx)
        .await?;
    let class = classes::get(&mut tx, class_id)
        .await?
        .ok_or(ArchiveError::NoClass(class_id))?;
    if !matches!(class.status.as_str(), "finished" | "archived") {
        return Err(ArchiveError::NotFinished {
            id: class_id,
            status: class.status.as_str().into(),
        });
    }
    if let Some(path) =
        sqlx::query_scalar::<_, String>("SELECT path FROM class_archives WHERE class_id = $1")
            .bind(class_id)
            .fetch_optional(&mut *tx)
            .await?
    {
        return Err(ArchiveError::Exists(class_id, path));
    }
    let dir = archive_dir(root, class_id);
    let mut w = BundleWriter::create(&dir)?;
    let mut sections = BTreeMap::new();

    let institution = institutions::get(&mut tx, class.institution_id).await?;
    w.add(
        "class.json",
        &json(&serde_json::json!({"class": class, "institution": institution})),
    )?;
    sections.insert(
        "filing".into(),
        Section::Included {
            files: vec!["class.json".into()],
            records: 1,
        },
    );

    w.add("teaching_plan.json", &json(&class.sessions))?;
    sections.insert(
        "teaching_plan".into(),
        Section::Included {
            files: vec!["teaching_plan.json".into()],
            records: class.sessions.len() as u64,
        },
    );

    let lecturer = users::get(&mut tx, class.lecturer_id).await?;
    let certificates = lecturers::list(&mut tx, class.lecturer_id).await?;
    let mut assistants = Vec::new();
    for a in &class.assistant_ids {
        assistants.push(users::get(&mut tx, *a).await?);
    }
    w.add(
        "staff.json",
        &json(&serde_json::json!({"lecturer": lecturer, "certificates": certificates, "assistants": assistants})),
    )?;
    sections.insert(
        "staff".into(),
        Section::Included {
            files: vec!["staff.json".into()],
            records: 1 + assistants.len() as u64,
        },
    );

    // Roster and registration forms; ID numbers stay encrypted (base64 of the ciphertext,
    // whose header names the data key that opens it).
    let roster = students::list_for_class(&mut tx, class_id).await?;
    w.add("roster.jsonl", &jsonl(&roster))?;
    let forms = sqlx::query(
        "SELECT r.user_id, r.name, r.id_number_enc, r.id_number_masked, r.mobile, \
         r.household_place, r.registered_at, e.enrolled_at FROM student_records r \
         JOIN enrollments e ON e.student_id = r.user_id WHERE e.class_id = $1 ORDER BY r.user_id",
    )
    .bind(class_id)
    .fetch_all(&mut *tx)
    .await?;
    let mut form_rows = Vec::new();
    for r in &forms {
        let enc: Vec<u8> = r.try_get("id_number_enc")?;
        form_rows.push(serde_json::json!({
            "user_id": r.try_get::<i64, _>("user_id")?,
            "name": r.try_get::<String, _>("name")?,
            "id_number_encrypted": base64::engine::general_purpose::STANDARD.encode(&enc),
            "data_key_id": Keyring::key_id_of(&enc),
            "id_number_masked": r.try_get::<String, _>("id_number_masked")?,
            "mobile": r.try_get::<String, _>("mobile")?,
            "household_place": r.try_get::<String, _>("household_place")?,
            "registered_at": r.try_get::<i64, _>("registered_at")?,
            "enrolled_at": r.try_get::<i64, _>("enrolled_at")?,
        }));
    }
    w.add("registration_forms.jsonl", &jsonl(&form_rows))?;
    sections.insert(
        "roster".into(),
        Section::Included {
            files: vec!["roster.jsonl".into(), "registration_forms.jsonl".into()],
            records: roster.len() as u64,
        },
    );

    // ID-card copies and one-inch photos, still encrypted.
    let photos = sqlx::query(
        "SELECT f.user_id, f.kind, f.content_type, f.ciphertext, f.uploaded_at FROM student_files f \
         JOIN enrollments e ON e.student_id = f.user_id WHERE e.class_id = $1 \
         ORDER BY f.user_id, f.kind",
    )
    .bind(class_id)
    .fetch_all(&mut *tx)
    .await?;
    let mut index = Vec::new();
    let mut files = vec!["id_copies/index.jsonl".to_string()];
    for p in &photos {
        let user_id: i64 = p.try_get("user_id")?;
        let kind: String = p.try_get("kind")?;
        let ct: Vec<u8> = p.try_get("ciphertext")?;
        let rel = format!("id_copies/{user_id}/{kind}.enc");
        let mut f = w.file(&rel)?;
        f.write_all(&ct).map_err(|e| BundleError::Io {
            path: rel.clone().into(),
            source: e,
        })?;
        f.close().map_err(|e| BundleError::Io {
            path: rel.clone().into(),
            source: e,
        })?;
        index.push(serde_json::json!({
            "user_id": user_id, "kind": kind, "file": rel,
            "content_type": p.try_get::<String, _>("content_type")?,
            "uploaded_at": p.try_get::<i64, _>("uploaded_at")?,
            "data_key_id": Keyring::key_id_of(&ct),
            "context": format!("student_files.{kind}"),
        }));
        files.push(rel);
    }
    w.add("id_copies/index.jsonl", &jsonl(&index))?;
    sections.insert(
        "id_copies".into(),
        Section::Included {
            files,
            records: index.len() as u64,
        },
    );

    // The class's audit trail, with chain fields so it can be checked against the log.
    let trail = sqlx::query(
        "SELECT seq, at, actor_id, actor_role, action, detail, prev_hash, hash FROM audit_log \
         WHERE target_kind = 'class' AND target_id = $1 ORDER BY seq",
    )
    .bind(class_id.to_string())
    .fetch_all(&mut *tx)
    .await?;
    let mut trail_rows = Vec::new();
    for r in &trail {
        trail_rows.push(serde_json::json!({
            "seq": r.try_get::<Option<i64>, _>("seq")?,
            "at": r.try_get::<i64, _>("at")?,
            "actor_id": r.try_get::<Option<i64>, _>("actor_id")?,
            "actor_role": r.try_get::<Option<String>, _>("actor_role")?,
            "action": r.try_get::<String, _>("action")?,
            "detail": r.try_get::<String, _>("detail")?,
            "prev_hash": r.try_get::<Option<String>, _>("prev_hash")?,
            "hash": r.try_get::<Option<String>, _>("hash")?,
        }));
    }
    w.add("audit_trail.jsonl", &jsonl(&trail_rows))?;
    sections.insert(
        "audit_trail".into(),
        Section::Included {
            files: vec!["audit_trail.jsonl".into()],
            records: trail_rows.len() as u64,
        },
    );

    for (name, reason) in PENDING {
        sections.insert(
            (*name).into(),
            Section::Pending {
                reason: (*reason).into(),
            },
        );
    }
    let content = serde_json::json!({
        "class_id": class_id,
        "institution_id": class.institution_id,
        "sections": sections,
    });
    let label = format!("class-{class_id}");
    let (_, manifest_sha256) = w.finish(KIND, &label, content, signing)?;
    let recorded: Result<(), ArchiveError> = async {
        sqlx::query(
            "INSERT INTO class_archives (class_id, path, manifest_sha256, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(class_id)
        .bind(dir.to_string_lossy().into_owned())
        .bind(&manifest_sha256)
        .bind(crate::store::now_ms())
        .execute(&mut *tx)
        .await?;
        audit::record(
            &mut tx,
            &audit::NewEntry {
                actor_id: None,
                actor_role: Some("system"),
                action: "class.archive",
                target_kind: "class",
                target_id: Some(class_id.to_string()),
                institution_id: Some(class.institution_id),
                detail: serde_json::json!({"manifest_sha256": manifest_sha256, "path": dir.to_string_lossy()}),
            },
        )
        .await?;
        Ok(())
    }
    .await;
    if let Err(e) = recorded {
        let _ = std::fs::remove_dir_all(&dir);
        return Err(e);
    }
    tx.commit().await?;
    Ok(Archived {
        dir,
        manifest_sha256,
        sections,
    })
}

/// Writes the archive of a class that just finished, logging instead of failing.
pub async fn after_finish(st: &crate::http::AppState, class_id: i64) {
    let key_dir = st.config.key_dir();
    let root = super::cli::archive_root(&st.config);
    let result = match SigningKeys::load_or_create(&key_dir) {
        Ok(signing) => create(&st.store, &root, class_id, &signing)
            .await
            .map_err(|e| e.to_string()),
        Err(e) => Err(e.to_string()),
    };
    match result {
        Ok(a) => tracing::info!(class_id, dir = %a.dir.display(), "class archive written"),
        Err(e) => {
            tracing::error!(class_id, error = %e, "class archive failed; run `ketang archive create --class {class_id}`")
        }
    }
}
