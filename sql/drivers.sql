-- drivers: onboarding, vehicles, approval, availability, schedules,
-- live location (C), auto-offline.  Test data: +7902NNNNNNN, *@drivers.test
\set VERBOSITY terse
SET client_min_messages = warning;

-- try(sql): runs a statement, returns ok or "SQLSTATE: message (detail)";
-- the EXCEPTION block also proves a refusal leaves nothing behind
CREATE FUNCTION public.drivers_try(sql text) RETURNS text
  LANGUAGE plpgsql AS $$
DECLARE
  st text; msg text; det text;
BEGIN
  EXECUTE sql;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT, det = PG_EXCEPTION_DETAIL;
  -- driver numbers depend on what other suites created before: masked
  RETURN regexp_replace(st || ': ' || msg || CASE WHEN det <> '' THEN ' (' || det || ')' ELSE '' END,
                        'DRV-[0-9]+', 'DRV-N', 'g');
END
$$;
-- a plain API role, as PostgREST would switch to (until the security domain lands)
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'regress_drivers_api') THEN
    CREATE ROLE regress_drivers_api NOLOGIN;
  END IF;
END $$;
GRANT USAGE ON SCHEMA steppergo TO regress_drivers_api;
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA steppergo TO regress_drivers_api;

-- users: three future drivers, a passenger, an admin, an activity owner
INSERT INTO steppergo.users (email, phone, name, role) VALUES
  ('aigerim@drivers.test', '+79020000001', 'Aigerim', 'PASSENGER'),
  ('bolat@drivers.test',   '+79020000002', 'Bolat',   'PASSENGER'),
  ('dana@drivers.test',    '+79020000003', 'Dana',    'DRIVER'),
  ('erlan@drivers.test',   '+79020000004', 'Erlan',   'PASSENGER'),
  ('admin@drivers.test',   '+79020000005', 'Admin',   'ADMIN'),
  ('owner@drivers.test',   '+79020000006', 'Owner',   'ACTIVITY_OWNER');
SELECT id AS u_a FROM steppergo.users WHERE email = 'aigerim@drivers.test' \gset
SELECT id AS u_b FROM steppergo.users WHERE email = 'bolat@drivers.test' \gset
SELECT id AS u_d FROM steppergo.users WHERE email = 'dana@drivers.test' \gset
SELECT id AS u_e FROM steppergo.users WHERE email = 'erlan@drivers.test' \gset
SELECT id AS u_admin FROM steppergo.users WHERE email = 'admin@drivers.test' \gset
SELECT id AS u_owner FROM steppergo.users WHERE email = 'owner@drivers.test' \gset

-- ------------------------------------------------------------ onboarding
-- trusted caller (psql) onboards Aigerim
SELECT steppergo.create_driver_profile(:'u_a', 'KZ-LIC-1', now() + interval '2 years', '{ru,kk,ru}') AS d_a \gset
SELECT driver_id ~ '^DRV-[0-9]{6}$' AS numbered, status, approval_status, availability, languages,
       accepts_private_trips, accepts_shared_trips, last_activity_at IS NOT NULL AS active
  FROM steppergo.drivers WHERE id = :'d_a';
SELECT role FROM steppergo.users WHERE id = :'u_a';
-- refusals
SELECT drivers_try(format('SELECT steppergo.create_driver_profile(%L)', :'u_a'));      -- again
SELECT drivers_try('SELECT steppergo.create_driver_profile(NULL)');
SELECT drivers_try('SELECT steppergo.create_driver_profile(''00000000-0000-0000-0000-000000000000'')');
SELECT drivers_try(format('SELECT steppergo.create_driver_profile(%L)', :'u_admin'));
SELECT drivers_try(format('SELECT steppergo.create_driver_profile(%L)', :'u_owner'));
SELECT drivers_try(format('SELECT steppergo.create_driver_profile(%L, languages => ''{Russian}'')', :'u_b'));
SELECT drivers_try(format('SELECT steppergo.create_driver_profile(%L, license_expiry => now() - interval ''1 day'')', :'u_b'));
SELECT drivers_try(format('SELECT steppergo.create_driver_profile(%L, documents_url => ''{"license": "ftp://x"}'')', :'u_b'));
SELECT count(*) AS bolat_profiles FROM steppergo.drivers WHERE user_id = :'u_b';

