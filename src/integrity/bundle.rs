//! Signed bundles: a folder of files plus `manifest.json` (SHA-256 and size of every file,
//! the id of the signing key and kind-specific content) and `manifest.sig` (Ed25519 over the
//! exact bytes of `manifest.json`, hex). Backups and class archives are bundles.
//!
//! Writing goes to a hidden sibling folder that is renamed into place at the end, so a
//! crash leaves no half-written bundle under the final name. Verification reports exactly
//! which file changed, vanished or appeared, or that the manifest or signature was altered.

use std::fs;
use std::io::{BufWriter, Read, Write};
use std::path::{Component, Path, PathBuf};

use ed25519_dalek::Signature;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::signing::{PublicKeys, SigningKeys};

/// Name of the manifest inside a bundle.
pub const MANIFEST: &str = "manifest.json";
/// Name of the signature inside a bundle.
pub const SIGNATURE: &str = "manifest.sig";
/// Format tag in every manifest.
pub const FORMAT: &str = "ketang-bundle/1";

/// One file of a bundle.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct FileEntry {
    /// Path inside the bundle, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub bytes: u64,
    /// SHA-256, hex.
    pub sha256: String,
}

/// The signed description of a bundle.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// [`FORMAT`].
    pub format: String,
    /// `backup` or `class-archive`.
    pub kind: String,
    /// Name of the bundle (also its folder name).
    pub label: String,
    /// Unix ms.
    pub created_at: i64,
    /// Id of the signing key.
    pub key_id: String,
    /// Every file except the manifest and signature, sorted by path.
    pub files: Vec<FileEntry>,
    /// What the kind adds (tables and chain link for backups, sections for archives).
    pub content: serde_json::Value,
}

/// A problem found in a bundle.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    /// No such folder.
    #[error("{0} does not exist")]
    NotFound(PathBuf),
    /// The folder has no manifest.
    #[error("{0} is not a Ketang backup or archive: it has no manifest.json")]
    NotABundle(PathBuf),
    /// The manifest is unreadable.
    #[error("manifest.json was altered or truncated: it is not a valid manifest ({0})")]
    ManifestCorrupt(String),
    /// The signature file is missing.
    #[error("manifest.sig is missing: the bundle is unsigned")]
    SignatureMissing,
    /// The signature file is not a signature.
    #[error("manifest.sig was altered: it is not a 64-byte Ed25519 signature in hex")]
    SignatureMalformed,
    /// Signed with a key not among the known public keys.
    #[error("signed by key {signed_by}, which is not among the known public keys ({known}); give the right one with --pubkey")]
    UnknownKey {
        /// Key id in the manifest.
        signed_by: String,
        /// Ids we have.
        known: String,
    },
    /// The public key given is not the one the manifest names.
    #[error("wrong public key: the given key is {given}, but this bundle names key {signed_by}")]
    WrongKey {
        /// Given key id.
        given: String,
        /// Key id in the manifest.
        signed_by: String,
    },
    /// The signature does not match.
    #[error("manifest.sig does not verify manifest.json with key {key_id}: the manifest was edited or the signature replaced")]
    BadSignature {
        /// Key used.
        key_id: String,
    },
    /// Files differ from the manifest.
    #[error("{}", problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Files {
        /// Every difference found.
        problems: Vec<FileProblem>,
    },
    /// I/O failed.
    #[error("{path}: {source}")]
    Io {
        /// Where.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The output folder exists already.
    #[error("{0} already exists and is not empty; choose a new folder")]
    OutputExists(PathBuf),
}

/// One difference between a bundle's files and its manifest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileProblem {
    /// A listed file is gone.
    #[error("{0} is missing")]
    Missing(String),
    /// Size differs.
    #[error("{path} was truncated or extended: {found} bytes, the manifest says {expected}")]
    Size {
        /// File.
        path: String,
        /// Listed size.
        expected: u64,
        /// Actual size.
        found: u64,
    },
    /// Content differs.
    #[error("{path} was altered: its SHA-256 is {found}, the manifest says {expected}")]
    Altered {
        /// File.
        path: String,
        /// Listed hash (abbreviated).
        expected: String,
        /// Actual hash (abbreviated).
        found: String,
    },
    /// A file not in the manifest.
    #[error("{0} is not in the manifest (added after signing)")]
    Unexpected(String),
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> BundleError + '_ {
    move |source| BundleError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// SHA-256 (hex) of some bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A file being written into a bundle; hashes as it goes.
pub struct FileWriter<'a> {
    inner: BufWriter<fs::File>,
    hasher: Sha256,
    bytes: u64,
    entry_list: &'a mut Vec<FileEntry>,
    path: String,
}

