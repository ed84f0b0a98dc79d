-- ===========================================================================
-- drivers: profiles, vehicles, live positions, availability
-- ===========================================================================

-- drivers.documents_url: {"license": url, "insurance": url, "registration": url, ...}
CREATE FUNCTION validate_documents_url(doc jsonb) RETURNS boolean
  LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
DECLARE
  k text;
  v jsonb;
BEGIN
  IF doc IS NULL THEN
    RETURN true;
  END IF;
  IF jsonb_typeof(doc) <> 'object' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'documents_url must be a JSON object',
      DETAIL = format('got a JSON %s', jsonb_typeof(doc)),
      HINT = 'Example: {"license": "https://...", "insurance": "https://...", "registration": "https://..."}';
  END IF;
  FOR k, v IN SELECT * FROM jsonb_each(doc) LOOP
    IF k !~ '^[a-z][a-z0-9_]{0,49}$' THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'documents_url has an invalid document name',
        DETAIL = format('key %s: lower-case letters, digits and _ only, at most 50', left(k, 60));
    END IF;
    IF jsonb_typeof(v) <> 'string' OR NOT is_http_url(v #>> '{}') THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'documents_url values must be http(s) URLs',
        DETAIL = format('documents_url.%s is not an http(s) URL', k);
    END IF;
  END LOOP;
  RETURN true;
END
$$;
COMMENT ON FUNCTION validate_documents_url(jsonb) IS
  'CHECK helper for drivers.documents_url: a JSON object mapping document names (license, insurance, registration, ...) to http(s) URLs. Raises 22023 naming the field otherwise.';

CREATE SEQUENCE driver_number_seq;
COMMENT ON SEQUENCE driver_number_seq IS 'Numbers of the human-readable driver ids (DRV-000123).';
SELECT pg_catalog.pg_extension_config_dump('driver_number_seq', '');

CREATE TABLE drivers (
  id                     uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  user_id                uuid NOT NULL UNIQUE REFERENCES users (id) ON DELETE RESTRICT,
  driver_id              text NOT NULL UNIQUE
                           DEFAULT readable_number('DRV-', nextval('driver_number_seq'))
                           CHECK (driver_id ~ '^[A-Z]{2,5}-[0-9]{6,12}$'),
  status                 driver_status NOT NULL DEFAULT 'PENDING',
  vehicle_type           text CHECK (length(vehicle_type) <= 50),
  vehicle_model          text CHECK (length(vehicle_model) <= 100),
  vehicle_make           text CHECK (length(vehicle_make) <= 100),
  vehicle_year           integer CHECK (vehicle_year BETWEEN 1950 AND 2100),
  license_plate          text CHECK (length(license_plate) <= 20),
  license_number         text CHECK (length(license_number) <= 50),
  license_expiry         timestamptz,
  documents_url          jsonb NOT NULL DEFAULT '{}' CHECK (validate_documents_url(documents_url)),
  rating                 numeric(3,2) NOT NULL DEFAULT 0 CHECK (rating BETWEEN 0 AND 5),
  review_count           integer NOT NULL DEFAULT 0 CHECK (review_count >= 0),
  completed_trips        integer NOT NULL DEFAULT 0 CHECK (completed_trips >= 0),
  total_earnings         numeric(14,2) NOT NULL DEFAULT 0 CHECK (total_earnings >= 0),
  availability           driver_availability NOT NULL DEFAULT 'OFFLINE',
  accepts_private_trips  boolean NOT NULL DEFAULT true,
  accepts_shared_trips   boolean NOT NULL DEFAULT true,
  approval_status        text NOT NULL DEFAULT 'PENDING'
                           CHECK (approval_status IN ('PENDING', 'APPROVED', 'REJECTED', 'SUSPENDED')),
  created_at             timestamptz NOT NULL DEFAULT now(),
  updated_at             timestamptz NOT NULL DEFAULT now(),
  last_activity_at       timestamptz,
  languages              text[] NOT NULL DEFAULT '{}'
                           CHECK (cardinality(languages) <= 20 AND array_position(languages, NULL) IS NULL),
  acceptance_rate        numeric(5,4) CHECK (acceptance_rate BETWEEN 0 AND 1),
  tenant_id              uuid REFERENCES tenants (id) ON DELETE SET NULL,
  approved_at            timestamptz,
  approved_by            uuid REFERENCES users (id) ON DELETE SET NULL,
  status_reason          text CHECK (length(status_reason) <= 1000)
);
COMMENT ON TABLE drivers IS 'Driver profiles: one per user, approved by an admin before the driver is ever matched to a trip.';
COMMENT ON COLUMN drivers.id IS 'Driver key (UUIDv7); trips, vehicles and payouts refer to it.';
COMMENT ON COLUMN drivers.user_id IS 'The user account of the driver; one driver profile per user.';
COMMENT ON COLUMN drivers.driver_id IS 'Human-readable unique driver number shown to support staff and passengers, DRV-000123.';
COMMENT ON COLUMN drivers.status IS 'Approval state: PENDING, APPROVED (matchable), REJECTED, SUSPENDED.';
COMMENT ON COLUMN drivers.vehicle_type IS 'Type of the driver''s main vehicle (SEDAN, MINIVAN, SUV, ...), as in the earlier application; vehicles holds the details.';
COMMENT ON COLUMN drivers.vehicle_model IS 'Model of the driver''s main vehicle.';
COMMENT ON COLUMN drivers.vehicle_make IS 'Make of the driver''s main vehicle.';
COMMENT ON COLUMN drivers.vehicle_year IS 'Model year of the driver''s main vehicle, 1950..2100.';
COMMENT ON COLUMN drivers.license_plate IS 'Licence plate of the driver''s main vehicle.';
COMMENT ON COLUMN drivers.license_number IS 'Driving licence number.';
COMMENT ON COLUMN drivers.license_expiry IS 'When the driving licence expires.';
COMMENT ON COLUMN drivers.documents_url IS 'Links to the driver''s documents, a JSON object {"license": url, "insurance": url, "registration": url}; validated on write.';
COMMENT ON COLUMN drivers.rating IS 'Average rating of the driver''s reviews, 1..5 (0 while there are none); kept exact with reviews.';
COMMENT ON COLUMN drivers.review_count IS 'Number of reviews of the driver; kept exact with reviews.';
COMMENT ON COLUMN drivers.completed_trips IS 'Number of trips the driver completed.';
COMMENT ON COLUMN drivers.total_earnings IS 'Sum of the driver''s PAID payouts.';
COMMENT ON COLUMN drivers.availability IS 'Whether the driver can take trips now: OFFLINE, ONLINE, BUSY, ON_BREAK. Every change is recorded in driver_availability_history.';
COMMENT ON COLUMN drivers.accepts_private_trips IS 'True when the driver takes PRIVATE (whole vehicle) trips.';
COMMENT ON COLUMN drivers.accepts_shared_trips IS 'True when the driver takes SHARED (per seat) trips.';
COMMENT ON COLUMN drivers.approval_status IS 'Approval state as text, as the earlier application kept it; mirrors status.';
COMMENT ON COLUMN drivers.created_at IS 'When the profile was created.';
COMMENT ON COLUMN drivers.updated_at IS 'When the profile was last changed (kept by trigger).';
COMMENT ON COLUMN drivers.last_activity_at IS 'When the driver app last reported (a position or an action); drives auto-offline.';
COMMENT ON COLUMN drivers.languages IS 'Languages the driver speaks, ISO 639-1 codes (kk, ru, en, ...).';
COMMENT ON COLUMN drivers.acceptance_rate IS 'Share of offers the driver accepted, 0..1; part of the dispatch score.';
COMMENT ON COLUMN drivers.tenant_id IS 'The organisation the driver works for, if any.';
COMMENT ON COLUMN drivers.approved_at IS 'When an admin last approved the driver.';
COMMENT ON COLUMN drivers.approved_by IS 'The admin who last approved the driver.';
COMMENT ON COLUMN drivers.status_reason IS 'Why the driver was last rejected or suspended.';
CREATE INDEX drivers_status_idx ON drivers (status);
CREATE INDEX drivers_availability_idx ON drivers (availability);
CREATE INDEX drivers_last_activity_idx ON drivers (last_activity_at);
CREATE INDEX drivers_tenant_idx ON drivers (tenant_id) WHERE tenant_id IS NOT NULL;
CREATE TRIGGER drivers_touch BEFORE UPDATE ON drivers
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
SELECT pg_catalog.pg_extension_config_dump('drivers', '');

CREATE TABLE vehicles (
  id                  uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  driver_id           uuid NOT NULL REFERENCES drivers (id) ON DELETE CASCADE,
  make                text NOT NULL CHECK (length(make) BETWEEN 1 AND 100),
  model               text NOT NULL CHECK (length(model) BETWEEN 1 AND 100),
  year                integer CHECK (year BETWEEN 1950 AND 2100),
  color               text CHECK (length(color) <= 50),
  license_plate       text NOT NULL CHECK (length(license_plate) BETWEEN 1 AND 20),
  type                text NOT NULL DEFAULT 'SEDAN' CHECK (length(type) BETWEEN 1 AND 50),
  passenger_capacity  integer NOT NULL DEFAULT 4 CHECK (passenger_capacity BETWEEN 1 AND 60),
  luggage_capacity    integer NOT NULL DEFAULT 0 CHECK (luggage_capacity BETWEEN 0 AND 100),
  amenities           jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(amenities) = 'array'),
  photos              jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(photos) = 'array'),
  is_active           boolean NOT NULL DEFAULT true,
  created_at          timestamptz NOT NULL DEFAULT now(),
  updated_at          timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE vehicles IS 'Vehicles of drivers; a driver may have several, at most one active (the one dispatch matches on).';
