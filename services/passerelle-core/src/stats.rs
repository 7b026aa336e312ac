//! Coordinators' statistics: counts and delays of their own organisation's referrals, never
//! content, never an id of a referral, a case or a victim.

use std::collections::BTreeMap;

use serde::Serialize;
use time::OffsetDateTime;

use passerelle_domain::audit::Targets;
use passerelle_domain::enums::ReferralStatus;
use passerelle_domain::policy::Route;
use passerelle_store::ReferralTimingRow;

use crate::auth::Principal;
use crate::{Core, CoreResult, RequestCtx};

/// Delays, in whole seconds, over the referrals that have one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DelayStats {
    /// How many referrals have been answered.
    pub count: u64,
    /// Median (nearest rank), `None` when none.
    pub median: Option<i64>,
    /// 90th percentile (nearest rank), `None` when none.
    pub p90: Option<i64>,
}

/// The figures of one side (received or sent).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SideStats {
    /// Every referral.
    pub total: u64,
    /// Counts by state (every state present, zero included).
    pub by_status: BTreeMap<&'static str, u64>,
    /// `sent` or `acknowledged` past their due time.
    pub overdue: u64,
    /// From filing to the receiving organisation's first answer (acknowledged, accepted or
    /// declined).
    pub acknowledgement_delay_seconds: DelayStats,
}

/// `GET /api/v1/stats`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrgStats {
    /// The organisation's slug.
    pub org: String,
    /// When computed.
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    /// Referrals the organisation received.
    pub received: SideStats,
    /// Referrals the organisation sent.
    pub sent: SideStats,
}

/// The nearest-rank `p`-th percentile (0 < p ≤ 100) of sorted values.
pub fn nearest_rank(sorted: &[i64], p: u32) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let n = sorted.len() as u64;
    let rank = (u64::from(p) * n).div_ceil(100).max(1);
    sorted.get((rank - 1) as usize).copied()
}

fn side(rows: &[&ReferralTimingRow], now: OffsetDateTime) -> SideStats {
    let mut by_status: BTreeMap<&'static str, u64> = ReferralStatus::ALL
        .iter()
        .map(|s| (s.as_str(), 0))
        .collect();
    let mut overdue = 0;
    let mut delays = Vec::new();
    for r in rows {
        *by_status.entry(r.status.as_str()).or_default() += 1;
        if matches!(
            r.status,
            ReferralStatus::Sent | ReferralStatus::Acknowledged
        ) && r.due_at < now
        {
            overdue += 1;
        }
        if let Some(at) = r.first_response_at {
            delays.push((at - r.created_at).whole_seconds().max(0));
        }
    }
    delays.sort_unstable();
    SideStats {
        total: rows.len() as u64,
        by_status,
        overdue,
        acknowledgement_delay_seconds: DelayStats {
            count: delays.len() as u64,
            median: nearest_rank(&delays, 50),
            p90: nearest_rank(&delays, 90),
        },
    }
}

impl Core {
    /// Counts and delays of the caller's own organisation (coordinators only; `403` for
    /// every other role). No content, no ids: nothing here names a case.
    pub async fn org_stats(&self, p: &Principal, ctx: &RequestCtx) -> CoreResult<OrgStats> {
        self.check_role(p, Route::ReadStats, Targets::default(), ctx)
            .await?;
        let rows = self.store().referral_timings(p.org_id).await?;
        let now = self.now();
        let received: Vec<&ReferralTimingRow> = rows.iter().filter(|r| r.received).collect();
        let sent: Vec<&ReferralTimingRow> = rows.iter().filter(|r| r.sent).collect();
        Ok(OrgStats {
            org: p.org_slug.as_str().to_owned(),
            generated_at: now,
            received: side(&received, now),
            sent: side(&sent, now),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        assert_eq!(nearest_rank(&[], 50), None);
        assert_eq!(nearest_rank(&[7], 50), Some(7));
        assert_eq!(nearest_rank(&[7], 90), Some(7));
        let v: Vec<i64> = (1..=10).collect();
        assert_eq!(nearest_rank(&v, 50), Some(5));
        assert_eq!(nearest_rank(&v, 90), Some(9));
        let v: Vec<i64> = (1..=11).collect();
        assert_eq!(nearest_rank(&v, 50), Some(6));
        assert_eq!(nearest_rank(&v, 90), Some(10));
    }

    #[test]
    fn sides_count_states_overdue_and_delays() {
        let t0 = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let row = |status, due_h: i64, answered_min: Option<i64>| ReferralTimingRow {
            sent: false,
            received: true,
            status,
            created_at: t0,
            due_at: t0 + time::Duration::hours(due_h),
            first_response_at: answered_min.map(|m| t0 + time::Duration::minutes(m)),
        };
        let rows = [
            row(ReferralStatus::Sent, 1, None),
            row(ReferralStatus::Acknowledged, 1, Some(10)),
            row(ReferralStatus::Accepted, 1, Some(30)),
            row(ReferralStatus::Sent, 5, None),
        ];
        let refs: Vec<&ReferralTimingRow> = rows.iter().collect();
        let s = side(&refs, t0 + time::Duration::hours(2));
        assert_eq!(s.total, 4);
        assert_eq!(s.by_status["sent"], 2);
        assert_eq!(s.by_status["closed"], 0);
        assert_eq!(s.overdue, 2, "the late sent and acknowledged ones");
        assert_eq!(
            s.acknowledgement_delay_seconds,
            DelayStats {
                count: 2,
                median: Some(600),
                p90: Some(1800)
            }
        );
    }
}
