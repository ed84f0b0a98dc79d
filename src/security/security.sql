-- ===========================================================================
-- security (release 0.2): the API roles, row-level security on every table,
-- and the per-request check PostgREST runs before each request.
--
-- Runs last: every table and function of every domain exists.  See
-- src/security/README.md for the model and the PostgREST configuration.
-- ===========================================================================

-- ---------------------------------------------------------------------------
-- Who the caller is, for policies.  Policies call these through
-- (SELECT ...) so that they are evaluated once per statement.
-- ---------------------------------------------------------------------------
CREATE FUNCTION is_admin() RETURNS boolean
  LANGUAGE sql STABLE PARALLEL SAFE
  SET search_path FROM CURRENT
  RETURN current_user_id() IS NOT NULL AND current_app_role() IS NOT DISTINCT FROM 'ADMIN';
COMMENT ON FUNCTION is_admin() IS
  'True when the current request carries the claims of a user (a valid sub) whose app_role is ADMIN. Used by row-level security policies.';

CREATE FUNCTION current_driver_id() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
  SECURITY DEFINER
  SET search_path FROM CURRENT
  RETURN (SELECT d.id FROM drivers d WHERE d.user_id = current_user_id());
COMMENT ON FUNCTION current_driver_id() IS
  'The driver profile of the current request''s user, or NULL. Used by row-level security policies.';

CREATE FUNCTION current_owner_id() RETURNS uuid
  LANGUAGE sql STABLE PARALLEL SAFE
  SECURITY DEFINER
  SET search_path FROM CURRENT
  RETURN (SELECT o.id FROM activity_owners o WHERE o.user_id = current_user_id());
COMMENT ON FUNCTION current_owner_id() IS
  'The activity-owner profile of the current request''s user, or NULL. Used by row-level security policies.';

CREATE FUNCTION tenant_visible(row_tenant uuid) RETURNS boolean
  LANGUAGE sql STABLE PARALLEL SAFE
  SET search_path FROM CURRENT
  RETURN row_tenant IS NULL
      OR row_tenant = current_tenant_id()
      OR (is_admin() AND current_tenant_id() IS NULL);
COMMENT ON FUNCTION tenant_visible(uuid) IS
  'Tenant isolation: a row of a tenant is visible only to callers of that tenant (claim tenant_id) and to platform admins (ADMIN without a tenant). Rows without a tenant are not restricted by this rule.';

-- The trips a user may see beyond the public ones: organised, driven,
-- offered to them, or booked by them.
CREATE FUNCTION my_trip(trip_id uuid) RETURNS boolean
  LANGUAGE sql STABLE PARALLEL SAFE
  SECURITY DEFINER
  SET search_path FROM CURRENT
  RETURN EXISTS (SELECT 1 FROM trips t
                  WHERE t.id = my_trip.trip_id
                    AND (t.organizer_id = current_user_id()
                         OR t.driver_id = current_driver_id()
                         OR t.offered_to_driver_id = current_driver_id()))
      OR EXISTS (SELECT 1 FROM bookings b WHERE b.trip_id = my_trip.trip_id AND b.user_id = current_user_id());
COMMENT ON FUNCTION my_trip(uuid) IS
  'True when the current request''s user organises, drives, is offered, or booked the trip. Runs with the definer''s rights inside policies to avoid recursion between the trips and bookings policies.';

CREATE FUNCTION in_conversation(conversation_id uuid, sent_at timestamptz DEFAULT NULL) RETURNS boolean
  LANGUAGE sql STABLE PARALLEL SAFE
  SECURITY DEFINER
  SET search_path FROM CURRENT
  RETURN EXISTS (SELECT 1 FROM conversation_participants p
                  WHERE p.conversation_id = in_conversation.conversation_id AND p.user_id = current_user_id()
                    AND (p.left_at IS NULL OR (in_conversation.sent_at IS NOT NULL AND in_conversation.sent_at <= p.left_at)));
COMMENT ON FUNCTION in_conversation(uuid, timestamptz) IS
  'True when the current request''s user is a participant of the conversation who has not left (or, given a message''s sent_at, had not left when it was sent). Runs with the definer''s rights inside policies to avoid recursion.';

-- ---------------------------------------------------------------------------
-- Row-level security: enabled on every table.  The extension's own
-- functions run as the extension owner and are not subject to it; API roles
-- read tables directly only where setup_api_roles() grants SELECT, and then
-- only the rows these policies let through.  API roles never write tables
-- directly: every change goes through a function that checks the caller.
-- ---------------------------------------------------------------------------
DO $$
DECLARE
  t regclass;