COMMENT ON COLUMN vehicles.id IS 'Vehicle key (UUIDv7).';
COMMENT ON COLUMN vehicles.driver_id IS 'The driver who owns the vehicle; deleting the driver deletes the vehicles.';
COMMENT ON COLUMN vehicles.make IS 'Manufacturer (Toyota, Hyundai, ...).';
COMMENT ON COLUMN vehicles.model IS 'Model (Camry, Starex, ...).';
COMMENT ON COLUMN vehicles.year IS 'Model year, 1950..2100.';
COMMENT ON COLUMN vehicles.color IS 'Colour, as passengers see it.';
COMMENT ON COLUMN vehicles.license_plate IS 'Licence plate.';
COMMENT ON COLUMN vehicles.type IS 'Body type: SEDAN, MINIVAN, SUV, BUS, ...';
COMMENT ON COLUMN vehicles.passenger_capacity IS 'Passenger seats, 1..60; a trip is matched only to vehicles that seat it.';
COMMENT ON COLUMN vehicles.luggage_capacity IS 'Pieces of luggage the vehicle takes.';
COMMENT ON COLUMN vehicles.amenities IS 'JSON array of amenities (air_conditioning, usb_charging, ...).';
COMMENT ON COLUMN vehicles.photos IS 'JSON array of photo URLs.';
COMMENT ON COLUMN vehicles.is_active IS 'True for the vehicle the driver drives now; at most one per driver.';
COMMENT ON COLUMN vehicles.created_at IS 'When the vehicle was added.';
COMMENT ON COLUMN vehicles.updated_at IS 'When the vehicle was last changed (kept by trigger).';
CREATE INDEX vehicles_driver_idx ON vehicles (driver_id);
CREATE UNIQUE INDEX vehicles_one_active_per_driver ON vehicles (driver_id) WHERE is_active;
CREATE TRIGGER vehicles_touch BEFORE UPDATE ON vehicles
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
SELECT pg_catalog.pg_extension_config_dump('vehicles', '');

