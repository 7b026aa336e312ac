//! The loaded keys folder: master key versions, escrow recipients, the audit signer, and a
//! cache of unwrapped organisation identities.
//!
//! Master key versions can be added while the service runs (`passerelle keys rotate`): a
//! vault that meets a version it does not know reloads the folder ([`Vault::reload`]), so
//! running instances keep working through a rotation. Versions are only ever added in
//! memory; a retired version leaves memory when the process restarts.
//!
//! An organisation identity's wrap is bound to its organisation and version: its plaintext
//! is an age identity file whose comment lines name them,
//!
//! ```text
//! # passerelle organisation identity
//! # org: <uuid>
//! # version: <n>
//! AGE-SECRET-KEY-1…
//! ```
//!
//! (so `age -d -i kek-vN.key` still yields a usable identity file), and unwrapping checks
//! them: a wrap copied from one organisation's row into another's fails with
//! [`VaultError::Tamper`].

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use age::secrecy::ExposeSecret;
use age::x25519;
use passerelle_domain::ids::OrgId;

use crate::envelope;
use crate::error::VaultError;
use crate::keydir::{self, AUDIT_KEY_FILE, AUDIT_PUB_FILE};
use crate::org::{NewOrgKey, OrgIdentity};
use crate::referral::parse_identity;
use crate::signer::{AuditSigner, parse_verifier_key};

/// The keys of one instance, loaded from the keys folder at start.
///
/// Cheap to share behind an `Arc`; all methods take `&self`.
pub struct Vault {
    dir: PathBuf,
    keks: RwLock<BTreeMap<String, x25519::Identity>>,
    current: RwLock<String>,
    escrow: Vec<x25519::Recipient>,
    signer: Arc<AuditSigner>,
    orgs: Mutex<HashMap<(OrgId, i32), Arc<OrgIdentity>>>,
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("dir", &self.dir)
            .field("kek_versions", &self.kek_versions())
            .field("current", &self.current_kek_version())
            .field("escrow", &self.escrow)
            .field("signer", &self.signer)
            .finish_non_exhaustive()
    }
}

