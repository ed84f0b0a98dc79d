-- ===========================================================================
-- drivers (release 0.2): onboarding, vehicles, approval, availability,
-- schedules, live location (C) and auto-offline.  See src/drivers/README.md.
-- ===========================================================================

-- ---------------------------------------------------------------------------
-- approval_status mirrors status, whoever writes the row
-- ---------------------------------------------------------------------------
CREATE FUNCTION drivers_mirror_approval_status() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
BEGIN
  NEW.approval_status := NEW.status::text;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION drivers_mirror_approval_status() IS
  'Trigger function: keeps drivers.approval_status (the earlier application''s text column) equal to drivers.status on every insert and on every update that names either column.';
CREATE TRIGGER drivers_mirror_approval_status BEFORE INSERT OR UPDATE OF status, approval_status ON drivers
  FOR EACH ROW EXECUTE FUNCTION drivers_mirror_approval_status();
COMMENT ON TRIGGER drivers_mirror_approval_status ON drivers IS
  'Keeps approval_status equal to status (status is the source of truth).';
-- rows written under release 0.1 (before the trigger existed)
UPDATE drivers SET approval_status = status::text WHERE approval_status IS DISTINCT FROM status::text;

-- ---------------------------------------------------------------------------
-- internal helpers
-- ---------------------------------------------------------------------------
CREATE FUNCTION driver_for_update(driver_id uuid) RETURNS drivers
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  d drivers;
BEGIN
  PERFORM require_arg(driver_id, 'driver_id');
  SELECT * INTO d FROM drivers x WHERE x.id = driver_for_update.driver_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'driver not found',
      DETAIL = format('no driver with id %s', driver_for_update.driver_id);
  END IF;
  RETURN d;
END
$$;
COMMENT ON FUNCTION driver_for_update(uuid) IS
  'Internal: the driver row, locked FOR UPDATE (serialises every change of one driver); 22004 for NULL, PT404 when unknown.';

CREATE FUNCTION driver_check_text(value text, name text, max_len integer, required boolean DEFAULT false)
  RETURNS text
  LANGUAGE plpgsql IMMUTABLE
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF value IS NULL THEN
    IF required THEN
      RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = format('%s must not be null', name);
    END IF;
    RETURN NULL;
  END IF;
  value := btrim(value);
  IF required AND value = '' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('%s must not be empty', name);
  END IF;
  IF length(value) > max_len THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('%s is too long', name),
      DETAIL = format('%s characters, at most %s', length(value), max_len);
  END IF;
  RETURN value;
END
$$;
COMMENT ON FUNCTION driver_check_text(text, text, integer, boolean) IS
  'Internal: trims a text argument and checks its length (22023) and presence (22004 when required and NULL).';

CREATE FUNCTION driver_check_range(value integer, name text, lo integer, hi integer) RETURNS integer
  LANGUAGE plpgsql IMMUTABLE
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF value IS NOT NULL AND (value < lo OR value > hi) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('%s must be between %s and %s', name, lo, hi),
      DETAIL = format('got %s', value);
  END IF;
  RETURN value;
END
$$;
COMMENT ON FUNCTION driver_check_range(integer, text, integer, integer) IS
  'Internal: raises 22023 when an integer argument lies outside lo..hi; NULL passes.';

CREATE FUNCTION driver_check_languages(languages text[]) RETURNS text[]
  LANGUAGE plpgsql IMMUTABLE
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF languages IS NULL THEN
    RETURN NULL;
  END IF;
  IF cardinality(languages) > 20 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'languages has more than 20 entries';
  END IF;
  IF EXISTS (SELECT 1 FROM unnest(languages) l WHERE l IS NULL OR l !~ '^[a-z]{2,3}$') THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'languages must be ISO 639 codes',
      DETAIL = 'lower-case two- or three-letter codes such as kk, ru, en';
  END IF;
  RETURN ARRAY(SELECT DISTINCT l FROM unnest(languages) l ORDER BY l);
END
$$;
COMMENT ON FUNCTION driver_check_languages(text[]) IS
  'Internal: checks a list of ISO 639 language codes (22023) and returns it sorted without duplicates.';

CREATE FUNCTION driver_state(d drivers) RETURNS jsonb
  LANGUAGE sql IMMUTABLE
  SET search_path FROM CURRENT
  RETURN jsonb_build_object('status', d.status, 'availability', d.availability,
                            'status_reason', d.status_reason, 'approved_at', d.approved_at,
                            'approved_by', d.approved_by);
COMMENT ON FUNCTION driver_state(drivers) IS
  'Internal: the approval-relevant state of a driver as JSON (the before/after of admin_actions details).';

