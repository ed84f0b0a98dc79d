-- Dispatch bench: two worlds in one data set of 1,000,000 drivers (scale 1).
--   almaty  100,000 ONLINE drivers in a 30 x 30 km box over Almaty
--           (43.10..43.37 N, 76.72..77.09 E), the city's share of the fleet;
--   kz      900,000 more across Kazakhstan: 60 % around the other cities by
--           population, 40 % anywhere in the country's bounding box; 70 %
--           ONLINE.  Queries of the kz world start anywhere in the country
--           (Almaty included), so they meet both dense cities and empty steppe.
-- Every driver APPROVED with one active vehicle (4, 7 or 15 seats), a rating
-- and an acceptance rate; 5 % have a daily recurring break, 1 % a one-off
-- unavailable period, 2 % are assigned to a trip; trips ask 1..6 seats, mixed
-- PRIVATE/SHARED, departing within two days.
-- Positions are stamped at load time; the bench database raises
-- steppergo.dispatch_position_max_age so that they stay fresh while it runs
-- (a live fleet would keep re-sending them).
-- Deterministic (setseed).  Users: *@dispatch.test, phones +7909NNNNNNN.
\if :{?scale}
\else
\set scale 1
\endif
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench_meta, bench_dispatch_trips;
CREATE TABLE IF NOT EXISTS bench_meta (key text PRIMARY KEY, value text);
SELECT setseed(0.25);
SELECT format('ALTER DATABASE %I SET steppergo.dispatch_position_max_age = %L', current_database(), '7d') \gexec

CREATE TEMP TABLE cities (name text, lat float8, lng float8, weight float8);
INSERT INTO cities VALUES
  ('Astana', 51.169, 71.449, 0.29), ('Shymkent', 42.317, 69.596, 0.23),
  ('Karaganda', 49.806, 73.085, 0.12), ('Aktobe', 50.283, 57.167, 0.10), ('Taraz', 42.900, 71.367, 0.08),
  ('Pavlodar', 52.287, 76.967, 0.07), ('Oskemen', 49.948, 82.628, 0.07), ('Atyrau', 47.117, 51.883, 0.04);

-- city by cumulative weight (no per-row lookup)
CREATE TEMP TABLE cum AS
SELECT name, lat, lng, sum(weight) OVER (ORDER BY name) AS upto FROM cities;
CREATE TEMP TABLE gen AS
SELECT g AS n, true AS almaty,
       43.10 + random() * 0.27 AS lat, 76.72 + random() * 0.37 AS lng
  FROM generate_series(1, (100000 * :scale)::int) g;
INSERT INTO gen
SELECT (100000 * :scale)::int + s.g, false,
       CASE WHEN s.r < 0.6 THEN c.lat + (random() - 0.5) * 0.25 ELSE 40.6 + random() * 14.8 END,
       CASE WHEN s.r < 0.6 THEN c.lng + (random() - 0.5) * 0.35 ELSE 46.5 + random() * 40.8 END
  FROM (SELECT g, random() AS r, (random() * 99)::int AS pick FROM generate_series(1, (900000 * :scale)::int) g) s
  JOIN (SELECT c.*, p FROM cum c, generate_series(0, 100) p
         WHERE p <= c.upto * 100
           AND p > coalesce((SELECT max(c2.upto) FROM cum c2 WHERE c2.upto < c.upto), -1) * 100) c
    ON c.p = s.pick;

CREATE TEMP TABLE gd AS
SELECT g.*, steppergo.uuid_generate_v7() AS user_id, steppergo.uuid_generate_v7() AS driver_id FROM gen g;
INSERT INTO steppergo.users (id, email, phone, name, password_hash, role)
SELECT user_id, 'bench.driver' || n || '@dispatch.test', '+7909' || lpad(n::text, 7, '0'), 'Dispatch Driver ' || n, 'x', 'DRIVER'
  FROM gd;
INSERT INTO steppergo.users (email, phone, name, password_hash, role)
VALUES ('bench.organizer@dispatch.test', '+79099999999', 'Dispatch Organizer', 'x', 'PASSENGER');

INSERT INTO steppergo.drivers (id, user_id, status, approval_status, availability, accepts_private_trips,
                               accepts_shared_trips, rating, review_count, acceptance_rate)
SELECT driver_id, user_id, 'APPROVED', 'APPROVED',
       CASE WHEN almaty OR random() < 0.7 THEN 'ONLINE' ELSE 'OFFLINE' END::steppergo.driver_availability,
       random() < 0.95, random() < 0.8, round((3.5 + random() * 1.5)::numeric, 2), 1 + (random() * 300)::int,
       round((0.5 + random() * 0.5)::numeric, 4)
  FROM gd;
