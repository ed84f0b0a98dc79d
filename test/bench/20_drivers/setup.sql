-- Drivers bench: live location ingest.  100,000 approved drivers (at scale 1)
-- with a live position around Almaty, and pre-built JSON batches of 100 and
-- 1,000 pings with fresh positions (so every write moves the point and
-- updates the GiST index, as real pings do).  Deterministic (setseed).
\if :{?scale}
\else
\set scale 1
\endif
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench_meta, bench20_drivers, bench20_batches;
CREATE TABLE bench_meta (key text PRIMARY KEY, value text);
SELECT setseed(0.20);

INSERT INTO steppergo.users (email, phone, name, password_hash, role)
SELECT 'bench20.' || g || '@drivers.test', '+79021' || lpad(g::text, 6, '0'), 'Bench20 Driver ' || g, 'x', 'DRIVER'
  FROM generate_series(1, greatest(2000, (100000 * :scale)::int)) g;
-- a live fleet: every driver has been pinging, so its last_activity_at and
-- the throttle mark of its position row lie within the last minute (the
-- throttle then fires on its real schedule, once a minute per driver, not
-- on every driver's first ping of the run)
INSERT INTO steppergo.drivers (user_id, status, availability, last_activity_at)
SELECT u.id, 'APPROVED', 'ONLINE', now() - random() * interval '1 minute'
  FROM steppergo.users u WHERE u.email LIKE 'bench20.%@drivers.test';
-- each with an active vehicle (a fifth of them minivans), as online drivers
-- have: their pings then maintain dispatch's indexes of driver_locations
-- (driver_locations_dispatch_idx, and the large-vehicle one for minivans)
-- exactly as in production, on both sides of every comparison
INSERT INTO steppergo.vehicles (driver_id, make, model, license_plate, type, passenger_capacity)
SELECT d.id, 'Toyota', 'Camry', 'B20' || lpad(row_number() OVER ()::text, 7, '0'), 'SEDAN',
       CASE WHEN random() < 0.8 THEN 4 ELSE 7 END
  FROM steppergo.drivers d JOIN steppergo.users u ON u.id = d.user_id
 WHERE u.email LIKE 'bench20.%@drivers.test';
CREATE TABLE bench20_drivers AS
SELECT row_number() OVER (ORDER BY d.id)::int AS n, d.id AS driver_id
  FROM steppergo.drivers d JOIN steppergo.users u ON u.id = d.user_id
 WHERE u.email LIKE 'bench20.%@drivers.test';
ALTER TABLE bench20_drivers ADD PRIMARY KEY (n);
INSERT INTO steppergo.driver_locations (driver_id, latitude, longitude, heading, speed, accuracy, last_updated,
                                        activity_synced_at)
SELECT b.driver_id, 43.238 + (random() - 0.5) * 0.27, 76.889 + (random() - 0.5) * 0.37,
       random() * 360, random() * 20, 5, now(), d.last_activity_at
  FROM bench20_drivers b JOIN steppergo.drivers d ON d.id = b.driver_id;

-- batches: consecutive runs of drivers from a random start, fresh positions
CREATE TABLE bench20_batches (size int, k int, pings jsonb, PRIMARY KEY (size, k));
INSERT INTO bench20_batches
SELECT s.size, k,
       (SELECT jsonb_agg(jsonb_build_object(
                 'driver_id', b.driver_id,
                 'lat', round((43.238 + (random() - 0.5) * 0.27)::numeric, 6),
                 'lng', round((76.889 + (random() - 0.5) * 0.37)::numeric, 6),
                 'heading', round((random() * 360)::numeric, 1),
                 'speed', round((random() * 20)::numeric, 2),
                 'accuracy', 5) ORDER BY b.n)
          FROM bench20_drivers b
         WHERE b.n > st.start AND b.n <= st.start + s.size)
  FROM (VALUES (100, 200), (1000, 40)) s(size, nbatches)
 CROSS JOIN LATERAL generate_series(1, s.nbatches) k
 CROSS JOIN LATERAL (SELECT floor(random() * ((SELECT count(*) FROM bench20_drivers) - s.size + k * 0))::int AS start) st;
VACUUM ANALYZE steppergo.users, steppergo.drivers, steppergo.vehicles, steppergo.driver_locations, bench20_drivers, bench20_batches;
INSERT INTO bench_meta SELECT 'nd20', count(*)::text FROM bench20_drivers;
-- the live pool of location_single (drivers 1..nd20_live ping every ~4 s)
INSERT INTO bench_meta SELECT 'nd20_live', least(count(*), 20000)::text FROM bench20_drivers;
INSERT INTO bench_meta VALUES ('nb100', '200'), ('nb1000', '40');
