-- security: every API function, called as PostgREST would by an attacker
-- (anonymous for the anon functions, another passenger for the others),
-- with SQL injection in every text and JSON argument and the victim's ids in
-- every id argument.  Each call must end in success or a refusal with a
-- CONTRACT.md SQLSTATE; the injected statements never run; the victim's rows
-- are unchanged.  In a database of its own, with the API roles set up.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP DATABASE IF EXISTS security_fuzz;
CREATE DATABASE security_fuzz;
\c security_fuzz
SET client_min_messages = warning;
CREATE EXTENSION steppergo CASCADE;
SET search_path = steppergo, public;
SELECT setup_api_roles();

-- the victim's world: a passenger with a booking on a trip they organise, a
-- driver with a vehicle and a payout, an owner with an activity, a chat
INSERT INTO users (id, email, phone, name, password_hash, role) VALUES
  ('10000000-0000-7000-8000-0000000000f1', 'victim@fuzz.test', '+79085000001', 'Victim', 'x', 'PASSENGER'),
  ('10000000-0000-7000-8000-0000000000f2', 'attacker@fuzz.test', '+79085000002', 'Attacker', 'x', 'PASSENGER'),
  ('10000000-0000-7000-8000-0000000000f3', 'vdriver@fuzz.test', '+79085000003', 'Victim Driver', 'x', 'DRIVER'),
  ('10000000-0000-7000-8000-0000000000f4', 'vowner@fuzz.test', '+79085000004', 'Victim Owner', 'x', 'ACTIVITY_OWNER');
INSERT INTO sessions (id, user_id, token_hash, expires_at) VALUES
  ('30000000-0000-7000-8000-0000000000f2', '10000000-0000-7000-8000-0000000000f2', sha256('fuzz'), now() + interval '1 day');
INSERT INTO drivers (id, user_id, status, availability) VALUES
  ('20000000-0000-7000-8000-0000000000f3', '10000000-0000-7000-8000-0000000000f3', 'APPROVED', 'ONLINE');
INSERT INTO vehicles (id, driver_id, make, model, license_plate, passenger_capacity) VALUES
  ('21000000-0000-7000-8000-0000000000f3', '20000000-0000-7000-8000-0000000000f3', 'Toyota', 'Camry', '777 FUZ 02', 4);
INSERT INTO driver_locations (driver_id, latitude, longitude) VALUES ('20000000-0000-7000-8000-0000000000f3', 43.238, 76.889);
INSERT INTO trips (id, title, organizer_id, departure_time, origin_name, origin_lat, origin_lng, dest_name, dest_lat, dest_lng,
                   total_seats, trip_type, price_per_seat, status) VALUES
  ('40000000-0000-7000-8000-0000000000f1', 'Victim ride', '10000000-0000-7000-8000-0000000000f1', now() + interval '1 day',
   'A', 43.24, 76.89, 'B', 43.3, 77.0, 4, 'SHARED', 5000, 'PUBLISHED');
INSERT INTO bookings (id, trip_id, user_id, status, seats_booked, total_amount, passengers, payment_method_type) VALUES
  ('50000000-0000-7000-8000-0000000000f1', '40000000-0000-7000-8000-0000000000f1', '10000000-0000-7000-8000-0000000000f1',
   'CONFIRMED', 1, 5000, '[{"name": "Victim"}]', 'CASH_TO_DRIVER');
UPDATE trips SET available_seats = 3 WHERE id = '40000000-0000-7000-8000-0000000000f1';
INSERT INTO payouts (id, driver_id, amount, period_end) VALUES
  ('60000000-0000-7000-8000-0000000000f3', '20000000-0000-7000-8000-0000000000f3', 4250, now());
INSERT INTO activity_owners (id, user_id, business_name, verification_status) VALUES
  ('70000000-0000-7000-8000-0000000000f4', '10000000-0000-7000-8000-0000000000f4', 'Victim Tours', 'VERIFIED');
INSERT INTO activities (id, owner_id, title, category, price_per_person, status, latitude, longitude) VALUES
  ('71000000-0000-7000-8000-0000000000f4', '70000000-0000-7000-8000-0000000000f4', 'Victim hike', 'TOUR', 9000, 'ACTIVE', 43.1, 77.0);
INSERT INTO file_uploads (id, user_id, original_name, stored_name, mime_type, size_bytes, s3_bucket, s3_key, purpose) VALUES
  ('80000000-0000-7000-8000-0000000000f1', '10000000-0000-7000-8000-0000000000f1', 'a.jpg', 'a.jpg', 'image/jpeg', 10,
   'fuzz-bucket', 'victim/a.jpg', 'CHAT_IMAGE');
INSERT INTO messages (conversation_id, sender_id, content)
SELECT c.id, '10000000-0000-7000-8000-0000000000f1', 'private' FROM conversations c
 WHERE c.trip_id = '40000000-0000-7000-8000-0000000000f1';

