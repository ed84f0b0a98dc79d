-- Every constraint of the schema, tried with a violating row.
--
-- One valid fixture row per table, then one violation per constraint, each
-- in its own subtransaction (rolled back), with the table's own triggers
-- disabled so that only the constraint under test can refuse.  NOT NULL
-- columns, foreign keys and length limits are tried for every column the
-- catalog lists; the other CHECK and UNIQUE constraints by the cases below.
-- At the end the constraints that were raised are compared with the
-- catalog: a constraint nobody tried is listed (the expected list is empty).
\set VERBOSITY terse
-- all in one transaction, rolled back at the end: no fixture stays behind
-- for the other suites to trip over
BEGIN;
SET LOCAL client_min_messages = warning;

CREATE TEMP TABLE fx (name text PRIMARY KEY, id uuid NOT NULL);
CREATE FUNCTION pg_temp.fx(text) RETURNS uuid LANGUAGE sql STABLE AS 'SELECT id FROM fx WHERE name = $1';

-- ------------------------------------------------------------- fixtures
WITH t AS (INSERT INTO steppergo.tenants (name) VALUES ('Constraint Tenant') RETURNING id)
INSERT INTO fx SELECT 'tenants', id FROM t;
WITH u AS (INSERT INTO steppergo.users (email, phone, name, password_hash, role)
           VALUES ('passenger@core.test', '+79000000001', 'Core Passenger', 'x', 'PASSENGER') RETURNING id)
INSERT INTO fx SELECT 'users', id FROM u;
WITH u AS (INSERT INTO steppergo.users (email, phone, name, password_hash, role)
           VALUES ('driver@core.test', '+79000000002', 'Core Driver', 'x', 'DRIVER') RETURNING id)
INSERT INTO fx SELECT 'driver_user', id FROM u;
WITH u AS (INSERT INTO steppergo.users (email, phone, name, password_hash, role)
           VALUES ('owner@core.test', '+79000000003', 'Core Owner', 'x', 'ACTIVITY_OWNER') RETURNING id)
INSERT INTO fx SELECT 'owner_user', id FROM u;
WITH s AS (INSERT INTO steppergo.sessions (user_id, token_hash, expires_at)
           VALUES (pg_temp.fx('users'), sha256('core-session'), now() + interval '1 day') RETURNING id)
INSERT INTO fx SELECT 'sessions', id FROM s;
WITH s AS (INSERT INTO steppergo.sessions (user_id, token_hash, expires_at)
           VALUES (pg_temp.fx('users'), sha256('core-session-2'), now() + interval '1 day') RETURNING id)
INSERT INTO fx SELECT 'session2', id FROM s;
WITH r AS (INSERT INTO steppergo.refresh_tokens (user_id, token_hash, session_id, expires_at)
           VALUES (pg_temp.fx('users'), sha256('core-refresh'), pg_temp.fx('sessions'), now() + interval '30 days') RETURNING id)
INSERT INTO fx SELECT 'refresh_tokens', id FROM r;
WITH r AS (INSERT INTO steppergo.refresh_tokens (user_id, token_hash, session_id, expires_at)
           VALUES (pg_temp.fx('users'), sha256('core-refresh-2'), pg_temp.fx('sessions'), now() + interval '30 days') RETURNING id)
INSERT INTO fx SELECT 'refresh2', id FROM r;
WITH o AS (INSERT INTO steppergo.otps (phone, code_hash, expires_at, verified, verified_at)
           VALUES ('+79000000001', sha256('core-otp'), now() + interval '5 minutes', true, now()) RETURNING id)
INSERT INTO fx SELECT 'otps', id FROM o;
WITH d AS (INSERT INTO steppergo.drivers (user_id, status, approval_status)
           VALUES (pg_temp.fx('driver_user'), 'APPROVED', 'APPROVED') RETURNING id)
INSERT INTO fx SELECT 'drivers', id FROM d;
WITH v AS (INSERT INTO steppergo.vehicles (driver_id, make, model, license_plate)
           VALUES (pg_temp.fx('drivers'), 'Toyota', 'Camry', '001 AAA 02') RETURNING id)
INSERT INTO fx SELECT 'vehicles', id FROM v;
INSERT INTO steppergo.driver_locations (driver_id, latitude, longitude) VALUES (pg_temp.fx('drivers'), 43.238, 76.889);
INSERT INTO fx VALUES ('driver_locations', pg_temp.fx('drivers'));
WITH s AS (INSERT INTO steppergo.driver_availability_schedules (driver_id, start_time, end_time)
           VALUES (pg_temp.fx('drivers'), now(), now() + interval '1 hour') RETURNING id)
INSERT INTO fx SELECT 'driver_availability_schedules', id FROM s;
WITH h AS (INSERT INTO steppergo.driver_availability_history (driver_id, previous_status, new_status)
           VALUES (pg_temp.fx('drivers'), 'OFFLINE', 'ONLINE') RETURNING id)
INSERT INTO fx SELECT 'driver_availability_history', id FROM h;
WITH c AS (INSERT INTO steppergo.driver_credential_deliveries (driver_id, channel)
           VALUES (pg_temp.fx('drivers'), 'SMS') RETURNING id)
INSERT INTO fx SELECT 'driver_credential_deliveries', id FROM c;
WITH t AS (INSERT INTO steppergo.trips (title, organizer_id, departure_time, origin_name, origin_lat, origin_lng,
                                        dest_name, dest_lat, dest_lng, total_seats, trip_type, price_per_seat)
           VALUES ('Core trip', pg_temp.fx('users'), now() + interval '1 day', 'A', 43.2, 76.9, 'B', 43.3, 77.0, 4,
                   'SHARED', 5000) RETURNING id)
