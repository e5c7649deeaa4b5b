//! Pure core of the hash-chained audit log: how an entry is hashed, and how a sequence of
//! stored entries is checked. No I/O here; `audit_verify` feeds it rows.
//!
//! `hash = SHA-256(prev_hash ‖ "\n" ‖ canonical JSON [seq, at, actor_id, actor_role, action,
//! target_kind, target_id, institution_id, detail])` in lower-case hex. The first entry's
//! `prev_hash` is [`GENESIS`]. Because `seq` and `prev_hash` are inside the hash, an edited,
//! deleted, inserted or reordered entry breaks the chain at that point.

use sha2::{Digest, Sha256};

/// `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The hashed content of one entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Link {
    /// Row id (storage order; not hashed).
    pub id: i64,
    /// Place in the chain, from 1.
    pub seq: i64,
    /// Unix ms.
    pub at: i64,
    /// Acting account.
    pub actor_id: Option<i64>,
    /// Acting role.
    pub actor_role: Option<String>,
    /// What happened.
    pub action: String,
    /// Kind of record.
    pub target_kind: String,
    /// Record id.
    pub target_id: Option<String>,
    /// Institution concerned.
    pub institution_id: Option<i64>,
    /// Extra facts, exactly as stored (JSON text).
    pub detail: String,
    /// Hash of the previous entry, as stored.
    pub prev_hash: String,
    /// This entry's hash, as stored.
    pub hash: String,
}

/// Hash of an entry with the given content chained onto `prev_hash`.
pub fn entry_hash(prev_hash: &str, l: &Link) -> String {
    let content = serde_json::json!([
        l.seq,
        l.at,
        l.actor_id,
        l.actor_role,
        l.action,
        l.target_kind,
        l.target_id,
        l.institution_id,
        l.detail
    ]);
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(content.to_string().as_bytes());
    hex::encode(h.finalize())
}

/// The first place where the chain is broken.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    /// The entry's content no longer matches its hash.
    #[error("audit entry #{seq} (row id {id}) was edited: its content does not match its hash")]
    Edited {
        /// Chain position.
        seq: i64,
        /// Row id.
        id: i64,
    },
    /// A chain position has no entry.
    #[error("audit entry #{seq} is missing (deleted): #{before} is followed by {after}")]
    Deleted {
        /// The missing position.
        seq: i64,
        /// Last good position before it (0: start of the log).
        before: i64,
        /// What follows instead.
        after: String,
    },
    /// Two rows claim the same position.
    #[error("audit entry #{seq} occurs twice (row ids {first_id} and {second_id}): an entry was inserted")]
    Duplicated {
        /// The position.
        seq: i64,
        /// Row id of the first occurrence.
        first_id: i64,
        /// Row id of the second.
        second_id: i64,
    },
    /// An entry whose own hash is consistent but that does not link to its predecessor.
    #[error("audit entry #{seq} (row id {id}) does not link to entry #{prev}: an entry was inserted or the chain rewritten here")]
    Inserted {
        /// Position of the foreign entry.
        seq: i64,
        /// Row id.
        id: i64,
        /// Position it should follow.
        prev: i64,
    },
    /// Entries stored out of chain order.
    #[error("audit entry #{seq} (row id {id}) is out of order: it is stored before entry #{expected}, which should come first (entries were reordered)")]
    Reordered {
        /// The entry found too early.
        seq: i64,
        /// Its row id.
        id: i64,
        /// The position that should have come here.
        expected: i64,
    },
    /// Entries beyond the head: appended without going through the audit module.
    #[error("audit entry #{seq} (row id {id}) was inserted behind the audit module's back: the chain head ends at #{head_seq}")]
    Appended {
        /// First entry beyond the head.
        seq: i64,
        /// Its row id.
        id: i64,
        /// Where the head ends.
        head_seq: i64,
    },
    /// The head row disagrees with the last entry.
    #[error("the audit chain head says {head_seq} entries ending in {head_hash}, but the log ends at #{last_seq}: {why}")]
    Head {
        /// Head's count.
        head_seq: i64,
        /// Head's hash (abbreviated).
        head_hash: String,
        /// Last stored position.
        last_seq: i64,
        /// What that means.
        why: &'static str,
    },
    /// An entry has no chain fields.
    #[error("audit entry row id {id} is not chained (no sequence or hash): it was inserted outside the audit module")]
    Unchained {
        /// Row id.
        id: i64,
    },
}

