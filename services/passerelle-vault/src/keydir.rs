//! The keys folder: layout, permission checks, creation and master key versions.
//!
//! ```text
//! keys/                  0700, owned by the service account
//!   kek-v1.key           0600  master key version 1: an age X25519 identity file
//!   kek-v2.key           0600  (after `add_master_version`)
//!   CURRENT              0600  the master version new wraps use, e.g. `kek-v1`
//!   audit-signing.key    0600  Ed25519 seed (base64) signing audit checkpoints
//!   audit-signing.pub    0644  its verifier key (C2SP signed-note `vkey`)
//!   escrow.pub           opt.  operator-supplied age X25519 recipient(s): every wrap made
//!                              with master keys is also made to it
//! ```
//!
//! Master key files use the format of `age-keygen`, so operators can also supply their own.
//! Nothing here ever overwrites an existing key file.

use std::fs::{self, DirBuilder, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::secrecy::ExposeSecret;
use age::x25519;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use crate::error::VaultError;
use crate::signer::AuditSigner;

/// File naming the current master key version.
pub const CURRENT_FILE: &str = "CURRENT";
/// File holding the audit signing key's Ed25519 seed.
pub const AUDIT_KEY_FILE: &str = "audit-signing.key";
/// File holding the audit signing key's public verifier key.
pub const AUDIT_PUB_FILE: &str = "audit-signing.pub";
/// Optional file holding the operator's escrow recipient(s).
pub const ESCROW_FILE: &str = "escrow.pub";

const KEK_PREFIX: &str = "kek-v";
const KEK_SUFFIX: &str = ".key";

/// The number of a master key version name (`kek-v<N>`, N ≥ 1, no leading zero).
pub(crate) fn parse_kek_version(version: &str) -> Option<u32> {
    let digits = version.strip_prefix(KEK_PREFIX)?;
    if digits.is_empty() || digits.starts_with('0') || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|n| *n >= 1)
}

pub(crate) fn kek_version_name(n: u32) -> String {
    format!("{KEK_PREFIX}{n}")
}

pub(crate) fn kek_file_name(version: &str) -> String {
    format!("{version}{KEK_SUFFIX}")
}

fn valid_version(version: &str) -> Result<u32, VaultError> {
    parse_kek_version(version).ok_or_else(|| {
        VaultError::Malformed(format!(
            "master key version {version:?} is not of the form kek-v<N>"
        ))
    })
}

fn mode_of(meta: &fs::Metadata) -> u32 {
    meta.permissions().mode() & 0o7777
}

/// The keys folder must exist, be a folder, and be closed to group and others.
pub(crate) fn check_dir(dir: &Path) -> Result<(), VaultError> {
    let meta = match fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(VaultError::Missing(format!(
                "keys folder {} does not exist (create it with `passerelle keys init`)",
                dir.display()
            )));
        }
        Err(e) => return Err(e.into()),
    };
    if !meta.is_dir() {
        return Err(VaultError::Malformed(format!(
            "keys folder {} is not a folder",
            dir.display()
        )));
    }
    let mode = mode_of(&meta);
    if mode & 0o077 != 0 {
        return Err(VaultError::Permissions(format!(
            "keys folder {} has mode {mode:04o}; it must be accessible to its owner only \
             (chmod 700 {})",
            dir.display(),
            dir.display()
        )));
    }
    Ok(())
}

/// A secret key file must be a regular file closed to group and others.
pub(crate) fn check_secret_file(path: &Path) -> Result<(), VaultError> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(VaultError::Missing(format!(
                "key file {} does not exist",
                path.display()
            )));
        }
        Err(e) => return Err(e.into()),
    };
    if !meta.is_file() {
        return Err(VaultError::Malformed(format!(
            "key file {} is not a regular file",
            path.display()
        )));
    }
    let mode = mode_of(&meta);
    if mode & 0o077 != 0 {
        return Err(VaultError::Permissions(format!(
            "key file {} has mode {mode:04o}; key files must not be readable or writable by \
             group or others (chmod 600 {})",
            path.display(),
            path.display()
        )));
    }
    Ok(())
}

/// Reads a secret file (after checking its permissions) into a zeroizing buffer.
pub(crate) fn read_secret_file(path: &Path) -> Result<Zeroizing<String>, VaultError> {
    check_secret_file(path)?;
    let mut file = fs::File::open(path)?;
    let len = file.metadata()?.len();
    if len > 64 * 1024 {
        return Err(VaultError::Malformed(format!(
            "key file {} is too large to be a key",
            path.display()
        )));
    }
    // Sized up front (+1 for the EOF probe) so no reallocation leaves a copy behind.
    let mut text = Zeroizing::new(String::with_capacity(len as usize + 1));
    file.read_to_string(&mut text).map_err(|e| {
        if e.kind() == ErrorKind::InvalidData {
            VaultError::Malformed(format!("key file {} is not UTF-8", path.display()))
        } else {
            e.into()
        }
    })?;
    Ok(text)
}

