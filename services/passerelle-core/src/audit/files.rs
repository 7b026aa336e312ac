//! The files an auditor takes away — exports (JSON lines) and inclusion proofs (JSON) — and
//! their offline verification with the public key alone: no database, no secret.
//!
//! Export (`passerelle audit export --format jsonl`), one JSON object per line:
//!
//! ```text
//! {"type":"header","format":"passerelle-audit-export/1","origin":"passerelle/audit","key_name":"passerelle-audit","size":N}
//! {"type":"leaf","seq":0,"hash":"<hex leaf hash>","bytes":"<base64 canonical leaf>","entry":{…readable fields…}}
//! … one line per entry, seq 0 to N-1 …
//! {"type":"checkpoint","size":N,"checkpoint":"<C2SP signed note of the head>"}
//! {"type":"key","verifier_key":"passerelle-audit+<key id>+<base64 key>"}
//! ```
//!
//! Proof (`passerelle audit prove SEQ`): `format` (`passerelle-audit-proof/1`), `seq`,
//! `leaf` (base64 bytes), `leaf_hash`, `entry` (readable), `tree_size`, `path` (hex sibling
//! hashes, deepest first), `checkpoint` (the signed head), `verifier_key`.
//!
//! The readable `entry` is for people; verification decodes the bytes and refuses a file
//! whose readable fields say anything else.

use std::io::BufRead;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use passerelle_domain::checkpoint;
use passerelle_domain::merkle::Hash;
use passerelle_domain::proof::{EntryProof, verify_entry};
use passerelle_domain::verify::{Kept, StoredHead, Verifier, VerifyFailure};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::log::VerifierKey;
use super::render::readable;

/// The `format` of an export's header.
pub const EXPORT_FORMAT: &str = "passerelle-audit-export/1";
/// The `format` of a proof file.
pub const PROOF_FORMAT: &str = "passerelle-audit-proof/1";

/// One line of an export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase", deny_unknown_fields)]
pub enum ExportLine {
    /// First line.
    Header {
        /// [`EXPORT_FORMAT`].
        format: String,
        /// The log's origin (null for an empty log).
        origin: Option<String>,
        /// The signing key's name.
        key_name: String,
        /// Number of entries exported (the signed head's size).
        size: u64,
    },
    /// One entry.
    Leaf {
        /// Index.
        seq: u64,
        /// Leaf hash, hex.
        hash: String,
        /// Canonical bytes, base64.
        bytes: String,
        /// Readable fields (null when the bytes do not decode).
        entry: Value,
    },
    /// The signed head covering every entry (absent for an empty log).
    Checkpoint {
        /// Its size.
        size: u64,
        /// The C2SP signed note.
        checkpoint: String,
    },
    /// Last line: the verifier key (informational: verification uses the key the auditor
    /// holds).
    Key {
        /// `name+id+key`.
        verifier_key: String,
    },
}

/// What an export holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    /// Number of entries.
    pub entries: u64,
    /// The root of the log.
    pub root: Hash,
    /// The signed checkpoint's size (`None` for an empty log).
    pub checkpoint_size: Option<u64>,
    /// Entries flagged as 226-14 3° (content shared without consent, by law).
    pub flagged_226_14: u64,
}

/// An inclusion proof of one entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProofFile {
    /// [`PROOF_FORMAT`].
    pub format: String,
    /// The entry's index.
    pub seq: u64,
    /// Its canonical bytes, base64.
    pub leaf: String,
    /// Its leaf hash, hex.
    pub leaf_hash: String,
    /// Its readable fields.
    pub entry: Value,
    /// The size of the tree the proof is for.
    pub tree_size: u64,
    /// Sibling hashes, hex, deepest first.
    pub path: Vec<String>,
    /// The signed checkpoint of that tree.
    pub checkpoint: String,
    /// The verifier key (informational).
    pub verifier_key: String,
}