BEGIN
  FOR t IN SELECT c.oid FROM pg_catalog.pg_class c
            WHERE c.relnamespace = 'steppergo'::regnamespace AND c.relkind IN ('r', 'p')
              AND NOT c.relispartition
  LOOP
    EXECUTE format('ALTER TABLE %s ENABLE ROW LEVEL SECURITY', t);
  END LOOP;
END
$$;

-- reference data: readable by everyone
CREATE POLICY currencies_read ON currencies FOR SELECT USING (true);

-- tenants: one's own tenant; platform admins all
CREATE POLICY tenants_read ON tenants FOR SELECT
  USING (id = (SELECT current_tenant_id()) OR (SELECT is_admin()) AND (SELECT current_tenant_id()) IS NULL);

-- users: one's own row; admins of the platform all (tenant admins their tenant's)
CREATE POLICY users_read ON users FOR SELECT
  USING (id = (SELECT current_user_id()) OR (SELECT is_admin()));
CREATE POLICY users_tenant ON users AS RESTRICTIVE FOR SELECT USING (tenant_visible(tenant_id));

-- sessions: one's own (token hashes are not granted)
CREATE POLICY sessions_read ON sessions FOR SELECT
  USING (user_id = (SELECT current_user_id()) OR (SELECT is_admin()));

-- drivers: one's own profile, the drivers of one's trips, approved drivers'
-- public profile (rating, vehicle) for everyone logged in; admins all
CREATE POLICY drivers_read ON drivers FOR SELECT
  USING (user_id = (SELECT current_user_id()) OR (SELECT is_admin())
         OR (status = 'APPROVED' AND (SELECT current_user_id()) IS NOT NULL));
CREATE POLICY drivers_tenant ON drivers AS RESTRICTIVE FOR SELECT USING (tenant_visible(tenant_id));

CREATE POLICY vehicles_read ON vehicles FOR SELECT
  USING (driver_id = (SELECT current_driver_id()) OR (SELECT is_admin())
         OR (is_active AND (SELECT current_user_id()) IS NOT NULL
             AND EXISTS (SELECT 1 FROM drivers d WHERE d.id = vehicles.driver_id AND d.status = 'APPROVED')));

-- live positions: one's own; the assigned driver's position for the
-- passengers and organizer of a trip that is under way; admins
CREATE POLICY driver_locations_read ON driver_locations FOR SELECT
  USING (driver_id = (SELECT current_driver_id()) OR (SELECT is_admin())
         OR EXISTS (SELECT 1 FROM trips t
                     WHERE t.driver_id = driver_locations.driver_id
                       AND t.status IN ('IN_PROGRESS', 'DEPARTED', 'EN_ROUTE', 'DRIVER_ARRIVED',
                                        'PASSENGERS_BOARDED', 'IN_TRANSIT', 'DELAYED', 'ARRIVED')
                       AND my_trip(t.id)));

CREATE POLICY driver_availability_schedules_read ON driver_availability_schedules FOR SELECT
  USING (driver_id = (SELECT current_driver_id()) OR (SELECT is_admin()));
CREATE POLICY driver_availability_history_read ON driver_availability_history FOR SELECT
  USING (driver_id = (SELECT current_driver_id()) OR (SELECT is_admin()));
CREATE POLICY driver_credential_deliveries_read ON driver_credential_deliveries FOR SELECT
  USING (driver_id = (SELECT current_driver_id()) OR (SELECT is_admin()));

-- trips: published ones for everyone (also anonymous); one's own (organised,
-- driven, offered, booked); admins all; never across tenants
CREATE POLICY trips_read ON trips FOR SELECT
  USING (status IN ('PUBLISHED', 'OFFERED', 'FULL')
         OR (SELECT is_admin()) OR my_trip(id));
CREATE POLICY trips_tenant ON trips AS RESTRICTIVE FOR SELECT USING (tenant_visible(tenant_id));

CREATE POLICY trip_status_history_read ON trip_status_history FOR SELECT
  USING ((SELECT is_admin()) OR my_trip(trip_id));
