-- ===========================================================================
-- trips: trips, dispatch logs, status history, bookings, payments, reviews
-- ===========================================================================

-- trips.itinerary: {"stops": [{"order": 1, "name": "...", "address": "...",
--                              "lat": 43.2, "lng": 76.9, "arrivalTime": "2025-01-15T08:00:00Z"}, ...]}
CREATE FUNCTION validate_itinerary(itinerary jsonb) RETURNS boolean
  LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
DECLARE
  stop jsonb;
  i integer := 0;
  k text;
  prev_order numeric := NULL;
BEGIN
  IF itinerary IS NULL THEN
    RETURN true;
  END IF;
  IF jsonb_typeof(itinerary) <> 'object' OR jsonb_typeof(itinerary -> 'stops') IS DISTINCT FROM 'array' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'itinerary must be a JSON object with an array "stops"',
      HINT = 'Example: {"stops": [{"order": 1, "name": "Pickup Point", "lat": 43.238, "lng": 76.889}]}';
  END IF;
  IF jsonb_array_length(itinerary -> 'stops') > 50 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'itinerary has more than 50 stops';
  END IF;
  FOR stop IN SELECT value FROM jsonb_array_elements(itinerary -> 'stops') LOOP
    IF jsonb_typeof(stop) <> 'object' THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'itinerary stops must be JSON objects',
        DETAIL = format('itinerary.stops[%s]', i);
    END IF;
    FOR k IN SELECT jsonb_object_keys(stop) LOOP
      IF k NOT IN ('order', 'name', 'address', 'lat', 'lng', 'arrivalTime') THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'itinerary stop has an unknown key',
          DETAIL = format('itinerary.stops[%s].%s; known keys: order, name, address, lat, lng, arrivalTime', i, left(k, 60));
      END IF;
    END LOOP;
    IF jsonb_typeof(stop -> 'order') IS DISTINCT FROM 'number' OR (stop ->> 'order')::numeric < 1
       OR (stop ->> 'order')::numeric <> trunc((stop ->> 'order')::numeric) THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'itinerary stop order must be a positive integer',
        DETAIL = format('itinerary.stops[%s].order', i);
    END IF;
    IF prev_order IS NOT NULL AND (stop ->> 'order')::numeric <= prev_order THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'itinerary stops must be in increasing order',
        DETAIL = format('itinerary.stops[%s].order', i);
    END IF;
    prev_order := (stop ->> 'order')::numeric;
    IF jsonb_typeof(stop -> 'name') IS DISTINCT FROM 'string' OR length(btrim(stop ->> 'name')) NOT BETWEEN 1 AND 200 THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'itinerary stop name must be a text of 1 to 200 characters',
        DETAIL = format('itinerary.stops[%s].name', i);
    END IF;
    IF stop ? 'address' AND (jsonb_typeof(stop -> 'address') <> 'string' OR length(stop ->> 'address') > 500) THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'itinerary stop address must be a text of at most 500 characters',
        DETAIL = format('itinerary.stops[%s].address', i);
    END IF;
    IF jsonb_typeof(stop -> 'lat') IS DISTINCT FROM 'number' OR NOT is_valid_lat((stop ->> 'lat')::float8) THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'itinerary stop lat must be a number in -90..90',
        DETAIL = format('itinerary.stops[%s].lat', i);
    END IF;
    IF jsonb_typeof(stop -> 'lng') IS DISTINCT FROM 'number' OR NOT is_valid_lng((stop ->> 'lng')::float8) THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'itinerary stop lng must be a number in -180..180',
        DETAIL = format('itinerary.stops[%s].lng', i);
    END IF;
    IF stop ? 'arrivalTime' THEN
      BEGIN
        IF jsonb_typeof(stop -> 'arrivalTime') <> 'string'
           OR stop ->> 'arrivalTime' !~ '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$' THEN
          RAISE EXCEPTION USING ERRCODE = '22007';
        END IF;
        PERFORM (stop ->> 'arrivalTime')::timestamptz;
      EXCEPTION WHEN OTHERS THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'itinerary stop arrivalTime must be an ISO 8601 time with a zone',
          DETAIL = format('itinerary.stops[%s].arrivalTime', i);
      END;
    END IF;
    i := i + 1;
  END LOOP;
  RETURN true;
