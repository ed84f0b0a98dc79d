-- dispatch (0.3): the dispatch state on driver_locations and the search paths
-- of find_drivers (planar index, large-vehicle index, geography fallback).
-- Users *@dstate.test, phones +7908...; positions far from other suites'.
\set VERBOSITY terse
SET client_min_messages = warning;
SET search_path = steppergo, public;

CREATE SCHEMA dstate;
-- a driver with a position (capacity NULL: no vehicle)
CREATE FUNCTION dstate.driver(n integer, lat float8, lng float8, capacity integer DEFAULT 4,
                              rating numeric DEFAULT 4.5, acc numeric DEFAULT 0.9) RETURNS uuid
  LANGUAGE plpgsql AS $$
DECLARE
  u uuid;
  d uuid;
BEGIN
  INSERT INTO steppergo.users (email, phone, name, role)
  VALUES (format('s%s@dstate.test', n), format('+7908%s', lpad(n::text, 7, '0')), format('s%s', n), 'DRIVER')
  RETURNING id INTO u;
  INSERT INTO steppergo.drivers (user_id, status, approval_status, availability, rating, review_count, acceptance_rate)
  VALUES (u, 'APPROVED', 'APPROVED', 'ONLINE', rating, 10, acc) RETURNING id INTO d;
  IF capacity IS NOT NULL THEN
    INSERT INTO steppergo.vehicles (driver_id, make, model, license_plate, passenger_capacity)
    VALUES (d, 'Toyota', 'Camry', 'S' || n, capacity);
  END IF;
  INSERT INTO steppergo.driver_locations (driver_id, latitude, longitude, last_updated)
  VALUES (d, lat, lng, now());
  RETURN d;
END $$;
CREATE FUNCTION dstate.id(n integer) RETURNS uuid
  LANGUAGE sql AS $$ SELECT d.id FROM steppergo.drivers d JOIN steppergo.users u ON u.id = d.user_id
                      WHERE u.email = format('s%s@dstate.test', n) $$;
-- position rows whose dispatch state differs from the recount (must be none)
CREATE VIEW dstate.drift AS
SELECT l.driver_id
  FROM steppergo.driver_locations l JOIN steppergo.driver_dispatch_state s ON s.driver_id = l.driver_id
 WHERE (l.dispatch_ready, l.dispatch_accepts_private, l.dispatch_accepts_shared, l.dispatch_seats,
        l.dispatch_holds, l.dispatch_rating, l.dispatch_review_count, l.dispatch_acceptance_rate)
       IS DISTINCT FROM
       (s.ready, s.accepts_private, s.accepts_shared, s.seats, s.holds, s.rating, s.review_count,
        s.acceptance_rate);
CREATE FUNCTION dstate.state(n integer) RETURNS text
  LANGUAGE sql AS $$
  SELECT format('ready=%s private=%s shared=%s seats=%s holds=%s rating=%s acc=%s drift=%s',
                l.dispatch_ready, l.dispatch_accepts_private, l.dispatch_accepts_shared, l.dispatch_seats,
                l.dispatch_holds, l.dispatch_rating, l.dispatch_acceptance_rate,
                (SELECT count(*) FROM dstate.drift))
    FROM steppergo.driver_locations l WHERE l.driver_id = dstate.id(n) $$;
INSERT INTO users (email, phone, name, role) VALUES
  ('organizer@dstate.test', '+79089990001', 'Organizer', 'PASSENGER'),
  ('admin@dstate.test', '+79089990002', 'Admin', 'ADMIN');