impl Write for FileWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

impl FileWriter<'_> {
    /// Flushes, syncs and lists the file.
    pub fn close(mut self) -> std::io::Result<()> {
        self.inner.flush()?;
        self.inner.get_ref().sync_all()?;
        self.entry_list.push(FileEntry {
            path: std::mem::take(&mut self.path),
            bytes: self.bytes,
            sha256: hex::encode(std::mem::take(&mut self.hasher).finalize()),
        });
        Ok(())
    }
}

/// Builds a bundle in a staging folder.
pub struct BundleWriter {
    out: PathBuf,
    staging: PathBuf,
    files: Vec<FileEntry>,
}

/// Whether `rel` is a plain relative path inside a bundle.
fn safe_relative(rel: &str) -> bool {
    let p = Path::new(rel);
    !rel.is_empty()
        && p.components().all(|c| matches!(c, Component::Normal(_)))
        && rel != MANIFEST
        && rel != SIGNATURE
}

impl BundleWriter {
    /// Starts a bundle that will appear at `out` (which must not exist or be empty).
    pub fn create(out: &Path) -> Result<Self, BundleError> {
        if out.exists() {
            let empty = fs::read_dir(out).map_err(io_err(out))?.next().is_none();
            if !empty {
                return Err(BundleError::OutputExists(out.to_path_buf()));
            }
            fs::remove_dir(out).map_err(io_err(out))?;
        }
        let name = out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "bundle".into());
        let parent = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        fs::create_dir_all(parent).map_err(io_err(parent))?;
        let staging = parent.join(format!(".{name}.partial-{}", std::process::id()));
        let _ = fs::remove_dir_all(&staging);
        fs::create_dir_all(&staging).map_err(io_err(&staging))?;
        Ok(Self {
            out: out.to_path_buf(),
            staging,
            files: Vec::new(),
        })
    }

    /// Opens a new file at `rel` (e.g. `tables/users.jsonl`).
    pub fn file(&mut self, rel: &str) -> Result<FileWriter<'_>, BundleError> {
        assert!(safe_relative(rel), "bundle path {rel:?}");
        let path = self.staging.join(rel);
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        let f = fs::File::create(&path).map_err(io_err(&path))?;
        Ok(FileWriter {
            inner: BufWriter::with_capacity(256 * 1024, f),
            hasher: Sha256::new(),
            bytes: 0,
            entry_list: &mut self.files,
            path: rel.to_string(),
        })
    }

    /// Adds a whole file from memory.
    pub fn add(&mut self, rel: &str, bytes: &[u8]) -> Result<(), BundleError> {
        let path = self.staging.join(rel);
        let mut w = self.file(rel)?;
        w.write_all(bytes).map_err(io_err(&path))?;
        w.close().map_err(io_err(&path))
    }

    /// Copies a file from disk.
    pub fn copy(&mut self, rel: &str, src: &Path) -> Result<(), BundleError> {
        let path = self.staging.join(rel);
        let mut input = fs::File::open(src).map_err(io_err(src))?;
        let mut w = self.file(rel)?;
        std::io::copy(&mut input, &mut w).map_err(io_err(&path))?;
        w.close().map_err(io_err(&path))
    }

    /// Writes and signs the manifest, then moves the bundle into place. Returns the
    /// manifest and the SHA-256 of its bytes (the link the next backup chains onto).
    pub fn finish(
        mut self,
        kind: &str,
        label: &str,
        content: serde_json::Value,
        keys: &SigningKeys,
    ) -> Result<(Manifest, String), BundleError> {
        self.files.sort_by(|a, b| a.path.cmp(&b.path));
        let manifest = Manifest {
            format: FORMAT.into(),
            kind: kind.into(),
            label: label.into(),
            created_at: crate::store::now_ms(),
            key_id: keys.key_id().to_string(),
            files: std::mem::take(&mut self.files),
            content,
        };
        let mut body = serde_json::to_vec_pretty(&manifest).expect("serialisable");
        body.push(b'\n');
        let sig = keys.sign(&body);
        let mpath = self.staging.join(MANIFEST);
        fs::write(&mpath, &body).map_err(io_err(&mpath))?;
        let spath = self.staging.join(SIGNATURE);
        fs::write(&spath, format!("{}\n", hex::encode(sig.to_bytes()))).map_err(io_err(&spath))?;
        fs::rename(&self.staging, &self.out).map_err(io_err(&self.out))?;
        Ok((manifest, sha256_hex(&body)))
    }
}

impl Drop for BundleWriter {
    fn drop(&mut self) {
        // Unfinished (error path): leave nothing behind.
        if self.staging.exists() {
            let _ = fs::remove_dir_all(&self.staging);
        }
    }
}

