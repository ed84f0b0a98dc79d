-- security: API roles, grants, row-level security, pre_request, and attacks
-- on tables, as PostgREST runs each request: in a transaction, SET LOCAL
-- ROLE to the token's role, the claims in request.jwt.claims, then the query.
-- In a database of its own: setup_api_roles() revokes everything from PUBLIC.
\set VERBOSITY terse
SET client_min_messages = warning;
DROP DATABASE IF EXISTS security_regress;
CREATE DATABASE security_regress;
\c security_regress
SET client_min_messages = warning;
CREATE EXTENSION steppergo CASCADE;
SET search_path = steppergo, public;
\set ON_ERROR_STOP 0

-- roles: created, idempotent, with the documented attributes
SELECT steppergo.setup_api_roles();
SELECT steppergo.setup_api_roles();
SELECT rolname, rolcanlogin, rolinherit, rolbypassrls
  FROM pg_roles WHERE rolname IN ('anon', 'authenticated', 'service_role', 'authenticator', 'steppergo_api', 'steppergo_service')
 ORDER BY 1;
SELECT r.rolname AS member, g.rolname AS of_role
  FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member JOIN pg_roles g ON g.oid = m.roleid
 WHERE r.rolname IN ('anon', 'authenticated', 'service_role', 'authenticator') ORDER BY 1, 2;
SELECT steppergo.setup_api_roles('anon', 'anon', 'service_role', 'authenticator');   -- 22023
\echo :LAST_ERROR_SQLSTATE
SELECT steppergo.setup_api_roles(NULL);                                              -- 22004
\echo :LAST_ERROR_SQLSTATE

-- nothing of the extension is granted to PUBLIC
SELECT count(*) AS public_function_grants
  FROM pg_proc p, aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
 WHERE p.pronamespace = 'steppergo'::regnamespace AND a.grantee = 0;
SELECT count(*) AS public_table_grants
  FROM pg_class c, aclexplode(coalesce(c.relacl, acldefault('r', c.relowner))) a
 WHERE c.relnamespace = 'steppergo'::regnamespace AND a.grantee = 0;
SELECT has_schema_privilege('steppergo_api', 'public', 'CREATE') AS api_can_create_in_public,
       has_schema_privilege('steppergo_api', 'steppergo', 'CREATE') AS api_can_create_in_steppergo;

-- every API function is executable by exactly its audience; no other
-- function of the extension by any API role but the policy helpers
SELECT f.signature, f.audience
  FROM steppergo.api_functions f
 WHERE has_function_privilege('anon', 'steppergo.' || f.signature, 'EXECUTE') <> (f.audience = 'anon')
    OR has_function_privilege('authenticated', 'steppergo.' || f.signature, 'EXECUTE') <> (f.audience IN ('anon', 'authenticated'))
    OR NOT has_function_privilege('service_role', 'steppergo.' || f.signature, 'EXECUTE');
SELECT p.oid::regprocedure AS unexpected_grant
  FROM pg_proc p
 WHERE p.pronamespace = 'steppergo'::regnamespace
   AND (has_function_privilege('anon', p.oid, 'EXECUTE') OR has_function_privilege('authenticated', p.oid, 'EXECUTE'))
   AND p.proname || '(' || oidvectortypes(p.proargtypes) || ')' NOT IN (SELECT signature FROM steppergo.api_functions)
   AND p.proname NOT IN ('current_claims', 'current_user_id', 'current_app_role', 'current_tenant_id', 'invoking_role',
                         'is_trusted_caller', 'is_admin', 'current_driver_id', 'current_owner_id', 'tenant_visible',
                         'my_trip', 'in_conversation', 'pre_request')
 ORDER BY 1;
-- every table has row-level security
SELECT c.oid::regclass AS table_without_rls
  FROM pg_class c
 WHERE c.relnamespace = 'steppergo'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
   AND NOT c.relrowsecurity AND c.relname NOT IN ('api_tables')
 ORDER BY 1;

-- --------------------------------------------------------------- fixtures
INSERT INTO steppergo.tenants (id, name) VALUES
  ('a0000000-0000-7000-8000-00000000000a', 'Tenant A'), ('a0000000-0000-7000-8000-00000000000b', 'Tenant B');
