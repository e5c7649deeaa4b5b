//! argon2id password hashing (OWASP parameters: 19 MiB, 2 passes, 1 lane) and the
//! password policy.

use argon2::password_hash::{rand_core::OsRng, PasswordHash, SaltString};
use argon2::{Argon2, PasswordHasher, PasswordVerifier};
use rand::Rng;

/// Minimum password length.
pub const MIN_LEN: usize = 8;

/// Hashes a password into a PHC string.
pub fn hash(password: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .expect("argon2 with default parameters accepts any password")
        .to_string()
}

/// Checks a password against a PHC string; a malformed hash never verifies.
pub fn verify(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash to verify against when the account does not exist, so that a missing account
/// takes as long to refuse as a wrong password (no user enumeration by timing).
pub fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| hash("not-a-real-password"))
}

/// Why a new password is refused.
pub fn policy_violation(password: &str) -> Option<String> {
    if password.chars().count() < MIN_LEN {
        return Some(format!("must be at least {MIN_LEN} characters"));
    }
    if password.len() > 256 {
        return Some("must be at most 256 bytes".into());
    }
    None
}

/// A random initial password for an imported account (shown once to the administrator).
pub fn generate() -> String {
    // No look-alike characters: these are read aloud and typed from paper.
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut rng = rand::thread_rng();
    (0..12)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_verifies_only_the_right_password() {
        let h = hash("correct horse");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse", &h));
        assert!(!verify("wrong horse", &h));
        assert!(!verify("correct horse", "garbage"));
    }

    #[test]
    fn policy_and_generated_passwords() {
        assert!(policy_violation("short").is_some());
        assert!(policy_violation("long enough").is_none());
        let p = generate();
        assert_eq!(p.len(), 12);
        assert!(policy_violation(&p).is_none());
        assert_ne!(generate(), p);
    }
}