-- Live positions: one row per driver, updated several times a minute.  Built
-- for HOT updates: a low fillfactor leaves room on the page for the new row
-- version; see src/drivers/README.md for the index trade-off.
--
-- The checks and the generated column are written out rather than calling
-- is_valid_lat/is_valid_lng/geog_point: PostgreSQL re-plans CHECK and
-- generation expressions at the start of every statement, and inlining a SQL
-- function means parsing its stored body each time, which cost a quarter of
-- a single-row UPDATE here (the same rules: NaN fails BETWEEN).
CREATE TABLE driver_locations (
  driver_id     uuid PRIMARY KEY REFERENCES drivers (id) ON DELETE CASCADE,
  latitude      double precision NOT NULL CHECK (latitude BETWEEN -90 AND 90),
  longitude     double precision NOT NULL CHECK (longitude BETWEEN -180 AND 180),
  heading       double precision CHECK (heading >= 0 AND heading <= 360),
  speed         double precision CHECK (speed >= 0 AND speed < 500),
  accuracy      double precision CHECK (accuracy >= 0 AND accuracy < 100000),
  last_updated  timestamptz NOT NULL DEFAULT now(),
  is_active     boolean NOT NULL DEFAULT true,
  created_at    timestamptz NOT NULL DEFAULT now(),
  activity_synced_at timestamptz,
  geog          geography(Point, 4326) GENERATED ALWAYS AS (geography(ST_SetSRID(ST_MakePoint(longitude, latitude), 4326))) STORED
) WITH (fillfactor = 50);
COMMENT ON TABLE driver_locations IS 'The last known position of each driver, one row per driver, written by the driver app several times a minute (fillfactor 50 for HOT updates).';
COMMENT ON COLUMN driver_locations.driver_id IS 'The driver (primary key: one live position per driver).';
COMMENT ON COLUMN driver_locations.latitude IS 'WGS84 latitude in degrees, -90..90.';
COMMENT ON COLUMN driver_locations.longitude IS 'WGS84 longitude in degrees, -180..180.';
COMMENT ON COLUMN driver_locations.heading IS 'Direction of travel in degrees clockwise from north, 0..360.';
COMMENT ON COLUMN driver_locations.speed IS 'Speed in metres per second, not negative.';
COMMENT ON COLUMN driver_locations.accuracy IS 'Horizontal accuracy of the fix in metres, as the phone reports it.';
COMMENT ON COLUMN driver_locations.last_updated IS 'When the position was reported; positions older than a setting are not matched.';
COMMENT ON COLUMN driver_locations.is_active IS 'False when the driver app stopped sharing its position.';
COMMENT ON COLUMN driver_locations.activity_synced_at IS 'When a ping last copied its time into drivers.last_activity_at; pings do so at most once per steppergo.driver_activity_interval, decided on this row without reading drivers.';
COMMENT ON COLUMN driver_locations.created_at IS 'When the driver first reported a position.';
COMMENT ON COLUMN driver_locations.geog IS 'The position as a PostGIS geography point, derived from latitude and longitude (generated); GiST-indexed for radius and nearest-neighbour search.';
-- the seed's DriverLocation(latitude, longitude) index, as a spatial index
CREATE INDEX driver_locations_geog_idx ON driver_locations USING gist (geog);
SELECT pg_catalog.pg_extension_config_dump('driver_locations', '');

