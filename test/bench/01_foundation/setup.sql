-- Foundation baselines: 1,000,000 drivers (at scale 1) with a live position,
-- 60 % around the cities of Kazakhstan by population, 40 % anywhere in the
-- country's bounding box.  Deterministic (setseed).
\if :{?scale}
\else
\set scale 1
\endif
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench_meta, bench_drivers;
CREATE TABLE bench_meta (key text PRIMARY KEY, value text);
SELECT setseed(0.42);

CREATE TEMP TABLE cities (name text, lat float8, lng float8, weight float8);
INSERT INTO cities VALUES
  ('Almaty', 43.238, 76.889, 0.30), ('Astana', 51.169, 71.449, 0.20), ('Shymkent', 42.317, 69.596, 0.16),
  ('Karaganda', 49.806, 73.085, 0.08), ('Aktobe', 50.283, 57.167, 0.07), ('Taraz', 42.900, 71.367, 0.06),
  ('Pavlodar', 52.287, 76.967, 0.05), ('Oskemen', 49.948, 82.628, 0.05), ('Atyrau', 47.117, 51.883, 0.03);

CREATE TEMP TABLE gen AS
SELECT g AS n,
       CASE WHEN r < 0.6 THEN c.lat + (random() - 0.5) * 0.25 ELSE 40.6 + random() * 14.8 END AS lat,
       CASE WHEN r < 0.6 THEN c.lng + (random() - 0.5) * 0.35 ELSE 46.5 + random() * 40.8 END AS lng
  FROM (SELECT g, random() AS r, random() AS pick FROM generate_series(1, (1000000 * :scale)::int) g) s
  LEFT JOIN LATERAL (
    SELECT * FROM (SELECT *, sum(weight) OVER (ORDER BY name) AS cum FROM cities) w
     WHERE w.cum >= s.pick ORDER BY w.cum LIMIT 1) c ON true;

INSERT INTO steppergo.users (email, phone, name, password_hash, role)
SELECT 'bench.driver' || n || '@example.kz', '+7701' || lpad(n::text, 7, '0'), 'Bench Driver ' || n,
       'x', 'DRIVER'
  FROM gen;
INSERT INTO steppergo.drivers (user_id, status, availability, accepts_private_trips, accepts_shared_trips, rating)
SELECT u.id, 'APPROVED', CASE WHEN random() < 0.7 THEN 'ONLINE' ELSE 'OFFLINE' END::steppergo.driver_availability,
       true, true, 3.5 + random() * 1.5
  FROM steppergo.users u WHERE u.email LIKE 'bench.driver%';
CREATE TABLE bench_drivers AS
SELECT row_number() OVER (ORDER BY d.id)::int AS n, d.id AS driver_id
  FROM steppergo.drivers d JOIN steppergo.users u ON u.id = d.user_id WHERE u.email LIKE 'bench.driver%';
ALTER TABLE bench_drivers ADD PRIMARY KEY (n);
INSERT INTO steppergo.driver_locations (driver_id, latitude, longitude, heading, speed, accuracy, last_updated, is_active)
SELECT b.driver_id, g.lat, g.lng, random() * 359, random() * 20, 5, now(), true
  FROM bench_drivers b JOIN gen g ON g.n = b.n;
VACUUM ANALYZE steppergo.users, steppergo.drivers, steppergo.driver_locations, bench_drivers;
INSERT INTO bench_meta SELECT 'ndrivers', count(*)::text FROM bench_drivers;
