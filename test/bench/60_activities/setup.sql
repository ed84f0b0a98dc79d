-- Activities bench: 20,000 activities (at scale 1) of 2,000 verified owners
-- in 10 cities, 90 % ACTIVE, each with a cover photo and a daily 10:00 slot;
-- two reviewed, completed bookings on most of them (so ratings differ).
-- 2,000 passengers book.  Deterministic (setseed).
\if :{?scale}
\else
\set scale 1
\endif
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench_meta, bench_act, bench_pax, bench_bookable, bench_hot;
DROP FUNCTION IF EXISTS bench_try_book(uuid, uuid, date, time, integer);
CREATE TABLE bench_meta (key text PRIMARY KEY, value text);
SELECT setseed(0.60);

CREATE TEMP TABLE act_cities (n int, name text, lat float8, lng float8);
INSERT INTO act_cities VALUES
  (1, 'Almaty', 43.238, 76.889), (2, 'Astana', 51.169, 71.449), (3, 'Shymkent', 42.317, 69.596),
  (4, 'Karaganda', 49.806, 73.085), (5, 'Aktobe', 50.283, 57.167), (6, 'Taraz', 42.900, 71.367),
  (7, 'Pavlodar', 52.287, 76.967), (8, 'Oskemen', 49.948, 82.628), (9, 'Atyrau', 47.117, 51.883),
  (10, 'Turkistan', 43.297, 68.252);

INSERT INTO steppergo.users (email, phone, name, password_hash, role)
SELECT 'bench.actowner' || g || '@activities.test', '+7906' || lpad(g::text, 7, '0'), 'Bench Owner ' || g, 'x', 'ACTIVITY_OWNER'
  FROM generate_series(1, greatest(10, (2000 * :scale)::int)) g;
INSERT INTO steppergo.users (email, phone, name, password_hash, role)
SELECT 'bench.actpax' || g || '@activities.test', '+7906' || lpad((5000000 + g)::text, 7, '0'), 'Bench Pax ' || g, 'x', 'PASSENGER'
  FROM generate_series(1, greatest(10, (2000 * :scale)::int)) g;
INSERT INTO steppergo.activity_owners (user_id, business_name, verification_status, verified_at, city, categories)
SELECT u.id, 'Bench Tours ' || u.name, 'VERIFIED', now(), 'Almaty', ARRAY['TOUR']
  FROM steppergo.users u WHERE u.email LIKE 'bench.actowner%';
CREATE TEMP TABLE owners AS SELECT row_number() OVER (ORDER BY id)::int AS n, id FROM steppergo.activity_owners
 WHERE business_name LIKE 'Bench Tours %';

INSERT INTO steppergo.activities (owner_id, title, category, status, city, latitude, longitude, price_per_person,
                                  min_participants, max_participants, duration_minutes, published_at,
                                  group_pricing, cancellation_policy, advance_booking_days, min_notice_hours)
SELECT o.id, 'Bench activity ' || g, (steppergo.activity_categories())[1 + (g % 14)],
       CASE WHEN g % 10 = 0 THEN 'PAUSED' ELSE 'ACTIVE' END, c.name,
       c.lat + (random() - 0.5) * 0.4, c.lng + (random() - 0.5) * 0.5, 5000 + (g % 20) * 1000,
       1, 10000, 240, now() - interval '30 days',
       '[{"minParticipants":5,"maxParticipants":10,"pricePerPerson":4000}]',
       '{"tiers":[{"hoursBefore":48,"refundPercent":100},{"hoursBefore":24,"refundPercent":50}]}', 90, 2
  FROM generate_series(1, greatest(100, (20000 * :scale)::int)) g
  JOIN owners o ON o.n = 1 + g % (SELECT count(*) FROM owners)
  JOIN act_cities c ON c.n = 1 + (g / 7) % 10;
CREATE TABLE bench_act AS SELECT row_number() OVER (ORDER BY id)::int AS n, id FROM steppergo.activities
 WHERE title LIKE 'Bench activity %';
ALTER TABLE bench_act ADD PRIMARY KEY (n);
CREATE TABLE bench_pax AS SELECT row_number() OVER (ORDER BY id)::int AS n, id FROM steppergo.users
 WHERE email LIKE 'bench.actpax%';
ALTER TABLE bench_pax ADD PRIMARY KEY (n);

INSERT INTO steppergo.activity_photos (activity_id, url, cloudinary_id, "order", is_cover)
SELECT b.id, 'https://res.cloudinary.com/bench/a' || b.n || '.jpg', 'bench/a' || b.n, 0, true FROM bench_act b;
INSERT INTO steppergo.activity_schedules (activity_id, day_of_week, start_time, end_time)
SELECT b.id, d, '10:00', '14:00' FROM bench_act b, unnest(steppergo.weekdays()) d;

-- completed, paid, reviewed bookings in the past (the triggers fill the aggregates)
INSERT INTO steppergo.activity_bookings (activity_id, passenger_id, scheduled_date, scheduled_time, participants,
                                         price_per_person, total_amount, payment_id, payment_status, status)
SELECT b.id, p.id, current_date - 10 - k, '10:00', 2, 5000, 10000, 'pi_bench_' || b.n || '_' || k, 'SUCCEEDED', 'COMPLETED'
  FROM bench_act b, generate_series(1, 2) k
  JOIN LATERAL (SELECT id FROM bench_pax WHERE n = 1 + (k * 7) % (SELECT count(*) FROM bench_pax)) p ON true
 WHERE b.n % 5 <> 0;
INSERT INTO steppergo.activity_reviews (activity_id, booking_id, passenger_id, rating)
SELECT x.activity_id, x.id, x.passenger_id, 1 + (abs(hashtext(x.id::text)) % 5)
  FROM steppergo.activity_bookings x WHERE x.payment_id LIKE 'pi_bench_%';

-- three hot slots of 50 places for the concurrent booking case, the rest
-- of the ACTIVE activities take the ordinary bookings
CREATE TABLE bench_hot AS
SELECT row_number() OVER (ORDER BY b.n)::int AS n, b.id FROM bench_act b JOIN steppergo.activities a ON a.id = b.id
 WHERE a.status = 'ACTIVE' ORDER BY b.n LIMIT 3;
ALTER TABLE bench_hot ADD PRIMARY KEY (n);
UPDATE steppergo.activities SET max_participants = 50 WHERE id IN (SELECT id FROM bench_hot);
CREATE TABLE bench_bookable AS
SELECT row_number() OVER (ORDER BY b.id)::int AS n, b.id FROM bench_act b JOIN steppergo.activities a ON a.id = b.id
 WHERE a.status = 'ACTIVE' AND b.id NOT IN (SELECT id FROM bench_hot);
ALTER TABLE bench_bookable ADD PRIMARY KEY (n);

-- book_hot: refusals (PT409) are expected there; count them instead of failing
CREATE FUNCTION bench_try_book(a uuid, u uuid, d date, t time, n integer) RETURNS boolean
  LANGUAGE plpgsql AS $$
BEGIN
  PERFORM steppergo.book_activity(a, u, d, t, n);
  RETURN true;
EXCEPTION WHEN SQLSTATE 'PT409' THEN
  RETURN false;
END $$;

INSERT INTO bench_meta VALUES
  ('n_act', (SELECT count(*) FROM bench_act)), ('n_bookable', (SELECT count(*) FROM bench_bookable)), ('n_pax', (SELECT count(*) FROM bench_pax));
ANALYZE;