-- a fingerprint of everything the victim owns
CREATE FUNCTION pg_temp.victim_state() RETURNS text LANGUAGE sql AS $$
  SELECT md5(concat_ws('|',
    (SELECT u::text FROM steppergo.users u WHERE id = '10000000-0000-7000-8000-0000000000f1'),
    (SELECT d::text FROM steppergo.drivers d WHERE id = '20000000-0000-7000-8000-0000000000f3'),
    (SELECT v::text FROM steppergo.vehicles v WHERE id = '21000000-0000-7000-8000-0000000000f3'),
    (SELECT l::text FROM steppergo.driver_locations l WHERE driver_id = '20000000-0000-7000-8000-0000000000f3'),
    (SELECT t::text FROM steppergo.trips t WHERE id = '40000000-0000-7000-8000-0000000000f1'),
    (SELECT b::text FROM steppergo.bookings b WHERE id = '50000000-0000-7000-8000-0000000000f1'),
    (SELECT p::text FROM steppergo.payouts p WHERE id = '60000000-0000-7000-8000-0000000000f3'),
    (SELECT o::text FROM steppergo.activity_owners o WHERE id = '70000000-0000-7000-8000-0000000000f4'),
    (SELECT a::text FROM steppergo.activities a WHERE id = '71000000-0000-7000-8000-0000000000f4'),
    (SELECT f::text FROM steppergo.file_uploads f WHERE id = '80000000-0000-7000-8000-0000000000f1'),
    (SELECT string_agg(m::text, ',' ORDER BY m.id) FROM steppergo.messages m
       JOIN steppergo.conversations c ON c.id = m.conversation_id
      WHERE c.trip_id = '40000000-0000-7000-8000-0000000000f1'),
    (SELECT count(*)::text FROM steppergo.admin_actions)))
$$;
CREATE TEMP TABLE before AS SELECT pg_temp.victim_state() AS state;

-- an argument for each type; ids are the victim's, by argument name
CREATE FUNCTION pg_temp.arg_for(name text, typ regtype, plausible boolean) RETURNS text LANGUAGE sql AS $$
  SELECT CASE
    WHEN typ = 'uuid'::regtype THEN quote_literal(CASE
      WHEN name IN ('trip_id') THEN '40000000-0000-7000-8000-0000000000f1'
      WHEN name IN ('booking_id') THEN '50000000-0000-7000-8000-0000000000f1'
      WHEN name IN ('driver_id') THEN '20000000-0000-7000-8000-0000000000f3'
      WHEN name IN ('vehicle_id') THEN '21000000-0000-7000-8000-0000000000f3'
      WHEN name IN ('payout_id') THEN '60000000-0000-7000-8000-0000000000f3'
      WHEN name IN ('owner_id') THEN '70000000-0000-7000-8000-0000000000f4'
      WHEN name IN ('activity_id') THEN '71000000-0000-7000-8000-0000000000f4'
      WHEN name IN ('file_id') THEN '80000000-0000-7000-8000-0000000000f1'
      WHEN name IN ('conversation_id') THEN (SELECT id::text FROM steppergo.conversations
                                               WHERE trip_id = '40000000-0000-7000-8000-0000000000f1')
      WHEN name IN ('message_id', 'up_to_message_id') THEN (SELECT m.id::text FROM steppergo.messages m
                                               JOIN steppergo.conversations c ON c.id = m.conversation_id
                                              WHERE c.trip_id = '40000000-0000-7000-8000-0000000000f1' LIMIT 1)
      ELSE '10000000-0000-7000-8000-0000000000f1' END) || '::uuid'
    WHEN typ IN ('text'::regtype, 'name'::regtype) AND plausible THEN
      quote_literal(CASE WHEN name IN ('status', 'new_status') THEN 'CANCELLED' WHEN name = 'day_of_week' THEN 'MON'
                         WHEN name = 'currency' THEN 'KZT' ELSE 'Almaty' END) || '::text'
    WHEN typ IN ('text'::regtype, 'name'::regtype) THEN
      quote_literal('x''); DROP TABLE steppergo.users; SELECT (''') || '::text'
    WHEN typ IN ('jsonb'::regtype, 'json'::regtype) AND plausible THEN
      CASE WHEN name IN ('passengers', 'pings', 'participant_details') THEN '''[]''::jsonb' ELSE '''{}''::jsonb' END
    WHEN typ IN ('jsonb'::regtype, 'json'::regtype) THEN
      quote_literal('{"name": "''; DROP TABLE steppergo.trips; --", "content": "x''||(SELECT 1)||''"}') || '::jsonb'
    WHEN typ IN ('integer'::regtype, 'bigint'::regtype, 'smallint'::regtype) THEN '1::' || typ::text
    WHEN typ = 'numeric'::regtype THEN '1::numeric'
    WHEN typ = 'double precision'::regtype AND plausible THEN '43.2::float8'
    WHEN typ = 'double precision'::regtype THEN quote_literal('NaN') || '::float8'
    WHEN typ = 'boolean'::regtype THEN 'true'
    WHEN typ = 'date'::regtype THEN '(current_date + 1)'
    WHEN typ = 'time without time zone'::regtype THEN quote_literal('10:00') || '::time'
    WHEN typ = 'timestamp with time zone'::regtype THEN '(now() + interval ''1 day'')'
    WHEN typ = 'inet'::regtype THEN quote_literal('127.0.0.1') || '::inet'
    WHEN typ = 'bytea'::regtype THEN quote_literal('\x00') || '::bytea'
    WHEN (SELECT typtype FROM pg_type WHERE oid = typ) = 'e' THEN
      quote_literal((SELECT enumlabel FROM pg_enum WHERE enumtypid = typ ORDER BY enumsortorder LIMIT 1)) || '::' || typ::text
    WHEN (SELECT typcategory FROM pg_type WHERE oid = typ) = 'A' THEN quote_literal('{}') || '::' || typ::text
    ELSE NULL END