CREATE POLICY trip_driver_visibility_read ON trip_driver_visibility FOR SELECT
  USING (driver_id = (SELECT current_driver_id()) OR (SELECT is_admin())
         OR EXISTS (SELECT 1 FROM trips t WHERE t.id = trip_driver_visibility.trip_id AND t.organizer_id = (SELECT current_user_id())));
CREATE POLICY trip_acceptance_logs_read ON trip_acceptance_logs FOR SELECT
  USING (driver_id = (SELECT current_driver_id()) OR (SELECT is_admin())
         OR EXISTS (SELECT 1 FROM trips t WHERE t.id = trip_acceptance_logs.trip_id AND t.organizer_id = (SELECT current_user_id())));

-- reviews of drivers are public
CREATE POLICY reviews_read ON reviews FOR SELECT USING (true);

-- bookings: the passenger's own; the organizer's and the driver's of the trip; admins
CREATE POLICY bookings_read ON bookings FOR SELECT
  USING (user_id = (SELECT current_user_id()) OR (SELECT is_admin())
         OR EXISTS (SELECT 1 FROM trips t WHERE t.id = bookings.trip_id
                       AND (t.organizer_id = (SELECT current_user_id()) OR t.driver_id = (SELECT current_driver_id()))));
CREATE POLICY payments_read ON payments FOR SELECT
  USING ((SELECT is_admin())
         OR EXISTS (SELECT 1 FROM bookings b WHERE b.id = payments.booking_id AND b.user_id = (SELECT current_user_id())));

-- payouts: the driver's own; admins; never across tenants
CREATE POLICY payouts_read ON payouts FOR SELECT
  USING (driver_id = (SELECT current_driver_id()) OR (SELECT is_admin()));
CREATE POLICY payouts_tenant ON payouts AS RESTRICTIVE FOR SELECT USING (tenant_visible(tenant_id));

-- conversations: participants who have not left; admins
CREATE POLICY conversations_read ON conversations FOR SELECT
  USING ((SELECT is_admin()) OR in_conversation(id));
CREATE POLICY conversation_participants_read ON conversation_participants FOR SELECT
  USING ((SELECT is_admin()) OR user_id = (SELECT current_user_id()) OR in_conversation(conversation_id));
-- messages: what a participant may read (not hidden, not sent after they left)
CREATE POLICY messages_read ON messages FOR SELECT
  USING ((SELECT is_admin()) OR (NOT is_hidden AND in_conversation(conversation_id, sent_at)));

-- activities: verified owners and active listings are public; owners see
-- their own; admins all
CREATE POLICY activity_owners_read ON activity_owners FOR SELECT
  USING (verification_status = 'VERIFIED' OR user_id = (SELECT current_user_id()) OR (SELECT is_admin()));
CREATE POLICY activities_read ON activities FOR SELECT
  USING (status = 'ACTIVE' OR owner_id = (SELECT current_owner_id()) OR (SELECT is_admin()));
CREATE POLICY activity_photos_read ON activity_photos FOR SELECT
  USING (EXISTS (SELECT 1 FROM activities a WHERE a.id = activity_photos.activity_id));
CREATE POLICY activity_schedules_read ON activity_schedules FOR SELECT
  USING (EXISTS (SELECT 1 FROM activities a WHERE a.id = activity_schedules.activity_id));
CREATE POLICY activity_bookings_read ON activity_bookings FOR SELECT
  USING (passenger_id = (SELECT current_user_id()) OR (SELECT is_admin())
         OR EXISTS (SELECT 1 FROM activities a WHERE a.id = activity_bookings.activity_id AND a.owner_id = (SELECT current_owner_id())));
CREATE POLICY activity_reviews_read ON activity_reviews FOR SELECT USING (true);

-- admin tables
CREATE POLICY admin_actions_read ON admin_actions FOR SELECT USING ((SELECT is_admin()));
CREATE POLICY document_verifications_read ON document_verifications FOR SELECT
  USING (user_id = (SELECT current_user_id()) OR (SELECT is_admin()));
CREATE POLICY file_uploads_read ON file_uploads FOR SELECT
  USING ((user_id = (SELECT current_user_id()) AND deleted_at IS NULL) OR (SELECT is_admin()));
CREATE POLICY analytics_events_read ON analytics_events FOR SELECT USING ((SELECT is_admin()));
CREATE POLICY webhook_logs_read ON webhook_logs FOR SELECT USING ((SELECT is_admin()));
CREATE POLICY notifications_read ON notifications FOR SELECT
  USING (user_id = (SELECT current_user_id()) OR (SELECT is_admin()));
