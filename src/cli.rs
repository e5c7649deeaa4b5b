//! The `ketang` command line.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{bail, Context};
use clap::{Args, Parser, Subcommand};
use signaling::Role;

use crate::auth::password;
use crate::config::{Config, LogFormat};
use crate::store::users::{self, NewUser};
use crate::store::{audit, institutions};
use crate::{demo, server, telemetry};

/// Ketang (课堂): live-classroom server for subsidised online entrepreneurship training.
#[derive(Parser, Debug)]
#[command(name = "ketang", version, about)]
pub struct Cli {
    /// TOML configuration file (values there override defaults; `KETANG_*` env overrides both).
    #[arg(long, global = true, env = "KETANG_CONFIG")]
    pub config: Option<PathBuf>,
    /// Log format.
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<LogFormat>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the server (applies pending migrations first).
    Serve {
        /// Address to listen on (default 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<SocketAddr>,
    },
    /// Apply pending database migrations and exit.
    Migrate,
    /// Seed demo data whose live classes are open now; safe to run again.
    Demo {
        /// Number of classes.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=50))]
        classes: u32,
        /// Students per class (at most 200: one lecturer teaches at most 200 at once).
        #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u32).range(1..=200))]
        students: u32,
    },
    /// Manage accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// The hash-chained audit log.
    #[command(subcommand)]
    Audit(crate::integrity::cli::AuditCommand),
    /// Signed backups: create, verify, restore.
    #[command(subcommand)]
    Backup(crate::integrity::cli::BackupCommand),
    /// Signed class archives.
    #[command(subcommand)]
    Archive(crate::integrity::cli::ArchiveCommand),
    /// Signing and data keys.
    #[command(subcommand)]
    Key(crate::integrity::cli::KeyCommand),
    /// Attendance tools.
    #[command(subcommand)]
    Attendance(AttendanceCommand),
    /// Face verification tools.
    #[command(subcommand)]
    Face(FaceCommand),
    /// Load a running server with real WebRTC peers; prints one JSON line last.
    Load {
        /// Server URL, e.g. http://127.0.0.1:8080.
        #[arg(long)]
        url: String,
        /// Subscribers in total (spread over the rooms, at most one per enrolled student).
        #[arg(long, default_value_t = 50)]
        subscribers: usize,
        /// Seconds measured after everyone joined.
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Room (class id); repeat for several; default: every live class.
        #[arg(long = "room")]
        rooms: Vec<i64>,
    },
}

/// `ketang attendance …`.
#[derive(Subcommand, Debug)]
pub enum AttendanceCommand {
    /// Feed a scripted live session through the ingestor (load and crash testing).
    Drive {
        /// Class id.
        #[arg(long)]
        class: i64,
        /// Session id (`class_sessions.id`).
        #[arg(long)]
        session: i64,
        /// Comma-separated student account ids.
        #[arg(long, value_delimiter = ',')]
        students: Vec<i64>,
        /// Heartbeats to send; 0 only starts the ingestor (recovering open intervals).
        #[arg(long, default_value_t = 0)]
        ticks: u64,
        /// Milliseconds between heartbeats.
        #[arg(long, default_value_t = 100)]
        tick_ms: u64,
    },
}

/// `ketang face …`.
#[derive(Subcommand, Debug)]
pub enum FaceCommand {
    /// Enroll from ENROLL_IMAGE (quality gates apply) and verify PROBE_IMAGE against it;
    /// prints outcome and distance as JSON.
    Verify {
        /// The enrollment photo (one-inch photo).
        enroll_image: PathBuf,
        /// The photo or frame to check.
        probe_image: PathBuf,
    },
    /// Accuracy on labelled pairs; the last line printed is one JSON object
    /// {"pairs","accuracy","far","frr","threshold","no_face","ms_per_pair_p50"}.
    Eval {
        /// TSV with header `path_a  path_b  same` (paths relative to its folder).
        #[arg(long)]
        pairs: PathBuf,
        /// Distance threshold (default: face.threshold from the configuration).
        #[arg(long)]
        threshold: Option<f64>,
        /// Jittered copies averaged for the enrollment side (0: one pass, as calibrated).
        #[arg(long, default_value_t = 0)]
        jitter: u32,
        /// Worker threads (default: face.workers).
        #[arg(long)]
        workers: Option<usize>,
        /// Also cross-validate the threshold over K folds (chosen on K-1, judged on the
        /// held-out fold); printed as a `{"cross_validation":…}` line before the summary.
        #[arg(long, value_name = "K")]
        folds: Option<usize>,
        /// Choose the threshold on this other labelled set (best accuracy there) and judge
        /// --pairs with it: a held-out test of the calibration.
        #[arg(long, value_name = "PAIRS.tsv", conflicts_with = "threshold")]
        choose_on: Option<PathBuf>,
    },
}