-- ---------------------------------------------------------------------------
-- onboarding
-- ---------------------------------------------------------------------------
CREATE FUNCTION create_driver_profile(user_id uuid,
                                      license_number text DEFAULT NULL,
                                      license_expiry timestamptz DEFAULT NULL,
                                      languages text[] DEFAULT '{}',
                                      accepts_private_trips boolean DEFAULT true,
                                      accepts_shared_trips boolean DEFAULT true,
                                      documents_url jsonb DEFAULT '{}')
  RETURNS uuid
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  u users;
  existing text;
  new_id uuid;
  langs text[];
BEGIN
  PERFORM require_arg(user_id, 'user_id');
  PERFORM assert_acting_as(user_id);
  langs := coalesce(driver_check_languages(languages), '{}');
  PERFORM validate_documents_url(coalesce(documents_url, '{}'));
  IF license_expiry IS NOT NULL AND license_expiry <= now() THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'license_expiry is in the past';
  END IF;
  SELECT * INTO u FROM users x WHERE x.id = create_driver_profile.user_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'user not found',
      DETAIL = format('no user with id %s', create_driver_profile.user_id);
  END IF;
  SELECT d.driver_id INTO existing FROM drivers d WHERE d.user_id = u.id;
  IF FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'user already has a driver profile',
      DETAIL = format('driver %s', existing);
  END IF;
  IF u.role NOT IN ('PASSENGER', 'DRIVER') THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'only a passenger account can become a driver',
      DETAIL = format('the user''s role is %s', u.role);
  END IF;
  INSERT INTO drivers (user_id, license_number, license_expiry, languages, accepts_private_trips,
                       accepts_shared_trips, documents_url, tenant_id, last_activity_at)
  VALUES (u.id, driver_check_text(license_number, 'license_number', 50), license_expiry, langs,
          coalesce(accepts_private_trips, true), coalesce(accepts_shared_trips, true),
          coalesce(documents_url, '{}'), u.tenant_id, now())
  RETURNING id INTO new_id;
  IF u.role <> 'DRIVER' THEN
    UPDATE users x SET role = 'DRIVER' WHERE x.id = u.id;
  END IF;
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION create_driver_profile(uuid, text, timestamptz, text[], boolean, boolean, jsonb) IS
  'Onboards a user as a driver: creates the driver profile (status PENDING, availability OFFLINE, a DRV-000123 number) and makes the user''s role DRIVER (the user''s next token carries it). The user themselves, an admin or a trusted backend may call it. Returns the driver id. PT404 unknown user, PT409 when the user already has a profile or is an ADMIN or ACTIVITY_OWNER, 22023 for a bad licence expiry, language list or documents_url.';
SELECT api_expose('create_driver_profile(uuid, text, timestamptz, text[], boolean, boolean, jsonb)'::regprocedure, 'authenticated');

CREATE FUNCTION update_driver_profile(driver_id uuid,
                                      license_number text DEFAULT NULL,
                                      license_expiry timestamptz DEFAULT NULL,
                                      languages text[] DEFAULT NULL,
                                      accepts_private_trips boolean DEFAULT NULL,
                                      accepts_shared_trips boolean DEFAULT NULL)
  RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  d drivers := driver_for_update(driver_id);
BEGIN
  PERFORM assert_acting_as(d.user_id);
  IF license_expiry IS NOT NULL AND license_expiry <= now() THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'license_expiry is in the past';
  END IF;
  UPDATE drivers x
     SET license_number = coalesce(driver_check_text(update_driver_profile.license_number, 'license_number', 50), x.license_number),
         license_expiry = coalesce(update_driver_profile.license_expiry, x.license_expiry),
         languages = coalesce(driver_check_languages(update_driver_profile.languages), x.languages),
         accepts_private_trips = coalesce(update_driver_profile.accepts_private_trips, x.accepts_private_trips),
         accepts_shared_trips = coalesce(update_driver_profile.accepts_shared_trips, x.accepts_shared_trips)
   WHERE x.id = d.id;
END
$$;
COMMENT ON FUNCTION update_driver_profile(uuid, text, timestamptz, text[], boolean, boolean) IS
  'Changes a driver''s own profile fields; a NULL argument leaves that field unchanged. The driver, an admin or a trusted backend may call it. PT404 unknown driver, 42501 another user, 22023 bad values.';
SELECT api_expose('update_driver_profile(uuid, text, timestamptz, text[], boolean, boolean)'::regprocedure, 'authenticated');

CREATE FUNCTION set_driver_documents(driver_id uuid, documents jsonb) RETURNS jsonb
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  d drivers := driver_for_update(driver_id);
  merged jsonb;
