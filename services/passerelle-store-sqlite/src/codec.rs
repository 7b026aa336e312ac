//! Conversions between the port's row types and SQLite values.
//!
//! Times are INTEGER microseconds since the Unix epoch (UTC): they sort as numbers, so the
//! inbox cursor `(due_at, id)` compares correctly, and they keep exactly PostgreSQL's
//! precision. Ids are 16-byte BLOBs, compared bytewise like [`uuid::Uuid`]'s `Ord`.

use std::str::FromStr;

use passerelle_domain::ids::*;
use passerelle_store::*;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::error::db;

/// Microseconds since the Unix epoch, rounded down (the precision both backends keep).
pub(crate) fn micros(t: OffsetDateTime) -> i64 {
    // Every `OffsetDateTime` (years ±9999) fits in an i64 of microseconds.
    t.unix_timestamp_nanos().div_euclid(1000) as i64
}

/// Optional [`micros`].
pub(crate) fn micros_opt(t: Option<OffsetDateTime>) -> Option<i64> {
    t.map(micros)
}

/// The UTC time `m` microseconds after the Unix epoch.
pub(crate) fn time(m: i64) -> StoreResult<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(m) * 1000)
        .map_err(|_| StoreError::Corrupt("time out of range".into()))
}

/// Reads a column, mapping decode errors to [`StoreError::Corrupt`].
pub(crate) fn get<'r, T>(row: &'r SqliteRow, col: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
{
    row.try_get(col).map_err(db)
}

/// Reads a time column.
pub(crate) fn get_time(row: &SqliteRow, col: &str) -> StoreResult<OffsetDateTime> {
    time(get(row, col)?)
}

/// Reads an optional time column.
pub(crate) fn get_time_opt(row: &SqliteRow, col: &str) -> StoreResult<Option<OffsetDateTime>> {
    get::<Option<i64>>(row, col)?.map(time).transpose()
}

/// Reads a 32-byte hash column.
pub(crate) fn get_hash(row: &SqliteRow, col: &str) -> StoreResult<[u8; 32]> {
    let v: Vec<u8> = get(row, col)?;
    <[u8; 32]>::try_from(v.as_slice())
        .map_err(|_| StoreError::Corrupt(format!("{col}: not 32 bytes")))
}

/// Reads a vocabulary column (its wire spelling).
pub(crate) fn get_enum<T: FromStr>(row: &SqliteRow, col: &str) -> StoreResult<T> {
    let s: String = get(row, col)?;
    parse(&s, col)
}

/// Reads an optional vocabulary column.
pub(crate) fn get_enum_opt<T: FromStr>(row: &SqliteRow, col: &str) -> StoreResult<Option<T>> {
    get::<Option<String>>(row, col)?
        .map(|s| parse(&s, col))
        .transpose()
}

/// Parses a stored spelling; the value itself never goes into the error.
pub(crate) fn parse<T: FromStr>(s: &str, col: &str) -> StoreResult<T> {
    s.parse()
        .map_err(|_| StoreError::Corrupt(format!("{col}: unknown value")))
}

/// A u64 counter stored as an INTEGER.
pub(crate) fn to_i64(n: u64, what: &str) -> StoreResult<i64> {
    i64::try_from(n).map_err(|_| StoreError::Other(format!("{what} out of range")))
}

/// An INTEGER read back as a u64 counter.
pub(crate) fn get_u64(row: &SqliteRow, col: &str) -> StoreResult<u64> {
    let v: i64 = get(row, col)?;
    u64::try_from(v).map_err(|_| StoreError::Corrupt(format!("{col}: negative")))
}

/// Concatenated 32-byte hashes.
pub(crate) fn join_hashes(hashes: &[[u8; 32]]) -> Vec<u8> {
    hashes.concat()
}

/// Splits concatenated 32-byte hashes.
pub(crate) fn split_hashes(bytes: &[u8]) -> StoreResult<Vec<[u8; 32]>> {
    if !bytes.len().is_multiple_of(32) {
        return Err(StoreError::Corrupt(
            "compact range: not 32-byte hashes".into(),
        ));
    }
    Ok(bytes
        .chunks_exact(32)
        .map(|c| <[u8; 32]>::try_from(c).expect("chunks of 32"))
        .collect())
}

