//! `ketang audit verify`: reads the whole audit log in storage order and checks the chain.

use super::chain::{self, ChainBreak, Link};
use crate::store::{audit, Conn, StoreError};

/// Outcome of a verification that could read the log.
#[derive(Debug, thiserror::Error)]
pub enum AuditVerifyError {
    /// The chain is broken; names the first bad entry.
    #[error(transparent)]
    Broken(#[from] ChainBreak),
    /// The log disagrees with the head signed into a backup manifest.
    #[error("{0}")]
    Anchor(String),
    /// The log could not be read.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Checks the chain; returns the number of entries.
pub async fn verify(conn: &mut Conn) -> Result<i64, AuditVerifyError> {
    let (links, head) = audit::chain_links(conn).await?;
    Ok(chain::verify(
        &links,
        head.as_ref().map(|(s, h)| (*s, h.as_str())),
    )?)
}

/// Checks that the log still holds entry `seq` with `hash`, as signed into backup `label`.
/// A chain rewritten from some entry on (hashes recomputed, head updated) passes
/// [`chain::verify`] but not this, for any backup taken after that entry.
pub fn check_anchor(links: &[Link], label: &str, seq: i64, hash: &str) -> Result<(), String> {
    if seq == 0 {
        return Ok(());
    }
    match links.iter().find(|l| l.seq == seq) {
        None => Err(format!(
            "backup {label} recorded audit entry #{seq}, which the log no longer has: entries were deleted"
        )),
        Some(l) if l.hash != hash => Err(format!(
            "audit entry #{seq} (row id {}) is not the entry signed into backup {label}: the log was rewritten up to or before it",
            l.id
        )),
        Some(_) => Ok(()),
    }
}

/// Verifies the chain and then every `(label, seq, hash)` anchor; returns entries checked.
pub async fn verify_with_anchors(
    conn: &mut Conn,
    anchors: &[(String, i64, String)],
) -> Result<i64, AuditVerifyError> {
    let n = verify(conn).await?;
    let (links, _) = audit::chain_links(conn).await?;
    for (label, seq, hash) in anchors {
        check_anchor(&links, label, *seq, hash).map_err(AuditVerifyError::Anchor)?;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::integrity::chain::{entry_hash, sample_chain};

    #[test]
    fn a_rewritten_chain_passes_alone_but_not_against_an_anchor() {
        let good = sample_chain(6);
        let anchor = (good[3].seq, good[3].hash.clone());
        // Rewrite entry #2 and recompute everything after it: internally consistent.
        let mut forged = good.clone();
        forged[1].action = "rewritten".into();
        for i in 1..forged.len() {
            let prev = forged[i - 1].hash.clone();
            forged[i].prev_hash = prev.clone();
            forged[i].hash = entry_hash(&prev, &forged[i]);
        }
        let head = forged.last().map(|l| (l.seq, l.hash.as_str()));
        assert_eq!(chain::verify(&forged, head), Ok(6));
        let e = check_anchor(&forged, "2026-11", anchor.0, &anchor.1).unwrap_err();
        assert!(
            e.starts_with("audit entry #4 (row id 4) is not the entry signed into backup 2026-11"),
            "{e}"
        );
        assert!(check_anchor(&good, "2026-11", anchor.0, &anchor.1).is_ok());
        let e = check_anchor(&good[..3], "2026-11", anchor.0, &anchor.1).unwrap_err();
        assert!(e.contains("no longer has"), "{e}");
    }
}
