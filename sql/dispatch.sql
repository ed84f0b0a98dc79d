-- dispatch: find_drivers, explain_dispatch, offers and acceptance timeouts.
-- Test data lives around two points of the steppe nobody else uses
-- (45.123 N 62.456 E and 45.6 N 63.2 E); users *@dispatch.test, +7909...
\set VERBOSITY terse
SET client_min_messages = warning;
SET search_path = steppergo, public;

SELECT name, setting, unit FROM pg_settings WHERE name LIKE 'steppergo.dispatch%' ORDER BY name;

-- Distances on WGS84 agree with PostGIS ST_Distance(geography) (0.1 % is the
-- promise; in fact to the millimetre), from 1 m to 2,000 km.
SELECT setseed(0.5);
SELECT count(*) AS pairs,
       max(abs(d - g) / g) < 0.001 AS within_0_1_percent,
       max(abs(d - g)) < 0.001 AS within_1_mm
  FROM (SELECT dispatch_distance(lat, lng, lat + dlat, lng + dlng) AS d,
               ST_Distance(geog_point(lat, lng), geog_point(lat + dlat, lng + dlng)) AS g
          FROM (SELECT 35 + random() * 20 AS lat, 45 + random() * 45 AS lng,
                       (random() - 0.5) * power(10, -5 + random() * 6.2) AS dlat,
                       (random() - 0.5) * power(10, -5 + random() * 6.2) AS dlng
                  FROM generate_series(1, 2000)) p) x;
SELECT dispatch_distance(91, 0, 0, 0);

-- ---------------------------------------------------------------------------
-- Fixtures
-- ---------------------------------------------------------------------------
CREATE SCHEMA dispatch_test;
CREATE FUNCTION dispatch_test.mk_driver(n integer, lat float8, lng float8, capacity integer DEFAULT 4,
                                        rating numeric DEFAULT 4.5, reviews integer DEFAULT 10,
                                        acc numeric DEFAULT 0.9) RETURNS uuid
  LANGUAGE plpgsql AS $$
DECLARE
  u uuid;
  d uuid;
BEGIN
  INSERT INTO steppergo.users (email, phone, name, role)
  VALUES (format('d%s@dispatch.test', n), format('+7909%s', lpad(n::text, 7, '0')), format('d%s', n), 'DRIVER')
  RETURNING id INTO u;
  INSERT INTO steppergo.drivers (user_id, status, approval_status, availability, rating, review_count, acceptance_rate)
  VALUES (u, 'APPROVED', 'APPROVED', 'ONLINE', rating, reviews, acc) RETURNING id INTO d;
  IF capacity IS NOT NULL THEN
    INSERT INTO steppergo.vehicles (driver_id, make, model, license_plate, passenger_capacity)
    VALUES (d, 'Toyota', 'Camry', 'D' || n, capacity);
  END IF;
  INSERT INTO steppergo.driver_locations (driver_id, latitude, longitude, last_updated)
  VALUES (d, lat, lng, now());
  RETURN d;
END $$;
CREATE FUNCTION dispatch_test.label(driver uuid) RETURNS text
  LANGUAGE sql AS $$ SELECT u.name FROM steppergo.drivers d JOIN steppergo.users u ON u.id = d.user_id WHERE d.id = driver $$;
-- a point a given distance north-east-ish of the origin
CREATE FUNCTION dispatch_test.at(metres float8, out lat float8, out lng float8)
  LANGUAGE sql AS $$ SELECT 45.123 + metres / 111132.0, 62.456 $$;

INSERT INTO users (email, phone, name, role) VALUES
  ('organizer@dispatch.test', '+79099990001', 'Organizer', 'PASSENGER'),
  ('other@dispatch.test', '+79099990002', 'Other passenger', 'PASSENGER'),
  ('admin@dispatch.test', '+79099990003', 'Admin', 'ADMIN');
CREATE TABLE dispatch_test.trip (name text PRIMARY KEY, id uuid);
-- departure: the day after tomorrow at 10:00 in Almaty (a Monday is not assumed)
INSERT INTO trips (title, organizer_id, departure_time, origin_name, origin_lat, origin_lng, dest_name, dest_lat, dest_lng,
                   total_seats, status, trip_type, base_price)
SELECT 'Rules', u.id, (current_date + 2 + time '10:00') AT TIME ZONE 'Asia/Almaty', 'Origin', 45.123, 62.456,
       'Dest', 45.3, 62.6, 3, 'PUBLISHED', 'PRIVATE', 10000
  FROM users u WHERE u.email = 'organizer@dispatch.test';
