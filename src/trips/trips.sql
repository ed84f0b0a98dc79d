-- ===========================================================================
-- trips (release 0.2): creating and publishing trips, the status machine,
-- seats (C), boarding, driver reviews, Stripe payments and webhooks.
--
-- Lock order everywhere: trip row (FOR NO KEY UPDATE), then booking, then
-- payment, then driver.  See src/trips/README.md.
-- ===========================================================================

-- ---------------------------------------------------------------------------
-- The status machine as data: every allowed move and who may make it
-- ---------------------------------------------------------------------------
CREATE FUNCTION trip_status_transitions()
  RETURNS TABLE (from_status trip_status, to_status trip_status, allowed text[], requires text)
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
  SELECT f::trip_status, t::trip_status, a::text[], r
    FROM (VALUES
      ('DRAFT',              'PUBLISHED',          '{organizer,admin}',        'departure in the future'),
      ('DRAFT',              'CANCELLED',          '{organizer,admin}',        NULL),
      ('PUBLISHED',          'OFFERED',            '{dispatch}',               'offer_trip'),
      ('PUBLISHED',          'FULL',               '{seats}',                  'book_seats takes the last seat'),
      ('PUBLISHED',          'IN_PROGRESS',        '{driver,admin}',           'a driver assigned'),
      ('PUBLISHED',          'CANCELLED',          '{organizer,admin}',        NULL),
      ('OFFERED',            'PUBLISHED',          '{dispatch}',               'accept, decline or timeout'),
      ('OFFERED',            'FULL',               '{dispatch}',               'accept, decline or timeout with no seat left'),
      ('FULL',               'PUBLISHED',          '{seats}',                  'a cancelled booking releases seats'),
      ('FULL',               'OFFERED',            '{dispatch}',               'offer_trip'),
      ('FULL',               'IN_PROGRESS',        '{driver,admin}',           'a driver assigned'),
      ('FULL',               'CANCELLED',          '{organizer,admin}',        NULL),
      ('IN_PROGRESS',        'DEPARTED',           '{driver,admin}',           NULL),
      ('IN_PROGRESS',        'EN_ROUTE',           '{driver,admin}',           NULL),
      ('IN_PROGRESS',        'DRIVER_ARRIVED',     '{driver,admin}',           NULL),
      ('IN_PROGRESS',        'DELAYED',            '{driver,admin}',           NULL),
      ('IN_PROGRESS',        'CANCELLED',          '{organizer,driver,admin}', NULL),
      ('DEPARTED',           'EN_ROUTE',           '{driver,admin}',           NULL),
      ('DEPARTED',           'DRIVER_ARRIVED',     '{driver,admin}',           NULL),
      ('DEPARTED',           'DELAYED',            '{driver,admin}',           NULL),
      ('DEPARTED',           'CANCELLED',          '{organizer,driver,admin}', NULL),
      ('EN_ROUTE',           'DRIVER_ARRIVED',     '{driver,admin}',           NULL),
      ('EN_ROUTE',           'DELAYED',            '{driver,admin}',           NULL),
      ('EN_ROUTE',           'CANCELLED',          '{organizer,driver,admin}', NULL),
      ('DRIVER_ARRIVED',     'PASSENGERS_BOARDED', '{driver,admin}',           'every live booking boarded or a no-show'),
      ('DRIVER_ARRIVED',     'CANCELLED',          '{organizer,driver,admin}', NULL),
      ('PASSENGERS_BOARDED', 'IN_TRANSIT',         '{driver,admin}',           NULL),
      ('PASSENGERS_BOARDED', 'DELAYED',            '{driver,admin}',           NULL),
      ('PASSENGERS_BOARDED', 'ARRIVED',            '{driver,admin}',           NULL),
      ('PASSENGERS_BOARDED', 'CANCELLED',          '{admin}',                  NULL),
      ('IN_TRANSIT',         'DELAYED',            '{driver,admin}',           NULL),
      ('IN_TRANSIT',         'ARRIVED',            '{driver,admin}',           NULL),
      ('IN_TRANSIT',         'CANCELLED',          '{admin}',                  NULL),
      ('DELAYED',            'EN_ROUTE',           '{driver,admin}',           'passengers not boarded yet'),
      ('DELAYED',            'DRIVER_ARRIVED',     '{driver,admin}',           'passengers not boarded yet'),
      ('DELAYED',            'IN_TRANSIT',         '{driver,admin}',           'passengers boarded'),
      ('DELAYED',            'ARRIVED',            '{driver,admin}',           'passengers boarded'),
      ('DELAYED',            'CANCELLED',          '{organizer,driver,admin}', 'passengers not boarded yet (admin: always)'),
      ('ARRIVED',            'COMPLETED',          '{driver,admin}',           NULL),
      ('ARRIVED',            'CANCELLED',          '{admin}',                  NULL)
    ) v(f, t, a, r)
$$;
COMMENT ON FUNCTION trip_status_transitions() IS
  'The trip status machine: every allowed move (from_status, to_status), who may make it (organizer, driver, admin; dispatch = only offer_trip/accept_trip/decline_trip and the timeout job; seats = only book_seats/cancel_booking), and what it requires. A trusted caller without an actor acts as the platform and may make every organizer/driver/admin move. Anything not listed is refused with PT409.';
SELECT api_expose('trip_status_transitions()'::regprocedure, 'anon');

-- ---------------------------------------------------------------------------
-- Helpers
-- ---------------------------------------------------------------------------
CREATE FUNCTION assert_trip_visible(trip_tenant uuid, trip_id uuid) RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF trip_tenant IS NOT NULL AND NOT is_trusted_caller()
     AND current_app_role() IS DISTINCT FROM 'ADMIN'
     AND current_tenant_id() IS DISTINCT FROM trip_tenant THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'trip not found',
      DETAIL = format('No trip with id %s.', trip_id);
  END IF;
END
$$;
COMMENT ON FUNCTION assert_trip_visible(uuid, uuid) IS
  'Internal: raises PT404 (as for an unknown trip) when a tenant''s trip is looked at by a caller of another tenant; trusted callers and admins see every trip.';

CREATE FUNCTION money_fits_currency(amount numeric, currency text) RETURNS boolean
  LANGUAGE sql STABLE
  SET search_path FROM CURRENT
  RETURN amount = round(amount, (SELECT c.minor_unit FROM currencies c WHERE c.code = money_fits_currency.currency));
COMMENT ON FUNCTION money_fits_currency(numeric, text) IS
  'Internal: true when the amount has no more decimals than the currency''s minor unit.';

CREATE FUNCTION departure_local(trip trips) RETURNS timestamp
  LANGUAGE sql STABLE PARALLEL SAFE
  SET search_path FROM CURRENT
  RETURN (trip).departure_time AT TIME ZONE (trip).timezone;
COMMENT ON FUNCTION departure_local(trips) IS
  'The trip''s departure as local wall-clock time in the trip''s own IANA zone (Asia/Almaty: UTC+5 since 2024-03-01). A computed column for PostgREST (select=departure_local).';
SELECT api_expose('departure_local(trips)'::regprocedure, 'anon');

CREATE FUNCTION return_local(trip trips) RETURNS timestamp
  LANGUAGE sql STABLE PARALLEL SAFE
  SET search_path FROM CURRENT
  RETURN (trip).return_time AT TIME ZONE (trip).timezone;
COMMENT ON FUNCTION return_local(trips) IS
  'The trip''s return as local wall-clock time in the trip''s own IANA zone; NULL without a return. A computed column for PostgREST.';
SELECT api_expose('return_local(trips)'::regprocedure, 'anon');

