-- Foundation schema (SQLite). Kept in step with migrations/postgres/0001_foundation.sql:
-- same tables, same columns, same order; tests compare the two after migrating.
-- Times are unix milliseconds (BIGINT), calendar dates ISO 'YYYY-MM-DD' (TEXT).

CREATE TABLE institutions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    name        TEXT    NOT NULL UNIQUE,
    region_code TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL
);

CREATE TABLE users (
    id                   INTEGER PRIMARY KEY AUTOINCREMENT,
    username             TEXT    NOT NULL UNIQUE,
    password_hash        TEXT    NOT NULL,
    role                 TEXT    NOT NULL CHECK (role IN ('admin', 'lecturer', 'assistant', 'student', 'regulator')),
    display_name         TEXT    NOT NULL,
    institution_id       BIGINT  REFERENCES institutions (id),
    jurisdiction         TEXT,
    must_change_password BIGINT  NOT NULL DEFAULT 0,
    created_at           BIGINT  NOT NULL
);
CREATE INDEX users_institution ON users (institution_id);

CREATE TABLE auth_sessions (
    token_hash  BLOB    PRIMARY KEY,
    user_id     BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at  BIGINT  NOT NULL,
    expires_at  BIGINT  NOT NULL
);
CREATE INDEX auth_sessions_user ON auth_sessions (user_id);

CREATE TABLE student_records (
    user_id          BIGINT  PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    name             TEXT    NOT NULL,
    id_number_enc    BLOB    NOT NULL,
    id_number_index  BLOB    NOT NULL UNIQUE,
    id_number_masked TEXT    NOT NULL,
    mobile           TEXT    NOT NULL,
    household_place  TEXT    NOT NULL,
    registered_at    BIGINT  NOT NULL
);

CREATE TABLE student_files (
    user_id      BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL CHECK (kind IN ('id_front', 'id_back', 'photo')),
    content_type TEXT    NOT NULL,
    ciphertext   BLOB    NOT NULL,
    uploaded_at  BIGINT  NOT NULL,
    PRIMARY KEY (user_id, kind)
);

CREATE TABLE syb_certificates (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    lecturer_id BIGINT  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    number      TEXT    NOT NULL UNIQUE,
    issuer      TEXT    NOT NULL,
    valid_from  TEXT    NOT NULL,
    valid_until TEXT,
    created_at  BIGINT  NOT NULL
);
CREATE INDEX syb_certificates_lecturer ON syb_certificates (lecturer_id);

CREATE TABLE classes (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    institution_id BIGINT  NOT NULL REFERENCES institutions (id),
    name           TEXT    NOT NULL,
    course_type    TEXT    NOT NULL CHECK (course_type IN ('GYB', 'SYB')),
    lecturer_id    BIGINT  NOT NULL REFERENCES users (id),
    status         TEXT    NOT NULL CHECK (status IN ('draft', 'submitted', 'filed', 'live', 'finished', 'archived')),
    submitted_at   BIGINT,
    filed_at       BIGINT,
    return_reason  TEXT,
    created_at     BIGINT  NOT NULL,
    updated_at     BIGINT  NOT NULL,
    UNIQUE (institution_id, name)
);
CREATE INDEX classes_lecturer ON classes (lecturer_id);

CREATE TABLE class_sessions (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    class_id  BIGINT  NOT NULL REFERENCES classes (id) ON DELETE CASCADE,
    starts_at BIGINT  NOT NULL,
    ends_at   BIGINT  NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX class_sessions_class ON class_sessions (class_id);

CREATE TABLE enrollments (
    class_id    BIGINT NOT NULL REFERENCES classes (id) ON DELETE CASCADE,
    student_id  BIGINT NOT NULL REFERENCES users (id),
    enrolled_at BIGINT NOT NULL,
    PRIMARY KEY (class_id, student_id)
);
CREATE INDEX enrollments_student ON enrollments (student_id);

CREATE TABLE assistant_assignments (
    class_id     BIGINT NOT NULL REFERENCES classes (id) ON DELETE CASCADE,
    assistant_id BIGINT NOT NULL REFERENCES users (id),
    assigned_at  BIGINT NOT NULL,
    PRIMARY KEY (class_id, assistant_id)
);

CREATE TABLE audit_log (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    at             BIGINT  NOT NULL,
    actor_id       BIGINT,
    actor_role     TEXT,
    action         TEXT    NOT NULL,
    target_kind    TEXT    NOT NULL,
    target_id      TEXT,
    institution_id BIGINT,
    detail         TEXT    NOT NULL
);
CREATE INDEX audit_log_institution ON audit_log (institution_id);
