//! Key rotation without downtime (DESIGN.md §3), run by the operator's commands while
//! `serve` serves.
//!
//! **Master key** (`passerelle keys rotate`): add a new version to the keys folder → every
//! instance has it (same folder, or copied by the operator after `--add-only`; running
//! vaults reload a version they do not know) → promote it (`CURRENT`) → re-wrap every
//! organisation identity under it, each with a compare-and-set on the old version in the
//! transaction of its `key.rotated` leaf → retire (overwrite and delete) every old version
//! nothing is wrapped under any more. Filing needs no master key and reading unwraps with
//! whatever version a row names, so nothing waits. Each step is idempotent: run again after
//! a crash (even `kill -9`), the command sees what is left — a version added but not
//! promoted, identities still under an old version, an old version still on disk — and
//! finishes it instead of starting a new rotation.
//!
//! **Organisation identity** (`passerelle keys rotate-org SLUG`): a new identity version
//! (filings wrap to it at once), every referral key wrap of the organisation re-wrapped to
//! it (compare-and-set on the wrap's version) and every TOTP seed of its users re-sealed to
//! it, the old versions retired (filings that wrapped to them meanwhile refuse to commit,
//! take their wraps back and wrap again), the wraps made meanwhile re-wrapped — pass after
//! pass until no wrap is under an old version — then the old identities destroyed (their
//! wrapped identity emptied). A wrap under a destroyed version whose referral does not
//! exist (a refused filing interrupted before taking it back) is deleted. Readers
//! that meet a destroyed version read the wrap again. Run again after a crash, it resumes
//! with the newest identity instead of creating another.

use std::collections::{BTreeMap, BTreeSet};

use passerelle_domain::audit::{Action, Targets};
use passerelle_domain::ids::{OrgId, OrgSlug, ReferralId};
use passerelle_store::{KeyWrapRow, OrgKeyRow, OrgRow};
use passerelle_vault::ReferralKey;

use crate::journal::Entry;
use crate::referrals::micros;
use crate::{Core, CoreError, CoreResult, RequestCtx, fault};

/// Re-wrap passes after the retirement before `rotate-org` gives up (and says the rotation
/// is unfinished; run it again).
const REWRAP_ROUNDS: u32 = 50;

/// Page size of the referral key wraps re-wrapped by `rotate-org`.
const WRAP_PAGE: u32 = 200;

/// What `keys rotate` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MasterRotation {
    /// Whether it finished an interrupted rotation instead of starting one.
    pub resumed: bool,
    /// The version added, if any.
    pub added: Option<String>,
    /// The version promoted, if any.
    pub promoted: Option<String>,
    /// The current version at the end.
    pub current: String,
    /// Organisation identities re-wrapped by this run.
    pub rewrapped: u64,
    /// Re-wraps another rotator had already done (compare-and-set lost).
    pub skipped: u64,
    /// Versions retired (deleted from the keys folder).
    pub retired: Vec<String>,
    /// Old versions still used by some identity (not retired).
    pub still_used: Vec<String>,
}

/// What `keys rotate-org` did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgRotation {
    /// The organisation.
    pub org: Option<OrgSlug>,
    /// Its identity version now.
    pub version: i32,
    /// Whether this run created that version (false: resumed).
    pub created: bool,
    /// Referral key wraps re-wrapped by this run.
    pub rewrapped: u64,
    /// Users' TOTP seeds (and pending ones of enrolment links) re-sealed by this run.
    pub resealed: u64,
    /// Wraps or seeds that could not be opened with the old identity (left as they are, old
    /// identities kept).
    pub failed: u64,
    /// Old identity versions retired by this run.
    pub retired: u64,
    /// Old identity versions destroyed by this run.
    pub destroyed: u64,
}

/// One organisation identity version, for `keys status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgKeyState {
    /// Version.
    pub version: i32,
    /// `current`, `retired` (still readable, no new wraps) or `destroyed`.
    pub state: &'static str,
    /// Master key version wrapping it (empty once destroyed).
    pub kek_version: String,
    /// Referral key wraps made to it.
    pub wraps: u64,
}

/// `keys status`: where every key stands. Ids, versions and counts only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyStatus {
    /// The current master key version.
    pub current: String,
    /// Master key versions in the keys folder, with how many organisation identities each
    /// wraps.
    pub master_versions: Vec<(String, u64)>,
    /// Organisation identities wrapped under a version not in the folder.
    pub missing_versions: Vec<(String, u64)>,
    /// Whether every master wrap also goes to an escrow recipient.
    pub escrow: bool,
    /// Per organisation (slug), its identity versions.
    pub orgs: Vec<(OrgSlug, Vec<OrgKeyState>)>,
}