/// Account commands.
#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create an account (for operators: institution admins and regulators).
    Create(CreateUser),
}

/// `ketang user create`.
#[derive(Args, Debug)]
pub struct CreateUser {
    /// admin, lecturer, assistant, student or regulator.
    #[arg(long)]
    pub role: Role,
    /// Login name.
    #[arg(long)]
    pub username: String,
    /// Name shown to others (defaults to the username).
    #[arg(long)]
    pub display_name: Option<String>,
    /// Institution (by name) for admins, lecturers and assistants.
    #[arg(long)]
    pub institution: Option<String>,
    /// Create the institution with this 6-digit region code if it does not exist.
    #[arg(long)]
    pub region: Option<String>,
    /// Regulators: region-code prefix they supervise (e.g. `4102`).
    #[arg(long)]
    pub jurisdiction: Option<String>,
    /// Read the password from the first line of standard input (else KETANG_PASSWORD).
    #[arg(long)]
    pub password_stdin: bool,
}

fn load_config(cli: &Cli) -> anyhow::Result<Config> {
    let mut cfg = Config::load(cli.config.as_deref())?;
    if let Some(f) = cli.log_format {
        cfg.log_format = f;
    }
    Ok(cfg)
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = load_config(&cli)?;
    telemetry::init(config.log_format);
    match cli.command {
        Command::Serve { listen } => {
            if let Some(l) = listen {
                config.listen = l;
            }
            let state = server::app_state(config).await?;
            server::start_face(&state)?;
            crate::integrity::cli::spawn_scheduler(
                state.store.clone(),
                (*state.config).clone(),
                &state.metrics,
            )?;
            let bound = server::Bound::bind(state).await?;
            tracing::info!(addr = %bound.local_addr(), "listening");
            println!("Ketang is serving on {}", bound.url());
            bound.serve(server::shutdown_signal()).await
        }
        Command::Migrate => {
            server::open_store(&config).await?;
            println!(
                "database {} is up to date",
                crate::store::redact_url(&config.database_url())
            );
            Ok(())
        }
        Command::Demo { classes, students } => {
            let state = server::app_state(config).await?;
            let report = demo::seed(&state, classes, students).await?;
            print!("{}", report.render(&state.config.public_url()));
            Ok(())
        }
        Command::User(UserCommand::Create(args)) => create_user(config, args).await,
        Command::Audit(cmd) => crate::integrity::cli::audit(config, cmd).await,
        Command::Backup(cmd) => crate::integrity::cli::backup(config, cmd).await,
        Command::Archive(cmd) => crate::integrity::cli::archive(config, cmd).await,
        Command::Key(cmd) => crate::integrity::cli::key(config, cmd).await,
        Command::Attendance(AttendanceCommand::Drive {
            class,
            session,
            students,
            ticks,
            tick_ms,
        }) => {
            let plan = crate::attendance::drive::DrivePlan {
                session: crate::attendance::events::ClassSession {
                    class_id: class,
                    session_id: session,
                },
                students,
                ticks,
                tick: std::time::Duration::from_millis(tick_ms),
            };
            crate::attendance::drive::run(&config, &plan).await
        }
        Command::Face(cmd) => face_command(&config, cmd).await,
        Command::Load {
            url,
            subscribers,
            seconds,
            rooms,
        } => {
            let opts = crate::load::LoadOptions {
                url,
                subscribers,
                seconds,
                rooms,
            };
            let line = crate::load::run(config, opts).await?;
            println!("{line}");
            Ok(())
        }
    }
}

