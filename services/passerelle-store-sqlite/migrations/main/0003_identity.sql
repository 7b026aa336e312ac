-- Identity and access (SQLite): one-time enrolment links, web sessions, the per-account
-- login guard. Same tables, columns and version as the PostgreSQL tree.
-- Secrets are never stored: links and sessions keep the SHA-256 of their 32 random bytes;
-- a pending TOTP secret is sealed by the vault.

CREATE TABLE enrolments (
    id            BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    user_id       BLOB    NOT NULL REFERENCES users (id),
    hash          BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),
    created_at    INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    used_at       INTEGER,
    pending_totp  BLOB
) STRICT;

CREATE INDEX enrolments_by_user ON enrolments (user_id) WHERE used_at IS NULL;

CREATE TABLE web_sessions (
    id            BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    user_id       BLOB    NOT NULL REFERENCES users (id),
    hash          BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),
    created_at    INTEGER NOT NULL,
    last_seen_at  INTEGER NOT NULL,
    expires_at    INTEGER NOT NULL,
    ended_at      INTEGER
) STRICT;

CREATE INDEX web_sessions_live_by_user ON web_sessions (user_id) WHERE ended_at IS NULL;

-- Shared by every instance, kept across restarts: failed logins and lockout, and the last
-- TOTP time step accepted (a step is accepted once).
CREATE TABLE auth_state (
    user_id         BLOB    NOT NULL PRIMARY KEY REFERENCES users (id),
    failed_logins   INTEGER NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
    locked_until    INTEGER,
    totp_last_step  INTEGER
) STRICT;
