-- ===========================================================================
-- core (release 0.2): who is calling, argument checks, audit
--
-- Every public function of every domain finds its caller here.  Behind
-- PostgREST each request runs as an API role with the JWT's claims in the
-- transaction-local setting request.jwt.claims; a trusted backend or a DBA in
-- psql calls without claims.  See src/core/README.md.
-- ===========================================================================

CREATE FUNCTION current_claims() RETURNS jsonb
  LANGUAGE plpgsql STABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
DECLARE
  raw text := pg_catalog.current_setting('request.jwt.claims', true);
  claims jsonb;
BEGIN
  IF raw IS NULL OR raw = '' THEN
    RETURN NULL;
  END IF;
  BEGIN
    claims := raw::jsonb;
  EXCEPTION WHEN invalid_text_representation THEN
    RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'malformed request.jwt.claims';
  END;
  IF jsonb_typeof(claims) <> 'object' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'malformed request.jwt.claims';
  END IF;
  -- PostgREST sets {"role": "anon"} (or {}) for requests without a token
  IF claims = '{}'::jsonb THEN
    RETURN NULL;
  END IF;
  RETURN claims;
END
$$;
COMMENT ON FUNCTION current_claims() IS
  'The JWT claims of the current request (PostgREST''s request.jwt.claims) as a JSON object, or NULL when none are set. Malformed claims fail with PT401.';

CREATE FUNCTION current_user_id() RETURNS uuid
  LANGUAGE plpgsql STABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
DECLARE
  sub text := current_claims() ->> 'sub';
BEGIN
  IF sub IS NULL THEN
    RETURN NULL;
  END IF;
  IF sub !~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'the token''s subject is not a user id';
  END IF;
  RETURN sub::uuid;
END
$$;
COMMENT ON FUNCTION current_user_id() IS
  'The user id (claim sub) of the current request, or NULL for an anonymous request or a call without claims.';

CREATE FUNCTION current_app_role() RETURNS user_role
  LANGUAGE plpgsql STABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
DECLARE
  r text := current_claims() ->> 'app_role';
BEGIN
  IF r IS NULL THEN
    RETURN NULL;
  END IF;
  IF NOT r = ANY (enum_range(NULL::user_role)::text[]) THEN
    RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'the token''s app_role is not a user role';
  END IF;
  RETURN r::user_role;
END
$$;
COMMENT ON FUNCTION current_app_role() IS
  'The marketplace role (claim app_role: PASSENGER, DRIVER, ADMIN, ACTIVITY_OWNER) of the current request, or NULL without claims.';

CREATE FUNCTION current_tenant_id() RETURNS uuid
  LANGUAGE plpgsql STABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
DECLARE
  t text := current_claims() ->> 'tenant_id';
BEGIN
  IF t IS NULL THEN
    RETURN NULL;
  END IF;
  IF t !~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'the token''s tenant_id is not a tenant id';
  END IF;
  RETURN t::uuid;
END
$$;
COMMENT ON FUNCTION current_tenant_id() IS
  'The tenant (claim tenant_id) of the current request, or NULL when the caller belongs to no tenant.';

CREATE FUNCTION invoking_role() RETURNS name
  LANGUAGE sql STABLE PARALLEL SAFE
  SET search_path FROM CURRENT
  RETURN CASE WHEN pg_catalog.current_setting('role') = 'none' THEN session_user
              ELSE pg_catalog.current_setting('role')::name END;
COMMENT ON FUNCTION invoking_role() IS
  'The role the caller acts as, also inside SECURITY DEFINER functions: the role set by SET ROLE (what PostgREST does per request), else the session user.';

CREATE FUNCTION is_trusted_caller() RETURNS boolean
  LANGUAGE plpgsql STABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
DECLARE
  me name := invoking_role();
  -- pg_has_role() counts a superuser a member of every role; a superuser is
  -- never an API role
  api boolean := pg_catalog.to_regrole('steppergo_api') IS NOT NULL
                 AND NOT coalesce((SELECT r.rolsuper FROM pg_catalog.pg_roles r WHERE r.rolname = me), false)
                 AND pg_catalog.pg_has_role(me, 'steppergo_api', 'MEMBER');
