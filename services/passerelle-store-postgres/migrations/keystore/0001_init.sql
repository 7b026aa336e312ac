-- Passerelle keystore, PostgreSQL: the referral key wraps, in their own schema `keystore`.
--
-- Why a schema of its own, in the same database: shredding deletes a referral's wraps here,
-- but every backup taken before keeps them. A separate schema can be dumped on its own
-- (`pg_dump --schema=keystore`) and kept for a shorter time than the main database, or
-- excluded from long-term dumps (`--exclude-schema=keystore`) and granted to fewer roles,
-- while one connection and one transaction model still serve both. SECURITY.md states the
-- retention of each.
-- No foreign key to the main schema: wraps are committed before their referral, and orphan
-- wraps carry no content.

CREATE SCHEMA IF NOT EXISTS keystore;

CREATE TABLE keystore.key_wraps (
    referral_id      uuid    NOT NULL,
    org_id           uuid    NOT NULL,
    org_key_version  integer NOT NULL CHECK (org_key_version > 0),
    wrapped          bytea   NOT NULL,
    PRIMARY KEY (referral_id, org_id)
);
