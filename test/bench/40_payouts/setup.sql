-- Payout batch data set: at scale 1, 1,000,000 COMPLETED ONLINE bookings
-- (4 per trip, 250,000 trips) over 10,000 drivers, none settled yet; trips
-- completed over the last 30 days, 10 % of them for a tenant with its own
-- rate (12 %), 2 % in USD, the rest KZT.  Deterministic (setseed).
-- bench_meta: p10 = epoch of the instant before which exactly the first
-- 10 % of trips (so 10 % of the bookings) completed, for the 100,000-booking
-- case.  Also loaded by test/t/40_payouts_crash.pl at scale 0.2.
\if :{?scale}
\else
\set scale 1
\endif
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench_meta;
CREATE TABLE bench_meta (key text PRIMARY KEY, value text);
SELECT setseed(0.4040);

INSERT INTO steppergo.tenants (name, platform_rate) VALUES ('Bench Payouts Tenant', 0.12)
ON CONFLICT (name) DO NOTHING;

INSERT INTO steppergo.users (email, phone, name, password_hash, role)
SELECT 'bench.driver' || g || '@payouts.test', '+79041' || lpad(g::text, 6, '0'), 'Bench Driver ' || g, 'x', 'DRIVER'
  FROM generate_series(1, greatest(1, (10000 * :scale)::int)) g;
INSERT INTO steppergo.users (email, phone, name, password_hash, role)
SELECT 'bench.passenger' || g || '@payouts.test', '+79042' || lpad(g::text, 6, '0'), 'Bench Passenger ' || g, 'x', 'PASSENGER'
  FROM generate_series(1, 100) g;
INSERT INTO steppergo.drivers (user_id, status, approval_status)
SELECT id, 'APPROVED', 'APPROVED' FROM steppergo.users WHERE email LIKE 'bench.driver%@payouts.test';

CREATE TEMP TABLE bd AS
SELECT row_number() OVER (ORDER BY d.id)::int AS n, d.id
  FROM steppergo.drivers d JOIN steppergo.users u ON u.id = d.user_id WHERE u.email LIKE 'bench.driver%@payouts.test';
CREATE TEMP TABLE bp AS
SELECT row_number() OVER (ORDER BY id)::int AS n, id FROM steppergo.users WHERE email LIKE 'bench.passenger%@payouts.test';

-- Bulk load: trips and bookings go in with triggers and foreign-key checks
-- off (session_replication_role = replica; every reference is valid by
-- construction, CHECK constraints still apply), so that other domains' row
-- triggers (conversations per trip, ...) do not slow the load down.
SET session_replication_role = replica;

-- trips: completed one after another over the last 30 days (trip g at
-- g/ntrips of the way), each with a random driver
CREATE TEMP TABLE bt AS
SELECT g, now() - interval '30 days' + (interval '30 days' * g / n) AS completed_at,
       1 + (random() * ((SELECT count(*) FROM bd) - 1))::int AS dn,
       random() AS r
  FROM (SELECT g, (250000 * :scale)::int AS n FROM generate_series(1, greatest(1, (250000 * :scale)::int)) g) s;
INSERT INTO steppergo.trips (title, organizer_id, driver_id, departure_time, origin_name, origin_lat, origin_lng,
                             dest_name, dest_lat, dest_lng, total_seats, available_seats, currency, status, trip_type,
                             price_per_seat, tenant_id, completed_at)
SELECT 'Bench payout trip ' || bt.g, (SELECT id FROM bp WHERE n = 1), bd.id, bt.completed_at - interval '2 hours',
       'Almaty', 43.238, 76.889, 'Shymbulak', 43.128, 77.081, 4, 0,
       CASE WHEN bt.r < 0.02 THEN 'USD' ELSE 'KZT' END, 'COMPLETED', 'SHARED', 2500,
       CASE WHEN bt.r >= 0.90 THEN (SELECT id FROM steppergo.tenants WHERE name = 'Bench Payouts Tenant') END,
       bt.completed_at
  FROM bt JOIN bd ON bd.n = bt.dn;

INSERT INTO steppergo.bookings (trip_id, user_id, status, seats_booked, total_amount, currency, payment_method_type,
                                created_at, confirmed_at, completed_at)
SELECT t.id, bp.id, 'COMPLETED', 1, round((1000 + random() * 19000)::numeric, 2), t.currency, 'ONLINE',
       t.completed_at - interval '3 days', t.completed_at - interval '3 days', t.completed_at
  FROM steppergo.trips t
  CROSS JOIN generate_series(1, 4) k
  JOIN bp ON bp.n = 1 + (abs(hashint4(k * 7919 + length(t.title))) % 100)
 WHERE t.title LIKE 'Bench payout trip %';

RESET session_replication_role;

-- Every scenario rolls back an update of up to 1,000,000 bookings.  Without
-- autovacuum on these tables no background vacuum runs during a measurement
-- (it would land on whichever scenario follows a big rollback); reset.sql
-- clears the dead rows of each run, untimed, before the next one.
ALTER TABLE steppergo.bookings SET (autovacuum_enabled = false);
ALTER TABLE steppergo.payouts SET (autovacuum_enabled = false);
ALTER TABLE steppergo.driver_commissions SET (autovacuum_enabled = false);

VACUUM ANALYZE steppergo.users, steppergo.drivers, steppergo.trips, steppergo.bookings, steppergo.payouts, steppergo.tenants;
INSERT INTO bench_meta
SELECT 'p10', floor(extract(epoch FROM completed_at))::bigint::text
  FROM (SELECT completed_at FROM bt ORDER BY g OFFSET greatest(1, (25000 * :scale)::int) LIMIT 1) s;
