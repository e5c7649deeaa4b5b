//! The room of one live class session, as a pure state machine (sans-IO): [`Room::handle`]
//! takes an input (a join, a client message, a dropped connection) at a given time and
//! returns outputs (texts to send to connections, connections to close, events to persist,
//! media signals). [`Room::tick`] runs timers: the presence batch and resume windows. The
//! async shell in [`crate::actor`] moves bytes; every rule lives here and is unit-tested
//! with a fake clock.
//!
//! **Presence batching.** Joins and leaves are not fanned out one by one: they collect for
//! `presence_batch_ms` and go out as one `presence` message per connection. A joiner gets
//! the participant list as of the last batch (serialised once per batch and shared) and
//! the batch that follows. Messages per join therefore stay flat as the room grows.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::events::{EventKind, RoomEvent};
use crate::flood::{FloodGuard, FloodLimits, Verdict};
use crate::groups::{GroupLimits, Groups, Move};
use crate::media::{MediaPeer, MediaSignal};
use crate::permissions::{
    allowed, listed, receives_track, sees_face_checks, Allowed, Relation, RoomAction, TrackKind,
};
use crate::protocol::{
    CallAction, ClientMessage, FaceCheckState, GroupMember, MediaDirection, ParticipantInfo,
    ServerMessage, MAX_TEXT_CHARS,
};
use crate::Role;

/// Identifies one WebSocket connection (unique per server).
pub type ConnId = u64;

/// WebSocket close codes the room uses (4000–4999 are for applications).
pub mod close {
    /// A newer connection of the same account took over.
    pub const REPLACED: u16 = 4001;
    /// The lecturer removed the participant.
    pub const REMOVED: u16 = 4002;
    /// Flooding.
    pub const FLOODING: u16 = 4003;
    /// The participant left.
    pub const NORMAL: u16 = 1000;
}

/// Room timing and limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoomConfig {
    /// Presence changes collect this long before going out (0: one message per change).
    pub presence_batch_ms: u64,
    /// A dropped participant keeps their place this long.
    pub resume_window_ms: u64,
    /// A room with nobody in it closes after this long.
    pub idle_close_ms: u64,
    /// Messages queued for one slow connection before it is dropped.
    pub outbox_capacity: usize,
    /// Chat, questions and private messages per participant.
    pub flood: FloodLimits,
}

impl Default for RoomConfig {
    fn default() -> Self {
        Self {
            presence_batch_ms: 50,
            resume_window_ms: 30_000,
            idle_close_ms: 10 * 60_000,
            outbox_capacity: 1024,
            flood: FloodLimits::default(),
        }
    }
}

/// One person of the roster.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Account id.
    pub user_id: i64,
    /// Display name.
    pub name: String,
}

/// Who belongs to the class, loaded when the room opens.
#[derive(Clone, Debug)]
pub struct Roster {
    /// The class.
    pub class_id: i64,
    /// The live session.
    pub session_id: i64,
    /// The lecturer's account id.
    pub lecturer_id: i64,
    /// Assigned assistants.
    pub assistants: Vec<Member>,
    /// Enrolled students, in roster order.
    pub students: Vec<Member>,
    /// Group sizes.
    pub limits: GroupLimits,
}

/// Someone entering; the application has checked they belong to the class.
#[derive(Clone, Debug)]
pub struct Entrant {
    /// Account id.
    pub user_id: i64,
    /// Role.
    pub role: Role,
    /// Display name.
    pub name: String,
}

/// What the room is told.
#[derive(Clone, Debug)]
pub enum Input {
    /// A connection asks to enter (first `join`).
    Join {
        /// The connection.
        conn: ConnId,
        /// Who.
        who: Entrant,
        /// From the client's `join`.
        resume_token: Option<String>,
        /// A fresh random token, used if this is a new entry.
        new_token: String,
    },
    /// A message from a joined connection.
    Message {
        /// The connection.
        conn: ConnId,
        /// The message.
        msg: ClientMessage,
    },
    /// The connection is gone.
    Disconnected {
        /// The connection.
        conn: ConnId,
    },
    /// The media side answers a participant.
    MediaReply {
        /// The participant.
        user_id: i64,
        /// `media_answer`, `media_offer`, `ice_candidate`, `media_closed` or `error`.
        msg: ServerMessage,
    },
    /// The face sampler checked a student of this class.
    FaceCheck {
        /// The student.
        student_id: i64,
        /// `match`, `mismatch`, `no_face`, `multiple_faces`, `camera_off` or `absent`.
        outcome: String,
        /// The camera looked like a still picture.
        suspect_static: bool,
        /// When the sample was taken, unix ms.
        at_ms: i64,
    },
}

/// What the room asks the shell to do.
#[derive(Clone, Debug)]
pub enum Output {
    /// Send one text (serialised once) to these connections.
    Send {
        /// Recipients.
        to: Vec<ConnId>,
        /// JSON text of a [`ServerMessage`].
        text: Arc<str>,
    },
    /// Close a connection after what was sent to it.
    Close {
        /// The connection.
        conn: ConnId,
        /// WebSocket close code.
        code: u16,
        /// Why.
        reason: String,
    },
    /// Persist this.
    Event(RoomEvent),
    /// Hand a checked media signal to the media bridge.
    Media {
        /// Sender.
        peer: MediaPeer,
        /// The signal.
        signal: MediaSignal,
    },
    /// A participant left for good: the media side may drop their transports.
    MediaLeft(MediaPeer),
    /// `viewer` may no longer receive `publisher`'s camera: close what they opened for it.
    MediaRevoke {
        /// Who loses the camera.
        viewer: MediaPeer,
        /// Whose camera.
        publisher: i64,
    },
}

#[derive(Clone, Debug)]
struct Participant {
    user_id: i64,
    role: Role,
    name: String,
    conn: Option<ConnId>,
    token: String,
    away_since: Option<i64>,
    speaking: bool,
    muted: bool,
    tracks: BTreeSet<TrackKind>,
    /// Who asked to watch this participant's camera.
    watchers: BTreeSet<i64>,
    /// Whom this participant has invited to a private call.
    inviting: Option<i64>,
    /// The peer of an accepted private call.
    call: Option<i64>,
    flood: FloodGuard,
}

