-- Passerelle main database, PostgreSQL, version 2: messages, attachments, shredding, and
-- the index that finds the audit leaf recording a ciphertext. Same tables, columns and
-- version as the SQLite tree.
--
-- Every ciphertext below is an age file sealed to the referral's own identity (whose wraps
-- live in the keystore schema); its SHA-256 is also in the audit leaf of the action that
-- wrote it, and opening checks it there. Shredding a referral deletes its wraps in the
-- keystore, then in one transaction every row here that holds one of its ciphertexts.
-- PostgreSQL keeps deleted rows in dead tuples until VACUUM (see SECURITY.md).

-- Why and when a referral's content was destroyed (`shredded_at` is in version 1).
ALTER TABLE referrals ADD COLUMN shred_reason text;

-- Shreds asked for and not finished yet: written (committed) before the keystore wraps are
-- deleted, removed in the transaction that deletes the ciphertexts. Whatever kills the
-- process in between, the next `serve` (or `referral shred`) finishes the job.
CREATE TABLE shred_queue (
    referral_id   uuid        NOT NULL PRIMARY KEY REFERENCES referrals (id),
    reason        text        NOT NULL,
    requested_at  timestamptz NOT NULL,
    requested_by  uuid        REFERENCES users (id)
);

-- A referral's thread. `body` is sealed (part Message, item = id); author and organisation
-- in clear (who wrote, not what).
CREATE TABLE messages (
    id           uuid        NOT NULL PRIMARY KEY,
    referral_id  uuid        NOT NULL REFERENCES referrals (id),
    author_id    uuid        NOT NULL REFERENCES users (id),
    org_id       uuid        NOT NULL REFERENCES orgs (id),
    created_at   timestamptz NOT NULL,
    body         bytea       NOT NULL,
    body_sha256  bytea       NOT NULL CHECK (length(body_sha256) = 32)
);

CREATE INDEX messages_by_referral ON messages (referral_id, created_at, id);

-- Attachments. The bytes are one age stream (part Attachment, item = id) cut into chunks
-- (`attachment_chunks`), written as they arrive; the row is complete once `completed_at`
-- is set, in the transaction that appends the `attachment.uploaded` leaf. `record` is
-- sealed too (part AttachmentName): the file name and the plaintext's SHA-256.
CREATE TABLE attachments (
    id                 uuid        NOT NULL PRIMARY KEY,
    referral_id        uuid        NOT NULL REFERENCES referrals (id),
    uploaded_by        uuid        NOT NULL REFERENCES users (id),
    org_id             uuid        NOT NULL REFERENCES orgs (id),
    category           text        NOT NULL,
    created_at         timestamptz NOT NULL,
    size               bigint      CHECK (size >= 0),
    chunks             integer     CHECK (chunks >= 0),
    ciphertext_sha256  bytea       CHECK (length(ciphertext_sha256) = 32),
    record             bytea,
    record_sha256      bytea       CHECK (length(record_sha256) = 32),
    completed_at       timestamptz,
    CHECK ((completed_at IS NULL) = (record IS NULL))
);

CREATE INDEX attachments_by_referral ON attachments (referral_id, created_at, id);
CREATE INDEX attachments_pending ON attachments (created_at) WHERE completed_at IS NULL;

CREATE TABLE attachment_chunks (
    attachment_id  uuid    NOT NULL REFERENCES attachments (id) ON DELETE CASCADE,
    seq            integer NOT NULL CHECK (seq >= 0),
    bytes          bytea   NOT NULL,
    PRIMARY KEY (attachment_id, seq)
);

-- Finding the leaf that recorded a ciphertext: by its main target (message, attachment or
-- referral id) and action.
CREATE INDEX IF NOT EXISTS audit_leaves_by_target ON audit_leaves (target, seq)
    WHERE target IS NOT NULL;

-- Ciphertext does not compress: store chunks out of line without trying.
ALTER TABLE attachment_chunks ALTER COLUMN bytes SET STORAGE EXTERNAL;