-- API callers: Bolat onboards himself; Erlan cannot onboard Bolat; anonymous cannot
BEGIN;
SET LOCAL ROLE regress_drivers_api;
SELECT set_config('request.jwt.claims', json_build_object('sub', :'u_e', 'app_role', 'PASSENGER')::text, true) IS NOT NULL AS claims;
SELECT drivers_try(format('SELECT steppergo.create_driver_profile(%L)', :'u_b'));
SELECT set_config('request.jwt.claims', '{"role": "anon"}', true) IS NOT NULL AS claims;
SELECT drivers_try(format('SELECT steppergo.create_driver_profile(%L)', :'u_b'));
SELECT set_config('request.jwt.claims', json_build_object('sub', :'u_b', 'app_role', 'PASSENGER')::text, true) IS NOT NULL AS claims;
SELECT steppergo.create_driver_profile(:'u_b', documents_url => '{"license": "https://docs.example.kz/b/license.pdf"}') IS NOT NULL AS onboarded;
COMMIT;
SELECT id AS d_b FROM steppergo.drivers WHERE user_id = :'u_b' \gset
SELECT u.role, d.status, d.documents_url FROM steppergo.drivers d JOIN steppergo.users u ON u.id = d.user_id WHERE d.id = :'d_b';
-- a user registered as DRIVER keeps the role
SELECT steppergo.create_driver_profile(:'u_d') AS d_d \gset
SELECT steppergo.create_driver_profile(:'u_e') AS d_e \gset

-- approval_status mirrors status, whoever writes
UPDATE steppergo.drivers SET approval_status = 'APPROVED' WHERE id = :'d_e';
SELECT status, approval_status FROM steppergo.drivers WHERE id = :'d_e';

-- profile and documents
SELECT steppergo.update_driver_profile(:'d_a', languages => '{en}', accepts_shared_trips => false);
SELECT languages, license_number, accepts_private_trips, accepts_shared_trips FROM steppergo.drivers WHERE id = :'d_a';
SELECT drivers_try(format('SELECT steppergo.update_driver_profile(%L, license_number => repeat(''x'', 51))', :'d_a'));
SELECT drivers_try('SELECT steppergo.update_driver_profile(''00000000-0000-0000-0000-000000000000'')');
SELECT steppergo.set_driver_documents(:'d_b', '{"insurance": "https://docs.example.kz/b/ins.pdf"}');
SELECT steppergo.set_driver_documents(:'d_b', '{"license": null}');
SELECT drivers_try(format('SELECT steppergo.set_driver_documents(%L, ''["x"]'')', :'d_b'));
SELECT drivers_try(format('SELECT steppergo.set_driver_documents(%L, ''{"Bad Key": "https://x.kz"}'')', :'d_b'));
SELECT drivers_try(format('SELECT steppergo.set_driver_documents(%L, ''{"license": "not a url"}'')', :'d_b'));
SELECT drivers_try(format('SELECT steppergo.set_driver_documents(%L, NULL)', :'d_b'));
SELECT documents_url FROM steppergo.drivers WHERE id = :'d_b';

-- -------------------------------------------------------------- vehicles
SELECT steppergo.add_vehicle(:'d_a', 'Toyota', 'Camry', '777abc02', 2021, 'white') AS v_a1 \gset
SELECT steppergo.add_vehicle(:'d_a', 'Hyundai', 'Starex', '123xyz02', 2019, passenger_capacity => 8,
                             amenities => '["air_conditioning"]') AS v_a2 \gset
