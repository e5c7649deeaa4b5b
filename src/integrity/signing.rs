//! The server's Ed25519 signing key (for backup and archive manifests) and the public keys
//! of every key it has ever used, so backups signed before a rotation still verify.
//!
//! Files in the key folder: `signing.key` (mode 0600: current key id and its 32-byte seed)
//! and `signing-public.json` (every public key by id; not secret).

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Private signing key file.
pub const SIGNING_KEY_FILE: &str = "signing.key";
/// Public keys file.
pub const PUBLIC_KEYS_FILE: &str = "signing-public.json";

/// Errors of key handling.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Reading or writing a key file failed.
    #[error("key file {path}: {source}")]
    Io {
        /// Which file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The private key file is readable by others.
    #[error("key file {0} is readable by group/others; run `chmod 600` on it")]
    Permissions(PathBuf),
    /// A key file does not hold what it should.
    #[error("key file {path} is corrupt: {reason}")]
    Corrupt {
        /// Which file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A public key given by the user is not one.
    #[error("{0} is not an Ed25519 public key (expected 64 hex digits, as served by /api/backups/public-keys or written by `ketang key export`)")]
    BadPublicKey(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> KeyError + '_ {
    move |source| KeyError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Short stable name of a public key: the first 16 hex digits of its SHA-256.
pub fn key_id(key: &VerifyingKey) -> String {
    hex::encode(&Sha256::digest(key.as_bytes())[..8])
}

/// Parses a public key in hex (whitespace ignored).
pub fn parse_public_key(text: &str) -> Result<VerifyingKey, KeyError> {
    let t: String = text.split_whitespace().collect();
    let bytes = hex::decode(&t).map_err(|_| KeyError::BadPublicKey(abbrev(&t)))?;
    let arr: [u8; 32] = bytes
        .try_into()
        .map_err(|_| KeyError::BadPublicKey(abbrev(&t)))?;
    VerifyingKey::from_bytes(&arr).map_err(|_| KeyError::BadPublicKey(abbrev(&t)))
}

fn abbrev(s: &str) -> String {
    if s.chars().count() > 20 {
        format!("{}…", s.chars().take(20).collect::<String>())
    } else if s.is_empty() {
        "the empty file".into()
    } else {
        s.to_string()
    }
}

#[derive(Serialize, Deserialize)]
struct PrivateFile {
    key_id: String,
    seed: String,
}

/// One public key, as published.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct PublicKeyInfo {
    /// Short id (in every manifest's `key_id`).
    pub key_id: String,
    /// 32-byte Ed25519 public key, hex.
    pub public_key: String,
    /// Unix ms the key was made.
    pub created_at: i64,
    /// Unix ms it was replaced by a rotation (none for the current key).
    pub retired_at: Option<i64>,
}

#[derive(Default, Serialize, Deserialize)]
struct PublicFile {
    keys: Vec<PublicKeyInfo>,
}

/// A set of public keys to verify with.
#[derive(Clone, Debug, Default)]
pub struct PublicKeys {
    keys: BTreeMap<String, VerifyingKey>,
}

impl PublicKeys {
    /// Exactly one key (e.g. from `--pubkey`).
    pub fn single(key: VerifyingKey) -> Self {
        Self {
            keys: BTreeMap::from([(key_id(&key), key)]),
        }
    }

    /// Reads a `--pubkey FILE`.
    pub fn from_file(path: &Path) -> Result<Self, KeyError> {
        let text = fs::read_to_string(path).map_err(io(path))?;
        Ok(Self::single(parse_public_key(&text)?))
    }

    /// The key with this id.
    pub fn get(&self, id: &str) -> Option<&VerifyingKey> {
        self.keys.get(id)
    }

    /// Ids of the keys held.
    pub fn ids(&self) -> Vec<String> {
        self.keys.keys().cloned().collect()
    }

    /// Checks `sig` over `msg` with key `id`.
    pub fn verify(&self, id: &str, msg: &[u8], sig: &Signature) -> Option<bool> {
        self.keys.get(id).map(|k| k.verify(msg, sig).is_ok())
    }
}

/// The server's current signing key and the published public keys.
pub struct SigningKeys {
    key: SigningKey,
    key_id: String,
    public: Vec<PublicKeyInfo>,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKeys")
            .field("key_id", &self.key_id)
            .finish_non_exhaustive()
    }
}

/// Writes `body` to `path` atomically (temp file + rename) with `mode`.
fn write_atomic(path: &Path, body: &[u8], mode: u32) -> Result<(), KeyError> {
    let tmp = path.with_extension("tmp");
    let _ = fs::remove_file(&tmp);
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(body).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, path).map_err(io(path))
}