INSERT INTO fx SELECT 'trips', id FROM t;
WITH t AS (INSERT INTO steppergo.trips (title, organizer_id, departure_time, origin_name, origin_lat, origin_lng,
                                        dest_name, dest_lat, dest_lng, total_seats)
           VALUES ('Core trip 2', pg_temp.fx('users'), now() + interval '2 days', 'A', 43.2, 76.9, 'B', 43.3, 77.0, 2) RETURNING id)
INSERT INTO fx SELECT 'trip2', id FROM t;
WITH v AS (INSERT INTO steppergo.trip_driver_visibility (trip_id, driver_id) VALUES (pg_temp.fx('trips'), pg_temp.fx('drivers')) RETURNING id)
INSERT INTO fx SELECT 'trip_driver_visibility', id FROM v;
WITH v AS (INSERT INTO steppergo.trip_driver_visibility (trip_id, driver_id) VALUES (pg_temp.fx('trip2'), pg_temp.fx('drivers')) RETURNING id)
INSERT INTO fx SELECT 'visibility2', id FROM v;
WITH l AS (INSERT INTO steppergo.trip_acceptance_logs (trip_id, driver_id, action) VALUES (pg_temp.fx('trips'), pg_temp.fx('drivers'), 'OFFERED') RETURNING id)
INSERT INTO fx SELECT 'trip_acceptance_logs', id FROM l;
WITH h AS (INSERT INTO steppergo.trip_status_history (trip_id, from_status, to_status) VALUES (pg_temp.fx('trips'), 'DRAFT', 'PUBLISHED') RETURNING id)
INSERT INTO fx SELECT 'trip_status_history', id FROM h;
WITH r AS (INSERT INTO steppergo.reviews (driver_id, trip_id, rating, reviewer_id) VALUES (pg_temp.fx('drivers'), pg_temp.fx('trips'), 5, pg_temp.fx('users')) RETURNING id)
INSERT INTO fx SELECT 'reviews', id FROM r;
WITH r AS (INSERT INTO steppergo.reviews (driver_id, trip_id, rating, reviewer_id) VALUES (pg_temp.fx('drivers'), pg_temp.fx('trip2'), 4, pg_temp.fx('users')) RETURNING id)
INSERT INTO fx SELECT 'review2', id FROM r;
WITH b AS (INSERT INTO steppergo.bookings (trip_id, user_id, seats_booked, total_amount, status)
           VALUES (pg_temp.fx('trips'), pg_temp.fx('users'), 1, 5000, 'COMPLETED') RETURNING id)
INSERT INTO fx SELECT 'bookings', id FROM b;
WITH b AS (INSERT INTO steppergo.bookings (trip_id, user_id, seats_booked, total_amount, status)
           VALUES (pg_temp.fx('trip2'), pg_temp.fx('users'), 1, 5000, 'COMPLETED') RETURNING id)
INSERT INTO fx SELECT 'booking2', id FROM b;
WITH p AS (INSERT INTO steppergo.payments (booking_id, stripe_intent_id, amount) VALUES (pg_temp.fx('bookings'), 'pi_core_1', 5000) RETURNING id)
INSERT INTO fx SELECT 'payments', id FROM p;
WITH p AS (INSERT INTO steppergo.payments (booking_id, stripe_intent_id, amount) VALUES (pg_temp.fx('booking2'), 'pi_core_2', 5000) RETURNING id)
INSERT INTO fx SELECT 'payment2', id FROM p;
WITH p AS (INSERT INTO steppergo.payouts (driver_id, amount, period_end, stripe_transfer_id) VALUES (pg_temp.fx('drivers'), 4250, now(), 'tr_core_1') RETURNING id)
INSERT INTO fx SELECT 'payouts', id FROM p;
WITH p AS (INSERT INTO steppergo.payouts (driver_id, amount, period_end, stripe_transfer_id) VALUES (pg_temp.fx('drivers'), 4250, now(), 'tr_core_2') RETURNING id)
INSERT INTO fx SELECT 'payout2', id FROM p;
WITH c AS (INSERT INTO steppergo.driver_commissions (driver_id, booking_id, trip_id, currency, gross, platform_rate, amount)
           VALUES (pg_temp.fx('drivers'), pg_temp.fx('bookings'), pg_temp.fx('trips'), 'KZT', 5000, 0.15, 750) RETURNING id)
INSERT INTO fx SELECT 'driver_commissions', id FROM c;
WITH c AS (INSERT INTO steppergo.driver_commissions (driver_id, booking_id, trip_id, currency, gross, platform_rate, amount)
           VALUES (pg_temp.fx('drivers'), pg_temp.fx('booking2'), pg_temp.fx('trip2'), 'KZT', 5000, 0.15, 750) RETURNING id)
INSERT INTO fx SELECT 'commission2', id FROM c;
WITH r AS (INSERT INTO steppergo.payout_released_bookings (payout_id, booking_id, platform_rate, platform_fee, driver_amount)
           VALUES (pg_temp.fx('payouts'), pg_temp.fx('bookings'), 0.15, 750, 4250) RETURNING id)
INSERT INTO fx SELECT 'payout_released_bookings', id FROM r;
WITH r AS (INSERT INTO steppergo.payout_released_bookings (payout_id, booking_id, platform_rate, platform_fee, driver_amount)
           VALUES (pg_temp.fx('payouts'), pg_temp.fx('booking2'), 0.15, 750, 4250) RETURNING id)
INSERT INTO fx SELECT 'released2', id FROM r;
-- a domain may create the conversation of a new trip itself
INSERT INTO steppergo.conversations (trip_id) VALUES (pg_temp.fx('trips')), (pg_temp.fx('trip2')) ON CONFLICT (trip_id) DO NOTHING;
INSERT INTO fx SELECT 'conversations', id FROM steppergo.conversations WHERE trip_id = pg_temp.fx('trips');
INSERT INTO fx SELECT 'conversation2', id FROM steppergo.conversations WHERE trip_id = pg_temp.fx('trip2');
INSERT INTO steppergo.conversation_participants (conversation_id, user_id)
VALUES (pg_temp.fx('conversations'), pg_temp.fx('users')), (pg_temp.fx('conversation2'), pg_temp.fx('users'))
ON CONFLICT (conversation_id, user_id) DO NOTHING;
INSERT INTO fx SELECT 'conversation_participants', id FROM steppergo.conversation_participants
 WHERE conversation_id = pg_temp.fx('conversations') AND user_id = pg_temp.fx('users');