#[derive(Clone, Debug)]
struct Question {
    answered: bool,
}

type Refusal = (&'static str, String);

/// The state of one live session's room.
pub struct Room {
    cfg: RoomConfig,
    class_id: i64,
    session_id: i64,
    lecturer_id: i64,
    names: HashMap<i64, String>,
    groups: Groups,
    participants: HashMap<i64, Participant>,
    conns: HashMap<ConnId, i64>,
    hands: Vec<i64>,
    questions: BTreeMap<u64, Question>,
    chat_seq: u64,
    removed: HashSet<i64>,
    /// Listed participants as of the last presence batch.
    flushed: BTreeSet<i64>,
    /// Participants whose listing may have changed since.
    pending: BTreeSet<i64>,
    flush_at: Option<i64>,
    /// `participants` message as of the last batch, shared by every joiner.
    snapshot: Arc<str>,
    dirty_assistants: BTreeSet<i64>,
    dirty_students: BTreeSet<i64>,
    expiries: BTreeSet<(i64, i64)>,
    /// Students of the class (roster and late entrants), for face checks.
    students: HashSet<i64>,
    /// Each student's last face check this session.
    face_checks: HashMap<i64, FaceCheckState>,
    /// Camera subscriptions handed to the media side: publisher → viewers. Checked again
    /// whenever the publisher's audience may change, and revoked when it no longer
    /// includes the viewer.
    media_subs: HashMap<i64, BTreeMap<i64, bool>>,
    last_activity: i64,
    out: Vec<Output>,
}

impl Room {
    /// A room for a roster, opened at `now` (unix ms).
    pub fn new(cfg: RoomConfig, roster: Roster, now: i64) -> Self {
        let students: Vec<i64> = roster.students.iter().map(|m| m.user_id).collect();
        let assistants: Vec<i64> = roster.assistants.iter().map(|m| m.user_id).collect();
        let names = roster
            .students
            .iter()
            .chain(&roster.assistants)
            .map(|m| (m.user_id, m.name.clone()))
            .collect();
        let mut room = Self {
            cfg,
            class_id: roster.class_id,
            session_id: roster.session_id,
            lecturer_id: roster.lecturer_id,
            names,
            groups: Groups::new(&students, &assistants, roster.limits),
            participants: HashMap::new(),
            conns: HashMap::new(),
            hands: Vec::new(),
            questions: BTreeMap::new(),
            chat_seq: 0,
            removed: HashSet::new(),
            flushed: BTreeSet::new(),
            pending: BTreeSet::new(),
            flush_at: None,
            snapshot: Arc::from(""),
            dirty_assistants: BTreeSet::new(),
            dirty_students: BTreeSet::new(),
            expiries: BTreeSet::new(),
            students: students.iter().copied().collect(),
            face_checks: HashMap::new(),
            media_subs: HashMap::new(),
            last_activity: now,
            out: Vec::new(),
        };
        room.snapshot = room.build_snapshot();
        room
    }

    /// The class.
    pub fn class_id(&self) -> i64 {
        self.class_id
    }

    /// The session.
    pub fn session_id(&self) -> i64 {
        self.session_id
    }

    /// The configuration in force.
    pub fn config(&self) -> &RoomConfig {
        &self.cfg
    }

    /// Listed participants (connected or within their resume window).
    pub fn online(&self) -> usize {
        self.participants
            .values()
            .filter(|p| listed(p.role))
            .count()
    }

    /// The assistant groups.
    pub fn groups(&self) -> &Groups {
        &self.groups
    }

    /// When [`Room::tick`] must next run.
    pub fn next_deadline(&self) -> Option<i64> {
        let expiry = self.expiries.iter().next().map(|(t, _)| *t);
        match (self.flush_at, expiry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether nobody has been in the room for the idle period.
    pub fn is_idle(&self, now: i64) -> bool {
        self.participants.is_empty()
            && self.conns.is_empty()
            && now - self.last_activity >= self.cfg.idle_close_ms as i64
    }

    /// Handles one input at `now`.
    pub fn handle(&mut self, now: i64, input: Input) -> Vec<Output> {
        self.last_activity = now;
        match input {
            Input::Join {
                conn,
                who,
                resume_token,
                new_token,
            } => self.join(now, conn, who, resume_token, new_token),
            Input::Message { conn, msg } => match self.conns.get(&conn).copied() {
                Some(user) => self.message(now, conn, user, msg),
                None => self.error(conn, "not_joined", "send `join` first"),
            },
            Input::Disconnected { conn } => self.disconnected(now, conn),
            Input::MediaReply { user_id, msg } => {
                if let Some(c) = self.participants.get(&user_id).and_then(|p| p.conn) {
                    self.send(vec![c], &msg);
                }
            }
            Input::FaceCheck {
                student_id,
                outcome,
                suspect_static,
                at_ms,
            } => self.face_check(
                student_id,
                FaceCheckState {
                    outcome,
                    at_ms,
                    suspect_static,
                },
            ),
        }
        self.tick(now)
    }

    /// Runs due timers: expired resume windows, then the presence batch.
    pub fn tick(&mut self, now: i64) -> Vec<Output> {
        while let Some(&(t, user)) = self.expiries.iter().next() {
            if t > now {
                break;
            }
            self.expiries.remove(&(t, user));
            let still_away = self
                .participants
                .get(&user)
                .is_some_and(|p| p.conn.is_none());
            if still_away {
                self.drop_participant(now, user, EventKind::Left, "resume window ended");
            }
        }
        if self.flush_at.is_some_and(|t| t <= now) {
            self.flush();
        }
        std::mem::take(&mut self.out)
    }

    // ---- sending ------------------------------------------------------------------------

    fn send(&mut self, to: Vec<ConnId>, msg: &ServerMessage) {
        if !to.is_empty() {
            self.out.push(Output::Send {
                to,
                text: Arc::from(msg.to_json()),
            });
        }
    }

    fn send_user(&mut self, user: i64, msg: &ServerMessage) {
        if let Some(c) = self.participants.get(&user).and_then(|p| p.conn) {
            self.send(vec![c], msg);
        }
    }

    fn all_conns(&self) -> Vec<ConnId> {
        self.participants.values().filter_map(|p| p.conn).collect()
    }

    fn broadcast(&mut self, msg: &ServerMessage) {
        let to = self.all_conns();
        self.send(to, msg);
    }

    fn error(&mut self, conn: ConnId, code: &str, message: impl Into<String>) {
        self.send(vec![conn], &ServerMessage::error(code, message));
    }

    fn close(&mut self, conn: ConnId, code: u16, err: &str, reason: &str) {
        self.send(vec![conn], &ServerMessage::fatal(err, reason));
        self.out.push(Output::Close {
            conn,
            code,
            reason: reason.to_string(),
        });
    }

    fn event(
        &mut self,
        now: i64,
        actor: i64,
        kind: EventKind,
        target: Option<i64>,
        detail: serde_json::Value,
    ) {
        let role = self
            .participants
            .get(&actor)
            .map(|p| p.role)
            .unwrap_or(Role::Student);
        self.out.push(Output::Event(RoomEvent {
            class_id: self.class_id,
            session_id: self.session_id,
            at: now,
            actor_id: actor,
            actor_role: role,
            kind,
            target_id: target,
            detail,
        }));
    }

    fn peer(&self, user: i64) -> Option<MediaPeer> {
        self.participants.get(&user).map(|p| MediaPeer {
            class_id: self.class_id,
            session_id: self.session_id,
            user_id: user,
            role: p.role,
        })
    }

    // ---- presence -----------------------------------------------------------------------

    fn touch(&mut self, now: i64, user: i64) {
        self.pending.insert(user);
        if self.flush_at.is_none() {
            self.flush_at = Some(now + self.cfg.presence_batch_ms as i64);
        }
    }

    fn info(p: &Participant) -> ParticipantInfo {
        ParticipantInfo {
            user_id: p.user_id,
            name: p.name.clone(),
            role: p.role,
        }
    }

    fn build_snapshot(&self) -> Arc<str> {
        let mut participants: Vec<ParticipantInfo> = self
            .flushed
            .iter()
            .filter_map(|u| self.participants.get(u))
            .map(Self::info)
            .collect();
        participants.sort_by_key(|p| p.user_id);
        let online = participants.len();
        Arc::from(
            ServerMessage::Participants {
                participants,
                online,
            }
            .to_json(),
        )
    }

    fn flush(&mut self) {
        self.flush_at = None;
        let mut joined = Vec::new();
        let mut left = Vec::new();
        for user in std::mem::take(&mut self.pending) {
            let was = self.flushed.contains(&user);
            let is = self.participants.get(&user).filter(|p| listed(p.role));
            match (was, is) {
                (false, Some(p)) => {
                    joined.push(Self::info(p));
                    self.flushed.insert(user);
                }
                (true, None) => {
                    left.push(user);
                    self.flushed.remove(&user);
                }
                _ => {}
            }
        }
        if !joined.is_empty() || !left.is_empty() {
            self.snapshot = self.build_snapshot();
            let online = self.flushed.len();
            self.broadcast(&ServerMessage::Presence {
                joined,
                left,
                online,
            });
        }
        for a in std::mem::take(&mut self.dirty_assistants) {
            let students = self
                .groups
                .members(a)
                .into_iter()
                .map(|(s, online)| GroupMember {
                    user_id: s,
                    name: self.names.get(&s).cloned().unwrap_or_default(),
                    online,
                    home: self.groups.home_of(s) == Some(a),
                    face_check: self.face_checks.get(&s).cloned(),
                })
                .collect();
            self.send_user(a, &ServerMessage::Group { students });
        }
        for s in std::mem::take(&mut self.dirty_students) {
            let assistant_id = self.groups.assistant_of(s);
            self.send_user(s, &ServerMessage::Assistant { assistant_id });
        }
    }

    fn schedule_group_flush(&mut self, now: i64) {
        if self.flush_at.is_none() {
            self.flush_at = Some(now + self.cfg.presence_batch_ms as i64);
        }
    }

    // ---- tracks -------------------------------------------------------------------------

    fn relation(&self, viewer: &Participant, publisher: &Participant) -> Relation {
        let (v, p) = (viewer.user_id, publisher.user_id);
        let same_group = match (viewer.role, publisher.role) {
            (Role::Assistant, Role::Student) => self.groups.assistant_of(p) == Some(v),
            (Role::Student, Role::Assistant) => self.groups.assistant_of(v) == Some(p),
            _ => false,
        };
        Relation {
            same_group,
            speaking: publisher.speaking,
            watching: publisher.watchers.contains(&v),
            in_call: publisher.call == Some(v),
        }
    }

    /// Connections that receive `publisher`'s track of `kind` now. Only lecturers and
    /// students holding the floor reach the whole room; for everyone else the candidates
    /// are a handful of people, so a student's camera costs O(1), not O(room).
    fn audience(&self, publisher: i64, kind: TrackKind) -> BTreeSet<ConnId> {
        let Some(p) = self.participants.get(&publisher) else {
            return BTreeSet::new();
        };
        if !p.tracks.contains(&kind) {
            return BTreeSet::new();
        }
        let candidates: Vec<i64> = if p.role == Role::Lecturer || p.speaking {
            self.participants.keys().copied().collect()
        } else {
            let mut c: Vec<i64> = p.watchers.iter().copied().collect();
            c.push(self.lecturer_id);
            c.extend(self.groups.assistant_of(publisher));
            c.extend(p.call);
            c
        };
        candidates
            .into_iter()
            .filter(|v| *v != publisher)
            .filter_map(|v| self.participants.get(&v))
            .filter(|v| {
                v.conn.is_some() && receives_track(v.role, p.role, kind, self.relation(v, p))
            })
            .filter_map(|v| v.conn)
            .collect()
    }

    /// Runs `change` and tells every connection that gained or lost one of `publishers`'
    /// tracks. All track announcements go through here.
    fn retarget(&mut self, publishers: &[i64], change: impl FnOnce(&mut Self)) {
        let mut before = Vec::new();
        for &p in publishers {
            for kind in TrackKind::ALL {
                before.push((p, kind, self.audience(p, kind)));
            }
        }
        change(self);
        for &p in publishers {
            self.check_media_subs(p);
        }
        for (p, kind, was) in before {
            let now = self.audience(p, kind);
            let gained: Vec<ConnId> = now.difference(&was).copied().collect();
            let lost: Vec<ConnId> = was
                .difference(&now)
                .copied()
                .filter(|c| self.conns.contains_key(c))
                .collect();
            self.send(
                gained,
                &ServerMessage::Track {
                    user_id: p,
                    track: kind,
                    published: true,
                },
            );
            self.send(
                lost,
                &ServerMessage::Track {
                    user_id: p,
                    track: kind,
                    published: false,
                },
            );
        }
    }

    /// Tracks a (re)joining participant receives right away.
    fn tracks_for(&self, viewer: i64) -> Vec<(i64, TrackKind)> {
        let Some(v) = self.participants.get(&viewer) else {
            return Vec::new();
        };
        let mut publishers: BTreeSet<i64> = self
            .participants
            .values()
            .filter(|p| {
                p.role == Role::Lecturer
                    || p.speaking
                    || p.call == Some(viewer)
                    || p.watchers.contains(&viewer)
            })
            .map(|p| p.user_id)
            .collect();
        match v.role {
            Role::Lecturer => publishers.extend(
                self.participants
                    .values()
                    .filter(|p| p.role == Role::Student)
                    .map(|p| p.user_id),
            ),
            Role::Assistant => {
                publishers.extend(self.groups.members(viewer).into_iter().map(|(s, _)| s))
            }
            _ => {}
        }
        let mut out = Vec::new();
        for pid in publishers {
            if pid == viewer {
                continue;
            }
            let Some(p) = self.participants.get(&pid) else {
                continue;
            };
            let rel = self.relation(v, p);
            for kind in &p.tracks {
                if receives_track(v.role, p.role, *kind, rel) {
                    out.push((pid, *kind));
                }
            }
        }
        out
    }

    /// Whether `viewer` may receive `publisher`'s `kind` of track now (a student's, or an
    /// assistant's in a call) — the gate of a subscribe offer naming `publisher`.
    fn may_receive(&self, viewer: i64, publisher: i64, kind: TrackKind) -> bool {
        match (
            self.participants.get(&viewer),
            self.participants.get(&publisher),
        ) {
            (Some(v), Some(p)) if viewer != publisher => {
                receives_track(v.role, p.role, kind, self.relation(v, p))
            }
            _ => false,
        }
    }

    /// Revokes the camera subscriptions to `publisher` whose viewer lost the right — to the
    /// camera, or to the microphone for a subscription opened with sound.
    fn check_media_subs(&mut self, publisher: i64) {
        let Some(viewers) = self.media_subs.get(&publisher) else {
            return;
        };
        let lost: Vec<i64> = viewers
            .iter()
            .filter(|(v, with_audio)| {
                !self.may_receive(**v, publisher, TrackKind::Camera)
                    || (**with_audio && !self.may_receive(**v, publisher, TrackKind::Microphone))
            })
            .map(|(v, _)| *v)
            .collect();
        for v in lost {
            self.revoke_media(v, publisher);
        }
    }

    fn revoke_media(&mut self, viewer: i64, publisher: i64) {
        if let Some(vs) = self.media_subs.get_mut(&publisher) {
            vs.remove(&viewer);
            if vs.is_empty() {
                self.media_subs.remove(&publisher);
            }
        }
        if let Some(peer) = self.peer(viewer) {
            self.out.push(Output::MediaRevoke {
                viewer: peer,
                publisher,
            });
        }
    }

    /// Records a student's face check and tells those who may see it: their current
    /// assistant, the lecturer, silent regulators (see [`sees_face_checks`]).
    fn face_check(&mut self, student: i64, state: FaceCheckState) {
        let known = self.students.contains(&student)
            || self
                .participants
                .get(&student)
                .is_some_and(|p| p.role == Role::Student);
        if !known {
            return;
        }
        // The current assistant; for a student who is away, their home assistant.
        let assistant = self.groups.assistant_of(student).or_else(|| {
            self.groups
                .home_of(student)
                .filter(|a| self.participants.get(a).is_some_and(|p| p.conn.is_some()))
        });
        let to: Vec<ConnId> = self
            .participants
            .values()
            .filter(|v| {
                let rel = Relation {
                    same_group: v.role == Role::Assistant && Some(v.user_id) == assistant,
                    ..Relation::default()
                };
                v.user_id != student && sees_face_checks(v.role, rel)
            })
            .filter_map(|v| v.conn)
            .collect();
        let msg = ServerMessage::FaceCheck {
            student_id: student,
            outcome: state.outcome.clone(),
            at_ms: state.at_ms,
            suspect_static: state.suspect_static,
        };
        self.face_checks.insert(student, state);
        self.send(to, &msg);
    }

    fn apply_moves(&mut self, moves: &[Move]) {
        for m in moves {
            self.dirty_students.insert(m.student);
            self.dirty_assistants.extend(m.from);
            self.dirty_assistants.extend(m.to);
        }
    }

    /// Group bookkeeping for a participant connecting or disconnecting; announces camera
    /// tracks that move with students between assistants.
    fn set_connected(&mut self, now: i64, user: i64, role: Role, online: bool) {
        // Students whose assistant may change: the one connecting, or for an assistant every
        // student present (covers come and go; assistants are few, so this is rare).
        let affected: Vec<i64> = match role {
            Role::Student => vec![user],
            Role::Assistant => self
                .participants
                .values()
                .filter(|p| p.role == Role::Student)
                .map(|p| p.user_id)
                .collect(),
            _ => return,
        };
        let mut moves = Vec::new();
        self.retarget(&affected, |room| {
            moves = match (role, online) {
                (Role::Student, true) => room.groups.student_online(user),
                (Role::Student, false) => room.groups.student_offline(user),
                (_, true) => room.groups.assistant_online(user),
                (_, false) => room.groups.assistant_offline(user),
            };
        });
        self.apply_moves(&moves);
        if role == Role::Assistant {
            self.dirty_assistants.insert(user);
        } else if let Some(a) = self.groups.assistant_of(user).or(self.groups.home_of(user)) {
            self.dirty_assistants.insert(a);
        }
        // A joining student learns their assistant from `joined`.
        if role == Role::Student && online {
            self.dirty_students.remove(&user);
        }
        self.schedule_group_flush(now);
    }

    // ---- entering and leaving -----------------------------------------------------------

    fn join(
        &mut self,
        now: i64,
        conn: ConnId,
        who: Entrant,
        resume_token: Option<String>,
        new_token: String,
    ) {
        if self.conns.contains_key(&conn) {
            return self.error(
                conn,
                "already_joined",
                "this connection is already in the room",
            );
        }
        if self.removed.contains(&who.user_id) {
            return self.close(
                conn,
                close::REMOVED,
                "removed",
                "the lecturer removed you from this session",
            );
        }
        let user = who.user_id;
        let existing = self
            .participants
            .get(&user)
            .map(|p| (p.conn, p.token.clone()));
        let resumed = match existing {
            // The same account again while connected: the newest connection wins.
            Some((Some(old), _)) => {
                self.conns.remove(&old);
                self.close(
                    old,
                    close::REPLACED,
                    "replaced",
                    "you connected again from elsewhere; this connection is closed",
                );
                self.participants.get_mut(&user).expect("exists").conn = Some(conn);
                self.conns.insert(conn, user);
                true
            }
            Some((None, token)) => match resume_token {
                Some(t) if t == token => {
                    let p = self.participants.get_mut(&user).expect("exists");
                    let since = p.away_since.take().unwrap_or(now);
                    p.conn = Some(conn);
                    self.expiries
                        .remove(&(since + self.cfg.resume_window_ms as i64, user));
                    self.conns.insert(conn, user);
                    self.set_connected(now, user, who.role, true);
                    true
                }
                Some(_) => {
                    return self.error(
                        conn,
                        "resume_invalid",
                        "that resume token is not valid; send `join` without it",
                    )
                }
                None => {
                    // A fresh entry: the old place is given up first (no duplicate).
                    self.drop_participant(now, user, EventKind::Left, "joined afresh");
                    self.enter(now, conn, &who, new_token);
                    false
                }
            },
            None => {
                if resume_token.is_some() {
                    return self.error(
                        conn,
                        "resume_expired",
                        format!(
                            "your place was released after {} s away; send `join` without a resume token",
                            self.cfg.resume_window_ms / 1000
                        ),
                    );
                }
                self.enter(now, conn, &who, new_token);
                false
            }
        };
        if resumed && who.role != Role::Regulator {
            self.event(now, user, EventKind::Resumed, None, serde_json::json!({}));
        }
        self.welcome(conn, user, resumed);
    }

    fn enter(&mut self, now: i64, conn: ConnId, who: &Entrant, token: String) {
        let user = who.user_id;
        if who.role == Role::Student && self.groups.home_of(user).is_none() {
            self.groups.add_student(user);
        }
        if who.role == Role::Student {
            self.students.insert(user);
        }
        self.names.insert(user, who.name.clone());
        self.participants.insert(
            user,
            Participant {
                user_id: user,
                role: who.role,
                name: who.name.clone(),
                conn: Some(conn),
                token,
                away_since: None,
                speaking: false,
                muted: false,
                tracks: BTreeSet::new(),
                watchers: BTreeSet::new(),
                inviting: None,
                call: None,
                flood: FloodGuard::new(self.cfg.flood, now),
            },
        );
        self.conns.insert(conn, user);
        self.set_connected(now, user, who.role, true);
        if listed(who.role) {
            self.touch(now, user);
            self.event(now, user, EventKind::Joined, None, serde_json::json!({}));
        } else {
            self.event(
                now,
                user,
                EventKind::RegulatorEntered,
                None,
                serde_json::json!({"name": who.name}),
            );
        }
    }

    fn welcome(&mut self, conn: ConnId, user: i64, resumed: bool) {
        let p = &self.participants[&user];
        let joined = ServerMessage::Joined {
            class_id: self.class_id,
            session_id: self.session_id,
            role: p.role,
            resumed,
            resume_token: p.token.clone(),
            resume_window_ms: self.cfg.resume_window_ms,
            assistant_id: (p.role == Role::Student)
                .then(|| self.groups.assistant_of(user))
                .flatten(),
            hands: self.hands.clone(),
            speaking: self
                .participants
                .values()
                .filter(|p| p.speaking)
                .map(|p| p.user_id)
                .collect(),
        };
        let role = p.role;
        self.send(vec![conn], &joined);
        self.out.push(Output::Send {
            to: vec![conn],
            text: self.snapshot.clone(),
        });
        if role == Role::Assistant {
            self.dirty_assistants.insert(user);
        }
        for (publisher, track) in self.tracks_for(user) {
            self.send(
                vec![conn],
                &ServerMessage::Track {
                    user_id: publisher,
                    track,
                    published: true,
                },
            );
        }
    }

    fn disconnected(&mut self, now: i64, conn: ConnId) {
        let Some(user) = self.conns.remove(&conn) else {
            return;
        };
        let Some(p) = self.participants.get_mut(&user) else {
            return;
        };
        if p.conn != Some(conn) {
            return;
        }
        p.conn = None;
        p.away_since = Some(now);
        let role = p.role;
        self.expiries
            .insert((now + self.cfg.resume_window_ms as i64, user));
        self.set_connected(now, user, role, false);
    }

    /// Removes a participant for good: hand, floor, tracks, calls, watches, presence.
    fn drop_participant(&mut self, now: i64, user: i64, kind: EventKind, why: &str) {
        let Some(p) = self.participants.get(&user) else {
            return;
        };
        let (role, conn, away_since, was_speaking, call) =
            (p.role, p.conn, p.away_since, p.speaking, p.call);
        if let Some(peer) = self.peer(user) {
            self.out.push(Output::MediaLeft(peer));
        }
        self.retarget(&[user], |room| {
            let p = room.participants.get_mut(&user).expect("exists");
            p.tracks.clear();
        });
        if let Some(since) = away_since {
            self.expiries
                .remove(&(since + self.cfg.resume_window_ms as i64, user));
        }
        if conn.is_some() {
            self.set_connected(now, user, role, false);
        }
        if let Some(c) = conn {
            self.conns.remove(&c);
        }
        if let Some(peer) = call {
            if let Some(q) = self.participants.get_mut(&peer) {
                q.call = None;
            }
            self.send_user(
                peer,
                &ServerMessage::PrivateCall {
                    from: user,
                    to: peer,
                    action: CallAction::End,
                },
            );
        }
        // Whoever received this participant's camera loses it; what they received ends
        // with their own transports (`MediaLeft`).
        let viewers: Vec<i64> = self
            .media_subs
            .get(&user)
            .map(|v| v.keys().copied().collect())
            .unwrap_or_default();
        for v in viewers {
            self.revoke_media(v, user);
        }
        for vs in self.media_subs.values_mut() {
            vs.remove(&user);
        }
        self.media_subs.retain(|_, vs| !vs.is_empty());
        // Whatever this participant watched stops.
        for q in self.participants.values_mut() {
            q.watchers.remove(&user);
            if q.inviting == Some(user) {
                q.inviting = None;
            }
        }
        self.participants.remove(&user);
        if let Some(i) = self.hands.iter().position(|h| *h == user) {
            self.hands.remove(i);
            let queue = self.hands.clone();
            self.broadcast(&ServerMessage::Hands { queue });
        }
        if was_speaking {
            self.broadcast(&ServerMessage::Speaking {
                user_id: user,
                granted: false,
            });
        }
        if listed(role) {
            self.touch(now, user);
            self.dirty_assistants.retain(|a| *a != user);
            self.event_as(now, user, role, kind, None, serde_json::json!({"why": why}));
        } else {
            self.event_as(
                now,
                user,
                role,
                EventKind::RegulatorLeft,
                None,
                serde_json::json!({"why": why}),
            );
        }
    }

    fn event_as(
        &mut self,
        now: i64,
        actor: i64,
        role: Role,
        kind: EventKind,
        target: Option<i64>,
        detail: serde_json::Value,
    ) {
        self.out.push(Output::Event(RoomEvent {
            class_id: self.class_id,
            session_id: self.session_id,
            at: now,
            actor_id: actor,
            actor_role: role,
            kind,
            target_id: target,
            detail,
        }));
    }

    // ---- messages -----------------------------------------------------------------------

    fn may(&self, user: i64, action: RoomAction, what: &str) -> Result<Allowed, Refusal> {
        let role = self.participants[&user].role;
        match allowed(role, action) {
            Allowed::No if role == Role::Regulator => Err((
                "forbidden",
                format!("regulators are silent observers and cannot {what}"),
            )),
            Allowed::No => Err(("forbidden", format!("a {role} cannot {what}"))),
            a => Ok(a),
        }
    }

    /// A listed participant other than `user` (regulators are "not here" to everyone).
    fn target(&self, user: i64, target: i64, role: Option<Role>) -> Result<&Participant, Refusal> {
        match self.participants.get(&target) {
            Some(p) if listed(p.role) && target != user && role.is_none_or(|r| r == p.role) => {
                Ok(p)
            }
            _ => Err((
                "not_found",
                format!(
                    "no {} {target} in this room",
                    role.map(|r| r.as_str()).unwrap_or("participant")
                ),
            )),
        }
    }

    fn text(&mut self, now: i64, user: i64, text: &str) -> Result<String, Refusal> {
        let t = text.trim();
        let n = t.chars().count();
        if n == 0 || n > MAX_TEXT_CHARS {
            return Err((
                "bad_text",
                format!("text must be 1–{MAX_TEXT_CHARS} characters, not {n}"),
            ));
        }
        let limits = self.cfg.flood;
        let p = self.participants.get_mut(&user).expect("joined");
        match p.flood.check(limits, now) {
            Verdict::Pass => Ok(t.to_string()),
            Verdict::Refuse => Err((
                "rate_limited",
                format!(
                    "too many messages: at most {} at once, then one every {} ms",
                    limits.burst, limits.refill_ms
                ),
            )),
            Verdict::Abuse => Err(("flooding", "too many messages; disconnected".into())),
        }
    }

    /// Whether `a` and `b` are an assistant and a student of their current group.
    fn same_group(&self, a: i64, b: i64) -> bool {
        let (Some(pa), Some(pb)) = (self.participants.get(&a), self.participants.get(&b)) else {
            return false;
        };
        match (pa.role, pb.role) {
            (Role::Assistant, Role::Student) => self.groups.assistant_of(b) == Some(a),
            (Role::Student, Role::Assistant) => self.groups.assistant_of(a) == Some(b),
            _ => false,
        }
    }

    fn message(&mut self, now: i64, conn: ConnId, user: i64, msg: ClientMessage) {
        if let Err((code, message)) = self.dispatch(now, conn, user, msg) {
            if code == "flooding" {
                self.close(conn, close::FLOODING, code, &message);
            } else {
                self.error(conn, code, message);
            }
        }
    }

    fn dispatch(
        &mut self,
        now: i64,
        conn: ConnId,
        user: i64,
        msg: ClientMessage,
    ) -> Result<(), Refusal> {
        use ClientMessage as C;
        match msg {
            C::Hello { .. } | C::Ping { .. } => {}
            C::Join { .. } => {
                return Err((
                    "already_joined",
                    "this connection is already in the room".into(),
                ))
            }
            C::Leave => {
                self.drop_participant(now, user, EventKind::Left, "left");
                self.out.push(Output::Close {
                    conn,
                    code: close::NORMAL,
                    reason: "left".into(),
                });
            }
            C::Publish { track } => {
                let allowed = self.may(
                    user,
                    RoomAction::Publish(track),
                    &format!("publish a {track:?} track").to_lowercase(),
                )?;
                let p = &self.participants[&user];
                if track == TrackKind::Microphone && p.muted {
                    return Err(("muted", "the lecturer has muted your microphone".into()));
                }
                if allowed == Allowed::WhenGranted && !p.speaking && p.call.is_none() {
                    return Err((
                        "forbidden",
                        "a student's microphone opens only when the lecturer gives you the floor or in a call with your assistant".into(),
                    ));
                }
                self.retarget(&[user], |room| {
                    room.participants
                        .get_mut(&user)
                        .expect("joined")
                        .tracks
                        .insert(track);
                });
            }
            C::Unpublish { track } => {
                self.retarget(&[user], |room| {
                    room.participants
                        .get_mut(&user)
                        .expect("joined")
                        .tracks
                        .remove(&track);
                });
            }
            C::Watch { user_id } => {
                let a = self.may(user, RoomAction::WatchCamera, "watch a student's camera")?;
                self.target(user, user_id, Some(Role::Student))?;
                if a == Allowed::OwnGroup && !self.same_group(user, user_id) {
                    return Err((
                        "forbidden",
                        format!("student {user_id} is not in your group"),
                    ));
                }
                self.retarget(&[user_id], |room| {
                    room.participants
                        .get_mut(&user_id)
                        .expect("target")
                        .watchers
                        .insert(user);
                });
                let published = self.participants[&user_id]
                    .tracks
                    .contains(&TrackKind::Camera);
                if !published {
                    self.send(
                        vec![conn],
                        &ServerMessage::Track {
                            user_id,
                            track: TrackKind::Camera,
                            published,
                        },
                    );
                }
                if self.participants[&user].role == Role::Regulator {
                    self.event(
                        now,
                        user,
                        EventKind::RegulatorWatched,
                        Some(user_id),
                        serde_json::json!({}),
                    );
                }
            }
            C::Unwatch { user_id } => {
                if self.participants.contains_key(&user_id) {
                    self.retarget(&[user_id], |room| {
                        room.participants
                            .get_mut(&user_id)
                            .expect("target")
                            .watchers
                            .remove(&user);
                    });
                }
            }
            C::RaiseHand => {
                self.may(user, RoomAction::RaiseHand, "raise a hand")?;
                if !self.hands.contains(&user) {
                    self.hands.push(user);
                    let queue = self.hands.clone();
                    self.broadcast(&ServerMessage::Hands { queue });
                    self.event(
                        now,
                        user,
                        EventKind::HandRaised,
                        None,
                        serde_json::json!({}),
                    );
                }
            }
            C::LowerHand => {
                self.may(user, RoomAction::RaiseHand, "raise a hand")?;
                if let Some(i) = self.hands.iter().position(|h| *h == user) {
                    self.hands.remove(i);
                    let queue = self.hands.clone();
                    self.broadcast(&ServerMessage::Hands { queue });
                    self.event(
                        now,
                        user,
                        EventKind::HandLowered,
                        None,
                        serde_json::json!({}),
                    );
                }
            }
            C::GrantSpeaking { user_id } => {
                self.may(user, RoomAction::GrantSpeaking, "give students the floor")?;
                self.target(user, user_id, Some(Role::Student))?;
                if self.participants[&user_id].speaking {
                    return Ok(());
                }
                self.retarget(&[user_id], |room| {
                    room.participants
                        .get_mut(&user_id)
                        .expect("target")
                        .speaking = true;
                });
                self.broadcast(&ServerMessage::Speaking {
                    user_id,
                    granted: true,
                });
                if let Some(i) = self.hands.iter().position(|h| *h == user_id) {
                    self.hands.remove(i);
                    let queue = self.hands.clone();
                    self.broadcast(&ServerMessage::Hands { queue });
                }
                self.event(
                    now,
                    user,
                    EventKind::SpeakingGranted,
                    Some(user_id),
                    serde_json::json!({}),
                );
            }
            C::RevokeSpeaking { user_id } => {
                self.may(user, RoomAction::GrantSpeaking, "take the floor back")?;
                self.target(user, user_id, Some(Role::Student))?;
                if !self.participants[&user_id].speaking {
                    return Ok(());
                }
                self.retarget(&[user_id], |room| {
                    let p = room.participants.get_mut(&user_id).expect("target");
                    p.speaking = false;
                    if p.call.is_none() {
                        p.tracks.remove(&TrackKind::Microphone);
                    }
                });
                self.broadcast(&ServerMessage::Speaking {
                    user_id,
                    granted: false,
                });
                self.event(
                    now,
                    user,
                    EventKind::SpeakingRevoked,
                    Some(user_id),
                    serde_json::json!({}),
                );
            }
            C::Chat { text } => {
                self.may(user, RoomAction::Chat, "send chat")?;
                let text = self.text(now, user, &text)?;
                self.chat_seq += 1;
                let p = &self.participants[&user];
                let msg = ServerMessage::Chat {
                    id: self.chat_seq,
                    from: user,
                    name: p.name.clone(),
                    role: p.role,
                    text: text.clone(),
                    at: now,
                };
                self.broadcast(&msg);
                self.event(
                    now,
                    user,
                    EventKind::Chat,
                    None,
                    serde_json::json!({"id": self.chat_seq, "text": text}),
                );
            }
            C::Ask { text } => {
                self.may(user, RoomAction::Ask, "ask questions")?;
                let text = self.text(now, user, &text)?;
                self.chat_seq += 1;
                let id = self.chat_seq;
                self.questions.insert(id, Question { answered: false });
                let msg = ServerMessage::Question {
                    id,
                    from: user,
                    name: self.participants[&user].name.clone(),
                    text: text.clone(),
                    at: now,
                };
                self.broadcast(&msg);
                self.event(
                    now,
                    user,
                    EventKind::Question,
                    None,
                    serde_json::json!({"id": id, "text": text}),
                );
            }
            C::MarkAnswered { question_id } => {
                self.may(user, RoomAction::MarkAnswered, "mark questions answered")?;
                let q = self.questions.get_mut(&question_id).ok_or((
                    "not_found",
                    format!("no question {question_id} in this session"),
                ))?;
                if q.answered {
                    return Err((
                        "already_answered",
                        format!("question {question_id} is already answered"),
                    ));
                }
                q.answered = true;
                self.broadcast(&ServerMessage::QuestionAnswered {
                    id: question_id,
                    by: user,
                });
                self.event(
                    now,
                    user,
                    EventKind::QuestionAnswered,
                    None,
                    serde_json::json!({"id": question_id}),
                );
            }
            C::Mute { user_id } | C::Unmute { user_id } => {
                let muted = matches!(msg, C::Mute { .. });
                self.may(user, RoomAction::Mute, "mute participants")?;
                self.target(user, user_id, None)?;
                if self.participants[&user_id].muted == muted {
                    return Ok(());
                }
                self.retarget(&[user_id], |room| {
                    let p = room.participants.get_mut(&user_id).expect("target");
                    p.muted = muted;
                    if muted {
                        p.tracks.remove(&TrackKind::Microphone);
                    }
                });
                self.broadcast(&ServerMessage::Muted { user_id, muted });
                let kind = if muted {
                    EventKind::Muted
                } else {
                    EventKind::Unmuted
                };
                self.event(now, user, kind, Some(user_id), serde_json::json!({}));
            }
            C::Remove { user_id } => {
                self.may(user, RoomAction::Remove, "remove participants")?;
                let target = self.target(user, user_id, None)?;
                let target_conn = target.conn;
                self.removed.insert(user_id);
                if let Some(c) = target_conn {
                    self.close(
                        c,
                        close::REMOVED,
                        "removed",
                        "the lecturer removed you from this session",
                    );
                }
                self.drop_participant(now, user_id, EventKind::Left, "removed by the lecturer");
                self.broadcast(&ServerMessage::Removed { user_id });
                self.event(
                    now,
                    user,
                    EventKind::Removed,
                    Some(user_id),
                    serde_json::json!({}),
                );
            }
            C::PrivateChat { to, text } => {
                self.may(user, RoomAction::PrivateChat, "send private messages")?;
                self.target(user, to, None)?;
                if !self.same_group(user, to) {
                    return Err(("forbidden", "private messages go only between an assistant and a student of their group".into()));
                }
                let Some(to_conn) = self.participants[&to].conn else {
                    return Err(("not_online", format!("{to} is not connected right now")));
                };
                let text = self.text(now, user, &text)?;
                let msg = ServerMessage::PrivateChat {
                    from: user,
                    to,
                    text: text.clone(),
                    at: now,
                };
                self.send(vec![to_conn, conn], &msg);
                self.event(
                    now,
                    user,
                    EventKind::PrivateChat,
                    Some(to),
                    serde_json::json!({"text": text}),
                );
            }
            C::PrivateCall { to, action } => {
                self.may(user, RoomAction::PrivateCall, "make private calls")?;
                self.target(user, to, None)?;
                if !self.same_group(user, to) {
                    return Err((
                        "forbidden",
                        "private calls go only between an assistant and a student of their group"
                            .into(),
                    ));
                }
                if self.participants[&to].conn.is_none() {
                    return Err(("not_online", format!("{to} is not connected right now")));
                }
                match action {
                    CallAction::Invite => {
                        if self.participants[&user].call.is_some() {
                            return Err(("busy", "end your current call first".into()));
                        }
                        self.participants.get_mut(&user).expect("joined").inviting = Some(to);
                    }
                    CallAction::Accept => {
                        if self.participants[&to].inviting != Some(user) {
                            return Err((
                                "no_invite",
                                format!("{to} has not invited you to a call"),
                            ));
                        }
                        self.retarget(&[user, to], |room| {
                            room.participants.get_mut(&to).expect("peer").inviting = None;
                            room.participants.get_mut(&to).expect("peer").call = Some(user);
                            room.participants.get_mut(&user).expect("joined").call = Some(to);
                        });
                    }
                    CallAction::Decline | CallAction::End => {
                        self.retarget(&[user, to], |room| {
                            for (a, b) in [(user, to), (to, user)] {
                                let p = room.participants.get_mut(&a).expect("present");
                                if p.inviting == Some(b) {
                                    p.inviting = None;
                                }
                                if p.call == Some(b) {
                                    p.call = None;
                                    if p.role == Role::Student && !p.speaking {
                                        p.tracks.remove(&TrackKind::Microphone);
                                    }
                                }
                            }
                        });
                    }
                }
                self.send_user(
                    to,
                    &ServerMessage::PrivateCall {
                        from: user,
                        to,
                        action,
                    },
                );
                self.event(
                    now,
                    user,
                    EventKind::PrivateCall,
                    Some(to),
                    serde_json::json!({"action": action}),
                );
            }
            C::MediaOffer {
                direction,
                sdp,
                user_id,
            } => {
                if direction == MediaDirection::Publish {
                    if user_id.is_some() {
                        return Err((
                            "bad_message",
                            "`user_id` names whose camera to receive; a publish offer sends your own media".into(),
                        ));
                    }
                    let role = self.participants[&user].role;
                    let can = TrackKind::ALL
                        .iter()
                        .any(|t| allowed(role, RoomAction::Publish(*t)) != Allowed::No);
                    if !can {
                        self.may(
                            user,
                            RoomAction::Publish(TrackKind::Camera),
                            "publish media",
                        )?;
                    }
                } else {
                    self.may(user, RoomAction::Subscribe, "receive media")?;
                    if let Some(target) = user_id {
                        let p = self.target(user, target, None)?;
                        if !matches!(p.role, Role::Student | Role::Assistant) {
                            return Err((
                                "bad_message",
                                "`user_id` names a student's camera or your call peer; the lecture needs none".into(),
                            ));
                        }
                        if !self.may_receive(user, target, TrackKind::Camera) {
                            return Err((
                                "forbidden",
                                format!("you may not receive {target}'s camera"),
                            ));
                        }
                        let audio = self.may_receive(user, target, TrackKind::Microphone);
                        self.media_subs
                            .entry(target)
                            .or_default()
                            .insert(user, audio);
                    }
                }
                // Sound with a camera only where the table allows the microphone too.
                let audio = match (direction, user_id) {
                    (MediaDirection::Subscribe, Some(target)) => {
                        self.may_receive(user, target, TrackKind::Microphone)
                    }
                    _ => true,
                };
                self.media(
                    user,
                    MediaSignal::Offer {
                        direction,
                        sdp,
                        target: user_id,
                        audio,
                    },
                );
            }
            C::MediaAnswer { sdp } => self.media(user, MediaSignal::Answer { sdp }),
            C::IceCandidate {
                candidate,
                sdp_mid,
                sdp_mline_index,
            } => self.media(
                user,
                MediaSignal::Candidate {
                    candidate,
                    sdp_mid,
                    sdp_mline_index,
                },
            ),
        }
        Ok(())
    }

    fn media(&mut self, user: i64, signal: MediaSignal) {
        if let Some(peer) = self.peer(user) {
            self.out.push(Output::Media { peer, signal });
        }
    }
}

#[cfg(test)]
mod tests;