INSERT INTO dispatch_test.trip SELECT 'rules', id FROM trips WHERE title = 'Rules' AND origin_lat = 45.123;
CREATE VIEW dispatch_test.t AS SELECT * FROM trips WHERE id = (SELECT id FROM dispatch_test.trip WHERE name = 'rules');

-- One driver per rule, at increasing distances from the pickup point.
SELECT FROM dispatch_test.mk_driver(1, (dispatch_test.at(100)).lat, 62.456);             -- eligible
SELECT FROM dispatch_test.mk_driver(2, (dispatch_test.at(200)).lat, 62.456);
UPDATE drivers SET status = 'PENDING' WHERE dispatch_test.label(id) = 'd2';
SELECT FROM dispatch_test.mk_driver(3, (dispatch_test.at(300)).lat, 62.456);
UPDATE drivers SET availability = 'OFFLINE' WHERE dispatch_test.label(id) = 'd3';
SELECT FROM dispatch_test.mk_driver(4, (dispatch_test.at(400)).lat, 62.456);
UPDATE driver_locations SET last_updated = now() - interval '2 minutes' WHERE dispatch_test.label(driver_id) = 'd4';
SELECT FROM dispatch_test.mk_driver(5, (dispatch_test.at(500)).lat, 62.456);
UPDATE drivers SET accepts_private_trips = false WHERE dispatch_test.label(id) = 'd5';
SELECT FROM dispatch_test.mk_driver(6, (dispatch_test.at(600)).lat, 62.456, NULL);       -- no vehicle
SELECT FROM dispatch_test.mk_driver(7, (dispatch_test.at(700)).lat, 62.456, 2);          -- 2 seats < 3
SELECT FROM dispatch_test.mk_driver(8, (dispatch_test.at(800)).lat, 62.456);
INSERT INTO driver_availability_schedules (driver_id, start_time, end_time, schedule_type)
SELECT d.id, t.departure_time - interval '1 hour', t.departure_time + interval '1 hour', 'BREAK'
  FROM drivers d, dispatch_test.t t WHERE dispatch_test.label(d.id) = 'd8';
SELECT FROM dispatch_test.mk_driver(9, (dispatch_test.at(900)).lat, 62.456);
-- weekly on the departure's weekday, 09:30-10:30 local, since last month
INSERT INTO driver_availability_schedules (driver_id, start_time, end_time, schedule_type, is_recurring, recurring_pattern)
SELECT d.id, ((current_date - 30) + time '09:30') AT TIME ZONE 'Asia/Almaty',
       ((current_date - 30) + time '10:30') AT TIME ZONE 'Asia/Almaty', 'UNAVAILABLE', true,
       jsonb_build_object('freq', 'WEEKLY', 'days', jsonb_build_array(to_char(current_date + 2, 'DY')))
  FROM drivers d WHERE dispatch_test.label(d.id) = 'd9';
SELECT FROM dispatch_test.mk_driver(10, (dispatch_test.at(1000)).lat, 62.456);
-- daily 12:00-13:00 local: does not cover a 10:00 departure; a daily 09:00-11:00
-- pattern that ended yesterday does not either
INSERT INTO driver_availability_schedules (driver_id, start_time, end_time, schedule_type, is_recurring, recurring_pattern)
SELECT d.id, ((current_date - 30) + time '12:00') AT TIME ZONE 'Asia/Almaty',
       ((current_date - 30) + time '13:00') AT TIME ZONE 'Asia/Almaty', 'BREAK', true, '{"freq": "DAILY"}'
  FROM drivers d WHERE dispatch_test.label(d.id) = 'd10'
UNION ALL
SELECT d.id, ((current_date - 30) + time '09:00') AT TIME ZONE 'Asia/Almaty',
       ((current_date - 30) + time '11:00') AT TIME ZONE 'Asia/Almaty', 'BREAK', true,
       jsonb_build_object('freq', 'DAILY', 'until', to_char(current_date - 1, 'YYYY-MM-DD'))
  FROM drivers d WHERE dispatch_test.label(d.id) = 'd10';
SELECT FROM dispatch_test.mk_driver(11, (dispatch_test.at(1100)).lat, 62.456);
INSERT INTO trip_acceptance_logs (trip_id, driver_id, action)
SELECT t.id, d.id, 'DECLINED' FROM drivers d, dispatch_test.t t WHERE dispatch_test.label(d.id) = 'd11';
SELECT FROM dispatch_test.mk_driver(12, (dispatch_test.at(1200)).lat, 62.456);
SELECT FROM dispatch_test.mk_driver(13, (dispatch_test.at(1300)).lat, 62.456);
-- d12 drives another trip an hour after this one's departure (windows overlap);
-- d13 one three days later (no overlap)
INSERT INTO trips (title, organizer_id, driver_id, departure_time, origin_name, origin_lat, origin_lng, dest_name,
                   dest_lat, dest_lng, total_seats, status, trip_type, base_price)
