//! Audit leaves packed many to a database value, for whole-log verification
//! ([`crate::Store::audit_leaf_batch`]): the same rows as [`crate::Store::audit_leaves`],
//! without a database row, a driver hand-off and a handful of allocations per leaf.
//!
//! The packed format, one record per leaf in seq order, integers big-endian:
//!
//! ```text
//! u64  seq
//! i64  at, microseconds since the Unix epoch
//! u32 × 7  length tags of leaf_hash, bytes, actor, org, action, target, case_id:
//!          0 = NULL, n = n - 1 bytes follow
//! the seven values' bytes, in that order (text as UTF-8, case_id as 16 bytes)
//! ```
//!
//! Both adapters build it in SQL (`printf`/`unhex` and `group_concat` on SQLite, `int8send`
//! and `string_agg` on PostgreSQL). Reading refuses what the row readers refuse (a NULL
//! where the schema has `NOT NULL`, a hash that is not 32 bytes, a case id that is not 16
//! bytes, text that is not UTF-8) and anything that does not split into exactly the
//! announced number of records: [`StoreError::Corrupt`].

use crate::{AuditLeafRow, StoreError, StoreResult};
use passerelle_domain::ids::CaseId;
use time::OffsetDateTime;

/// Length tags per record.
const TAGS: usize = 7;

/// Fixed part of a record: seq, at, the tags.
const FIXED: usize = 8 + 8 + 4 * TAGS;

/// Up to `limit` stored leaves, packed (see the module documentation).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditLeafBatch {
    count: usize,
    last_seq: Option<u64>,
    packed: Vec<u8>,
}

/// One stored leaf of a batch, borrowed from it: the columns of [`AuditLeafRow`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuditLeafRef<'a> {
    /// Index, from 0, dense.
    pub seq: u64,
    /// The stored `at`, microseconds since the Unix epoch.
    pub at_micros: i64,
    /// Canonical encoding (domain `audit`), what is hashed.
    pub bytes: &'a [u8],
    /// RFC 6962 leaf hash.
    pub leaf_hash: &'a [u8; 32],
    /// Actor's username.
    pub actor: Option<&'a str>,
    /// Actor's organisation slug.
    pub org: Option<&'a str>,
    /// Action, e.g. `referral.read`.
    pub action: &'a str,
    /// Main target id.
    pub target: Option<&'a str>,
    /// Case concerned.
    pub case_id: Option<CaseId>,
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Corrupt(format!("packed audit leaves: {what}"))
}

impl AuditLeafBatch {
    /// A batch as an adapter read it: the database's count of the rows packed, the last
    /// one's seq (`max(seq)`), and the packed records (`NULL` when there are none).
    pub fn new(count: i64, last_seq: Option<i64>, packed: Option<Vec<u8>>) -> StoreResult<Self> {
        let count = usize::try_from(count).map_err(|_| corrupt("count"))?;
        let last_seq = last_seq
            .map(u64::try_from)
            .transpose()
            .map_err(|_| corrupt("negative seq"))?;
        if (count == 0) != last_seq.is_none() {
            return Err(corrupt("count and last seq disagree"));
        }
        Ok(AuditLeafBatch {
            count,
            last_seq,
            packed: packed.unwrap_or_default(),
        })
    }

    /// Packs rows (the format's reference writer, for tests and adapters that read rows).
    pub fn pack(rows: &[AuditLeafRow]) -> AuditLeafBatch {
        let mut packed = Vec::new();
        for r in rows {
            let l = &r.leaf;
            let micros = l.at.unix_timestamp_nanos().div_euclid(1000);
            let case = l.case_id.map(|c| *c.0.as_bytes());
            let fields: [Option<&[u8]>; TAGS] = [
                Some(&r.leaf_hash),
                Some(&l.bytes),
                l.actor.as_deref().map(str::as_bytes),
                l.org.as_deref().map(str::as_bytes),
                Some(l.action.as_bytes()),
                l.target.as_deref().map(str::as_bytes),
                case.as_ref().map(|c| c.as_slice()),
            ];
            packed.extend_from_slice(&r.seq.to_be_bytes());
            packed.extend_from_slice(&(micros as i64).to_be_bytes());
            for f in &fields {
                let tag = f.map_or(0, |f| f.len() as u32 + 1);
                packed.extend_from_slice(&tag.to_be_bytes());
            }
            for f in fields.into_iter().flatten() {
                packed.extend_from_slice(f);
            }
        }
        AuditLeafBatch {
            count: rows.len(),
            last_seq: rows.last().map(|r| r.seq),
            packed,
        }
    }

