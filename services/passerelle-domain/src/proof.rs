//! Inclusion proofs of one audit entry: built in one streaming pass over the log (O(log n)
//! memory), and checked offline with the public key alone, without any other entry.
//!
//! A proof shows a court that entry `seq` — its canonical bytes — is leaf `seq` of the
//! tree whose root a signed checkpoint names. Nothing about any other case is revealed:
//! the proof holds only subtree hashes.

use crate::audit::AuditLeaf;
use crate::checkpoint::{self, Checkpoint};
use crate::merkle::{CompactRange, Hash, leaf_hash, split_point, verify_inclusion};

/// Builds the RFC 6962 inclusion proof of leaf `index` in the tree of `size` leaves from
/// the leaf hashes pushed in order, keeping only O(log n) hashes.
#[derive(Debug, Clone)]
pub struct InclusionBuilder {
    index: u64,
    size: u64,
    /// Sibling ranges `[start, end)` by start, each with its slot in the proof.
    ranges: Vec<(u64, u64, usize)>,
    current: usize,
    acc: CompactRange,
    pushed: u64,
    leaf: Option<Hash>,
    proof: Vec<Option<Hash>>,
}

/// Appends the sibling ranges of `PATH(m, D[lo, hi))`, deepest first.
fn sibling_ranges(m: u64, lo: u64, hi: u64, out: &mut Vec<(u64, u64)>) {
    let n = hi - lo;
    if n <= 1 {
        return;
    }
    let k = split_point(n);
    if m - lo < k {
        sibling_ranges(m, lo, lo + k, out);
        out.push((lo + k, hi));
    } else {
        sibling_ranges(m, lo + k, hi, out);
        out.push((lo, lo + k));
    }
}

/// Why a proof could not be built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BuildError {
    /// The entry is not in the tree.
    #[error("entry {0} is not in a tree of {1} entries")]
    OutOfRange(u64, u64),
    /// Fewer or more leaves were pushed than the tree has.
    #[error("{pushed} leaves pushed for a tree of {size}")]
    WrongCount {
        /// Leaves pushed.
        pushed: u64,
        /// Tree size.
        size: u64,
    },
}

impl InclusionBuilder {
    /// Starts the proof of leaf `index` in a tree of `size` leaves.
    pub fn new(index: u64, size: u64) -> Result<InclusionBuilder, BuildError> {
        if index >= size {
            return Err(BuildError::OutOfRange(index, size));
        }
        let mut ranges = Vec::new();
        sibling_ranges(index, 0, size, &mut ranges);
        let slots = ranges.len();
        let mut ranges: Vec<(u64, u64, usize)> = ranges
            .into_iter()
            .enumerate()
            .map(|(slot, (a, b))| (a, b, slot))
            .collect();
        ranges.sort_unstable();
        Ok(InclusionBuilder {
            index,
            size,
            ranges,
            current: 0,
            acc: CompactRange::empty(),
            pushed: 0,
            leaf: None,
            proof: vec![None; slots],
        })
    }

    /// Number of leaves the tree has (and the builder expects).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Pushes the next leaf hash (leaves `0..size`, in order; extra leaves are counted
    /// and refused by [`InclusionBuilder::finish`]).
    pub fn push(&mut self, hash: Hash) {
        let pos = self.pushed;
        self.pushed += 1;
        if pos >= self.size {
            return;
        }
        if pos == self.index {
            self.leaf = Some(hash);
            return;
        }
        // Ranges are disjoint and, with the leaf itself, cover [0, size).
        let Some(&(_, end, slot)) = self.ranges.get(self.current) else {
            return;
        };
        self.acc.append(hash);
        if pos + 1 == end {
            self.proof[slot] = Some(self.acc.root());
            self.acc = CompactRange::empty();
            self.current += 1;
        }
    }