impl Vault {
    /// Loads the keys folder, failing fast with a message naming the problem: a missing
    /// folder or file, a malformed file, a folder open to group or others (it must be
    /// `0700`), or a secret key file readable or writable by group or others (`0600`).
    pub fn load(dir: &Path) -> Result<Vault, VaultError> {
        keydir::check_dir(dir)?;
        let (keks, current) = read_keks(dir)?;

        let key_path = dir.join(AUDIT_KEY_FILE);
        let key_text = keydir::read_secret_file(&key_path)?;
        let signer = AuditSigner::from_key_file(&key_text, &key_path.display().to_string())?;
        let pub_path = dir.join(AUDIT_PUB_FILE);
        match std::fs::read_to_string(&pub_path) {
            Ok(text) => {
                let (name, public_key) = parse_verifier_key(&text).map_err(|_| {
                    VaultError::Malformed(format!(
                        "{} must hold the verifier key <name>+<hex key id>+<base64 key>",
                        pub_path.display()
                    ))
                })?;
                if name != signer.name() || public_key != signer.public_key() {
                    return Err(VaultError::Malformed(format!(
                        "{} does not match {}",
                        pub_path.display(),
                        key_path.display()
                    )));
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(VaultError::Missing(format!(
                    "{} does not exist (auditors need it; it holds {})",
                    pub_path.display(),
                    signer.verifier_key()
                )));
            }
            Err(e) => return Err(e.into()),
        }

        let escrow = keydir::read_escrow(dir)?;
        tracing::info!(
            keys_dir = %dir.display(),
            kek_versions = ?keks.keys().collect::<Vec<_>>(),
            current = %current,
            escrow_recipients = escrow.len(),
            "keys folder loaded"
        );
        Ok(Vault {
            dir: dir.to_owned(),
            keks: RwLock::new(keks),
            current: RwLock::new(current),
            escrow,
            signer: Arc::new(signer),
            orgs: Mutex::new(HashMap::new()),
        })
    }

    /// The master key version new wraps are made to, e.g. `kek-v1`.
    pub fn current_kek_version(&self) -> String {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Every master key version loaded, in increasing order.
    pub fn kek_versions(&self) -> Vec<String> {
        let keks = self.keks.read().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<(u32, String)> = keks
            .keys()
            .filter_map(|k| keydir::parse_kek_version(k).map(|n| (n, k.clone())))
            .collect();
        v.sort_unstable();
        v.into_iter().map(|(_, k)| k).collect()
    }

    /// Reads the keys folder again: master key versions added since (by `passerelle keys
    /// rotate`, on this host or copied by the operator) are loaded, and `CURRENT` is
    /// followed. Versions already loaded stay in memory. Returns the versions added.
    pub fn reload(&self) -> Result<Vec<String>, VaultError> {
        keydir::check_dir(&self.dir)?;
        let (found, current) = read_keks(&self.dir)?;
        let mut keks = self.keks.write().unwrap_or_else(|e| e.into_inner());
        let mut added = Vec::new();
        for (version, kek) in found {
            if let std::collections::btree_map::Entry::Vacant(slot) = keks.entry(version) {
                added.push(slot.key().clone());
                slot.insert(kek);
            }
        }
        drop(keks);
        let mut cur = self.current.write().unwrap_or_else(|e| e.into_inner());
        if *cur != current || !added.is_empty() {
            tracing::info!(
                keys_dir = %self.dir.display(),
                added = ?added,
                current = %current,
                "keys folder reloaded"
            );
        }
        *cur = current;
        Ok(added)
    }

    /// Forgets a master key version from memory (after it was retired).
    pub fn forget_kek(&self, version: &str) {
        self.keks
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(version);
    }

    /// Whether an escrow recipient receives every wrap made with master keys.
    pub fn has_escrow(&self) -> bool {
        !self.escrow.is_empty()
    }

    /// The keys folder this vault was loaded from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Wraps organisation `org`'s identity version `version` to the current master key
    /// version and to escrow, bound to `(org, version)`.
    fn wrap_org(
        &self,
        org: OrgId,
        version: i32,
        identity: &x25519::Identity,
    ) -> Result<NewOrgKey, VaultError> {
        let current = self.current_kek_version();
        let master = {
            let keks = self.keks.read().unwrap_or_else(|e| e.into_inner());
            keks.get(&current)
                .ok_or_else(|| {
                    VaultError::Missing(format!("master key version {current} is not loaded"))
                })?
                .to_public()
        };
        let mut recipients: Vec<&dyn age::Recipient> = vec![&master];
        recipients.extend(self.escrow.iter().map(|r| r as &dyn age::Recipient));
        let secret = identity.to_string();
        let header = org_wrap_header(org, version);
        let wrapped_identity = envelope::encrypt_to(
            &recipients,
            &[header.as_bytes(), secret.expose_secret().as_bytes(), b"\n"],
        )?;
        Ok(NewOrgKey {
            recipient: identity.to_public().to_string(),
            wrapped_identity,
            kek_version: current,
        })
    }

    /// Unwraps organisation `org`'s identity version `version` with master key version
    /// `kek_version`, and checks that the wrap is bound to `(org, version)`. A version not
    /// in memory makes the vault reload the keys folder once.
    fn unwrap_org(
        &self,
        org: OrgId,
        version: i32,
        wrapped: &[u8],
        kek_version: &str,
    ) -> Result<x25519::Identity, VaultError> {
        let known = self
            .keks
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(kek_version);
        if !known {
            self.reload()?;
        }
        let keks = self.keks.read().unwrap_or_else(|e| e.into_inner());
        let kek = keks.get(kek_version).ok_or_else(|| {
            VaultError::Missing(format!(
                "master key version {kek_version:?} is not in the keys folder"
            ))
        })?;
        let plain = envelope::decrypt_with(kek, wrapped).map_err(|reason| {
            tracing::warn!(
                %org,
                org_key_version = version,
                kek_version,
                reason,
                "organisation identity wrap failed to open with its master key"
            );
            VaultError::Tamper("organisation identity wrap does not open with its master key")
        })?;
        drop(keks);
        let expected = org_wrap_header(org, version);
        let Some(rest) = plain.strip_prefix(expected.as_bytes()) else {
            tracing::warn!(
                %org,
                org_key_version = version,
                kek_version,
                "organisation identity wrap is bound to another organisation or version"
            );
            return Err(VaultError::Tamper(
                "organisation identity wrap is bound to another organisation or version",
            ));
        };
        parse_identity(rest, "unwrapped organisation identity")
    }

    /// A fresh identity for organisation `org`, version `version`, wrapped (bound to both)
    /// to the current master key version and escrow.
    pub fn new_org_identity(&self, org: OrgId, version: i32) -> Result<NewOrgKey, VaultError> {
        self.wrap_org(org, version, &x25519::Identity::generate())
    }

    /// The identity of organisation `org`, key version `version`, unwrapped from
    /// `wrapped_identity` with master key version `kek_version`; cached in memory by
    /// `(org, version)`, so later calls return the cached identity without unwrapping.
    pub fn org_identity(
        &self,
        org: OrgId,
        version: i32,
        wrapped_identity: &[u8],
        kek_version: &str,
    ) -> Result<Arc<OrgIdentity>, VaultError> {
        if let Some(hit) = self.cache().get(&(org, version)) {
            return Ok(Arc::clone(hit));
        }
        let identity = self.unwrap_org(org, version, wrapped_identity, kek_version)?;
        let unwrapped = Arc::new(OrgIdentity::new(org, version, identity));
        Ok(Arc::clone(
            self.cache().entry((org, version)).or_insert(unwrapped),
        ))
    }

    /// Forgets cached organisation identities (e.g. after shredding an organisation key).
    pub fn clear_cache(&self) {
        self.cache().clear();
    }

    /// Forgets one cached organisation identity (a version destroyed by `rotate-org`).
    pub fn forget_org_identity(&self, org: OrgId, version: i32) {
        self.cache().remove(&(org, version));
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, HashMap<(OrgId, i32), Arc<OrgIdentity>>> {
        // A panic while holding the lock cannot leave the map inconsistent.
        self.orgs.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Re-wraps organisation `org`'s identity version `version`, wrapped to master key
    /// version `from_version`, to the current master key version (and escrow), for
    /// rotation. The identity, its recipient and its binding do not change; store the
    /// result with a compare-and-set on the old `kek_version`.
    pub fn rewrap_org_identity(
        &self,
        org: OrgId,
        version: i32,
        wrapped_identity: &[u8],
        from_version: &str,
    ) -> Result<NewOrgKey, VaultError> {
        let identity = self.unwrap_org(org, version, wrapped_identity, from_version)?;
        self.wrap_org(org, version, &identity)
    }

    /// The master key versions loaded that decrypt the age file `ciphertext` (normally
    /// none but the one an organisation identity is wrapped to). For verification only,
    /// e.g. after shredding; the plaintext is dropped (zeroized) at once.
    pub fn master_versions_decrypting(&self, ciphertext: &[u8]) -> Vec<String> {
        self.keks
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(_, kek)| envelope::decrypt_with(*kek, ciphertext).is_ok())
            .map(|(v, _)| v.clone())
            .collect()
    }

    /// The audit signing key.
    pub fn signer(&self) -> &AuditSigner {
        &self.signer
    }

    /// The audit signing key, shared (e.g. as the storage layer's
    /// `Arc<dyn HeadSigner>`).
    pub fn shared_signer(&self) -> Arc<AuditSigner> {
        Arc::clone(&self.signer)
    }
}

/// The comment lines binding an organisation identity's wrap to its organisation and
/// version (see the module documentation).
fn org_wrap_header(org: OrgId, version: i32) -> String {
    format!("# passerelle organisation identity\n# org: {org}\n# version: {version}\n")
}

/// Every master key version in the folder, and the current one (which must be there).
fn read_keks(dir: &Path) -> Result<(BTreeMap<String, x25519::Identity>, String), VaultError> {
    let current = keydir::read_current(dir)?;
    let mut keks = BTreeMap::new();
    for (n, path) in keydir::list_kek_versions(dir)? {
        keks.insert(keydir::kek_version_name(n), keydir::read_kek(&path)?);
    }
    if !keks.contains_key(&current) {
        return Err(VaultError::Missing(format!(
            "{}/CURRENT names {current} but {} is not in the keys folder",
            dir.display(),
            keydir::kek_file_name(&current)
        )));
    }
    Ok((keks, current))
}