BEGIN
  -- The service role (setup_api_roles) is a trusted backend, token or not.
  IF api AND pg_catalog.to_regrole('steppergo_service') IS NOT NULL
     AND pg_catalog.pg_has_role(me, 'steppergo_service', 'MEMBER') THEN
    RETURN true;
  END IF;
  -- A request carrying claims is never trusted otherwise: it speaks for one user.
  IF current_claims() IS NOT NULL THEN
    RETURN false;
  END IF;
  -- Other members of steppergo_api (the PostgREST roles, see
  -- setup_api_roles) without claims are anonymous, never trusted.
  RETURN NOT api;
END
$$;
COMMENT ON FUNCTION is_trusted_caller() IS
  'True for a caller that acts for the platform: the service API role (trusted backends through PostgREST), or a caller without JWT claims that is not an API role (a DBA in psql, a backend connecting as its own role, a pg_cron job). Such callers pass every per-user check.';

CREATE FUNCTION assert_acting_as(user_id uuid) RETURNS void
  LANGUAGE plpgsql STABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
DECLARE
  me uuid;
BEGIN
  IF is_trusted_caller() THEN
    RETURN;
  END IF;
  me := current_user_id();
  IF me IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'authentication required';
  END IF;
  IF me IS DISTINCT FROM user_id AND current_app_role() IS DISTINCT FROM 'ADMIN' THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'not allowed to act for another user';
  END IF;
END
$$;
COMMENT ON FUNCTION assert_acting_as(uuid) IS
  'Raises 42501 unless the caller is the given user, an ADMIN, or a trusted caller; PT401 for an anonymous request.';

CREATE FUNCTION assert_app_role(VARIADIC allowed user_role[]) RETURNS void
  LANGUAGE plpgsql STABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
DECLARE
  r user_role;
BEGIN
  IF is_trusted_caller() THEN
    RETURN;
  END IF;
  IF current_user_id() IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'authentication required';
  END IF;
  r := current_app_role();
  IF r IS NULL OR NOT r = ANY (allowed) THEN
    RAISE EXCEPTION USING ERRCODE = '42501',
      MESSAGE = format('this operation needs the role %s', array_to_string(allowed, ' or ')),
      DETAIL = format('the caller''s role is %s', coalesce(r::text, 'unknown'));
  END IF;
END
$$;
COMMENT ON FUNCTION assert_app_role(user_role[]) IS
  'Raises 42501 unless the caller''s app_role is one of the given roles (trusted callers pass); PT401 for an anonymous request.';

CREATE FUNCTION require_arg(value anyelement, name text) RETURNS anyelement
  LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF value IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = format('%s must not be null', name);
  END IF;
  RETURN value;
END
$$;
COMMENT ON FUNCTION require_arg(anyelement, text) IS
  'Returns the value, or raises 22004 (null value not allowed) naming the argument when it is NULL.';

CREATE FUNCTION request_header(name text) RETURNS text
  LANGUAGE plpgsql STABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
DECLARE
  raw text := pg_catalog.current_setting('request.headers', true);
BEGIN
  IF raw IS NULL OR raw = '' THEN
    RETURN NULL;
  END IF;
  RETURN raw::jsonb ->> lower(name);
EXCEPTION WHEN invalid_text_representation THEN
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION request_header(text) IS
  'A header of the current HTTP request as PostgREST passes them (request.headers, lower-case names), or NULL.';

CREATE FUNCTION request_ip() RETURNS inet
  LANGUAGE plpgsql STABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
DECLARE
  fwd text := split_part(coalesce(request_header('x-forwarded-for'), request_header('x-real-ip'), ''), ',', 1);
BEGIN
  IF btrim(fwd) <> '' THEN
    RETURN btrim(fwd)::inet;
  END IF;
  RETURN inet_client_addr();
EXCEPTION WHEN invalid_text_representation THEN
  RETURN inet_client_addr();
END
$$;
COMMENT ON FUNCTION request_ip() IS
  'The client IP of the current request: the first X-Forwarded-For (or X-Real-IP) address PostgREST passes, else the connection''s address.';

CREATE FUNCTION log_admin_action(action_type text, target_type text, target_id text,
                                 details jsonb DEFAULT '{}', admin_id uuid DEFAULT NULL)
  RETURNS uuid
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  new_id uuid;
BEGIN
  INSERT INTO admin_actions (admin_id, action_type, target_type, target_id, details, ip_address, user_agent)
  VALUES (coalesce(admin_id, current_user_id()), action_type, target_type, target_id,
          coalesce(details, '{}'), request_ip(), request_header('user-agent'))
  RETURNING id INTO new_id;
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION log_admin_action(text, text, text, jsonb, uuid) IS
  'Writes one admin_actions row in the caller''s transaction: the acting admin (argument, else the request''s user), action, target, details (before/after JSON), IP and user agent from the request headers. Returns its id.';