/// Checks entries given in storage (row id) order against the head `(seq, hash)`. Returns
/// the number of entries on success, or the first break.
pub fn verify(links: &[Link], head: Option<(i64, &str)>) -> Result<i64, ChainBreak> {
    use std::collections::HashMap;
    let mut prev_seq = 0;
    let mut prev_hash = GENESIS.to_string();
    let mut seen: HashMap<i64, i64> = HashMap::new();
    for (pos, l) in links.iter().enumerate() {
        let expected = prev_seq + 1;
        if l.hash.is_empty() || l.seq == 0 {
            return Err(ChainBreak::Unchained { id: l.id });
        }
        if entry_hash(&l.prev_hash, l) != l.hash {
            return Err(ChainBreak::Edited {
                seq: l.seq,
                id: l.id,
            });
        }
        if let Some(&first_id) = seen.get(&l.seq) {
            return Err(ChainBreak::Duplicated {
                seq: l.seq,
                first_id,
                second_id: l.id,
            });
        }
        if l.seq != expected {
            // Is the expected position somewhere later? Then this one came too early.
            let later = links[pos + 1..].iter().any(|o| o.seq == expected);
            if later || l.seq < expected {
                return Err(ChainBreak::Reordered {
                    seq: l.seq,
                    id: l.id,
                    expected,
                });
            }
            return Err(ChainBreak::Deleted {
                seq: expected,
                before: prev_seq,
                after: format!("#{}", l.seq),
            });
        }
        if l.prev_hash != prev_hash {
            return Err(ChainBreak::Inserted {
                seq: l.seq,
                id: l.id,
                prev: prev_seq,
            });
        }
        seen.insert(l.seq, l.id);
        prev_seq = l.seq;
        prev_hash = l.hash.clone();
    }
    let (head_seq, head_hash) = head.unwrap_or((0, GENESIS));
    let short = |h: &str| h.chars().take(12).collect::<String>();
    if head_seq > prev_seq {
        return Err(ChainBreak::Deleted {
            seq: prev_seq + 1,
            before: prev_seq,
            after: format!("the end of the log (the head records {head_seq} entries)"),
        });
    }
    if head_seq < prev_seq {
        let first = links
            .iter()
            .find(|l| l.seq == head_seq + 1)
            .expect("the walk saw every position up to prev_seq");
        return Err(ChainBreak::Appended {
            seq: first.seq,
            id: first.id,
            head_seq,
        });
    }
    if head_hash != prev_hash {
        return Err(ChainBreak::Head {
            head_seq,
            head_hash: short(head_hash),
            last_seq: prev_seq,
            why: "the last entry was replaced",
        });
    }
    Ok(prev_seq)
}