/// An entry proven to be in the signed log.
#[derive(Debug, Clone, PartialEq)]
pub struct ProvenEntry {
    /// Its index.
    pub seq: u64,
    /// The size of the signed tree.
    pub tree_size: u64,
    /// The signed root.
    pub root: Hash,
    /// Its readable fields (from the verified bytes).
    pub entry: Value,
}

/// Why an offline check did not pass.
#[derive(Debug, thiserror::Error)]
pub enum OfflineError {
    /// The file could not be read.
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
    /// The file is malformed, or what it says does not verify.
    #[error("{0}")]
    Refused(VerifyFailure),
}

impl OfflineError {
    /// The first bad entry, when one is named.
    pub fn seq(&self) -> Option<u64> {
        match self {
            OfflineError::Refused(f) => f.seq,
            OfflineError::Io(_) => None,
        }
    }
}

fn refuse<T>(seq: Option<u64>, reason: impl Into<String>) -> Result<T, OfflineError> {
    Err(OfflineError::Refused(VerifyFailure {
        seq,
        reason: reason.into(),
    }))
}

fn hash_hex(s: &str) -> Option<Hash> {
    hex::decode(s).ok()?.try_into().ok()
}

/// The text of a kept checkpoint file: the signed note itself (as `passerelle audit
/// checkpoint` prints it), or a JSON object with a `checkpoint` field (a line of the
/// checkpoint folder, an export's checkpoint line, a proof file).
pub fn checkpoint_text(raw: &str) -> Result<String, String> {
    let mut text = if raw.trim_start().starts_with('{') {
        let v: Value = serde_json::from_str(raw).map_err(|_| "not valid JSON".to_owned())?;
        v.get("checkpoint")
            .and_then(Value::as_str)
            .ok_or("the JSON object has no \"checkpoint\" text")?
            .to_owned()
    } else {
        raw.to_owned()
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    checkpoint::parse(&text).map_err(|e| e.to_string())?;
    Ok(text)
}

/// Verifies an export offline, streaming its lines: every leaf (hash, decoding, readable
/// fields, dense indexes), the root against the signed checkpoint, the checkpoint's
/// signature with `key`, and `against` (a kept checkpoint) when given.
pub fn verify_export(
    reader: impl BufRead,
    key: &VerifierKey,
    against: Option<&str>,
) -> Result<ExportSummary, OfflineError> {
    let mut lines = reader.lines().enumerate().map(|(i, l)| (i + 1, l));
    let mut parse_next = || -> Result<Option<(usize, ExportLine)>, OfflineError> {
        match lines.next() {
            None => Ok(None),
            Some((n, line)) => {
                let line = line?;
                match serde_json::from_str::<ExportLine>(&line) {
                    Ok(l) => Ok(Some((n, l))),
                    Err(_) => refuse(None, format!("line {n}: not an export line")),
                }
            }
        }
    };
    let Some((
        _,
        ExportLine::Header {
            format,
            key_name,
            size,
            ..
        },
    )) = parse_next()?
    else {
        return refuse(None, "line 1: not an export header");
    };
    if format != EXPORT_FORMAT {
        return refuse(None, format!("unknown export format {format:?}"));
    }
    if key_name != key.name {
        return refuse(
            None,
            format!(
                "the export is signed by key {key_name:?}, not {:?}",
                key.name
            ),
        );
    }
    let kept: Vec<Kept<'_>> = against
        .map(|text| Kept {
            label: "--against checkpoint",
            text,
        })
        .into_iter()
        .collect();
    let mut v = Verifier::with_kept(&key.name, &key.public_key, &kept)
        .or_else(|f| refuse(f.seq, f.reason))?;
    let mut flagged = 0;
    let mut line = parse_next()?;
    while let Some((
        n,
        ExportLine::Leaf {
            seq,
            hash,
            bytes,
            entry,
        },
    )) = line
    {
        let (Ok(bytes), Some(hash)) = (STANDARD.decode(&bytes), hash_hex(&hash)) else {
            return refuse(Some(seq), format!("line {n}: malformed base64 or hash"));
        };
        let leaf = v
            .feed_leaf(seq, &bytes, &hash)
            .map_err(OfflineError::Refused)?;
        if entry != readable(&leaf) {
            return Err(OfflineError::Refused(
                v.reject(seq, "the readable fields differ from the signed bytes"),
            ));
        }
        flagged += u64::from(leaf.flag_226_14());
        line = parse_next()?;
    }
    let summary = match line {
        Some((
            n,
            ExportLine::Checkpoint {
                size: cp_size,
                checkpoint,
            },
        )) => {
            if cp_size != size {
                return refuse(
                    None,
                    format!("line {n}: the checkpoint's size differs from the header's"),
                );
            }
            let Ok(cp) = checkpoint::parse(&checkpoint) else {
                return refuse(None, format!("line {n}: malformed checkpoint"));
            };
            let s = v
                .finish(&StoredHead {
                    size: cp_size,
                    root: cp.root,
                    checkpoint: &checkpoint,
                })
                .map_err(OfflineError::Refused)?;
            line = parse_next()?;
            s
        }
        _ if size == 0 => v.finish_empty().map_err(OfflineError::Refused)?,
        _ => {
            return refuse(
                Some(v.entries()),
                "entries or the signed checkpoint are missing",
            );
        }
    };
    match line {
        Some((n, ExportLine::Key { verifier_key })) => {
            if VerifierKey::parse(&verifier_key).as_ref() != Ok(key) {
                return refuse(
                    None,
                    format!("line {n}: the export names another verifier key"),
                );
            }
        }
        _ => return refuse(None, "the verifier key line is missing"),
    }
    if let Some((n, _)) = parse_next()? {
        return refuse(
            None,
            format!("line {n}: unexpected line after the verifier key"),
        );
    }
    Ok(ExportSummary {
        entries: summary.entries,
        root: summary.root,
        checkpoint_size: (size > 0).then_some(size),
        flagged_226_14: flagged,
    })
}

/// Parses a proof file.
pub fn parse_proof(text: &str) -> Result<ProofFile, OfflineError> {
    serde_json::from_str(text).or_else(|e| refuse(None, format!("not a proof file: {e}")))
}

/// Verifies an inclusion proof offline with `key`: the checkpoint's signature, the entry's
/// bytes and hash, the path to the signed root, and that the readable fields are the
/// bytes'.
pub fn verify_proof(p: &ProofFile, key: &VerifierKey) -> Result<ProvenEntry, OfflineError> {
    if p.format != PROOF_FORMAT {
        return refuse(None, format!("unknown proof format {:?}", p.format));
    }
    if VerifierKey::parse(&p.verifier_key).as_ref() != Ok(key) {
        return refuse(None, "the proof names another verifier key");
    }
    let Ok(bytes) = STANDARD.decode(&p.leaf) else {
        return refuse(Some(p.seq), "the entry's bytes are not base64");
    };
    let Some(stated) = hash_hex(&p.leaf_hash) else {
        return refuse(Some(p.seq), "malformed leaf hash");
    };
    let Some(path) = p
        .path
        .iter()
        .map(|h| hash_hex(h))
        .collect::<Option<Vec<_>>>()
    else {
        return refuse(Some(p.seq), "malformed path hash");
    };
    let (cp, leaf) = verify_entry(
        &p.checkpoint,
        &key.name,
        &key.public_key,
        &EntryProof {
            seq: p.seq,
            tree_size: p.tree_size,
            leaf_bytes: &bytes,
            stated_leaf_hash: Some(&stated),
            path: &path,
        },
    )
    .or_else(|e| refuse(Some(p.seq), e.to_string()))?;
    let entry = readable(&leaf);
    if entry != p.entry {
        return refuse(
            Some(p.seq),
            "the readable fields differ from the signed bytes",
        );
    }
    Ok(ProvenEntry {
        seq: p.seq,
        tree_size: cp.size,
        root: cp.root,
        entry,
    })
}