BEGIN
  PERFORM assert_acting_as(d.user_id);
  PERFORM require_arg(documents, 'documents');
  IF jsonb_typeof(documents) <> 'object' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'documents must be a JSON object',
      HINT = 'Example: {"license": "https://...", "insurance": null} (null removes a link)';
  END IF;
  -- merge: keys with a null value are removed, the others replace or add
  merged := coalesce((SELECT jsonb_object_agg(k, v) FROM jsonb_each(d.documents_url || documents) e(k, v)
                       WHERE jsonb_typeof(v) <> 'null'), '{}');
  PERFORM validate_documents_url(merged);
  UPDATE drivers x SET documents_url = merged WHERE x.id = d.id;
  RETURN merged;
END
$$;
COMMENT ON FUNCTION set_driver_documents(uuid, jsonb) IS
  'Merges links into a driver''s documents_url: {"license": url, ...} adds or replaces, {"insurance": null} removes. Returns the new documents_url. The driver, an admin or a trusted backend may call it. 22023 for a non-object, an invalid name or a non-http(s) URL.';
SELECT api_expose('set_driver_documents(uuid, jsonb)'::regprocedure, 'authenticated');

-- ---------------------------------------------------------------------------
-- vehicles
-- ---------------------------------------------------------------------------
CREATE FUNCTION driver_sync_main_vehicle(driver_id uuid) RETURNS void
  LANGUAGE sql
  SET search_path FROM CURRENT
BEGIN ATOMIC
  UPDATE drivers d
     SET vehicle_type = v.type, vehicle_make = v.make, vehicle_model = v.model,
         vehicle_year = v.year, license_plate = v.license_plate
    FROM (SELECT NULL::int AS x) one
    LEFT JOIN vehicles v ON v.driver_id = driver_sync_main_vehicle.driver_id AND v.is_active
   WHERE d.id = driver_sync_main_vehicle.driver_id
     AND (d.vehicle_type, d.vehicle_make, d.vehicle_model, d.vehicle_year, d.license_plate)
         IS DISTINCT FROM (v.type, v.make, v.model, v.year, v.license_plate);
END;
COMMENT ON FUNCTION driver_sync_main_vehicle(uuid) IS
  'Internal: copies the active vehicle''s type, make, model, year and plate into the driver''s vehicle_* columns (NULL when none is active), as the earlier application kept them.';

CREATE FUNCTION add_vehicle(driver_id uuid, make text, model text, license_plate text,
                            year integer DEFAULT NULL, color text DEFAULT NULL,
                            type text DEFAULT 'SEDAN', passenger_capacity integer DEFAULT 4,
                            luggage_capacity integer DEFAULT 0, amenities jsonb DEFAULT '[]',
                            photos jsonb DEFAULT '[]', activate boolean DEFAULT NULL)
  RETURNS uuid
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  d drivers := driver_for_update(driver_id);
  has_active boolean;
  make_it_active boolean;
  new_id uuid;