SELECT 'Assigned ' || dispatch_test.label(d.id), t.organizer_id, d.id,
       t.departure_time + CASE dispatch_test.label(d.id) WHEN 'd12' THEN interval '1 hour' ELSE interval '3 days' END,
       'Elsewhere', 45.0, 62.0, 'Dest', 45.1, 62.1, 2, 'PUBLISHED', 'PRIVATE', 5000
  FROM drivers d, dispatch_test.t t WHERE dispatch_test.label(d.id) IN ('d12', 'd13');
SELECT FROM dispatch_test.mk_driver(14, (dispatch_test.at(1400)).lat, 62.456);
-- d14 holds an open offer of another trip
INSERT INTO trips (title, organizer_id, offered_to_driver_id, acceptance_deadline, departure_time, origin_name,
                   origin_lat, origin_lng, dest_name, dest_lat, dest_lng, total_seats, status, trip_type, base_price)
SELECT 'Offered elsewhere', t.organizer_id, d.id, now() + interval '1 hour', t.departure_time + interval '10 days',
       'Elsewhere', 45.0, 62.0, 'Dest', 45.1, 62.1, 2, 'OFFERED', 'PRIVATE', 5000
  FROM drivers d, dispatch_test.t t WHERE dispatch_test.label(d.id) = 'd14';
SELECT FROM dispatch_test.mk_driver(15, (dispatch_test.at(6000)).lat, 62.456);          -- outside 5 km
-- ranking: d16 is nearer than d17 but rated 2 stars and rarely accepts
SELECT FROM dispatch_test.mk_driver(16, (dispatch_test.at(1500)).lat, 62.456, 4, 2.0, 10, 0.2);
SELECT FROM dispatch_test.mk_driver(17, (dispatch_test.at(1550)).lat, 62.456, 4, 5.0, 10, 1.0);
-- d18: the trip's type is PRIVATE; d18 only takes shared trips, d19 only private
SELECT FROM dispatch_test.mk_driver(18, (dispatch_test.at(1700)).lat, 62.456);
UPDATE drivers SET accepts_private_trips = false WHERE dispatch_test.label(id) = 'd18';
SELECT FROM dispatch_test.mk_driver(19, (dispatch_test.at(1800)).lat, 62.456);
UPDATE drivers SET accepts_shared_trips = false WHERE dispatch_test.label(id) = 'd19';

-- Every driver inside the radius, with the first rule that excluded them.
SELECT dispatch_test.label(e.driver_id) AS driver, round(e.distance_m) AS metres, e.eligible, e.excluded_by,
       e.rank, round(e.rating_penalty::numeric, 3) AS rating_pen, round(e.acceptance_penalty::numeric, 3) AS acc_pen,
       round(e.effective_distance_m) AS effective, round(e.score::numeric, 4) AS score
  FROM dispatch_test.t t, explain_dispatch(t.id) e
 ORDER BY e.distance_m;

-- find_drivers: the eligible ones, best score first (d17 before d16)
SELECT dispatch_test.label(f.driver_id) AS driver, round(f.distance_m) AS metres, round(f.score::numeric, 4) AS score
  FROM dispatch_test.t t, find_drivers(t.id) f;
-- the same set and order as explain_dispatch's eligible rows
SELECT array_agg(f.driver_id) = (SELECT array_agg(e.driver_id ORDER BY e.rank)
                                   FROM dispatch_test.t t, explain_dispatch(t.id) e WHERE e.eligible) AS same_as_explain
  FROM dispatch_test.t t, find_drivers(t.id, NULL, 100) f;
-- max_results and radius
SELECT dispatch_test.label(f.driver_id) FROM dispatch_test.t t, find_drivers(t.id, NULL, 2) f;
SELECT dispatch_test.label(f.driver_id) FROM dispatch_test.t t, find_drivers(t.id, 1050) f;
SELECT dispatch_test.label(f.driver_id) FROM dispatch_test.t t, find_drivers(t.id, 7000) f;
-- SHARED: d18 becomes eligible, d19 and d5 (accepts shared) change places
UPDATE trips SET trip_type = 'SHARED', price_per_seat = 3000 WHERE id = (SELECT id FROM dispatch_test.t);
SELECT dispatch_test.label(f.driver_id) FROM dispatch_test.t t, find_drivers(t.id) f;
UPDATE trips SET trip_type = 'PRIVATE' WHERE id = (SELECT id FROM dispatch_test.t);
-- the position freshness setting
SET steppergo.dispatch_position_max_age = '3min';
SELECT dispatch_test.label(f.driver_id) FROM dispatch_test.t t, find_drivers(t.id, NULL, 3) f;
RESET steppergo.dispatch_position_max_age;
-- visibility recorded for what was returned
SELECT dispatch_test.label(v.driver_id) AS driver, v.shown_at IS NOT NULL AS shown, v.response_action
  FROM trip_driver_visibility v, dispatch_test.t t WHERE v.trip_id = t.id ORDER BY 1;