fn new_seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    seed
}

impl SigningKeys {
    /// Loads the keys in `dir`, creating a first key (0600) if there is none.
    pub fn load_or_create(dir: &Path) -> Result<Self, KeyError> {
        let private = dir.join(SIGNING_KEY_FILE);
        if !private.exists() {
            fs::create_dir_all(dir).map_err(io(dir))?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
            Self::install(dir, SigningKey::from_bytes(&new_seed()), Vec::new())?;
        }
        let meta = fs::metadata(&private).map_err(io(&private))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(KeyError::Permissions(private));
        }
        let corrupt = |path: &Path, reason: String| KeyError::Corrupt {
            path: path.to_path_buf(),
            reason,
        };
        let raw = fs::read(&private).map_err(io(&private))?;
        let file: PrivateFile =
            serde_json::from_slice(&raw).map_err(|e| corrupt(&private, e.to_string()))?;
        let seed: [u8; 32] = hex::decode(&file.seed)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| corrupt(&private, "seed is not 32 bytes of hex".into()))?;
        let key = SigningKey::from_bytes(&seed);
        let id = key_id(&key.verifying_key());
        if id != file.key_id {
            return Err(corrupt(
                &private,
                format!("key id {} does not match the seed", file.key_id),
            ));
        }
        let public_path = dir.join(PUBLIC_KEYS_FILE);
        let public: PublicFile = match fs::read(&public_path) {
            Ok(b) => {
                serde_json::from_slice(&b).map_err(|e| corrupt(&public_path, e.to_string()))?
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => PublicFile::default(),
            Err(e) => return Err(io(&public_path)(e)),
        };
        for k in &public.keys {
            parse_public_key(&k.public_key).map_err(|e| corrupt(&public_path, e.to_string()))?;
        }
        let mut keys = Self {
            key,
            key_id: id,
            public: public.keys,
        };
        if !keys.public.iter().any(|k| k.key_id == keys.key_id) {
            // Public file lost: republish the current key.
            keys.public.push(keys.current_info(crate::store::now_ms()));
            keys.save_public(dir)?;
        }
        Ok(keys)
    }

    fn current_info(&self, now: i64) -> PublicKeyInfo {
        PublicKeyInfo {
            key_id: self.key_id.clone(),
            public_key: hex::encode(self.key.verifying_key().as_bytes()),
            created_at: now,
            retired_at: None,
        }
    }

    fn save_public(&self, dir: &Path) -> Result<(), KeyError> {
        let body = serde_json::to_vec_pretty(&PublicFile {
            keys: self.public.clone(),
        })
        .expect("serialisable");
        write_atomic(&dir.join(PUBLIC_KEYS_FILE), &body, 0o644)
    }

    fn install(
        dir: &Path,
        key: SigningKey,
        mut public: Vec<PublicKeyInfo>,
    ) -> Result<Self, KeyError> {
        let now = crate::store::now_ms();
        for k in &mut public {
            k.retired_at.get_or_insert(now);
        }
        let keys = Self {
            key_id: key_id(&key.verifying_key()),
            key,
            public,
        };
        let mut keys = keys;
        keys.public.push(keys.current_info(now));
        // Public keys first: if we die between the two writes, the new key is published
        // but unused, never used but unpublished.
        keys.save_public(dir)?;
        let body = serde_json::to_vec_pretty(&PrivateFile {
            key_id: keys.key_id.clone(),
            seed: hex::encode(keys.key.to_bytes()),
        })
        .expect("serialisable");
        write_atomic(&dir.join(SIGNING_KEY_FILE), &body, 0o600)?;
        Ok(keys)
    }

    /// Replaces the signing key with a new one; the old public key stays published (marked
    /// retired) so what it signed still verifies. The old private key is discarded.
    pub fn rotate(self, dir: &Path) -> Result<Self, KeyError> {
        Self::install(dir, SigningKey::from_bytes(&new_seed()), self.public)
    }

    /// Id of the current key.
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// The current public key.
    pub fn verifying_key(&self) -> VerifyingKey {
        self.key.verifying_key()
    }

    /// Signs `msg` with the current key.
    pub fn sign(&self, msg: &[u8]) -> Signature {
        self.key.sign(msg)
    }

    /// Every public key ever used, oldest first.
    pub fn published(&self) -> &[PublicKeyInfo] {
        &self.public
    }

    /// Every public key ever used, for verification.
    pub fn public_keys(&self) -> PublicKeys {
        PublicKeys {
            keys: self
                .public
                .iter()
                .filter_map(|k| parse_public_key(&k.public_key).ok())
                .map(|k| (key_id(&k), k))
                .collect(),
        }
    }
}