INSERT INTO steppergo.users (id, email, phone, name, password_hash, role, tenant_id) VALUES
  ('10000000-0000-7000-8000-000000000001', 'p1@security.test', '+79080000001', 'Passenger One', 'secret-hash-1', 'PASSENGER', NULL),
  ('10000000-0000-7000-8000-000000000002', 'p2@security.test', '+79080000002', 'Passenger Two', 'secret-hash-2', 'PASSENGER', NULL),
  ('10000000-0000-7000-8000-000000000003', 'd1@security.test', '+79080000003', 'Driver One', 'secret-hash-3', 'DRIVER', NULL),
  ('10000000-0000-7000-8000-000000000004', 'o1@security.test', '+79080000004', 'Owner One', 'secret-hash-4', 'ACTIVITY_OWNER', NULL),
  ('10000000-0000-7000-8000-000000000005', 'a1@security.test', '+79080000005', 'Admin One', 'secret-hash-5', 'ADMIN', NULL),
  ('10000000-0000-7000-8000-000000000006', 'ta@security.test', '+79080000006', 'Tenant A User', 'secret-hash-6', 'PASSENGER', 'a0000000-0000-7000-8000-00000000000a'),
  ('10000000-0000-7000-8000-000000000007', 'tb@security.test', '+79080000007', 'Tenant B User', 'secret-hash-7', 'PASSENGER', 'a0000000-0000-7000-8000-00000000000b');
INSERT INTO steppergo.sessions (id, user_id, token_hash, expires_at) VALUES
  ('30000000-0000-7000-8000-000000000001', '10000000-0000-7000-8000-000000000001', sha256('s1'), now() + interval '1 day'),
  ('30000000-0000-7000-8000-000000000002', '10000000-0000-7000-8000-000000000002', sha256('s2'), now() + interval '1 day');
INSERT INTO steppergo.sessions (id, user_id, token_hash, expires_at, revoked_at) VALUES
  ('30000000-0000-7000-8000-000000000009', '10000000-0000-7000-8000-000000000001', sha256('s9'), now() + interval '1 day', now());
INSERT INTO steppergo.refresh_tokens (user_id, token_hash, session_id, expires_at)
VALUES ('10000000-0000-7000-8000-000000000001', sha256('r1'), '30000000-0000-7000-8000-000000000001', now() + interval '30 days');
INSERT INTO steppergo.drivers (id, user_id, status, availability) VALUES
  ('20000000-0000-7000-8000-000000000001', '10000000-0000-7000-8000-000000000003', 'APPROVED', 'BUSY');
INSERT INTO steppergo.driver_locations (driver_id, latitude, longitude) VALUES ('20000000-0000-7000-8000-000000000001', 43.24, 76.9);
INSERT INTO steppergo.trips (id, title, organizer_id, driver_id, departure_time, origin_name, origin_lat, origin_lng,
                             dest_name, dest_lat, dest_lng, total_seats, trip_type, price_per_seat, status, tenant_id) VALUES
  ('40000000-0000-7000-8000-000000000001', 'Published', '10000000-0000-7000-8000-000000000002', NULL, now() + interval '1 day',
   'A', 43.2, 76.9, 'B', 43.3, 77.0, 4, 'SHARED', 5000, 'PUBLISHED', NULL),
  ('40000000-0000-7000-8000-000000000002', 'Draft of P1', '10000000-0000-7000-8000-000000000001', NULL, now() + interval '1 day',
   'A', 43.2, 76.9, 'B', 43.3, 77.0, 4, 'SHARED', 5000, 'DRAFT', NULL),
  ('40000000-0000-7000-8000-000000000003', 'Tenant A shuttle', '10000000-0000-7000-8000-000000000006', NULL, now() + interval '1 day',
   'A', 43.2, 76.9, 'B', 43.3, 77.0, 4, 'SHARED', 5000, 'PUBLISHED', 'a0000000-0000-7000-8000-00000000000a'),
  ('40000000-0000-7000-8000-000000000004', 'Under way', '10000000-0000-7000-8000-000000000002', '20000000-0000-7000-8000-000000000001',
   now() - interval '1 hour', 'A', 43.2, 76.9, 'B', 43.3, 77.0, 4, 'SHARED', 5000, 'IN_TRANSIT', NULL);
