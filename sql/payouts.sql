-- payouts: the exact split, the batch, the cash commission ledger, the
-- payout lifecycle, the driver's statement and reconciliation.
-- All rows here belong to *@payouts.test / +7904NNNNNNN; every trip of this
-- suite completed in 2020, and every batch runs with a period_end in 2020, so
-- other suites' rows never enter the figures printed.
\set VERBOSITY terse
SET search_path = steppergo, public;
SET client_min_messages = warning;
SET timezone = 'UTC';
SET datestyle = 'ISO, YMD';

-- run a statement, print "ok" or its SQLSTATE and message
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ' ' || SQLERRM;
END $$;

-- ===================================================================== split
-- Property test: 100,000 random amounts, rates and minor units.  The
-- reference is computed independently of round(): for a non-negative x,
-- rounding halves away from zero is floor(x * 10^m + 0.5) / 10^m.
SELECT setseed(0.4242);
CREATE TEMP TABLE prop AS
SELECT g, round(CASE WHEN g % 10 = 0 THEN random() * 100 ELSE random() * 1e11 END::numeric, mu) AS gross,
       rate, mu
  FROM (SELECT g,
               CASE WHEN g % 7 = 0 THEN 0.15 WHEN g % 11 = 0 THEN 0 WHEN g % 13 = 0 THEN 1
                    WHEN g % 17 = 0 THEN round(random()::numeric, 2) ELSE round(random()::numeric, 4) END AS rate,
               (ARRAY[2, 2, 2, 0, 3])[1 + g % 5] AS mu
          FROM generate_series(1, 100000) g) s;
CREATE TEMP TABLE prop_out AS
SELECT p.*, s.driver_amount AS d, s.platform_fee AS f,
       floor(p.gross * p.rate * 10 ^ p.mu::numeric + 0.5) / 10 ^ p.mu::numeric AS fee_ref,
       payout_fee(p.gross, p.rate, p.mu) AS scalar_fee
  FROM prop p, LATERAL payout_split(p.gross, p.rate, p.mu) s;
SELECT count(*) AS cases,
       count(*) FILTER (WHERE d + f <> gross) AS sum_not_gross,
       count(*) FILTER (WHERE f <> fee_ref) AS fee_not_reference,
       count(*) FILTER (WHERE d <> gross - fee_ref) AS driver_not_reference,
       count(*) FILTER (WHERE f < 0 OR d < 0 OR f > gross) AS out_of_range,
       count(*) FILTER (WHERE scale(f) > mu OR scale(d) > mu) AS finer_than_minor_unit,
       count(*) FILTER (WHERE scalar_fee IS DISTINCT FROM f) AS scalar_differs,
       count(*) FILTER (WHERE f = gross * rate) AS exact_cases,
       count(*) FILTER (WHERE gross * rate * 10 ^ mu::numeric - trunc(gross * rate * 10 ^ mu::numeric) = 0.5) AS exact_halves
  FROM prop_out;