-- ---------------------------------------------------------------------------
-- Creating and publishing trips
-- ---------------------------------------------------------------------------
CREATE FUNCTION create_trip(title text, origin_name text, origin_lat float8, origin_lng float8,
                            dest_name text, dest_lat float8, dest_lng float8,
                            departure_time timestamptz, total_seats integer,
                            trip_type trip_type DEFAULT 'PRIVATE',
                            base_price numeric DEFAULT NULL, price_per_seat numeric DEFAULT NULL,
                            currency text DEFAULT NULL, timezone text DEFAULT NULL,
                            return_time timestamptz DEFAULT NULL,
                            origin_address text DEFAULT NULL, dest_address text DEFAULT NULL,
                            itinerary jsonb DEFAULT NULL, description text DEFAULT NULL,
                            driver_discovery_radius integer DEFAULT 5000,
                            organizer_id uuid DEFAULT NULL, tenant_id uuid DEFAULT NULL,
                            publish boolean DEFAULT false)
  RETURNS uuid
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  trusted boolean := is_trusted_caller();
  organizer uuid := create_trip.organizer_id;
  tenant uuid := create_trip.tenant_id;
  cur text;
  tz text;
  gross numeric;
  split record;
  new_id uuid;
BEGIN
  PERFORM require_arg(title, 'title');
  PERFORM require_arg(origin_name, 'origin_name');
  PERFORM require_arg(origin_lat, 'origin_lat');
  PERFORM require_arg(origin_lng, 'origin_lng');
  PERFORM require_arg(dest_name, 'dest_name');
  PERFORM require_arg(dest_lat, 'dest_lat');
  PERFORM require_arg(dest_lng, 'dest_lng');
  PERFORM require_arg(departure_time, 'departure_time');
  PERFORM require_arg(total_seats, 'total_seats');
  PERFORM require_arg(trip_type, 'trip_type');
  PERFORM require_arg(publish, 'publish');

  -- who organises it, for which tenant
  IF trusted THEN
    PERFORM require_arg(organizer, 'organizer_id');
  ELSE
    organizer := coalesce(organizer, current_user_id());
    PERFORM assert_acting_as(organizer);
    IF current_app_role() IS DISTINCT FROM 'ADMIN' THEN
      IF tenant IS NOT NULL AND tenant IS DISTINCT FROM current_tenant_id() THEN
        RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'not allowed to create trips for another tenant';
      END IF;
      tenant := current_tenant_id();
    END IF;
  END IF;
  IF NOT EXISTS (SELECT 1 FROM users u WHERE u.id = organizer) THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'organizer not found',
      DETAIL = format('No user with id %s.', organizer);
  END IF;
  IF tenant IS NOT NULL AND NOT EXISTS (SELECT 1 FROM tenants t WHERE t.id = tenant) THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'tenant not found',
      DETAIL = format('No tenant with id %s.', tenant);
  END IF;

  -- places, times, seats
  IF length(btrim(title)) NOT BETWEEN 1 AND 200 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'title must be a text of 1 to 200 characters';
  END IF;
  IF length(description) > 5000 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'description must be at most 5000 characters';
  END IF;
  IF length(btrim(origin_name)) NOT BETWEEN 1 AND 200 OR length(btrim(dest_name)) NOT BETWEEN 1 AND 200 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'origin_name and dest_name must be texts of 1 to 200 characters';
  END IF;
  IF length(origin_address) > 500 OR length(dest_address) > 500 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'addresses must be at most 500 characters';
  END IF;
  IF NOT is_valid_lat(origin_lat) OR NOT is_valid_lng(origin_lng) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'origin coordinates out of range',
      DETAIL = 'lat must be in -90..90 and lng in -180..180.';
  END IF;
  IF NOT is_valid_lat(dest_lat) OR NOT is_valid_lng(dest_lng) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'destination coordinates out of range',
      DETAIL = 'lat must be in -90..90 and lng in -180..180.';
  END IF;
  PERFORM validate_itinerary(itinerary);
  IF departure_time <= now() THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'departure_time must be in the future';
  END IF;
  IF return_time IS NOT NULL AND return_time <= departure_time THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'return_time must be after departure_time';
  END IF;
  IF total_seats NOT BETWEEN 1 AND 60 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'total_seats must be between 1 and 60',
      DETAIL = format('total_seats is %s.', total_seats);
  END IF;
  IF driver_discovery_radius IS NULL OR driver_discovery_radius NOT BETWEEN 100 AND 500000 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'driver_discovery_radius must be between 100 and 500000 metres';
  END IF;

  -- zone and currency: the argument, else the tenant's, else Almaty and tenge
  tz := coalesce(timezone, (SELECT t.timezone FROM tenants t WHERE t.id = tenant), 'Asia/Almaty');
  IF NOT is_valid_timezone(tz) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'timezone is not a known IANA time zone',
      DETAIL = format('timezone is %s.', left(tz, 100)), HINT = 'For example Asia/Almaty.';
  END IF;
  cur := coalesce(currency, (SELECT t.currency FROM tenants t WHERE t.id = tenant), 'KZT');
  IF NOT EXISTS (SELECT 1 FROM currencies c WHERE c.code = cur) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'currency is not a known ISO 4217 code',
      DETAIL = format('currency is %s.', left(cur, 10));
  END IF;

  -- prices: PRIVATE the whole vehicle, SHARED by the seat
  IF trip_type = 'PRIVATE' THEN
    IF base_price IS NULL THEN
      RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'base_price must not be null for a PRIVATE trip';
    END IF;
    gross := base_price;
  ELSE
    IF price_per_seat IS NULL THEN
      RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'price_per_seat must not be null for a SHARED trip';
    END IF;
    gross := price_per_seat * total_seats;
  END IF;
  IF base_price < 0 OR price_per_seat < 0 OR base_price >= 1e12 OR price_per_seat >= 1e10 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'prices must be between 0 and 10^12';
  END IF;
  IF NOT money_fits_currency(coalesce(base_price, 0), cur) OR NOT money_fits_currency(coalesce(price_per_seat, 0), cur) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'prices have more decimals than the currency''s minor unit',
      DETAIL = format('currency %s', cur);
  END IF;
  SELECT * INTO split
    FROM payout_split(gross, platform_rate(tenant), (SELECT c.minor_unit FROM currencies c WHERE c.code = cur));

  INSERT INTO trips (title, description, organizer_id, departure_time, return_time, timezone,
                     origin_name, origin_address, origin_lat, origin_lng,
                     dest_name, dest_address, dest_lat, dest_lng,
                     total_seats, available_seats, base_price, price_per_seat, currency,
                     platform_fee, estimated_earnings, itinerary, status, trip_type, tenant_id,
                     driver_discovery_radius)
  VALUES (btrim(title), description, organizer, departure_time, return_time, tz,
          btrim(origin_name), origin_address, origin_lat, origin_lng,
          btrim(dest_name), dest_address, dest_lat, dest_lng,
          total_seats, total_seats, coalesce(base_price, 0), price_per_seat, cur,
          split.platform_fee, split.driver_amount, itinerary, 'DRAFT', trip_type, tenant,
          driver_discovery_radius)
  RETURNING id INTO new_id;
  INSERT INTO trip_status_history (trip_id, from_status, to_status, actor_id, reason)
  VALUES (new_id, NULL, 'DRAFT', CASE WHEN trusted THEN organizer ELSE current_user_id() END, 'created');

  IF publish THEN
    PERFORM transition_trip(new_id, 'PUBLISHED', CASE WHEN trusted THEN organizer END, NULL);
  END IF;
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION create_trip(text, text, float8, float8, text, float8, float8, timestamptz, integer, trip_type,
                                numeric, numeric, text, text, timestamptz, text, text, jsonb, text, integer, uuid, uuid, boolean) IS
  'Creates a trip in DRAFT (published at once with publish => true) and returns its id. PRIVATE: the whole vehicle for one booking at base_price; SHARED: seats sold one by one at price_per_seat. platform_fee and estimated_earnings are the payout split of the full price (base_price, or price_per_seat times total_seats) at the tenant''s platform rate (15 % by default). Zone and currency default to the tenant''s, else Asia/Almaty and KZT. The organizer is the caller (an admin or a trusted backend names organizer_id). Invalid values raise 22023, missing ones 22004, unknown organizer or tenant PT404.';