impl KeyStatus {
    /// Whether a rotation is unfinished (run `keys rotate` / `keys rotate-org` again).
    pub fn pending(&self) -> Vec<String> {
        let mut out = Vec::new();
        for (v, n) in &self.master_versions {
            if *v != self.current {
                out.push(format!(
                    "master key {v} is not current and wraps {n} organisation identit{}",
                    if *n == 1 { "y" } else { "ies" }
                ));
            }
        }
        for (slug, versions) in &self.orgs {
            let live = versions.iter().filter(|k| k.state == "current").count();
            let old_wraps: u64 = versions
                .iter()
                .filter(|k| k.state != "current")
                .map(|k| k.wraps)
                .sum();
            let undestroyed = versions.iter().filter(|k| k.state == "retired").count();
            if live > 1 || old_wraps > 0 || undestroyed > 0 {
                out.push(format!("organisation {slug}: identity rotation unfinished"));
            }
        }
        out
    }
}

fn live(k: &OrgKeyRow) -> bool {
    !k.wrapped_identity.is_empty()
}

impl Core {
    /// `passerelle keys rotate` (see the module documentation). With `add_only`, only adds
    /// a new version (not promoted): copy it to every instance, then run without.
    pub async fn rotate_master_key(
        &self,
        add_only: bool,
        ctx: &RequestCtx,
    ) -> CoreResult<MasterRotation> {
        let vault = self.vault();
        let dir = vault.dir().to_owned();
        vault.reload()?;
        let mut report = MasterRotation::default();
        let highest = |v: &passerelle_vault::Vault| v.kek_versions().last().cloned();
        let current = vault.current_kek_version();
        let rows = self.store().all_org_keys().await?;
        let pending = highest(vault).as_deref() != Some(current.as_str())
            || rows.iter().any(|k| live(k) && k.kek_version != current)
            || vault.kek_versions().iter().any(|v| *v != current);

        if add_only {
            if highest(vault).as_deref() != Some(current.as_str()) {
                // Added already, not promoted yet: nothing to add.
                report.added = highest(vault);
            } else {
                report.added = Some(passerelle_vault::add_master_version(&dir)?);
                vault.reload()?;
            }
            report.current = vault.current_kek_version();
            return Ok(report);
        }
        report.resumed = pending;
        if !pending {
            report.added = Some(passerelle_vault::add_master_version(&dir)?);
            vault.reload()?;
        }
        if let Some(top) = highest(vault)
            && top != vault.current_kek_version()
        {
            passerelle_vault::promote(&dir, &top)?;
            vault.reload()?;
            report.promoted = Some(top);
        }
        let current = vault.current_kek_version();
        report.current = current.clone();

        for k in self.store().all_org_keys().await? {
            if !live(&k) || k.kek_version == current {
                continue;
            }
            let new = vault.rewrap_org_identity(
                k.org_id,
                k.version,
                &k.wrapped_identity,
                &k.kek_version,
            )?;
            let mut tx = self.store().begin().await?;
            if tx
                .rewrap_org_key(
                    k.org_id,
                    k.version,
                    &k.kek_version,
                    &new.wrapped_identity,
                    &new.kek_version,
                )
                .await?
            {
                let entry = Entry::system(
                    Action::KeyRotated,
                    Targets {
                        org: Some(k.org_id),
                        ..Targets::default()
                    },
                );
                self.commit_with(tx, entry, ctx).await?;
                report.rewrapped += 1;
                fault::point("rotate-rewrap");
            } else {
                report.skipped += 1;
            }
        }

        let in_use: BTreeSet<String> = self
            .store()
            .all_org_keys()
            .await?
            .into_iter()
            .filter(live)
            .map(|k| k.kek_version)
            .collect();
        for v in vault.kek_versions() {
            if v == current {
                continue;
            }
            if in_use.contains(&v) {
                report.still_used.push(v);
            } else {
                if passerelle_vault::retire(&dir, &v)? {
                    report.retired.push(v.clone());
                }
                vault.forget_kek(&v);
            }
        }
        if report.promoted.is_some() || report.rewrapped > 0 || !report.retired.is_empty() {
            self.journal_only(Entry::system(Action::KeyRotated, Targets::default()), ctx)
                .await?;
        }
        tracing::info!(
            current = %report.current,
            rewrapped = report.rewrapped,
            retired = ?report.retired,
            "master key rotation done"
        );
        Ok(report)
    }

