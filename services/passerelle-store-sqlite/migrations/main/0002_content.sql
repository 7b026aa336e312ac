-- Passerelle main database, SQLite, version 2: messages, attachments, shredding, and the
-- index that finds the audit leaf recording a ciphertext.
--
-- Every ciphertext below is an age file sealed to the referral's own identity (whose wraps
-- live in the keystore); its SHA-256 is also in the audit leaf of the action that wrote it,
-- and opening checks it there. Shredding a referral deletes its wraps in the keystore, then
-- in one transaction every row here that holds one of its ciphertexts.

-- Why and when a referral's content was destroyed (`shredded_at` is in version 1).
ALTER TABLE referrals ADD COLUMN shred_reason TEXT;

-- Shreds asked for and not finished yet: written (committed) before the keystore wraps are
-- deleted, removed in the transaction that deletes the ciphertexts. Whatever kills the
-- process in between, the next `serve` (or `referral shred`) finishes the job.
CREATE TABLE shred_queue (
    referral_id   BLOB    NOT NULL PRIMARY KEY REFERENCES referrals (id),
    reason        TEXT    NOT NULL,
    requested_at  INTEGER NOT NULL,
    requested_by  BLOB    REFERENCES users (id)
) STRICT;

-- A referral's thread. `body` is sealed (part Message, item = id); author and organisation
-- in clear (who wrote, not what).
CREATE TABLE messages (
    id           BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    referral_id  BLOB    NOT NULL REFERENCES referrals (id),
    author_id    BLOB    NOT NULL REFERENCES users (id),
    org_id       BLOB    NOT NULL REFERENCES orgs (id),
    created_at   INTEGER NOT NULL,
    body         BLOB    NOT NULL,
    body_sha256  BLOB    NOT NULL CHECK (length(body_sha256) = 32)
) STRICT;

CREATE INDEX messages_by_referral ON messages (referral_id, created_at, id);

-- Attachments. The bytes are one age stream (part Attachment, item = id) cut into chunks
-- (`attachment_chunks`), written as they arrive; the row is complete once `completed_at`
-- is set, in the transaction that appends the `attachment.uploaded` leaf. `record` is
-- sealed too (part AttachmentName): the file name and the plaintext's SHA-256.
CREATE TABLE attachments (
    id                 BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    referral_id        BLOB    NOT NULL REFERENCES referrals (id),
    uploaded_by        BLOB    NOT NULL REFERENCES users (id),
    org_id             BLOB    NOT NULL REFERENCES orgs (id),
    category           TEXT    NOT NULL,
    created_at         INTEGER NOT NULL,
    size               INTEGER CHECK (size >= 0),
    chunks             INTEGER CHECK (chunks >= 0),
    ciphertext_sha256  BLOB    CHECK (length(ciphertext_sha256) = 32),
    record             BLOB,
    record_sha256      BLOB    CHECK (length(record_sha256) = 32),
    completed_at       INTEGER,
    CHECK ((completed_at IS NULL) = (record IS NULL))
) STRICT;

CREATE INDEX attachments_by_referral ON attachments (referral_id, created_at, id);
CREATE INDEX attachments_pending ON attachments (created_at) WHERE completed_at IS NULL;

CREATE TABLE attachment_chunks (
    attachment_id  BLOB    NOT NULL REFERENCES attachments (id) ON DELETE CASCADE,
    seq            INTEGER NOT NULL CHECK (seq >= 0),
    bytes          BLOB    NOT NULL,
    PRIMARY KEY (attachment_id, seq)
) STRICT;

-- Finding the leaf that recorded a ciphertext: by its main target (message, attachment or
-- referral id) and action.
CREATE INDEX IF NOT EXISTS audit_leaves_by_target ON audit_leaves (target, seq)
    WHERE target IS NOT NULL;