    /// Number of leaves.
    pub fn len(&self) -> usize {
        self.count
    }

    /// No leaf.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The seq of the last leaf (where the next batch starts after).
    pub fn last_seq(&self) -> Option<u64> {
        self.last_seq
    }

    /// The leaves in order; an error (then nothing more) when the packed bytes are not
    /// exactly [`AuditLeafBatch::len`] well-formed records ending at the last seq.
    pub fn iter(&self) -> LeafIter<'_> {
        LeafIter {
            rest: &self.packed,
            left: self.count,
            last_seq: self.last_seq,
            done: false,
        }
    }

    /// The leaves as rows (what [`crate::Store::audit_leaves`] returns for the same range).
    pub fn to_rows(&self) -> StoreResult<Vec<AuditLeafRow>> {
        self.iter().map(|l| l.and_then(|l| l.to_row())).collect()
    }
}

impl AuditLeafRef<'_> {
    /// The owned row.
    pub fn to_row(&self) -> StoreResult<AuditLeafRow> {
        let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.at_micros) * 1000)
            .map_err(|_| corrupt("time out of range"))?;
        Ok(AuditLeafRow {
            seq: self.seq,
            leaf: crate::NewAuditLeaf {
                at,
                bytes: self.bytes.to_vec(),
                actor: self.actor.map(str::to_owned),
                org: self.org.map(str::to_owned),
                action: self.action.to_owned(),
                target: self.target.map(str::to_owned),
                case_id: self.case_id,
            },
            leaf_hash: *self.leaf_hash,
        })
    }
}

/// The leaves of an [`AuditLeafBatch`].
#[derive(Debug, Clone)]
pub struct LeafIter<'a> {
    rest: &'a [u8],
    left: usize,
    last_seq: Option<u64>,
    done: bool,
}

fn take<'a>(rest: &mut &'a [u8], n: usize) -> StoreResult<&'a [u8]> {
    if rest.len() < n {
        return Err(corrupt("truncated record"));
    }
    let (head, tail) = rest.split_at(n);
    *rest = tail;
    Ok(head)
}

fn text(b: Option<&[u8]>) -> StoreResult<Option<&str>> {
    b.map(|b| std::str::from_utf8(b).map_err(|_| corrupt("text is not UTF-8")))
        .transpose()
}

impl<'a> LeafIter<'a> {
    fn record(&mut self) -> StoreResult<AuditLeafRef<'a>> {
        let fixed = take(&mut self.rest, FIXED)?;
        let be8 = |i: usize| <[u8; 8]>::try_from(&fixed[i..i + 8]).expect("8 bytes");
        let seq = u64::from_be_bytes(be8(0));
        let at_micros = i64::from_be_bytes(be8(8));
        let mut fields: [Option<&'a [u8]>; TAGS] = [None; TAGS];
        for (i, f) in fields.iter_mut().enumerate() {
            let at = 16 + 4 * i;
            let tag = u32::from_be_bytes(fixed[at..at + 4].try_into().expect("4 bytes"));
            if tag > 0 {
                *f = Some(take(&mut self.rest, tag as usize - 1)?);
            }
        }
        let [hash, bytes, actor, org, action, target, case] = fields;
        let leaf_hash = hash
            .ok_or_else(|| corrupt("NULL leaf hash"))?
            .try_into()
            .map_err(|_| corrupt("leaf hash is not 32 bytes"))?;
        let case_id = case
            .map(|c| <[u8; 16]>::try_from(c).map_err(|_| corrupt("case id is not 16 bytes")))
            .transpose()?
            .map(|b| CaseId(uuid::Uuid::from_bytes(b)));
        Ok(AuditLeafRef {
            seq,
            at_micros,
            bytes: bytes.ok_or_else(|| corrupt("NULL leaf bytes"))?,
            leaf_hash,
            actor: text(actor)?,
            org: text(org)?,
            action: text(action)?.ok_or_else(|| corrupt("NULL action"))?,
            target: text(target)?,
            case_id,
        })
    }
}