END
$$;
COMMENT ON FUNCTION validate_itinerary(jsonb) IS
  'CHECK helper for trips.itinerary: {"stops": [{"order", "name", "address"?, "lat", "lng", "arrivalTime"?}, ...]}, at most 50 stops in increasing order, valid coordinates, ISO 8601 arrival times with a zone. Raises 22023 naming the field otherwise.';

-- bookings.passengers: [{"name": "...", "phone": "+7...", "age": 30, "isChild": false}, ...]
CREATE FUNCTION validate_passengers(passengers jsonb) RETURNS boolean
  LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
DECLARE
  p jsonb;
  i integer := 0;
  k text;
BEGIN
  IF passengers IS NULL THEN
    RETURN true;
  END IF;
  IF jsonb_typeof(passengers) <> 'array' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'passengers must be a JSON array',
      HINT = 'Example: [{"name": "John Doe", "phone": "+77001234567", "age": 30, "isChild": false}]';
  END IF;
  IF jsonb_array_length(passengers) > 60 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'passengers has more than 60 entries';
  END IF;
  FOR p IN SELECT value FROM jsonb_array_elements(passengers) LOOP
    IF jsonb_typeof(p) <> 'object' THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'passengers entries must be JSON objects',
        DETAIL = format('passengers[%s]', i);
    END IF;
    FOR k IN SELECT jsonb_object_keys(p) LOOP
      IF k NOT IN ('name', 'phone', 'age', 'isChild') THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'passenger entry has an unknown key',
          DETAIL = format('passengers[%s].%s; known keys: name, phone, age, isChild', i, left(k, 60));
      END IF;
    END LOOP;
    IF jsonb_typeof(p -> 'name') IS DISTINCT FROM 'string' OR length(btrim(p ->> 'name')) NOT BETWEEN 1 AND 200 THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'passenger name must be a text of 1 to 200 characters',
        DETAIL = format('passengers[%s].name', i);
    END IF;
    IF p ? 'phone' AND jsonb_typeof(p -> 'phone') <> 'null'
       AND (jsonb_typeof(p -> 'phone') <> 'string' OR NOT is_e164(p ->> 'phone')) THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'passenger phone must be an E.164 number',
        DETAIL = format('passengers[%s].phone', i);
    END IF;
    IF p ? 'age' AND jsonb_typeof(p -> 'age') <> 'null'
       AND (jsonb_typeof(p -> 'age') <> 'number' OR (p ->> 'age')::numeric NOT BETWEEN 0 AND 130
            OR (p ->> 'age')::numeric <> trunc((p ->> 'age')::numeric)) THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'passenger age must be a whole number in 0..130',
        DETAIL = format('passengers[%s].age', i);
    END IF;
    IF p ? 'isChild' AND jsonb_typeof(p -> 'isChild') NOT IN ('boolean', 'null') THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'passenger isChild must be true or false',
        DETAIL = format('passengers[%s].isChild', i);
    END IF;
    i := i + 1;
  END LOOP;
  RETURN true;
END
$$;
COMMENT ON FUNCTION validate_passengers(jsonb) IS
  'CHECK helper for bookings.passengers: a JSON array of {"name", "phone"? (E.164), "age"? (0..130), "isChild"? (boolean)}, at most 60. Raises 22023 naming the field otherwise.';

