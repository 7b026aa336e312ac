//! RFC 6962 Merkle tree math: leaf and node hashes, the compact range kept in the audit
//! head (O(log n) per append), roots. Proofs and verification live beside it.

use sha2::{Digest, Sha256};

/// A 32-byte SHA-256 value.
pub type Hash = [u8; 32];

/// `SHA-256(0x00 || leaf)`.
pub fn leaf_hash(leaf: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update([0u8]);
    h.update(leaf);
    h.finalize().into()
}

/// `SHA-256(0x01 || left || right)`.
pub fn node_hash(left: &Hash, right: &Hash) -> Hash {
    let mut h = Sha256::new();
    h.update([1u8]);
    h.update(left);
    h.update(right);
    h.finalize().into()
}

/// The root of the empty tree: `SHA-256("")`.
pub fn empty_root() -> Hash {
    Sha256::digest([]).into()
}

/// The roots of the perfect subtrees covering leaves `[0, size)`, largest first: one per
/// set bit of `size`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactRange {
    size: u64,
    hashes: Vec<Hash>,
}

/// The stored compact range does not match its size.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("compact range does not match the tree size")]
pub struct BadCompactRange;

impl CompactRange {
    /// The empty tree.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Rebuilds from stored parts, checking that there is one hash per set bit of `size`.
    pub fn from_parts(size: u64, hashes: Vec<Hash>) -> Result<Self, BadCompactRange> {
        if hashes.len() as u32 != size.count_ones() {
            return Err(BadCompactRange);
        }
        Ok(CompactRange { size, hashes })
    }

    /// Number of leaves covered.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The subtree roots, largest first.
    pub fn hashes(&self) -> &[Hash] {
        &self.hashes
    }

    /// Appends one leaf hash.
    pub fn append(&mut self, leaf: Hash) {
        let mut carry = leaf;
        let mut size = self.size;
        // Merge with equal-sized subtrees: one per trailing set bit.
        while size & 1 == 1 {
            let left = self.hashes.pop().expect("one hash per set bit");
            carry = node_hash(&left, &carry);
            size >>= 1;
        }
        self.hashes.push(carry);
        self.size += 1;
    }

    /// The RFC 6962 root of the covered tree.
    pub fn root(&self) -> Hash {
        let mut iter = self.hashes.iter().rev();
        match iter.next() {
            None => empty_root(),
            Some(last) => iter.fold(*last, |acc, h| node_hash(h, &acc)),
        }
    }
}

/// The RFC 6962 root of a list of leaf hashes (reference implementation, O(n)).
pub fn root_of(leaves: &[Hash]) -> Hash {
    match leaves.len() {
        0 => empty_root(),
        1 => leaves[0],
        n => {
            let k = split_point(n as u64) as usize;
            node_hash(&root_of(&leaves[..k]), &root_of(&leaves[k..]))
        }
    }
}

/// The largest power of two strictly smaller than `n` (n ≥ 2).
pub fn split_point(n: u64) -> u64 {
    debug_assert!(n >= 2);
    1u64 << (63 - (n - 1).leading_zeros())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_range_matches_reference_root() {
        let leaves: Vec<Hash> = (0u32..70).map(|i| leaf_hash(&i.to_be_bytes())).collect();
        let mut cr = CompactRange::empty();
        assert_eq!(cr.root(), empty_root());
        for (i, l) in leaves.iter().enumerate() {
            cr.append(*l);
            assert_eq!(cr.root(), root_of(&leaves[..=i]), "size {}", i + 1);
            let again = CompactRange::from_parts(cr.size(), cr.hashes().to_vec()).unwrap();
            assert_eq!(again, cr);
        }
    }
}