SELECT api_expose('create_trip(text, text, float8, float8, text, float8, float8, timestamptz, integer, trip_type, numeric, numeric, text, text, timestamptz, text, text, jsonb, text, integer, uuid, uuid, boolean)'::regprocedure, 'authenticated');

-- ---------------------------------------------------------------------------
-- transition_trip: the one way to move a trip by hand
-- ---------------------------------------------------------------------------
CREATE FUNCTION transition_trip(trip_id uuid, new_status trip_status, actor_id uuid DEFAULT NULL,
                                reason text DEFAULT NULL)
  RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  t trips%ROWTYPE;
  rule record;
  trusted boolean := is_trusted_caller();
  actor uuid;
  actor_role user_role;
  driver_user uuid;
  who text[] := '{}';
  pending_n integer;
  was_on_road boolean;
BEGIN
  PERFORM require_arg(trip_id, 'trip_id');
  PERFORM require_arg(new_status, 'new_status');
  IF length(reason) > 1000 THEN
    RAISE EXCEPTION USING ERRCODE = '22001', MESSAGE = 'reason must be at most 1000 characters';
  END IF;

  SELECT * INTO t FROM trips WHERE id = transition_trip.trip_id FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'trip not found',
      DETAIL = format('No trip with id %s.', transition_trip.trip_id);
  END IF;
  PERFORM assert_trip_visible(t.tenant_id, t.id);

  -- the acting user: the caller, or the user a trusted backend names
  IF trusted THEN
    actor := transition_trip.actor_id;
  ELSE
    actor := current_user_id();
    IF actor IS NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'authentication required';
    END IF;
    IF transition_trip.actor_id IS NOT NULL AND transition_trip.actor_id IS DISTINCT FROM actor THEN
      RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'not allowed to act for another user';
    END IF;
  END IF;
  IF actor IS NOT NULL THEN
    SELECT u.role INTO actor_role FROM users u WHERE u.id = actor;
    IF NOT FOUND THEN
      RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'actor not found',
        DETAIL = format('No user with id %s.', actor);
    END IF;
    IF NOT trusted THEN
      actor_role := current_app_role();
    END IF;
    SELECT d.user_id INTO driver_user FROM drivers d WHERE d.id = t.driver_id;
    IF actor = t.organizer_id THEN who := array_append(who, 'organizer'); END IF;
    IF actor = driver_user THEN who := array_append(who, 'driver'); END IF;
    IF actor_role = 'ADMIN' THEN who := array_append(who, 'admin'); END IF;
  END IF;

  SELECT * INTO rule FROM trip_status_transitions() s
   WHERE s.from_status = t.status AND s.to_status = new_status;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409',
      MESSAGE = format('invalid status transition from %s to %s', t.status, new_status),
      HINT = 'SELECT * FROM steppergo.trip_status_transitions() lists the allowed moves.';
  END IF;
  IF rule.allowed && '{dispatch}' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409',
      MESSAGE = format('the move from %s to %s belongs to dispatch', t.status, new_status),
      HINT = 'Offers move trips into and out of OFFERED: offer_trip, accept_trip, decline_trip.';
  END IF;
  IF rule.allowed && '{seats}' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409',
      MESSAGE = format('the move from %s to %s follows the seats', t.status, new_status),
      HINT = 'book_seats fills a trip, cancel_booking reopens it.';
  END IF;
  IF NOT (trusted AND actor IS NULL) AND NOT (rule.allowed && who) THEN
    RAISE EXCEPTION USING ERRCODE = '42501',
      MESSAGE = format('not allowed to move the trip from %s to %s', t.status, new_status),
      DETAIL = format('Allowed: %s.', array_to_string(rule.allowed, ', '));
  END IF;

  -- what the move requires
  IF new_status = 'PUBLISHED' AND t.departure_time <= now() THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'cannot publish a trip whose departure time has passed';
  END IF;
  IF new_status = 'IN_PROGRESS' AND t.driver_id IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409',
      MESSAGE = format('cannot move the trip from %s to IN_PROGRESS without a driver', t.status);
  END IF;
  IF t.status = 'DELAYED' THEN
    IF new_status IN ('EN_ROUTE', 'DRIVER_ARRIVED') AND t.passengers_boarded_at IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'PT409',
        MESSAGE = format('invalid status transition from DELAYED to %s: passengers are on board', new_status);
    END IF;
    IF new_status IN ('IN_TRANSIT', 'ARRIVED') AND t.passengers_boarded_at IS NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'PT409',
        MESSAGE = format('invalid status transition from DELAYED to %s: passengers are not on board', new_status);
    END IF;
    IF new_status = 'CANCELLED' AND t.passengers_boarded_at IS NOT NULL
       AND NOT (trusted AND actor IS NULL) AND NOT ('admin' = ANY (who)) THEN
      RAISE EXCEPTION USING ERRCODE = '42501',
        MESSAGE = 'not allowed to move the trip from DELAYED to CANCELLED: passengers are on board';
    END IF;
  END IF;
  IF new_status = 'PASSENGERS_BOARDED' THEN
    SELECT count(*) INTO pending_n FROM bookings b
     WHERE b.trip_id = t.id AND b.status IN ('PENDING', 'CONFIRMED')
       AND b.boarded_at IS NULL AND b.no_show_at IS NULL;
    IF pending_n > 0 THEN
      RAISE EXCEPTION USING ERRCODE = 'PT409',
        MESSAGE = format('cannot move the trip from %s to PASSENGERS_BOARDED', t.status),
        DETAIL = format('%s live bookings are neither boarded nor marked no-show.', pending_n);
    END IF;
  END IF;

  was_on_road := t.status NOT IN ('DRAFT', 'PUBLISHED', 'OFFERED', 'FULL');

  -- side effects, in this transaction
  IF new_status = 'IN_PROGRESS' THEN
    PERFORM set_driver_availability(t.driver_id, 'BUSY', format('trip %s started', t.id), 'system');
  ELSIF new_status = 'COMPLETED' THEN
    UPDATE bookings b SET status = 'COMPLETED', completed_at = now()
     WHERE b.trip_id = t.id AND b.status = 'CONFIRMED';
    -- unpaid bookings never travelled: cancelled, their seats released
    WITH c AS (
      UPDATE bookings b SET status = 'CANCELLED', cancelled_at = now(), expires_at = NULL,
                            cancellation_reason = 'unpaid when the trip completed'
       WHERE b.trip_id = t.id AND b.status = 'PENDING'
      RETURNING b.seats_booked)
    SELECT coalesce(sum(seats_booked), 0) INTO pending_n FROM c;
    t.available_seats := t.available_seats + pending_n;
    IF t.driver_id IS NOT NULL THEN
      UPDATE drivers d SET completed_trips = d.completed_trips + 1 WHERE d.id = t.driver_id;
      PERFORM set_driver_availability(t.driver_id, 'ONLINE', format('trip %s completed', t.id), 'system');
    END IF;
  ELSIF new_status = 'CANCELLED' THEN
    WITH c AS (
      UPDATE bookings b SET status = 'CANCELLED', cancelled_at = now(), expires_at = NULL,
                            cancellation_reason = left('trip cancelled' || coalesce(': ' || reason, ''), 1000)
       WHERE b.trip_id = t.id AND b.status IN ('PENDING', 'CONFIRMED')
      RETURNING b.id, b.seats_booked),
    p AS (
      UPDATE payments p SET refund_requested_at = now()
        FROM c WHERE p.booking_id = c.id AND p.status = 'SUCCEEDED' AND p.refund_requested_at IS NULL
      RETURNING p.id)
    SELECT coalesce(sum(c.seats_booked), 0) INTO pending_n FROM c;
    t.available_seats := t.available_seats + pending_n;
    IF was_on_road AND t.driver_id IS NOT NULL THEN
      PERFORM set_driver_availability(t.driver_id, 'ONLINE', format('trip %s cancelled', t.id), 'system');
    END IF;
  END IF;

  UPDATE trips x
     SET status = new_status,
         available_seats = t.available_seats,
         published_at = CASE WHEN new_status = 'PUBLISHED' THEN coalesce(x.published_at, now()) ELSE x.published_at END,
         started_at = CASE WHEN new_status = 'IN_PROGRESS' THEN now() ELSE x.started_at END,
         driver_arrived_at = CASE WHEN new_status = 'DRIVER_ARRIVED' THEN now() ELSE x.driver_arrived_at END,
         passengers_boarded_at = CASE WHEN new_status = 'PASSENGERS_BOARDED' THEN now() ELSE x.passengers_boarded_at END,
         completed_at = CASE WHEN new_status = 'COMPLETED' THEN now() ELSE x.completed_at END,
         cancelled_at = CASE WHEN new_status = 'CANCELLED' THEN now() ELSE x.cancelled_at END,
         cancellation_reason = CASE WHEN new_status = 'CANCELLED' THEN reason ELSE x.cancellation_reason END
   WHERE x.id = t.id;
  INSERT INTO trip_status_history (trip_id, from_status, to_status, actor_id, reason)
  VALUES (t.id, t.status, new_status, actor, reason);