async fn face_command(config: &Config, cmd: FaceCommand) -> anyhow::Result<()> {
    let cfg = config.face.clone();
    let out = tokio::task::spawn_blocking(move || match cmd {
        FaceCommand::Verify {
            enroll_image,
            probe_image,
        } => crate::face_checks::verify_command(&cfg, &enroll_image, &probe_image)
            .map(|v| v.to_string()),
        FaceCommand::Eval {
            pairs,
            threshold,
            jitter,
            workers,
            folds,
            choose_on,
        } => crate::face_checks::eval_command(
            &cfg,
            &crate::face_checks::EvalRequest {
                pairs,
                threshold,
                jitter,
                workers: workers.unwrap_or(cfg.workers),
                folds,
                choose_on,
            },
        )
        // Serialised from the struct, so the keys keep the documented order.
        .map(|lines| lines.join("\n")),
    })
    .await??;
    println!("{out}");
    Ok(())
}

async fn create_user(config: Config, args: CreateUser) -> anyhow::Result<()> {
    let pw = if args.password_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line.trim_end_matches(['\r', '\n']).to_string()
    } else {
        std::env::var("KETANG_PASSWORD")
            .context("give the password on stdin with --password-stdin or in KETANG_PASSWORD")?
    };
    if let Some(why) = password::policy_violation(&pw) {
        bail!("password {why}");
    }
    let needs_institution = matches!(args.role, Role::Admin | Role::Lecturer | Role::Assistant);
    match (args.role, &args.jurisdiction, &args.institution) {
        (Role::Regulator, None, _) => {
            bail!("a regulator needs --jurisdiction (region-code prefix, e.g. 4102)")
        }
        (Role::Regulator, Some(j), _)
            if j.is_empty() || !j.chars().all(|c| c.is_ascii_digit()) || j.len() > 6 =>
        {
            bail!("--jurisdiction must be 1–6 digits of a region code")
        }
        (_, _, None) if needs_institution => bail!("a {} needs --institution", args.role),
        _ => {}
    }
    let store = server::open_store(&config).await?;
    let mut tx = store.begin().await?;
    let institution_id = match &args.institution {
        None => None,
        Some(name) => match institutions::find_by_name(&mut tx, name).await? {
            Some(i) => Some(i.id),
            None => match &args.region {
                Some(r) if r.len() == 6 && r.chars().all(|c| c.is_ascii_digit()) => {
                    Some(institutions::insert(&mut tx, name, r).await?)
                }
                Some(_) => bail!("--region must be a 6-digit region code"),
                None => {
                    bail!("institution {name:?} does not exist; add --region CODE to create it")
                }
            },
        },
    };
    let hash = tokio::task::spawn_blocking(move || password::hash(&pw)).await?;
    let display = args.display_name.unwrap_or_else(|| args.username.clone());
    let id = users::insert(
        &mut tx,
        &NewUser {
            username: &args.username,
            password_hash: &hash,
            role: args.role,
            display_name: &display,
            institution_id,
            jurisdiction: args.jurisdiction.as_deref(),
            must_change_password: false,
        },
    )
    .await
    .map_err(|e| {
        if e.is_unique_violation() {
            anyhow::anyhow!("username {:?} is taken", args.username)
        } else {
            e.into()
        }
    })?;
    audit::record(
        &mut tx,
        &audit::NewEntry {
            actor_id: None,
            actor_role: Some("operator"),
            action: "user.create",
            target_kind: "user",
            target_id: Some(id.to_string()),
            institution_id,
            detail: serde_json::json!({"role": args.role, "username": args.username}),
        },
    )
    .await?;
    tx.commit().await?;
    println!("created {} {:?} (id {id})", args.role, args.username);
    Ok(())
}