-- refusals
SET client_min_messages = notice;
DO $$
DECLARE
  t uuid := (SELECT id FROM dispatch_test.trip WHERE name = 'rules');
BEGIN
  BEGIN PERFORM find_drivers(NULL); EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'null trip: %', SQLSTATE; END;
  BEGIN PERFORM find_drivers(gen_random_uuid()); EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'unknown trip: %', SQLSTATE; END;
  BEGIN PERFORM find_drivers(t, 0); EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'radius 0: %', SQLSTATE; END;
  BEGIN PERFORM find_drivers(t, NULL, 0); EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'max_results 0: %', SQLSTATE; END;
  BEGIN PERFORM find_drivers(t, NULL, NULL); EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'max_results null: %', SQLSTATE; END;
  BEGIN PERFORM explain_dispatch(gen_random_uuid()); EXCEPTION WHEN OTHERS THEN RAISE NOTICE 'explain unknown: %', SQLSTATE; END;
END $$;
SET client_min_messages = warning;

-- As PostgREST calls: only the organizer or an admin may search; only admins explain.
DO $$ BEGIN CREATE ROLE dispatch_test_api NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
GRANT USAGE ON SCHEMA steppergo, dispatch_test TO dispatch_test_api;
GRANT SELECT ON dispatch_test.trip TO dispatch_test_api;
CREATE FUNCTION dispatch_test.claims(email text) RETURNS text
  LANGUAGE sql AS $$ SELECT json_build_object('sub', id, 'app_role', role)::text FROM steppergo.users WHERE users.email = claims.email $$;
-- runs sql as dispatch_test_api with the user's claims, rolls it back, and
-- returns ok or the SQLSTATE
CREATE FUNCTION dispatch_test.try(email text, sql text) RETURNS text
  LANGUAGE plpgsql AS $$
DECLARE
  c text := dispatch_test.claims(email);
BEGIN
  BEGIN
    PERFORM set_config('request.jwt.claims', c, true);
    PERFORM set_config('role', 'dispatch_test_api', true);
    EXECUTE sql;
    RAISE EXCEPTION USING ERRCODE = 'ZZ000';
  EXCEPTION WHEN SQLSTATE 'ZZ000' THEN
    RETURN 'ok';
  WHEN OTHERS THEN
    RETURN SQLSTATE;
  END;
END $$;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA dispatch_test TO dispatch_test_api;
SELECT who, dispatch_test.try(who, format('SELECT steppergo.find_drivers(%L)', (SELECT id FROM dispatch_test.trip WHERE name = 'rules'))) AS find,
       dispatch_test.try(who, format('SELECT steppergo.explain_dispatch(%L)', (SELECT id FROM dispatch_test.trip WHERE name = 'rules'))) AS explain
  FROM unnest(ARRAY['organizer@dispatch.test', 'other@dispatch.test', 'admin@dispatch.test', 'd1@dispatch.test']) who;

-- ---------------------------------------------------------------------------
-- A few hundred random drivers: find_drivers returns exactly the set a plain
-- PostGIS query with the same eligibility (written independently here) finds,
-- with distances within 0.1 % of ST_Distance.
-- ---------------------------------------------------------------------------
SELECT setseed(0.77);
INSERT INTO trips (title, organizer_id, departure_time, origin_name, origin_lat, origin_lng, dest_name, dest_lat, dest_lng,
                   total_seats, status, trip_type, price_per_seat, base_price)
SELECT 'Random', u.id, now() + interval '5 hours', 'Origin', 45.6, 63.2, 'Dest', 45.7, 63.3, 3, 'PUBLISHED', 'SHARED', 2000, 0
  FROM users u WHERE u.email = 'organizer@dispatch.test';