-- ---------------------------------------------------------------------------
-- The state follows every change that matters
-- ---------------------------------------------------------------------------
-- a first position takes the driver's state
SELECT FROM dstate.driver(1, 46.5, 64.5);
SELECT dstate.state(1) AS first_position;
-- a driver without a vehicle, then with one
SELECT FROM dstate.driver(2, 46.5, 64.51, NULL);
SELECT dstate.state(2) AS no_vehicle;
SELECT add_vehicle(dstate.id(2), 'Hyundai', 'Staria', 'S2B', passenger_capacity => 7) IS NOT NULL AS added;
SELECT dstate.state(2) AS with_minivan;
SELECT deactivate_vehicle((SELECT id FROM vehicles WHERE license_plate = 'S2B'));
SELECT dstate.state(2) AS deactivated;
SELECT activate_vehicle((SELECT id FROM vehicles WHERE license_plate = 'S2B'));
UPDATE vehicles SET passenger_capacity = 8 WHERE license_plate = 'S2B';
SELECT dstate.state(2) AS capacity_changed;
DELETE FROM vehicles WHERE license_plate = 'S2B';
SELECT dstate.state(2) AS vehicle_deleted;
-- approval, availability, trip types, rating and acceptance rate
UPDATE drivers SET availability = 'ON_BREAK' WHERE id = dstate.id(1);
SELECT dstate.state(1) AS on_break;
SELECT update_driver_availability(dstate.id(1), 'ONLINE') AS was;
SELECT suspend_driver(dstate.id(1), 'document check');
SELECT dstate.state(1) AS suspended;
UPDATE drivers SET status = 'APPROVED', availability = 'ONLINE', accepts_private_trips = false,
                   rating = 3.25, acceptance_rate = NULL WHERE id = dstate.id(1);
SELECT dstate.state(1) AS changed;
-- schedules
SELECT add_availability_schedule(dstate.id(1), now() + interval '1 day', now() + interval '1 day 2 hours',
                                 'BREAK') IS NOT NULL AS scheduled;
SELECT add_availability_schedule(dstate.id(1), now() + interval '2 days', now() + interval '2 days 2 hours',
                                 'UNAVAILABLE') IS NOT NULL AS scheduled;
SELECT dstate.state(1) AS two_schedules;
SELECT deactivate_availability_schedule(s.id) FROM driver_availability_schedules s
 WHERE s.driver_id = dstate.id(1) AND s.schedule_type = 'BREAK';
SELECT dstate.state(1) AS one_withdrawn;
DELETE FROM driver_availability_schedules WHERE driver_id = dstate.id(1);
SELECT dstate.state(1) AS schedules_deleted;
-- trips: assigned, offered, over, reopened, deleted
INSERT INTO trips (title, organizer_id, driver_id, departure_time, origin_name, origin_lat, origin_lng,
                   dest_name, dest_lat, dest_lng, total_seats, status, trip_type, price_per_seat)
SELECT 'State assigned', u.id, dstate.id(1), now() + interval '3 days', 'A', 46.5, 64.5, 'B', 46.6, 64.6,
       2, 'PUBLISHED', 'SHARED', 8000
  FROM users u WHERE u.email = 'organizer@dstate.test';
SELECT dstate.state(1) AS assigned;
UPDATE trips SET offered_to_driver_id = dstate.id(1), acceptance_deadline = now() + interval '20 seconds'
 WHERE title = 'State assigned';
SELECT dstate.state(1) AS assigned_and_offered;
UPDATE trips SET offered_to_driver_id = NULL, acceptance_deadline = NULL, status = 'CANCELLED'
 WHERE title = 'State assigned';
SELECT dstate.state(1) AS cancelled;
UPDATE trips SET status = 'PUBLISHED' WHERE title = 'State assigned';
SELECT dstate.state(1) AS reopened;
UPDATE trips SET driver_id = dstate.id(2) WHERE title = 'State assigned';
SELECT dstate.state(1) AS unassigned, dstate.state(2) AS other_driver;
DELETE FROM trips WHERE title = 'State assigned';
SELECT dstate.state(2) AS trip_deleted;

-- ---------------------------------------------------------------------------
-- refresh_dispatch_state: after a load with triggers off
-- ---------------------------------------------------------------------------
SELECT refresh_dispatch_state() AS nothing_to_fix;
BEGIN;
SET LOCAL session_replication_role = replica;
UPDATE drivers SET availability = 'OFFLINE' WHERE id = dstate.id(1);
INSERT INTO vehicles (driver_id, make, model, license_plate, passenger_capacity)
VALUES (dstate.id(2), 'Ford', 'Transit', 'S2C', 15);
COMMIT;
SELECT count(*) AS drifted FROM dstate.drift;
SELECT refresh_dispatch_state() AS fixed;
SELECT count(*) AS drifted FROM dstate.drift;
SELECT dstate.state(1) AS s1, dstate.state(2) AS s2;
-- as PostgREST calls it: admins only
DO $$ BEGIN CREATE ROLE dstate_api NOLOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;
GRANT USAGE ON SCHEMA steppergo TO dstate_api;
GRANT EXECUTE ON FUNCTION refresh_dispatch_state() TO dstate_api;
-- runs sql as dstate_api with the user's claims, rolls it back, returns ok
-- or the SQLSTATE
CREATE FUNCTION dstate.as_user(email text, sql text) RETURNS text
  LANGUAGE plpgsql AS $$
