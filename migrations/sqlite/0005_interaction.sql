-- Classroom interaction as teaching data (sqlite). Kept in step with
-- migrations/postgres/0005_interaction.sql. One row per event out of a room: joins,
-- leaves, hand-raises, the floor, chat, questions, mutes, removals, private chat and call
-- signaling. A regulator's silent presence is not here (it goes to audit_log).

CREATE TABLE interaction_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    class_id    BIGINT  NOT NULL REFERENCES classes (id) ON DELETE CASCADE,
    session_id  BIGINT  NOT NULL REFERENCES class_sessions (id) ON DELETE CASCADE,
    at          BIGINT  NOT NULL,
    actor_id    BIGINT  NOT NULL REFERENCES users (id),
    actor_role  TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    target_id   BIGINT,
    detail      TEXT    NOT NULL
);
CREATE INDEX interaction_events_class ON interaction_events (class_id, session_id, at);