INSERT INTO dispatch_test.trip SELECT 'random', id FROM trips WHERE title = 'Random' AND origin_lat = 45.6;
SELECT count(dispatch_test.mk_driver(1000 + g, 45.6 + (random() - 0.5) * 0.1, 63.2 + (random() - 0.5) * 0.13,
                                     (ARRAY[2, 3, 4, 7, NULL])[1 + floor(random() * 5)::int],
                                     round((1 + random() * 4)::numeric, 2), (random() * 3)::int,
                                     CASE WHEN random() < 0.2 THEN NULL ELSE round(random()::numeric, 4) END))
  FROM generate_series(1, 600) g;
UPDATE drivers d SET status = (ARRAY['APPROVED', 'APPROVED', 'APPROVED', 'PENDING', 'SUSPENDED'])[1 + floor(random() * 5)::int]::driver_status,
                     availability = (ARRAY['ONLINE', 'ONLINE', 'ONLINE', 'OFFLINE', 'BUSY', 'ON_BREAK'])[1 + floor(random() * 6)::int]::driver_availability,
                     accepts_private_trips = random() < 0.8, accepts_shared_trips = random() < 0.8
  FROM users u WHERE u.id = d.user_id AND u.email ~ '^d1[0-9]{3}@dispatch.test$';
UPDATE driver_locations l SET last_updated = now() - CASE WHEN random() < 0.8 THEN random() * 50 ELSE 70 + random() * 30 END * interval '1 second', is_active = random() < 0.95
  FROM drivers d JOIN users u ON u.id = d.user_id
 WHERE d.id = l.driver_id AND u.email ~ '^d1[0-9]{3}@dispatch.test$';
INSERT INTO driver_availability_schedules (driver_id, start_time, end_time, schedule_type)
SELECT d.id, now() + interval '4 hours', now() + (4 + random() * 3) * interval '1 hour', 'UNAVAILABLE'
  FROM drivers d JOIN users u ON u.id = d.user_id WHERE u.email ~ '^d1[0-9]{3}@dispatch.test$' AND random() < 0.1;
INSERT INTO trip_acceptance_logs (trip_id, driver_id, action)
SELECT (SELECT id FROM dispatch_test.trip WHERE name = 'random'), d.id,
       (ARRAY['DECLINED', 'TIMEOUT', 'OFFERED', 'ACCEPTED'])[1 + floor(random() * 4)::int]::trip_acceptance_action
  FROM drivers d JOIN users u ON u.id = d.user_id WHERE u.email ~ '^d1[0-9]{3}@dispatch.test$' AND random() < 0.15;
INSERT INTO trips (title, organizer_id, driver_id, departure_time, origin_name, origin_lat, origin_lng, dest_name,
                   dest_lat, dest_lng, total_seats, status, trip_type, base_price)
SELECT 'Random assigned', (SELECT id FROM users WHERE email = 'organizer@dispatch.test'), d.id,
       now() + random() * interval '12 hours', 'Elsewhere', 45.0, 62.0, 'Dest', 45.1, 62.1, 2,
       (ARRAY['PUBLISHED', 'COMPLETED', 'CANCELLED', 'IN_PROGRESS'])[1 + floor(random() * 4)::int]::trip_status, 'PRIVATE', 5000
  FROM drivers d JOIN users u ON u.id = d.user_id WHERE u.email ~ '^d1[0-9]{3}@dispatch.test$' AND random() < 0.1;
CREATE TABLE dispatch_test.plain AS
SELECT l.driver_id, ST_Distance(l.geog, t.origin_geog) AS distance_m
  FROM trips t
  JOIN driver_locations l ON ST_DWithin(l.geog, t.origin_geog, 5000)
  JOIN drivers d ON d.id = l.driver_id
 WHERE t.id = (SELECT id FROM dispatch_test.trip WHERE name = 'random')
   AND d.status = 'APPROVED' AND d.availability = 'ONLINE'
   AND l.is_active AND l.last_updated >= now() - interval '60 seconds'
   AND d.accepts_shared_trips
   AND d.id IN (SELECT v.driver_id FROM vehicles v WHERE v.is_active AND v.passenger_capacity >= 3)
   AND d.id NOT IN (SELECT s.driver_id FROM driver_availability_schedules s
                     WHERE s.is_active AND t.departure_time >= s.start_time AND t.departure_time < s.end_time)
   AND d.id NOT IN (SELECT a.driver_id FROM trip_acceptance_logs a WHERE a.trip_id = t.id AND a.action::text IN ('DECLINED', 'TIMEOUT'))
   AND d.id NOT IN (SELECT o.driver_id FROM trips o
                     WHERE o.driver_id IS NOT NULL AND o.id <> t.id AND o.status::text NOT IN ('COMPLETED', 'CANCELLED')
                       AND tstzrange(o.departure_time, coalesce(o.return_time, o.departure_time) + interval '120 minutes')
                           && tstzrange(t.departure_time, coalesce(t.return_time, t.departure_time) + interval '120 minutes'))
   AND d.id NOT IN (SELECT f.offered_to_driver_id FROM trips f WHERE f.offered_to_driver_id IS NOT NULL AND f.id <> t.id);