DECLARE
  u steppergo.users;
BEGIN
  SELECT * INTO u FROM steppergo.users x WHERE x.email = as_user.email;
  BEGIN
    PERFORM set_config('request.jwt.claims',
                       json_build_object('sub', u.id, 'app_role', u.role, 'role', 'authenticated')::text, true);
    PERFORM set_config('role', 'dstate_api', true);
    EXECUTE sql;
    RAISE EXCEPTION USING ERRCODE = 'ZZ000';
  EXCEPTION WHEN SQLSTATE 'ZZ000' THEN
    RETURN 'ok';
  WHEN OTHERS THEN
    RETURN SQLSTATE;
  END;
END $$;
SELECT dstate.as_user('organizer@dstate.test', 'SELECT steppergo.refresh_dispatch_state()') AS passenger,
       dstate.as_user('admin@dstate.test', 'SELECT steppergo.refresh_dispatch_state()') AS admin;

-- ---------------------------------------------------------------------------
-- Search paths: find_drivers returns exactly what a plain PostGIS query with
-- the same rules finds, in the same order, wherever the pickup point is
-- ---------------------------------------------------------------------------
-- the brute force: every driver within the radius by ST_Distance, eligible
-- by dispatch_exclusion, ranked by effective distance, distance, id
CREATE FUNCTION dstate.brute(trip uuid, radius integer) RETURNS uuid[]
  LANGUAGE sql AS $$
  SELECT coalesce(array_agg(id ORDER BY eff, dist, id), '{}')
    FROM (SELECT l.driver_id AS id, ST_Distance(l.geog, t.origin_geog) AS dist,
                 steppergo.dispatch_effective_distance(ST_Distance(l.geog, t.origin_geog), d.rating::float8,
                                                       d.review_count, d.acceptance_rate::float8) AS eff
            FROM steppergo.trips t, steppergo.driver_locations l JOIN steppergo.drivers d ON d.id = l.driver_id
           WHERE t.id = trip AND ST_DWithin(l.geog, t.origin_geog, radius)
             AND steppergo.dispatch_exclusion(t, l.driver_id) IS NULL) x $$;
CREATE FUNCTION dstate.found(trip uuid, radius integer, n integer DEFAULT 1000) RETURNS uuid[]
  LANGUAGE sql AS $$ SELECT coalesce(array_agg(driver_id ORDER BY score DESC, distance_m, driver_id), '{}')
                       FROM steppergo.find_drivers(trip, radius, n) $$;
CREATE TABLE dstate.trips (place text PRIMARY KEY, id uuid);
-- 60 drivers around each place, 1..12 km away in every direction, mixed
-- vehicles, ratings, types and holds; trips for 2 and for 6 seats
CREATE FUNCTION dstate.place(place text, lat float8, lng float8, base integer) RETURNS void
  LANGUAGE plpgsql AS $$
DECLARE
  i integer;
  d uuid;
  brg float8;
  dist float8;
