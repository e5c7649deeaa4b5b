//! Which scheduled session of a class a moment belongs to, and who is enrolled: read from
//! the store and cached briefly, because SFU events arrive many times a second.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use crate::attendance::events::ClassSession;
use crate::classroom::EARLY_ENTRY_MS;
use crate::store::{classes, students, Store, StoreResult};

/// How long a class's schedule and roster are trusted before being read again.
const FRESH_FOR: Duration = Duration::from_secs(30);

struct Entry {
    read_at: Instant,
    /// (session id, room opens at, ends at), unix ms.
    sessions: Vec<(i64, i64, i64)>,
    enrolled: BTreeSet<i64>,
}

/// Cached class schedules and rosters.
pub struct Directory {
    store: Store,
    classes: HashMap<i64, Entry>,
}

impl Directory {
    /// An empty cache over `store`.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            classes: HashMap::new(),
        }
    }

    async fn entry(&mut self, class_id: i64) -> StoreResult<&Entry> {
        let stale = self
            .classes
            .get(&class_id)
            .is_none_or(|e| e.read_at.elapsed() > FRESH_FOR);
        if stale {
            let mut conn = self.store.conn().await?;
            let sessions = classes::get(&mut conn, class_id)
                .await?
                .map(|c| {
                    c.sessions
                        .iter()
                        .map(|s| {
                            (
                                s.id,
                                s.starts_at.timestamp_millis() - EARLY_ENTRY_MS,
                                s.ends_at.timestamp_millis(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let enrolled = students::list_for_class(&mut conn, class_id)
                .await?
                .into_iter()
                .map(|s| s.user_id)
                .collect();
            self.classes.insert(
                class_id,
                Entry {
                    read_at: Instant::now(),
                    sessions,
                    enrolled,
                },
            );
        }
        Ok(&self.classes[&class_id])
    }

    /// The session of `class_id` whose room is open at `at` (unix ms), if any.
    pub async fn session_at(
        &mut self,
        class_id: i64,
        at: i64,
    ) -> StoreResult<Option<ClassSession>> {
        Ok(self
            .entry(class_id)
            .await?
            .sessions
            .iter()
            .find(|(_, opens, ends)| *opens <= at && at < *ends)
            .map(|(id, _, _)| ClassSession {
                class_id,
                session_id: *id,
            }))
    }

    /// Whether `user` is enrolled in `class_id` (only students' watch time is recorded).
    pub async fn is_enrolled(&mut self, class_id: i64, user: i64) -> StoreResult<bool> {
        Ok(self.entry(class_id).await?.enrolled.contains(&user))
    }
}