END
$$;
COMMENT ON FUNCTION transition_trip(uuid, trip_status, uuid, text) IS
  'Moves a trip to another status by the table of trip_status_transitions(): an illegal move raises PT409 naming both statuses, a move the caller may not make 42501. Records every move in trip_status_history (actor: the caller, or actor_id when a trusted backend acts for a user; NULL for the platform). Side effects in the same transaction: IN_PROGRESS marks the driver BUSY; COMPLETED completes the confirmed bookings (unpaid ones are cancelled), sets completed_at, counts the driver''s completed_trips and frees the driver (ONLINE); CANCELLED cancels every live booking, releases the seats, marks paid payments for refund (payments.refund_requested_at) and frees a driver who was on the road. Moves into and out of OFFERED belong to dispatch, FULL follows the seats.';
SELECT api_expose('transition_trip(uuid, trip_status, uuid, text)'::regprocedure, 'authenticated');

CREATE FUNCTION publish_trip(trip_id uuid) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
BEGIN
  PERFORM transition_trip(trip_id, 'PUBLISHED');
END
$$;
COMMENT ON FUNCTION publish_trip(uuid) IS
  'Publishes a DRAFT trip (transition_trip to PUBLISHED): it becomes bookable and visible to dispatch. Only the organizer or an admin; the departure must be in the future.';
SELECT api_expose('publish_trip(uuid)'::regprocedure, 'authenticated');

-- ---------------------------------------------------------------------------
-- Seats (C): book_seats, cancel_booking, expiry of unpaid bookings
-- ---------------------------------------------------------------------------
CREATE FUNCTION book_seats(trip_id uuid, user_id uuid, seats integer, passengers jsonb DEFAULT '[]',
                           payment_method payment_method_type DEFAULT 'ONLINE')
  RETURNS uuid
  AS 'MODULE_PATHNAME', 'sg_trips_book_seats'
  LANGUAGE C VOLATILE SECURITY DEFINER
  SET search_path FROM CURRENT;
COMMENT ON FUNCTION book_seats(uuid, uuid, integer, jsonb, payment_method_type) IS
  'Books seats on a PUBLISHED or OFFERED trip for the user and returns the booking id. passengers lists one entry per seat ({"name", "phone"? E.164, "age"?, "isChild"?}); an empty array books one seat for the user. SHARED: seats at price_per_seat each. PRIVATE: the whole vehicle (every seat, base_price) for one booking; seats is the party size. ONLINE bookings are PENDING until paid and expire after steppergo.booking_payment_timeout (expires_at); CASH_TO_DRIVER bookings are CONFIRMED at once. Taking the last seat moves a PUBLISHED trip to FULL. Refusals: PT404 unknown trip or user, PT409 not bookable, departed, not enough seats, private trip already booked, the user already has a live booking on the trip; 22023 bad seats or passengers. Seats are allocated under the trip''s row lock: available_seats never drops below zero and always equals total_seats minus the seats of the live bookings.';
SELECT api_expose('book_seats(uuid, uuid, integer, jsonb, payment_method_type)'::regprocedure, 'authenticated');

CREATE FUNCTION cancel_booking(booking_id uuid, reason text DEFAULT NULL)
  RETURNS void
  AS 'MODULE_PATHNAME', 'sg_trips_cancel_booking'
  LANGUAGE C VOLATILE SECURITY DEFINER
  SET search_path FROM CURRENT;
COMMENT ON FUNCTION cancel_booking(uuid, text) IS
  'Cancels a live (PENDING or CONFIRMED) booking of the caller (or any, for an admin): releases its seats, reopens a FULL trip (PUBLISHED) and marks a paid payment for refund (payments.refund_requested_at). Cancelling twice, or a boarded booking, is PT409; unknown booking PT404.';
SELECT api_expose('cancel_booking(uuid, text)'::regprocedure, 'authenticated');

CREATE FUNCTION expire_booking(booking_id uuid)
  RETURNS boolean
  AS 'MODULE_PATHNAME', 'sg_trips_expire_booking'
  LANGUAGE C VOLATILE
  SET search_path FROM CURRENT;
COMMENT ON FUNCTION expire_booking(uuid) IS
  'Internal (the expiry job): cancels one booking that is still PENDING past its expires_at and releases its seats, under the same locks as cancel_booking; false when it is not (paid meanwhile, already cancelled).';
REVOKE ALL ON FUNCTION expire_booking(uuid) FROM PUBLIC;

CREATE FUNCTION expire_unpaid_bookings(max_bookings integer DEFAULT 1000) RETURNS integer
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  b record;
  n integer := 0;
BEGIN
  IF NOT is_trusted_caller() THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'expire_unpaid_bookings is for trusted backends and the job';
  END IF;
  FOR b IN SELECT x.id FROM bookings x
            WHERE x.status = 'PENDING' AND x.expires_at <= now()
            ORDER BY x.expires_at LIMIT coalesce(max_bookings, 1000) LOOP
    IF expire_booking(b.id) THEN
      n := n + 1;
    END IF;
  END LOOP;
  RETURN n;
END
$$;
COMMENT ON FUNCTION expire_unpaid_bookings(integer) IS
  'The expiry job: cancels unpaid ONLINE bookings past their expires_at (steppergo.booking_payment_timeout after booking, default 15 minutes), at most max_bookings per call, releasing their seats; returns how many. A payment that succeeds afterwards is marked for refund, never given a seat that is gone.';
SELECT api_expose('expire_unpaid_bookings(integer)'::regprocedure, 'service');

INSERT INTO job_definitions (name, schedule, command, description) VALUES
  ('steppergo_expire_unpaid_bookings', '* * * * *', 'SELECT steppergo.expire_unpaid_bookings()',
   'Every minute: cancels unpaid ONLINE bookings past their expires_at and releases their seats.');

-- ---------------------------------------------------------------------------
-- Boarding codes
-- ---------------------------------------------------------------------------
CREATE FUNCTION boarding_code_new() RETURNS text
  AS 'MODULE_PATHNAME', 'sg_trips_boarding_code_new'
  LANGUAGE C VOLATILE
  SET search_path FROM CURRENT;
COMMENT ON FUNCTION boarding_code_new() IS 'Internal: four uniformly random digits (libsodium).';
REVOKE ALL ON FUNCTION boarding_code_new() FROM PUBLIC;