    /// The leaf hash and its proof, deepest sibling first.
    pub fn finish(self) -> Result<(Hash, Vec<Hash>), BuildError> {
        let wrong = BuildError::WrongCount {
            pushed: self.pushed,
            size: self.size,
        };
        if self.pushed != self.size {
            return Err(wrong);
        }
        let leaf = self.leaf.ok_or(wrong.clone())?;
        let proof = self
            .proof
            .into_iter()
            .collect::<Option<Vec<_>>>()
            .ok_or(wrong)?;
        Ok((leaf, proof))
    }
}

/// Why a proof of one entry is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    /// The checkpoint is not signed by the given key.
    #[error("the checkpoint does not verify: {0}")]
    Checkpoint(#[from] checkpoint::CheckpointError),
    /// The proof names another tree size than its checkpoint.
    #[error("the proof is for {proof} entries but the checkpoint covers {checkpoint}")]
    SizeMismatch {
        /// Size named by the proof.
        proof: u64,
        /// Size signed in the checkpoint.
        checkpoint: u64,
    },
    /// The leaf bytes are not a canonical audit leaf.
    #[error("the entry does not decode: {0}")]
    Leaf(#[from] crate::audit::LeafDecodeError),
    /// The leaf hash given does not match the leaf bytes.
    #[error("the leaf hash does not match the entry's bytes")]
    LeafHash,
    /// The path does not lead from the leaf to the signed root.
    #[error("the inclusion path does not lead to the signed root")]
    Path,
}

/// The claim a proof makes: `leaf_bytes` are entry `seq` of the tree of `tree_size`
/// entries, through `path` (deepest sibling first).
#[derive(Debug, Clone, Copy)]
pub struct EntryProof<'a> {
    /// The entry's index.
    pub seq: u64,
    /// The tree size the proof is for.
    pub tree_size: u64,
    /// The entry's canonical bytes.
    pub leaf_bytes: &'a [u8],
    /// The leaf hash stated beside the bytes, if any (must match them).
    pub stated_leaf_hash: Option<&'a Hash>,
    /// The inclusion path.
    pub path: &'a [Hash],
}