INSERT INTO fx SELECT 'participant2', id FROM steppergo.conversation_participants
 WHERE conversation_id = pg_temp.fx('conversation2') AND user_id = pg_temp.fx('users');
WITH m AS (INSERT INTO steppergo.messages (conversation_id, sender_id, content) VALUES (pg_temp.fx('conversations'), pg_temp.fx('users'), 'hello') RETURNING id)
INSERT INTO fx SELECT 'messages', id FROM m;
INSERT INTO steppergo.chat_presence (user_id) VALUES (pg_temp.fx('users'));
INSERT INTO fx VALUES ('chat_presence', pg_temp.fx('users'));
WITH o AS (INSERT INTO steppergo.activity_owners (user_id, business_name) VALUES (pg_temp.fx('owner_user'), 'Core Tours') RETURNING id)
INSERT INTO fx SELECT 'activity_owners', id FROM o;
WITH a AS (INSERT INTO steppergo.activities (owner_id, title, category, price_per_person, latitude, longitude)
           VALUES (pg_temp.fx('activity_owners'), 'Core hike', 'TOUR', 9000, 43.1, 77.0) RETURNING id)
INSERT INTO fx SELECT 'activities', id FROM a;
WITH p AS (INSERT INTO steppergo.activity_photos (activity_id, url, cloudinary_id, is_cover) VALUES (pg_temp.fx('activities'), 'https://img.example/1.jpg', 'core/1', true) RETURNING id)
INSERT INTO fx SELECT 'activity_photos', id FROM p;
WITH p AS (INSERT INTO steppergo.activity_photos (activity_id, url, cloudinary_id) VALUES (pg_temp.fx('activities'), 'https://img.example/2.jpg', 'core/2') RETURNING id)
INSERT INTO fx SELECT 'photo2', id FROM p;
WITH s AS (INSERT INTO steppergo.activity_schedules (activity_id, day_of_week, start_time, end_time) VALUES (pg_temp.fx('activities'), 'MON', '08:00', '12:00') RETURNING id)
INSERT INTO fx SELECT 'activity_schedules', id FROM s;
WITH b AS (INSERT INTO steppergo.activity_bookings (activity_id, passenger_id, scheduled_date, scheduled_time, participants, price_per_person, total_amount, status)
           VALUES (pg_temp.fx('activities'), pg_temp.fx('users'), current_date + 7, '08:00', 2, 9000, 18000, 'COMPLETED') RETURNING id)
INSERT INTO fx SELECT 'activity_bookings', id FROM b;
WITH b AS (INSERT INTO steppergo.activity_bookings (activity_id, passenger_id, scheduled_date, scheduled_time, participants, price_per_person, total_amount, status)
           VALUES (pg_temp.fx('activities'), pg_temp.fx('users'), current_date + 14, '08:00', 1, 9000, 9000, 'COMPLETED') RETURNING id)
INSERT INTO fx SELECT 'activity_booking2', id FROM b;
WITH r AS (INSERT INTO steppergo.activity_reviews (activity_id, booking_id, passenger_id, rating) VALUES (pg_temp.fx('activities'), pg_temp.fx('activity_bookings'), pg_temp.fx('users'), 5) RETURNING id)
INSERT INTO fx SELECT 'activity_reviews', id FROM r;
WITH a AS (INSERT INTO steppergo.admin_actions (action_type, target_type, target_id) VALUES ('CORE_TEST', 'user', 'x') RETURNING id)
INSERT INTO fx SELECT 'admin_actions', id FROM a;
WITH d AS (INSERT INTO steppergo.document_verifications (user_id, driver_id, document_type, document_url)
           VALUES (pg_temp.fx('driver_user'), pg_temp.fx('drivers'), 'LICENSE', 'https://files.example/l.pdf') RETURNING id)
INSERT INTO fx SELECT 'document_verifications', id FROM d;
WITH f AS (INSERT INTO steppergo.file_uploads (user_id, original_name, stored_name, mime_type, size_bytes, s3_bucket, s3_key, purpose)
           VALUES (pg_temp.fx('users'), 'a.jpg', 'a.jpg', 'image/jpeg', 10, 'core-bucket', 'a.jpg', 'CHAT_IMAGE') RETURNING id)
INSERT INTO fx SELECT 'file_uploads', id FROM f;
WITH f AS (INSERT INTO steppergo.file_uploads (user_id, original_name, stored_name, mime_type, size_bytes, s3_bucket, s3_key, purpose)
           VALUES (pg_temp.fx('users'), 'b.jpg', 'b.jpg', 'image/jpeg', 10, 'core-bucket', 'b.jpg', 'CHAT_IMAGE') RETURNING id)
INSERT INTO fx SELECT 'file2', id FROM f;
WITH e AS (INSERT INTO steppergo.analytics_events (event_name, user_id) VALUES ('core_test', pg_temp.fx('users')) RETURNING id)
INSERT INTO fx SELECT 'analytics_events', id FROM e;
WITH w AS (INSERT INTO steppergo.webhook_logs (source, event_type, event_id, payload) VALUES ('stripe', 'core.test', 'evt_core_1', '{}') RETURNING id)
INSERT INTO fx SELECT 'webhook_logs', id FROM w;
WITH w AS (INSERT INTO steppergo.webhook_logs (source, event_type, event_id, payload) VALUES ('stripe', 'core.test', 'evt_core_2', '{}') RETURNING id)
INSERT INTO fx SELECT 'webhook2', id FROM w;
WITH n AS (INSERT INTO steppergo.notifications (user_id, type, channel, recipient, body) VALUES (pg_temp.fx('users'), 'CORE_TEST', 'SMS', '+79000000001', 'hi') RETURNING id)
INSERT INTO fx SELECT 'notifications', id FROM n;
INSERT INTO fx VALUES ('currencies', '00000000-0000-0000-0000-000000000000');