pub(crate) fn id<T: From<Uuid>>(row: &SqliteRow, col: &str) -> StoreResult<T> {
    Ok(T::from(get::<Uuid>(row, col)?))
}

pub(crate) fn id_opt<T: From<Uuid>>(row: &SqliteRow, col: &str) -> StoreResult<Option<T>> {
    Ok(get::<Option<Uuid>>(row, col)?.map(T::from))
}

/// An organisation.
pub(crate) fn org_row(row: &SqliteRow) -> StoreResult<OrgRow> {
    Ok(OrgRow {
        id: id(row, "id")?,
        slug: get_enum(row, "slug")?,
        name: get(row, "name")?,
        kind: get_enum(row, "kind")?,
        created_at: get_time(row, "created_at")?,
    })
}

/// An organisation identity version.
pub(crate) fn org_key_row(row: &SqliteRow) -> StoreResult<OrgKeyRow> {
    Ok(OrgKeyRow {
        org_id: id(row, "org_id")?,
        version: get(row, "version")?,
        recipient: get(row, "recipient")?,
        wrapped_identity: get(row, "wrapped_identity")?,
        kek_version: get(row, "kek_version")?,
        created_at: get_time(row, "created_at")?,
        retired_at: get_time_opt(row, "retired_at")?,
    })
}

/// A user.
pub(crate) fn user_row(row: &SqliteRow) -> StoreResult<UserRow> {
    Ok(UserRow {
        id: id(row, "id")?,
        username: get_enum(row, "username")?,
        org_id: id(row, "org_id")?,
        role: get_enum(row, "role")?,
        health_professional: get(row, "health_professional")?,
        password_hash: get(row, "password_hash")?,
        totp_secret: get(row, "totp_secret")?,
        disabled: get(row, "disabled")?,
        created_at: get_time(row, "created_at")?,
    })
}

/// An API token.
pub(crate) fn token_row(row: &SqliteRow) -> StoreResult<TokenRow> {
    Ok(TokenRow {
        id: id(row, "id")?,
        user_id: id(row, "user_id")?,
        hash: get_hash(row, "hash")?,
        created_at: get_time(row, "created_at")?,
        expires_at: get_time(row, "expires_at")?,
        revoked_at: get_time_opt(row, "revoked_at")?,
    })
}

/// A token with its user and organisation ([`TokenAuthRow`]).
pub(crate) fn token_auth_row(row: &SqliteRow) -> StoreResult<TokenAuthRow> {
    let org = match get_enum_opt(row, "org_slug")? {
        Some(slug) => Some((slug, get_enum(row, "org_kind")?)),
        None => None,
    };
    Ok(TokenAuthRow {
        token_id: id(row, "token_id")?,
        expires_at: get_time(row, "expires_at")?,
        revoked_at: get_time_opt(row, "revoked_at")?,
        user_id: id(row, "user_id")?,
        username: get_enum(row, "username")?,
        role: get_enum(row, "role")?,
        health_professional: get(row, "health_professional")?,
        disabled: get(row, "disabled")?,
        org_id: id(row, "org_id")?,
        org,
    })
}

/// A case.
pub(crate) fn case_row(row: &SqliteRow) -> StoreResult<CaseRow> {
    let terms: String = get(row, "terms")?;
    Ok(CaseRow {
        id: id(row, "id")?,
        created_at: get_time(row, "created_at")?,
        terms: serde_json::from_str(&terms)
            .map_err(|_| StoreError::Corrupt("terms: invalid JSON".into()))?,
        withdrawn_at: get_time_opt(row, "withdrawn_at")?,
    })
}