CREATE TABLE trips (
  id                       uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  title                    text NOT NULL CHECK (length(btrim(title)) BETWEEN 1 AND 200),
  description              text CHECK (length(description) <= 5000),
  organizer_id             uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
  driver_id                uuid REFERENCES drivers (id) ON DELETE RESTRICT,
  departure_time           timestamptz NOT NULL,
  return_time              timestamptz,
  timezone                 text NOT NULL DEFAULT 'Asia/Almaty' CHECK (is_valid_timezone(timezone)),
  origin_name              text NOT NULL CHECK (length(origin_name) BETWEEN 1 AND 200),
  origin_address           text CHECK (length(origin_address) <= 500),
  origin_lat               double precision NOT NULL CHECK (is_valid_lat(origin_lat)),
  origin_lng               double precision NOT NULL CHECK (is_valid_lng(origin_lng)),
  dest_name                text NOT NULL CHECK (length(dest_name) BETWEEN 1 AND 200),
  dest_address             text CHECK (length(dest_address) <= 500),
  dest_lat                 double precision NOT NULL CHECK (is_valid_lat(dest_lat)),
  dest_lng                 double precision NOT NULL CHECK (is_valid_lng(dest_lng)),
  total_seats              integer NOT NULL CHECK (total_seats BETWEEN 1 AND 60),
  available_seats          integer NOT NULL,
  base_price               numeric(14,2) NOT NULL DEFAULT 0 CHECK (base_price >= 0),
  currency                 text NOT NULL DEFAULT 'KZT' REFERENCES currencies (code),
  platform_fee             numeric(14,2) NOT NULL DEFAULT 0 CHECK (platform_fee >= 0),
  itinerary                jsonb CHECK (validate_itinerary(itinerary)),
  status                   trip_status NOT NULL DEFAULT 'DRAFT',
  trip_type                trip_type NOT NULL DEFAULT 'PRIVATE',
  tenant_id                uuid REFERENCES tenants (id) ON DELETE RESTRICT,
  price_per_seat           numeric(14,2) CHECK (price_per_seat >= 0),
  driver_discovery_radius  integer NOT NULL DEFAULT 5000 CHECK (driver_discovery_radius BETWEEN 100 AND 500000),
  estimated_earnings       numeric(14,2) CHECK (estimated_earnings >= 0),
  acceptance_deadline      timestamptz,
  offered_to_driver_id     uuid REFERENCES drivers (id) ON DELETE SET NULL,
  created_at               timestamptz NOT NULL DEFAULT now(),
  published_at             timestamptz,
  updated_at               timestamptz NOT NULL DEFAULT now(),
  started_at               timestamptz,
  completed_at             timestamptz,
  cancelled_at             timestamptz,
  cancellation_reason      text CHECK (length(cancellation_reason) <= 1000),
  offer_radius             integer CHECK (offer_radius BETWEEN 100 AND 2000000),
  origin_geog              geography(Point, 4326) GENERATED ALWAYS AS (geog_point(origin_lat, origin_lng)) STORED,
  dest_geog                geography(Point, 4326) GENERATED ALWAYS AS (geog_point(dest_lat, dest_lng)) STORED,
  CONSTRAINT trips_seats CHECK (available_seats BETWEEN 0 AND total_seats),
  CONSTRAINT trips_return_after_departure CHECK (return_time IS NULL OR return_time > departure_time),
  CONSTRAINT trips_shared_has_seat_price CHECK (trip_type = 'PRIVATE' OR price_per_seat IS NOT NULL),
  CONSTRAINT trips_offer_has_deadline CHECK ((offered_to_driver_id IS NULL) = (acceptance_deadline IS NULL))
);
COMMENT ON TABLE trips IS 'Trips: a PRIVATE cab (the whole vehicle, one booking, base_price) or a SHARED ride (sold by the seat at price_per_seat), from publication through dispatch to completion.';
COMMENT ON COLUMN trips.id IS 'Trip key (UUIDv7).';
COMMENT ON COLUMN trips.title IS 'Short title shown to passengers and drivers.';
COMMENT ON COLUMN trips.description IS 'Longer description, at most 5,000 characters.';
COMMENT ON COLUMN trips.organizer_id IS 'The user who created the trip.';
COMMENT ON COLUMN trips.driver_id IS 'The driver who accepted the trip; NULL until one did.';
COMMENT ON COLUMN trips.departure_time IS 'When the trip leaves (an instant; shown in the trip''s timezone).';
COMMENT ON COLUMN trips.return_time IS 'When a return trip leaves, after the departure; NULL for one way.';
COMMENT ON COLUMN trips.timezone IS 'IANA time zone the trip''s local times are shown and validated in (default Asia/Almaty).';
COMMENT ON COLUMN trips.origin_name IS 'Name of the pickup point.';
COMMENT ON COLUMN trips.origin_address IS 'Street address of the pickup point.';
COMMENT ON COLUMN trips.origin_lat IS 'Latitude of the pickup point, -90..90.';
COMMENT ON COLUMN trips.origin_lng IS 'Longitude of the pickup point, -180..180.';
COMMENT ON COLUMN trips.dest_name IS 'Name of the destination.';
COMMENT ON COLUMN trips.dest_address IS 'Street address of the destination.';
COMMENT ON COLUMN trips.dest_lat IS 'Latitude of the destination, -90..90.';
COMMENT ON COLUMN trips.dest_lng IS 'Longitude of the destination, -180..180.';
COMMENT ON COLUMN trips.total_seats IS 'Passenger seats offered, 1..60 (a PRIVATE trip: the seats the party needs).';
COMMENT ON COLUMN trips.available_seats IS 'Seats not held by live (PENDING or CONFIRMED) bookings, 0..total_seats; defaults to total_seats.';
COMMENT ON COLUMN trips.base_price IS 'Price of a PRIVATE trip (the whole vehicle).';
COMMENT ON COLUMN trips.currency IS 'ISO 4217 currency of the trip''s prices (default KZT).';
COMMENT ON COLUMN trips.platform_fee IS 'The platform''s share of the trip''s full price, by the payout split (15 % by default, the tenant''s rate where set).';
COMMENT ON COLUMN trips.itinerary IS 'Stops of the trip, {"stops": [{"order", "name", "address", "lat", "lng", "arrivalTime"}]}; validated on write.';
COMMENT ON COLUMN trips.status IS 'Lifecycle status; moved only by transition_trip and the dispatch functions, every move recorded in trip_status_history.';
COMMENT ON COLUMN trips.trip_type IS 'PRIVATE (whole vehicle) or SHARED (by the seat).';
COMMENT ON COLUMN trips.tenant_id IS 'The organisation the trip belongs to, if any; tenant-scoped trips are invisible to other tenants.';
COMMENT ON COLUMN trips.price_per_seat IS 'Price of one seat of a SHARED trip (required for SHARED).';
COMMENT ON COLUMN trips.driver_discovery_radius IS 'Radius in metres around the pickup point in which drivers are looked for (default 5,000).';
COMMENT ON COLUMN trips.estimated_earnings IS 'What the driver earns for the full trip after the platform fee.';
COMMENT ON COLUMN trips.acceptance_deadline IS 'Until when the driver offered the trip may accept it; set exactly while an offer is open.';
COMMENT ON COLUMN trips.offered_to_driver_id IS 'The driver the trip is offered to now; NULL when no offer is open.';
COMMENT ON COLUMN trips.created_at IS 'When the trip was created.';
COMMENT ON COLUMN trips.published_at IS 'When the trip was first published.';
COMMENT ON COLUMN trips.updated_at IS 'When the trip was last changed (kept by trigger).';
COMMENT ON COLUMN trips.started_at IS 'When the trip went IN_PROGRESS.';
COMMENT ON COLUMN trips.completed_at IS 'When the trip was COMPLETED; payout batches use it.';
COMMENT ON COLUMN trips.cancelled_at IS 'When the trip was CANCELLED.';
COMMENT ON COLUMN trips.cancellation_reason IS 'Why the trip was cancelled.';
COMMENT ON COLUMN trips.offer_radius IS 'The current dispatch radius in metres while offers widen past driver_discovery_radius; NULL before the first widening.';
COMMENT ON COLUMN trips.origin_geog IS 'The pickup point as a PostGIS geography (generated from origin_lat, origin_lng), GiST-indexed.';
COMMENT ON COLUMN trips.dest_geog IS 'The destination as a PostGIS geography (generated from dest_lat, dest_lng).';
CREATE INDEX trips_status_radius_idx ON trips (status, driver_discovery_radius);
CREATE INDEX trips_origin_geog_idx ON trips USING gist (origin_geog);
CREATE INDEX trips_departure_idx ON trips (departure_time);
CREATE INDEX trips_acceptance_deadline_idx ON trips (acceptance_deadline) WHERE acceptance_deadline IS NOT NULL;
CREATE INDEX trips_organizer_idx ON trips (organizer_id);
CREATE INDEX trips_driver_idx ON trips (driver_id) WHERE driver_id IS NOT NULL;
CREATE INDEX trips_offered_to_idx ON trips (offered_to_driver_id) WHERE offered_to_driver_id IS NOT NULL;
CREATE INDEX trips_tenant_idx ON trips (tenant_id) WHERE tenant_id IS NOT NULL;

