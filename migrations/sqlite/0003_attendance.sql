-- Attendance and certificates (SQLite). Kept in step with migrations/postgres/0003_attendance.sql.
-- Times are unix milliseconds. An interval row is open while ended_at IS NULL; last_seen_at is
-- its heartbeat, so a crash loses at most the time since the last flushed heartbeat.

CREATE TABLE live_intervals (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    class_id     BIGINT  NOT NULL,
    session_id   BIGINT  NOT NULL,
    started_at   BIGINT  NOT NULL,
    last_seen_at BIGINT  NOT NULL,
    ended_at     BIGINT,
    closed_by    TEXT    CHECK (closed_by IN ('event', 'recovery'))
);
CREATE INDEX live_intervals_class ON live_intervals (class_id);
CREATE UNIQUE INDEX live_intervals_one_open ON live_intervals (session_id) WHERE ended_at IS NULL;

CREATE TABLE watch_intervals (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    class_id     BIGINT  NOT NULL,
    session_id   BIGINT  NOT NULL,
    student_id   BIGINT  NOT NULL,
    started_at   BIGINT  NOT NULL,
    last_seen_at BIGINT  NOT NULL,
    ended_at     BIGINT,
    closed_by    TEXT    CHECK (closed_by IN ('event', 'recovery'))
);
CREATE INDEX watch_intervals_class ON watch_intervals (class_id, student_id);
CREATE UNIQUE INDEX watch_intervals_one_open ON watch_intervals (session_id, student_id) WHERE ended_at IS NULL;

CREATE TABLE face_checks (
    class_id     BIGINT  NOT NULL,
    session_id   BIGINT  NOT NULL,
    student_id   BIGINT  NOT NULL,
    scheduled_at BIGINT  NOT NULL,
    outcome      TEXT    NOT NULL CHECK (outcome IN ('match', 'mismatch', 'no_face', 'multiple_faces', 'camera_off', 'absent')),
    recorded_at  BIGINT  NOT NULL,
    PRIMARY KEY (session_id, student_id, scheduled_at)
);
CREATE INDEX face_checks_class ON face_checks (class_id, student_id);

CREATE TABLE exam_questions (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    institution_id BIGINT  NOT NULL REFERENCES institutions (id),
    course_type    TEXT    NOT NULL CHECK (course_type IN ('GYB', 'SYB')),
    kind           TEXT    NOT NULL CHECK (kind IN ('single', 'multiple', 'true_false')),
    prompt         TEXT    NOT NULL,
    options        TEXT    NOT NULL,
    answer         TEXT    NOT NULL,
    points         BIGINT  NOT NULL CHECK (points > 0),
    retired        BIGINT  NOT NULL DEFAULT 0,
    created_by     BIGINT  NOT NULL REFERENCES users (id),
    created_at     BIGINT  NOT NULL
);
CREATE INDEX exam_questions_bank ON exam_questions (institution_id, course_type);

CREATE TABLE class_exams (
    class_id       BIGINT  PRIMARY KEY REFERENCES classes (id) ON DELETE CASCADE,
    time_limit_secs BIGINT NOT NULL CHECK (time_limit_secs > 0),
    max_attempts   BIGINT  NOT NULL CHECK (max_attempts > 0),
    pass_mark      BIGINT  NOT NULL CHECK (pass_mark BETWEEN 0 AND 100),
    updated_at     BIGINT  NOT NULL
);

CREATE TABLE exam_attempts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    class_id     BIGINT  NOT NULL REFERENCES classes (id) ON DELETE CASCADE,
    student_id   BIGINT  NOT NULL REFERENCES users (id),
    number       BIGINT  NOT NULL,
    question_ids TEXT    NOT NULL,
    started_at   BIGINT  NOT NULL,
    deadline_at  BIGINT  NOT NULL,
    submitted_at BIGINT,
    answers      TEXT,
    score        BIGINT,
    passed       BIGINT,
    status       TEXT    NOT NULL CHECK (status IN ('open', 'submitted', 'expired')),
    UNIQUE (class_id, student_id, number)
);

CREATE TABLE business_plans (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    class_id     BIGINT  NOT NULL REFERENCES classes (id) ON DELETE CASCADE,
    student_id   BIGINT  NOT NULL REFERENCES users (id),
    version      BIGINT  NOT NULL,
    file_name    TEXT    NOT NULL,
    content_type TEXT    NOT NULL,
    size_bytes   BIGINT  NOT NULL,
    sha256       TEXT    NOT NULL,
    content      BLOB    NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('submitted', 'approved', 'rejected')),
    comment      TEXT,
    submitted_at BIGINT  NOT NULL,
    decided_at   BIGINT,
    decided_by   BIGINT  REFERENCES users (id),
    UNIQUE (class_id, student_id, version)
);

CREATE TABLE class_reports (
    class_id     BIGINT  NOT NULL REFERENCES classes (id) ON DELETE CASCADE,
    kind         TEXT    NOT NULL CHECK (kind IN ('attendance', 'transcript')),
    format       TEXT    NOT NULL CHECK (format IN ('csv', 'xlsx')),
    content      BLOB    NOT NULL,
    generated_at BIGINT  NOT NULL,
    PRIMARY KEY (class_id, kind, format)
);

CREATE TABLE class_results (
    class_id        BIGINT  PRIMARY KEY REFERENCES classes (id) ON DELETE CASCADE,
    status          TEXT    NOT NULL CHECK (status IN ('submitted', 'confirmed', 'returned')),
    snapshot        TEXT    NOT NULL,
    eligible_count  BIGINT  NOT NULL,
    submitted_by    BIGINT  NOT NULL REFERENCES users (id),
    submitted_at    BIGINT  NOT NULL,
    confirmed_count BIGINT,
    reviewed_by     BIGINT  REFERENCES users (id),
    reviewed_at     BIGINT,
    comment         TEXT,
    notice_published_at BIGINT
);

CREATE TABLE trainee_certificates (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    number        TEXT    NOT NULL UNIQUE,
    class_id      BIGINT  NOT NULL REFERENCES classes (id),
    student_id    BIGINT  NOT NULL REFERENCES users (id),
    issued_at     BIGINT  NOT NULL,
    stamped_at    BIGINT,
    stamped_by    BIGINT  REFERENCES users (id),
    verified_at   BIGINT,
    verified_by   BIGINT  REFERENCES users (id),
    claimed_at    BIGINT,
    revoked_at    BIGINT,
    revoked_by    BIGINT  REFERENCES users (id),
    revoke_reason TEXT,
    UNIQUE (class_id, student_id)
);