-- ---------------------------------------------------------------------------
-- pg_cron jobs.  Each domain registers its jobs as rows of job_definitions
-- in its own SQL; schedule_jobs() hands them all to pg_cron, and
-- unschedule_jobs() takes them back.  pg_cron is optional: the extension
-- installs without it, only these two functions need it.
-- ---------------------------------------------------------------------------
CREATE TABLE job_definitions (
  name         text PRIMARY KEY CHECK (name ~ '^steppergo_[a-z0-9_]+$'),
  schedule     text NOT NULL,
  command      text NOT NULL,
  description  text NOT NULL
);
COMMENT ON TABLE job_definitions IS
  'The pg_cron jobs of the extension, one row each, installed by the extension''s own scripts (not user data). schedule_jobs() registers them with pg_cron under their name; to change a schedule afterwards use cron.alter_job or cron.schedule with the same name.';
COMMENT ON COLUMN job_definitions.name IS 'pg_cron job name; every name starts with steppergo_ so the extension never touches other jobs.';
COMMENT ON COLUMN job_definitions.schedule IS 'Cron schedule in pg_cron syntax. pg_cron 1.4 evaluates schedules in UTC.';
COMMENT ON COLUMN job_definitions.command IS 'SQL the job runs, in the database named by cron.database_name.';
COMMENT ON COLUMN job_definitions.description IS 'What the job does and why it runs at that schedule.';

CREATE FUNCTION pg_cron_schema() RETURNS name
  LANGUAGE sql STABLE
  SET search_path FROM CURRENT
  -- pg_cron 1.4 is installed "in" public but keeps its functions in schema
  -- cron: ask where its schedule() function lives
  RETURN (SELECT n.nspname FROM pg_catalog.pg_depend d
            JOIN pg_catalog.pg_extension e ON e.oid = d.refobjid AND e.extname = 'pg_cron'
            JOIN pg_catalog.pg_proc p ON p.oid = d.objid
            JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
           WHERE d.classid = 'pg_catalog.pg_proc'::regclass AND d.deptype = 'e' AND p.proname = 'schedule'
           LIMIT 1);
COMMENT ON FUNCTION pg_cron_schema() IS 'The schema pg_cron is installed in (cron), or NULL when pg_cron is not installed in this database.';

CREATE FUNCTION schedule_jobs() RETURNS void
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  cron name := pg_cron_schema();
  j record;
BEGIN
  IF cron IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '55000', MESSAGE = 'pg_cron is not installed in this database',
      HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, and CREATE EXTENSION pg_cron.';
  END IF;
  FOR j IN SELECT * FROM job_definitions ORDER BY name LOOP
    -- cron.schedule(name, ...) replaces a job of the same name: calling twice is harmless
    EXECUTE format('SELECT %I.schedule($1, $2, $3)', cron) USING j.name, j.schedule, j.command;
  END LOOP;
END
$$;
COMMENT ON FUNCTION schedule_jobs() IS
  'Registers every job of job_definitions with pg_cron (by name, replacing a job of the same name, so calling it twice is harmless). Raises 55000 when pg_cron is not installed in this database.';

CREATE FUNCTION unschedule_jobs() RETURNS void
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  cron name := pg_cron_schema();
BEGIN
  IF cron IS NULL THEN
    RETURN;
  END IF;
  EXECUTE format('SELECT %1$I.unschedule(jobid) FROM %1$I.job WHERE jobname LIKE ''steppergo\_%%''', cron);
END
$$;
COMMENT ON FUNCTION unschedule_jobs() IS
  'Removes every pg_cron job of the extension (names starting with steppergo_); harmless when there are none or pg_cron is absent.';

-- DROP EXTENSION steppergo must not leave jobs behind that call functions
-- that no longer exist.  An event trigger cannot see which extension a DROP
-- names before it runs, so it looks for the word in the statement; when the
-- DROP fails, the unscheduling rolls back with it.
CREATE FUNCTION on_drop_unschedule_jobs() RETURNS event_trigger
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF pg_catalog.current_query() ~* '\msteppergo\M' THEN
    PERFORM unschedule_jobs();
  END IF;
END
$$;
COMMENT ON FUNCTION on_drop_unschedule_jobs() IS
  'Event trigger function: before DROP EXTENSION or DROP SCHEMA naming steppergo, removes the extension''s pg_cron jobs.';