CREATE TABLE dispatch_test.found AS
SELECT * FROM find_drivers((SELECT id FROM dispatch_test.trip WHERE name = 'random'), 5000, 1000);
SELECT (SELECT count(*) FROM dispatch_test.plain) > 25 AS enough_eligible,
       (SELECT count(*) FROM driver_locations l, trips t
         WHERE t.id = (SELECT id FROM dispatch_test.trip WHERE name = 'random')
           AND ST_DWithin(l.geog, t.origin_geog, 5000)) > 300 AS enough_in_radius,
       (SELECT count(*) FROM dispatch_test.plain) = (SELECT count(*) FROM dispatch_test.found) AS same_count,
       NOT EXISTS (SELECT driver_id FROM dispatch_test.plain EXCEPT SELECT driver_id FROM dispatch_test.found) AS none_missed,
       NOT EXISTS (SELECT driver_id FROM dispatch_test.found EXCEPT SELECT driver_id FROM dispatch_test.plain) AS none_extra,
       (SELECT max(abs(f.distance_m - p.distance_m) / p.distance_m) < 0.001
          FROM dispatch_test.found f JOIN dispatch_test.plain p USING (driver_id)) AS distances_within_0_1_percent;
-- the scores are in decreasing order, the top 10 are a prefix of the full list
SELECT bool_and(score >= next_score) AS best_first
  FROM (SELECT score, lead(score, 1, 0) OVER () AS next_score FROM dispatch_test.found) s;
SELECT array_agg(driver_id) = (SELECT (array_agg(driver_id))[1:10] FROM dispatch_test.found) AS top10_prefix
  FROM find_drivers((SELECT id FROM dispatch_test.trip WHERE name = 'random'));
-- explain_dispatch agrees (eligible set and order)
SELECT array_agg(e.driver_id ORDER BY e.rank) = (SELECT array_agg(driver_id) FROM dispatch_test.found) AS explain_agrees,
       count(*) FILTER (WHERE NOT e.eligible) = 0 AS only_eligible_filtered
  FROM explain_dispatch((SELECT id FROM dispatch_test.trip WHERE name = 'random'), 5000) e WHERE e.eligible;
SELECT excluded_by IS NOT NULL AS excluded, count(*) > 0 AS some
  FROM explain_dispatch((SELECT id FROM dispatch_test.trip WHERE name = 'random'), 5000) GROUP BY 1 ORDER BY 1;

-- ---------------------------------------------------------------------------
-- Offers
-- ---------------------------------------------------------------------------
CREATE VIEW dispatch_test.state AS
SELECT t.title, t.status, dispatch_test.label(t.offered_to_driver_id) AS offered_to,
       dispatch_test.label(t.driver_id) AS driver, t.offer_radius,
       round(extract(epoch FROM t.acceptance_deadline - now())) BETWEEN 15 AND 25 AS deadline_in_20s
  FROM trips t;
CREATE VIEW dispatch_test.logs AS
SELECT t.title, dispatch_test.label(a.driver_id) AS driver, a.action, a.response_time_seconds >= 0 AS timed,
       a.timeout_duration, a.created_at
  FROM trip_acceptance_logs a JOIN trips t ON t.id = a.trip_id;

-- the rules trip: offered to the best driver, d1
SELECT dispatch_test.label(offer_trip(id)) AS offered FROM dispatch_test.trip WHERE name = 'rules';
SELECT * FROM dispatch_test.state WHERE title = 'Rules';
SELECT driver, action, timeout_duration FROM dispatch_test.logs WHERE title = 'Rules' ORDER BY created_at;
SELECT from_status, to_status, actor_id IS NOT NULL AS by_user FROM trip_status_history
 WHERE trip_id = (SELECT id FROM dispatch_test.trip WHERE name = 'rules') ORDER BY changed_at;
SELECT n.type, n.channel, dispatch_test.label(d.id) AS driver, n.recipient = d.user_id::text AS to_user, n.status
  FROM notifications n JOIN drivers d ON d.user_id = n.user_id WHERE n.type = 'TRIP_OFFER' AND n.body LIKE 'Rules:%';
