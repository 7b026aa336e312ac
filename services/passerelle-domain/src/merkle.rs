//! RFC 6962 Merkle tree math: leaf and node hashes, the compact range kept in the audit
//! head (O(log n) per append), roots, and RFC 6962 / RFC 9162 inclusion and consistency
//! proofs with their verification.

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

/// The RFC 6962 (RFC 9162 §2.1.3) inclusion proof of leaf `index` in the tree of
/// `leaves`, deepest sibling first. Empty when `index` is out of range (no proof).
pub fn inclusion_proof(leaves: &[Hash], index: u64) -> Vec<Hash> {
    let mut proof = Vec::new();
    if index < leaves.len() as u64 {
        path(index as usize, leaves, &mut proof);
    }
    proof
}

/// `PATH(m, D[n])`, appended to `out` deepest first.
fn path(m: usize, leaves: &[Hash], out: &mut Vec<Hash>) {
    let n = leaves.len();
    if n <= 1 {
        return;
    }
    let k = split_point(n as u64) as usize;
    if m < k {
        path(m, &leaves[..k], out);
        out.push(root_of(&leaves[k..]));
    } else {
        path(m - k, &leaves[k..], out);
        out.push(root_of(&leaves[..k]));
    }
}

/// Verifies an inclusion proof (RFC 9162 §2.1.3.2): `leaf` is leaf number `index` of the
/// tree of `size` leaves whose root is `root`.
pub fn verify_inclusion(leaf: &Hash, index: u64, size: u64, proof: &[Hash], root: &Hash) -> bool {
    if index >= size {
        return false;
    }
    let (mut fnode, mut snode) = (index, size - 1);
    let mut r = *leaf;
    for p in proof {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            r = node_hash(p, &r);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            r = node_hash(&r, p);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && r == *root
}

/// The RFC 6962 (RFC 9162 §2.1.4) consistency proof between the tree of the first
/// `old_size` leaves and the tree of all `leaves`. Empty when `old_size` is 0, equal to or
/// greater than the number of leaves (nothing to prove, or no proof).
pub fn consistency_proof(leaves: &[Hash], old_size: u64) -> Vec<Hash> {
    let mut proof = Vec::new();
    if old_size > 0 && old_size < leaves.len() as u64 {
        subproof(old_size as usize, leaves, true, &mut proof);
    }
    proof
}

/// `SUBPROOF(m, D[n], b)`, appended to `out`.
fn subproof(m: usize, leaves: &[Hash], complete: bool, out: &mut Vec<Hash>) {
    let n = leaves.len();
    if m == n {
        if !complete {
            out.push(root_of(leaves));
        }
        return;
    }
    let k = split_point(n as u64) as usize;
    if m <= k {
        subproof(m, &leaves[..k], complete, out);
        out.push(root_of(&leaves[k..]));
    } else {
        subproof(m - k, &leaves[k..], false, out);
        out.push(root_of(&leaves[..k]));
    }
}

/// Verifies a consistency proof (RFC 9162 §2.1.4.2): the tree of `new_size` leaves with
/// root `new_root` extends the tree of `old_size` leaves with root `old_root`. Equal sizes
/// need an empty proof and equal roots; the empty tree is consistent with every tree (empty
/// proof, `old_root` the empty root); a shrinking tree never is.
pub fn verify_consistency(
    old_size: u64,
    new_size: u64,
    old_root: &Hash,
    new_root: &Hash,
    proof: &[Hash],
) -> bool {
    if old_size > new_size {
        return false;
    }
    if old_size == new_size {
        return proof.is_empty() && old_root == new_root;
    }
    if old_size == 0 {
        return proof.is_empty() && *old_root == empty_root();
    }
    let mut path = proof.iter();
    let first = if old_size.is_power_of_two() {
        old_root
    } else {
        match path.next() {
            Some(h) => h,
            None => return false,
        }
    };
    let (mut fnode, mut snode) = (old_size - 1, new_size - 1);
    while fnode & 1 == 1 {
        fnode >>= 1;
        snode >>= 1;
    }
    let (mut fr, mut sr) = (*first, *first);
    for c in path {
        if snode == 0 {
            return false;
        }
        if fnode & 1 == 1 || fnode == snode {
            fr = node_hash(c, &fr);
            sr = node_hash(c, &sr);
            while fnode & 1 == 0 && fnode != 0 {
                fnode >>= 1;
                snode >>= 1;
            }
        } else {
            sr = node_hash(&sr, c);
        }
        fnode >>= 1;
        snode >>= 1;
    }
    snode == 0 && fr == *old_root && sr == *new_root
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn leaves(n: u64) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&i.to_be_bytes())).collect()
    }

    #[test]
    fn rfc6962_test_vectors() {
        // The RFC 6962 reference vectors of the certificate-transparency test data.
        let inputs = [
            "",
            "00",
            "10",
            "2021",
            "3031",
            "40414243",
            "5051525354555657",
            "606162636465666768696a6b6c6d6e6f",
        ];
        let roots = [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
            "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
            "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
            "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
            "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
            "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
        ];
        let hashes: Vec<Hash> = inputs
            .iter()
            .map(|i| leaf_hash(&hex::decode(i).unwrap()))
            .collect();
        for (n, want) in roots.iter().enumerate() {
            assert_eq!(hex::encode(root_of(&hashes[..=n])), *want, "size {}", n + 1);
        }
        assert_eq!(
            hex::encode(empty_root()),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn small_proofs() {
        let l = leaves(7);
        let root = root_of(&l);
        // Leaf 6 of 7: sibling subtrees [4,6) then [0,4).
        let p = inclusion_proof(&l, 6);
        assert_eq!(p, vec![root_of(&l[4..6]), root_of(&l[..4])]);
        assert!(verify_inclusion(&l[6], 6, 7, &p, &root));
        assert!(inclusion_proof(&l, 7).is_empty());
        assert!(verify_inclusion(&l[0], 0, 1, &[], &l[0]));
        assert!(!verify_inclusion(&l[0], 1, 1, &[], &l[0]));
        // Consistency 3 -> 7 (RFC 9162 example shape).
        let c = consistency_proof(&l, 3);
        assert_eq!(c, vec![l[2], l[3], root_of(&l[..2]), root_of(&l[4..])]);
        assert!(verify_consistency(3, 7, &root_of(&l[..3]), &root, &c));
        assert!(verify_consistency(0, 7, &empty_root(), &root, &[]));
        assert!(verify_consistency(7, 7, &root, &root, &[]));
        assert!(!verify_consistency(7, 3, &root, &root_of(&l[..3]), &c));
        assert!(!verify_consistency(4, 7, &root_of(&l[..4]), &root, &[]));
    }

    proptest! {
        #[test]
        fn inclusion_round_trip(n in 1u64..300, i in any::<prop::sample::Index>(), bad in any::<prop::sample::Index>()) {
            let l = leaves(n);
            let root = root_of(&l);
            let index = i.index(n as usize) as u64;
            let proof = inclusion_proof(&l, index);
            prop_assert!(proof.len() <= 64 - (n - 1).leading_zeros() as usize + 1);
            prop_assert!(verify_inclusion(&l[index as usize], index, n, &proof, &root));
            // Wrong leaf, index, size, root or proof fails.
            let other = bad.index(n as usize) as u64;
            if other != index {
                prop_assert!(!verify_inclusion(&l[index as usize], other, n, &proof, &root));
                prop_assert!(!verify_inclusion(&l[other as usize], index, n, &proof, &root));
            }
            prop_assert!(!verify_inclusion(&l[index as usize], index, n, &proof, &leaf_hash(b"x")));
            if !proof.is_empty() {
                let mut p = proof.clone();
                let j = bad.index(p.len());
                p[j][0] ^= 1;
                prop_assert!(!verify_inclusion(&l[index as usize], index, n, &p, &root));
                p.pop();
                prop_assert!(!verify_inclusion(&l[index as usize], index, n, &p, &root));
            }
            let mut longer = proof.clone();
            longer.push(root);
            prop_assert!(!verify_inclusion(&l[index as usize], index, n, &longer, &root));
        }

        #[test]
        fn consistency_round_trip(n in 1u64..300, m in any::<prop::sample::Index>(), bad in any::<prop::sample::Index>()) {
            let l = leaves(n);
            let old = m.index(n as usize + 1) as u64;
            let (old_root, new_root) = (root_of(&l[..old as usize]), root_of(&l));
            let proof = consistency_proof(&l, old);
            prop_assert!(verify_consistency(old, n, &old_root, &new_root, &proof));
            let fake = leaf_hash(b"fake");
            if old > 0 {
                // (The empty tree is consistent with every tree.)
                prop_assert!(!verify_consistency(old, n, &old_root, &fake, &proof));
                prop_assert!(!verify_consistency(old, n, &fake, &new_root, &proof));
            }
            if !proof.is_empty() {
                let mut p = proof.clone();
                let j = bad.index(p.len());
                p[j][31] ^= 0x80;
                prop_assert!(!verify_consistency(old, n, &old_root, &new_root, &p));
            }
            // A rewritten old leaf breaks consistency with the old root.
            if old > 0 && old < n {
                let mut forged = l.clone();
                forged[bad.index(old as usize)] = fake;
                let p = consistency_proof(&forged, old);
                prop_assert!(!verify_consistency(old, n, &old_root, &root_of(&forged), &p));
            }
        }
    }

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