impl<'a> Iterator for LeafIter<'a> {
    type Item = StoreResult<AuditLeafRef<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.left == 0 {
            self.done = true;
            return (!self.rest.is_empty()).then(|| Err(corrupt("trailing bytes")));
        }
        let r = self.record();
        self.left -= 1;
        match &r {
            Err(_) => self.done = true,
            Ok(l) if self.left == 0 && Some(l.seq) != self.last_seq => {
                self.done = true;
                return Some(Err(corrupt("the last record is not the last seq")));
            }
            Ok(_) => {}
        }
        Some(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewAuditLeaf;
    use time::macros::datetime;

    fn row(seq: u64, nulls: bool) -> AuditLeafRow {
        AuditLeafRow {
            seq,
            leaf: NewAuditLeaf {
                at: datetime!(1969-12-31 23:59:59.999_999 UTC),
                bytes: vec![0, 1, 2, 0, 255],
                actor: (!nulls).then(|| "é.x".to_owned()),
                org: (!nulls).then(String::new),
                action: "referral.read".into(),
                target: (!nulls).then(|| "t".into()),
                case_id: (!nulls).then(|| CaseId(uuid::Uuid::from_u128(7))),
            },
            leaf_hash: [seq as u8; 32],
        }
    }

    #[test]
    fn pack_round_trip_with_nulls_and_empty_values() {
        let rows = vec![row(3, false), row(4, true), row(9, false)];
        let b = AuditLeafBatch::pack(&rows);
        assert_eq!(b.len(), 3);
        assert_eq!(b.last_seq(), Some(9));
        assert_eq!(b.to_rows().unwrap(), rows);
        assert_eq!(b.iter().next().unwrap().unwrap().at_micros, -1);
        let empty = AuditLeafBatch::pack(&[]);
        assert!(empty.is_empty());
        assert_eq!(empty.iter().count(), 0);
    }

    #[test]
    fn malformed_batches_are_corrupt() {
        let rows = vec![row(0, false), row(1, true)];
        let good = AuditLeafBatch::pack(&rows);
        let bad = |count: i64, last: Option<i64>, packed: Vec<u8>| {
            let b = AuditLeafBatch::new(count, last, Some(packed)).unwrap();
            assert!(
                matches!(b.to_rows(), Err(StoreError::Corrupt(_))),
                "{count} {last:?}"
            );
        };
        // Fewer, more records than announced; trailing bytes; a cut anywhere.
        bad(3, Some(1), good.packed.clone());
        bad(1, Some(0), good.packed.clone());
        let mut trailing = good.packed.clone();
        trailing.push(0);
        bad(2, Some(1), trailing);
        for cut in 0..good.packed.len() {
            bad(2, Some(1), good.packed[..cut].to_vec());
        }
        // The last record is not the announced last seq.
        bad(2, Some(2), good.packed.clone());
        // NULL where the schema says NOT NULL, wrong sizes, invalid UTF-8.
        let tag = |i: usize| 16 + 4 * i;
        for (i, v) in [(0, 0u32), (1, 0), (4, 0), (0, 32), (6, 16)] {
            let mut p = good.packed.clone();
            p[tag(i)..tag(i) + 4].copy_from_slice(&v.to_be_bytes());
            bad(2, Some(1), p);
        }
        let mut utf8 = good.packed.clone();
        let actor_at = FIXED + 32 + 5;
        assert_eq!(utf8[actor_at], 0xc3);
        utf8[actor_at] = 0xff;
        bad(2, Some(1), utf8);
        assert!(AuditLeafBatch::new(0, Some(1), None).is_err());
        assert!(AuditLeafBatch::new(1, None, None).is_err());
        assert!(AuditLeafBatch::new(1, Some(-1), None).is_err());
        assert!(AuditLeafBatch::new(-1, Some(1), None).is_err());
        assert!(AuditLeafBatch::new(0, None, None).unwrap().is_empty());
    }
}
