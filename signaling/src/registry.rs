//! The live rooms of one server, by class: opened on the first join, closed when idle.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::actor::{spawn, RoomHandle, RoomSinks};
use crate::room::{Room, RoomConfig, Roster};

/// Every room on this server.
pub struct Rooms {
    cfg: RoomConfig,
    sinks: RoomSinks,
    open: Mutex<HashMap<i64, RoomHandle>>,
}

impl Rooms {
    /// An empty registry whose rooms report to `sinks`.
    pub fn new(cfg: RoomConfig, sinks: RoomSinks) -> Arc<Self> {
        Arc::new(Self {
            cfg,
            sinks,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// The room configuration.
    pub fn config(&self) -> &RoomConfig {
        &self.cfg
    }

    /// The running room of a class, if any.
    pub fn get(&self, class_id: i64) -> Option<RoomHandle> {
        let open = self.open.lock().expect("rooms lock");
        open.get(&class_id).filter(|h| !h.is_closed()).cloned()
    }

    /// The running room of the roster's class, opening it if needed. A room still running
    /// an older session of the class is kept (sessions do not overlap).
    pub fn open(self: &Arc<Self>, roster: Roster, now: i64) -> RoomHandle {
        let mut open = self.open.lock().expect("rooms lock");
        if let Some(h) = open.get(&roster.class_id).filter(|h| !h.is_closed()) {
            return h.clone();
        }
        let class_id = roster.class_id;
        let weak = Arc::downgrade(self);
        let slot: Arc<Mutex<Option<RoomHandle>>> = Arc::new(Mutex::new(None));
        let mine = slot.clone();
        let handle = spawn(
            Room::new(self.cfg, roster, now),
            self.sinks.clone(),
            move || {
                let (Some(rooms), Some(me)) = (weak.upgrade(), mine.lock().expect("slot").take())
                else {
                    return;
                };
                let mut open = rooms.open.lock().expect("rooms lock");
                if open.get(&class_id).is_some_and(|h| h.same_room(&me)) {
                    open.remove(&class_id);
                }
            },
        );
        *slot.lock().expect("slot") = Some(handle.clone());
        open.insert(class_id, handle.clone());
        handle
    }

    /// Listed participants in the running room of a class (None: no room is running).
    pub fn online(&self, class_id: i64) -> Option<usize> {
        self.get(class_id).map(|h| h.online())
    }

    /// How many rooms are running.
    pub fn len(&self) -> usize {
        let open = self.open.lock().expect("rooms lock");
        open.values().filter(|h| !h.is_closed()).count()
    }

    /// Whether no room is running.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
