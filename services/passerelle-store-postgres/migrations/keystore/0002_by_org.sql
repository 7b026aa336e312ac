-- Passerelle keystore, PostgreSQL, version 2: the wraps of one organisation by identity
-- version, for `passerelle keys rotate-org` (re-wrap every referral key of an organisation
-- to its new identity, compare-and-set on the version).

CREATE INDEX key_wraps_by_org ON keystore.key_wraps (org_id, org_key_version, referral_id);