$$;

CREATE TEMP TABLE calls (pass text, fn text, audience text, sqlstate text);
DO $$
DECLARE
  f record;
  args text;
  st text;
  plausible boolean;
BEGIN
  FOREACH plausible IN ARRAY ARRAY[false, true] LOOP
  FOR f IN SELECT a.signature, a.audience, ('steppergo.' || a.signature)::regprocedure AS fn
             FROM steppergo.api_functions a
            WHERE a.audience IN ('anon', 'authenticated') ORDER BY a.signature LOOP
    SELECT string_agg(pg_temp.arg_for(n, t, plausible), ', ' ORDER BY i) INTO args
      FROM pg_proc p, unnest(p.proargtypes::regtype[], p.proargnames) WITH ORDINALITY x(t, n, i)
     WHERE p.oid = f.fn AND i <= p.pronargs;
    IF args IS NULL AND (SELECT pronargs FROM pg_proc WHERE oid = f.fn) > 0 THEN
      INSERT INTO calls VALUES (CASE WHEN plausible THEN 'plausible' ELSE 'injection' END, f.signature, f.audience,
                                'skipped: argument of a row type');
      CONTINUE;
    END IF;
    st := '00000';
    BEGIN
      IF f.audience = 'anon' THEN
        SET LOCAL ROLE anon;
        PERFORM set_config('request.jwt.claims', '{"role": "anon"}', true);
      ELSE
        SET LOCAL ROLE authenticated;
        PERFORM set_config('request.jwt.claims', jsonb_build_object(
          'role', 'authenticated', 'sub', '10000000-0000-7000-8000-0000000000f2', 'app_role', 'PASSENGER',
          'sid', '30000000-0000-7000-8000-0000000000f2', 'exp', extract(epoch FROM now() + interval '1 hour')::bigint)::text, true);
      END IF;
      -- the result is used, so that even a STABLE function is evaluated
      EXECUTE format('SELECT count(r::text) FROM (SELECT %s(%s) AS r) x', f.fn::oid::regproc, coalesce(args, ''));
      RESET ROLE;
    EXCEPTION WHEN OTHERS THEN
      GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE;
    END;
    RESET ROLE;
    PERFORM set_config('request.jwt.claims', '', true);
    INSERT INTO calls VALUES (CASE WHEN plausible THEN 'plausible' ELSE 'injection' END, f.signature, f.audience, st);
  END LOOP;
  END LOOP;
END
$$;

-- every call ended in success or a refusal the contract lists
SELECT pass, fn, sqlstate FROM calls
 WHERE sqlstate NOT IN ('00000', '22023', '22004', '22P02', '22007', '22008', '22003', '22001',
                        'PT401', 'PT404', 'PT409', 'PT429', '42501', '23505')
   AND sqlstate NOT LIKE 'skipped%'
 ORDER BY 1, 2;
-- what each function answered the attacker, per pass (a reviewer reads this
-- list for calls that succeed where they should not)
SELECT pass, audience, sqlstate, count(*) AS calls, string_agg(split_part(fn, '(', 1), ', ' ORDER BY fn) AS functions
  FROM calls GROUP BY 1, 2, 3 ORDER BY 1, 2, 3;
-- the injected statements never ran, and the victim's rows are as they were
SELECT to_regclass('steppergo.users') IS NOT NULL AS users_table_stands,
       to_regclass('steppergo.trips') IS NOT NULL AS trips_table_stands,
       (SELECT state FROM before) = pg_temp.victim_state() AS victim_unchanged,
       (SELECT count(*) FROM calls) = 2 * (SELECT count(*) FROM steppergo.api_functions WHERE audience <> 'service') AS every_function_called;

\c contrib_regression
DROP DATABASE security_fuzz;