-- Halves go away from zero (never to even): 0.005 -> 0.01, 0.015 -> 0.02,
-- 2.5 -> 3 (banker's rounding would give 2).
SELECT gross, rate, mu, s.*
  FROM (VALUES (0.10, 0.05, 2), (0.30, 0.05, 2), (1.00, 0.005, 2), (5, 0.5, 0), (3, 0.5, 0),
               (10000.00, 0.15, 2), (3333.33, 0.15, 2), (0.01, 0.15, 2), (0, 0.15, 2),
               (999999999999.99, 1, 2), (999999999999.99, 0, 2), (1.234, 0.15, 3)) v(gross, rate, mu),
       LATERAL payout_split(gross, rate, mu) s;
SELECT * FROM payout_split(100);                        -- defaults: 0.15, 2 decimals

-- refusals
SELECT pg_temp.try('SELECT * FROM steppergo.payout_split(-1)');
SELECT pg_temp.try('SELECT * FROM steppergo.payout_split(''NaN'')');
SELECT pg_temp.try('SELECT * FROM steppergo.payout_split(''Infinity'')');
SELECT pg_temp.try('SELECT * FROM steppergo.payout_split(100, ''-Infinity'')');
SELECT pg_temp.try('SELECT * FROM steppergo.payout_split(100, 1.01)');
SELECT pg_temp.try('SELECT * FROM steppergo.payout_split(100, -0.01)');
SELECT pg_temp.try('SELECT * FROM steppergo.payout_split(100.001)');
SELECT pg_temp.try('SELECT * FROM steppergo.payout_split(100.5, 0.15, 0)');
SELECT pg_temp.try('SELECT * FROM steppergo.payout_split(100, 0.15, 5)');
SELECT pg_temp.try('SELECT * FROM steppergo.payout_split(NULL)');
SELECT pg_temp.try('SELECT * FROM steppergo.payout_split(100, NULL)');
SELECT pg_temp.try('SELECT steppergo.payout_fee(-1, 0.15, 2)');
SELECT payout_fee(100.5, 0.15, 0) IS NULL AS unpayable_is_null, payout_fee(100.50, 0.15, 0) IS NULL AS trailing_zero_is_payable;
-- payout_payable (release 0.3, the batch's filter) says exactly when
-- payout_fee returns a fee: 20,000 amounts of 0 to 4 decimals against minor
-- units 0 to 4, with trailing zeros (1.50 in a 1-decimal currency)
SELECT count(*) AS cases,
       count(*) FILTER (WHERE payout_payable(g, m)) BETWEEN 1 AND count(*) - 1 AS both_kinds,
       count(*) FILTER (WHERE payout_payable(g, m) IS DISTINCT FROM (payout_fee(g, 0.15, m) IS NOT NULL)) AS differs_from_fee
  FROM (SELECT round((random() * 1000)::numeric, n % 5) * (CASE WHEN n % 3 = 0 THEN 1.00 ELSE 1 END) AS g,
               (n / 5) % 5 AS m
          FROM generate_series(1, 20000) n) s;
SELECT payout_payable(100.5, 0) AS half_yen, payout_payable(100.50, 1) AS trailing_zero, payout_payable(0, 0) AS zero;
SELECT pg_temp.try('SELECT steppergo.payout_payable(-1, 2)');
SELECT pg_temp.try('SELECT steppergo.payout_payable(''NaN'', 2)');
SELECT pg_temp.try('SELECT steppergo.payout_payable(1, 5)');

-- ============================================================ platform rate
INSERT INTO tenants (name, platform_rate) VALUES ('Payouts Twenty Percent', 0.2), ('Payouts Default Rate', NULL);
SELECT name, platform_rate(id) FROM tenants WHERE name LIKE 'Payouts %' ORDER BY name;
SELECT platform_rate(NULL) AS platform_default, platform_rate('00000000-0000-0000-0000-000000000000') AS unknown_tenant;

-- ==================================================================== data
INSERT INTO users (email, phone, name, role) VALUES
  ('admin@payouts.test', '+79040000001', 'Payouts Admin', 'ADMIN'),
  ('d1@payouts.test', '+79040000011', 'Driver One', 'DRIVER'),
  ('d2@payouts.test', '+79040000012', 'Driver Two', 'DRIVER'),
  ('d3@payouts.test', '+79040000013', 'Driver Three', 'DRIVER'),
  ('p1@payouts.test', '+79040000021', 'Passenger One', 'PASSENGER'),
  ('p2@payouts.test', '+79040000022', 'Passenger Two', 'PASSENGER');
INSERT INTO drivers (user_id, status, approval_status)
SELECT id, 'APPROVED', 'APPROVED' FROM users WHERE email IN ('d1@payouts.test', 'd2@payouts.test', 'd3@payouts.test');
CREATE TEMP VIEW drv AS
SELECT d.id, split_part(u.email, '@', 1) AS who, u.id AS user_id
  FROM drivers d JOIN users u ON u.id = d.user_id WHERE u.email LIKE '%@payouts.test';

CREATE FUNCTION pg_temp.trip(who text, completed timestamptz, cur text DEFAULT 'KZT', tenant text DEFAULT NULL)
  RETURNS uuid LANGUAGE sql AS $$
  INSERT INTO steppergo.trips (title, organizer_id, driver_id, departure_time, origin_name, origin_lat, origin_lng,
                               dest_name, dest_lat, dest_lng, total_seats, available_seats, base_price, currency,
                               status, trip_type, price_per_seat, tenant_id, completed_at)
  VALUES ('Payouts ' || who || ' ' || coalesce(completed::text, 'open'), (SELECT id FROM steppergo.users WHERE email = 'p1@payouts.test'),
          (SELECT id FROM drv WHERE drv.who = trip.who), coalesce(completed, '2020-01-10') - interval '2 hours',
          'Almaty', 43.238, 76.889, 'Medeu', 43.157, 77.059, 4, 0, 0, cur,
          CASE WHEN completed IS NULL THEN 'IN_PROGRESS' ELSE 'COMPLETED' END::steppergo.trip_status, 'SHARED', 1000,
          (SELECT id FROM steppergo.tenants WHERE name = tenant), completed)
  RETURNING id $$;
CREATE FUNCTION pg_temp.book(trip uuid, amount numeric, method text DEFAULT 'ONLINE', passenger text DEFAULT 'p1',
                             status text DEFAULT 'COMPLETED')
  RETURNS uuid LANGUAGE sql AS $$
  INSERT INTO steppergo.bookings (trip_id, user_id, status, seats_booked, total_amount, currency, payment_method_type)
  VALUES (trip, (SELECT id FROM steppergo.users WHERE email = passenger || '@payouts.test'),
          status::steppergo.booking_status, 1, amount, (SELECT currency FROM steppergo.trips WHERE id = trip),
          method::steppergo.payment_method_type)
  RETURNING id $$;

-- period A: trips completed in January 2020
SELECT pg_temp.book(t, 10000.00), pg_temp.book(t, 3333.33, 'ONLINE', 'p2'), pg_temp.book(t, 5000.00, 'CASH_TO_DRIVER', 'p2')
  FROM pg_temp.trip('d1', '2020-01-05 10:00+00') t \gset ignore_
SELECT pg_temp.book(pg_temp.trip('d1', '2020-01-06 10:00+00'), 0.10) \gset ignore_
SELECT pg_temp.book(pg_temp.trip('d1', '2020-01-07 10:00+00', 'USD'), 100.05) \gset ignore_
SELECT pg_temp.book(pg_temp.trip('d1', '2020-01-08 10:00+00', 'KZT', 'Payouts Twenty Percent'), 1000.00) \gset ignore_
SELECT pg_temp.book(t, 7777.77), pg_temp.book(t, 7777.77, 'ONLINE', 'p2'), pg_temp.book(t, 5000, 'ONLINE', 'p1', 'CANCELLED')
  FROM pg_temp.trip('d2', '2020-01-10 10:00+00') t \gset ignore_
-- a trip not completed yet: not paid
SELECT pg_temp.book(pg_temp.trip('d2', NULL), 4000) \gset ignore_
-- 1000.50 yen cannot be paid (JPY has no minor unit)
SELECT pg_temp.book(t, 1000), pg_temp.book(t, 1000.50, 'ONLINE', 'p2')
  FROM pg_temp.trip('d3', '2020-01-12 10:00+00', 'JPY') t \gset ignore_
-- period B: February
SELECT pg_temp.book(pg_temp.trip('d1', '2020-02-10 10:00+00'), 2000.00) \gset ignore_

CREATE TEMP VIEW my_payouts AS
SELECT p.*, drv.who, tn.name AS tenant
  FROM payouts p JOIN drv ON drv.id = p.driver_id LEFT JOIN tenants tn ON tn.id = p.tenant_id;
CREATE TEMP VIEW my_reconcile AS
SELECT r.* FROM reconcile_payouts() r
 WHERE r.driver_id IN (SELECT id FROM drv)
    OR r.payout_id IN (SELECT id FROM my_payouts)
    OR r.booking_id IN (SELECT b.id FROM bookings b JOIN trips t ON t.id = b.trip_id WHERE t.driver_id IN (SELECT id FROM drv));

-- ==================================================================== batch
-- refusals first: no partial write
SELECT pg_temp.try('SELECT steppergo.run_payout_batch(NULL)');
SELECT pg_temp.try('SELECT steppergo.run_payout_batch(now() + interval ''1 day'')');
SELECT pg_temp.try('SELECT steppergo.run_payout_batch(''infinity'')');
SELECT count(*) AS payouts_after_refusals FROM my_payouts;

SELECT run_payout_batch('2020-02-01 00:00+00') AS batch_a;
SELECT who, coalesce(tenant, '-') AS tenant, currency, amount, commission_netted, trips_count, bookings_count,
       period_start, period_end, status
  FROM my_payouts ORDER BY who, currency, tenant NULLS FIRST;
-- every booking: settled or not, its frozen split
SELECT drv.who, t.currency, b.total_amount, b.payment_method_type, b.status, b.payout_settled,
       b.platform_rate, b.platform_fee, b.driver_amount, (b.settled_at IS NOT NULL) AS has_settled_at,
       p.currency AS payout_currency
  FROM bookings b JOIN trips t ON t.id = b.trip_id JOIN drv ON drv.id = t.driver_id
  LEFT JOIN payouts p ON p.id = b.payout_id
 ORDER BY drv.who, b.id;
-- the cash booking: never paid out, its commission is owed
SELECT drv.who, c.currency, c.gross, c.platform_rate, c.amount, c.status, c.payout_id IS NULL AS not_netted
  FROM driver_commissions c JOIN drv ON drv.id = c.driver_id ORDER BY c.recorded_at;
-- never two currencies in one payout
SELECT count(*) AS mixed_currency_payouts
  FROM my_payouts p WHERE EXISTS (SELECT 1 FROM bookings b WHERE b.payout_id = p.id AND b.currency <> p.currency);
-- the payouts of one batch: UUIDv7 keys of the batch's time, sharing the
-- batch id's first 8 bytes (payout_group_id, release 0.3)
SELECT count(*) AS payouts, count(DISTINCT left(id::text, 18)) AS batch_prefixes,
       bool_and(uuid_v7_time(id) BETWEEN created_at - interval '1 minute' AND created_at + interval '1 minute')
         AS v7_time_of_batch
  FROM my_payouts;

-- idempotent: the same period again creates nothing
SELECT run_payout_batch('2020-02-01 00:00+00') AS batch_a_again;
SELECT run_payout_batch('2020-01-20 00:00+00') AS earlier_period;
SELECT count(*) AS commissions FROM driver_commissions c JOIN drv ON drv.id = c.driver_id;
-- the next period pays what completed since
SELECT run_payout_batch('2020-03-01 00:00+00') AS batch_b;
SELECT who, currency, amount, trips_count, bookings_count, period_start, period_end
  FROM my_payouts WHERE period_end = '2020-03-01 00:00+00';
SELECT run_payout_batch('2020-03-01 00:00+00') AS batch_b_again;

-- the books balance, except the yen booking no batch can pay
SELECT invariant, detail FROM my_reconcile ORDER BY invariant, detail;

-- ================================================================ lifecycle
CREATE TEMP TABLE ids AS
SELECT (SELECT id FROM my_payouts WHERE who = 'd1' AND currency = 'KZT' AND tenant IS NULL AND period_end = '2020-02-01 00:00+00') AS p1,
       (SELECT id FROM my_payouts WHERE who = 'd2' AND period_end = '2020-02-01 00:00+00') AS p2,
       (SELECT id FROM my_payouts WHERE who = 'd1' AND currency = 'USD') AS p_usd,
       (SELECT id FROM my_payouts WHERE who = 'd1' AND tenant IS NOT NULL) AS p_tenant;
SELECT p1 AS p1, p2 AS p2, p_usd AS p_usd, p_tenant AS p_tenant FROM ids \gset

-- PENDING -> PAID skips PROCESSING
SELECT pg_temp.try(format('SELECT steppergo.mark_payout_paid(%L)', :'p1'));
SELECT pg_temp.try(format('SELECT steppergo.mark_payout_failed(%L, %L)', :'p1', 'bank said no'));
-- argument refusals
SELECT pg_temp.try(format('SELECT steppergo.mark_payout_processing(%L, NULL, %L)', :'p1', 'bank_transfer'));
SELECT pg_temp.try(format('SELECT steppergo.mark_payout_processing(%L, %L, %L)', :'p1', '  ', 'bank_transfer'));
SELECT pg_temp.try(format('SELECT steppergo.mark_payout_processing(%L, %L, %L, %L)', :'p1', 'stripe', 'bank_transfer', 'tr bad id'));
SELECT pg_temp.try('SELECT steppergo.mark_payout_processing(NULL, ''stripe'', ''card'')');
SELECT pg_temp.try('SELECT steppergo.mark_payout_processing(''00000000-0000-0000-0000-000000000001'', ''stripe'', ''card'')');
SELECT pg_temp.try(format('SELECT steppergo.cancel_payout(%L, NULL)', :'p1'));
SELECT status, processed_at IS NULL AS untouched FROM payouts WHERE id = :'p1';

-- PENDING -> PROCESSING -> PAID
SELECT mark_payout_processing(:'p1', 'stripe', 'bank_transfer', 'tr_payouts_0001');
SELECT pg_temp.try(format('SELECT steppergo.mark_payout_processing(%L, %L, %L)', :'p1', 'stripe', 'card'));
SELECT mark_payout_paid(:'p1');
SELECT status, payout_provider, payout_method, stripe_transfer_id, processed_at IS NOT NULL AS processed,
       paid_at IS NOT NULL AS paid FROM payouts WHERE id = :'p1';
SELECT who, total_earnings FROM drivers JOIN drv USING (id) ORDER BY who;
SELECT pg_temp.try(format('SELECT steppergo.cancel_payout(%L, %L)', :'p1', 'too late'));
SELECT pg_temp.try(format('SELECT steppergo.mark_payout_paid(%L)', :'p1'));

-- the transfer id is unique
SELECT pg_temp.try(format('SELECT steppergo.mark_payout_processing(%L, %L, %L, %L)', :'p2', 'stripe', 'bank_transfer', 'tr_payouts_0001'));
-- PROCESSING -> FAILED releases the bookings for the next batch
SELECT mark_payout_processing(:'p2', 'stripe', 'bank_transfer', 'tr_payouts_0002');
SELECT mark_payout_failed(:'p2', 'account closed');
SELECT status, failure_reason, failed_at IS NOT NULL AS failed FROM payouts WHERE id = :'p2';
SELECT count(*) AS still_settled FROM bookings WHERE payout_id = :'p2';
SELECT platform_fee, driver_amount FROM payout_released_bookings WHERE payout_id = :'p2' ORDER BY driver_amount;
SELECT pg_temp.try(format('SELECT steppergo.mark_payout_paid(%L)', :'p2'));
SELECT pg_temp.try(format('SELECT steppergo.cancel_payout(%L, %L)', :'p2', 'again'));
-- PENDING -> CANCELLED releases them too
SELECT cancel_payout(:'p_usd', 'wrong bank account');
SELECT status, failure_reason, cancelled_at IS NOT NULL AS cancelled FROM payouts WHERE id = :'p_usd';
-- PROCESSING -> CANCELLED
SELECT mark_payout_processing(:'p_tenant', 'kaspi', 'card');
SELECT cancel_payout(:'p_tenant', 'duplicate');
-- the next batch pays the released bookings again, in new payouts
SELECT run_payout_batch('2020-03-01 00:00+00') AS batch_after_release;
SELECT who, coalesce(tenant, '-') AS tenant, currency, amount, bookings_count, period_start, status
  FROM my_payouts WHERE period_end = '2020-03-01 00:00+00' ORDER BY who, currency, tenant NULLS FIRST, period_start;
SELECT action_type, count(*) FROM admin_actions
 WHERE target_type = 'payout' AND target_id IN (SELECT id::text FROM my_payouts)
 GROUP BY action_type ORDER BY action_type;
SELECT details ->> 'from' AS from_status, details ->> 'to' AS to_status, details ->> 'reason' AS reason,
       details ->> 'bookings_released' AS released
  FROM admin_actions WHERE target_type = 'payout' AND target_id = :'p2' ORDER BY created_at, id;
SELECT invariant, detail FROM my_reconcile ORDER BY invariant, detail;

-- ==================================================== callers through the API
DROP ROLE IF EXISTS payouts_api;
CREATE ROLE payouts_api NOLOGIN;
GRANT USAGE ON SCHEMA steppergo TO payouts_api;
SELECT user_id AS d1_user FROM drv WHERE who = 'd1' \gset
SELECT id AS d1 FROM drv WHERE who = 'd1' \gset
SELECT id AS d2 FROM drv WHERE who = 'd2' \gset
SELECT id AS admin_user FROM users WHERE email = 'admin@payouts.test' \gset

BEGIN;
SET LOCAL ROLE payouts_api;
SELECT set_config('request.jwt.claims', json_build_object('sub', :'d1_user', 'app_role', 'DRIVER')::text, true) IS NOT NULL AS driver_token;
SELECT pg_temp.try('SELECT steppergo.run_payout_batch(''2020-03-01'')');
SELECT pg_temp.try('SELECT * FROM steppergo.reconcile_payouts()');
SELECT pg_temp.try(format('SELECT steppergo.mark_payout_processing(%L, %L, %L)', :'p_tenant', 'stripe', 'card'));
SELECT pg_temp.try(format('SELECT steppergo.cancel_payout(%L, %L)', :'p1', 'mine'));
SELECT pg_temp.try(format('SELECT * FROM steppergo.driver_statement(%L, %L, %L)', :'d2', '2020-01-01', '2021-01-01'));
SELECT count(*) AS own_statement_rows FROM driver_statement(:'d1', '2020-01-01', '2021-01-01');
ROLLBACK;

BEGIN;
SET LOCAL ROLE payouts_api;
SELECT set_config('request.jwt.claims', '{"role": "anon"}', true) IS NOT NULL AS anon_token;
SELECT pg_temp.try(format('SELECT * FROM steppergo.driver_statement(%L, %L, %L)', :'d1', '2020-01-01', '2021-01-01'));
SELECT pg_temp.try(format('SELECT steppergo.cancel_payout(%L, %L)', :'p1', 'anon'));
ROLLBACK;

-- an admin of another tenant may not touch the platform's payouts
SELECT id AS other_tenant FROM tenants WHERE name = 'Payouts Default Rate' \gset
SELECT id AS p2_new FROM payouts WHERE driver_id = :'d2' AND status = 'PENDING' \gset
BEGIN;
SET LOCAL ROLE payouts_api;
SELECT set_config('request.jwt.claims', json_build_object('sub', :'admin_user', 'app_role', 'ADMIN',
       'tenant_id', :'other_tenant')::text, true) IS NOT NULL AS tenant_admin_token;
SELECT pg_temp.try(format('SELECT steppergo.cancel_payout(%L, %L)', :'p2_new', 'other tenant'));
ROLLBACK;

-- the platform's admin may, and the audit row names them
BEGIN;
SET LOCAL ROLE payouts_api;
SELECT set_config('request.jwt.claims', json_build_object('sub', :'admin_user', 'app_role', 'ADMIN')::text, true) IS NOT NULL AS admin_token;
SELECT count(*) > 0 AS admin_reads_statement FROM driver_statement(:'d2', '2020-01-01', '2021-01-01');
SELECT pg_temp.try(format('SELECT steppergo.mark_payout_processing(%L, %L, %L, %L)', :'p2_new', 'stripe', 'bank_transfer', 'tr_payouts_0003'));
SELECT pg_temp.try(format('SELECT steppergo.mark_payout_paid(%L)', :'p2_new'));
COMMIT;
SELECT a.action_type, a.admin_id = :'admin_user' AS by_admin
  FROM admin_actions a JOIN payouts p ON a.target_id = p.id::text
 WHERE p.stripe_transfer_id = 'tr_payouts_0003' ORDER BY a.created_at, a.id;
SELECT who, total_earnings FROM drivers JOIN drv USING (id) ORDER BY who;

-- ================================================================ statement
SELECT completed_at, payment_method, currency, gross, platform_rate, platform_fee, driver_amount, split_frozen,
       payout_status, commission_status
  FROM driver_statement(:'d1', '2020-01-01', '2020-03-01');
SELECT count(*) AS rows_of_one_day FROM driver_statement(:'d1', '2020-01-06', '2020-01-07');
SELECT pg_temp.try(format('SELECT * FROM steppergo.driver_statement(%L, %L, %L)', :'d1', '2020-03-01', '2020-01-01'));
SELECT pg_temp.try(format('SELECT * FROM steppergo.driver_statement(%L, %L, %L)', '00000000-0000-0000-0000-000000000002', '2020-01-01', '2020-03-01'));
SELECT pg_temp.try(format('SELECT * FROM steppergo.driver_statement(%L, NULL, %L)', :'d1', '2020-03-01'));

-- ================================== netting cash commissions against payouts
-- period C: d1 takes 4,000 in cash (owes 600) and earns 4,250 online; d1
-- already owes 750 from January.  d2 owes 15,000 on a big cash fare and earns
-- only 850 online: nothing fits, nothing is netted.
SELECT pg_temp.book(t, 4000.00, 'CASH_TO_DRIVER'), pg_temp.book(t, 5000.00, 'ONLINE', 'p2')
  FROM pg_temp.trip('d1', '2020-03-05 10:00+00') t \gset ignore_
SELECT pg_temp.book(t, 100000.00, 'CASH_TO_DRIVER'), pg_temp.book(t, 1000.00, 'ONLINE', 'p2')
  FROM pg_temp.trip('d2', '2020-03-06 10:00+00') t \gset ignore_
SET steppergo.payout_net_cash_commission = on;
SELECT run_payout_batch('2020-04-01 00:00+00') AS batch_c_netted;
SELECT who, currency, amount, commission_netted, bookings_count FROM my_payouts
 WHERE period_end = '2020-04-01 00:00+00' ORDER BY who;
SELECT drv.who, c.gross, c.amount, c.status FROM driver_commissions c JOIN drv ON drv.id = c.driver_id ORDER BY drv.who, c.recorded_at, c.gross;
SELECT invariant, detail FROM my_reconcile ORDER BY invariant, detail;
-- cancelling the netted payout gives the commissions back: OWED again
SELECT id AS p_net FROM my_payouts WHERE who = 'd1' AND period_end = '2020-04-01 00:00+00' \gset
SELECT cancel_payout(:'p_net', 'recalculate');
SELECT drv.who, c.amount, c.status FROM driver_commissions c JOIN drv ON drv.id = c.driver_id WHERE drv.who = 'd1' ORDER BY c.recorded_at;
SELECT run_payout_batch('2020-04-01 00:00+00') AS batch_c_again;
SELECT who, amount, commission_netted, status FROM my_payouts WHERE period_end = '2020-04-01 00:00+00' ORDER BY who, created_at;
RESET steppergo.payout_net_cash_commission;
SELECT pg_temp.try('SET steppergo.payout_net_cash_commission = maybe');

-- the driver pays an owed commission directly
SELECT id AS c_owed FROM driver_commissions WHERE driver_id = :'d2' AND status = 'OWED' \gset
SELECT id AS c_netted FROM driver_commissions WHERE driver_id = :'d1' AND status = 'NETTED' ORDER BY recorded_at LIMIT 1 \gset
SELECT pg_temp.try(format('SELECT steppergo.record_commission_payment(%L, %L)', :'c_netted', 'receipt 1'));
SELECT record_commission_payment(:'c_owed', 'Kaspi receipt 42');
SELECT status, reference, paid_at IS NOT NULL AS paid FROM driver_commissions WHERE id = :'c_owed';
SELECT pg_temp.try(format('SELECT steppergo.record_commission_payment(%L, %L)', :'c_owed', 'twice'));
SELECT pg_temp.try('SELECT steppergo.record_commission_payment(''00000000-0000-0000-0000-000000000003'', ''x'')');
SELECT payment_method, gross, platform_fee, commission_status
  FROM driver_statement(:'d2', '2020-03-01', '2020-04-01');

-- ============================================================ reconciliation
SELECT invariant, detail FROM my_reconcile ORDER BY invariant, detail;
-- break the books on purpose (in a transaction rolled back): each kind of
-- damage is reported
BEGIN;
ALTER TABLE bookings DROP CONSTRAINT bookings_split_exact;
UPDATE bookings SET driver_amount = driver_amount + 0.01
 WHERE id = (SELECT id FROM bookings WHERE payout_id = :'p1' ORDER BY id LIMIT 1);
UPDATE bookings SET payout_id = NULL
 WHERE id = (SELECT id FROM bookings WHERE payout_id = :'p1' ORDER BY id DESC LIMIT 1);
UPDATE drivers SET total_earnings = total_earnings + 1 WHERE id = :'d2';
UPDATE payouts SET status = 'PENDING' WHERE id = :'p_usd';
UPDATE driver_commissions SET amount = amount - 1 WHERE id = :'c_owed';
SELECT invariant, count(*) FROM my_reconcile GROUP BY invariant ORDER BY invariant;
ROLLBACK;
SELECT count(*) AS violations_after_rollback FROM my_reconcile WHERE invariant <> 'unpayable_booking';

-- ============================================ payout ids within a batch
-- payout_group_id (release 0.3): the payout id of a (driver, tenant,
-- currency) group, a pure function of the batch id and the group.  Every
-- part of the group counts (a NULL tenant is not the all-zero uuid), the
-- first 8 bytes are the batch id's (time-ordered UUIDv7), the variant bits
-- are RFC 9562's.
SELECT payout_group_id(b, d, NULL, 'KZT') = payout_group_id(b, d, NULL, 'KZT') AS same_group_same_id,
       payout_group_id(b, d, NULL, 'KZT') <> payout_group_id(b, d, NULL, 'USD') AS by_currency,
       payout_group_id(b, d, NULL, 'KZT') <> payout_group_id(b, d, t, 'KZT') AS by_tenant,
       payout_group_id(b, d, NULL, 'KZT') <> payout_group_id(b, d, '00000000-0000-0000-0000-000000000000', 'KZT')
         AS null_tenant_not_zero,
       payout_group_id(b, d, t, 'KZT') <> payout_group_id(b, d2, t, 'KZT') AS by_driver,
       payout_group_id(b, d, t, 'KZT') <> payout_group_id(b2, d, t, 'KZT') AS by_batch,
       left(payout_group_id(b, d, t, 'KZT')::text, 18) = left(b::text, 18) AS batch_prefix,
       uuid_v7_time(payout_group_id(b, d, t, 'KZT')) = uuid_v7_time(b) AS batch_time,
       substr(payout_group_id(b, d, t, 'KZT')::text, 20, 1) IN ('8', '9', 'a', 'b') AS rfc_variant
  FROM (VALUES ('01a24a57-e2dd-73a0-abab-fdb470b01e21'::uuid, '01a24a57-e2dd-73a0-abab-fdb470b01e22'::uuid,
                '01a24a38-5d1c-7261-b7a1-52c18430c6e1'::uuid, '01a24a38-5d1c-7261-b7a1-52c18430c6e2'::uuid,
                '01a24a38-5d1c-7261-87a1-52c18430c6e3'::uuid)) v(b, b2, d, d2, t);
-- 300,000 groups of one batch (100,000 drivers, with and without a tenant,
-- two currencies): 300,000 distinct ids
SELECT count(DISTINCT payout_group_id('01a24a57-e2dd-73a0-abab-fdb470b01e21', d, t, c)) AS distinct_ids
  FROM (SELECT gen_random_uuid() AS d FROM generate_series(1, 100000)) drivers,
       (VALUES (NULL::uuid), ('01a24a38-5d1c-7261-87a1-52c18430c6e3')) tn(t), (VALUES ('KZT'), ('USD')) cu(c)
 WHERE (t IS NULL) OR c = 'KZT';
SELECT pg_temp.try('SELECT steppergo.payout_group_id(NULL, gen_random_uuid(), NULL, ''KZT'')');
SELECT pg_temp.try('SELECT steppergo.payout_group_id(gen_random_uuid(), NULL, NULL, ''KZT'')');
SELECT pg_temp.try('SELECT steppergo.payout_group_id(gen_random_uuid(), gen_random_uuid(), NULL, NULL)');
SELECT pg_temp.try('SELECT steppergo.payout_group_id(gen_random_uuid(), gen_random_uuid(), NULL, '''')');

-- the job: daily at 02:00 in Almaty = 21:00 UTC
SELECT name, schedule, command FROM job_definitions WHERE name = 'steppergo_payout_batch';
SELECT split_part(signature, '(', 1) AS function, audience FROM api_functions
 WHERE signature ~ '^(run_payout_batch|reconcile_payouts|driver_statement|mark_payout|cancel_payout|record_commission|payout_split)'
 ORDER BY signature;

REVOKE USAGE ON SCHEMA steppergo FROM payouts_api;
DROP ROLE payouts_api;