BEGIN
  FOR i IN 1..60 LOOP
    brg := radians(i * 47 % 360);
    dist := 1000 + (i * 7919 % 11000);
    d := dstate.driver(base + i,
                       greatest(-89.999, least(89.999, lat + dist * cos(brg) / 111132.0)),
                       CASE WHEN lng + dist * sin(brg) / (111320.0 * greatest(cos(radians(lat)), 0.001)) > 180
                            THEN lng + dist * sin(brg) / (111320.0 * greatest(cos(radians(lat)), 0.001)) - 360
                            WHEN lng + dist * sin(brg) / (111320.0 * greatest(cos(radians(lat)), 0.001)) < -180
                            THEN lng + dist * sin(brg) / (111320.0 * greatest(cos(radians(lat)), 0.001)) + 360
                            ELSE lng + dist * sin(brg) / (111320.0 * greatest(cos(radians(lat)), 0.001)) END,
                       CASE WHEN i % 5 = 0 THEN 7 WHEN i % 11 = 0 THEN 15 ELSE 4 END,
                       3 + (i % 5) * 0.5, (i % 10) / 10.0);
    IF i % 7 = 0 THEN
      UPDATE steppergo.drivers SET accepts_shared_trips = false WHERE id = d;
    END IF;
    IF i % 13 = 0 THEN
      PERFORM steppergo.add_availability_schedule(d, now() - interval '1 hour', now() + interval '30 days', 'UNAVAILABLE');
    END IF;
    IF i % 17 = 0 THEN
      PERFORM steppergo.add_availability_schedule(d, now() + interval '20 days', now() + interval '21 days', 'BREAK');
    END IF;
  END LOOP;
  INSERT INTO steppergo.trips (title, organizer_id, departure_time, origin_name, origin_lat, origin_lng,
                               dest_name, dest_lat, dest_lng, total_seats, status, trip_type, price_per_seat)
  SELECT 'State ' || place || ' ' || s, u.id, now() + interval '2 hours', 'O', lat, lng, 'D',
         greatest(-89, least(89, lat - 0.1)), lng, s, 'PUBLISHED', 'SHARED', 8000
    FROM steppergo.users u, unnest(ARRAY[2, 6]) s WHERE u.email = 'organizer@dstate.test';
  INSERT INTO dstate.trips SELECT place || ' ' || s, t.id FROM steppergo.trips t, unnest(ARRAY[2, 6]) s
   WHERE t.title = 'State ' || place || ' ' || s;
END $$;
SELECT dstate.place('steppe', 47.5, 65.5, 100);          -- planar, point index
SELECT dstate.place('arctic', 80.0, 65.5, 200);          -- planar, wide longitude box
SELECT dstate.place('pole', 89.8, 10.0, 300);            -- geography: the radius reaches the pole
SELECT dstate.place('dateline', 65.0, 179.95, 400);      -- geography: the radius crosses the antimeridian
SELECT dstate.place('dateline_w', 65.0, -179.95, 500);   -- the same from the west
SELECT count(*) AS drifted FROM dstate.drift;
-- the index each search walks
SELECT d.place, dispatch_search_index(t.origin_lat, t.origin_lng, 15000, t.total_seats) AS index
  FROM dstate.trips d JOIN trips t ON t.id = d.id ORDER BY 1;
SELECT dispatch_search_index(43.2, 76.9, 2000000, 2) AS whole_country,
       dispatch_search_index(89.49, 0, 1, 1) AS below_89_5, dispatch_search_index(89.51, 0, 1, 1) AS above_89_5,
       dispatch_search_index(0, 179.49, 1, 1) AS west_of_179_5, dispatch_search_index(0, -179.51, 1, 1) AS east_of_minus_179_5;
SELECT dispatch_search_index('NaN', 0, 100, 1);
SELECT dispatch_search_index(0, 0, 0, 1);
-- some drivers of each place declined or timed out on its trips
INSERT INTO trip_acceptance_logs (trip_id, driver_id, action)
SELECT t.id, dstate.id(b + i), CASE WHEN i % 2 = 0 THEN 'DECLINED' ELSE 'TIMEOUT' END::trip_acceptance_action
  FROM dstate.trips t, (VALUES ('steppe', 100), ('arctic', 200), ('pole', 300), ('dateline', 400), ('dateline_w', 500)) p(place, b),
       unnest(ARRAY[3, 8]) i
 WHERE t.place LIKE p.place || ' %';
SELECT t.place, r AS radius_m, cardinality(dstate.brute(t.id, r)) AS eligible,
       dstate.found(t.id, r) = dstate.brute(t.id, r) AS same_set_and_order,
       dstate.found(t.id, r, 5) = (dstate.brute(t.id, r))[1:5] AS same_top_5
  FROM dstate.trips t, unnest(ARRAY[3000, 8000, 15000, 200000]) r ORDER BY 1, 2;