/// Loads only the published public keys in `dir` (no private key needed: for verifying
/// on a machine that only holds the bureau's copy of the key folder).
pub fn load_public_keys(dir: &Path) -> Result<PublicKeys, KeyError> {
    let path = dir.join(PUBLIC_KEYS_FILE);
    let raw = fs::read(&path).map_err(io(&path))?;
    let file: PublicFile = serde_json::from_slice(&raw).map_err(|e| KeyError::Corrupt {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let mut keys = BTreeMap::new();
    for k in file.keys {
        let vk = parse_public_key(&k.public_key)?;
        keys.insert(key_id(&vk), vk);
    }
    Ok(PublicKeys { keys })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_run_creates_0600_and_rotation_keeps_old_public_keys() {
        let dir = tempfile::tempdir().unwrap();
        let k1 = SigningKeys::load_or_create(dir.path()).unwrap();
        let mode = fs::metadata(dir.path().join(SIGNING_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let sig = k1.sign(b"manifest");
        let id1 = k1.key_id().to_string();
        // Reload: same key.
        let again = SigningKeys::load_or_create(dir.path()).unwrap();
        assert_eq!(again.key_id(), id1);
        let k2 = again.rotate(dir.path()).unwrap();
        assert_ne!(k2.key_id(), id1);
        let reloaded = SigningKeys::load_or_create(dir.path()).unwrap();
        assert_eq!(reloaded.key_id(), k2.key_id());
        let pubs = load_public_keys(dir.path()).unwrap();
        assert_eq!(pubs.verify(&id1, b"manifest", &sig), Some(true));
        assert_eq!(pubs.verify(&id1, b"manifesT", &sig), Some(false));
        assert_eq!(reloaded.published().len(), 2);
        assert!(reloaded.published()[0].retired_at.is_some());
        assert!(reloaded.published()[1].retired_at.is_none());
    }

    #[test]
    fn refuses_a_world_readable_key_and_bad_public_keys() {
        let dir = tempfile::tempdir().unwrap();
        SigningKeys::load_or_create(dir.path()).unwrap();
        let p = dir.path().join(SIGNING_KEY_FILE);
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            SigningKeys::load_or_create(dir.path()),
            Err(KeyError::Permissions(_))
        ));
        assert!(parse_public_key("zz").is_err());
        assert!(parse_public_key(&"ab".repeat(31)).is_err());
        let e = parse_public_key("").unwrap_err().to_string();
        assert!(e.contains("the empty file"), "{e}");
    }
}