INSERT INTO steppergo.bookings (id, trip_id, user_id, status, seats_booked, total_amount) VALUES
  ('50000000-0000-7000-8000-000000000001', '40000000-0000-7000-8000-000000000004', '10000000-0000-7000-8000-000000000001', 'CONFIRMED', 1, 5000),
  ('50000000-0000-7000-8000-000000000002', '40000000-0000-7000-8000-000000000001', '10000000-0000-7000-8000-000000000002', 'CONFIRMED', 1, 5000);
INSERT INTO steppergo.payments (booking_id, stripe_intent_id, amount, status) VALUES
  ('50000000-0000-7000-8000-000000000001', 'pi_security_1', 5000, 'SUCCEEDED'),
  ('50000000-0000-7000-8000-000000000002', 'pi_security_2', 5000, 'SUCCEEDED');
INSERT INTO steppergo.payouts (driver_id, amount, period_end, tenant_id) VALUES
  ('20000000-0000-7000-8000-000000000001', 4250, now(), NULL);
INSERT INTO steppergo.conversations (id, trip_id) VALUES ('60000000-0000-7000-8000-000000000001', '40000000-0000-7000-8000-000000000004')
ON CONFLICT (trip_id) DO UPDATE SET last_message_at = NULL;
INSERT INTO steppergo.conversation_participants (conversation_id, user_id, joined_at, left_at)
SELECT c.id, u, now() - interval '2 days', CASE WHEN u = '10000000-0000-7000-8000-000000000006'::uuid THEN now() - interval '1 day' END
  FROM steppergo.conversations c,
       unnest(ARRAY['10000000-0000-7000-8000-000000000001', '10000000-0000-7000-8000-000000000002',
                    '10000000-0000-7000-8000-000000000006']::uuid[]) u
 WHERE c.trip_id = '40000000-0000-7000-8000-000000000004'
ON CONFLICT (conversation_id, user_id) DO NOTHING;
INSERT INTO steppergo.messages (conversation_id, sender_id, content, is_hidden, sent_at)
SELECT c.id, '10000000-0000-7000-8000-000000000002', x.content, x.hidden, x.at
  FROM steppergo.conversations c,
       (VALUES ('before tenant user left', false, now() - interval '36 hours'),
               ('after tenant user left', false, now() - interval '1 hour'),
               ('hidden by moderation', true, now() - interval '30 minutes')) x(content, hidden, at)
 WHERE c.trip_id = '40000000-0000-7000-8000-000000000004';
INSERT INTO steppergo.activity_owners (id, user_id, business_name, verification_status) VALUES
  ('70000000-0000-7000-8000-000000000001', '10000000-0000-7000-8000-000000000004', 'Secure Tours', 'VERIFIED');
INSERT INTO steppergo.activities (title, owner_id, category, price_per_person, status) VALUES
  ('Active hike', '70000000-0000-7000-8000-000000000001', 'TOUR', 9000, 'ACTIVE'),
  ('Draft hike', '70000000-0000-7000-8000-000000000001', 'TOUR', 9000, 'DRAFT');
INSERT INTO steppergo.admin_actions (admin_id, action_type, target_type, target_id)
VALUES ('10000000-0000-7000-8000-000000000005', 'SECURITY_TEST', 'user', 'x');
INSERT INTO steppergo.otps (phone, code_hash, expires_at) VALUES ('+79080000001', sha256('otp'), now() + interval '5 minutes');

-- claims as PostgREST sets them, for each actor (exp one hour ahead)
CREATE FUNCTION pg_temp.claims(uid text, app_role text, sid text DEFAULT NULL, tenant text DEFAULT NULL,
                               exp_offset interval DEFAULT interval '1 hour') RETURNS text
LANGUAGE sql AS $$
  SELECT jsonb_strip_nulls(jsonb_build_object('role', 'authenticated', 'sub', uid, 'app_role', app_role, 'sid', sid,
                                              'tenant_id', tenant,
                                              'exp', extract(epoch FROM now() + exp_offset)::bigint))::text
