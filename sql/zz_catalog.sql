-- Catalog lint, run last: every object of the extension is documented and
-- follows the rules of the README.  Each query lists offenders; the expected
-- output is an empty list for each.
\set VERBOSITY terse
-- api_functions signatures name types as the extension's scripts saw them
SET search_path = steppergo, public;
CREATE TEMP VIEW ext_members AS
SELECT d.classid, d.objid
  FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
 WHERE d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e' AND e.extname = 'steppergo';

-- tables, views and sequences without COMMENT ON
SELECT c.oid::regclass AS undocumented_relation
  FROM pg_class c JOIN ext_members m ON m.classid = 'pg_class'::regclass AND m.objid = c.oid
 WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S') AND obj_description(c.oid, 'pg_class') IS NULL
 ORDER BY 1;

-- columns without COMMENT ON
SELECT c.oid::regclass AS relation, a.attname AS undocumented_column
  FROM pg_class c JOIN ext_members m ON m.classid = 'pg_class'::regclass AND m.objid = c.oid
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
 WHERE c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition
   AND col_description(c.oid, a.attnum) IS NULL
 ORDER BY 1, 2;

-- types (enums, composites, domains) without COMMENT ON
SELECT t.oid::regtype AS undocumented_type
  FROM pg_type t JOIN ext_members m ON m.classid = 'pg_type'::regclass AND m.objid = t.oid
 WHERE t.typtype IN ('e', 'd', 'c') AND obj_description(t.oid, 'pg_type') IS NULL
 ORDER BY 1;

-- functions without COMMENT ON
SELECT p.oid::regprocedure AS undocumented_function
  FROM pg_proc p JOIN ext_members m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
 WHERE obj_description(p.oid, 'pg_proc') IS NULL
 ORDER BY 1;

-- SQL and PL/pgSQL functions whose search_path is not pinned (C functions
-- qualify every name they use; SQL-standard bodies are bound at creation)
SELECT p.oid::regprocedure AS unpinned_function
  FROM pg_proc p JOIN ext_members m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
  JOIN pg_language l ON l.oid = p.prolang
 WHERE l.lanname IN ('plpgsql', 'sql') AND p.prosqlbody IS NULL
   AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')
 ORDER BY 1;

-- SECURITY DEFINER functions whose search_path is not pinned, in any language
SELECT p.oid::regprocedure AS unpinned_security_definer
  FROM pg_proc p JOIN ext_members m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
 WHERE p.prosecdef AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%')
 ORDER BY 1;

-- pinned search paths that would let a caller's temporary schema in first
SELECT p.oid::regprocedure AS temp_schema_first
  FROM pg_proc p JOIN ext_members m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid,
       unnest(p.proconfig) c
 WHERE c LIKE 'search_path=%' AND c NOT LIKE '%pg_temp'
 ORDER BY 1;

-- user-data tables not registered with pg_extension_config_dump (the two
-- registries filled by the extension's own scripts are not user data)
SELECT c.oid::regclass AS not_dumped
  FROM pg_class c JOIN ext_members m ON m.classid = 'pg_class'::regclass AND m.objid = c.oid
  CROSS JOIN pg_extension e
 WHERE e.extname = 'steppergo' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
   AND c.oid <> ALL (e.extconfig) AND c.relname NOT IN ('job_definitions', 'api_functions', 'api_tables')
 ORDER BY 1;

-- sequences behind user data not registered either
SELECT c.oid::regclass AS sequence_not_dumped
  FROM pg_class c JOIN ext_members m ON m.classid = 'pg_class'::regclass AND m.objid = c.oid
  CROSS JOIN pg_extension e
 WHERE e.extname = 'steppergo' AND c.relkind = 'S' AND c.oid <> ALL (e.extconfig)
 ORDER BY 1;

-- primary keys that are not uuid (driver_locations is keyed by driver_id,
-- the registries by their natural keys)
SELECT c.oid::regclass AS relation, format_type(a.atttypid, a.atttypmod) AS key_type
  FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
  JOIN ext_members m ON m.classid = 'pg_class'::regclass AND m.objid = c.oid
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = ANY (k.conkey)
 WHERE k.contype = 'p' AND a.atttypid <> 'uuid'::regtype
   AND c.relname NOT IN ('currencies', 'job_definitions', 'api_functions', 'api_tables')
 ORDER BY 1;

-- API functions declared in api_functions that do not exist
SELECT signature AS missing_api_function
  FROM steppergo.api_functions f
 WHERE to_regprocedure('steppergo.' || f.signature) IS NULL
 ORDER BY 1;

-- the functions CONTRACT.md names: each exists with the contract's argument
-- names and types (the JSON keys PostgREST clients send) and result type
SELECT c.name AS missing_or_different_contract_function
  FROM (VALUES
    ('register_user(email text, phone text, name text, password text, role user_role) -> uuid'),
    ('login(identifier text, password text) -> jsonb'),
    ('refresh_session(refresh_token text) -> jsonb'),
    ('logout(refresh_token text) -> void'),
    ('request_otp(phone text) -> text'),
    ('verify_otp(phone text, code text) -> boolean'),
    ('update_driver_location(driver_id uuid, lat double precision, lng double precision, heading double precision, speed double precision, accuracy double precision) -> void'),
    ('update_driver_locations(pings jsonb) -> integer'),
    ('find_drivers(trip_id uuid, radius_m integer, max_results integer) -> TABLE(driver_id uuid, distance_m double precision, score double precision)'),
    ('offer_trip(trip_id uuid, driver_id uuid) -> uuid'),
    ('accept_trip(trip_id uuid, driver_id uuid) -> void'),
    ('decline_trip(trip_id uuid, driver_id uuid) -> void'),
    ('process_acceptance_timeouts() -> integer'),
    ('book_seats(trip_id uuid, user_id uuid, seats integer, passengers jsonb, payment_method payment_method_type) -> uuid'),
    ('cancel_booking(booking_id uuid, reason text) -> void'),
    ('transition_trip(trip_id uuid, new_status trip_status, actor_id uuid) -> void'),
    ('record_webhook(source text, event_id text, event_type text, payload jsonb) -> boolean'),
    ('payout_split(gross numeric, platform_rate numeric) -> TABLE(driver_amount numeric, platform_fee numeric)'),
    ('run_payout_batch(period_end timestamp with time zone) -> integer'),
    ('schedule_jobs() -> void'),
    ('unschedule_jobs() -> void')) c(name)
 WHERE NOT EXISTS (
   SELECT 1 FROM pg_proc p
    WHERE p.pronamespace = 'steppergo'::regnamespace
      -- the contract's arguments are a prefix of the function's (optional
      -- arguments may be added at the end, with defaults)
      AND c.name LIKE p.proname || '(%'
      AND starts_with(pg_get_function_identity_arguments(p.oid) || ',',
                      rtrim(split_part(substr(c.name, length(p.proname) + 2), ') -> ', 1), ')') || ',')
           = true
      AND (pg_get_function_identity_arguments(p.oid) = split_part(substr(c.name, length(p.proname) + 2), ') -> ', 1)
           OR p.pronargdefaults >= p.pronargs - (SELECT count(*) FROM regexp_split_to_table(
                  nullif(split_part(substr(c.name, length(p.proname) + 2), ') -> ', 1), ''), ',')))
      AND pg_get_function_result(p.oid) = split_part(c.name, ') -> ', 2))
 ORDER BY 1;