/// A referral; `content` is read only when `with_content` (lists carry metadata only).
pub(crate) fn referral_row(row: &SqliteRow, with_content: bool) -> StoreResult<ReferralRow> {
    let categories: String = get(row, "categories")?;
    Ok(ReferralRow {
        id: id(row, "id")?,
        case_id: id(row, "case_id")?,
        reference: get(row, "reference")?,
        parent_id: id_opt(row, "parent_id")?,
        from_org: id(row, "from_org")?,
        from_slug: get_enum(row, "from_slug")?,
        to_org: id(row, "to_org")?,
        to_slug: get_enum(row, "to_slug")?,
        purpose: get_enum(row, "purpose")?,
        urgency: get_enum(row, "urgency")?,
        status: get_enum(row, "status")?,
        basis: get_enum(row, "basis")?,
        categories: serde_json::from_str(&categories)
            .map_err(|_| StoreError::Corrupt("categories: invalid JSON".into()))?,
        created_by: id(row, "created_by")?,
        created_at: get_time(row, "created_at")?,
        due_at: get_time(row, "due_at")?,
        updated_at: get_time(row, "updated_at")?,
        recipient: get(row, "recipient")?,
        content: if with_content {
            get(row, "content")?
        } else {
            Vec::new()
        },
        content_sha256: get_hash(row, "content_sha256")?,
        shredded_at: get_time_opt(row, "shredded_at")?,
    })
}

/// A referral event.
pub(crate) fn event_row(row: &SqliteRow) -> StoreResult<ReferralEventRow> {
    Ok(ReferralEventRow {
        referral_id: id(row, "referral_id")?,
        at: get_time(row, "at")?,
        status: get_enum(row, "status")?,
        actor: id_opt::<UserId>(row, "actor")?,
        outcome: get_enum_opt(row, "outcome")?,
        sealed_detail: get(row, "sealed_detail")?,
        suggested_org: get_enum_opt(row, "suggested_org")?,
    })
}

/// A key wrap.
pub(crate) fn wrap_row(row: &SqliteRow) -> StoreResult<KeyWrapRow> {
    Ok(KeyWrapRow {
        referral_id: id(row, "referral_id")?,
        org_id: id(row, "org_id")?,
        org_key_version: get(row, "org_key_version")?,
        wrapped: get(row, "wrapped")?,
    })
}

/// An audit leaf.
pub(crate) fn leaf_row(row: &SqliteRow) -> StoreResult<AuditLeafRow> {
    Ok(AuditLeafRow {
        seq: get_u64(row, "seq")?,
        leaf: NewAuditLeaf {
            at: get_time(row, "at")?,
            bytes: get(row, "bytes")?,
            actor: get(row, "actor")?,
            org: get(row, "org")?,
            action: get(row, "action")?,
            target: get(row, "target")?,
            case_id: id_opt(row, "case_id")?,
        },
        leaf_hash: get_hash(row, "leaf_hash")?,
    })
}

/// The audit head; `None` for the empty tree.
pub(crate) fn head_row(row: &SqliteRow) -> StoreResult<Option<AuditHeadRow>> {
    let size = get_u64(row, "size")?;
    if size == 0 {
        return Ok(None);
    }
    let compact: Vec<u8> = get(row, "compact")?;
    Ok(Some(AuditHeadRow {
        size,
        root: get_hash(row, "root")?,
        compact: split_hashes(&compact)?,
        checkpoint: get(row, "checkpoint")?,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn micros_round_down_and_round_trip() {
        let t = OffsetDateTime::from_unix_timestamp_nanos(1_700_000_000_123_456_789).unwrap();
        assert_eq!(micros(t), 1_700_000_000_123_456);
        assert_eq!(
            time(micros(t)).unwrap().unix_timestamp_nanos(),
            1_700_000_000_123_456_000
        );
        let before = OffsetDateTime::from_unix_timestamp_nanos(-1_500).unwrap();
        assert_eq!(micros(before), -2);
    }

    #[test]
    fn hashes_split_and_join() {
        let hs = vec![[1u8; 32], [2u8; 32]];
        assert_eq!(split_hashes(&join_hashes(&hs)).unwrap(), hs);
        assert!(split_hashes(&[0u8; 33]).is_err());
    }
}