-- an open offer cannot be replaced; nobody else may answer it
SELECT dispatch_test.try('organizer@dispatch.test', format('SELECT steppergo.offer_trip(%L)', t.id)) AS again,
       dispatch_test.try('other@dispatch.test', format('SELECT steppergo.offer_trip(%L)', t.id)) AS other_user,
       dispatch_test.try('d16@dispatch.test', format('SELECT steppergo.accept_trip(%L, %L)', t.id, d1.id)) AS other_driver_for_d1,
       dispatch_test.try('d16@dispatch.test', format('SELECT steppergo.accept_trip(%L, %L)', t.id, d16.id)) AS d16_not_offered,
       dispatch_test.try('d1@dispatch.test', format('SELECT steppergo.accept_trip(%L, gen_random_uuid())', t.id)) AS unknown_driver,
       dispatch_test.try('d1@dispatch.test', format('SELECT steppergo.accept_trip(gen_random_uuid(), %L)', d1.id)) AS unknown_trip,
       dispatch_test.try('d1@dispatch.test', 'SELECT steppergo.accept_trip(NULL, NULL)') AS nulls,
       dispatch_test.try('d1@dispatch.test', 'SELECT steppergo.process_acceptance_timeouts()') AS job_by_driver,
       dispatch_test.try('admin@dispatch.test', 'SELECT steppergo.process_acceptance_timeouts()') AS job_by_admin
  FROM dispatch_test.trip t, drivers d1, drivers d16
 WHERE t.name = 'rules' AND dispatch_test.label(d1.id) = 'd1' AND dispatch_test.label(d16.id) = 'd16';
-- d1 declines (as the driver, through the API): the next best, d10, is offered at once
SELECT dispatch_test.try('d1@dispatch.test', format('SELECT steppergo.decline_trip(%L, %L)', t.id, d.id)) AS declined_rolled_back
  FROM dispatch_test.trip t, drivers d WHERE t.name = 'rules' AND dispatch_test.label(d.id) = 'd1';
SELECT t.id AS trip, d.id AS d1, dispatch_test.claims('d1@dispatch.test') AS claims
  FROM dispatch_test.trip t, drivers d WHERE t.name = 'rules' AND dispatch_test.label(d.id) = 'd1' \gset
BEGIN;
SET LOCAL ROLE dispatch_test_api;
SELECT set_config('request.jwt.claims', :'claims', true) IS NOT NULL AS claims_set;
SELECT decline_trip(:'trip', :'d1');
COMMIT;
SELECT * FROM dispatch_test.state WHERE title = 'Rules';
SELECT driver, action, timed FROM dispatch_test.logs WHERE title = 'Rules' ORDER BY created_at;
SELECT dispatch_test.label(v.driver_id) AS driver, v.response_action, v.response_at IS NOT NULL AS answered
  FROM trip_driver_visibility v WHERE v.trip_id = (SELECT id FROM dispatch_test.trip WHERE name = 'rules')
   AND v.response_action IS NOT NULL;
SELECT dispatch_test.label(id) AS driver, acceptance_rate FROM drivers WHERE dispatch_test.label(id) = 'd1';
-- d10's deadline passes: accepting is refused at call time, before any job ran
UPDATE trips SET acceptance_deadline = clock_timestamp() - interval '1 second' WHERE title = 'Rules';
SELECT dispatch_test.try('d10@dispatch.test', format('SELECT steppergo.accept_trip(%L, %L)', t.id, d.id)) AS late_accept
  FROM dispatch_test.trip t, drivers d WHERE t.name = 'rules' AND dispatch_test.label(d.id) = 'd10';
-- the job: TIMEOUT logged, the next driver (d13) offered
SELECT process_acceptance_timeouts() AS handled;
SELECT process_acceptance_timeouts() AS handled_again;
SELECT * FROM dispatch_test.state WHERE title = 'Rules';
SELECT driver, action, timed FROM dispatch_test.logs WHERE title = 'Rules' ORDER BY created_at;
-- d13 accepts in time: the trip has its driver and is PUBLISHED again
SELECT d.id AS d13, dispatch_test.claims('d13@dispatch.test') AS claims
  FROM drivers d WHERE dispatch_test.label(d.id) = 'd13' \gset
BEGIN;
SET LOCAL ROLE dispatch_test_api;
SELECT set_config('request.jwt.claims', :'claims', true) IS NOT NULL AS claims_set;
SELECT accept_trip(:'trip', :'d13');
COMMIT;
SELECT * FROM dispatch_test.state WHERE title = 'Rules';
SELECT driver, action, timed FROM dispatch_test.logs WHERE title = 'Rules' ORDER BY created_at;
SELECT from_status, to_status, dispatch_test.label((SELECT d.id FROM drivers d WHERE d.user_id = h.actor_id)) AS actor
  FROM trip_status_history h WHERE trip_id = (SELECT id FROM dispatch_test.trip WHERE name = 'rules') ORDER BY changed_at;