/// Checks offline that the proof holds for the log signed in `checkpoint_text` by
/// `signer_name` / `public_key`. Returns the verified checkpoint and the decoded entry.
pub fn verify_entry(
    checkpoint_text: &str,
    signer_name: &str,
    public_key: &[u8; 32],
    p: &EntryProof<'_>,
) -> Result<(Checkpoint, AuditLeaf), ProofError> {
    let cp = checkpoint::verify(checkpoint_text, signer_name, public_key)?;
    if cp.size != p.tree_size {
        return Err(ProofError::SizeMismatch {
            proof: p.tree_size,
            checkpoint: cp.size,
        });
    }
    let leaf = AuditLeaf::decode(p.leaf_bytes)?;
    let h = leaf_hash(p.leaf_bytes);
    if p.stated_leaf_hash.is_some_and(|s| *s != h) {
        return Err(ProofError::LeafHash);
    }
    if !verify_inclusion(&h, p.seq, cp.size, p.path, &cp.root) {
        return Err(ProofError::Path);
    }
    Ok((cp, leaf))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{inclusion_proof, root_of};
    use proptest::prelude::*;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    proptest! {
        #[test]
        fn streaming_proof_equals_reference(n in 1u64..200, i in any::<prop::sample::Index>()) {
            let l = leaves(n);
            let index = i.index(n as usize) as u64;
            let mut b = InclusionBuilder::new(index, n).unwrap();
            l.iter().for_each(|h| b.push(*h));
            let (leaf, proof) = b.finish().unwrap();
            prop_assert_eq!(leaf, l[index as usize]);
            prop_assert_eq!(&proof, &inclusion_proof(&l, index));
            prop_assert!(verify_inclusion(&leaf, index, n, &proof, &root_of(&l)));
        }
    }

    #[test]
    fn wrong_counts_and_ranges() {
        assert_eq!(
            InclusionBuilder::new(3, 3).unwrap_err(),
            BuildError::OutOfRange(3, 3)
        );
        let l = leaves(5);
        let mut b = InclusionBuilder::new(2, 5).unwrap();
        l[..4].iter().for_each(|h| b.push(*h));
        assert!(matches!(b.finish(), Err(BuildError::WrongCount { .. })));
        let mut b = InclusionBuilder::new(2, 5).unwrap();
        l.iter().chain(l.iter()).for_each(|h| b.push(*h));
        assert!(matches!(b.finish(), Err(BuildError::WrongCount { .. })));
        let mut b = InclusionBuilder::new(0, 1).unwrap();
        b.push(l[0]);
        assert_eq!(b.finish().unwrap(), (l[0], vec![]));
    }

    #[test]
    fn entry_proofs_verify_offline_and_refuse_tampering() {
        use crate::audit::{Action, Outcome, Targets};
        use ed25519_dalek::{Signer, SigningKey};
        const NAME: &str = "passerelle-audit";
        let sk = SigningKey::from_bytes(&[9; 32]);
        let pk = sk.verifying_key().to_bytes();
        let bytes: Vec<Vec<u8>> = (0..9i64)
            .map(|i| {
                AuditLeaf {
                    at: time::OffsetDateTime::from_unix_timestamp(1_800_000_000 + i).unwrap(),
                    actor: None,
                    actor_org: None,
                    role: None,
                    action: Action::ReferralRead,
                    targets: Targets::default(),
                    outcome: Outcome::Allowed,
                    legal_basis: None,
                    request_id: Some(format!("r{i}")),
                    ciphertext_sha256: vec![],
                }
                .encode()
            })
            .collect();
        let hashes: Vec<Hash> = bytes.iter().map(|b| leaf_hash(b)).collect();
        let body = checkpoint::body("passerelle/audit", 9, &root_of(&hashes));
        let sig = sk.sign(body.as_bytes()).to_bytes();
        let note = checkpoint::signed_note(&body, NAME, checkpoint::key_id(NAME, &pk), &sig);
        let mut b = InclusionBuilder::new(4, 9).unwrap();
        hashes.iter().for_each(|h| b.push(*h));
        let (leaf, proof) = b.finish().unwrap();
        let check = |seq: u64, size: u64, bytes: &[u8], stated: Option<&Hash>, path: &[Hash]| {
            verify_entry(
                &note,
                NAME,
                &pk,
                &EntryProof {
                    seq,
                    tree_size: size,
                    leaf_bytes: bytes,
                    stated_leaf_hash: stated,
                    path,
                },
            )
        };
        let (cp, entry) = check(4, 9, &bytes[4], Some(&leaf), &proof).unwrap();
        assert_eq!((cp.size, entry.request_id.as_deref()), (9, Some("r4")));
        // Another entry, another position, a wrong size, a bad path, another key.
        assert_eq!(check(4, 9, &bytes[5], None, &proof), Err(ProofError::Path));
        assert_eq!(
            check(4, 9, &bytes[5], Some(&leaf), &proof),
            Err(ProofError::LeafHash)
        );
        assert_eq!(check(3, 9, &bytes[4], None, &proof), Err(ProofError::Path));
        assert!(matches!(
            check(4, 8, &bytes[4], None, &proof),
            Err(ProofError::SizeMismatch { .. })
        ));
        let mut bad = proof.clone();
        bad[0][0] ^= 1;
        assert_eq!(check(4, 9, &bytes[4], None, &bad), Err(ProofError::Path));
        let other = SigningKey::from_bytes(&[8; 32]).verifying_key().to_bytes();
        assert!(matches!(
            verify_entry(
                &note,
                NAME,
                &other,
                &EntryProof {
                    seq: 4,
                    tree_size: 9,
                    leaf_bytes: &bytes[4],
                    stated_leaf_hash: None,
                    path: &proof
                }
            ),
            Err(ProofError::Checkpoint(_))
        ));
        let mut garbled = bytes[4].clone();
        garbled.push(0);
        assert!(matches!(
            check(4, 9, &garbled, None, &proof),
            Err(ProofError::Leaf(_))
        ));
    }
}