CREATE FUNCTION boarding_code_hash(booking_id uuid, code text) RETURNS bytea
  AS 'MODULE_PATHNAME', 'sg_trips_boarding_code_hash'
  LANGUAGE C STABLE
  SET search_path FROM CURRENT;
COMMENT ON FUNCTION boarding_code_hash(uuid, text) IS
  'Internal: keyed BLAKE2b-256 (steppergo.otp_key) of a boarding code, bound to its booking.';
REVOKE ALL ON FUNCTION boarding_code_hash(uuid, text) FROM PUBLIC;

CREATE FUNCTION boarding_code_check(booking_id uuid, code text, stored bytea) RETURNS boolean
  AS 'MODULE_PATHNAME', 'sg_trips_boarding_code_check'
  LANGUAGE C STABLE
  SET search_path FROM CURRENT;
COMMENT ON FUNCTION boarding_code_check(uuid, text, bytea) IS
  'Internal: true when the code matches the stored hash (constant-time comparison); false for a wrong or malformed code.';
REVOKE ALL ON FUNCTION boarding_code_check(uuid, text, bytea) FROM PUBLIC;

CREATE FUNCTION issue_boarding_code(booking_id uuid) RETURNS text
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  b bookings%ROWTYPE;
  tstatus trip_status;
  code text;
BEGIN
  PERFORM require_arg(booking_id, 'booking_id');
  SELECT * INTO b FROM bookings x WHERE x.id = issue_boarding_code.booking_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'booking not found',
      DETAIL = format('No booking with id %s.', issue_boarding_code.booking_id);
  END IF;
  PERFORM assert_acting_as(b.user_id);
  IF b.status <> 'CONFIRMED' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'only a CONFIRMED booking gets a boarding code',
      DETAIL = format('The booking is %s.', b.status);
  END IF;
  IF b.boarded_at IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'the passenger has already boarded';
  END IF;
  SELECT t.status INTO tstatus FROM trips t WHERE t.id = b.trip_id;
  IF tstatus IN ('COMPLETED', 'CANCELLED', 'PASSENGERS_BOARDED', 'IN_TRANSIT', 'ARRIVED') THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'boarding is over for this trip',
      DETAIL = format('The trip is %s.', tstatus);
  END IF;
  code := boarding_code_new();
  UPDATE bookings x
     SET boarding_code_hash = boarding_code_hash(x.id, code), boarding_code_issued_at = now(), boarding_attempts = 0
   WHERE x.id = b.id;
  RETURN code;
END
$$;
COMMENT ON FUNCTION issue_boarding_code(uuid) IS
  'Issues the 4-digit boarding code of the caller''s CONFIRMED booking and returns it: shown this once, stored only as a keyed hash. Issuing again replaces the code (the old one stops working) and clears wrong attempts. PT409 for a booking that is not CONFIRMED, already boarded, or a trip past boarding.';