SELECT make, license_plate, type, passenger_capacity, is_active FROM steppergo.vehicles WHERE driver_id = :'d_a' ORDER BY make;
SELECT vehicle_make, vehicle_model, vehicle_year, license_plate, vehicle_type FROM steppergo.drivers WHERE id = :'d_a';
SELECT steppergo.activate_vehicle(:'v_a2');
SELECT steppergo.activate_vehicle(:'v_a2');   -- harmless twice
SELECT make, is_active FROM steppergo.vehicles WHERE driver_id = :'d_a' ORDER BY make;
SELECT vehicle_make, license_plate FROM steppergo.drivers WHERE id = :'d_a';
-- activate => true on add switches the active vehicle at once
SELECT steppergo.add_vehicle(:'d_a', 'Kia', 'K5', '555kia02', activate => true) IS NOT NULL AS added;
SELECT make, is_active FROM steppergo.vehicles WHERE driver_id = :'d_a' ORDER BY make;
SELECT steppergo.deactivate_vehicle(id) FROM steppergo.vehicles WHERE driver_id = :'d_a' AND make = 'Kia';
SELECT count(*) FILTER (WHERE is_active) AS active_vehicles FROM steppergo.vehicles WHERE driver_id = :'d_a';
SELECT vehicle_make IS NULL AS no_main_vehicle FROM steppergo.drivers WHERE id = :'d_a';
SELECT steppergo.activate_vehicle(:'v_a2');
SELECT drivers_try(format('SELECT steppergo.add_vehicle(%L, ''Lada'', ''Niva'', ''1'', passenger_capacity => 0)', :'d_a'));
SELECT drivers_try(format('SELECT steppergo.add_vehicle(%L, ''Lada'', ''Niva'', ''1'', year => 1900)', :'d_a'));
SELECT drivers_try(format('SELECT steppergo.add_vehicle(%L, NULL, ''Niva'', ''1'')', :'d_a'));
SELECT drivers_try(format('SELECT steppergo.add_vehicle(%L, ''  '', ''Niva'', ''1'')', :'d_a'));
SELECT drivers_try(format('SELECT steppergo.add_vehicle(%L, ''Lada'', ''Niva'', ''1'', photos => ''["file:///etc/passwd"]'')', :'d_a'));
SELECT drivers_try(format('SELECT steppergo.add_vehicle(%L, ''Lada'', ''Niva'', ''1'', amenities => ''{}'')', :'d_a'));
SELECT drivers_try('SELECT steppergo.activate_vehicle(''00000000-0000-0000-0000-000000000000'')');
SELECT drivers_try('SELECT steppergo.deactivate_vehicle(NULL)');
-- Bolat may not touch Aigerim's vehicles
BEGIN;
SET LOCAL ROLE regress_drivers_api;
SELECT set_config('request.jwt.claims', json_build_object('sub', :'u_b', 'app_role', 'DRIVER')::text, true) IS NOT NULL AS claims;
SELECT drivers_try(format('SELECT steppergo.activate_vehicle(%L)', :'v_a1'));
SELECT drivers_try(format('SELECT steppergo.add_vehicle(%L, ''Lada'', ''Niva'', ''1'')', :'d_a'));
SELECT steppergo.add_vehicle(:'d_b', 'Chevrolet', 'Cobalt', '010bbb02') IS NOT NULL AS own_vehicle;
COMMIT;
SELECT count(*) AS aigerim_vehicles FROM steppergo.vehicles WHERE driver_id = :'d_a';

-- ---------------------------------------------------------------- approval
SELECT steppergo.driver_missing_documents(:'d_a');
SELECT drivers_try(format('SELECT steppergo.approve_driver(%L)', :'d_a'));
-- documents: LICENSE verified, INSURANCE verified but expired, REGISTRATION pending
INSERT INTO steppergo.document_verifications (user_id, driver_id, document_type, document_url, status, expiry_date, created_at)
VALUES (:'u_a', :'d_a', 'LICENSE', 'https://docs.example.kz/a/lic.pdf', 'VERIFIED', now() + interval '1 year', now()),
       (:'u_a', :'d_a', 'INSURANCE', 'https://docs.example.kz/a/ins.pdf', 'VERIFIED', now() - interval '1 day', now() - interval '1 year'),
       (:'u_a', :'d_a', 'REGISTRATION', 'https://docs.example.kz/a/reg.pdf', 'PENDING', NULL, now());
SELECT drivers_try(format('SELECT steppergo.approve_driver(%L)', :'d_a'));
INSERT INTO steppergo.document_verifications (user_id, driver_id, document_type, document_url, status, expiry_date)
VALUES (:'u_a', :'d_a', 'INSURANCE', 'https://docs.example.kz/a/ins2.pdf', 'VERIFIED', now() + interval '1 year');
UPDATE steppergo.document_verifications SET status = 'VERIFIED' WHERE driver_id = :'d_a' AND document_type = 'REGISTRATION';
SELECT steppergo.driver_missing_documents(:'d_a');
-- only an ADMIN: a driver cannot approve themselves
BEGIN;
SET LOCAL ROLE regress_drivers_api;
SELECT set_config('request.jwt.claims', json_build_object('sub', :'u_a', 'app_role', 'DRIVER')::text, true) IS NOT NULL AS claims;
SELECT drivers_try(format('SELECT steppergo.approve_driver(%L)', :'d_a'));
SELECT set_config('request.jwt.claims', json_build_object('sub', :'u_admin', 'app_role', 'ADMIN')::text, true) IS NOT NULL AS claims;
SELECT set_config('request.headers', '{"x-forwarded-for": "10.1.2.3", "user-agent": "drivers-regress"}', true) IS NOT NULL AS headers;
SELECT steppergo.approve_driver(:'d_a', 'documents checked');
COMMIT;
SELECT status, approval_status, status_reason, approved_at IS NOT NULL AS approved_at, approved_by = :'u_admin' AS by_admin
  FROM steppergo.drivers WHERE id = :'d_a';
SELECT action_type, target_type, admin_id = :'u_admin' AS by_admin, ip_address, user_agent,
       details -> 'before' ->> 'status' AS before, details -> 'after' ->> 'status' AS after, details ->> 'reason' AS reason
  FROM steppergo.admin_actions WHERE target_id = :'d_a' ORDER BY created_at, id;