INSERT INTO steppergo.vehicles (driver_id, make, model, license_plate, type, passenger_capacity)
SELECT driver_id, 'Toyota', 'Camry', lpad(n::text, 9, '0'), 'SEDAN',
       CASE WHEN random() < 0.8 THEN 4 WHEN random() < 0.75 THEN 7 ELSE 15 END
  FROM gd;
INSERT INTO steppergo.driver_locations (driver_id, latitude, longitude, heading, speed, accuracy, last_updated)
SELECT driver_id, lat, lng, random() * 359, random() * 20, 5, now()
  FROM gd;
-- breaks: 5 % daily 13:00-14:00 local, 1 % unavailable for the next three hours
INSERT INTO steppergo.driver_availability_schedules (driver_id, start_time, end_time, schedule_type, is_recurring, recurring_pattern)
SELECT driver_id, timestamptz '2025-01-01 13:00 Asia/Almaty', timestamptz '2025-01-01 14:00 Asia/Almaty',
       'BREAK', true, '{"freq": "DAILY"}'
  FROM gd WHERE n % 20 = 0;
INSERT INTO steppergo.driver_availability_schedules (driver_id, start_time, end_time, schedule_type)
SELECT driver_id, now(), now() + interval '3 hours', 'UNAVAILABLE'
  FROM gd WHERE n % 100 = 7;

-- query trips: 2,000 in the Almaty box, 2,000 across the country (origins
-- drawn like the drivers, Almaty included)
CREATE TABLE bench_dispatch_trips (world text, n int, trip_id uuid, PRIMARY KEY (world, n));
CREATE TEMP TABLE tgen AS
SELECT 'almaty' AS world, g AS n, 43.10 + random() * 0.27 AS lat, 76.72 + random() * 0.37 AS lng
  FROM generate_series(1, 2000) g
UNION ALL
SELECT 'kz', g,
       CASE WHEN r < 0.6 THEN c.lat + (random() - 0.5) * 0.25 ELSE 40.6 + random() * 14.8 END,
       CASE WHEN r < 0.6 THEN c.lng + (random() - 0.5) * 0.35 ELSE 46.5 + random() * 40.8 END
  FROM (SELECT g, random() AS r, random() AS pick FROM generate_series(1, 2000) g) s
  LEFT JOIN LATERAL (
    SELECT * FROM (SELECT *, sum(weight) OVER (ORDER BY name)
                     FROM (SELECT * FROM cities UNION ALL SELECT 'Almaty', 43.238, 76.889, 0.30) c0) w
     WHERE w.sum * (1 / 1.30) >= s.pick ORDER BY w.sum LIMIT 1) c ON true;
INSERT INTO bench_dispatch_trips
SELECT world, n, steppergo.uuid_generate_v7() FROM tgen;
INSERT INTO steppergo.trips (id, title, organizer_id, departure_time, origin_name, origin_lat, origin_lng,
                             dest_name, dest_lat, dest_lng, total_seats, status, trip_type, price_per_seat, base_price)
SELECT b.trip_id, 'Bench trip ' || b.world || ' ' || b.n, (SELECT id FROM steppergo.users WHERE email = 'bench.organizer@dispatch.test'),
       now() + (random() * 48) * interval '1 hour', 'Pickup', g.lat, g.lng, 'Destination', g.lat + 0.05, g.lng + 0.05,
       CASE WHEN random() < 0.7 THEN 1 + (random() * 3)::int ELSE 4 + (random() * 2)::int END,
       'PUBLISHED', CASE WHEN random() < 0.5 THEN 'PRIVATE' ELSE 'SHARED' END::steppergo.trip_type, 2000, 10000
  FROM bench_dispatch_trips b JOIN tgen g USING (world, n);
-- 2 % of the drivers are assigned to a trip of their own within two days
INSERT INTO steppergo.trips (title, organizer_id, driver_id, departure_time, origin_name, origin_lat, origin_lng,
                             dest_name, dest_lat, dest_lng, total_seats, status, trip_type, base_price)
SELECT 'Assigned trip ' || n, (SELECT id FROM steppergo.users WHERE email = 'bench.organizer@dispatch.test'), driver_id,
       now() + (random() * 48) * interval '1 hour', 'Pickup', lat, lng, 'Destination', lat + 0.05, lng + 0.05,
       2, 'PUBLISHED', 'PRIVATE', 10000
  FROM gd WHERE n % 50 = 3;

ANALYZE steppergo.users, steppergo.drivers, steppergo.vehicles, steppergo.driver_locations,
        steppergo.driver_availability_schedules, steppergo.trips, steppergo.trip_acceptance_logs,
        steppergo.trip_driver_visibility, bench_dispatch_trips;
INSERT INTO bench_meta VALUES ('ntrips_dispatch', '2000')
  ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;
