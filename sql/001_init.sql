-- The system of record. Times are Unix seconds (BIGINT) as in the JSON API.
-- Applied by `ticketctl db migrate`, which records it in schema_migrations.

CREATE TABLE IF NOT EXISTS schema_migrations (
    version     INT          NOT NULL PRIMARY KEY,
    name        VARCHAR(255) NOT NULL,
    applied_at  BIGINT       NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE activities (
    id             BIGINT        NOT NULL AUTO_INCREMENT PRIMARY KEY,
    `key`          VARCHAR(64)   NOT NULL,
    name           VARCHAR(255)  NOT NULL,
    place          VARCHAR(255)  NOT NULL DEFAULT '',
    description    TEXT          NOT NULL,
    pic_url        VARCHAR(1024) NOT NULL DEFAULT '',
    start_time     BIGINT        NOT NULL,
    end_time       BIGINT        NOT NULL,
    book_start     BIGINT        NOT NULL,
    book_end       BIGINT        NOT NULL,
    total_tickets  INT           NOT NULL,
    status         TINYINT       NOT NULL DEFAULT 0,  -- -1 deleted, 0 saved, 1 published
    created_at     BIGINT        NOT NULL,
    updated_at     BIGINT        NOT NULL,
    UNIQUE KEY uk_activities_key (`key`),
    KEY k_activities_status_book_end (status, book_end),
    CONSTRAINT ck_activities_times CHECK (end_time >= start_time AND book_end >= book_start),
    CONSTRAINT ck_activities_tickets CHECK (total_tickets >= 0),
    CONSTRAINT ck_activities_status CHECK (status IN (-1, 0, 1))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci;

-- The roster: who may bind. password_hash: pbkdf2_sha256$ITER$SALT$HASH.
CREATE TABLE students (
    student_id     VARCHAR(32)   NOT NULL PRIMARY KEY,
    name           VARCHAR(128)  NOT NULL,
    password_hash  VARCHAR(255)  NOT NULL,
    created_at     BIGINT        NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- WeChat users; student_id NULL when unbound, each student bound at most once.
CREATE TABLE users (
    openid         VARCHAR(64)   NOT NULL PRIMARY KEY,
    student_id     VARCHAR(32)   NULL,
    bound_at       BIGINT        NULL,
    UNIQUE KEY uk_users_student (student_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- One row per (activity, student): a refund sets status 0, a later grab
-- revives the row with the new unique_id. last_event_ms/seq is the stream id
-- of the last applied order event; older events are ignored (replays).
CREATE TABLE tickets (
    id              BIGINT       NOT NULL AUTO_INCREMENT PRIMARY KEY,
    unique_id       VARCHAR(32)  NOT NULL,
    activity_id     BIGINT       NOT NULL,
    student_id      VARCHAR(32)  NOT NULL,
    status          TINYINT      NOT NULL,  -- 0 cancelled, 1 valid, 2 used
    last_event_ms   BIGINT       NOT NULL DEFAULT 0,
    last_event_seq  BIGINT       NOT NULL DEFAULT 0,
    created_at      BIGINT       NOT NULL,
    updated_at      BIGINT       NOT NULL,
    UNIQUE KEY uk_tickets_unique_id (unique_id),
    UNIQUE KEY uk_tickets_activity_student (activity_id, student_id),
    KEY k_tickets_student (student_id, status),
    CONSTRAINT ck_tickets_status CHECK (status IN (0, 1, 2))
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE admins (
    id             BIGINT        NOT NULL AUTO_INCREMENT PRIMARY KEY,
    username       VARCHAR(64)   NOT NULL,
    password_hash  VARCHAR(255)  NOT NULL,
    created_at     BIGINT        NOT NULL,
    UNIQUE KEY uk_admins_username (username)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE images (
    id             BIGINT        NOT NULL AUTO_INCREMENT PRIMARY KEY,
    path           VARCHAR(255)  NOT NULL,  -- relative to site.upload_dir
    content_type   VARCHAR(64)   NOT NULL,
    size           INT           NOT NULL,
    created_at     BIGINT        NOT NULL,
    UNIQUE KEY uk_images_path (path)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- The WeChat menu's booking buttons, at most 5, in order.
CREATE TABLE menu (
    position       TINYINT       NOT NULL PRIMARY KEY,
    activity_id    BIGINT        NOT NULL,
    CONSTRAINT ck_menu_position CHECK (position BETWEEN 0 AND 4)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