/// The non-empty, non-comment lines of a key file.
fn key_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// Reads a master key file: an age identity file with exactly one X25519 identity.
pub(crate) fn read_kek(path: &Path) -> Result<x25519::Identity, VaultError> {
    let text = read_secret_file(path)?;
    let mut lines = key_lines(&text);
    let (Some(line), None) = (lines.next(), lines.next()) else {
        return Err(VaultError::Malformed(format!(
            "master key file {} must hold exactly one AGE-SECRET-KEY-1… line",
            path.display()
        )));
    };
    x25519::Identity::from_str(line).map_err(|e| {
        VaultError::Malformed(format!(
            "master key file {} does not hold an age X25519 identity: {e}",
            path.display()
        ))
    })
}

/// Master key versions present in the folder, by number.
pub(crate) fn list_kek_versions(dir: &Path) -> Result<Vec<(u32, PathBuf)>, VaultError> {
    let mut versions = Vec::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if let Some(n) = name.strip_suffix(KEK_SUFFIX).and_then(parse_kek_version) {
            versions.push((n, entry.path()));
        }
    }
    versions.sort_by_key(|(n, _)| *n);
    Ok(versions)
}

/// The current master key version named in `CURRENT`.
pub(crate) fn read_current(dir: &Path) -> Result<String, VaultError> {
    let path = dir.join(CURRENT_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            return Err(VaultError::Missing(format!(
                "{} does not exist: the keys folder was not initialised, or its \
                 initialisation was interrupted",
                path.display()
            )));
        }
        Err(e) => return Err(e.into()),
    };
    let version = text.trim();
    valid_version(version)
        .map_err(|_| VaultError::Malformed(format!("{} must name kek-v<N>", path.display())))?;
    Ok(version.to_owned())
}

