-- Workflow (issue 6): retention stages of referrals, "inform the victim" tasks of 226-14 3°
-- reports, the outbox of content-free notifications, the organisations' notice addresses,
-- and the stated reasons of coordinators' reads of archived referrals.
-- Same tables, columns and version as the PostgreSQL tree.

-- Retention (CNIL, social sector): archived after a period without contact, content
-- destroyed after a second period. `last_contact_at` starts at the filing time;
-- `shred_due_at` is set by archiving or by a withdrawal before the first read, and makes the
-- content unreadable at once, even before the shredding itself has run.
ALTER TABLE referrals ADD COLUMN last_contact_at INTEGER;
ALTER TABLE referrals ADD COLUMN archived_at INTEGER;
ALTER TABLE referrals ADD COLUMN shred_due_at INTEGER;
UPDATE referrals SET last_contact_at = updated_at WHERE last_contact_at IS NULL;

CREATE INDEX referrals_archive_due ON referrals (last_contact_at, id)
    WHERE archived_at IS NULL AND shredded_at IS NULL;
CREATE INDEX referrals_shred_due ON referrals (shred_due_at, id)
    WHERE shred_due_at IS NOT NULL AND shredded_at IS NULL;

-- Tasks; the only kind so far is `inform_victim` (226-14 3°: the victim must be told of the
-- report). A task closes once, with the date it was done and the channel used.
CREATE TABLE referral_tasks (
    id           BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    referral_id  BLOB    NOT NULL REFERENCES referrals (id),
    kind         TEXT    NOT NULL,
    created_at   INTEGER NOT NULL,
    done_at      INTEGER,
    channel      TEXT,
    closed_by    BLOB    REFERENCES users (id),
    closed_at    INTEGER,
    CHECK ((done_at IS NULL) = (channel IS NULL)
       AND (done_at IS NULL) = (closed_at IS NULL)
       AND (done_at IS NULL) = (closed_by IS NULL))
) STRICT;

CREATE INDEX referral_tasks_by_referral ON referral_tasks (referral_id, created_at, id);

-- The outbox of notices: a kind and ids, never content. Mailed by one sender at a time
-- (claimed until `mail_claimed_until`).
CREATE TABLE notifications (
    id                  BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    org_id              BLOB    NOT NULL REFERENCES orgs (id),
    kind                TEXT    NOT NULL,
    referral_id         BLOB    REFERENCES referrals (id),
    case_id             BLOB    REFERENCES cases (id),
    created_at          INTEGER NOT NULL,
    mailed_at           INTEGER,
    mail_attempts       INTEGER NOT NULL DEFAULT 0,
    mail_claimed_until  INTEGER,
    mail_given_up_at    INTEGER
) STRICT;

CREATE INDEX notifications_by_org ON notifications (org_id, created_at DESC, id);
CREATE INDEX notifications_to_mail ON notifications (created_at, id)
    WHERE mailed_at IS NULL AND mail_given_up_at IS NULL;

-- Where an organisation receives its notices (`passerelle org set-email`).
CREATE TABLE org_notify (
    org_id  BLOB NOT NULL PRIMARY KEY REFERENCES orgs (id),
    email   TEXT NOT NULL
) STRICT;

-- Coordinators' reads of archived referrals: the stated reason, sealed to the referral key.
CREATE TABLE archive_reads (
    id             BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
    referral_id    BLOB    NOT NULL REFERENCES referrals (id),
    actor          BLOB    NOT NULL REFERENCES users (id),
    at             INTEGER NOT NULL,
    sealed_reason  BLOB    NOT NULL
) STRICT;

CREATE INDEX archive_reads_by_referral ON archive_reads (referral_id, at);