SELECT type FROM notifications WHERE user_id = (SELECT id FROM users WHERE email = 'organizer@dispatch.test') ORDER BY created_at;
-- a second accept, a late decline: stale
SELECT dispatch_test.try('d13@dispatch.test', format('SELECT steppergo.accept_trip(%L, %L)', t.id, d.id)) AS accept_twice,
       dispatch_test.try('d13@dispatch.test', format('SELECT steppergo.decline_trip(%L, %L)', t.id, d.id)) AS decline_after
  FROM dispatch_test.trip t, drivers d WHERE t.name = 'rules' AND dispatch_test.label(d.id) = 'd13';
SELECT dispatch_test.try('organizer@dispatch.test', format('SELECT steppergo.offer_trip(%L)', id)) AS offer_taken_trip
  FROM dispatch_test.trip WHERE name = 'rules';

-- Widening: the only driver of this trip is 8 km away; the radius doubles
-- (5 km -> 10 km).  When the offer times out nobody is left even at the
-- maximum: the trip returns to PUBLISHED and the organizer is told.
INSERT INTO trips (title, organizer_id, departure_time, origin_name, origin_lat, origin_lng, dest_name, dest_lat, dest_lng,
                   total_seats, status, trip_type, base_price)
SELECT 'Far', u.id, now() + interval '1 day', 'Origin', 44.5, 61.5, 'Dest', 44.6, 61.6, 1, 'PUBLISHED', 'PRIVATE', 1000
  FROM users u WHERE u.email = 'organizer@dispatch.test';
SELECT FROM dispatch_test.mk_driver(20, 44.5 + 8000 / 111132.0, 61.5);
SET steppergo.dispatch_max_radius = 12000;
SELECT dispatch_test.label(offer_trip(id)) AS offered FROM trips WHERE title = 'Far';
SELECT * FROM dispatch_test.state WHERE title = 'Far';
UPDATE trips SET acceptance_deadline = clock_timestamp() - interval '1 second' WHERE title = 'Far';
SELECT process_acceptance_timeouts() AS handled;
SELECT * FROM dispatch_test.state WHERE title = 'Far';
SELECT driver, action FROM dispatch_test.logs WHERE title = 'Far' ORDER BY created_at;
SELECT from_status, to_status, actor_id IS NULL AS by_system FROM trip_status_history
 WHERE trip_id = (SELECT id FROM trips WHERE title = 'Far') ORDER BY changed_at;
SELECT type, channel, recipient = user_id::text AS to_user, body LIKE '%"Far"%' AS about_trip
  FROM notifications WHERE type = 'TRIP_NO_DRIVER' AND user_id = (SELECT id FROM users WHERE email = 'organizer@dispatch.test');
-- nobody eligible at all: offer_trip returns NULL and leaves the trip alone
SELECT offer_trip(id) IS NULL AS nobody, (SELECT status FROM trips WHERE title = 'Far') FROM trips WHERE title = 'Far';
RESET steppergo.dispatch_max_radius;
-- an explicit driver must be eligible
SELECT dispatch_test.try('organizer@dispatch.test', format('SELECT steppergo.offer_trip(%L, %L)', t.id, d.id)) AS declined_before
  FROM trips t, drivers d WHERE t.title = 'Far' AND dispatch_test.label(d.id) = 'd20';
-- a FULL trip offered returns to FULL
UPDATE trips SET available_seats = 0, status = 'FULL' WHERE title = 'Far';
SELECT FROM dispatch_test.mk_driver(21, 44.5 + 300 / 111132.0, 61.5);
SELECT dispatch_test.label(offer_trip(t.id, d.id)) AS offered FROM trips t, drivers d WHERE t.title = 'Far' AND dispatch_test.label(d.id) = 'd21';
SELECT accept_trip(t.id, d.id) FROM trips t, drivers d WHERE t.title = 'Far' AND dispatch_test.label(d.id) = 'd21';
SELECT * FROM dispatch_test.state WHERE title = 'Far';

-- the job is registered
SELECT name, schedule, command FROM job_definitions WHERE name LIKE 'steppergo_dispatch%';
SELECT split_part(signature, '(', 1) AS function, audience FROM api_functions
 WHERE signature ~ '^(find_drivers|explain_dispatch|offer_trip|accept_trip|decline_trip|process_acceptance_timeouts)\(' ORDER BY 1;