/// The escrow recipients, if `escrow.pub` exists.
pub(crate) fn read_escrow(dir: &Path) -> Result<Vec<x25519::Recipient>, VaultError> {
    let path = dir.join(ESCROW_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let recipients = key_lines(&text)
        .map(|l| {
            x25519::Recipient::from_str(l).map_err(|e| {
                VaultError::Malformed(format!(
                    "{} must hold age X25519 recipients (age1…), one a line: {e}",
                    path.display()
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if recipients.is_empty() {
        return Err(VaultError::Malformed(format!(
            "{} exists but holds no recipient",
            path.display()
        )));
    }
    Ok(recipients)
}

/// Creates `path` with `mode`, failing with `Exists` if it is already there.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), VaultError> {
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .map_err(|e| {
            if e.kind() == ErrorKind::AlreadyExists {
                VaultError::Exists(format!(
                    "{} already exists; key files are never overwritten",
                    path.display()
                ))
            } else {
                e.into()
            }
        })?;
    // The umask may have removed bits, never added any; make the mode exact.
    file.set_permissions(fs::Permissions::from_mode(mode))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<(), VaultError> {
    fs::File::open(dir)?.sync_all()?;
    Ok(())
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// A new master key file, in `age-keygen` format.
fn new_kek_text(version: &str) -> Zeroizing<String> {
    let identity = x25519::Identity::generate();
    let mut text = Zeroizing::new(String::with_capacity(1024));
    text.push_str(&format!(
        "# Passerelle master key {version}. Keep secret: never in the database or backups of it.\n\
         # created: {}\n# public key: {}\n",
        now_rfc3339(),
        identity.to_public()
    ));
    text.push_str(identity.to_string().expose_secret());
    text.push('\n');
    text
}

/// Initialises a keys folder: creates it (0700) if needed, then master key version 1
/// (`kek-v1.key`), the audit signing key (`audit-signing.key` and `.pub`) and `CURRENT`.
///
/// Refuses with [`VaultError::Exists`] if any key file is already there, and with
/// [`VaultError::Permissions`] if an existing folder is open to group or others. An
/// `escrow.pub` placed in the folder beforehand is kept and used by [`crate::Vault`].
pub fn init_keys(dir: &Path) -> Result<(), VaultError> {
    match fs::metadata(dir) {
        Ok(_) => check_dir(dir)?,
        Err(e) if e.kind() == ErrorKind::NotFound => {
            if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
                fs::create_dir_all(parent)?;
            }
            DirBuilder::new().mode(0o700).create(dir)?;
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
        }
        Err(e) => return Err(e.into()),
    }

    let existing = [CURRENT_FILE, AUDIT_KEY_FILE, AUDIT_PUB_FILE]
        .iter()
        .map(|n| dir.join(n))
        .chain(list_kek_versions(dir)?.into_iter().map(|(_, p)| p))
        .find(|p| fs::symlink_metadata(p).is_ok());
    if let Some(path) = existing {
        return Err(VaultError::Exists(format!(
            "{} already exists; `init` never overwrites keys",
            path.display()
        )));
    }

    let version = kek_version_name(1);
    write_new(
        &dir.join(kek_file_name(&version)),
        new_kek_text(&version).as_bytes(),
        0o600,
    )?;

    let signer = AuditSigner::generate()?;
    // Sized up front so no reallocation leaves a copy of the seed behind.
    let mut key_text = Zeroizing::new(String::with_capacity(256));
    key_text.push_str(
        "# Passerelle audit signing key: Ed25519 seed, base64. Keep secret: never in the database.\n",
    );
    let seed = signer.seed();
    key_text.push_str(&Zeroizing::new(STANDARD.encode(seed.as_slice())));
    key_text.push('\n');
    write_new(&dir.join(AUDIT_KEY_FILE), key_text.as_bytes(), 0o600)?;
    write_new(
        &dir.join(AUDIT_PUB_FILE),
        format!("{}\n", signer.verifier_key()).as_bytes(),
        0o644,
    )?;

    write_new(
        &dir.join(CURRENT_FILE),
        format!("{version}\n").as_bytes(),
        0o600,
    )?;
    sync_dir(dir)?;
    tracing::info!(keys_dir = %dir.display(), kek_version = %version, "keys folder initialised");
    Ok(())
}

/// Adds the next master key version (`kek-v<N+1>.key`) and returns its name. `CURRENT` is
/// not changed: deploy the new file to every instance, then [`promote`] it.
pub fn add_master_version(dir: &Path) -> Result<String, VaultError> {
    check_dir(dir)?;
    let next = list_kek_versions(dir)?
        .last()
        .map_or(1, |(n, _)| n.saturating_add(1));
    let version = kek_version_name(next);
    write_new(
        &dir.join(kek_file_name(&version)),
        new_kek_text(&version).as_bytes(),
        0o600,
    )?;
    sync_dir(dir)?;
    tracing::info!(keys_dir = %dir.display(), kek_version = %version, "master key version added");
    Ok(version)
}

/// Makes `version` the current master key version (atomically rewrites `CURRENT`) after
/// checking its key file is present, private and valid. Running vaults see the change when
/// they are loaded again.
pub fn promote(dir: &Path, version: &str) -> Result<(), VaultError> {
    check_dir(dir)?;
    valid_version(version)?;
    read_kek(&dir.join(kek_file_name(version)))?;
    let tmp = dir.join(format!("{CURRENT_FILE}.tmp"));
    match fs::remove_file(&tmp) {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    write_new(&tmp, format!("{version}\n").as_bytes(), 0o600)?;
    fs::rename(&tmp, dir.join(CURRENT_FILE))?;
    sync_dir(dir)?;
    tracing::info!(keys_dir = %dir.display(), kek_version = %version, "master key version promoted");
    Ok(())
}

/// Retires master key version `version`: its file is overwritten with zeros, synced, then
/// removed. Refuses the current version. The caller has checked that nothing is wrapped
/// under it any more; wraps kept in old database backups stay recoverable through the
/// escrow recipient only. Returns false when the file was already gone.
pub fn retire(dir: &Path, version: &str) -> Result<bool, VaultError> {
    check_dir(dir)?;
    valid_version(version)?;
    if read_current(dir)? == version {
        return Err(VaultError::Exists(format!(
            "{version} is the current master key version; promote another one first"
        )));
    }
    let path = dir.join(kek_file_name(version));
    let len = match fs::metadata(&path) {
        Ok(m) => m.len(),
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    {
        let mut f = OpenOptions::new().write(true).open(&path)?;
        f.write_all(&vec![0u8; len as usize])?;
        f.sync_all()?;
    }
    fs::remove_file(&path)?;
    sync_dir(dir)?;
    tracing::info!(keys_dir = %dir.display(), kek_version = %version, "master key version retired");
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_names() {
        assert_eq!(parse_kek_version("kek-v1"), Some(1));
        assert_eq!(parse_kek_version("kek-v12"), Some(12));
        for bad in [
            "kek-v0", "kek-v01", "kek-v", "kek-v-1", "kek-v1x", "kek1", "KEK-V1",
        ] {
            assert_eq!(parse_kek_version(bad), None, "{bad}");
        }
        assert_eq!(kek_file_name(&kek_version_name(3)), "kek-v3.key");
    }
}
