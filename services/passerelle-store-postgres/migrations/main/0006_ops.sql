-- Operations (version 0006, same file in both trees): the overdue count behind /metrics
-- (`passerelle_referrals_overdue`, read at every scrape) looks only at open referrals by
-- due time, without scanning the whole table.
CREATE INDEX referrals_open_by_due ON referrals (due_at)
    WHERE status IN ('sent', 'acknowledged');
