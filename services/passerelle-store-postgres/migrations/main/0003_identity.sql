-- Identity and access (PostgreSQL): one-time enrolment links, web sessions, the
-- per-account login guard. Same tables, columns and version as the SQLite tree.
-- Secrets are never stored: links and sessions keep the SHA-256 of their 32 random bytes;
-- a pending TOTP secret is sealed by the vault.

CREATE TABLE enrolments (
    id            uuid        NOT NULL PRIMARY KEY,
    user_id       uuid        NOT NULL REFERENCES users (id),
    hash          bytea       NOT NULL UNIQUE CHECK (length(hash) = 32),
    created_at    timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    used_at       timestamptz,
    pending_totp  bytea
);

CREATE INDEX enrolments_by_user ON enrolments (user_id) WHERE used_at IS NULL;

CREATE TABLE web_sessions (
    id            uuid        NOT NULL PRIMARY KEY,
    user_id       uuid        NOT NULL REFERENCES users (id),
    hash          bytea       NOT NULL UNIQUE CHECK (length(hash) = 32),
    created_at    timestamptz NOT NULL,
    last_seen_at  timestamptz NOT NULL,
    expires_at    timestamptz NOT NULL,
    ended_at      timestamptz
);

CREATE INDEX web_sessions_live_by_user ON web_sessions (user_id) WHERE ended_at IS NULL;

-- Shared by every instance, kept across restarts: failed logins and lockout, and the last
-- TOTP time step accepted (a step is accepted once).
CREATE TABLE auth_state (
    user_id         uuid        NOT NULL PRIMARY KEY REFERENCES users (id),
    failed_logins   integer     NOT NULL DEFAULT 0 CHECK (failed_logins >= 0),
    locked_until    timestamptz,
    totp_last_step  bigint
);