CREATE FUNCTION trips_default_seats() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF NEW.available_seats IS NULL THEN
    NEW.available_seats := NEW.total_seats;
  END IF;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION trips_default_seats() IS 'Trigger function: a new trip''s available_seats defaults to its total_seats.';
CREATE TRIGGER trips_default_seats BEFORE INSERT ON trips
  FOR EACH ROW EXECUTE FUNCTION trips_default_seats();
CREATE TRIGGER trips_touch BEFORE UPDATE ON trips
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
SELECT pg_catalog.pg_extension_config_dump('trips', '');

CREATE TABLE trip_driver_visibility (
  id               uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  trip_id          uuid NOT NULL REFERENCES trips (id) ON DELETE CASCADE,
  driver_id        uuid NOT NULL REFERENCES drivers (id) ON DELETE CASCADE,
  shown_at         timestamptz NOT NULL DEFAULT now(),
  viewed_at        timestamptz,
  response_action  trip_acceptance_action,
  response_at      timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT trip_driver_visibility_once UNIQUE (trip_id, driver_id)
);
COMMENT ON TABLE trip_driver_visibility IS 'Which drivers a trip was shown to by driver discovery, and how they responded; one row per trip and driver.';
COMMENT ON COLUMN trip_driver_visibility.id IS 'Row key (UUIDv7).';
COMMENT ON COLUMN trip_driver_visibility.trip_id IS 'The trip shown.';
COMMENT ON COLUMN trip_driver_visibility.driver_id IS 'The driver it was shown to.';
COMMENT ON COLUMN trip_driver_visibility.shown_at IS 'When discovery last returned the driver for the trip.';
COMMENT ON COLUMN trip_driver_visibility.viewed_at IS 'When the driver app opened the trip.';
COMMENT ON COLUMN trip_driver_visibility.response_action IS 'The driver''s answer to an offer of the trip: ACCEPTED, DECLINED or TIMEOUT.';
COMMENT ON COLUMN trip_driver_visibility.response_at IS 'When the driver answered.';
COMMENT ON COLUMN trip_driver_visibility.created_at IS 'When the trip was first shown to the driver.';
CREATE INDEX trip_driver_visibility_driver_idx ON trip_driver_visibility (driver_id);
SELECT pg_catalog.pg_extension_config_dump('trip_driver_visibility', '');

