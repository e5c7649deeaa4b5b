//! Command-line verbs of the integrity module: `ketang audit …`, `ketang backup …`,
//! `ketang archive …`, `ketang key …`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};

use super::bundle::KeyChoice;
use super::signing::{self, PublicKeys, SigningKeys};
use super::{archive, audit_verify, backup, keys, schedule};
use crate::config::Config;
use crate::server;

/// `ketang audit`.
#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Check the hash chain of the audit log; names the first bad entry and exits non-zero.
    Verify {
        /// Also check the log against the audit head signed into these backups (a backup
        /// folder or a folder of them): catches a log rewritten with recomputed hashes.
        #[arg(long)]
        backups: Option<PathBuf>,
        /// Public key for the backups (default: the server's published keys).
        #[arg(long)]
        pubkey: Option<PathBuf>,
    },
}

/// `ketang backup`.
#[derive(Subcommand, Debug)]
pub enum BackupCommand {
    /// Write a signed backup of the database and stored files.
    Create {
        /// Folder to create (must not exist or be empty).
        #[arg(long)]
        out: PathBuf,
        /// Name of the backup (default: the folder's name).
        #[arg(long)]
        label: Option<String>,
    },
    /// Check a backup (or class archive, or a folder of monthly backups); exits non-zero
    /// naming what changed.
    Verify(VerifyArgs),
    /// Load a backup into an empty database (SQLite or PostgreSQL), all or nothing.
    Restore {
        #[command(flatten)]
        src: VerifyArgs,
        /// Target database URL (`sqlite://PATH` or `postgres://…`); must be empty.
        #[arg(long)]
        into: String,
    },
}

/// A bundle and the key to check it with.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The backup folder.
    pub dir: PathBuf,
    /// Public key file (hex); default: every key the server has published.
    #[arg(long)]
    pub pubkey: Option<PathBuf>,
}

/// `ketang archive`.
#[derive(Subcommand, Debug)]
pub enum ArchiveCommand {
    /// Write the signed archive of a finished class (normally done when it finishes).
    Create {
        /// Class id.
        #[arg(long)]
        class: i64,
    },
}

/// `ketang key`.
#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// New data key (re-encrypts data at rest) and new signing key (old public keys kept).
    /// Stop the server first, or restart it afterwards.
    Rotate,
    /// Write the current public signing key (hex) for the bureau.
    Export {
        /// File to write.
        #[arg(long)]
        out: PathBuf,
    },
}

/// Folder of class archives.
pub fn archive_root(config: &Config) -> PathBuf {
    config.data_dir.join("archives")
}

fn verification_keys(
    config: &Config,
    pubkey: Option<&Path>,
) -> anyhow::Result<(PublicKeys, KeyChoice)> {
    match pubkey {
        Some(p) => Ok((PublicKeys::from_file(p)?, KeyChoice::Pinned)),
        None => {
            let dir = config.key_dir();
            let keys = signing::load_public_keys(&dir).with_context(|| {
                format!(
                    "no published signing keys in {}; give the bureau's copy with --pubkey FILE",
                    dir.display()
                )
            })?;
            Ok((keys, KeyChoice::Known))
        }
    }
}

/// Runs `ketang audit …`.
pub async fn audit(config: Config, cmd: AuditCommand) -> anyhow::Result<()> {
    match cmd {
        AuditCommand::Verify { backups, pubkey } => {
            let mut anchors = Vec::new();
            if let Some(dir) = &backups {
                let (keys, choice) = verification_keys(&config, pubkey.as_deref())?;
                let report = backup::verify_path(dir, &keys, choice)
                    .with_context(|| format!("{} failed verification", dir.display()))?;
                let single =
                    report.checked.len() == 1 && dir.join(super::bundle::MANIFEST).is_file();
                for (label, _, _) in &report.checked {
                    let d = if single { dir.clone() } else { dir.join(label) };
                    let (_, info) = backup::describe(&d)?;
                    if let Some(h) = info.audit_head {
                        anchors.push((label.clone(), h.seq, h.hash));
                    }
                }
            }
            let store = server::open_store(&config).await?;
            let mut conn = store.conn().await?;
            let n = audit_verify::verify_with_anchors(&mut conn, &anchors).await?;
            println!(
                "audit log intact: {n} entries, chain and head agree{}",
                if anchors.is_empty() {
                    String::new()
                } else {
                    format!(", and {} signed backup anchor(s) match", anchors.len())
                }
            );
            Ok(())
        }
    }
}

