//! Naming the first rewritten entry when only a root differs.
//!
//! A rewritten leaf whose stored hash was recomputed, two swapped leaves or a forged head
//! leave every leaf self-consistent: only a root differs, which names no entry. The
//! checkpoint folder keeps one signed checkpoint per append, so the first tree size `m`
//! whose recomputed root differs from a *validly signed* checkpoint of size `m` names entry
//! `m - 1`: the first `m - 1` entries still match the signed history, entry `m - 1` does not.
//!
//! [`Locator`] streams the leaf hashes once, compares the prefix root with every listed
//! checkpoint of that size (unverified: comparing is cheap, verifying a million signatures
//! is not) and returns each mismatch as a candidate; the caller verifies the candidate's
//! signature (a garbled or forged line in the folder proves nothing) and either stops or
//! keeps feeding.

use crate::merkle::{CompactRange, Hash};

/// Finds the first tree size whose root differs from a listed checkpoint (see the module
/// documentation).
#[derive(Debug, Clone)]
pub struct Locator {
    /// `(size, root)` of the listed checkpoints, by size.
    listed: Vec<(u64, Hash)>,
    next: usize,
    range: CompactRange,
}

impl Locator {
    /// A locator over `(size, root)` pairs of checkpoints (any order, duplicates allowed).
    pub fn new(mut listed: Vec<(u64, Hash)>) -> Locator {
        listed.sort_unstable();
        listed.dedup();
        Locator {
            listed,
            next: 0,
            range: CompactRange::empty(),
        }
    }

    /// Whether no checkpoint is listed (nothing can be located).
    pub fn is_empty(&self) -> bool {
        self.listed.is_empty()
    }

    /// Number of leaves pushed so far.
    pub fn size(&self) -> u64 {
        self.range.size()
    }

    /// Pushes the next leaf hash. Returns the listed checkpoints `(size, root)` of the new
    /// tree size whose root differs from the recomputed one: candidates naming entry
    /// `size - 1`, to be confirmed by their signature.
    pub fn push(&mut self, leaf_hash: Hash) -> Vec<(u64, Hash)> {
        self.range.append(leaf_hash);
        let n = self.range.size();
        while self.next < self.listed.len() && self.listed[self.next].0 < n {
            self.next += 1;
        }
        let mut out = Vec::new();
        if self.next < self.listed.len() && self.listed[self.next].0 == n {
            let root = self.range.root();
            while self.next < self.listed.len() && self.listed[self.next].0 == n {
                if self.listed[self.next].1 != root {
                    out.push(self.listed[self.next]);
                }
                self.next += 1;
            }
        }
        out
    }

    /// Whether checkpoints larger than the leaves pushed so far remain (the log is shorter
    /// than the listed history).
    pub fn pending(&self) -> Option<u64> {
        self.listed.last().map(|l| l.0).filter(|&s| s > self.size())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merkle::{leaf_hash, root_of};

    fn leaves(n: u64, salt: u8) -> Vec<Hash> {
        (0..n).map(|i| leaf_hash(&[salt, i as u8])).collect()
    }

    #[test]
    fn names_the_first_rewritten_entry() {
        let good = leaves(20, 0);
        // One checkpoint per size, as the folder keeps them.
        let listed: Vec<(u64, Hash)> = (1..=20u64)
            .map(|m| (m, root_of(&good[..m as usize])))
            .collect();
        for bad in [0usize, 7, 19] {
            let mut forged = good.clone();
            forged[bad] = leaf_hash(b"forged");
            let mut loc = Locator::new(listed.clone());
            let mut first = None;
            for h in &forged {
                let c = loc.push(*h);
                if first.is_none() && !c.is_empty() {
                    first = Some(loc.size() - 1);
                }
            }
            assert_eq!(first, Some(bad as u64));
        }
        // An intact log: no candidate.
        let mut loc = Locator::new(listed.clone());
        assert!(good.iter().all(|h| loc.push(*h).is_empty()));
        assert_eq!(loc.pending(), None);
        // A shorter log leaves larger checkpoints pending.
        let mut loc = Locator::new(listed);
        good[..5]
            .iter()
            .for_each(|h| assert!(loc.push(*h).is_empty()));
        assert_eq!(loc.pending(), Some(20));
    }

    #[test]
    fn sparse_unsorted_and_duplicate_checkpoints() {
        let good = leaves(10, 1);
        let mut listed = vec![
            (8, root_of(&good[..8])),
            (3, root_of(&good[..3])),
            (3, root_of(&good[..3])),
            (3, [7u8; 32]), // a garbled line of the same size
        ];
        listed.push((8, root_of(&good[..8])));
        let mut loc = Locator::new(listed);
        let mut candidates = Vec::new();
        for h in &good {
            for c in loc.push(*h) {
                candidates.push((loc.size(), c));
            }
        }
        assert_eq!(candidates, vec![(3, (3, [7u8; 32]))]);
        assert!(!loc.is_empty());
        assert!(Locator::new(Vec::new()).is_empty());
    }
}