    /// `passerelle keys rotate-org SLUG` (see the module documentation).
    pub async fn rotate_org_key(
        &self,
        slug: &OrgSlug,
        ctx: &RequestCtx,
    ) -> CoreResult<OrgRotation> {
        let org = self
            .store()
            .org_by_slug(slug.as_str())
            .await?
            .ok_or(CoreError::NotFound)?;
        let keys: Vec<OrgKeyRow> = self
            .store()
            .all_org_keys()
            .await?
            .into_iter()
            .filter(|k| k.org_id == org.id)
            .collect();
        let mut report = OrgRotation {
            org: Some(org.slug.clone()),
            ..OrgRotation::default()
        };
        let usable: Vec<&OrgKeyRow> = keys
            .iter()
            .filter(|k| live(k) && k.retired_at.is_none())
            .collect();
        // Unfinished (a crash): two usable versions, or an old one retired but not
        // destroyed. Resume with the newest instead of creating another.
        let unfinished = usable.len() > 1 || keys.iter().any(|k| live(k) && k.retired_at.is_some());
        let target = if unfinished && !usable.is_empty() {
            usable.iter().map(|k| k.version).max().unwrap_or(1)
        } else {
            let version = keys.iter().map(|k| k.version).max().unwrap_or(0) + 1;
            let new = self.vault().new_org_identity(org.id, version)?;
            let mut tx = self.store().begin().await?;
            tx.insert_org_key(&OrgKeyRow {
                org_id: org.id,
                version,
                recipient: new.recipient,
                wrapped_identity: new.wrapped_identity,
                kek_version: new.kek_version,
                created_at: micros(self.now()),
                retired_at: None,
            })
            .await?;
            self.commit_with(tx, org_entry(&org), ctx).await?;
            report.created = true;
            fault::point("rotate-org-new");
            version
        };
        report.version = target;
        let target_row = self
            .store()
            .org_key(org.id, target)
            .await?
            .ok_or_else(|| CoreError::Internal("new organisation identity missing".into()))?;

        self.rewrap_referral_keys(&org, &target_row, &mut report)
            .await?;
        self.reseal_user_secrets(&org, &target_row, &mut report)
            .await?;
        if report.failed > 0 {
            return Ok(report);
        }
        let mut tx = self.store().begin().await?;
        report.retired = tx
            .retire_org_keys(org.id, target, micros(self.now()))
            .await?;
        if report.retired > 0 {
            self.commit_with(tx, org_entry(&org), ctx).await?;
        } else {
            drop(tx);
        }
        // Filings (and enrolments) that used an old version and committed before the
        // retirement; and filings still in flight that read the old version as current
        // before the new one existed: their wraps reach the keystore before their commit
        // (which now refuses, the version being retired) and before they take the wraps
        // back. Loop until no wrap is under an old version, so that destroying the old
        // identities never strands one.
        let mut rounds = 0;
        loop {
            self.rewrap_referral_keys(&org, &target_row, &mut report)
                .await?;
            self.reseal_user_secrets(&org, &target_row, &mut report)
                .await?;
            if report.failed > 0 {
                return Ok(report);
            }
            let left = self
                .store()
                .key_wraps_below(org.id, target, None, 1)
                .await?;
            if left.is_empty() {
                break;
            }
            rounds += 1;
            if rounds >= REWRAP_ROUNDS {
                return Ok(report);
            }
            tokio::task::yield_now().await;
        }
        let mut tx = self.store().begin().await?;
        report.destroyed = tx.destroy_retired_org_keys(org.id, target).await?;
        if report.destroyed > 0 {
            self.commit_with(tx, org_entry(&org), ctx).await?;
        } else {
            drop(tx);
        }
        for k in &keys {
            if k.version < target {
                self.vault().forget_org_identity(org.id, k.version);
            }
        }
        tracing::info!(
            org = %org.slug,
            version = target,
            rewrapped = report.rewrapped,
            destroyed = report.destroyed,
            "organisation identity rotation done"
        );
        Ok(report)
    }

    /// Re-wraps every referral key wrap of `org` below the target version to it.
    async fn rewrap_referral_keys(
        &self,
        org: &OrgRow,
        target: &OrgKeyRow,
        report: &mut OrgRotation,
    ) -> CoreResult<()> {
        let mut olds: BTreeMap<i32, Option<OrgKeyRow>> = BTreeMap::new();
        let mut after: Option<ReferralId> = None;
        loop {
            let page = self
                .store()
                .key_wraps_below(org.id, target.version, after, WRAP_PAGE)
                .await?;
            let Some(last) = page.last() else {
                return Ok(());
            };
            after = Some(last.referral_id);
            for w in page {
                if let std::collections::btree_map::Entry::Vacant(slot) =
                    olds.entry(w.org_key_version)
                {
                    let row = self.store().org_key(org.id, w.org_key_version).await?;
                    slot.insert(row.filter(live));
                }
                let Some(old) = olds.get(&w.org_key_version).and_then(Option::as_ref) else {
                    // A destroyed (so retired) version: a wrap whose referral does not
                    // exist is the orphan of a filing refused at commit (and interrupted
                    // before it took its wraps back); it can never be used.
                    if self.store().referral(w.referral_id).await?.is_none() {
                        self.store().delete_key_wraps(w.referral_id).await?;
                        continue;
                    }
                    tracing::warn!(org = %org.slug, referral = %w.referral_id, version = w.org_key_version, "a referral key wrap names an identity version that is gone");
                    report.failed += 1;
                    continue;
                };
                let identity = self.vault().org_identity(
                    org.id,
                    old.version,
                    &old.wrapped_identity,
                    &old.kek_version,
                )?;
                let key = match ReferralKey::unwrap(&identity, &w.wrapped) {
                    Ok(k) => k,
                    Err(_) => {
                        report.failed += 1;
                        continue;
                    }
                };
                let new = KeyWrapRow {
                    referral_id: w.referral_id,
                    org_id: org.id,
                    org_key_version: target.version,
                    wrapped: key.wrap_to(&target.recipient)?,
                };
                if self
                    .store()
                    .replace_key_wrap(w.org_key_version, &new)
                    .await?
                {
                    report.rewrapped += 1;
                    fault::point("rotate-org-rewrap");
                }
            }
        }
    }

