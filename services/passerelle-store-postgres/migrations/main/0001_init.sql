-- Passerelle main database, PostgreSQL.
--
-- Same tables, columns and migration versions as the SQLite tree. Encodings:
-- - ids: uuid (ordered bytewise, like SQLite's 16-byte BLOBs);
-- - times: timestamptz (microseconds; SQLite keeps the same precision as integers);
-- - vocabularies (kind, role, status…): their wire spelling as text;
-- - JSON (consent terms, data categories): text, exactly as the SQLite tree stores it.
-- The referral key wraps live in the `keystore` schema (migrations/keystore).

CREATE TABLE orgs (
    id          uuid        NOT NULL PRIMARY KEY,
    slug        text        NOT NULL UNIQUE,
    name        text        NOT NULL,
    kind        text        NOT NULL,
    created_at  timestamptz NOT NULL
);

CREATE TABLE org_keys (
    org_id            uuid        NOT NULL REFERENCES orgs (id),
    version           integer     NOT NULL CHECK (version > 0),
    recipient         text        NOT NULL,
    wrapped_identity  bytea       NOT NULL,
    kek_version       text        NOT NULL,
    created_at        timestamptz NOT NULL,
    retired_at        timestamptz,
    PRIMARY KEY (org_id, version)
);

CREATE TABLE users (
    id                   uuid        NOT NULL PRIMARY KEY,
    username             text        NOT NULL UNIQUE,
    org_id               uuid        NOT NULL REFERENCES orgs (id),
    role                 text        NOT NULL,
    health_professional  boolean     NOT NULL,
    password_hash        text,
    totp_secret          bytea,
    disabled             boolean     NOT NULL DEFAULT false,
    created_at           timestamptz NOT NULL
);

CREATE INDEX users_by_org ON users (org_id, username);

CREATE TABLE api_tokens (
    id          uuid        NOT NULL PRIMARY KEY,
    user_id     uuid        NOT NULL REFERENCES users (id),
    hash        bytea       NOT NULL UNIQUE CHECK (length(hash) = 32),
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);

CREATE INDEX api_tokens_by_user ON api_tokens (user_id);

CREATE TABLE cases (
    id            uuid        NOT NULL PRIMARY KEY,
    created_at    timestamptz NOT NULL,
    terms         text        NOT NULL,
    withdrawn_at  timestamptz
);

CREATE TABLE referrals (
    id              uuid        NOT NULL PRIMARY KEY,
    case_id         uuid        NOT NULL REFERENCES cases (id),
    reference       text        NOT NULL UNIQUE,
    parent_id       uuid        REFERENCES referrals (id),
    from_org        uuid        NOT NULL REFERENCES orgs (id),
    to_org          uuid        NOT NULL REFERENCES orgs (id),
    purpose         text        NOT NULL,
    urgency         text        NOT NULL,
    status          text        NOT NULL,
    basis           text        NOT NULL,
    categories      text        NOT NULL,
    created_by      uuid        NOT NULL REFERENCES users (id),
    created_at      timestamptz NOT NULL,
    due_at          timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    recipient       text        NOT NULL,
    content         bytea       NOT NULL,
    content_sha256  bytea       NOT NULL CHECK (length(content_sha256) = 32),
    shredded_at     timestamptz
);

-- The inbox: WHERE to_org = $1 ORDER BY due_at, id (cursor: (due_at, id) > ($2, $3)).
CREATE INDEX referrals_inbox ON referrals (to_org, due_at, id);
-- The sent box: WHERE from_org = $1 ORDER BY created_at DESC, id.
CREATE INDEX referrals_sent ON referrals (from_org, created_at DESC, id);
CREATE INDEX referrals_by_case ON referrals (case_id, created_at, id);

CREATE TABLE referral_events (
    id             bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    referral_id    uuid        NOT NULL REFERENCES referrals (id),
    at             timestamptz NOT NULL,
    status         text        NOT NULL,
    actor          uuid        REFERENCES users (id),
    outcome        text,
    sealed_detail  bytea,
    suggested_org  text
);

CREATE INDEX referral_events_by_referral ON referral_events (referral_id, id);

-- The audit log (RFC 6962 leaves). Append-only: the triggers below refuse any change.
CREATE TABLE audit_leaves (
    seq        bigint      NOT NULL PRIMARY KEY CHECK (seq >= 0),
    at         timestamptz NOT NULL,
    bytes      bytea       NOT NULL,
    leaf_hash  bytea       NOT NULL CHECK (length(leaf_hash) = 32),
    actor      text,
    org        text,
    action     text        NOT NULL,
    target     text,
    case_id    uuid
);

CREATE INDEX audit_leaves_by_case ON audit_leaves (case_id, seq) WHERE case_id IS NOT NULL;
CREATE INDEX audit_leaves_by_actor ON audit_leaves (actor, seq) WHERE actor IS NOT NULL;
CREATE INDEX audit_leaves_by_org ON audit_leaves (org, seq) WHERE org IS NOT NULL;
CREATE INDEX audit_leaves_by_action ON audit_leaves (action, seq);
CREATE INDEX audit_leaves_by_at ON audit_leaves (at, seq);

CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_leaves_no_update_delete BEFORE UPDATE OR DELETE ON audit_leaves
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER audit_leaves_no_truncate BEFORE TRUNCATE ON audit_leaves
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();

-- The head of the log: one row, always present (id = 1), locked by every append
-- (SELECT … FOR UPDATE). `compact` is the compact range: the 32-byte roots of the perfect
-- subtrees, largest first, concatenated. The empty tree: root SHA-256(""), no checkpoint.
CREATE TABLE audit_head (
    id          integer NOT NULL PRIMARY KEY CHECK (id = 1),
    size        bigint  NOT NULL CHECK (size >= 0),
    root        bytea   NOT NULL CHECK (length(root) = 32),
    compact     bytea   NOT NULL CHECK (length(compact) % 32 = 0),
    checkpoint  text    NOT NULL
);

INSERT INTO audit_head (id, size, root, compact, checkpoint)
VALUES (1, 0, '\xe3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', '\x', '');

CREATE TRIGGER audit_head_no_delete BEFORE DELETE OR TRUNCATE ON audit_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