$$;
\set p1 '10000000-0000-7000-8000-000000000001'
\set p2 '10000000-0000-7000-8000-000000000002'
\set d1 '10000000-0000-7000-8000-000000000003'
\set o1 '10000000-0000-7000-8000-000000000004'
\set a1 '10000000-0000-7000-8000-000000000005'
\set ta '10000000-0000-7000-8000-000000000006'
\set tb '10000000-0000-7000-8000-000000000007'

-- ------------------------------------------------------------- anonymous
BEGIN;
SET LOCAL ROLE anon;
SELECT set_config('request.jwt.claims', '{"role": "anon"}', true) IS NOT NULL AS claims_set;
SELECT title FROM steppergo.trips ORDER BY title;                 -- published, no tenant's
SELECT title FROM steppergo.activities ORDER BY title;            -- active only
SELECT business_name FROM steppergo.activity_owners;
SELECT count(*) FROM steppergo.bookings;                          -- 42501: not granted
ROLLBACK;
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SET LOCAL ROLE anon;
SELECT email FROM steppergo.users;                                -- 42501
ROLLBACK;
\echo :LAST_ERROR_SQLSTATE

-- ------------------------------------------------------------- passenger
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', pg_temp.claims(:'p1', 'PASSENGER', '30000000-0000-7000-8000-000000000001'), true) IS NOT NULL AS claims_set;
SELECT steppergo.pre_request();
SELECT title FROM steppergo.trips ORDER BY title;                 -- published + own draft + booked
SELECT b.id, b.status FROM steppergo.bookings b ORDER BY b.id;    -- own only
SELECT p.stripe_intent_id FROM steppergo.payments p;              -- own only
SELECT name FROM steppergo.users;                                 -- self only
SELECT count(*) AS visible_driver_positions FROM steppergo.driver_locations;   -- the driver of the trip under way
SELECT content FROM steppergo.messages ORDER BY sent_at;          -- not the hidden one
SELECT count(*) AS payouts FROM steppergo.payouts;
SELECT count(*) AS admin_actions FROM steppergo.admin_actions;
SELECT count(*) AS sessions FROM steppergo.sessions;              -- own two
ROLLBACK;
-- secrets are not granted, even one's own
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', pg_temp.claims(:'p1', 'PASSENGER'), true) IS NOT NULL AS claims_set;
SELECT password_hash FROM steppergo.users;                        -- 42501
ROLLBACK;
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SET LOCAL ROLE authenticated;
SELECT token_hash FROM steppergo.sessions;                        -- 42501
ROLLBACK;
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SET LOCAL ROLE authenticated;
SELECT count(*) FROM steppergo.refresh_tokens;                    -- 42501
ROLLBACK;
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SET LOCAL ROLE authenticated;
SELECT count(*) FROM steppergo.otps;                              -- 42501
ROLLBACK;
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SET LOCAL ROLE authenticated;
SELECT boarding_code_hash FROM steppergo.bookings;                -- 42501: a hidden column
ROLLBACK;
\echo :LAST_ERROR_SQLSTATE
-- writes around the functions are refused, and change nothing
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', pg_temp.claims(:'p1', 'PASSENGER'), true) IS NOT NULL AS claims_set;
UPDATE steppergo.bookings SET status = 'CONFIRMED' WHERE id = '50000000-0000-7000-8000-000000000001';   -- 42501
ROLLBACK;
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SET LOCAL ROLE authenticated;
UPDATE steppergo.trips SET available_seats = 4;                                                       -- 42501
ROLLBACK;
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SET LOCAL ROLE authenticated;
INSERT INTO steppergo.bookings (trip_id, user_id, total_amount) VALUES ('40000000-0000-7000-8000-000000000001', :'p1', 0);   -- 42501
ROLLBACK;
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SET LOCAL ROLE authenticated;
DELETE FROM steppergo.admin_actions;                                                                  -- 42501
ROLLBACK;
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SET LOCAL ROLE authenticated;
UPDATE steppergo.users SET role = 'ADMIN' WHERE id = :'p1';                                           -- 42501
ROLLBACK;
\echo :LAST_ERROR_SQLSTATE
SELECT role FROM steppergo.users WHERE id = :'p1';