-- refresh_tokens, otps, job_definitions, api_functions: no policy, no grant:
-- nothing is readable by an API role.

-- ---------------------------------------------------------------------------
-- What the API roles may read directly (PostgREST GET on tables), by
-- audience.  Writes always go through functions.  Columns left out of a
-- grant are secrets or internal: password and token hashes.
-- ---------------------------------------------------------------------------
CREATE TABLE api_tables (
  table_name  text PRIMARY KEY,
  audience    text NOT NULL CHECK (audience IN ('anon', 'authenticated', 'service')),
  columns     text[],
  hidden_columns text[]
);
COMMENT ON TABLE api_tables IS
  'The tables API roles may SELECT (row-level security decides which rows), by audience, with the columns granted (NULL: all). Filled by the extension''s scripts, read by setup_api_roles(). Not user data.';
COMMENT ON COLUMN api_tables.table_name IS 'Table in schema steppergo.';
COMMENT ON COLUMN api_tables.audience IS 'anon (everyone, also without a token), authenticated (logged-in users) or service (trusted backends only).';
COMMENT ON COLUMN api_tables.columns IS 'The columns granted; NULL grants every column (but hidden_columns).';
COMMENT ON COLUMN api_tables.hidden_columns IS 'Columns never granted (secrets such as keyed hashes), when columns is NULL.';
INSERT INTO api_tables (table_name, audience, columns) VALUES
  ('currencies', 'anon', NULL),
  ('trips', 'anon', NULL),
  ('reviews', 'anon', ARRAY['id', 'driver_id', 'trip_id', 'rating', 'comment', 'reviewer_name', 'response', 'responded_at', 'created_at']),
  ('activity_owners', 'anon', ARRAY['id', 'business_name', 'business_type', 'city', 'country', 'website', 'verification_status',
                                    'categories', 'total_activities', 'average_rating', 'created_at']),
  ('activities', 'anon', NULL),
  ('activity_photos', 'anon', NULL),
  ('activity_schedules', 'anon', NULL),
  ('activity_reviews', 'anon', NULL),
  ('tenants', 'authenticated', NULL),
  ('users', 'authenticated', ARRAY['id', 'email', 'phone', 'name', 'role', 'email_verified', 'phone_verified', 'avatar', 'bio',
                                   'is_first_login', 'created_at', 'updated_at', 'tenant_id', 'last_login_at']),
  ('sessions', 'authenticated', ARRAY['id', 'user_id', 'expires_at', 'created_at', 'revoked_at', 'last_seen_at', 'ip_address', 'user_agent']),
  ('drivers', 'authenticated', NULL),
  ('vehicles', 'authenticated', NULL),
  ('driver_locations', 'authenticated', NULL),
  ('driver_availability_schedules', 'authenticated', NULL),
  ('driver_availability_history', 'authenticated', NULL),
  ('driver_credential_deliveries', 'authenticated', NULL),
  ('trip_status_history', 'authenticated', NULL),
  ('trip_driver_visibility', 'authenticated', NULL),
  ('trip_acceptance_logs', 'authenticated', NULL),
  ('bookings', 'authenticated', NULL),  -- but boarding_code_hash, below
  ('payments', 'authenticated', ARRAY['id', 'booking_id', 'stripe_intent_id', 'stripe_client_secret', 'amount', 'currency', 'status',
                                      'payment_method', 'last4', 'error_message', 'created_at', 'succeeded_at', 'failed_at',
                                      'updated_at', 'refund_requested_at', 'refunded_at']),
  ('payouts', 'authenticated', NULL),
  ('conversations', 'authenticated', NULL),
  ('conversation_participants', 'authenticated', NULL),
  ('messages', 'authenticated', NULL),
  ('activity_bookings', 'authenticated', NULL),
  ('admin_actions', 'authenticated', NULL),
  ('document_verifications', 'authenticated', NULL),
  ('file_uploads', 'authenticated', NULL),
  ('analytics_events', 'authenticated', NULL),
  ('webhook_logs', 'authenticated', NULL),
  ('notifications', 'authenticated', NULL);
UPDATE api_tables SET hidden_columns = ARRAY['boarding_code_hash'] WHERE table_name = 'bookings';