/// Runs `ketang backup …`.
pub async fn backup(config: Config, cmd: BackupCommand) -> anyhow::Result<()> {
    match cmd {
        BackupCommand::Create { out, label } => {
            let store = server::open_store(&config).await?;
            let signing = SigningKeys::load_or_create(&config.key_dir())?;
            let c = backup::create(
                &store,
                &config.data_dir,
                &out,
                label.as_deref(),
                &signing,
                (None, "operator"),
            )
            .await?;
            println!(
                "backup {} (#{}) written to {}: {} rows, {} bytes in {:.2}s; manifest sha256 {}",
                c.label,
                c.sequence,
                c.dir.display(),
                c.rows,
                c.bytes,
                c.seconds,
                c.manifest_sha256
            );
            Ok(())
        }
        BackupCommand::Verify(v) => {
            let (keys, choice) = verification_keys(&config, v.pubkey.as_deref())?;
            let r = backup::verify_path(&v.dir, &keys, choice)
                .with_context(|| format!("{} failed verification", v.dir.display()))?;
            for (label, seq, key) in &r.checked {
                println!("ok {label} (#{seq}) signed by {key}");
            }
            println!(
                "{} verified: signatures, every file's SHA-256, and the chain",
                v.dir.display()
            );
            Ok(())
        }
        BackupCommand::Restore { src, into } => {
            let (keys, choice) = verification_keys(&config, src.pubkey.as_deref())?;
            let r = backup::restore(&src.dir, &into, &keys, choice)
                .await
                .with_context(|| {
                    format!(
                        "nothing was restored into {}",
                        crate::store::redact_url(&into)
                    )
                })?;
            println!(
                "restored {} tables, {} rows into {}",
                r.tables,
                r.rows,
                crate::store::redact_url(&into)
            );
            Ok(())
        }
    }
}

/// Runs `ketang archive …`.
pub async fn archive(config: Config, cmd: ArchiveCommand) -> anyhow::Result<()> {
    match cmd {
        ArchiveCommand::Create { class } => {
            let store = server::open_store(&config).await?;
            let signing = SigningKeys::load_or_create(&config.key_dir())?;
            let a = archive::create(&store, &archive_root(&config), class, &signing).await?;
            println!(
                "class {class} archived to {} (manifest sha256 {})",
                a.dir.display(),
                a.manifest_sha256
            );
            Ok(())
        }
    }
}

/// Runs `ketang key …`.
pub async fn key(config: Config, cmd: KeyCommand) -> anyhow::Result<()> {
    match cmd {
        KeyCommand::Rotate => {
            let store = server::open_store(&config).await?;
            let r = keys::rotate(&store, &config.key_dir()).await?;
            println!(
                "data key {} is current ({} ciphertexts re-encrypted; old keys kept for old backups); signing key {} is current (old public keys still published). Restart a running server.",
                r.data_key_id, r.reencrypted, r.signing_key_id
            );
            Ok(())
        }
        KeyCommand::Export { out } => {
            let signing = SigningKeys::load_or_create(&config.key_dir())?;
            std::fs::write(
                &out,
                format!("{}\n", hex::encode(signing.verifying_key().as_bytes())),
            )
            .with_context(|| format!("writing {}", out.display()))?;
            println!(
                "public key {} written to {}",
                signing.key_id(),
                out.display()
            );
            Ok(())
        }
    }
}

/// Starts the monthly backup scheduler (called by `ketang serve`).
pub fn spawn_scheduler(
    store: crate::store::Store,
    config: Config,
    metrics: &crate::metrics::Metrics,
) -> anyhow::Result<()> {
    if !config.backup.enabled {
        tracing::info!("monthly backups are disabled");
        return Ok(());
    }
    let signing = SigningKeys::load_or_create(&config.key_dir())?;
    tracing::info!(
        day = config.backup.day_of_month,
        hour = config.backup.hour,
        dir = %schedule::backup_root(&config).display(),
        "monthly backups scheduled"
    );
    let m = schedule::BackupMetrics::register(metrics.registry());
    tokio::spawn(schedule::run(store, config, signing, m));
    Ok(())
}