-- driver_availability_schedules.recurring_pattern:
--   {"freq": "DAILY"}  or  {"freq": "WEEKLY", "days": ["MON", "WED"]},
--   optional "until": "YYYY-MM-DD" (last local date the pattern applies).
-- The period start_time..end_time gives the local time of day of each
-- occurrence (in the timezone of the pattern, default Asia/Almaty: "tz").
CREATE FUNCTION validate_recurring_pattern(pattern jsonb) RETURNS boolean
  LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
DECLARE
  k text;
BEGIN
  IF pattern IS NULL THEN
    RETURN true;
  END IF;
  IF jsonb_typeof(pattern) <> 'object' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'recurring_pattern must be a JSON object',
      HINT = 'Example: {"freq": "WEEKLY", "days": ["MON", "TUE"]}';
  END IF;
  FOR k IN SELECT jsonb_object_keys(pattern) LOOP
    IF k NOT IN ('freq', 'days', 'until', 'tz') THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'recurring_pattern has an unknown key',
        DETAIL = format('recurring_pattern.%s; known keys: freq, days, until, tz', left(k, 60));
    END IF;
  END LOOP;
  IF NOT coalesce(pattern ->> 'freq' IN ('DAILY', 'WEEKLY'), false) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'recurring_pattern.freq must be DAILY or WEEKLY';
  END IF;
  IF pattern ->> 'freq' = 'WEEKLY' THEN
    IF jsonb_typeof(pattern -> 'days') IS DISTINCT FROM 'array' OR jsonb_array_length(pattern -> 'days') = 0
       OR EXISTS (SELECT 1 FROM jsonb_array_elements(pattern -> 'days') d
                   WHERE jsonb_typeof(d) <> 'string'
                      OR d #>> '{}' NOT IN ('MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT', 'SUN')) THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'recurring_pattern.days must be a non-empty array of MON..SUN';
    END IF;
  ELSIF pattern ? 'days' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'recurring_pattern.days is only allowed with freq WEEKLY';
  END IF;
  IF pattern ? 'until' AND (jsonb_typeof(pattern -> 'until') <> 'string'
                            OR pattern ->> 'until' !~ '^\d{4}-\d{2}-\d{2}$') THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'recurring_pattern.until must be a date YYYY-MM-DD';
  END IF;
  IF pattern ? 'tz' AND (jsonb_typeof(pattern -> 'tz') <> 'string' OR NOT is_valid_timezone(pattern ->> 'tz')) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'recurring_pattern.tz must be an IANA time zone';
  END IF;
  RETURN true;
END
$$;
COMMENT ON FUNCTION validate_recurring_pattern(jsonb) IS
  'CHECK helper for driver_availability_schedules.recurring_pattern: {"freq": "DAILY"} or {"freq": "WEEKLY", "days": ["MON", ...]}, optional "until" (YYYY-MM-DD) and "tz" (IANA zone, default Asia/Almaty). Raises 22023 naming the field otherwise.';

CREATE TABLE driver_availability_schedules (
  id                 uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  driver_id          uuid NOT NULL REFERENCES drivers (id) ON DELETE CASCADE,
  start_time         timestamptz NOT NULL,
  end_time           timestamptz NOT NULL,
  schedule_type      text NOT NULL DEFAULT 'UNAVAILABLE' CHECK (schedule_type IN ('BREAK', 'UNAVAILABLE')),
  reason             text CHECK (length(reason) <= 500),
  is_recurring       boolean NOT NULL DEFAULT false,
  recurring_pattern  jsonb CHECK (validate_recurring_pattern(recurring_pattern)),
  is_active          boolean NOT NULL DEFAULT true,
  created_at         timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT driver_availability_schedules_period CHECK (end_time > start_time),
  CONSTRAINT driver_availability_schedules_pattern CHECK (is_recurring = (recurring_pattern IS NOT NULL))
);
COMMENT ON TABLE driver_availability_schedules IS 'Breaks and unavailable periods of drivers, one-off or recurring; a driver is not matched to trips departing inside an active one.';
COMMENT ON COLUMN driver_availability_schedules.id IS 'Schedule key (UUIDv7).';
COMMENT ON COLUMN driver_availability_schedules.driver_id IS 'The driver the period belongs to.';
COMMENT ON COLUMN driver_availability_schedules.start_time IS 'Start of the period (for a recurring one: of its first occurrence; the local time of day repeats).';
COMMENT ON COLUMN driver_availability_schedules.end_time IS 'End of the period, after its start.';
COMMENT ON COLUMN driver_availability_schedules.schedule_type IS 'BREAK (a pause within a shift) or UNAVAILABLE (not driving at all).';
COMMENT ON COLUMN driver_availability_schedules.reason IS 'Why, in the driver''s words.';
COMMENT ON COLUMN driver_availability_schedules.is_recurring IS 'True when the period repeats by recurring_pattern.';
COMMENT ON COLUMN driver_availability_schedules.recurring_pattern IS 'How the period repeats: {"freq": "DAILY"} or {"freq": "WEEKLY", "days": ["MON", ...]}, optional "until" date and "tz" zone; NULL exactly when not recurring.';
COMMENT ON COLUMN driver_availability_schedules.is_active IS 'False for a period the driver withdrew.';
COMMENT ON COLUMN driver_availability_schedules.created_at IS 'When the period was entered.';
CREATE INDEX driver_availability_schedules_driver_idx ON driver_availability_schedules (driver_id) WHERE is_active;
SELECT pg_catalog.pg_extension_config_dump('driver_availability_schedules', '');

CREATE TABLE driver_availability_history (
  id               uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  driver_id        uuid NOT NULL REFERENCES drivers (id) ON DELETE CASCADE,
  previous_status  driver_availability,
  new_status       driver_availability NOT NULL,
  change_reason    text CHECK (length(change_reason) <= 500),
  triggered_by     text NOT NULL DEFAULT 'system' CHECK (triggered_by IN ('driver', 'system', 'admin')),
  changed_at       timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE driver_availability_history IS 'Every change of a driver''s availability: from, to, why and who (driver, system, admin).';
COMMENT ON COLUMN driver_availability_history.id IS 'History row key (UUIDv7).';
COMMENT ON COLUMN driver_availability_history.driver_id IS 'The driver whose availability changed.';
COMMENT ON COLUMN driver_availability_history.previous_status IS 'Availability before the change.';
COMMENT ON COLUMN driver_availability_history.new_status IS 'Availability after the change.';
COMMENT ON COLUMN driver_availability_history.change_reason IS 'Why it changed (started shift, trip started, position stale, ...).';
COMMENT ON COLUMN driver_availability_history.triggered_by IS 'Who changed it: driver, system (jobs and trip transitions) or admin.';
COMMENT ON COLUMN driver_availability_history.changed_at IS 'When it changed.';
CREATE INDEX driver_availability_history_driver_idx ON driver_availability_history (driver_id, changed_at);
SELECT pg_catalog.pg_extension_config_dump('driver_availability_history', '');

CREATE TABLE driver_credential_deliveries (
  id             uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  driver_id      uuid NOT NULL REFERENCES drivers (id) ON DELETE CASCADE,
  channel        delivery_channel NOT NULL,
  status         delivery_status NOT NULL DEFAULT 'SENT',
  sent_at        timestamptz,
  delivered_at   timestamptz,
  error_message  text CHECK (length(error_message) <= 2000),
  created_at     timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE driver_credential_deliveries IS 'Deliveries of login credentials to new drivers, one row per channel attempt (WhatsApp, then SMS, then e-mail).';
COMMENT ON COLUMN driver_credential_deliveries.id IS 'Delivery key (UUIDv7).';
COMMENT ON COLUMN driver_credential_deliveries.driver_id IS 'The driver the credentials were sent to.';
COMMENT ON COLUMN driver_credential_deliveries.channel IS 'Channel of this attempt.';
COMMENT ON COLUMN driver_credential_deliveries.status IS 'What the channel reported: SENT, DELIVERED, FAILED, READ.';
COMMENT ON COLUMN driver_credential_deliveries.sent_at IS 'When the message was handed to the channel.';
COMMENT ON COLUMN driver_credential_deliveries.delivered_at IS 'When the channel confirmed delivery.';
COMMENT ON COLUMN driver_credential_deliveries.error_message IS 'Why the attempt failed, as the channel said.';
COMMENT ON COLUMN driver_credential_deliveries.created_at IS 'When the attempt was queued.';
CREATE INDEX driver_credential_deliveries_driver_idx ON driver_credential_deliveries (driver_id);
SELECT pg_catalog.pg_extension_config_dump('driver_credential_deliveries', '');