-- ---------------------------------------------------------------------------
-- setup_api_roles: the roles PostgREST uses, and every grant they get.
-- ---------------------------------------------------------------------------
CREATE FUNCTION setup_api_roles(anon_role name DEFAULT 'anon',
                                authenticated_role name DEFAULT 'authenticated',
                                service_role name DEFAULT 'service_role',
                                authenticator_role name DEFAULT 'authenticator')
  RETURNS void
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  r record;
  aud text;
  role_name name;
  roles name[];
  postgis_schema name := (SELECT n.nspname FROM pg_catalog.pg_extension e
                            JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'postgis');
BEGIN
  IF NOT (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'setup_api_roles must be run by a superuser';
  END IF;
  IF anon_role IS NULL OR authenticated_role IS NULL OR service_role IS NULL OR authenticator_role IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'role names must not be null';
  END IF;
  IF cardinality(ARRAY(SELECT DISTINCT x FROM unnest(ARRAY[anon_role, authenticated_role, service_role, authenticator_role]) x)) <> 4 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'the four role names must differ';
  END IF;
  -- a pinned search_path is only as safe as the schemas on it
  IF pg_catalog.has_schema_privilege('public', postgis_schema, 'CREATE') THEN
    RAISE EXCEPTION USING ERRCODE = '42501',
      MESSAGE = format('every role may create objects in schema %s, which the extension''s functions search', postgis_schema),
      HINT = format('REVOKE CREATE ON SCHEMA %I FROM PUBLIC; then run setup_api_roles() again.', postgis_schema);
  END IF;

  -- group roles: steppergo_api (every API role), steppergo_service (trusted backends)
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'steppergo_api') THEN
    CREATE ROLE steppergo_api NOLOGIN;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'steppergo_service') THEN
    CREATE ROLE steppergo_service NOLOGIN;
  END IF;
  COMMENT ON ROLE steppergo_api IS 'steppergo: every role PostgREST switches to (anonymous, authenticated, service).';
  COMMENT ON ROLE steppergo_service IS 'steppergo: roles of trusted backends, which act for the platform.';

  FOREACH aud IN ARRAY ARRAY['anon', 'authenticated', 'service'] LOOP
    role_name := CASE aud WHEN 'anon' THEN anon_role WHEN 'authenticated' THEN authenticated_role ELSE service_role END;
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = role_name) THEN
      EXECUTE format('CREATE ROLE %I NOLOGIN', role_name);
    END IF;
    EXECUTE format('GRANT steppergo_api TO %I', role_name);
  END LOOP;
  EXECUTE format('GRANT steppergo_service TO %I', service_role);
  -- trusted backends see every row; they still write only through functions
  EXECUTE format('ALTER ROLE %I BYPASSRLS', service_role);
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = authenticator_role) THEN
    EXECUTE format('CREATE ROLE %I LOGIN NOINHERIT', authenticator_role);
  ELSE
    EXECUTE format('ALTER ROLE %I NOINHERIT', authenticator_role);
  END IF;
  EXECUTE format('GRANT %I, %I, %I TO %I', anon_role, authenticated_role, service_role, authenticator_role);

  -- nothing of the extension is granted to PUBLIC
  REVOKE ALL ON SCHEMA steppergo FROM PUBLIC;
  REVOKE ALL ON ALL TABLES IN SCHEMA steppergo FROM PUBLIC;
  REVOKE ALL ON ALL SEQUENCES IN SCHEMA steppergo FROM PUBLIC;
  REVOKE ALL ON ALL FUNCTIONS IN SCHEMA steppergo FROM PUBLIC;
  GRANT USAGE ON SCHEMA steppergo TO steppergo_api;

  -- the helpers policies call run with the caller's rights
  GRANT EXECUTE ON FUNCTION current_claims(), current_user_id(), current_app_role(), current_tenant_id(),
                            invoking_role(), is_trusted_caller(), is_admin(), current_driver_id(), current_owner_id(),
                            tenant_visible(uuid), my_trip(uuid), in_conversation(uuid, timestamptz), pre_request()
    TO steppergo_api;

  -- functions, by audience (anon implies authenticated and service, ...)
  FOR r IN SELECT f.signature, f.audience, to_regprocedure('steppergo.' || f.signature) AS fn
             FROM api_functions f ORDER BY f.signature LOOP
    IF r.fn IS NULL THEN
      RAISE EXCEPTION USING ERRCODE = '42883', MESSAGE = format('api function %s does not exist', r.signature);
    END IF;
    roles := CASE r.audience WHEN 'anon' THEN ARRAY[anon_role, authenticated_role, service_role]
                             WHEN 'authenticated' THEN ARRAY[authenticated_role, service_role]
                             ELSE ARRAY[service_role] END;
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %s', r.fn,
                   (SELECT string_agg(quote_ident(x), ', ') FROM unnest(roles) x));
  END LOOP;

  -- tables, by audience, with their columns
  FOR r IN SELECT t.table_name, t.audience,
                  coalesce(t.columns, ARRAY(SELECT a.attname::text FROM pg_catalog.pg_attribute a
                                             WHERE a.attrelid = ('steppergo.' || quote_ident(t.table_name))::regclass
                                               AND a.attnum > 0 AND NOT a.attisdropped
                                               AND a.attname::text <> ALL (coalesce(t.hidden_columns, '{}'))
                                             ORDER BY a.attnum)) AS columns,
                  t.columns IS NULL AND t.hidden_columns IS NULL AS whole_table
             FROM api_tables t ORDER BY t.table_name LOOP
    roles := CASE r.audience WHEN 'anon' THEN ARRAY[anon_role, authenticated_role, service_role]
                             WHEN 'authenticated' THEN ARRAY[authenticated_role, service_role]
                             ELSE ARRAY[service_role] END;
    -- a table-wide grant would include columns added later; with hidden
    -- columns the grant is per column, re-run after an update
    EXECUTE format('GRANT SELECT %s ON TABLE steppergo.%I TO %s',
                   CASE WHEN r.whole_table THEN ''
                        ELSE '(' || (SELECT string_agg(quote_ident(c), ', ') FROM unnest(r.columns) c) || ')' END,
                   r.table_name, (SELECT string_agg(quote_ident(x), ', ') FROM unnest(roles) x));
  END LOOP;