-- another passenger sees none of it
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', pg_temp.claims(:'tb', 'PASSENGER', NULL, 'a0000000-0000-7000-8000-00000000000b'), true) IS NOT NULL AS claims_set;
SELECT title FROM steppergo.trips ORDER BY title;                 -- public only, not tenant A's
SELECT count(*) AS bookings, (SELECT count(*) FROM steppergo.payments) AS payments,
       (SELECT count(*) FROM steppergo.messages) AS messages, (SELECT count(*) FROM steppergo.driver_locations) AS positions
  FROM steppergo.bookings;
ROLLBACK;

-- tenant A's user sees their tenant's trip; a participant who left reads
-- only what was sent before they left
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', pg_temp.claims(:'ta', 'PASSENGER', NULL, 'a0000000-0000-7000-8000-00000000000a'), true) IS NOT NULL AS claims_set;
SELECT title FROM steppergo.trips ORDER BY title;
SELECT content FROM steppergo.messages ORDER BY sent_at;
SELECT count(*) AS conversations FROM steppergo.conversations WHERE trip_id = '40000000-0000-7000-8000-000000000004';    -- left: no longer in
ROLLBACK;

-- ---------------------------------------------------------------- driver
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', pg_temp.claims(:'d1', 'DRIVER'), true) IS NOT NULL AS claims_set;
SELECT title FROM steppergo.trips ORDER BY title;                 -- published + driven
SELECT count(*) AS bookings_of_my_trips FROM steppergo.bookings;
SELECT amount FROM steppergo.payouts;
SELECT count(*) AS payments FROM steppergo.payments;              -- passengers' payments stay private
ROLLBACK;

-- ----------------------------------------------------------------- owner
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', pg_temp.claims(:'o1', 'ACTIVITY_OWNER'), true) IS NOT NULL AS claims_set;
SELECT title FROM steppergo.activities ORDER BY title;            -- own draft too
ROLLBACK;

-- ----------------------------------------------------------------- admin
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', pg_temp.claims(:'a1', 'ADMIN'), true) IS NOT NULL AS claims_set;
SELECT count(*) AS trips, (SELECT count(*) FROM steppergo.bookings) AS bookings,
       (SELECT count(*) FROM steppergo.admin_actions) AS admin_actions,
       (SELECT count(*) FROM steppergo.messages) AS messages
  FROM steppergo.trips;
ROLLBACK;