CREATE EVENT TRIGGER steppergo_drop_unschedule_jobs ON ddl_command_start
  WHEN TAG IN ('DROP EXTENSION', 'DROP SCHEMA')
  EXECUTE FUNCTION on_drop_unschedule_jobs();
COMMENT ON EVENT TRIGGER steppergo_drop_unschedule_jobs IS
  'Removes the extension''s pg_cron jobs when the extension (or its schema) is dropped.';

-- ---------------------------------------------------------------------------
-- Shared business helpers used by several domains
-- ---------------------------------------------------------------------------
CREATE FUNCTION platform_rate(tenant_id uuid DEFAULT NULL) RETURNS numeric
  LANGUAGE sql STABLE PARALLEL SAFE
  SET search_path FROM CURRENT
  RETURN coalesce((SELECT t.platform_rate FROM tenants t WHERE t.id = platform_rate.tenant_id), 0.15);
COMMENT ON FUNCTION platform_rate(uuid) IS
  'The platform fee rate for a tenant''s trips: the tenant''s platform_rate when set, else 0.15 (the 85/15 split). NULL tenant means the platform''s own trips.';

CREATE FUNCTION set_driver_availability(driver_id uuid, new_availability driver_availability,
                                        reason text DEFAULT NULL, triggered_by text DEFAULT 'system')
  RETURNS driver_availability
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  prev driver_availability;
BEGIN
  PERFORM require_arg(driver_id, 'driver_id');
  PERFORM require_arg(new_availability, 'new_availability');
  IF triggered_by IS NULL OR triggered_by NOT IN ('driver', 'system', 'admin') THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'triggered_by must be driver, system or admin';
  END IF;
  SELECT d.availability INTO prev FROM drivers d WHERE d.id = set_driver_availability.driver_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'driver not found',
      DETAIL = format('no driver with id %s', set_driver_availability.driver_id);
  END IF;
  IF prev IS DISTINCT FROM new_availability THEN
    UPDATE drivers d SET availability = new_availability WHERE d.id = set_driver_availability.driver_id;
    INSERT INTO driver_availability_history (driver_id, previous_status, new_status, change_reason, triggered_by)
    VALUES (set_driver_availability.driver_id, prev, new_availability, left(reason, 500), set_driver_availability.triggered_by);
  END IF;
  RETURN prev;
END
$$;
COMMENT ON FUNCTION set_driver_availability(uuid, driver_availability, text, text) IS
  'Internal: moves a driver to another availability and writes the driver_availability_history row (reason, triggered_by driver/system/admin) in the same transaction; does nothing when unchanged. Returns the previous availability. The one way every domain changes availability.';

-- ---------------------------------------------------------------------------
-- The API surface.  Each domain declares which of its functions the API
-- roles may call (src/security grants them when it sets up the roles):
--   anon           anyone, also without a token (register, login, ...)
--   authenticated  a logged-in user; the function checks what the user may do
--   service        trusted backends only (webhooks, jobs, outbox senders)
-- Functions not listed are internal: no API role may call them.
-- ---------------------------------------------------------------------------
CREATE TABLE api_functions (
  signature  text PRIMARY KEY,
  audience   text NOT NULL CHECK (audience IN ('anon', 'authenticated', 'service'))
);
COMMENT ON TABLE api_functions IS
  'The functions the API roles may call, by signature, and who may call them (anon, authenticated, service); filled by the extension''s scripts, read by the role setup. Not user data.';
COMMENT ON COLUMN api_functions.signature IS 'Function signature: name and argument types, without schema (book_seats(uuid, uuid, integer, jsonb, payment_method_type)); steppergo.<signature> is its regprocedure.';
COMMENT ON COLUMN api_functions.audience IS 'anon (also without a token; implies authenticated and service), authenticated (logged-in users; implies service) or service (trusted backends).';

CREATE FUNCTION api_expose(fn regprocedure, audience text) RETURNS void
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  sig text;
BEGIN
  -- store the signature without the schema, so it survives dump and restore
  SELECT p.proname || '(' || pg_catalog.oidvectortypes(p.proargtypes) || ')'
    INTO sig FROM pg_catalog.pg_proc p WHERE p.oid = fn;
  INSERT INTO api_functions (signature, audience) VALUES (sig, audience)
  ON CONFLICT (signature) DO UPDATE SET audience = EXCLUDED.audience;
END
$$;
COMMENT ON FUNCTION api_expose(regprocedure, text) IS
  'Declares a function part of the API for an audience (anon, authenticated, service); used by the extension''s scripts.';