END
$$;
COMMENT ON FUNCTION setup_api_roles(name, name, name, name) IS
  'Creates (or adopts) the roles PostgREST uses and grants them exactly what api_functions and api_tables list: an authenticator (LOGIN NOINHERIT), an anonymous role, an authenticated role, a service role for trusted backends (BYPASSRLS, trusted by the functions); revokes everything of the extension from PUBLIC. Idempotent: run it again after ALTER EXTENSION steppergo UPDATE. Superuser only.';

-- ---------------------------------------------------------------------------
-- pre_request: PostgREST's db-pre-request.  PostgREST has verified the
-- token's signature and expiry; this checks that it still speaks for
-- someone: the user exists with that role and tenant, and the session it
-- was issued in was not ended (logout, theft detection) — so a revoked or
-- demoted user's token stops working at once, not when it expires.
-- ---------------------------------------------------------------------------
CREATE FUNCTION pre_request() RETURNS void
  LANGUAGE plpgsql STABLE
  SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  claims jsonb := current_claims();
  uid uuid;
  u record;
  sid text;
BEGIN
  IF claims IS NULL OR NOT claims ? 'sub' THEN
    -- anonymous, or a service token without a user
    IF claims ? 'app_role' OR claims ? 'tenant_id' THEN
      RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'a token with an app_role must name its user';
    END IF;
    RETURN;
  END IF;
  IF jsonb_typeof(claims -> 'exp') IS DISTINCT FROM 'number'
     OR (claims ->> 'exp')::numeric <= extract(epoch FROM pg_catalog.now()) THEN
    RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'the token has expired or has no expiry';
  END IF;
  uid := current_user_id();
  SELECT x.role, x.tenant_id INTO u FROM users x WHERE x.id = uid;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'the token''s user does not exist';
  END IF;
  IF current_app_role() IS DISTINCT FROM u.role THEN
    RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'the token''s app_role is not the user''s role';
  END IF;
  IF current_tenant_id() IS DISTINCT FROM u.tenant_id THEN
    RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'the token''s tenant is not the user''s tenant';
  END IF;
  sid := claims ->> 'sid';
  IF sid IS NULL OR sid !~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$'
     OR NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = sid::uuid AND s.user_id = uid
                      AND s.revoked_at IS NULL AND s.expires_at > pg_catalog.now()) THEN
    RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'the token''s session has ended';
  END IF;
END
$$;
COMMENT ON FUNCTION pre_request() IS
  'PostgREST db-pre-request hook: refuses (PT401) a token whose user no longer exists, whose app_role or tenant_id no longer match the user, whose session (sid) was ended by logout or theft detection, or that has no future exp. Anonymous requests pass.';
