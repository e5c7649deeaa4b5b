-- Static-image flags (SQLite). Kept in step with migrations/postgres/0006_face_flags.sql.
-- Two consecutive face samples of a student that were near-identical, pixel for pixel:
-- a still picture fed through a virtual camera. Kept for the assistant and the regulator.

CREATE TABLE face_flags (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    class_id      BIGINT  NOT NULL REFERENCES classes (id) ON DELETE CASCADE,
    session_id    BIGINT  NOT NULL,
    student_id    BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    at            BIGINT  NOT NULL,
    previous_at   BIGINT  NOT NULL,
    mean_abs_diff DOUBLE PRECISION NOT NULL
);
CREATE INDEX face_flags_class ON face_flags (class_id, student_id);