/// A bundle whose signature and files check out.
#[derive(Clone, Debug)]
pub struct Verified {
    /// Its manifest.
    pub manifest: Manifest,
    /// SHA-256 of `manifest.json`.
    pub manifest_sha256: String,
}

/// How to pick the verification key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyChoice {
    /// Any key in the set, by the manifest's `key_id` (the server's own key folder).
    Known,
    /// Exactly the given key (`--pubkey`): any other is a wrong key.
    Pinned,
}

fn file_sha256(path: &Path) -> std::io::Result<(u64, String)> {
    let mut f = fs::File::open(path)?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut n_total = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        n_total += n as u64;
    }
    Ok((n_total, hex::encode(h.finalize())))
}

fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<(), BundleError> {
    for e in fs::read_dir(dir).map_err(io_err(dir))? {
        let e = e.map_err(io_err(dir))?;
        let p = e.path();
        if p.is_dir() {
            walk(root, &p, out)?;
        } else {
            let rel = p.strip_prefix(root).expect("under root");
            out.push(
                rel.components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/"),
            );
        }
    }
    Ok(())
}

/// Reads a manifest without checking anything (to show what a bundle claims).
pub fn read_manifest(dir: &Path) -> Result<(Manifest, Vec<u8>), BundleError> {
    if !dir.exists() {
        return Err(BundleError::NotFound(dir.to_path_buf()));
    }
    let mpath = dir.join(MANIFEST);
    if !mpath.is_file() {
        return Err(BundleError::NotABundle(dir.to_path_buf()));
    }
    let raw = fs::read(&mpath).map_err(io_err(&mpath))?;
    let m: Manifest =
        serde_json::from_slice(&raw).map_err(|e| BundleError::ManifestCorrupt(e.to_string()))?;
    if m.format != FORMAT {
        return Err(BundleError::ManifestCorrupt(format!(
            "format {:?} is not {FORMAT}",
            m.format
        )));
    }
    Ok((m, raw))
}

/// Checks the signature and every file of the bundle in `dir`.
pub fn verify(dir: &Path, keys: &PublicKeys, choice: KeyChoice) -> Result<Verified, BundleError> {
    let (manifest, raw) = read_manifest(dir)?;
    let spath = dir.join(SIGNATURE);
    let sig_text = match fs::read_to_string(&spath) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(BundleError::SignatureMissing)
        }
        Err(e) => return Err(io_err(&spath)(e)),
    };
    let sig_bytes: [u8; 64] = hex::decode(sig_text.trim())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(BundleError::SignatureMalformed)?;
    let sig = Signature::from_bytes(&sig_bytes);
    match keys.verify(&manifest.key_id, &raw, &sig) {
        Some(true) => {}
        Some(false) => {
            return Err(BundleError::BadSignature {
                key_id: manifest.key_id.clone(),
            })
        }
        None if choice == KeyChoice::Pinned => {
            return Err(BundleError::WrongKey {
                given: keys.ids().join(", "),
                signed_by: manifest.key_id.clone(),
            })
        }
        None => {
            return Err(BundleError::UnknownKey {
                signed_by: manifest.key_id.clone(),
                known: keys.ids().join(", "),
            })
        }
    }
    let mut problems = Vec::new();
    let short = |h: &str| h.chars().take(16).collect::<String>();
    for f in &manifest.files {
        if !safe_relative(&f.path) {
            return Err(BundleError::ManifestCorrupt(format!(
                "unsafe path {:?}",
                f.path
            )));
        }
        let p = dir.join(&f.path);
        if !p.is_file() {
            problems.push(FileProblem::Missing(f.path.clone()));
            continue;
        }
        let (bytes, sha) = file_sha256(&p).map_err(io_err(&p))?;
        if bytes != f.bytes {
            problems.push(FileProblem::Size {
                path: f.path.clone(),
                expected: f.bytes,
                found: bytes,
            });
        } else if sha != f.sha256 {
            problems.push(FileProblem::Altered {
                path: f.path.clone(),
                expected: short(&f.sha256),
                found: short(&sha),
            });
        }
    }
    let mut present = Vec::new();
    walk(dir, dir, &mut present)?;
    present.sort();
    for p in present {
        if p != MANIFEST && p != SIGNATURE && !manifest.files.iter().any(|f| f.path == p) {
            problems.push(FileProblem::Unexpected(p));
        }
    }
    if !problems.is_empty() {
        return Err(BundleError::Files { problems });
    }
    Ok(Verified {
        manifest_sha256: sha256_hex(&raw),
        manifest,
    })
}
