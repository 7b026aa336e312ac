-- Passerelle keystore, SQLite: a separate file in the keys folder, opened with
-- secure_delete=ON so a deleted wrap is overwritten with zeros, not left in free pages.
-- No foreign key to the main database (another file); orphan wraps carry no content.

CREATE TABLE key_wraps (
    referral_id      BLOB    NOT NULL CHECK (length(referral_id) = 16),
    org_id           BLOB    NOT NULL CHECK (length(org_id) = 16),
    org_key_version  INTEGER NOT NULL CHECK (org_key_version > 0),
    wrapped          BLOB    NOT NULL,
    PRIMARY KEY (referral_id, org_id)
) STRICT;