-- ------------------------------------------------------------ the runner
CREATE TEMP TABLE tried (label text, sqlstate text, constraint_name text, expected text, covers text);

-- run_case(table, SET clause for the fixture row | full statement, expected SQLSTATE, constraint it covers)
CREATE FUNCTION pg_temp.run_case(tbl text, stmt text, expected text, covers text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  st text := '00000';
  cn text;
  n bigint;
  -- (a partitioned table keyed per partition, analytics_events, has no
  -- primary key of its own: its rows are found by id)
  pk text := coalesce((SELECT a.attname FROM pg_constraint k
                         JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
                        WHERE k.conrelid = ('steppergo.' || quote_ident(tbl))::regclass AND k.contype = 'p'), 'id');
  key text := CASE tbl WHEN 'currencies' THEN quote_literal('KZT') ELSE format('pg_temp.fx(%L)', tbl) END;
BEGIN
  BEGIN
    EXECUTE format('ALTER TABLE steppergo.%I DISABLE TRIGGER USER', tbl);
    IF stmt ~* '^\s*(insert|update|delete|alter)\s' THEN
      EXECUTE stmt;
    ELSE
      EXECUTE format('UPDATE steppergo.%I SET %s WHERE %I = %s', tbl, stmt, pk, key);
      GET DIAGNOSTICS n = ROW_COUNT;
      IF n = 0 THEN
        RAISE EXCEPTION USING ERRCODE = 'XX998';   -- no fixture row to violate with
      END IF;
    END IF;
    RAISE EXCEPTION USING ERRCODE = 'XX999';   -- roll back: the statement was accepted
  EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, cn = CONSTRAINT_NAME;
    IF st = 'XX999' THEN st := 'accepted'; END IF;
    IF st = 'XX998' THEN st := 'no fixture row'; END IF;
  END;
  INSERT INTO tried VALUES (tbl || ': ' || stmt, st, nullif(cn, ''), expected, covers);
END
$$;

-- the tables under test: ordinary and partitioned, not partitions (they
-- inherit their parent's constraints) and not the registries
CREATE TEMP VIEW tables_under_test AS
SELECT c.oid, c.relname FROM pg_class c
 WHERE c.relnamespace = 'steppergo'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
   AND c.relname NOT IN ('job_definitions', 'api_functions', 'api_tables');

-- domains' deferred triggers must not stay pending: the cases alter tables
SET CONSTRAINTS ALL IMMEDIATE;

-- NOT NULL: every NOT NULL column of every table (but keys and generated columns)
SELECT pg_temp.run_case(c.relname, format('%I = NULL', a.attname), '23502', c.relname || '.' || a.attname || ' not null')
  FROM tables_under_test c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE a.attnotnull AND a.attgenerated = ''
   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p' AND a.attnum = ANY (k.conkey))
 ORDER BY c.relname, a.attnum \g /dev/null

-- foreign keys: a reference to nothing
SELECT pg_temp.run_case(c.relname,
         format('%I = %s', a.attname, CASE WHEN a.atttypid = 'uuid'::regtype THEN '''00000000-0000-7000-8000-000000000000''' ELSE '''XXQ''' END),
         '23503')
  FROM pg_constraint k JOIN tables_under_test c ON c.oid = k.conrelid
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.conkey[1]
 WHERE k.contype = 'f' AND k.conparentid = 0
   AND k.conname NOT IN ('trips_offered_to_driver_id_fkey',      -- needs a deadline too: a case below
                         'driver_commissions_payout_id_fkey')   -- only with status NETTED: a case below
 ORDER BY c.relname, k.conname \g /dev/null

-- length limits: one character (or byte) too many, or a blank text where a
-- minimum is set
SELECT pg_temp.run_case(c.relname,
         format('%I = %s', m[1], CASE WHEN a.atttypid = 'bytea'::regtype
                                      THEN format('decode(repeat(''00'', %s), ''hex'')', m[2]::int + 1)
                                      ELSE format('repeat(''x'', %s)', m[2]::int + 1) END), '23514')
  FROM pg_constraint k JOIN tables_under_test c ON c.oid = k.conrelid,
       regexp_match(pg_get_constraintdef(k.oid), 'length\((?:btrim\()?(\w+)\)?\) <= (\d+)') m,
       pg_attribute a
 WHERE k.contype = 'c' AND m IS NOT NULL
   AND a.attrelid = c.oid AND a.attname = m[1]
 ORDER BY c.relname, k.conname \g /dev/null
SELECT pg_temp.run_case(c.relname, format('%I = ''   ''', m[1]), '23514', k.conname)
  FROM pg_constraint k JOIN tables_under_test c ON c.oid = k.conrelid,
       regexp_match(pg_get_constraintdef(k.oid), 'length\(btrim\((\w+)\)\) >= 1') m
 WHERE k.contype = 'c' AND m IS NOT NULL
 ORDER BY c.relname, k.conname \g /dev/null

-- every other CHECK and UNIQUE constraint
CREATE TEMP TABLE cases (tbl text, stmt text, expected text, covers text);
INSERT INTO cases VALUES
  -- core
  ('currencies', 'code = ''kzt''', '23514', NULL),
  ('currencies', 'minor_unit = 5', '23514', NULL),
  ('tenants', 'platform_rate = 1.5', '23514', NULL),
  ('tenants', 'settings = ''[]''', '23514', NULL),
  ('tenants', 'timezone = ''Mars/Olympus''', '23514', NULL),
  ('tenants', 'INSERT INTO steppergo.tenants (name) VALUES (''Constraint Tenant'')', '23505', NULL),
  -- identity
  ('users', 'email = ''Not-Lower@core.test''', '23514', NULL),
  ('users', 'phone = ''87001234567''', '23514', NULL),
  ('users', 'email = NULL, phone = NULL', '23514', NULL),
  ('users', 'password_hash = ''''', '23514', 'users_password_hash_check'),
  ('users', 'email = ''driver@core.test''', '23505', NULL),
  ('users', 'phone = ''+79000000002''', '23505', NULL),
  ('sessions', 'token_hash = ''\x00''', '23514', NULL),
  ('sessions', 'expires_at = created_at', '23514', NULL),
  ('sessions', 'token_hash = sha256(''core-session-2'')', '23505', NULL),
  ('refresh_tokens', 'token_hash = ''\x00''', '23514', NULL),
  ('refresh_tokens', 'expires_at = created_at - interval ''1 second''', '23514', NULL),
  ('refresh_tokens', 'revoked = true', '23514', NULL),
  ('refresh_tokens', 'token_hash = sha256(''core-refresh-2'')', '23505', NULL),
  ('otps', 'code_hash = ''\x00''', '23514', NULL),
  ('otps', 'phone = ''+7''', '23514', NULL),
  ('otps', 'attempts = -1', '23514', NULL),
  ('otps', 'expires_at = created_at', '23514', NULL),
  ('otps', 'verified_at = NULL', '23514', NULL),
  ('otps', 'INSERT INTO steppergo.otps (phone, code_hash, expires_at) VALUES (''+79000000009'', sha256(''a''), now() + interval ''5 minutes''), (''+79000000009'', sha256(''b''), now() + interval ''5 minutes'')', '23505', NULL),
  -- drivers
  ('drivers', 'documents_url = ''[]''', '22023', 'drivers_documents_url_check'),
  ('drivers', 'documents_url = ''{"license": "ftp://x"}''', '22023', 'drivers_documents_url_check'),
  ('drivers', 'driver_id = ''driver-1''', '23514', NULL),
  ('drivers', 'vehicle_year = 1900', '23514', NULL),
  ('drivers', 'rating = 5.5', '23514', NULL),
  ('drivers', 'review_count = -1', '23514', NULL),
  ('drivers', 'completed_trips = -1', '23514', NULL),
  ('drivers', 'total_earnings = -0.01', '23514', NULL),
  ('drivers', 'approval_status = ''MAYBE''', '23514', NULL),
  ('drivers', 'languages = ARRAY[NULL]::text[]', '23514', NULL),
  ('drivers', 'acceptance_rate = 1.01', '23514', NULL),
  ('drivers', 'INSERT INTO steppergo.drivers (user_id, driver_id) VALUES (pg_temp.fx(''owner_user''), (SELECT driver_id FROM steppergo.drivers WHERE id = pg_temp.fx(''drivers'')))', '23505', NULL),
  ('drivers', 'INSERT INTO steppergo.drivers (user_id) VALUES (pg_temp.fx(''driver_user''))', '23505', NULL),
  ('vehicles', 'year = 2101', '23514', NULL),
  ('vehicles', 'passenger_capacity = 0', '23514', NULL),
  ('vehicles', 'luggage_capacity = -1', '23514', NULL),
  ('vehicles', 'amenities = ''{}''', '23514', NULL),
  ('vehicles', 'photos = ''"x"''', '23514', NULL),
  ('vehicles', 'make = ''''', '23514', 'vehicles_make_check'),
  ('vehicles', 'model = ''''', '23514', 'vehicles_model_check'),
  ('vehicles', 'license_plate = ''''', '23514', 'vehicles_license_plate_check'),
  ('vehicles', 'type = ''''', '23514', 'vehicles_type_check'),
  ('vehicles', 'INSERT INTO steppergo.vehicles (driver_id, make, model, license_plate) VALUES (pg_temp.fx(''drivers''), ''Kia'', ''Rio'', ''X'')', '23505', 'vehicles_one_active_per_driver'),
  ('driver_locations', 'latitude = 90.5', '23514', NULL),
  ('driver_locations', 'longitude = ''NaN''', '23514', NULL),
  ('driver_locations', 'heading = 360.5', '23514', NULL),
  ('driver_locations', 'speed = -1', '23514', NULL),
  ('driver_locations', 'accuracy = -1', '23514', NULL),
  ('driver_availability_schedules', 'end_time = start_time', '23514', NULL),
  ('driver_availability_schedules', 'schedule_type = ''HOLIDAY''', '23514', NULL),
  ('driver_availability_schedules', 'is_recurring = true', '23514', NULL),
  ('driver_availability_schedules', 'is_recurring = true, recurring_pattern = ''{"freq": "HOURLY"}''', '22023', 'driver_availability_schedules_recurring_pattern_check'),
  ('driver_availability_schedules', 'is_recurring = true, recurring_pattern = ''{"freq": "WEEKLY", "days": ["XYZ"]}''', '22023', 'driver_availability_schedules_recurring_pattern_check'),
  ('driver_availability_history', 'triggered_by = ''robot''', '23514', NULL),
  -- trips
  ('trips', 'timezone = ''UTC+5''', '23514', NULL),
  ('trips', 'origin_lat = -91', '23514', NULL),
  ('trips', 'origin_lng = 181', '23514', NULL),
  ('trips', 'dest_lat = ''NaN''', '23514', NULL),
  ('trips', 'dest_lng = -181', '23514', NULL),
  ('trips', 'total_seats = 61, available_seats = 0', '23514', NULL),
  ('trips', 'offered_to_driver_id = ''00000000-0000-7000-8000-000000000000'', acceptance_deadline = now()', '23503', NULL),
  ('trips', 'available_seats = 5', '23514', 'trips_seats'),
  ('trips', 'available_seats = -1', '23514', 'trips_seats'),
  ('trips', 'base_price = -1', '23514', NULL),
  ('trips', 'platform_fee = -1', '23514', NULL),
  ('trips', 'price_per_seat = -1', '23514', NULL),
  ('trips', 'price_per_seat = NULL', '23514', 'trips_shared_has_seat_price'),
  ('trips', 'driver_discovery_radius = 50', '23514', NULL),
  ('trips', 'estimated_earnings = -1', '23514', NULL),
  ('trips', 'offer_radius = 10', '23514', NULL),
  ('trips', 'return_time = departure_time', '23514', NULL),
  ('trips', 'acceptance_deadline = now()', '23514', 'trips_offer_has_deadline'),
  ('trips', 'itinerary = ''{"stops": [{"order": 1, "name": "A", "lat": 95, "lng": 76}]}''', '22023', 'trips_itinerary_check'),
  ('trips', 'itinerary = ''[]''', '22023', 'trips_itinerary_check'),
  ('trips', 'title = ''''', '23514', 'trips_title_check'),
  ('trips', 'origin_name = ''''', '23514', 'trips_origin_name_check'),
  ('trips', 'dest_name = ''''', '23514', 'trips_dest_name_check'),
  ('trip_driver_visibility', 'trip_id = pg_temp.fx(''trip2'')', '23505', NULL),
  ('trip_acceptance_logs', 'response_time_seconds = -1', '23514', NULL),
  ('trip_acceptance_logs', 'timeout_duration = 0', '23514', NULL),
  ('reviews', 'rating = 6', '23514', NULL),
  ('reviews', 'response = ''thanks''', '23514', NULL),
  ('reviews', 'trip_id = pg_temp.fx(''trip2'')', '23505', NULL),
  ('bookings', 'seats_booked = 0', '23514', NULL),
  ('bookings', 'total_amount = -1', '23514', NULL),
  ('bookings', 'payout_settled = true', '23514', NULL),
  ('bookings', 'passengers = ''[{"name": ""}]''', '22023', 'bookings_passengers_check'),
  ('bookings', 'passengers = ''[{"name": "A", "phone": "123"}]''', '22023', 'bookings_passengers_check'),
  ('bookings', 'boarding_attempts = -1', '23514', NULL),
  ('bookings', 'boarding_code_hash = ''\\x00''::bytea, boarding_code_issued_at = now()', '23514', 'bookings_boarding_code_hash_check'),
  ('bookings', 'boarding_code_issued_at = now()', '23514', 'bookings_code_issued'),
  ('bookings', 'boarded_at = now(), no_show_at = now()', '23514', 'bookings_boarded_or_no_show'),
  ('bookings', 'INSERT INTO steppergo.bookings (trip_id, user_id, total_amount, status) VALUES (pg_temp.fx(''trips''), pg_temp.fx(''users''), 1, ''PENDING''), (pg_temp.fx(''trips''), pg_temp.fx(''users''), 1, ''CONFIRMED'')', '23505', 'bookings_one_live_per_user'),
  ('payments', 'amount = -1', '23514', NULL),
  ('payments', 'last4 = ''12345''', '23514', NULL),
  ('payments', 'metadata = ''[]''', '23514', NULL),
  ('payments', 'stripe_intent_id = ''pi core''', '23514', NULL),
  ('payments', 'stripe_intent_id = ''pi_core_2''', '23505', NULL),
  ('payments', 'booking_id = pg_temp.fx(''booking2'')', '23505', NULL),
  -- payouts
  ('payouts', 'amount = -1', '23514', NULL),
  ('payouts', 'trips_count = -1', '23514', NULL),
  ('payouts', 'bookings_count = -1', '23514', NULL),
  ('payouts', 'metadata = ''[]''', '23514', NULL),
  ('payouts', 'provider_metadata = ''1''', '23514', NULL),
  ('payouts', 'period_start = period_end + interval ''1 day''', '23514', NULL),
  ('payouts', 'stripe_transfer_id = ''tr core''', '23514', NULL),
  ('payouts', 'stripe_transfer_id = ''tr_core_2''', '23505', NULL),
  ('payouts', 'commission_netted = -1', '23514', NULL),
  ('bookings', 'platform_rate = 0.15, platform_fee = 750, driver_amount = 4000', '23514', NULL),
  ('driver_commissions', 'gross = -1', '23514', NULL),
  ('driver_commissions', 'platform_rate = 1.5', '23514', NULL),
  ('driver_commissions', 'amount = 6000', '23514', NULL),
  ('driver_commissions', 'amount = -1', '23514', NULL),
  ('driver_commissions', 'status = ''NETTED'', netted_at = now(), payout_id = ''00000000-0000-7000-8000-000000000000''', '23503', NULL),
  ('driver_commissions', 'status = ''LOST''', '23514', NULL),
  ('driver_commissions', 'status = ''NETTED''', '23514', NULL),
  ('driver_commissions', 'status = ''PAID''', '23514', NULL),
  ('driver_commissions', 'booking_id = pg_temp.fx(''booking2'')', '23505', NULL),
  ('payout_released_bookings', 'booking_id = pg_temp.fx(''booking2'')', '23505', NULL),
  -- messaging
  ('conversations', 'trip_id = pg_temp.fx(''trip2'')', '23505', NULL),
  ('conversation_participants', 'unread_count = -1', '23514', NULL),
  ('conversation_participants', 'left_at = joined_at - interval ''1 second''', '23514', NULL),
  ('conversation_participants', 'conversation_id = pg_temp.fx(''conversation2'')', '23505', NULL),
  ('messages', 'metadata = ''[]''', '23514', NULL),
  ('messages', 'INSERT INTO steppergo.messages (conversation_id, content, sent_at) SELECT conversation_id, ''again'', sent_at FROM steppergo.messages WHERE id = pg_temp.fx(''messages'')', '23505', NULL),
  -- activities
  ('activity_owners', 'country = ''KAZ''', '23514', NULL),
  ('activity_owners', 'phone = ''123''', '23514', NULL),
  ('activity_owners', 'website = ''javascript:alert(1)''', '23514', NULL),
  ('activity_owners', 'verification_status = ''MAYBE''', '23514', NULL),
  ('activity_owners', 'categories = ARRAY[''GAMBLING'']', '23514', NULL),
  ('activity_owners', 'documents_url = ''"x"''', '22023', 'activity_owners_documents_url_check'),
  ('activity_owners', 'total_activities = -1', '23514', NULL),
  ('activity_owners', 'total_bookings = -1', '23514', NULL),
  ('activity_owners', 'total_revenue = -1', '23514', NULL),
  ('activity_owners', 'average_rating = 6', '23514', NULL),
  ('activity_owners', 'business_name = '' ''', '23514', 'activity_owners_business_name_check'),
  ('activity_owners', 'INSERT INTO steppergo.activity_owners (user_id, business_name) VALUES (pg_temp.fx(''owner_user''), ''Twice'')', '23505', NULL),
  ('activities', 'category = ''GAMBLING''', '23514', NULL),
  ('activities', 'status = ''LIVE''', '23514', NULL),
  ('activities', 'latitude = 91', '23514', NULL),
  ('activities', 'longitude = 181', '23514', NULL),
  ('activities', 'latitude = NULL', '23514', 'activities_position'),
  ('activities', 'price_per_person = -1', '23514', NULL),
  ('activities', 'min_participants = 0', '23514', NULL),
  ('activities', 'max_participants = 10001', '23514', NULL),
  ('activities', 'min_participants = 5, max_participants = 4', '23514', 'activities_participants'),
  ('activities', 'duration_minutes = 0', '23514', NULL),
  ('activities', 'schedule_type = ''SOMETIMES''', '23514', NULL),
  ('activities', 'available_days = ARRAY[''MONDAY'']', '23514', NULL),
  ('activities', 'blackout_dates = ARRAY[NULL]::date[]', '23514', NULL),
  ('activities', 'advance_booking_days = 0', '23514', NULL),
  ('activities', 'inclusions = array_fill(''x''::text, ARRAY[51])', '23514', NULL),
  ('activities', 'exclusions = array_fill(''x''::text, ARRAY[51])', '23514', NULL),
  ('activities', 'requirements = array_fill(''x''::text, ARRAY[51])', '23514', NULL),
  ('activities', 'total_bookings = -1', '23514', NULL),
  ('activities', 'total_revenue = -1', '23514', NULL),
  ('activities', 'average_rating = -1', '23514', NULL),
  ('activities', 'review_count = -1', '23514', NULL),
  ('activities', 'timezone = ''Nowhere/City''', '23514', NULL),
  ('activities', 'min_notice_hours = -1', '23514', NULL),
  ('activities', 'group_pricing = ''[{"minParticipants": 2, "maxParticipants": 5, "pricePerPerson": 100}, {"minParticipants": 5, "maxParticipants": 8, "pricePerPerson": 90}]''', '22023', 'activities_group_pricing_check'),
  ('activities', 'cancellation_policy = ''{"tiers": [{"hoursBefore": 24, "refundPercent": 150}]}''', '22023', 'activities_cancellation_policy_check'),
  ('activities', 'title = ''''', '23514', 'activities_title_check'),
  ('activities', 'city = ''''', '23514', 'activities_city_check'),
  ('activity_photos', 'url = ''not a url''', '23514', NULL),
  ('activity_photos', 'thumbnail_url = ''x''', '23514', NULL),
  ('activity_photos', 'width = 0', '23514', NULL),
  ('activity_photos', 'height = 0', '23514', NULL),
  ('activity_photos', 'size = -1', '23514', NULL),
  ('activity_photos', '"order" = -1', '23514', NULL),
  ('activity_photos', 'cloudinary_id = ''core/2''', '23505', NULL),
  ('activity_photos', 'cloudinary_id = ''''', '23514', 'activity_photos_cloudinary_id_check'),
  ('activity_photos', 'UPDATE steppergo.activity_photos SET is_cover = true WHERE activity_id = pg_temp.fx(''activities'')', '23505', 'activity_photos_one_cover'),
  ('activity_schedules', 'day_of_week = ''MONDAY''', '23514', NULL),
  ('activity_schedules', 'end_time = start_time', '23514', NULL),
  ('activity_schedules', 'is_recurring = false', '23514', 'activity_schedules_when'),
  ('activity_bookings', 'booking_number = ''ACT-1''', '23514', NULL),
  ('activity_bookings', 'booking_number = (SELECT booking_number FROM steppergo.activity_bookings WHERE id = pg_temp.fx(''activity_booking2''))', '23505', NULL),
  ('activity_bookings', 'participants = 0', '23514', NULL),
  ('activity_bookings', 'participant_details = ''{}''', '23514', NULL),
  ('activity_bookings', 'price_per_person = -1', '23514', NULL),
  -- a negative total also breaks refund_amount <= total_amount: take that one away
  ('activity_bookings', 'ALTER TABLE steppergo.activity_bookings DROP CONSTRAINT activity_bookings_refund; UPDATE steppergo.activity_bookings SET total_amount = -1 WHERE id = pg_temp.fx(''activity_bookings'')', '23514', NULL),
  ('activity_bookings', 'refund_amount = -1', '23514', NULL),
  ('activity_bookings', 'refund_amount = total_amount + 1', '23514', 'activity_bookings_refund'),
  ('activity_bookings', 'cancellation_policy = ''{"tiers": "all"}''', '22023', 'activity_bookings_cancellation_policy_check'),
  ('activity_reviews', 'rating = 0', '23514', NULL),
  ('activity_reviews', 'photos = array_fill(''x''::text, ARRAY[11])', '23514', NULL),
  ('activity_reviews', 'INSERT INTO steppergo.activity_reviews (activity_id, booking_id, passenger_id, rating) VALUES (pg_temp.fx(''activities''), pg_temp.fx(''activity_bookings''), pg_temp.fx(''users''), 4)', '23505', NULL),
  -- admin
  ('admin_actions', 'action_type = ''approved''', '23514', NULL),
  ('admin_actions', 'target_type = ''Driver''', '23514', NULL),
  ('admin_actions', 'details = ''[]''', '23514', NULL),
  ('admin_actions', 'seq = 0', '23514', NULL),
  ('admin_actions', 'prev_hash = ''\x00''', '23514', NULL),
  ('admin_actions', 'row_hash = ''\x00''', '23514', NULL),
  ('admin_actions', 'INSERT INTO steppergo.admin_actions (action_type, target_type, seq) SELECT ''CORE_TEST'', ''user'', seq FROM steppergo.admin_actions WHERE id = pg_temp.fx(''admin_actions'')', '23505', NULL),
  ('document_verifications', 'document_type = ''DIPLOMA''', '23514', NULL),
  ('document_verifications', 'document_url = ''file:///etc/passwd''', '23514', NULL),
  ('document_verifications', 'status = ''LOST''', '23514', NULL),
  ('document_verifications', 'status = ''REJECTED''', '23514', 'document_verifications_rejection'),
  ('document_verifications', 'expiry_date = created_at', '23514', 'document_verifications_expiry'),
  ('document_verifications', 'metadata = ''[]''', '23514', NULL),
  ('file_uploads', 'mime_type = ''Image/JPEG''', '23514', NULL),
  ('file_uploads', 'size_bytes = -1', '23514', NULL),
  ('file_uploads', 's3_bucket = ''Bad_Bucket''', '23514', NULL),
  ('file_uploads', 'url = ''x''', '23514', NULL),
  ('file_uploads', 'purpose = ''chat''', '23514', NULL),
  ('file_uploads', 'metadata = ''[]''', '23514', NULL),
  ('file_uploads', 's3_key = ''b.jpg''', '23505', NULL),
  ('file_uploads', 'original_name = ''''', '23514', 'file_uploads_original_name_check'),
  ('file_uploads', 'stored_name = ''''', '23514', 'file_uploads_stored_name_check'),
  ('file_uploads', 's3_key = ''''', '23514', 'file_uploads_s3_key_check'),
  ('analytics_events', 'event_name = ''App Open''', '23514', NULL),
  ('analytics_events', 'metadata = ''[]''', '23514', NULL),
  ('webhook_logs', 'source = ''Stripe''', '23514', NULL),
  ('webhook_logs', 'event_type = ''''', '23514', 'webhook_logs_event_type_check'),
  ('webhook_logs', 'event_id = ''''', '23514', 'webhook_logs_event_id_check'),
  ('webhook_logs', 'event_id = ''evt_core_2''', '23505', NULL),
  ('webhook_logs', 'attempts = -1', '23514', NULL),
  ('webhook_logs', 'processed = true', '23514', NULL),
  ('notifications', 'type = ''new message''', '23514', NULL),
  ('notifications', 'status = ''LOST''', '23514', NULL),
  ('notifications', 'recipient = ''''', '23514', 'notifications_recipient_check'),
  ('notifications', 'payload = ''[]''', '23514', NULL),
  ('notifications', 'priority = 101', '23514', NULL),
  ('notifications', 'attempts = -1', '23514', NULL),
  ('notifications', 'max_attempts = 0', '23514', NULL),
  ('notifications', 'status = ''SENDING''', '23514', 'notifications_claimed');
SELECT pg_temp.run_case(tbl, stmt, expected, covers) FROM cases \g /dev/null

-- every case refused with the expected SQLSTATE
SELECT label, sqlstate, expected FROM tried WHERE sqlstate IS DISTINCT FROM expected ORDER BY label;

-- a CHECK refusal names the constraint it came from (a JSON validator raises 22023 itself)
SELECT label, constraint_name, covers FROM tried
 WHERE covers IS NOT NULL AND covers !~ ' not null$' AND expected NOT IN ('22023', 'accepted')
   AND constraint_name IS DISTINCT FROM covers
 ORDER BY label;

-- constraints and unique indexes of the schema that no case raised
SELECT k.conrelid::regclass AS relation, k.conname AS untried_constraint
  FROM pg_constraint k JOIN tables_under_test c ON c.oid = k.conrelid
 WHERE k.contype IN ('c', 'u', 'f', 'x')
   AND k.conname NOT IN (SELECT constraint_name FROM tried WHERE constraint_name IS NOT NULL
                         UNION SELECT covers FROM tried WHERE covers IS NOT NULL AND sqlstate = expected)
UNION ALL
-- unique indexes that are not constraints; one that contains the primary
-- key cannot be violated on its own and needs no case
SELECT i.indrelid::regclass, ic.relname
  FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid JOIN tables_under_test c ON c.oid = i.indrelid
 WHERE i.indisunique AND NOT i.indisprimary
   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)
   AND NOT EXISTS (SELECT 1 FROM pg_constraint p WHERE p.conrelid = i.indrelid AND p.contype = 'p'
                      AND p.conkey::int2[] <@ i.indkey::int2[])
   AND ic.relname NOT IN (SELECT constraint_name FROM tried WHERE constraint_name IS NOT NULL
                          UNION SELECT covers FROM tried WHERE covers IS NOT NULL AND sqlstate = expected)
ORDER BY 1, 2;

-- NOT NULL columns nobody tried
SELECT c.oid::regclass AS relation, a.attname AS untried_not_null
  FROM tables_under_test c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE a.attnotnull AND a.attgenerated = ''
   AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p' AND a.attnum = ANY (k.conkey))
   AND (c.relname || '.' || a.attname || ' not null') NOT IN (SELECT covers FROM tried WHERE sqlstate = '23502')
 ORDER BY 1, 2;

SELECT count(*) > 400 AS many_cases_tried FROM tried;

ROLLBACK;
