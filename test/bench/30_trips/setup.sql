-- Trips bench: 1,000 published SHARED trips of 60 seats (at scale 1) plus
-- one hot trip, and one passenger per pgbench client.  Every scenario books
-- a seat and cancels it again (two transactions), so seats never run out
-- and the invariant is exercised by real concurrent bookings and releases.
\if :{?scale}
\else
\set scale 1
\endif
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench_meta, bench_trip_ids, bench_trip_users;
CREATE TABLE bench_meta (key text PRIMARY KEY, value text);

INSERT INTO steppergo.users (email, phone, name, role)
SELECT 'bench.pax' || g || '@trips.test', '+7903' || lpad((9000000 + g)::text, 7, '0'), 'Bench Passenger ' || g, 'PASSENGER'
  FROM generate_series(0, 63) g;
CREATE TABLE bench_trip_users AS
SELECT (regexp_match(email, '^bench\.pax([0-9]+)@'))[1]::int AS n, id AS user_id
  FROM steppergo.users WHERE email LIKE 'bench.pax%@trips.test';
ALTER TABLE bench_trip_users ADD PRIMARY KEY (n);

INSERT INTO steppergo.trips (title, organizer_id, departure_time, origin_name, origin_lat, origin_lng,
                             dest_name, dest_lat, dest_lng, total_seats, status, trip_type, price_per_seat,
                             published_at)
SELECT 'bench trip ' || g, (SELECT user_id FROM bench_trip_users WHERE n = 0), now() + interval '30 days',
       'Dostyk Plaza', 43.233, 76.956, 'Almaty Airport', 43.352, 77.040, 60, 'PUBLISHED', 'SHARED', 4500, now()
  FROM generate_series(0, greatest(10, (1000 * :scale)::int)) g;
CREATE TABLE bench_trip_ids AS
SELECT (regexp_match(title, '^bench trip ([0-9]+)$'))[1]::int AS n, id AS trip_id
  FROM steppergo.trips WHERE title LIKE 'bench trip %';
ALTER TABLE bench_trip_ids ADD PRIMARY KEY (n);
VACUUM ANALYZE steppergo.users, steppergo.trips, steppergo.bookings, bench_trip_ids, bench_trip_users;
-- trip 0 is the hot trip; 1..ntrips the spread
INSERT INTO bench_meta SELECT 'ntrips', (count(*) - 1)::text FROM bench_trip_ids;
