-- Payouts: examples printed by the demo (database steppergo, demo data loaded).
\pset footer off
\echo '-- Payouts by status and currency'
SELECT status, currency, count(*) AS payouts, sum(amount) AS amount, sum(bookings_count) AS bookings
  FROM steppergo.payouts GROUP BY 1, 2 ORDER BY 1, 2;

\echo '-- The split of 12,345.67 KZT at the default and a 12 % rate (halves away from zero)'
SELECT 0.15 AS rate, * FROM steppergo.payout_split(12345.67)
UNION ALL SELECT 0.12, * FROM steppergo.payout_split(12345.67, 0.12);

\echo '-- Statement of the driver with the most completed bookings, last 30 days'
SELECT to_char(s.completed_at, 'YYYY-MM-DD') AS completed, s.payment_method, s.gross, s.platform_fee, s.driver_amount,
       s.payout_status, s.commission_status
  FROM (SELECT t.driver_id FROM steppergo.trips t JOIN steppergo.bookings b ON b.trip_id = t.id
         WHERE b.status = 'COMPLETED' GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1) d,
       LATERAL steppergo.driver_statement(d.driver_id, now() - interval '30 days', now()) s
 LIMIT 10;

\echo '-- Cash commissions drivers owe'
SELECT status, count(*), sum(amount) FROM steppergo.driver_commissions GROUP BY 1 ORDER BY 1;

\echo '-- Reconciliation: no rows means the books balance'
SELECT * FROM steppergo.reconcile_payouts();