CREATE TABLE trip_acceptance_logs (
  id                     uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  trip_id                uuid NOT NULL REFERENCES trips (id) ON DELETE CASCADE,
  driver_id              uuid NOT NULL REFERENCES drivers (id) ON DELETE CASCADE,
  action                 trip_acceptance_action NOT NULL,
  offered_at             timestamptz NOT NULL DEFAULT now(),
  responded_at           timestamptz,
  response_time_seconds  integer CHECK (response_time_seconds >= 0),
  ip_address             inet,
  user_agent             text CHECK (length(user_agent) <= 1024),
  timeout_duration       integer CHECK (timeout_duration > 0),
  created_at             timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE trip_acceptance_logs IS 'Every step of every trip offer: OFFERED, then ACCEPTED, DECLINED or TIMEOUT, with response times.';
COMMENT ON COLUMN trip_acceptance_logs.id IS 'Log row key (UUIDv7).';
COMMENT ON COLUMN trip_acceptance_logs.trip_id IS 'The trip offered.';
COMMENT ON COLUMN trip_acceptance_logs.driver_id IS 'The driver it was offered to.';
COMMENT ON COLUMN trip_acceptance_logs.action IS 'What happened: OFFERED, ACCEPTED, DECLINED or TIMEOUT.';
COMMENT ON COLUMN trip_acceptance_logs.offered_at IS 'When the offer was made.';
COMMENT ON COLUMN trip_acceptance_logs.responded_at IS 'When the driver answered (or the deadline passed).';
COMMENT ON COLUMN trip_acceptance_logs.response_time_seconds IS 'Seconds from offer to answer.';
COMMENT ON COLUMN trip_acceptance_logs.ip_address IS 'IP address of the driver app that answered, when known.';
COMMENT ON COLUMN trip_acceptance_logs.user_agent IS 'User agent of the driver app that answered, when known.';
COMMENT ON COLUMN trip_acceptance_logs.timeout_duration IS 'Seconds the driver had to answer.';
COMMENT ON COLUMN trip_acceptance_logs.created_at IS 'When the row was written.';
CREATE INDEX trip_acceptance_logs_trip_idx ON trip_acceptance_logs (trip_id, driver_id);
CREATE INDEX trip_acceptance_logs_driver_idx ON trip_acceptance_logs (driver_id, created_at);
SELECT pg_catalog.pg_extension_config_dump('trip_acceptance_logs', '');

CREATE TABLE trip_status_history (
  id           uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  trip_id      uuid NOT NULL REFERENCES trips (id) ON DELETE CASCADE,
  from_status  trip_status,
  to_status    trip_status NOT NULL,
  actor_id     uuid REFERENCES users (id) ON DELETE SET NULL,
  reason       text CHECK (length(reason) <= 1000),
  changed_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE trip_status_history IS 'Every status transition of every trip: from, to, who, when and why (added to the seed).';
COMMENT ON COLUMN trip_status_history.id IS 'Row key (UUIDv7).';
COMMENT ON COLUMN trip_status_history.trip_id IS 'The trip that moved.';
COMMENT ON COLUMN trip_status_history.from_status IS 'Status before the move (NULL for the creation).';
COMMENT ON COLUMN trip_status_history.to_status IS 'Status after the move.';
COMMENT ON COLUMN trip_status_history.actor_id IS 'The user who moved it; NULL for the system (jobs).';
COMMENT ON COLUMN trip_status_history.reason IS 'Why, when given.';
COMMENT ON COLUMN trip_status_history.changed_at IS 'When it moved.';
CREATE INDEX trip_status_history_trip_idx ON trip_status_history (trip_id, changed_at);
SELECT pg_catalog.pg_extension_config_dump('trip_status_history', '');

CREATE TABLE reviews (
  id             uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  driver_id      uuid NOT NULL REFERENCES drivers (id) ON DELETE CASCADE,
  trip_id        uuid REFERENCES trips (id) ON DELETE SET NULL,
  rating         integer NOT NULL CHECK (rating BETWEEN 1 AND 5),
  comment        text CHECK (length(comment) <= 2000),
  reviewer_id    uuid REFERENCES users (id) ON DELETE SET NULL,
  reviewer_name  text CHECK (length(reviewer_name) <= 200),
  response       text CHECK (length(response) <= 2000),
  responded_at   timestamptz,
  created_at     timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT reviews_once_per_trip UNIQUE (trip_id, reviewer_id),
  CONSTRAINT reviews_response_time CHECK ((response IS NULL) = (responded_at IS NULL))
);
COMMENT ON TABLE reviews IS 'Passengers'' reviews of drivers, one per passenger and trip, with the driver''s one response.';
COMMENT ON COLUMN reviews.id IS 'Review key (UUIDv7).';
COMMENT ON COLUMN reviews.driver_id IS 'The driver reviewed.';
COMMENT ON COLUMN reviews.trip_id IS 'The trip the review is about.';
COMMENT ON COLUMN reviews.rating IS 'Stars, 1..5.';
COMMENT ON COLUMN reviews.comment IS 'What the passenger wrote, at most 2,000 characters.';
COMMENT ON COLUMN reviews.reviewer_id IS 'The passenger who wrote it.';
COMMENT ON COLUMN reviews.reviewer_name IS 'The reviewer''s display name at the time.';
COMMENT ON COLUMN reviews.response IS 'The driver''s one response.';
COMMENT ON COLUMN reviews.responded_at IS 'When the driver responded; set exactly with response.';
COMMENT ON COLUMN reviews.created_at IS 'When the review was written.';
CREATE INDEX reviews_driver_idx ON reviews (driver_id, created_at);
SELECT pg_catalog.pg_extension_config_dump('reviews', '');

CREATE TABLE bookings (
  id                   uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  trip_id              uuid NOT NULL REFERENCES trips (id) ON DELETE RESTRICT,
  user_id              uuid NOT NULL REFERENCES users (id) ON DELETE RESTRICT,
  status               booking_status NOT NULL DEFAULT 'PENDING',
  seats_booked         integer NOT NULL DEFAULT 1 CHECK (seats_booked BETWEEN 1 AND 60),
  total_amount         numeric(14,2) NOT NULL CHECK (total_amount >= 0),
  currency             text NOT NULL DEFAULT 'KZT' REFERENCES currencies (code),
  passengers           jsonb NOT NULL DEFAULT '[]' CHECK (validate_passengers(passengers)),
  notes                text CHECK (length(notes) <= 2000),
  payment_method_type  payment_method_type NOT NULL DEFAULT 'ONLINE',
  payout_id            uuid,
  payout_settled       boolean NOT NULL DEFAULT false,
  settled_at           timestamptz,
  created_at           timestamptz NOT NULL DEFAULT now(),
  confirmed_at         timestamptz,
  cancelled_at         timestamptz,
  updated_at           timestamptz NOT NULL DEFAULT now(),
  completed_at         timestamptz,
  cancellation_reason  text CHECK (length(cancellation_reason) <= 1000),
  expires_at           timestamptz,
  CONSTRAINT bookings_settlement CHECK (payout_settled = (settled_at IS NOT NULL))
);
COMMENT ON TABLE bookings IS 'Seat bookings of passengers on trips: seats, price, passengers, payment method and payout settlement.';
COMMENT ON COLUMN bookings.id IS 'Booking key (UUIDv7).';
COMMENT ON COLUMN bookings.trip_id IS 'The trip booked.';
COMMENT ON COLUMN bookings.user_id IS 'The passenger who booked (and pays).';
COMMENT ON COLUMN bookings.status IS 'PENDING (awaiting online payment), CONFIRMED, COMPLETED, CANCELLED or REFUNDED. PENDING and CONFIRMED bookings hold seats.';
COMMENT ON COLUMN bookings.seats_booked IS 'Seats held, 1..60.';
COMMENT ON COLUMN bookings.total_amount IS 'What the passenger pays: seats times price_per_seat (SHARED) or base_price (PRIVATE).';
COMMENT ON COLUMN bookings.currency IS 'ISO 4217 currency of total_amount, the trip''s.';
COMMENT ON COLUMN bookings.passengers IS 'Who travels, one entry per seat: [{"name", "phone", "age", "isChild"}]; validated on write.';
COMMENT ON COLUMN bookings.notes IS 'Notes for the driver (luggage, pickup details).';
COMMENT ON COLUMN bookings.payment_method_type IS 'ONLINE (paid through the provider, paid out to the driver) or CASH_TO_DRIVER (never paid out).';
COMMENT ON COLUMN bookings.payout_id IS 'The payout that settled the driver''s share of this booking.';
COMMENT ON COLUMN bookings.payout_settled IS 'True once a payout settled this booking; never settled twice.';
COMMENT ON COLUMN bookings.settled_at IS 'When the booking was settled; set exactly when payout_settled is true.';
COMMENT ON COLUMN bookings.created_at IS 'When the booking was made.';
COMMENT ON COLUMN bookings.confirmed_at IS 'When the booking was confirmed (paid, or cash agreed).';
COMMENT ON COLUMN bookings.cancelled_at IS 'When the booking was cancelled.';
COMMENT ON COLUMN bookings.updated_at IS 'When the booking was last changed (kept by trigger).';
COMMENT ON COLUMN bookings.completed_at IS 'When the trip completed the booking.';
COMMENT ON COLUMN bookings.cancellation_reason IS 'Why the booking was cancelled.';
COMMENT ON COLUMN bookings.expires_at IS 'For an unpaid ONLINE booking: when it is cancelled and its seats released if still unpaid.';
CREATE INDEX bookings_trip_user_idx ON bookings (trip_id, user_id);
-- one live booking per passenger and trip
CREATE UNIQUE INDEX bookings_one_live_per_user ON bookings (trip_id, user_id) WHERE status IN ('PENDING', 'CONFIRMED');
CREATE INDEX bookings_user_idx ON bookings (user_id, created_at);
CREATE INDEX bookings_payout_settled_idx ON bookings (payout_settled);
CREATE INDEX bookings_payment_method_idx ON bookings (payment_method_type);
CREATE INDEX bookings_payout_idx ON bookings (payout_id) WHERE payout_id IS NOT NULL;
CREATE INDEX bookings_expiry_idx ON bookings (expires_at) WHERE status = 'PENDING' AND expires_at IS NOT NULL;
CREATE TRIGGER bookings_touch BEFORE UPDATE ON bookings
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
SELECT pg_catalog.pg_extension_config_dump('bookings', '');

CREATE TABLE payments (
  id                    uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  booking_id            uuid NOT NULL UNIQUE REFERENCES bookings (id) ON DELETE RESTRICT,
  stripe_intent_id      text UNIQUE CHECK (stripe_intent_id ~ '^[A-Za-z0-9_]{3,255}$'),
  stripe_client_secret  text CHECK (length(stripe_client_secret) <= 500),
  amount                numeric(14,2) NOT NULL CHECK (amount >= 0),
  currency              text NOT NULL DEFAULT 'KZT' REFERENCES currencies (code),
  status                payment_status NOT NULL DEFAULT 'PENDING',
  payment_method        text CHECK (length(payment_method) <= 50),
  last4                 text CHECK (last4 ~ '^[0-9]{4}$'),
  metadata              jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
  error_message         text CHECK (length(error_message) <= 2000),
  created_at            timestamptz NOT NULL DEFAULT now(),
  succeeded_at          timestamptz,
  failed_at             timestamptz,
  updated_at            timestamptz NOT NULL DEFAULT now(),
  refund_requested_at   timestamptz,
  refunded_at           timestamptz
);
COMMENT ON TABLE payments IS 'Card payments of bookings through Stripe, one per booking, as the application and Stripe''s webhooks report them. Only the last four digits of a card are kept.';
COMMENT ON COLUMN payments.id IS 'Payment key (UUIDv7).';
COMMENT ON COLUMN payments.booking_id IS 'The booking paid; one payment per booking.';
COMMENT ON COLUMN payments.stripe_intent_id IS 'Stripe PaymentIntent id (pi_...), unique.';
COMMENT ON COLUMN payments.stripe_client_secret IS 'The PaymentIntent''s client secret the app confirms the payment with.';
COMMENT ON COLUMN payments.amount IS 'Amount charged; equals the booking''s total_amount.';
COMMENT ON COLUMN payments.currency IS 'ISO 4217 currency charged; the booking''s.';
COMMENT ON COLUMN payments.status IS 'Provider state; never moves backwards (late events are recorded and ignored).';
COMMENT ON COLUMN payments.payment_method IS 'Kind of payment method (card, kaspi, ...).';
COMMENT ON COLUMN payments.last4 IS 'Last four digits of the card, the only card data kept.';
COMMENT ON COLUMN payments.metadata IS 'Further provider data, a JSON object.';
COMMENT ON COLUMN payments.error_message IS 'Why the payment failed, as the provider said.';
COMMENT ON COLUMN payments.created_at IS 'When the payment was created.';
COMMENT ON COLUMN payments.succeeded_at IS 'When the provider reported success.';
COMMENT ON COLUMN payments.failed_at IS 'When the provider reported failure.';
COMMENT ON COLUMN payments.updated_at IS 'When the payment was last changed (kept by trigger).';
COMMENT ON COLUMN payments.refund_requested_at IS 'When the platform marked the payment for refund (booking or trip cancelled after payment); the application issues the refund.';
COMMENT ON COLUMN payments.refunded_at IS 'When the provider reported the refund.';
CREATE INDEX payments_refund_requested_idx ON payments (refund_requested_at) WHERE refund_requested_at IS NOT NULL AND refunded_at IS NULL;
CREATE TRIGGER payments_touch BEFORE UPDATE ON payments
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
SELECT pg_catalog.pg_extension_config_dump('payments', '');

-- ---------------------------------------------------------------------------
-- Added for the trip lifecycle (release 0.1 has not shipped): the moments
-- boarding rules need, and the boarding state of each booking.
-- ---------------------------------------------------------------------------
ALTER TABLE trips
  ADD COLUMN driver_arrived_at      timestamptz,
  ADD COLUMN passengers_boarded_at  timestamptz;
COMMENT ON COLUMN trips.driver_arrived_at IS 'When the trip last moved to DRIVER_ARRIVED; no-shows may be marked steppergo.boarding_wait after it.';
COMMENT ON COLUMN trips.passengers_boarded_at IS 'When the trip moved to PASSENGERS_BOARDED (every live booking boarded or a no-show).';

ALTER TABLE bookings
  ADD COLUMN boarding_code_hash       bytea CHECK (octet_length(boarding_code_hash) = 32),
  ADD COLUMN boarding_code_issued_at  timestamptz,
  ADD COLUMN boarding_attempts        integer NOT NULL DEFAULT 0 CHECK (boarding_attempts >= 0),
  ADD COLUMN boarded_at               timestamptz,
  ADD COLUMN no_show_at               timestamptz,
  ADD CONSTRAINT bookings_boarded_or_no_show CHECK (boarded_at IS NULL OR no_show_at IS NULL),
  ADD CONSTRAINT bookings_code_issued CHECK ((boarding_code_hash IS NULL) = (boarding_code_issued_at IS NULL));
COMMENT ON COLUMN bookings.boarding_code_hash IS 'Keyed BLAKE2b-256 (steppergo.otp_key) of the booking''s 4-digit boarding code, bound to the booking id; the code itself is never stored.';
COMMENT ON COLUMN bookings.boarding_code_issued_at IS 'When the current boarding code was issued (issue_boarding_code shows it once; issuing again replaces it).';
COMMENT ON COLUMN bookings.boarding_attempts IS 'Wrong boarding codes entered since the code was issued; at 5 the code is blocked until a new one is issued.';
COMMENT ON COLUMN bookings.boarded_at IS 'When the driver confirmed the passenger on board with the boarding code.';
COMMENT ON COLUMN bookings.no_show_at IS 'When the driver marked the booking a no-show (steppergo.boarding_wait after arriving).';