-- transitions that do not exist
SELECT drivers_try(format('SELECT steppergo.approve_driver(%L)', :'d_a'));
SELECT drivers_try(format('SELECT steppergo.reject_driver(%L, ''late'')', :'d_a'));
SELECT drivers_try(format('SELECT steppergo.reinstate_driver(%L)', :'d_a'));
SELECT drivers_try(format('SELECT steppergo.suspend_driver(%L, NULL)', :'d_a'));
SELECT drivers_try(format('SELECT steppergo.suspend_driver(%L, ''  '')', :'d_a'));
SELECT drivers_try(format('SELECT steppergo.suspend_driver(%L, ''x'')', :'d_b'));
SELECT drivers_try('SELECT steppergo.approve_driver(''00000000-0000-0000-0000-000000000000'')');
-- reject Dana (PENDING -> REJECTED), final
SELECT steppergo.reject_driver(:'d_d', 'documents are forged');
SELECT status, approval_status, status_reason FROM steppergo.drivers WHERE id = :'d_d';
SELECT drivers_try(format('SELECT steppergo.approve_driver(%L)', :'d_d'));
SELECT action_type, details -> 'before' ->> 'status' AS before, details -> 'after' ->> 'status' AS after, details ->> 'reason' AS reason
  FROM steppergo.admin_actions WHERE target_id = :'d_d';

-- ------------------------------------------------------------ availability
SELECT steppergo.update_driver_availability(:'d_a', 'ONLINE', 'start of shift');
SELECT drivers_try(format('SELECT steppergo.update_driver_availability(%L, ''ONLINE'')', :'d_b'));   -- PENDING
SELECT drivers_try(format('SELECT steppergo.update_driver_availability(%L, ''BUSY'')', :'d_a'));
SELECT drivers_try(format('SELECT steppergo.update_driver_availability(%L, NULL)', :'d_a'));
BEGIN;
SET LOCAL ROLE regress_drivers_api;
SELECT set_config('request.jwt.claims', json_build_object('sub', :'u_a', 'app_role', 'DRIVER')::text, true) IS NOT NULL AS claims;
SELECT steppergo.update_driver_availability(:'d_a', 'ON_BREAK') AS previous;
SELECT drivers_try(format('SELECT steppergo.update_driver_availability(%L, ''ONLINE'')', :'d_b'));  -- not hers
SELECT set_config('request.jwt.claims', json_build_object('sub', :'u_admin', 'app_role', 'ADMIN')::text, true) IS NOT NULL AS claims;
SELECT steppergo.update_driver_availability(:'d_a', 'ONLINE') AS previous;
COMMIT;
-- the system makes her BUSY (a trip starts): she cannot switch until it ends
SELECT steppergo.set_driver_availability(:'d_a', 'BUSY', 'trip started', 'system');
SELECT drivers_try(format('SELECT steppergo.update_driver_availability(%L, ''OFFLINE'')', :'d_a'));
SELECT steppergo.set_driver_availability(:'d_a', 'ONLINE', 'trip completed', 'system');
SELECT previous_status, new_status, change_reason, triggered_by
  FROM steppergo.driver_availability_history WHERE driver_id = :'d_a' ORDER BY changed_at, id;

-- suspension takes an ONLINE driver offline (triggered_by admin); reinstating does not put her back online
SELECT steppergo.suspend_driver(:'d_a', 'complaints under review');
SELECT status, approval_status, availability, status_reason FROM steppergo.drivers WHERE id = :'d_a';
SELECT drivers_try(format('SELECT steppergo.update_driver_availability(%L, ''ONLINE'')', :'d_a'));
SELECT steppergo.reinstate_driver(:'d_a', 'cleared');
SELECT status, availability, status_reason FROM steppergo.drivers WHERE id = :'d_a';
SELECT new_status, change_reason, triggered_by FROM steppergo.driver_availability_history
 WHERE driver_id = :'d_a' ORDER BY changed_at DESC, id DESC LIMIT 1;
SELECT action_type, details -> 'before' ->> 'availability' AS before_avail, details -> 'after' ->> 'availability' AS after_avail
  FROM steppergo.admin_actions WHERE target_id = :'d_a' ORDER BY created_at, id;
-- reinstating needs the documents still valid
UPDATE steppergo.document_verifications SET status = 'EXPIRED' WHERE driver_id = :'d_a' AND document_type = 'LICENSE';
SELECT steppergo.suspend_driver(:'d_a', 'licence expired');
SELECT drivers_try(format('SELECT steppergo.reinstate_driver(%L)', :'d_a'));
UPDATE steppergo.document_verifications SET status = 'VERIFIED' WHERE driver_id = :'d_a' AND document_type = 'LICENSE';
SELECT steppergo.reinstate_driver(:'d_a');

