//! `ketang audit verify`: reads the whole audit log in storage order and checks the chain.

use super::chain::{self, ChainBreak};
use crate::store::{audit, Conn, StoreError};

/// Outcome of a verification that could read the log.
#[derive(Debug, thiserror::Error)]
pub enum AuditVerifyError {
    /// The chain is broken; names the first bad entry.
    #[error(transparent)]
    Broken(#[from] ChainBreak),
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