BEGIN
  PERFORM assert_acting_as(d.user_id);
  PERFORM driver_check_range(year, 'year', 1950, 2100);
  PERFORM driver_check_range(require_arg(passenger_capacity, 'passenger_capacity'), 'passenger_capacity', 1, 60);
  PERFORM driver_check_range(require_arg(luggage_capacity, 'luggage_capacity'), 'luggage_capacity', 0, 100);
  IF jsonb_typeof(require_arg(amenities, 'amenities')) <> 'array'
     OR EXISTS (SELECT 1 FROM jsonb_array_elements(amenities) a WHERE jsonb_typeof(a) <> 'string') THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'amenities must be a JSON array of strings';
  END IF;
  IF jsonb_typeof(require_arg(photos, 'photos')) <> 'array'
     OR EXISTS (SELECT 1 FROM jsonb_array_elements(photos) p
                 WHERE jsonb_typeof(p) <> 'string' OR NOT is_http_url(p #>> '{}')) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'photos must be a JSON array of http(s) URLs';
  END IF;
  has_active := EXISTS (SELECT 1 FROM vehicles v WHERE v.driver_id = d.id AND v.is_active);
  make_it_active := coalesce(activate, NOT has_active);
  IF make_it_active AND has_active THEN
    UPDATE vehicles v SET is_active = false WHERE v.driver_id = d.id AND v.is_active;
  END IF;
  INSERT INTO vehicles (driver_id, make, model, year, color, license_plate, type, passenger_capacity,
                        luggage_capacity, amenities, photos, is_active)
  VALUES (d.id, driver_check_text(make, 'make', 100, true), driver_check_text(model, 'model', 100, true),
          year, driver_check_text(color, 'color', 50),
          upper(driver_check_text(license_plate, 'license_plate', 20, true)),
          upper(driver_check_text(coalesce(type, 'SEDAN'), 'type', 50, true)),
          passenger_capacity, luggage_capacity, amenities, photos, make_it_active)
  RETURNING id INTO new_id;
  PERFORM driver_sync_main_vehicle(d.id);
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION add_vehicle(uuid, text, text, text, integer, text, text, integer, integer, jsonb, jsonb, boolean) IS
  'Adds a vehicle to a driver. activate: true makes it the active vehicle (the previous one is deactivated), false adds it inactive, NULL (default) activates it only when the driver has no active vehicle. Plate and type are stored upper-case. The driver, an admin or a trusted backend may call it. Returns the vehicle id. 22004/22023 for missing or out-of-range values (capacity 1..60, year 1950..2100, photos http(s) URLs).';
SELECT api_expose('add_vehicle(uuid, text, text, text, integer, text, text, integer, integer, jsonb, jsonb, boolean)'::regprocedure, 'authenticated');

CREATE FUNCTION vehicle_owner_for_update(vehicle_id uuid) RETURNS vehicles
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  v vehicles;
  d drivers;
BEGIN
  PERFORM require_arg(vehicle_id, 'vehicle_id');
  SELECT * INTO v FROM vehicles x WHERE x.id = vehicle_owner_for_update.vehicle_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'vehicle not found',
      DETAIL = format('no vehicle with id %s', vehicle_owner_for_update.vehicle_id);
  END IF;
  d := driver_for_update(v.driver_id);
  PERFORM assert_acting_as(d.user_id);
  SELECT * INTO v FROM vehicles x WHERE x.id = vehicle_owner_for_update.vehicle_id;
  RETURN v;
END
$$;
COMMENT ON FUNCTION vehicle_owner_for_update(uuid) IS
  'Internal: the vehicle, after locking its driver and checking that the caller may act for that driver (PT404, 42501).';

CREATE FUNCTION activate_vehicle(vehicle_id uuid) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  v vehicles := vehicle_owner_for_update(vehicle_id);
BEGIN
  IF v.is_active THEN
    RETURN;
  END IF;
  UPDATE vehicles x SET is_active = false WHERE x.driver_id = v.driver_id AND x.is_active;
  UPDATE vehicles x SET is_active = true WHERE x.id = v.id;
  PERFORM driver_sync_main_vehicle(v.driver_id);
END
$$;
COMMENT ON FUNCTION activate_vehicle(uuid) IS
  'Makes a vehicle the driver''s active one (the one dispatch matches on); the previously active vehicle is deactivated in the same transaction. Harmless when already active. The driver, an admin or a trusted backend may call it.';
SELECT api_expose('activate_vehicle(uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION deactivate_vehicle(vehicle_id uuid) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  v vehicles := vehicle_owner_for_update(vehicle_id);
BEGIN
  IF NOT v.is_active THEN
    RETURN;
  END IF;
  UPDATE vehicles x SET is_active = false WHERE x.id = v.id;
  PERFORM driver_sync_main_vehicle(v.driver_id);
END
$$;
COMMENT ON FUNCTION deactivate_vehicle(uuid) IS
  'Takes a vehicle out of service: the driver then has no active vehicle and is not matched until one is activated. Harmless when already inactive. The driver, an admin or a trusted backend may call it.';
SELECT api_expose('deactivate_vehicle(uuid)'::regprocedure, 'authenticated');

-- ---------------------------------------------------------------------------
-- approval workflow (ADMIN only):  PENDING -> APPROVED | REJECTED,
-- APPROVED <-> SUSPENDED
-- ---------------------------------------------------------------------------
CREATE FUNCTION driver_missing_documents(driver_id uuid) RETURNS text[]
  LANGUAGE sql STABLE
  SET search_path FROM CURRENT
  RETURN ARRAY(
    SELECT t FROM unnest(ARRAY['LICENSE', 'INSURANCE', 'REGISTRATION']) t
     WHERE NOT EXISTS (
       SELECT 1 FROM document_verifications dv
        WHERE dv.driver_id = driver_missing_documents.driver_id AND dv.document_type = t
          AND dv.status = 'VERIFIED' AND (dv.expiry_date IS NULL OR dv.expiry_date > now()))
     ORDER BY array_position(ARRAY['LICENSE', 'INSURANCE', 'REGISTRATION'], t));
COMMENT ON FUNCTION driver_missing_documents(uuid) IS
  'The mandatory document types (LICENSE, INSURANCE, REGISTRATION) for which the driver has no VERIFIED, unexpired document_verifications row; empty when the driver may be approved.';
SELECT api_expose('driver_missing_documents(uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION change_driver_status(driver_id uuid, new_status driver_status, reason text,
                                     action_type text)
  RETURNS void
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  d drivers;
  after drivers;
  missing text[];
  allowed boolean;
BEGIN
  PERFORM assert_app_role('ADMIN');
  d := driver_for_update(driver_id);
  allowed := CASE d.status
               WHEN 'PENDING' THEN new_status IN ('APPROVED', 'REJECTED')
               WHEN 'APPROVED' THEN new_status = 'SUSPENDED'
               WHEN 'SUSPENDED' THEN new_status = 'APPROVED'
               ELSE false
             END;
  IF NOT allowed THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409',
      MESSAGE = format('cannot move a driver from %s to %s', d.status, new_status),
      DETAIL = format('driver %s is %s', d.driver_id, d.status),
      HINT = 'Allowed: PENDING to APPROVED or REJECTED, APPROVED to SUSPENDED, SUSPENDED to APPROVED.';
  END IF;
  IF new_status = 'APPROVED' THEN
    missing := driver_missing_documents(d.id);
    IF cardinality(missing) > 0 THEN
      RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'mandatory documents are not verified',
        DETAIL = format('driver %s lacks a verified, unexpired %s', d.driver_id, array_to_string(missing, ', ')),
        HINT = 'Each of LICENSE, INSURANCE and REGISTRATION needs a VERIFIED document_verifications row that has not expired.';
    END IF;
  END IF;
  UPDATE drivers x
     SET status = new_status,
         status_reason = CASE WHEN new_status = 'APPROVED' THEN NULL ELSE reason END,
         approved_at = CASE WHEN new_status = 'APPROVED' THEN now() ELSE x.approved_at END,
         approved_by = CASE WHEN new_status = 'APPROVED' THEN current_user_id() ELSE x.approved_by END
   WHERE x.id = d.id;
  -- a suspended driver stops taking trips now; one on a trip (BUSY) finishes it
  IF new_status = 'SUSPENDED' AND d.availability IN ('ONLINE', 'ON_BREAK') THEN
    PERFORM set_driver_availability(d.id, 'OFFLINE', 'suspended: ' || reason, 'admin');
  END IF;
  SELECT * INTO after FROM drivers x WHERE x.id = d.id;
  PERFORM log_admin_action(action_type, 'driver', d.id::text,
                           jsonb_build_object('driver_number', d.driver_id, 'reason', reason,
                                              'before', driver_state(d), 'after', driver_state(after)));
END
$$;
COMMENT ON FUNCTION change_driver_status(uuid, driver_status, text, text) IS
  'Internal: the approval state machine (PENDING to APPROVED or REJECTED, APPROVED to SUSPENDED and back), ADMIN only, with the document check on approval and an admin_actions row holding before and after.';

CREATE FUNCTION approve_driver(driver_id uuid, note text DEFAULT NULL) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
BEGIN
  PERFORM change_driver_status(driver_id, 'APPROVED', driver_check_text(note, 'note', 1000), 'DRIVER_APPROVED');
END
$$;
COMMENT ON FUNCTION approve_driver(uuid, text) IS
  'ADMIN: approves a PENDING driver (PENDING to APPROVED), who may then go online and be matched. Requires VERIFIED, unexpired LICENSE, INSURANCE and REGISTRATION documents (PT409 naming what is missing). Writes admin_actions DRIVER_APPROVED with before/after. 42501 for non-admins, PT409 from any other status.';
SELECT api_expose('approve_driver(uuid, text)'::regprocedure, 'authenticated');

CREATE FUNCTION reject_driver(driver_id uuid, reason text) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
BEGIN
  PERFORM change_driver_status(driver_id, 'REJECTED', driver_check_text(reason, 'reason', 1000, true), 'DRIVER_REJECTED');
END
$$;
COMMENT ON FUNCTION reject_driver(uuid, text) IS
  'ADMIN: rejects a PENDING driver (final), with a reason (required, kept in status_reason). Writes admin_actions DRIVER_REJECTED. 42501 for non-admins, PT409 from any other status.';
SELECT api_expose('reject_driver(uuid, text)'::regprocedure, 'authenticated');

CREATE FUNCTION suspend_driver(driver_id uuid, reason text) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
BEGIN
  PERFORM change_driver_status(driver_id, 'SUSPENDED', driver_check_text(reason, 'reason', 1000, true), 'DRIVER_SUSPENDED');
END
$$;
COMMENT ON FUNCTION suspend_driver(uuid, text) IS
  'ADMIN: suspends an APPROVED driver, with a reason (required). An ONLINE or ON_BREAK driver goes OFFLINE at once (history triggered_by admin); a BUSY driver finishes the current trip but is never matched again while suspended. Writes admin_actions DRIVER_SUSPENDED. 42501 for non-admins, PT409 from any other status.';
SELECT api_expose('suspend_driver(uuid, text)'::regprocedure, 'authenticated');

CREATE FUNCTION reinstate_driver(driver_id uuid, note text DEFAULT NULL) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
BEGIN
  PERFORM change_driver_status(driver_id, 'APPROVED', driver_check_text(note, 'note', 1000), 'DRIVER_REINSTATED');
END
$$;
COMMENT ON FUNCTION reinstate_driver(uuid, text) IS
  'ADMIN: lifts a suspension (SUSPENDED to APPROVED); the mandatory documents must still be VERIFIED and unexpired (PT409 naming what is missing). The driver stays OFFLINE until they go online. Writes admin_actions DRIVER_REINSTATED. 42501 for non-admins, PT409 from any other status.';
SELECT api_expose('reinstate_driver(uuid, text)'::regprocedure, 'authenticated');

-- ---------------------------------------------------------------------------
-- availability (driver-facing)
-- ---------------------------------------------------------------------------
CREATE FUNCTION update_driver_availability(driver_id uuid, availability driver_availability,
                                           reason text DEFAULT NULL)
  RETURNS driver_availability
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  d drivers;
  who text := 'driver';
BEGIN
  PERFORM require_arg(driver_id, 'driver_id');
  -- lock order position, then driver: the order of a ping (deadlock-free)
  PERFORM 1 FROM driver_locations l WHERE l.driver_id = update_driver_availability.driver_id FOR UPDATE;
  d := driver_for_update(driver_id);
  PERFORM assert_acting_as(d.user_id);
  PERFORM require_arg(availability, 'availability');
  reason := driver_check_text(reason, 'reason', 500);
  IF availability = 'BUSY' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'availability BUSY is set by the system',
      DETAIL = 'A driver becomes BUSY when a trip starts and is freed when it ends.',
      HINT = 'Use ONLINE, OFFLINE or ON_BREAK.';
  END IF;
  IF d.availability = 'BUSY' AND availability IS DISTINCT FROM 'BUSY' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'driver is on a trip',
      DETAIL = format('driver %s is BUSY until the trip ends', d.driver_id);
  END IF;
  IF availability = 'ONLINE' AND d.status <> 'APPROVED' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'only an approved driver can go online',
      DETAIL = format('driver %s is %s', d.driver_id, d.status);
  END IF;
  IF NOT is_trusted_caller() AND current_app_role() = 'ADMIN' AND current_user_id() IS DISTINCT FROM d.user_id THEN
    who := 'admin';
  END IF;
  IF availability = 'ONLINE' THEN
    -- the auto-offline clock starts now when the app has not reported a position yet
    UPDATE drivers x SET last_activity_at = now() WHERE x.id = d.id;
  ELSIF availability = 'OFFLINE' THEN
    UPDATE driver_locations l SET is_active = false WHERE l.driver_id = d.id AND l.is_active;
  END IF;
  RETURN set_driver_availability(d.id, availability,
                                 coalesce(reason, format('%s by the %s', lower(availability::text), who)), who);
END
$$;
COMMENT ON FUNCTION update_driver_availability(uuid, driver_availability, text) IS
  'The driver app''s switch: ONLINE (only an APPROVED driver), OFFLINE or ON_BREAK, with a history row (triggered_by driver, or admin when an admin acts for the driver). BUSY is the system''s (22023) and a BUSY driver cannot switch until the trip ends (PT409). Going OFFLINE marks the live position inactive. Returns the previous availability.';
SELECT api_expose('update_driver_availability(uuid, driver_availability, text)'::regprocedure, 'authenticated');

-- ---------------------------------------------------------------------------
-- schedules: breaks and unavailable periods (evaluated by dispatch)
-- ---------------------------------------------------------------------------
CREATE FUNCTION add_availability_schedule(driver_id uuid, start_time timestamptz, end_time timestamptz,
                                          schedule_type text DEFAULT 'UNAVAILABLE',
                                          reason text DEFAULT NULL,
                                          recurring_pattern jsonb DEFAULT NULL)
  RETURNS uuid
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  d drivers := driver_for_update(driver_id);
  new_id uuid;
BEGIN
  PERFORM assert_acting_as(d.user_id);
  PERFORM require_arg(start_time, 'start_time');
  PERFORM require_arg(end_time, 'end_time');
  PERFORM require_arg(schedule_type, 'schedule_type');
  IF schedule_type NOT IN ('BREAK', 'UNAVAILABLE') THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'schedule_type must be BREAK or UNAVAILABLE';
  END IF;
  IF NOT isfinite(start_time) OR NOT isfinite(end_time) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'start_time and end_time must be finite';
  END IF;
  IF end_time <= start_time THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'end_time must be after start_time';
  END IF;
  IF recurring_pattern IS NULL THEN
    IF end_time <= now() THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'the period is already over';
    END IF;
  ELSE
    PERFORM validate_recurring_pattern(recurring_pattern);
    IF end_time - start_time > interval '24 hours' THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'a recurring period lasts at most 24 hours',
        DETAIL = format('got %s', end_time - start_time);
    END IF;
  END IF;
  INSERT INTO driver_availability_schedules (driver_id, start_time, end_time, schedule_type, reason,
                                             is_recurring, recurring_pattern)
  VALUES (d.id, start_time, end_time, schedule_type, driver_check_text(reason, 'reason', 500),
          recurring_pattern IS NOT NULL, recurring_pattern)
  RETURNING id INTO new_id;
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION add_availability_schedule(uuid, timestamptz, timestamptz, text, text, jsonb) IS
  'Adds a BREAK or UNAVAILABLE period for a driver: one-off (start_time..end_time, not already over) or recurring by recurring_pattern ({"freq": "DAILY"} or {"freq": "WEEKLY", "days": ["MON", ...]}, optional "until" and "tz"; each occurrence at most 24 hours, repeating the local time of day of start_time..end_time). Dispatch does not match the driver to trips departing inside it. The driver, an admin or a trusted backend may call it. Returns the schedule id.';
SELECT api_expose('add_availability_schedule(uuid, timestamptz, timestamptz, text, text, jsonb)'::regprocedure, 'authenticated');

CREATE FUNCTION deactivate_availability_schedule(schedule_id uuid) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  s driver_availability_schedules;
  d drivers;
BEGIN
  PERFORM require_arg(schedule_id, 'schedule_id');
  SELECT * INTO s FROM driver_availability_schedules x WHERE x.id = schedule_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'schedule not found',
      DETAIL = format('no availability schedule with id %s', schedule_id);
  END IF;
  d := driver_for_update(s.driver_id);
  PERFORM assert_acting_as(d.user_id);
  UPDATE driver_availability_schedules x SET is_active = false WHERE x.id = s.id AND x.is_active;
END
$$;
COMMENT ON FUNCTION deactivate_availability_schedule(uuid) IS
  'Withdraws a break or unavailable period (is_active false; the row stays for the record). Harmless when already withdrawn. The driver, an admin or a trusted backend may call it. PT404 unknown schedule, 42501 another driver''s.';
SELECT api_expose('deactivate_availability_schedule(uuid)'::regprocedure, 'authenticated');

-- ---------------------------------------------------------------------------
-- live location (C, src/drivers/location.c)
-- ---------------------------------------------------------------------------
CREATE FUNCTION update_driver_location(driver_id uuid, lat double precision, lng double precision,
                                       heading double precision DEFAULT NULL,
                                       speed double precision DEFAULT NULL,
                                       accuracy double precision DEFAULT NULL)
  RETURNS void
  AS 'MODULE_PATHNAME', 'sg_drivers_update_location'
  LANGUAGE C VOLATILE SECURITY DEFINER
  SET search_path FROM CURRENT;
COMMENT ON FUNCTION update_driver_location(uuid, double precision, double precision, double precision, double precision, double precision) IS
  'Records a driver''s live position: upserts driver_locations (is_active true, last_updated now) and refreshes drivers.last_activity_at at most once per steppergo.driver_activity_interval seconds. lat -90..90, lng -180..180, heading 0..360 degrees, speed 0..500 m/s, accuracy 0..100000 m; NULL heading/speed/accuracy are stored as NULL. 22004 NULL driver/lat/lng, 22023 out of range or NaN, PT404 unknown driver, 42501 when an API caller is not the driver (admins and trusted backends may).';
SELECT api_expose('update_driver_location(uuid, double precision, double precision, double precision, double precision, double precision)'::regprocedure, 'authenticated');

CREATE FUNCTION update_driver_locations(pings jsonb) RETURNS integer
  AS 'MODULE_PATHNAME', 'sg_drivers_update_locations'
  LANGUAGE C VOLATILE SECURITY DEFINER
  SET search_path FROM CURRENT;
COMMENT ON FUNCTION update_driver_locations(jsonb) IS
  'Records a batch of positions in one call: a JSON array of objects {"driver_id", "lat", "lng", "heading", "speed", "accuracy"} (the last three optional or null), in time order; for a driver named several times the last ping wins. All or nothing: the first invalid element (shape, unknown key, range, unknown driver, another user''s driver) refuses the whole batch with its 0-based index in errdetail, and nothing is written. At most steppergo.location_batch_max elements. Returns the number of driver_locations rows written (distinct drivers).';
SELECT api_expose('update_driver_locations(jsonb)'::regprocedure, 'authenticated');

-- ---------------------------------------------------------------------------
-- auto-offline (pg_cron)
-- ---------------------------------------------------------------------------
CREATE FUNCTION stale_driver_offline(driver_id uuid, cutoff timestamptz, after_s bigint) RETURNS boolean
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  avail driver_availability;
  last_seen timestamptz;
BEGIN
  -- re-read under the row lock: the driver may have accepted a trip (BUSY),
  -- gone offline or sent a position since the job's snapshot
  SELECT d.availability, coalesce(l.last_updated, d.last_activity_at, d.updated_at)
    INTO avail, last_seen
    FROM drivers d LEFT JOIN driver_locations l ON l.driver_id = d.id
   WHERE d.id = stale_driver_offline.driver_id
     FOR UPDATE OF d SKIP LOCKED;
  IF NOT FOUND OR avail IS DISTINCT FROM 'ONLINE' OR last_seen >= cutoff THEN
    RETURN false;
  END IF;
  PERFORM set_driver_availability(stale_driver_offline.driver_id, 'OFFLINE',
                                  format('no position for %s s', after_s), 'system');
  RETURN true;
END
$$;
COMMENT ON FUNCTION stale_driver_offline(uuid, timestamptz, bigint) IS
  'Internal (auto-offline): under the driver''s row lock, checks again that the driver is ONLINE and silent since before cutoff, then sets OFFLINE (history triggered_by system). False when the driver changed meanwhile or is locked by another transaction.';

CREATE FUNCTION auto_offline_stale_drivers() RETURNS integer
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  -- the setting has a time unit (SHOW gives 5min); as an interval it reads back exactly
  after_i interval := coalesce(nullif(current_setting('steppergo.driver_offline_after', true), ''), '300s')::interval;
  cutoff timestamptz := now() - after_i;
  after_s bigint := extract(epoch FROM after_i)::bigint;
  r record;
  n integer := 0;
BEGIN
  -- Locks are taken in the order a ping takes them (driver_locations, then
  -- drivers), so the job never deadlocks with a driver who resumes sending
  -- positions while it runs; rows locked by others are left for next time.
  FOR r IN
    SELECT l.driver_id AS id, true AS has_position
      FROM driver_locations l JOIN drivers d ON d.id = l.driver_id
     WHERE d.availability = 'ONLINE' AND l.last_updated < cutoff
     ORDER BY l.driver_id
       FOR UPDATE OF l SKIP LOCKED
  LOOP
    IF stale_driver_offline(r.id, cutoff, after_s) THEN
      UPDATE driver_locations l SET is_active = false WHERE l.driver_id = r.id AND l.is_active;
      n := n + 1;
    END IF;
  END LOOP;
  -- ONLINE without any position: measured from last_activity_at (set when going ONLINE)
  FOR r IN
    SELECT d.id
      FROM drivers d
     WHERE d.availability = 'ONLINE' AND coalesce(d.last_activity_at, d.updated_at) < cutoff
       AND NOT EXISTS (SELECT 1 FROM driver_locations l WHERE l.driver_id = d.id)
     ORDER BY d.id
       FOR UPDATE OF d SKIP LOCKED
  LOOP
    IF stale_driver_offline(r.id, cutoff, after_s) THEN
      n := n + 1;
    END IF;
  END LOOP;
  RETURN n;
END
$$;
COMMENT ON FUNCTION auto_offline_stale_drivers() IS
  'The auto-offline job: ONLINE drivers whose last position (else last activity) is older than steppergo.driver_offline_after seconds (default 300) become OFFLINE, with a history row triggered_by system, and their position is marked inactive. Drivers locked by a concurrent transaction are left for the next run. Returns how many went offline.';
SELECT api_expose('auto_offline_stale_drivers()'::regprocedure, 'service');

INSERT INTO job_definitions (name, schedule, command, description)
VALUES ('steppergo_drivers_auto_offline', '* * * * *', 'SELECT steppergo.auto_offline_stale_drivers()',
        'Every minute: ONLINE drivers whose app stopped reporting positions for steppergo.driver_offline_after seconds go OFFLINE (history triggered_by system).');
