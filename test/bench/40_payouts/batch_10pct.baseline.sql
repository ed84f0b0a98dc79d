-- Bare baseline of run_payout_batch on the same data, for the first 10 % of trips (100,000 bookings at scale 1): one INSERT ... SELECT
-- ... GROUP BY into payouts (sum of driver shares by the tenant's rate,
-- counts, period) and one UPDATE ... FROM settling the bookings; rolled back.
-- The UPDATE writes the columns run_payout_batch writes: payout_id,
-- payout_settled, settled_at and the booking's split (platform_rate,
-- platform_fee, driver_amount), which reconcile_payouts checks on every
-- settled booking.  (Until release 0.3 it left the split out: less work per
-- row for its CHECK, but its new row versions then also entered
-- bookings_unsplit_idx, which the hot path's do not.)
BEGIN;
INSERT INTO steppergo.payouts (driver_id, amount, currency, status, period_start, period_end, trips_count,
                               bookings_count, tenant_id)
SELECT t.driver_id, sum(b.total_amount - round(b.total_amount * coalesce(tn.platform_rate, 0.15), 2)), b.currency,
       'PENDING', min(t.completed_at), to_timestamp(:p10), count(DISTINCT t.id), count(*), t.tenant_id
  FROM steppergo.bookings b
  JOIN steppergo.trips t ON t.id = b.trip_id
  LEFT JOIN steppergo.tenants tn ON tn.id = t.tenant_id
 WHERE b.status = 'COMPLETED' AND b.payment_method_type = 'ONLINE' AND NOT b.payout_settled
   AND t.completed_at < to_timestamp(:p10) AND t.driver_id IS NOT NULL
 GROUP BY t.driver_id, t.tenant_id, b.currency;
UPDATE steppergo.bookings b
   SET payout_id = p.id, payout_settled = true, settled_at = now(),
       platform_rate = coalesce(tn.platform_rate, 0.15),
       platform_fee = round(b.total_amount * coalesce(tn.platform_rate, 0.15), 2),
       driver_amount = b.total_amount - round(b.total_amount * coalesce(tn.platform_rate, 0.15), 2)
  FROM steppergo.trips t LEFT JOIN steppergo.tenants tn ON tn.id = t.tenant_id, steppergo.payouts p
 WHERE b.trip_id = t.id AND p.driver_id = t.driver_id AND p.currency = b.currency
   AND p.tenant_id IS NOT DISTINCT FROM t.tenant_id AND p.created_at = now() AND p.status = 'PENDING'
   AND b.status = 'COMPLETED' AND b.payment_method_type = 'ONLINE' AND NOT b.payout_settled
   AND t.completed_at < to_timestamp(:p10) AND t.driver_id IS NOT NULL;
ROLLBACK;