-- --------------------------------------------------------------- schedules
SELECT steppergo.add_availability_schedule(:'d_a', now() + interval '1 day', now() + interval '1 day 1 hour',
                                           'BREAK', 'lunch') AS s_1 \gset
SELECT steppergo.add_availability_schedule(:'d_a', '2026-01-05 09:00+05', '2026-01-05 13:00+05', 'UNAVAILABLE',
                                           'school run', '{"freq": "WEEKLY", "days": ["MON", "WED"], "tz": "Asia/Almaty"}') AS s_2 \gset
SELECT schedule_type, reason, is_recurring, recurring_pattern, is_active
  FROM steppergo.driver_availability_schedules WHERE driver_id = :'d_a' ORDER BY start_time;
SELECT drivers_try(format('SELECT steppergo.add_availability_schedule(%L, now() + interval ''2 hours'', now() + interval ''1 hour'')', :'d_a'));
SELECT drivers_try(format('SELECT steppergo.add_availability_schedule(%L, now() - interval ''2 hours'', now() - interval ''1 hour'')', :'d_a'));
SELECT drivers_try(format('SELECT steppergo.add_availability_schedule(%L, now(), now() + interval ''1 hour'', ''NAP'')', :'d_a'));
SELECT drivers_try(format('SELECT steppergo.add_availability_schedule(%L, NULL, now() + interval ''1 hour'')', :'d_a'));
SELECT drivers_try(format('SELECT steppergo.add_availability_schedule(%L, now(), ''infinity'')', :'d_a'));
SELECT drivers_try(format('SELECT steppergo.add_availability_schedule(%L, now(), now() + interval ''25 hours'', recurring_pattern => ''{"freq": "DAILY"}'')', :'d_a'));
SELECT drivers_try(format('SELECT steppergo.add_availability_schedule(%L, now(), now() + interval ''1 hour'', recurring_pattern => ''{"freq": "HOURLY"}'')', :'d_a'));
SELECT drivers_try(format('SELECT steppergo.add_availability_schedule(%L, now(), now() + interval ''1 hour'', recurring_pattern => ''{"freq": "WEEKLY", "days": ["FUN"]}'')', :'d_a'));
SELECT drivers_try(format('SELECT steppergo.add_availability_schedule(%L, now(), now() + interval ''1 hour'', recurring_pattern => ''{"freq": "DAILY", "tz": "Mars/Base"}'')', :'d_a'));
SELECT steppergo.deactivate_availability_schedule(:'s_1');
SELECT steppergo.deactivate_availability_schedule(:'s_1');    -- harmless twice
SELECT reason, is_active FROM steppergo.driver_availability_schedules WHERE driver_id = :'d_a' ORDER BY start_time;
SELECT drivers_try('SELECT steppergo.deactivate_availability_schedule(''00000000-0000-0000-0000-000000000000'')');
BEGIN;
SET LOCAL ROLE regress_drivers_api;
SELECT set_config('request.jwt.claims', json_build_object('sub', :'u_b', 'app_role', 'DRIVER')::text, true) IS NOT NULL AS claims;
SELECT drivers_try(format('SELECT steppergo.deactivate_availability_schedule(%L)', :'s_2'));
SELECT drivers_try(format('SELECT steppergo.add_availability_schedule(%L, now() + interval ''1 hour'', now() + interval ''2 hours'')', :'d_a'));
SELECT steppergo.add_availability_schedule(:'d_b', now() + interval '1 hour', now() + interval '2 hours', 'BREAK') IS NOT NULL AS own;
COMMIT;

-- ----------------------------------------------------------- live location
SELECT steppergo.update_driver_location(:'d_a', 43.238, 76.889, 90, 12.5, 5);
SELECT latitude, longitude, heading, speed, accuracy, is_active, ST_AsText(geog) AS geog,
       last_updated > now() - interval '1 minute' AS fresh
  FROM steppergo.driver_locations WHERE driver_id = :'d_a';
SELECT steppergo.update_driver_location(:'d_a', 43.25, 76.9);       -- optional fields become NULL
SELECT latitude, longitude, heading, speed, accuracy FROM steppergo.driver_locations WHERE driver_id = :'d_a';
SELECT steppergo.update_driver_location(:'d_a', -90, 180, 360, 0, 0);   -- the edges are valid
SELECT steppergo.update_driver_location(:'d_a', 43.238, 76.889, 0, 499.9, 99999);
-- impossible input
SELECT drivers_try(format('SELECT steppergo.update_driver_location(%L, %s, %s, %s, %s, %s)', :'d_a', a, b, c, d, e))
  FROM (VALUES ('NULL', '76.9', 'NULL', 'NULL', 'NULL'), ('43.2', 'NULL', 'NULL', 'NULL', 'NULL'),
               ('90.0001', '76.9', 'NULL', 'NULL', 'NULL'), ('-91', '76.9', 'NULL', 'NULL', 'NULL'),
               ('43.2', '180.5', 'NULL', 'NULL', 'NULL'), ('''NaN''', '76.9', 'NULL', 'NULL', 'NULL'),
               ('43.2', '''-Infinity''', 'NULL', 'NULL', 'NULL'), ('43.2', '76.9', '360.1', 'NULL', 'NULL'),
               ('43.2', '76.9', '-1', 'NULL', 'NULL'), ('43.2', '76.9', '''NaN''', 'NULL', 'NULL'),
               ('43.2', '76.9', 'NULL', '-0.1', 'NULL'), ('43.2', '76.9', 'NULL', '500', 'NULL'),
               ('43.2', '76.9', 'NULL', 'NULL', '-5'), ('43.2', '76.9', 'NULL', 'NULL', '''Infinity''')) v(a, b, c, d, e);