-- -------------------------------------------------------- forged claims
-- claiming ADMIN in the token of a passenger: pre_request refuses it
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', pg_temp.claims(:'p1', 'ADMIN', '30000000-0000-7000-8000-000000000001'), true) IS NOT NULL AS claims_set;
SELECT steppergo.pre_request();                                   -- PT401
ROLLBACK;
\echo :LAST_ERROR_SQLSTATE
-- expired
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', pg_temp.claims(:'p1', 'PASSENGER', '30000000-0000-7000-8000-000000000001', NULL, interval '-1 minute'), true) IS NOT NULL AS claims_set;
SELECT steppergo.pre_request();                                   -- PT401
ROLLBACK;
\echo :LAST_ERROR_SQLSTATE
-- a session ended by logout
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', pg_temp.claims(:'p1', 'PASSENGER', '30000000-0000-7000-8000-000000000009'), true) IS NOT NULL AS claims_set;
SELECT steppergo.pre_request();                                   -- PT401
ROLLBACK;
\echo :LAST_ERROR_SQLSTATE
-- another user's session
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', pg_temp.claims(:'p1', 'PASSENGER', '30000000-0000-7000-8000-000000000002'), true) IS NOT NULL AS claims_set;
SELECT steppergo.pre_request();                                   -- PT401
ROLLBACK;
\echo :LAST_ERROR_SQLSTATE
-- a user who does not exist
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', pg_temp.claims('10000000-0000-7000-8000-0000000000ff', 'PASSENGER', '30000000-0000-7000-8000-000000000001'), true) IS NOT NULL AS claims_set;
SELECT steppergo.pre_request();                                   -- PT401
ROLLBACK;
\echo :LAST_ERROR_SQLSTATE
-- a tenant the user does not belong to
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', pg_temp.claims(:'p1', 'PASSENGER', '30000000-0000-7000-8000-000000000001', 'a0000000-0000-7000-8000-00000000000a'), true) IS NOT NULL AS claims_set;
SELECT steppergo.pre_request();                                   -- PT401
ROLLBACK;
\echo :LAST_ERROR_SQLSTATE
-- an app_role without a user
BEGIN;
SET LOCAL ROLE anon;
SELECT set_config('request.jwt.claims', '{"role": "anon", "app_role": "ADMIN"}', true) IS NOT NULL AS claims_set;
SELECT steppergo.pre_request();                                   -- PT401
ROLLBACK;
\echo :LAST_ERROR_SQLSTATE
-- malformed claims and subjects fail closed
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', 'not json', true) IS NOT NULL AS claims_set;
SELECT count(*) FROM steppergo.trips;                             -- PT401
ROLLBACK;
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"sub": "1 OR 1=1", "app_role": "ADMIN"}', true) IS NOT NULL AS claims_set;
SELECT count(*) FROM steppergo.trips;                             -- PT401
ROLLBACK;
\echo :LAST_ERROR_SQLSTATE
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', '{"sub": "10000000-0000-7000-8000-000000000001", "app_role": "SUPERUSER"}', true) IS NOT NULL AS claims_set;
SELECT count(*) FROM steppergo.bookings;                          -- PT401
ROLLBACK;
\echo :LAST_ERROR_SQLSTATE
-- the valid token passes
BEGIN;
SET LOCAL ROLE authenticated;
SELECT set_config('request.jwt.claims', pg_temp.claims(:'p1', 'PASSENGER', '30000000-0000-7000-8000-000000000001'), true) IS NOT NULL AS claims_set;
SELECT count(*) AS passes FROM (SELECT steppergo.pre_request()) x;
ROLLBACK;

-- ------------------------------------------------------ search_path hijack
-- A role that can create objects puts its own current_user_id() first on
-- its search_path; the extension's functions pin theirs and are not fooled.
CREATE ROLE sg_attacker IN ROLE authenticated;
CREATE SCHEMA evil AUTHORIZATION sg_attacker;
BEGIN;
SET LOCAL ROLE sg_attacker;
CREATE FUNCTION evil.current_user_id() RETURNS uuid LANGUAGE sql AS $$ SELECT '10000000-0000-7000-8000-000000000003'::uuid $$;
CREATE FUNCTION evil.current_app_role() RETURNS steppergo.user_role LANGUAGE sql AS $$ SELECT 'ADMIN'::steppergo.user_role $$;
SET LOCAL search_path = evil, steppergo, public;
SELECT set_config('request.jwt.claims', pg_temp.claims(:'p1', 'PASSENGER'), true) IS NOT NULL AS claims_set;
SELECT current_user_id() AS attacker_sees, steppergo.current_driver_id() AS driver_of_caller, steppergo.is_admin() AS is_admin;
SELECT count(*) AS bookings_visible FROM steppergo.bookings;
ROLLBACK;
DROP SCHEMA evil CASCADE;
DROP ROLE sg_attacker;

-- ----------------------------------------------- service (trusted backend)
BEGIN;
SET LOCAL ROLE service_role;
SELECT set_config('request.jwt.claims', '{"role": "service_role"}', true) IS NOT NULL AS claims_set;
SELECT steppergo.is_trusted_caller() AS trusted, count(*) AS all_bookings FROM steppergo.bookings;
ROLLBACK;
-- the anonymous and authenticated roles are never trusted
BEGIN;
SET LOCAL ROLE anon;
SELECT steppergo.is_trusted_caller() AS anon_trusted;
ROLLBACK;

-- a superuser is no API role: without claims it acts for the platform, with
-- a user's claims it speaks for that user (as before the roles existed)
SELECT steppergo.is_trusted_caller() AS superuser_trusted;
BEGIN;
SELECT set_config('request.jwt.claims', pg_temp.claims(:'p1', 'PASSENGER'), true) IS NOT NULL AS claims_set;
SELECT steppergo.is_trusted_caller() AS superuser_with_claims_trusted;
ROLLBACK;

\c contrib_regression
DROP DATABASE security_regress;
