-- Supervision and data integrity (issue 7). Kept in step with the other engine's file.
-- The audit log becomes a hash chain: `seq` is the entry's place in the chain (1, 2, …
-- with no gaps), `prev_hash` the previous entry's `hash`, `hash` = SHA-256 over prev_hash
-- and the entry's content (see src/integrity/chain.rs). Rows written before this
-- migration are chained once, in id order, when the chain's head is created.
ALTER TABLE audit_log ADD COLUMN seq BIGINT;
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT;
ALTER TABLE audit_log ADD COLUMN hash TEXT;
CREATE UNIQUE INDEX audit_log_seq ON audit_log (seq);
-- Entries from before the chain: chained once, by the first append (see ensure_head).
-- Rows that appear later without chain fields are never adopted and fail verification.
UPDATE audit_log SET prev_hash = 'legacy';

-- The chain's head: one row (id = 1), created by the first append. Every append updates
-- it first, which serialises writers on both engines (SQLite's write lock, PostgreSQL's
-- row lock), so two writers can never chain onto the same entry. It also records the last
-- hash, so deleting entries from the end is detected.
CREATE TABLE audit_head (
    id   BIGINT PRIMARY KEY CHECK (id = 1),
    seq  BIGINT NOT NULL,
    hash TEXT   NOT NULL
);

-- Signed backups this server has written, in chain order.
CREATE TABLE backups (
    sequence        BIGINT PRIMARY KEY,
    label           TEXT   NOT NULL UNIQUE,
    path            TEXT   NOT NULL,
    manifest_sha256 TEXT   NOT NULL,
    bytes           BIGINT NOT NULL,
    created_at      BIGINT NOT NULL
);

-- Signed class archives (one per finished class).
CREATE TABLE class_archives (
    class_id        BIGINT PRIMARY KEY REFERENCES classes (id),
    path            TEXT   NOT NULL,
    manifest_sha256 TEXT   NOT NULL,
    created_at      BIGINT NOT NULL
);
