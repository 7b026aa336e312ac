-- Passerelle main database, SQLite.
--
-- Encodings (the PostgreSQL tree keeps the same tables, columns and versions):
-- - ids: 16-byte BLOBs (UUID bytes, big-endian), so `ORDER BY id` is the UUID order;
-- - times: INTEGER microseconds since the Unix epoch, UTC. Integers sort correctly (RFC 3339
--   text with a varying number of fractional digits does not) and keep exactly the
--   precision PostgreSQL keeps, so both backends round-trip the same values;
-- - vocabularies (kind, role, status…): their wire spelling as TEXT;
-- - JSON (consent terms, data categories): TEXT.
-- Every table is STRICT: SQLite refuses a value of the wrong type.

CREATE TABLE orgs (
    id          BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    slug        TEXT    NOT NULL UNIQUE,
    name        TEXT    NOT NULL,
    kind        TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;

CREATE TABLE org_keys (
    org_id            BLOB    NOT NULL REFERENCES orgs (id),
    version           INTEGER NOT NULL CHECK (version > 0),
    recipient         TEXT    NOT NULL,
    wrapped_identity  BLOB    NOT NULL,
    kek_version       TEXT    NOT NULL,
    created_at        INTEGER NOT NULL,
    retired_at        INTEGER,
    PRIMARY KEY (org_id, version)
) STRICT;

CREATE TABLE users (
    id                   BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    username             TEXT    NOT NULL UNIQUE,
    org_id               BLOB    NOT NULL REFERENCES orgs (id),
    role                 TEXT    NOT NULL,
    health_professional  INTEGER NOT NULL CHECK (health_professional IN (0, 1)),
    password_hash        TEXT,
    totp_secret          BLOB,
    disabled             INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at           INTEGER NOT NULL
) STRICT;

CREATE INDEX users_by_org ON users (org_id, username);

CREATE TABLE api_tokens (
    id          BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    user_id     BLOB    NOT NULL REFERENCES users (id),
    hash        BLOB    NOT NULL UNIQUE CHECK (length(hash) = 32),
    created_at  INTEGER NOT NULL,
    expires_at  INTEGER NOT NULL,
    revoked_at  INTEGER
) STRICT;

CREATE INDEX api_tokens_by_user ON api_tokens (user_id);

CREATE TABLE cases (
    id            BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    created_at    INTEGER NOT NULL,
    terms         TEXT    NOT NULL,
    withdrawn_at  INTEGER
) STRICT;

CREATE TABLE referrals (
    id              BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    case_id         BLOB    NOT NULL REFERENCES cases (id),
    reference       TEXT    NOT NULL UNIQUE,
    parent_id       BLOB    REFERENCES referrals (id),
    from_org        BLOB    NOT NULL REFERENCES orgs (id),
    to_org          BLOB    NOT NULL REFERENCES orgs (id),
    purpose         TEXT    NOT NULL,
    urgency         TEXT    NOT NULL,
    status          TEXT    NOT NULL,
    basis           TEXT    NOT NULL,
    categories      TEXT    NOT NULL,
    created_by      BLOB    NOT NULL REFERENCES users (id),
    created_at      INTEGER NOT NULL,
    due_at          INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    recipient       TEXT    NOT NULL,
    content         BLOB    NOT NULL,
    content_sha256  BLOB    NOT NULL CHECK (length(content_sha256) = 32),
    shredded_at     INTEGER
) STRICT;

-- The inbox: WHERE to_org = ? ORDER BY due_at, id (cursor: (due_at, id) > (?, ?)).
CREATE INDEX referrals_inbox ON referrals (to_org, due_at, id);
-- The sent box: WHERE from_org = ? ORDER BY created_at DESC, id.
CREATE INDEX referrals_sent ON referrals (from_org, created_at DESC, id);
CREATE INDEX referrals_by_case ON referrals (case_id, created_at, id);

CREATE TABLE referral_events (
    id             INTEGER NOT NULL PRIMARY KEY,
    referral_id    BLOB    NOT NULL REFERENCES referrals (id),
    at             INTEGER NOT NULL,
    status         TEXT    NOT NULL,
    actor          BLOB    REFERENCES users (id),
    outcome        TEXT,
    sealed_detail  BLOB,
    suggested_org  TEXT
) STRICT;

CREATE INDEX referral_events_by_referral ON referral_events (referral_id, id);

-- The audit log (RFC 6962 leaves). Append-only: the triggers below refuse any change.
CREATE TABLE audit_leaves (
    seq        INTEGER NOT NULL PRIMARY KEY CHECK (seq >= 0),
    at         INTEGER NOT NULL,
    bytes      BLOB    NOT NULL,
    leaf_hash  BLOB    NOT NULL CHECK (length(leaf_hash) = 32),
    actor      TEXT,
    org        TEXT,
    action     TEXT    NOT NULL,
    target     TEXT,
    case_id    BLOB
) STRICT;

CREATE INDEX audit_leaves_by_case ON audit_leaves (case_id, seq) WHERE case_id IS NOT NULL;
CREATE INDEX audit_leaves_by_actor ON audit_leaves (actor, seq) WHERE actor IS NOT NULL;
CREATE INDEX audit_leaves_by_org ON audit_leaves (org, seq) WHERE org IS NOT NULL;
CREATE INDEX audit_leaves_by_action ON audit_leaves (action, seq);
CREATE INDEX audit_leaves_by_at ON audit_leaves (at, seq);

CREATE TRIGGER audit_leaves_no_update BEFORE UPDATE ON audit_leaves
BEGIN
    SELECT RAISE(ABORT, 'audit_leaves is append-only');
END;

CREATE TRIGGER audit_leaves_no_delete BEFORE DELETE ON audit_leaves
BEGIN
    SELECT RAISE(ABORT, 'audit_leaves is append-only');
END;

-- The head of the log: one row, always present (id = 1), locked by every append.
-- `compact` is the compact range: the 32-byte roots of the perfect subtrees, largest first,
-- concatenated. The row of the empty tree carries the root SHA-256("") and no checkpoint.
CREATE TABLE audit_head (
    id          INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    size        INTEGER NOT NULL CHECK (size >= 0),
    root        BLOB    NOT NULL CHECK (length(root) = 32),
    compact     BLOB    NOT NULL CHECK (length(compact) % 32 = 0),
    checkpoint  TEXT    NOT NULL
) STRICT;

INSERT INTO audit_head (id, size, root, compact, checkpoint)
VALUES (1, 0, X'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', X'', '');

CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
BEGIN
    SELECT RAISE(ABORT, 'audit_head cannot be deleted');
END;