/// Builds a valid chain of `n` entries (for tests and benchmarks).
pub fn sample_chain(n: i64) -> Vec<Link> {
    let mut out = Vec::new();
    let mut prev = GENESIS.to_string();
    for seq in 1..=n {
        let mut l = Link {
            id: seq,
            seq,
            at: 1_700_000_000_000 + seq,
            actor_id: Some(seq % 3),
            actor_role: Some("admin".into()),
            action: format!("act.{seq}"),
            target_kind: "class".into(),
            target_id: Some(seq.to_string()),
            institution_id: None,
            detail: "{}".into(),
            prev_hash: prev.clone(),
            hash: String::new(),
        };
        l.hash = entry_hash(&prev, &l);
        prev = l.hash.clone();
        out.push(l);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn head(c: &[Link]) -> Option<(i64, &str)> {
        c.last().map(|l| (l.seq, l.hash.as_str()))
    }

    #[test]
    fn a_clean_chain_verifies() {
        let c = sample_chain(5);
        assert_eq!(verify(&c, head(&c)), Ok(5));
        assert_eq!(verify(&[], None), Ok(0));
    }

    #[test]
    fn edit_is_named() {
        let mut c = sample_chain(5);
        let h = c[4].hash.clone();
        c[2].action = "class.file".into();
        assert_eq!(
            verify(&c, Some((5, &h))),
            Err(ChainBreak::Edited { seq: 3, id: 3 })
        );
    }

    #[test]
    fn deletion_in_the_middle_and_at_the_end() {
        let c = sample_chain(5);
        let h = c[4].hash.clone();
        let mut mid = c.clone();
        mid.remove(1);
        let e = verify(&mid, Some((5, &h))).unwrap_err();
        assert!(
            matches!(
                e,
                ChainBreak::Deleted {
                    seq: 2,
                    before: 1,
                    ..
                }
            ),
            "{e}"
        );
        let mut tail = c.clone();
        tail.pop();
        let e = verify(&tail, Some((5, &h))).unwrap_err();
        assert!(
            matches!(
                e,
                ChainBreak::Deleted {
                    seq: 5,
                    before: 4,
                    ..
                }
            ),
            "{e}"
        );
        assert!(e.to_string().contains("#5 is missing"), "{e}");
    }

    #[test]
    fn insertion_with_a_recomputed_hash_is_named() {
        let c = sample_chain(5);
        let h = c[4].hash.clone();
        // A forged entry #3 put in place of the real one, hashed correctly but onto a
        // made-up predecessor.
        let mut forged = c.clone();
        forged[2].action = "forged".into();
        forged[2].prev_hash = "ab".repeat(32);
        forged[2].hash = entry_hash(&forged[2].prev_hash, &forged[2]);
        assert_eq!(
            verify(&forged, Some((5, &h))),
            Err(ChainBreak::Inserted {
                seq: 3,
                id: 3,
                prev: 2
            })
        );
        // An extra row claiming an existing position.
        let mut dup = c.clone();
        let mut extra = c[1].clone();
        extra.id = 99;
        dup.push(extra);
        assert_eq!(
            verify(&dup, Some((5, &h))),
            Err(ChainBreak::Duplicated {
                seq: 2,
                first_id: 2,
                second_id: 99
            })
        );
        // An extra row appended without updating the head.
        let mut appended = c.clone();
        let mut six = c[4].clone();
        six.id = 6;
        six.seq = 6;
        six.prev_hash = h.clone();
        six.hash = entry_hash(&h, &six);
        appended.push(six);
        assert_eq!(
            verify(&appended, Some((5, &h))),
            Err(ChainBreak::Appended {
                seq: 6,
                id: 6,
                head_seq: 5
            })
        );
        // The last entry replaced by another correctly hashed one: the head tells.
        let mut replaced = c.clone();
        replaced[4].action = "other".into();
        replaced[4].hash = entry_hash(&replaced[4].prev_hash, &replaced[4]);
        assert!(matches!(
            verify(&replaced, Some((5, &h))),
            Err(ChainBreak::Head {
                head_seq: 5,
                last_seq: 5,
                ..
            })
        ));
    }

    #[test]
    fn reorder_is_named() {
        let mut c = sample_chain(5);
        let h = c[4].hash.clone();
        // Swap the contents of rows 2 and 3 (ids stay in place).
        let (a, b) = (c[1].clone(), c[2].clone());
        c[1] = Link { id: 2, ..b };
        c[2] = Link { id: 3, ..a };
        assert_eq!(
            verify(&c, Some((5, &h))),
            Err(ChainBreak::Reordered {
                seq: 3,
                id: 2,
                expected: 2
            })
        );
    }

    proptest! {
        /// Any single-field edit anywhere is caught at exactly that entry.
        #[test]
        fn any_edit_is_caught_where_it_happened(n in 1i64..40, pick in 0usize..1000, field in 0u8..5) {
            let mut c = sample_chain(n);
            let h = c.last().unwrap().hash.clone();
            let i = pick % c.len();
            match field {
                0 => c[i].at += 1,
                1 => c[i].actor_id = Some(-1),
                2 => c[i].detail.push(' '),
                3 => c[i].target_id = None,
                _ => c[i].institution_id = Some(7),
            }
            let seq = c[i].seq;
            prop_assert_eq!(verify(&c, Some((n, &h))), Err(ChainBreak::Edited { seq, id: seq }));
        }

        /// Removing any one entry is caught at its position.
        #[test]
        fn any_deletion_is_caught(n in 2i64..40, pick in 0usize..1000) {
            let mut c = sample_chain(n);
            let h = c.last().unwrap().hash.clone();
            let i = pick % c.len();
            c.remove(i);
            let e = verify(&c, Some((n, &h))).unwrap_err();
            let deleted = matches!(e, ChainBreak::Deleted { seq, .. } if seq == i as i64 + 1);
            prop_assert!(deleted, "{}", e);
        }
    }
}