SELECT api_expose('issue_boarding_code(uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION assert_trip_driver(t trips) RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF is_trusted_caller() THEN
    RETURN;
  END IF;
  IF current_user_id() IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'authentication required';
  END IF;
  IF current_app_role() IS DISTINCT FROM 'ADMIN'
     AND NOT EXISTS (SELECT 1 FROM drivers d WHERE d.id = (t).driver_id AND d.user_id = current_user_id()) THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'only the trip''s driver may do this';
  END IF;
END
$$;
COMMENT ON FUNCTION assert_trip_driver(trips) IS
  'Internal: raises 42501 unless the caller is the trip''s driver, an admin or a trusted caller (PT401 when anonymous).';

CREATE FUNCTION board_passenger(booking_id uuid, code text) RETURNS boolean
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  trip_ref uuid;
  t trips%ROWTYPE;
  b bookings%ROWTYPE;
BEGIN
  PERFORM require_arg(booking_id, 'booking_id');
  PERFORM require_arg(code, 'code');
  SELECT x.trip_id INTO trip_ref FROM bookings x WHERE x.id = board_passenger.booking_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'booking not found',
      DETAIL = format('No booking with id %s.', board_passenger.booking_id);
  END IF;
  SELECT * INTO t FROM trips x WHERE x.id = trip_ref FOR NO KEY UPDATE;
  PERFORM assert_trip_driver(t);
  SELECT * INTO b FROM bookings x WHERE x.id = board_passenger.booking_id FOR UPDATE;
  IF t.status <> 'DRIVER_ARRIVED' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'passengers board while the trip is DRIVER_ARRIVED',
      DETAIL = format('The trip is %s.', t.status);
  END IF;
  IF b.status <> 'CONFIRMED' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'only a CONFIRMED booking can board',
      DETAIL = format('The booking is %s.', b.status);
  END IF;
  IF b.boarded_at IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'the passenger has already boarded';
  END IF;
  IF b.boarding_code_hash IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'no boarding code was issued for this booking',
      HINT = 'The passenger gets one with issue_boarding_code.';
  END IF;
  IF b.boarding_attempts >= 5 THEN
    RAISE EXCEPTION USING ERRCODE = 'PT429', MESSAGE = 'too many wrong boarding codes',
      HINT = 'The passenger issues a new code with issue_boarding_code.';
  END IF;
  IF NOT boarding_code_check(b.id, code, b.boarding_code_hash) THEN
    UPDATE bookings x SET boarding_attempts = x.boarding_attempts + 1 WHERE x.id = b.id;
    RETURN false;
  END IF;
  UPDATE bookings x SET boarded_at = now(), no_show_at = NULL WHERE x.id = b.id;
  RETURN true;
END
$$;
COMMENT ON FUNCTION board_passenger(uuid, text) IS
  'The driver enters the passenger''s boarding code while the trip is DRIVER_ARRIVED: true marks the booking boarded (clearing a no-show), false is a wrong code (counted; after 5 wrong codes PT429 until the passenger issues a new one). PT409 when the booking is not CONFIRMED, already boarded, or has no code; 42501 unless the trip''s driver or an admin.';
SELECT api_expose('board_passenger(uuid, text)'::regprocedure, 'authenticated');

CREATE FUNCTION mark_no_show(booking_id uuid) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  trip_ref uuid;
  t trips%ROWTYPE;
  b bookings%ROWTYPE;
  wait interval := current_setting('steppergo.boarding_wait')::interval;
BEGIN
  PERFORM require_arg(booking_id, 'booking_id');
  SELECT x.trip_id INTO trip_ref FROM bookings x WHERE x.id = mark_no_show.booking_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'booking not found',
      DETAIL = format('No booking with id %s.', mark_no_show.booking_id);
  END IF;
  SELECT * INTO t FROM trips x WHERE x.id = trip_ref FOR NO KEY UPDATE;
  PERFORM assert_trip_driver(t);
  SELECT * INTO b FROM bookings x WHERE x.id = mark_no_show.booking_id FOR UPDATE;
  IF t.status <> 'DRIVER_ARRIVED' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'no-shows are marked while the trip is DRIVER_ARRIVED',
      DETAIL = format('The trip is %s.', t.status);
  END IF;
  IF b.status NOT IN ('PENDING', 'CONFIRMED') THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'booking is not live',
      DETAIL = format('The booking is %s.', b.status);
  END IF;
  IF b.boarded_at IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'the passenger has already boarded';
  END IF;
  IF now() < t.driver_arrived_at + wait THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'the waiting time has not passed yet',
      DETAIL = format('A no-show may be marked from %s (steppergo.boarding_wait = %s after the driver arrived).',
                      to_char((t.driver_arrived_at + wait) AT TIME ZONE t.timezone, 'YYYY-MM-DD HH24:MI:SS')
                        || ' ' || t.timezone, wait);
  END IF;
  UPDATE bookings x SET no_show_at = coalesce(x.no_show_at, now()) WHERE x.id = b.id;
END
$$;
COMMENT ON FUNCTION mark_no_show(uuid) IS
  'The driver marks a live booking that has not boarded a no-show, once steppergo.boarding_wait (default 5 minutes) has passed since the trip became DRIVER_ARRIVED; the booking keeps its seats and completes with the trip. PT409 before the waiting time or for a boarded or dead booking; 42501 unless the trip''s driver or an admin.';
SELECT api_expose('mark_no_show(uuid)'::regprocedure, 'authenticated');

-- ---------------------------------------------------------------------------
-- Driver reviews
-- ---------------------------------------------------------------------------
CREATE FUNCTION recount_driver_rating(driver_id uuid) RETURNS void
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
BEGIN
  -- lock first, then count in a later statement: its snapshot sees every
  -- review committed by whoever held the lock before us
  PERFORM 1 FROM drivers d WHERE d.id = recount_driver_rating.driver_id FOR UPDATE;
  UPDATE drivers d
     SET rating = coalesce(s.avg_rating, 0), review_count = s.n
    FROM (SELECT round(avg(r.rating), 2) AS avg_rating, count(*)::integer AS n
            FROM reviews r WHERE r.driver_id = recount_driver_rating.driver_id) s
   WHERE d.id = recount_driver_rating.driver_id;
END
$$;
COMMENT ON FUNCTION recount_driver_rating(uuid) IS
  'Internal: sets drivers.rating (average, 2 decimals; 0 without reviews) and review_count from the driver''s reviews, under the driver''s row lock, so concurrent reviews leave them exact.';

CREATE FUNCTION review_driver(booking_id uuid, rating integer, comment text DEFAULT NULL) RETURNS uuid
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  b bookings%ROWTYPE;
  drv uuid;
  new_id uuid;
BEGIN
  PERFORM require_arg(booking_id, 'booking_id');
  PERFORM require_arg(rating, 'rating');
  IF rating NOT BETWEEN 1 AND 5 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'rating must be between 1 and 5',
      DETAIL = format('rating is %s.', rating);
  END IF;
  IF length(comment) > 2000 THEN
    RAISE EXCEPTION USING ERRCODE = '22001', MESSAGE = 'comment must be at most 2000 characters';
  END IF;
  SELECT * INTO b FROM bookings x WHERE x.id = review_driver.booking_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'booking not found',
      DETAIL = format('No booking with id %s.', review_driver.booking_id);
  END IF;
  PERFORM assert_acting_as(b.user_id);
  IF b.status <> 'COMPLETED' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'only a COMPLETED booking can be reviewed',
      DETAIL = format('The booking is %s.', b.status);
  END IF;
  SELECT t.driver_id INTO drv FROM trips t WHERE t.id = b.trip_id;
  IF drv IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'the trip had no driver';
  END IF;
  BEGIN
    INSERT INTO reviews (driver_id, trip_id, rating, comment, reviewer_id, reviewer_name)
    VALUES (drv, b.trip_id, rating, comment, b.user_id, (SELECT u.name FROM users u WHERE u.id = b.user_id))
    RETURNING id INTO new_id;
  EXCEPTION WHEN unique_violation THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'the passenger has already reviewed this trip';
  END;
  PERFORM recount_driver_rating(drv);
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION review_driver(uuid, integer, text) IS
  'The passenger of a COMPLETED booking reviews the trip''s driver: rating 1..5 and an optional comment; once per passenger and trip (again: PT409). drivers.rating and review_count are recomputed in the same transaction. Returns the review id.';
SELECT api_expose('review_driver(uuid, integer, text)'::regprocedure, 'authenticated');

CREATE FUNCTION respond_to_review(review_id uuid, response text) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  r reviews%ROWTYPE;
  driver_user uuid;
BEGIN
  PERFORM require_arg(review_id, 'review_id');
  PERFORM require_arg(response, 'response');
  IF length(btrim(response)) NOT BETWEEN 1 AND 2000 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'response must be a text of 1 to 2000 characters';
  END IF;
  SELECT * INTO r FROM reviews x WHERE x.id = respond_to_review.review_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'review not found',
      DETAIL = format('No review with id %s.', respond_to_review.review_id);
  END IF;
  SELECT d.user_id INTO driver_user FROM drivers d WHERE d.id = r.driver_id;
  PERFORM assert_acting_as(driver_user);
  IF r.response IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'the review already has a response';
  END IF;
  UPDATE reviews x SET response = respond_to_review.response, responded_at = now() WHERE x.id = r.id;
END
$$;
COMMENT ON FUNCTION respond_to_review(uuid, text) IS
  'The reviewed driver responds to a review, once (again: PT409); 42501 for anyone but the driver or an admin.';
SELECT api_expose('respond_to_review(uuid, text)'::regprocedure, 'authenticated');

-- ---------------------------------------------------------------------------
-- Payments: PaymentIntents and Stripe webhooks
-- ---------------------------------------------------------------------------
CREATE FUNCTION payment_may_move(from_status payment_status, to_status payment_status) RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  SET search_path FROM CURRENT
  RETURN CASE to_status
           WHEN 'PROCESSING' THEN from_status IN ('PENDING', 'FAILED')
           WHEN 'SUCCEEDED'  THEN from_status IN ('PENDING', 'PROCESSING', 'FAILED', 'CANCELLED')
           WHEN 'FAILED'     THEN from_status IN ('PENDING', 'PROCESSING')
           WHEN 'CANCELLED'  THEN from_status IN ('PENDING', 'PROCESSING', 'FAILED')
           WHEN 'REFUNDED'   THEN from_status <> 'REFUNDED'
           ELSE false
         END;
COMMENT ON FUNCTION payment_may_move(payment_status, payment_status) IS
  'Whether a provider event may move a payment from one status to another: payments only move forwards (PENDING, PROCESSING, FAILED/CANCELLED retryable, SUCCEEDED, REFUNDED last), so a late or repeated event is ignored.';

CREATE FUNCTION attach_payment_intent(booking_id uuid, intent_id text, client_secret text,
                                      amount numeric, currency text DEFAULT 'KZT')
  RETURNS uuid
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  b bookings%ROWTYPE;
  p payments%ROWTYPE;
  pay_id uuid;
  trip_ref uuid;
  w record;
BEGIN
  PERFORM require_arg(booking_id, 'booking_id');
  PERFORM require_arg(intent_id, 'intent_id');
  PERFORM require_arg(amount, 'amount');
  PERFORM require_arg(currency, 'currency');
  IF intent_id !~ '^pi_[A-Za-z0-9_]{1,252}$' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'intent_id must be a Stripe PaymentIntent id (pi_...)';
  END IF;
  IF length(client_secret) > 500 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'client_secret must be at most 500 characters';
  END IF;
  -- lock order: trip, booking, payment (applying waiting events locks the trip)
  SELECT x.trip_id INTO trip_ref FROM bookings x WHERE x.id = attach_payment_intent.booking_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'booking not found',
      DETAIL = format('No booking with id %s.', attach_payment_intent.booking_id);
  END IF;
  PERFORM 1 FROM trips t WHERE t.id = trip_ref FOR NO KEY UPDATE;
  SELECT * INTO b FROM bookings x WHERE x.id = attach_payment_intent.booking_id FOR UPDATE;
  PERFORM assert_acting_as(b.user_id);
  IF b.payment_method_type <> 'ONLINE' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'the booking is paid in cash to the driver';
  END IF;
  IF amount <> b.total_amount OR upper(currency) <> b.currency THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'amount and currency must match the booking',
      DETAIL = format('The booking costs %s %s; the intent is for %s %s.', b.total_amount, b.currency,
                      amount, left(currency, 10));
  END IF;

  SELECT * INTO p FROM payments x WHERE x.booking_id = b.id FOR UPDATE;
  IF FOUND AND p.stripe_intent_id = intent_id THEN
    UPDATE payments x SET stripe_client_secret = coalesce(client_secret, x.stripe_client_secret) WHERE x.id = p.id;
    pay_id := p.id;
  ELSE
    IF b.status <> 'PENDING' THEN
      RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'only a PENDING booking can be paid',
        DETAIL = format('The booking is %s.', b.status);
    END IF;
    IF FOUND THEN
      IF p.status NOT IN ('PENDING', 'FAILED', 'CANCELLED') THEN
        RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'the booking''s payment is already under way',
          DETAIL = format('Payment %s is %s with intent %s.', p.id, p.status, p.stripe_intent_id);
      END IF;
      UPDATE payments x
         SET stripe_intent_id = intent_id, stripe_client_secret = client_secret, amount = b.total_amount,
             currency = b.currency, status = 'PENDING', error_message = NULL, failed_at = NULL
       WHERE x.id = p.id;
      pay_id := p.id;
    ELSE
      INSERT INTO payments (booking_id, stripe_intent_id, stripe_client_secret, amount, currency)
      VALUES (b.id, intent_id, client_secret, b.total_amount, b.currency)
      RETURNING id INTO pay_id;
    END IF;
  END IF;

  -- events that arrived before the intent was known are applied now
  FOR w IN SELECT l.id FROM webhook_logs l
            WHERE NOT l.processed AND l.source = 'stripe'
              AND intent_id IN (l.payload #>> '{data,object,id}', l.payload #>> '{data,object,payment_intent}')
            ORDER BY l.created_at LOOP
    PERFORM apply_webhook(w.id);
  END LOOP;
  RETURN pay_id;
END
$$;
COMMENT ON FUNCTION attach_payment_intent(uuid, text, text, numeric, text) IS
  'Records the Stripe PaymentIntent the application created for a PENDING ONLINE booking (id pi_..., client secret, amount, currency) and returns the payment id. The amount and currency must equal the booking''s (22023 otherwise). Attaching the same intent again is harmless; a new intent replaces one that is PENDING, FAILED or CANCELLED. Webhook events of the intent that arrived earlier are applied now.';
SELECT api_expose('attach_payment_intent(uuid, text, text, numeric, text)'::regprocedure, 'service');

-- Releases the seats of a booking that stops being live (refund); the trip
-- row is locked by the caller.
CREATE FUNCTION release_booking_seats(trip_id uuid, seats integer, reason text) RETURNS void
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  old trip_status;
BEGIN
  SELECT t.status INTO old FROM trips t WHERE t.id = release_booking_seats.trip_id FOR NO KEY UPDATE;
  UPDATE trips t
     SET available_seats = t.available_seats + seats,
         status = CASE WHEN t.status = 'FULL' THEN 'PUBLISHED' ELSE t.status END
   WHERE t.id = release_booking_seats.trip_id;
  IF old = 'FULL' THEN
    INSERT INTO trip_status_history (trip_id, from_status, to_status, actor_id, reason)
    VALUES (release_booking_seats.trip_id, 'FULL', 'PUBLISHED', NULL, reason);
  END IF;
END
$$;
COMMENT ON FUNCTION release_booking_seats(uuid, integer, text) IS
  'Internal: gives a booking''s seats back to its trip and reopens a FULL trip (recorded in trip_status_history).';

CREATE FUNCTION apply_stripe_intent_event(intent text, target payment_status, obj jsonb) RETURNS text
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  pay_ref uuid;
  trip_ref uuid;
  b bookings%ROWTYPE;
  p payments%ROWTYPE;
  ab record;
  minor integer;
  pmd jsonb;
  v_method text;
  v_last4 text;
BEGIN
  SELECT x.id, bk.trip_id INTO pay_ref, trip_ref
    FROM payments x JOIN bookings bk ON bk.id = x.booking_id WHERE x.stripe_intent_id = intent;
  IF NOT FOUND THEN
    -- an activity booking paid through Stripe: plain update, the activities
    -- domain's triggers keep its aggregates
    SELECT * INTO ab FROM activity_bookings a WHERE a.payment_id = intent FOR UPDATE;
    IF NOT FOUND THEN
      RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = format('no payment with intent %s', intent);
    END IF;
    IF NOT payment_may_move(ab.payment_status, target) THEN
      RETURN format('ignored: activity booking payment is %s', ab.payment_status);
    END IF;
    IF target = 'SUCCEEDED' THEN
      minor := (SELECT c.minor_unit FROM currencies c WHERE c.code = ab.currency);
      IF (obj ? 'amount' AND (obj ->> 'amount')::numeric <> ab.total_amount * 10 ^ minor)
         OR (obj ? 'currency' AND upper(obj ->> 'currency') <> ab.currency) THEN
        RAISE EXCEPTION USING ERRCODE = '22023',
          MESSAGE = format('amount %s %s of the event does not match the activity booking (%s %s)',
                           obj ->> 'amount', obj ->> 'currency', ab.total_amount, ab.currency);
      END IF;
    END IF;
    UPDATE activity_bookings a
       SET payment_status = target,
           status = CASE WHEN target = 'SUCCEEDED' AND a.status = 'PENDING' THEN 'CONFIRMED'
                         WHEN target = 'REFUNDED' THEN 'REFUNDED'
                         ELSE a.status END,
           confirmed_at = CASE WHEN target = 'SUCCEEDED' AND a.status = 'PENDING' THEN now() ELSE a.confirmed_at END
     WHERE a.id = ab.id;
    RETURN 'applied to activity booking';
  END IF;

  -- lock order: trip, booking, payment
  PERFORM 1 FROM trips t WHERE t.id = trip_ref FOR NO KEY UPDATE;
  SELECT * INTO b FROM bookings x WHERE x.id = (SELECT y.booking_id FROM payments y WHERE y.id = pay_ref) FOR UPDATE;
  SELECT * INTO p FROM payments x WHERE x.id = pay_ref FOR UPDATE;
  IF NOT payment_may_move(p.status, target) THEN
    RETURN format('ignored: payment is %s', p.status);
  END IF;

  IF target = 'SUCCEEDED' THEN
    minor := (SELECT c.minor_unit FROM currencies c WHERE c.code = p.currency);
    IF obj ? 'amount' AND (obj ->> 'amount')::numeric <> p.amount * 10 ^ minor THEN
      RAISE EXCEPTION USING ERRCODE = '22023',
        MESSAGE = format('amount %s of the event does not match the payment (%s %s)', obj ->> 'amount', p.amount, p.currency);
    END IF;
    IF obj ? 'currency' AND upper(obj ->> 'currency') <> p.currency THEN
      RAISE EXCEPTION USING ERRCODE = '22023',
        MESSAGE = format('currency %s of the event does not match the payment (%s)', obj ->> 'currency', p.currency);
    END IF;
    pmd := coalesce(obj #> '{charges,data,0,payment_method_details}', obj #> '{latest_charge,payment_method_details}');
    v_method := left(coalesce(pmd ->> 'type', obj #>> '{payment_method_types,0}'), 50);
    v_last4 := pmd #>> '{card,last4}';
    IF v_last4 !~ '^[0-9]{4}$' THEN
      v_last4 := NULL;
    END IF;
    UPDATE payments x
       SET status = 'SUCCEEDED', succeeded_at = now(), error_message = NULL,
           payment_method = coalesce(v_method, x.payment_method), last4 = coalesce(v_last4, x.last4),
           refund_requested_at = CASE WHEN b.status IN ('CANCELLED', 'REFUNDED') THEN coalesce(x.refund_requested_at, now())
                                      ELSE x.refund_requested_at END
     WHERE x.id = p.id;
    IF b.status = 'PENDING' THEN
      UPDATE bookings x SET status = 'CONFIRMED', confirmed_at = now(), expires_at = NULL WHERE x.id = b.id;
      RETURN 'booking confirmed';
    END IF;
    IF b.status IN ('CANCELLED', 'REFUNDED') THEN
      RETURN 'paid after the booking was cancelled: marked for refund';
    END IF;
    RETURN 'payment succeeded';
  ELSIF target = 'FAILED' THEN
    UPDATE payments x
       SET status = 'FAILED', failed_at = now(),
           error_message = left(coalesce(obj #>> '{last_payment_error,message}', 'payment failed'), 2000)
     WHERE x.id = p.id;
    RETURN 'payment failed';
  ELSIF target = 'REFUNDED' THEN
    UPDATE payments x SET status = 'REFUNDED', refunded_at = now() WHERE x.id = p.id;
    IF b.status IN ('PENDING', 'CONFIRMED', 'COMPLETED') THEN
      PERFORM release_booking_seats(b.trip_id, b.seats_booked, 'seats released by a refunded booking');
    END IF;
    UPDATE bookings x
       SET status = 'REFUNDED', expires_at = NULL,
           cancelled_at = CASE WHEN b.status IN ('PENDING', 'CONFIRMED') THEN now() ELSE x.cancelled_at END,
           cancellation_reason = CASE WHEN b.status IN ('PENDING', 'CONFIRMED') THEN 'payment refunded' ELSE x.cancellation_reason END
     WHERE x.id = b.id;
    RETURN 'refunded';
  ELSE
    UPDATE payments x SET status = target WHERE x.id = p.id;
    RETURN 'payment ' || lower(target::text);
  END IF;
END
$$;
COMMENT ON FUNCTION apply_stripe_intent_event(text, payment_status, jsonb) IS
  'Internal: applies one PaymentIntent state reported by Stripe to the payment (and booking) with that intent, or to the activity booking whose payment_id it is. Never moves a payment backwards (payment_may_move); raises PT404 when no payment has the intent yet.';

CREATE FUNCTION apply_webhook(log_id uuid) RETURNS boolean
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  w webhook_logs%ROWTYPE;
  obj jsonb;
  intent text;
BEGIN
  SELECT * INTO w FROM webhook_logs l WHERE l.id = log_id FOR UPDATE;
  IF NOT FOUND OR w.processed THEN
    RETURN FOUND;
  END IF;
  BEGIN
    IF w.source = 'stripe' THEN
      obj := w.payload #> '{data,object}';
      IF w.event_type IN ('payment_intent.succeeded', 'payment_intent.payment_failed', 'payment_intent.processing',
                          'payment_intent.canceled', 'charge.refunded') THEN
        IF jsonb_typeof(obj) IS DISTINCT FROM 'object' THEN
          RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'the event has no data.object';
        END IF;
        intent := CASE WHEN w.event_type = 'charge.refunded' THEN obj ->> 'payment_intent' ELSE obj ->> 'id' END;
        IF intent IS NULL OR intent !~ '^pi_[A-Za-z0-9_]{1,252}$' THEN
          RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'the event names no PaymentIntent';
        END IF;
        IF w.event_type = 'charge.refunded' THEN
          IF coalesce(obj ->> 'refunded', 'true') = 'true' THEN
            PERFORM apply_stripe_intent_event(intent, 'REFUNDED', obj);
          END IF;  -- a partial refund changes no status
        ELSE
          PERFORM apply_stripe_intent_event(intent,
            CASE w.event_type
              WHEN 'payment_intent.succeeded' THEN 'SUCCEEDED'
              WHEN 'payment_intent.payment_failed' THEN 'FAILED'
              WHEN 'payment_intent.processing' THEN 'PROCESSING'
              ELSE 'CANCELLED' END::payment_status, obj);
        END IF;
      END IF;
      -- other Stripe event types are recorded and deliberately ignored
    ELSE
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('no handler for webhooks of source %s', w.source);
    END IF;
    UPDATE webhook_logs l
       SET processed = true, processed_at = now(), processing_error = NULL, attempts = l.attempts + 1
     WHERE l.id = w.id;
    RETURN true;
  EXCEPTION WHEN OTHERS THEN
    UPDATE webhook_logs l
       SET attempts = l.attempts + 1,
           processing_error = left(SQLSTATE || ': ' || SQLERRM, 4000)
     WHERE l.id = w.id;
    RETURN false;
  END;
END
$$;
COMMENT ON FUNCTION apply_webhook(uuid) IS
  'Internal: applies one recorded webhook event in a subtransaction. Applied (or deliberately ignored) events become processed; an event that cannot be applied (unknown intent, mismatching amount, malformed payload) stays processed = false with processing_error and is retried later. Returns whether it was processed.';

CREATE FUNCTION record_webhook(source text, event_id text, event_type text, payload jsonb) RETURNS boolean
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  log_id uuid;
BEGIN
  PERFORM require_arg(source, 'source');
  PERFORM require_arg(event_id, 'event_id');
  PERFORM require_arg(event_type, 'event_type');
  PERFORM require_arg(payload, 'payload');
  IF NOT is_trusted_caller() THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'record_webhook is for trusted backends';
  END IF;
  IF source !~ '^[a-z][a-z0-9_-]{0,49}$' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'source must be a lower-case name (stripe, ...)';
  END IF;
  IF length(event_id) NOT BETWEEN 1 AND 255 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'event_id must be 1 to 255 characters';
  END IF;
  IF length(event_type) NOT BETWEEN 1 AND 200 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'event_type must be 1 to 200 characters';
  END IF;
  IF jsonb_typeof(payload) <> 'object' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'payload must be a JSON object';
  END IF;
  INSERT INTO webhook_logs (source, event_type, event_id, payload)
  VALUES (source, event_type, event_id, payload)
  ON CONFLICT ON CONSTRAINT webhook_logs_event_id_key DO NOTHING
  RETURNING id INTO log_id;
  IF log_id IS NULL THEN
    RETURN false;   -- a redelivery: recorded before, changes nothing
  END IF;
  PERFORM apply_webhook(log_id);
  RETURN true;
END
$$;
COMMENT ON FUNCTION record_webhook(text, text, text, jsonb) IS
  'Records a webhook event (unique event_id) and applies it; false when that event id was already recorded (nothing is applied twice, also under concurrent redelivery). Stripe: payment_intent.succeeded → payment SUCCEEDED (method, last4) and booking CONFIRMED (or, for a booking cancelled meanwhile, the payment is marked for refund); payment_intent.payment_failed → FAILED with the error message; payment_intent.processing / canceled → PROCESSING / CANCELLED; charge.refunded (full) → payment and booking REFUNDED, seats released. Payments never move backwards: late events are recorded and ignored. Intents matching activity_bookings.payment_id update that booking. An event that cannot be applied stays processed = false with processing_error (see retry_webhooks). Trusted backends only.';
SELECT api_expose('record_webhook(text, text, text, jsonb)'::regprocedure, 'service');

CREATE FUNCTION retry_webhooks(max_events integer DEFAULT 100) RETURNS integer
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  w record;
  n integer := 0;
BEGIN
  IF NOT is_trusted_caller() THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'retry_webhooks is for trusted backends and the job';
  END IF;
  FOR w IN SELECT l.id FROM webhook_logs l
            WHERE NOT l.processed AND l.source = 'stripe'
            ORDER BY l.created_at
            LIMIT coalesce(max_events, 100)
            FOR UPDATE SKIP LOCKED LOOP
    IF apply_webhook(w.id) THEN
      n := n + 1;
    END IF;
  END LOOP;
  RETURN n;
END
$$;
COMMENT ON FUNCTION retry_webhooks(integer) IS
  'Applies again the unprocessed Stripe events (oldest first, at most max_events, skipping rows another session holds) and returns how many were processed now; the others keep their processing_error and attempts count. Trusted backends and the job only.';
SELECT api_expose('retry_webhooks(integer)'::regprocedure, 'service');

INSERT INTO job_definitions (name, schedule, command, description) VALUES
  ('steppergo_retry_webhooks', '* * * * *', 'SELECT steppergo.retry_webhooks()',
   'Every minute: applies again webhook events that could not be applied yet (a PaymentIntent not attached yet, a transient error).');
