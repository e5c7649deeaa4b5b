//! Encryption at rest for personal data (resident ID numbers, ID-card photos, one-inch
//! photos): AES-256-GCM with a key file created on first run (mode 0600), plus a keyed
//! blind index so an ID number can be checked for uniqueness without storing it in clear.
//!
//! Ciphertext layout: `version (1) | key id (4, BE) | nonce (12) | ciphertext+tag`. The key
//! id lets a later key rotation keep old keys for decryption.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

const FORMAT_VERSION: u8 = 1;
const HEADER_LEN: usize = 1 + 4 + 12;
/// File name of the data keyring inside the key folder.
pub const DATA_KEY_FILE: &str = "data.key";

/// Errors from key handling and decryption.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// The key file could not be read or created.
    #[error("key file {path}: {source}")]
    Io {
        /// Which file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The key file is readable by other users.
    #[error("key file {0} is readable by group/others; run `chmod 600` on it")]
    Permissions(PathBuf),
    /// The key file's content is not a keyring.
    #[error("key file {path} is corrupt: {reason}")]
    Corrupt {
        /// Which file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The ciphertext was altered, or was made with a key this keyring lacks.
    #[error("cannot decrypt: {0}")]
    Decrypt(&'static str),
}

#[derive(Serialize, Deserialize)]
struct KeyFile {
    current: u32,
    data_keys: BTreeMap<u32, String>,
    index_key: String,
}

/// The server's data keys.
pub struct Keyring {
    current: u32,
    data_keys: BTreeMap<u32, Aes256Gcm>,
    index_key: [u8; 32],
}

impl std::fmt::Debug for Keyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

fn random_key() -> [u8; 32] {
    let mut k = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut k);
    k
}

fn decode_key(path: &Path, hex_key: &str) -> Result<[u8; 32], CryptoError> {
    let bytes = hex::decode(hex_key).map_err(|e| CryptoError::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    bytes.try_into().map_err(|_| CryptoError::Corrupt {
        path: path.to_path_buf(),
        reason: "a key is not 32 bytes".into(),
    })
}

impl Keyring {
    /// Loads `dir/data.key`, creating it (and `dir`, mode 0700) with fresh keys on first run.
    pub fn load_or_create(dir: &Path) -> Result<Self, CryptoError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CryptoError::Io { path, source }
        };
        let path = dir.join(DATA_KEY_FILE);
        if !path.exists() {
            fs::create_dir_all(dir).map_err(io(dir))?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
            let file = KeyFile {
                current: 1,
                data_keys: BTreeMap::from([(1, hex::encode(random_key()))]),
                index_key: hex::encode(random_key()),
            };
            let body = serde_json::to_vec_pretty(&file).expect("serialisable");
            // create_new: two processes starting at once must not overwrite each other's key.
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
            {
                Ok(mut f) => {
                    f.write_all(&body).map_err(io(&path))?;
                    f.sync_all().map_err(io(&path))?;
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io(&path)(e)),
            }
        }
        let meta = fs::metadata(&path).map_err(io(&path))?;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(CryptoError::Permissions(path));
        }
        let raw = fs::read(&path).map_err(io(&path))?;
        let file: KeyFile = serde_json::from_slice(&raw).map_err(|e| CryptoError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let mut data_keys = BTreeMap::new();
        for (id, hex_key) in &file.data_keys {
            let key = decode_key(&path, hex_key)?;
            data_keys.insert(*id, Aes256Gcm::new(&key.into()));
        }
        if !data_keys.contains_key(&file.current) {
            return Err(CryptoError::Corrupt {
                path,
                reason: format!("current key {} is missing", file.current),
            });
        }
        let index_key = decode_key(&path, &file.index_key)?;
        Ok(Self {
            current: file.current,
            data_keys,
            index_key,
        })
    }

    /// Encrypts `plaintext`; `context` (e.g. `b"id_number"`) is authenticated, so a
    /// ciphertext cannot be moved to a field of another kind.
    pub fn encrypt(&self, plaintext: &[u8], context: &[u8]) -> Vec<u8> {
        let cipher = &self.data_keys[&self.current];
        let mut nonce = [0u8; 12];
        rand::rngs::OsRng.fill_bytes(&mut nonce);
        let ct = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: context,
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(HEADER_LEN + ct.len());
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&self.current.to_be_bytes());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Decrypts what [`Keyring::encrypt`] produced with the same `context`.
    pub fn decrypt(&self, blob: &[u8], context: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if blob.len() < HEADER_LEN + 16 || blob[0] != FORMAT_VERSION {
            return Err(CryptoError::Decrypt("not a Ketang ciphertext"));
        }
        let key_id = u32::from_be_bytes(blob[1..5].try_into().expect("4 bytes"));
        let cipher = self
            .data_keys
            .get(&key_id)
            .ok_or(CryptoError::Decrypt("made with an unknown key"))?;
        cipher
            .decrypt(
                Nonce::from_slice(&blob[5..HEADER_LEN]),
                Payload {
                    msg: &blob[HEADER_LEN..],
                    aad: context,
                },
            )
            .map_err(|_| CryptoError::Decrypt("authentication failed (altered data?)"))
    }

    /// Id of the key new ciphertexts are made with.
    pub fn current_key_id(&self) -> u32 {
        self.current
    }

    /// Ids of every key held (old ones decrypt old data and old backups).
    pub fn key_ids(&self) -> Vec<u32> {
        self.data_keys.keys().copied().collect()
    }

    /// The key id in a ciphertext's header, if it looks like one of ours.
    pub fn key_id_of(blob: &[u8]) -> Option<u32> {
        (blob.len() >= HEADER_LEN + 16 && blob[0] == FORMAT_VERSION)
            .then(|| u32::from_be_bytes(blob[1..5].try_into().expect("4 bytes")))
    }

    /// Re-encrypts `blob` under the current key; `None` when it already uses it.
    pub fn reencrypt(&self, blob: &[u8], context: &[u8]) -> Result<Option<Vec<u8>>, CryptoError> {
        if Self::key_id_of(blob) == Some(self.current) {
            return Ok(None);
        }
        let plain = self.decrypt(blob, context)?;
        Ok(Some(self.encrypt(&plain, context)))
    }

    /// Adds a fresh data key to `dir/data.key` and makes it current. Old keys stay (they
    /// decrypt data not yet re-encrypted and every older backup); the blind-index key is
    /// kept, so uniqueness look-ups keep working. The file is replaced atomically.
    pub fn rotate(dir: &Path) -> Result<Self, CryptoError> {
        let path = dir.join(DATA_KEY_FILE);
        let io = |source| CryptoError::Io {
            path: path.clone(),
            source,
        };
        // Loading first checks permissions and content.
        let old = Self::load_or_create(dir)?;
        let raw = fs::read(&path).map_err(io)?;
        let mut file: KeyFile = serde_json::from_slice(&raw).map_err(|e| CryptoError::Corrupt {
            path: path.clone(),
            reason: e.to_string(),
        })?;
        let next = old.data_keys.keys().max().copied().unwrap_or(0) + 1;
        file.data_keys.insert(next, hex::encode(random_key()));
        file.current = next;
        let body = serde_json::to_vec_pretty(&file).expect("serialisable");
        let tmp = dir.join(format!("{DATA_KEY_FILE}.tmp"));
        let _ = fs::remove_file(&tmp);
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(io)?;
        f.write_all(&body).map_err(io)?;
        f.sync_all().map_err(io)?;
        fs::rename(&tmp, &path).map_err(io)?;
        Self::load_or_create(dir)
    }

    /// Keyed hash for equality look-ups of a secret value (HMAC-SHA256).
    pub fn blind_index(&self, value: &[u8]) -> Vec<u8> {
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(&self.index_key).expect("any key length");
        mac.update(value);
        mac.finalize().into_bytes().to_vec()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn creates_key_file_0600_and_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let keys = Keyring::load_or_create(&dir.path().join("keys")).unwrap();
        let mode = fs::metadata(dir.path().join("keys").join(DATA_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let ct = keys.encrypt(b"11010519491231002X", b"id_number");
        assert!(!ct.windows(18).any(|w| w == b"11010519491231002X"));
        assert_eq!(
            keys.decrypt(&ct, b"id_number").unwrap(),
            b"11010519491231002X"
        );
        // Wrong context and a flipped byte are both refused.
        assert!(keys.decrypt(&ct, b"photo").is_err());
        let mut bad = ct.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert!(keys.decrypt(&bad, b"id_number").is_err());
        // Reloading gives the same keys.
        let again = Keyring::load_or_create(&dir.path().join("keys")).unwrap();
        assert_eq!(
            again.decrypt(&ct, b"id_number").unwrap(),
            b"11010519491231002X"
        );
        assert_eq!(again.blind_index(b"x"), keys.blind_index(b"x"));
    }

    #[test]
    fn rotation_keeps_old_keys_and_reencrypts() {
        let dir = tempfile::tempdir().unwrap();
        let k1 = Keyring::load_or_create(dir.path()).unwrap();
        let ct = k1.encrypt(b"secret", b"ctx");
        assert_eq!(Keyring::key_id_of(&ct), Some(1));
        assert_eq!(k1.reencrypt(&ct, b"ctx").unwrap(), None);
        let k2 = Keyring::rotate(dir.path()).unwrap();
        assert_eq!(k2.current_key_id(), 2);
        assert_eq!(k2.key_ids(), vec![1, 2]);
        assert_eq!(k2.decrypt(&ct, b"ctx").unwrap(), b"secret");
        let re = k2.reencrypt(&ct, b"ctx").unwrap().unwrap();
        assert_eq!(Keyring::key_id_of(&re), Some(2));
        assert_eq!(k2.decrypt(&re, b"ctx").unwrap(), b"secret");
        assert_eq!(k2.blind_index(b"x"), k1.blind_index(b"x"));
        let mode = fs::metadata(dir.path().join(DATA_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn refuses_world_readable_key_file() {
        let dir = tempfile::tempdir().unwrap();
        Keyring::load_or_create(dir.path()).unwrap();
        let path = dir.path().join(DATA_KEY_FILE);
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(
            Keyring::load_or_create(dir.path()),
            Err(CryptoError::Permissions(_))
        ));
    }

    #[test]
    fn corrupt_key_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(DATA_KEY_FILE);
        fs::write(&path, b"not json").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        let err = Keyring::load_or_create(dir.path()).unwrap_err();
        assert!(err.to_string().contains("data.key"), "{err}");
    }
}