    /// Re-seals the organisation's users' TOTP seeds (and the pending seeds of their
    /// unused enrolment links) from older identity versions to the target one, each with a
    /// compare-and-set, so that destroying the old identities locks nobody out.
    async fn reseal_user_secrets(
        &self,
        org: &OrgRow,
        target: &OrgKeyRow,
        report: &mut OrgRotation,
    ) -> CoreResult<()> {
        for secret in self.store().sealed_user_secrets(org.id).await? {
            let Some(version) = passerelle_vault::sealed_secret_key_version(&secret.sealed) else {
                report.failed += 1;
                continue;
            };
            if version >= target.version {
                continue;
            }
            let old = self.store().org_key(org.id, version).await?.filter(live);
            let Some(old) = old else {
                tracing::warn!(org = %org.slug, user = %secret.user, version, "a sealed user secret names an identity version that is gone");
                report.failed += 1;
                continue;
            };
            let identity = self.vault().org_identity(
                org.id,
                old.version,
                &old.wrapped_identity,
                &old.kek_version,
            )?;
            let Ok(seed) =
                passerelle_vault::open_totp_secret(&identity, secret.user, &secret.sealed)
            else {
                report.failed += 1;
                continue;
            };
            let new = passerelle_vault::seal_totp_secret(
                &target.recipient,
                target.version,
                secret.user,
                &seed,
            )?;
            let mut tx = self.store().begin().await?;
            if tx
                .reseal_user_secret(secret.holder, secret.id, &secret.sealed, &new)
                .await?
            {
                tx.commit().await?;
                report.resealed += 1;
            }
        }
        Ok(())
    }

    /// Where every key stands (`passerelle keys status`).
    pub async fn key_status(&self) -> CoreResult<KeyStatus> {
        let vault = self.vault();
        vault.reload()?;
        let rows = self.store().all_org_keys().await?;
        let wraps: BTreeMap<(OrgId, i32), u64> = self
            .store()
            .key_wrap_counts()
            .await?
            .into_iter()
            .map(|(o, v, n)| ((o, v), n))
            .collect();
        let versions = vault.kek_versions();
        let mut per_kek: BTreeMap<String, u64> = BTreeMap::new();
        for k in rows.iter().filter(|k| live(k)) {
            *per_kek.entry(k.kek_version.clone()).or_default() += 1;
        }
        let master_versions = versions
            .iter()
            .map(|v| (v.clone(), per_kek.get(v).copied().unwrap_or(0)))
            .collect();
        let missing_versions = per_kek
            .iter()
            .filter(|(v, _)| !versions.contains(v))
            .map(|(v, n)| (v.clone(), *n))
            .collect();
        let mut orgs = Vec::new();
        for org in self.store().list_orgs().await? {
            let states = rows
                .iter()
                .filter(|k| k.org_id == org.id)
                .map(|k| OrgKeyState {
                    version: k.version,
                    state: if !live(k) {
                        "destroyed"
                    } else if k.retired_at.is_some() {
                        "retired"
                    } else {
                        "current"
                    },
                    kek_version: if live(k) {
                        k.kek_version.clone()
                    } else {
                        String::new()
                    },
                    wraps: wraps.get(&(org.id, k.version)).copied().unwrap_or(0),
                })
                .collect();
            orgs.push((org.slug, states));
        }
        Ok(KeyStatus {
            current: vault.current_kek_version(),
            master_versions,
            missing_versions,
            escrow: vault.has_escrow(),
            orgs,
        })
    }
}

fn org_entry(org: &OrgRow) -> Entry {
    Entry::system(
        Action::KeyRotated,
        Targets {
            org: Some(org.id),
            ..Targets::default()
        },
    )
}