SELECT drivers_try('SELECT steppergo.update_driver_location(NULL, 43.2, 76.9)');
SELECT drivers_try('SELECT steppergo.update_driver_location(''00000000-0000-0000-0000-000000000000'', 43.2, 76.9)');
SELECT latitude, longitude, heading, speed, accuracy FROM steppergo.driver_locations WHERE driver_id = :'d_a';
-- first ping of a driver creates the row (upsert)
SELECT count(*) AS bolat_rows FROM steppergo.driver_locations WHERE driver_id = :'d_b';
SELECT steppergo.update_driver_location(:'d_b', 43.3, 76.95);
SELECT latitude, longitude, is_active FROM steppergo.driver_locations WHERE driver_id = :'d_b';
-- only the driver (or an admin) through the API
BEGIN;
SET LOCAL ROLE regress_drivers_api;
SELECT set_config('request.jwt.claims', json_build_object('sub', :'u_b', 'app_role', 'DRIVER')::text, true) IS NOT NULL AS claims;
SELECT drivers_try(format('SELECT steppergo.update_driver_location(%L, 43.1, 76.8)', :'d_a'));
SELECT drivers_try('SELECT steppergo.update_driver_location(''00000000-0000-0000-0000-000000000000'', 43.2, 76.9)');
SELECT steppergo.update_driver_location(:'d_b', 43.31, 76.96);
SELECT set_config('request.jwt.claims', '{"role": "anon"}', true) IS NOT NULL AS claims;
SELECT drivers_try(format('SELECT steppergo.update_driver_location(%L, 43.1, 76.8)', :'d_b'));
SELECT set_config('request.jwt.claims', json_build_object('sub', :'u_admin', 'app_role', 'ADMIN')::text, true) IS NOT NULL AS claims;
SELECT steppergo.update_driver_location(:'d_a', 43.24, 76.89);
COMMIT;
SELECT latitude, longitude FROM steppergo.driver_locations WHERE driver_id IN (:'d_a', :'d_b') ORDER BY latitude;
-- drivers.last_activity_at: refreshed by a ping when the position row's
-- activity_synced_at is older than steppergo.driver_activity_interval (60 s), else left alone
SHOW steppergo.driver_activity_interval;
-- (one transaction each, so that now() is the ping's time)
BEGIN;
UPDATE steppergo.driver_locations SET activity_synced_at = now() - interval '10 minutes' WHERE driver_id = :'d_a';
UPDATE steppergo.drivers SET last_activity_at = now() - interval '10 minutes' WHERE id = :'d_a';
SELECT steppergo.update_driver_location(:'d_a', 43.24, 76.89);
SELECT last_activity_at = now() AS refreshed FROM steppergo.drivers WHERE id = :'d_a';
COMMIT;
BEGIN;
UPDATE steppergo.driver_locations SET activity_synced_at = now() - interval '30 seconds' WHERE driver_id = :'d_a';
UPDATE steppergo.drivers SET last_activity_at = now() - interval '30 seconds' WHERE id = :'d_a';
SELECT steppergo.update_driver_location(:'d_a', 43.24, 76.89);
SELECT steppergo.update_driver_locations(jsonb_build_array(jsonb_build_object('driver_id', :'d_a', 'lat', 43.24, 'lng', 76.89)));
SELECT last_activity_at = now() - interval '30 seconds' AS throttled FROM steppergo.drivers WHERE id = :'d_a';
SET LOCAL steppergo.driver_activity_interval = 0;
SELECT steppergo.update_driver_location(:'d_a', 43.24, 76.89);
SELECT last_activity_at = now() AS every_ping FROM steppergo.drivers WHERE id = :'d_a';
COMMIT;
BEGIN;
UPDATE steppergo.driver_locations SET activity_synced_at = now() - interval '10 minutes' WHERE driver_id = :'d_a';
UPDATE steppergo.drivers SET last_activity_at = now() - interval '10 minutes' WHERE id = :'d_a';
SELECT steppergo.update_driver_locations(jsonb_build_array(jsonb_build_object('driver_id', :'d_a', 'lat', 43.24, 'lng', 76.89)));
SELECT last_activity_at = now() AS batch_refreshed FROM steppergo.drivers WHERE id = :'d_a';
COMMIT;

-- ------------------------------------------------------------------ batches
SELECT steppergo.update_driver_locations(jsonb_build_array(
  jsonb_build_object('driver_id', :'d_a', 'lat', 43.1, 'lng', 76.1, 'heading', 10),
  jsonb_build_object('driver_id', :'d_b', 'lat', 43.2, 'lng', 76.2, 'speed', null),
  jsonb_build_object('driver_id', :'d_a', 'lat', 43.3, 'lng', 76.3, 'speed', 7.5, 'accuracy', 3))) AS written;
SELECT latitude, longitude, heading, speed, accuracy FROM steppergo.driver_locations WHERE driver_id IN (:'d_a', :'d_b') ORDER BY latitude;
-- Dana has no position yet: the batch inserts her row
SELECT steppergo.update_driver_locations(jsonb_build_array(
  jsonb_build_object('driver_id', :'d_d', 'lat', 43.5, 'lng', 76.5),
  jsonb_build_object('driver_id', :'d_b', 'lat', 43.21, 'lng', 76.21))) AS written;
SELECT latitude FROM steppergo.driver_locations WHERE driver_id = :'d_d';
SELECT steppergo.update_driver_locations('[]') AS empty;
-- refusals, each naming the element
\set ok '{"driver_id": "' :d_a '", "lat": 43.9, "lng": 76.9}'
SELECT drivers_try(format('SELECT steppergo.update_driver_locations(%L)', p))
  FROM (VALUES (NULL), ('{}'), ('"x"'), ('[1]'),
               ('[' || :'ok' || ', [1, 2]]'),
               ('[' || :'ok' || ', {"lat": 1, "lng": 2}]'),
               ('[' || :'ok' || ', {"driver_id": null, "lat": 1, "lng": 2}]'),
               ('[' || :'ok' || ', {"driver_id": "not-a-uuid", "lat": 1, "lng": 2}]'),
               ('[' || :'ok' || ', {"driver_id": 42, "lat": 1, "lng": 2}]'),
               ('[' || :'ok' || ', ' || :'ok' || ', {"driver_id": "' || :'d_b' || '", "lng": 2}]'),
               ('[' || :'ok' || ', {"driver_id": "' || :'d_b' || '", "lat": null, "lng": 2}]'),
               ('[' || :'ok' || ', {"driver_id": "' || :'d_b' || '", "lat": "43.2", "lng": 2}]'),
               ('[' || :'ok' || ', {"driver_id": "' || :'d_b' || '", "lat": 43.2, "lng": 2e400}]'),
               ('[' || :'ok' || ', {"driver_id": "' || :'d_b' || '", "lat": 91, "lng": 2}]'),
               ('[' || :'ok' || ', {"driver_id": "' || :'d_b' || '", "lat": 43, "lng": 2, "heading": 400}]'),
               ('[' || :'ok' || ', {"driver_id": "' || :'d_b' || '", "lat": 43, "lng": 2, "speed": -3}]'),
               ('[' || :'ok' || ', {"driver_id": "' || :'d_b' || '", "lat": 43, "lng": 2, "accuracy": true}]'),
               ('[' || :'ok' || ', {"driver_id": "' || :'d_b' || '", "lat": 43, "lng": 2, "latitude": 43}]'),
               ('[' || :'ok' || ', {"driver_id": "00000000-0000-0000-0000-000000000000", "lat": 43, "lng": 2}]')
       ) v(p);
-- nothing of a refused batch was written (element 0 was valid)
SELECT latitude FROM steppergo.driver_locations WHERE driver_id = :'d_a';
-- the batch size limit
SET steppergo.location_batch_max = 2;
SELECT drivers_try(format('SELECT steppergo.update_driver_locations(%L)', '[' || :'ok' || ',' || :'ok' || ',' || :'ok' || ']'));
RESET steppergo.location_batch_max;
-- an API caller: own pings only; another driver's ping refuses the batch
BEGIN;
SET LOCAL ROLE regress_drivers_api;
SELECT set_config('request.jwt.claims', json_build_object('sub', :'u_b', 'app_role', 'DRIVER')::text, true) IS NOT NULL AS claims;
SELECT steppergo.update_driver_locations(jsonb_build_array(
  jsonb_build_object('driver_id', :'d_b', 'lat', 43.4, 'lng', 76.4),
  jsonb_build_object('driver_id', :'d_b', 'lat', 43.41, 'lng', 76.41))) AS written;
SELECT drivers_try(format('SELECT steppergo.update_driver_locations(%L)', jsonb_build_array(
  jsonb_build_object('driver_id', :'d_b', 'lat', 43.5, 'lng', 76.5),
  jsonb_build_object('driver_id', :'d_a', 'lat', 43.5, 'lng', 76.5))));
SELECT drivers_try(format('SELECT steppergo.update_driver_locations(%L)', jsonb_build_array(
  jsonb_build_object('driver_id', :'d_b', 'lat', 43.5, 'lng', 76.5),
  jsonb_build_object('driver_id', '00000000-0000-0000-0000-000000000000', 'lat', 43.5, 'lng', 76.5))));
COMMIT;
SELECT latitude FROM steppergo.driver_locations WHERE driver_id = :'d_b';

-- ------------------------------------------------------------- auto-offline
SHOW steppergo.driver_offline_after;
SELECT name, schedule, command FROM steppergo.job_definitions WHERE name = 'steppergo_drivers_auto_offline';
-- Aigerim ONLINE with a 6-minute-old position, Bolat's approval lets him go ONLINE with a fresh one
INSERT INTO steppergo.document_verifications (user_id, driver_id, document_type, document_url, status)
SELECT :'u_b', :'d_b', t, 'https://docs.example.kz/b/' || lower(t) || '.pdf', 'VERIFIED'
  FROM unnest(ARRAY['LICENSE', 'INSURANCE', 'REGISTRATION']) t;
SELECT steppergo.approve_driver(:'d_b');
SELECT steppergo.update_driver_availability(:'d_a', 'ONLINE');
SELECT steppergo.update_driver_availability(:'d_b', 'ONLINE');
UPDATE steppergo.driver_locations SET last_updated = now() - interval '6 minutes' WHERE driver_id = :'d_a';
-- (inside a transaction that rolls back: the job acts on every driver of the database)
BEGIN;
SET LOCAL steppergo.driver_offline_after = '10min';
SELECT steppergo.auto_offline_stale_drivers() >= 0 AS ran;
SELECT availability FROM steppergo.drivers WHERE id = :'d_a';
SET LOCAL steppergo.driver_offline_after = '5min';
SELECT steppergo.auto_offline_stale_drivers() >= 1 AS ran;
SELECT d.availability, l.is_active FROM steppergo.drivers d JOIN steppergo.driver_locations l ON l.driver_id = d.id
 WHERE d.id IN (:'d_a', :'d_b') ORDER BY d.availability;
SELECT previous_status, new_status, change_reason, triggered_by FROM steppergo.driver_availability_history
 WHERE driver_id = :'d_a' ORDER BY changed_at DESC, id DESC LIMIT 1;
ROLLBACK;
-- an ONLINE driver who never sent a position goes offline from the time she went online
BEGIN;
UPDATE steppergo.drivers SET last_activity_at = now() - interval '6 minutes' WHERE id = :'d_b';
DELETE FROM steppergo.driver_locations WHERE driver_id = :'d_b';
SELECT steppergo.auto_offline_stale_drivers() >= 1 AS ran;
SELECT availability FROM steppergo.drivers WHERE id = :'d_b';
ROLLBACK;

-- settings are superuser-only
SELECT name, setting, unit, context FROM pg_settings WHERE name LIKE 'steppergo.driver%' OR name = 'steppergo.location_batch_max' ORDER BY name;
BEGIN;
SET LOCAL ROLE regress_drivers_api;
SELECT drivers_try('SET steppergo.driver_activity_interval = 0');
ROLLBACK;

-- the API surface and the documentation
SELECT split_part(signature, '(', 1) AS function, audience FROM steppergo.api_functions
 WHERE signature ~ '^(create_driver_profile|update_driver_profile|set_driver_documents|add_vehicle|activate_vehicle|deactivate_vehicle|driver_missing_documents|approve_driver|reject_driver|suspend_driver|reinstate_driver|update_driver_availability|add_availability_schedule|deactivate_availability_schedule|update_driver_location|update_driver_locations|auto_offline_stale_drivers)\('
 ORDER BY signature;
SELECT p.oid::regprocedure AS undocumented
  FROM pg_proc p
 WHERE p.pronamespace = 'steppergo'::regnamespace AND obj_description(p.oid, 'pg_proc') IS NULL
   AND p.proname ~ 'driver|vehicle|availability';
SELECT p.oid::regprocedure AS not_pinned
  FROM pg_proc p
 WHERE p.pronamespace = 'steppergo'::regnamespace AND p.proname ~ 'driver|vehicle|availability'
   AND NOT coalesce(array_to_string(p.proconfig, ',') ~ 'search_path', false);

DROP FUNCTION public.drivers_try(text);
