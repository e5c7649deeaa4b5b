-- Face verification (SQLite). Kept in step with migrations/postgres/0002_face.sql.
-- Embeddings and evidence frames are biometric data: stored only AES-GCM encrypted.

CREATE TABLE face_enrollments (
    user_id       BIGINT  PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    embedding_enc BLOB    NOT NULL,
    face_px       BIGINT  NOT NULL,
    sharpness     DOUBLE PRECISION NOT NULL,
    brightness    DOUBLE PRECISION NOT NULL,
    enrolled_at   BIGINT  NOT NULL
);

CREATE TABLE face_evidence (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id     BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    class_id    BIGINT  REFERENCES classes (id) ON DELETE CASCADE,
    captured_at BIGINT  NOT NULL,
    distance    DOUBLE PRECISION,
    frame_enc   BLOB    NOT NULL,
    expires_at  BIGINT  NOT NULL
);
CREATE INDEX face_evidence_user ON face_evidence (user_id);
CREATE INDEX face_evidence_expires ON face_evidence (expires_at);