-- a 6-seat trip finds only vehicles seating 6 or more
SELECT t.place, bool_and(v.passenger_capacity >= 6) AS all_large, count(*) > 0 AS some
  FROM dstate.trips t, find_drivers(t.id, 15000, 1000) f JOIN vehicles v ON v.driver_id = f.driver_id AND v.is_active
 WHERE t.place LIKE '% 6' GROUP BY 1 ORDER BY 1;
-- the dateline trips see drivers on both sides of the antimeridian
SELECT t.place, count(*) FILTER (WHERE l.longitude > 0) AS east, count(*) FILTER (WHERE l.longitude < 0) AS west
  FROM dstate.trips t, find_drivers(t.id, 15000, 1000) f JOIN driver_locations l ON l.driver_id = f.driver_id
 WHERE t.place LIKE 'dateline%' GROUP BY 1 ORDER BY 1;
-- a driver going offline leaves the index the search walks; back online, returns
UPDATE drivers SET availability = 'OFFLINE' WHERE id = dstate.id(101);
SELECT dstate.found(id, 15000) = dstate.brute(id, 15000) AS same,
       dstate.id(101) = ANY (dstate.found(id, 15000)) AS offline_found
  FROM dstate.trips WHERE place = 'steppe 2';
UPDATE drivers SET availability = 'ONLINE' WHERE id = dstate.id(101);
SELECT dstate.found(id, 15000) = dstate.brute(id, 15000) AS same,
       dstate.id(101) = ANY (dstate.found(id, 15000)) AS online_found
  FROM dstate.trips WHERE place = 'steppe 2';
SELECT count(*) AS drifted FROM dstate.drift;

-- the indexes the search reads directly, under DBA maintenance (each case in
-- a transaction rolled back): rebuilt in the transaction, the search reads
-- the new index; invalid (a failed CREATE INDEX CONCURRENTLY), dropped or
-- renamed: 55000 naming it, and the failed call writes no visibility row
BEGIN;
DROP INDEX driver_locations_dispatch_idx;
CREATE INDEX driver_locations_dispatch_idx ON driver_locations USING gist (pos)
  WHERE dispatch_ready AND dispatch_seats > 0;
SELECT dstate.found(id, 15000) = dstate.brute(id, 15000) AS same_after_rebuild
  FROM dstate.trips WHERE place = 'steppe 2';
ROLLBACK;
DELETE FROM trip_driver_visibility WHERE trip_id IN (SELECT id FROM dstate.trips WHERE place = 'steppe 2');
CREATE FUNCTION dstate.try_find(place text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
  st text;
  msg text;
  hint text;
BEGIN
  PERFORM steppergo.find_drivers(t.id, 15000) FROM dstate.trips t WHERE t.place = try_find.place;
  RETURN 'found';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
  RETURN st || ': ' || msg || ' (hint: ' || hint || ')';
END $$;
BEGIN;
UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'driver_locations_dispatch_idx'::regclass;
SELECT dstate.try_find('steppe 2') AS invalid_index;
ROLLBACK;
BEGIN;
ALTER INDEX driver_locations_dispatch_large_idx RENAME TO driver_locations_dispatch_large_idx_old;
SELECT dstate.try_find('steppe 2') AS renamed_index;
ROLLBACK;
BEGIN;
DROP INDEX trips_dispatch_assigned_idx;
SELECT dstate.try_find('steppe 2') AS dropped_index;
ROLLBACK;
SELECT count(*) AS visibility_rows_of_failed_calls FROM trip_driver_visibility
 WHERE trip_id IN (SELECT id FROM dstate.trips WHERE place = 'steppe 2');
SELECT dstate.try_find('steppe 2') AS restored;
SELECT dstate.found(id, 15000) = dstate.brute(id, 15000) AS same_after_all
  FROM dstate.trips WHERE place = 'steppe 2';

-- clean up (the rows of this suite only)
DELETE FROM trip_acceptance_logs WHERE trip_id IN (SELECT id FROM dstate.trips);
DELETE FROM trips WHERE organizer_id = (SELECT id FROM users WHERE email = 'organizer@dstate.test');
DELETE FROM drivers WHERE user_id IN (SELECT id FROM users WHERE email LIKE '%@dstate.test');
DELETE FROM users WHERE email LIKE '%@dstate.test';
DROP SCHEMA dstate CASCADE;
DROP OWNED BY dstate_api;
DROP ROLE dstate_api;
