-- ===========================================================================
-- dispatch (release 0.2): matching drivers to trips, offers with acceptance
-- deadlines, and the pg_cron job that acts on expired offers.
-- See src/dispatch/README.md for the score, the settings, the notification
-- channel and how the job works inside its minute.
-- ===========================================================================

-- Indexes for the eligibility probes on trips.  They live here, not in a
-- schema.sql, because the trips table is created after the dispatch domain's
-- schema in the build order.
CREATE INDEX trips_dispatch_assigned_idx ON trips (driver_id, departure_time)
  WHERE status NOT IN ('COMPLETED', 'CANCELLED');
COMMENT ON INDEX trips_dispatch_assigned_idx IS
  'Dispatch: the trips a driver is assigned to and that are not over, probed for overlapping time windows.';

-- find_drivers rewrites shown_at of the rows it returns on every call: leave
-- room on each page so that those updates are HOT (shown_at is not indexed).
ALTER TABLE trip_driver_visibility SET (fillfactor = 70);

-- ---------------------------------------------------------------------------
-- Helpers in C: distances on WGS84 and the score
-- ---------------------------------------------------------------------------
CREATE FUNCTION dispatch_distance(lat1 float8, lng1 float8, lat2 float8, lng2 float8) RETURNS float8
  AS 'MODULE_PATHNAME', 'sg_dispatch_distance'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION dispatch_distance(float8, float8, float8, float8) IS
  'Distance in metres between two points (latitude, longitude in degrees) on the WGS84 spheroid (Vincenty''s inverse formula), as find_drivers computes it; agrees with PostGIS ST_Distance(geography, geography) to the millimetre. Out-of-range coordinates raise 22023.';

CREATE FUNCTION dispatch_effective_distance(distance_m float8, rating float8, review_count integer,
                                            acceptance_rate float8) RETURNS float8
  AS 'MODULE_PATHNAME', 'sg_dispatch_effective_distance_sql'
  LANGUAGE C STABLE PARALLEL SAFE;
COMMENT ON FUNCTION dispatch_effective_distance(float8, float8, integer, float8) IS
  'The distance the dispatch score ranks by: distance_m * (1 + steppergo.dispatch_rating_weight * rating penalty + steppergo.dispatch_acceptance_weight * acceptance penalty); rating penalty (5 - rating) / 4 (0.5 without reviews), acceptance penalty 1 - acceptance_rate (0.5 when unknown).';

CREATE FUNCTION dispatch_score(effective_distance_m float8) RETURNS float8
  AS 'MODULE_PATHNAME', 'sg_dispatch_score_sql'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION dispatch_score(float8) IS
  'The dispatch score of an effective distance: 1000 / (1000 + effective_distance_m); 1 at the pickup point, 0.5 at 1 km, higher is better.';

CREATE FUNCTION dispatch_setting(name text) RETURNS float8
  AS 'MODULE_PATHNAME', 'sg_dispatch_setting'
  LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION dispatch_setting(text) IS
  'The value of the setting steppergo.dispatch_<name> in its base unit (seconds, minutes, metres), e.g. dispatch_setting(''acceptance_timeout''); unknown names raise 22023.';

-- ---------------------------------------------------------------------------
-- Who may dispatch a trip
-- ---------------------------------------------------------------------------
CREATE FUNCTION dispatch_assert_dispatcher(organizer_id uuid) RETURNS boolean
  LANGUAGE plpgsql STABLE
  SET search_path FROM CURRENT
AS $$
DECLARE
  me uuid;
BEGIN
  IF is_trusted_caller() THEN
    RETURN true;
  END IF;
  me := current_user_id();
  IF me IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'authentication required';
  END IF;
  IF current_app_role() = 'ADMIN' OR me = organizer_id THEN
    RETURN true;
  END IF;
  RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'only the trip''s organizer or an admin may dispatch it';
END
$$;
COMMENT ON FUNCTION dispatch_assert_dispatcher(uuid) IS
  'Internal: true when the caller may search and offer drivers for a trip of this organizer (the organizer, an ADMIN, or a trusted caller); raises 42501 (PT401 when anonymous) otherwise.';

-- ---------------------------------------------------------------------------
-- Schedules: is a driver inside a break/unavailable period at an instant?
-- ---------------------------------------------------------------------------
CREATE FUNCTION dispatch_schedule_covers(start_time timestamptz, end_time timestamptz,
                                         recurring_pattern jsonb, at timestamptz,
                                         default_tz text DEFAULT 'Asia/Almaty')
  RETURNS boolean
  LANGUAGE plpgsql STABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
DECLARE
  tz text;
  dur interval;
  local_start time;
  first_date date;
  at_date date;
  until_date date;
  ndays integer;
  d date;
  occ timestamptz;
BEGIN
  IF start_time IS NULL OR end_time IS NULL OR at IS NULL THEN
    RETURN false;
  END IF;
  IF recurring_pattern IS NULL THEN
    RETURN start_time <= at AND at < end_time;
  END IF;
  IF at < start_time THEN
    RETURN false;
  END IF;
  tz := coalesce(recurring_pattern ->> 'tz', default_tz, 'Asia/Almaty');
  dur := end_time - start_time;
  local_start := (start_time AT TIME ZONE tz)::time;
  first_date := (start_time AT TIME ZONE tz)::date;
  at_date := (at AT TIME ZONE tz)::date;
  until_date := (recurring_pattern ->> 'until')::date;
  -- an occurrence that started up to ndays local days before may still run
  ndays := least(ceil(extract(epoch FROM dur) / 86400.0)::integer, 366);
  FOR k IN 0 .. ndays LOOP
    d := at_date - k;
    CONTINUE WHEN d < first_date OR (until_date IS NOT NULL AND d > until_date);
    IF recurring_pattern ->> 'freq' = 'WEEKLY'
       AND NOT (recurring_pattern -> 'days') ? to_char(d, 'DY') THEN
      CONTINUE;
    END IF;
    occ := (d + local_start) AT TIME ZONE tz;
    IF at >= occ AND at < occ + dur THEN
      RETURN true;
    END IF;
  END LOOP;
  RETURN false;
END
$$;
COMMENT ON FUNCTION dispatch_schedule_covers(timestamptz, timestamptz, jsonb, timestamptz, text) IS
  'True when a driver_availability_schedules period covers the instant at. One-off: start_time <= at < end_time. Recurring: occurrences start on every local date (DAILY) or on the listed weekdays (WEEKLY) from the date of start_time up to "until", at the local time of day of start_time, and last end_time - start_time; local means the pattern''s "tz", else default_tz (the trip''s zone), else Asia/Almaty.';

-- ---------------------------------------------------------------------------
-- Matching
-- ---------------------------------------------------------------------------
CREATE FUNCTION find_drivers(trip_id uuid, radius_m integer DEFAULT NULL, max_results integer DEFAULT 10)
  RETURNS TABLE (driver_id uuid, distance_m float8, score float8)
  AS 'MODULE_PATHNAME', 'sg_dispatch_find_drivers'
  LANGUAGE C VOLATILE SECURITY DEFINER
  SET search_path FROM CURRENT
  -- the candidate scan must stay the nearest-first index scan whatever the
  -- pickup point; a custom plan for a dense city would sort the whole box
  SET plan_cache_mode = force_generic_plan
  ROWS 10;
COMMENT ON FUNCTION find_drivers(uuid, integer, integer) IS
  'The eligible drivers within radius_m metres (NULL: the trip''s driver_discovery_radius) of the trip''s pickup point on the WGS84 spheroid, best dispatch score first, at most max_results (1..1000). Eligible: APPROVED, ONLINE, a position fresher than steppergo.dispatch_position_max_age, not in a break or unavailable period at the departure, accepts the trip''s type, an active vehicle seating total_seats, has not declined or timed out on this trip, not assigned to another trip whose window overlaps, no open offer of another trip. Records trip_driver_visibility.shown_at for the drivers returned. For the trip''s organizer, an ADMIN, or trusted callers (42501 otherwise); unknown trip PT404.';
SELECT api_expose('find_drivers(uuid, integer, integer)'::regprocedure, 'authenticated');

CREATE FUNCTION dispatch_search(trip_id uuid, radius_m integer DEFAULT NULL, max_results integer DEFAULT 10)
  RETURNS TABLE (driver_id uuid, distance_m float8, score float8)
  AS 'MODULE_PATHNAME', 'sg_dispatch_search'
  LANGUAGE C VOLATILE
  SET search_path FROM CURRENT
  SET plan_cache_mode = force_generic_plan
  ROWS 10;
COMMENT ON FUNCTION dispatch_search(uuid, integer, integer) IS
  'Internal: find_drivers without the caller check, for the offer functions (a driver declining an offer makes the next offer).';

-- The eligibility rules, each one a name, in the order explain_dispatch
-- reports the first that fails.  find_drivers (src/dispatch/find.c) applies
-- exactly these predicates; keep both in step.
CREATE FUNCTION dispatch_exclusion(t trips, driver_id uuid) RETURNS text
  LANGUAGE sql STABLE
  SET search_path FROM CURRENT
AS $$
  SELECT CASE
    WHEN d.id IS NULL THEN 'unknown_driver'
    WHEN d.status <> 'APPROVED' THEN 'not_approved'
    WHEN d.availability <> 'ONLINE' THEN 'not_online'
    WHEN l.driver_id IS NULL OR NOT l.is_active
         OR l.last_updated < clock_timestamp()
              - make_interval(secs => dispatch_setting('position_max_age')::integer)
      THEN 'stale_position'
    WHEN NOT CASE WHEN t.trip_type = 'PRIVATE' THEN d.accepts_private_trips ELSE d.accepts_shared_trips END
      THEN 'trip_type_not_accepted'
    WHEN NOT EXISTS (SELECT 1 FROM vehicles v WHERE v.driver_id = d.id AND v.is_active) THEN 'no_active_vehicle'
    WHEN NOT EXISTS (SELECT 1 FROM vehicles v WHERE v.driver_id = d.id AND v.is_active
                        AND v.passenger_capacity >= t.total_seats) THEN 'vehicle_too_small'
    WHEN EXISTS (SELECT 1 FROM driver_availability_schedules s
                  WHERE s.driver_id = d.id AND s.is_active AND s.start_time <= t.departure_time
                    AND dispatch_schedule_covers(s.start_time, s.end_time, s.recurring_pattern,
                                                 t.departure_time, t.timezone))
      THEN 'unavailable_at_departure'
    WHEN EXISTS (SELECT 1 FROM trip_acceptance_logs a
                  WHERE a.trip_id = t.id AND a.driver_id = d.id AND a.action IN ('DECLINED', 'TIMEOUT'))
      THEN 'declined_or_timed_out'
    WHEN EXISTS (SELECT 1 FROM trips o
                  WHERE o.driver_id = d.id AND o.id <> t.id
                    AND o.status NOT IN ('COMPLETED', 'CANCELLED')
                    AND o.departure_time < coalesce(t.return_time, t.departure_time)
                          + make_interval(mins => dispatch_setting('trip_window')::integer)
                    AND coalesce(o.return_time, o.departure_time)
                          + make_interval(mins => dispatch_setting('trip_window')::integer)
                          > t.departure_time)
      THEN 'assigned_overlapping_trip'
    WHEN EXISTS (SELECT 1 FROM trips f WHERE f.offered_to_driver_id = d.id AND f.id <> t.id)
      THEN 'open_offer_on_other_trip'
  END
  FROM (SELECT dispatch_exclusion.driver_id AS id) k
  LEFT JOIN drivers d ON d.id = k.id
  LEFT JOIN driver_locations l ON l.driver_id = k.id
$$;
COMMENT ON FUNCTION dispatch_exclusion(trips, uuid) IS
  'Internal: the first eligibility rule that excludes the driver from the trip, or NULL when the driver is eligible (distance aside). Rules in order: not_approved, not_online, stale_position, trip_type_not_accepted, no_active_vehicle, vehicle_too_small, unavailable_at_departure, declined_or_timed_out, assigned_overlapping_trip, open_offer_on_other_trip (unknown_driver for an id that is no driver).';

CREATE FUNCTION explain_dispatch(trip_id uuid, radius_m integer DEFAULT NULL)
  RETURNS TABLE (driver_id uuid, driver_number text, distance_m float8, eligible boolean, excluded_by text,
                 rating_penalty float8, acceptance_penalty float8, effective_distance_m float8,
                 score float8, rank bigint)
  LANGUAGE plpgsql STABLE SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  t trips;
  r integer;
BEGIN
  PERFORM require_arg(explain_dispatch.trip_id, 'trip_id');
  IF NOT is_trusted_caller() THEN
    PERFORM assert_app_role('ADMIN');
  END IF;
  SELECT * INTO t FROM trips WHERE id = explain_dispatch.trip_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'trip not found',
      DETAIL = format('no trip with id %s', explain_dispatch.trip_id);
  END IF;
  IF radius_m IS NOT NULL AND radius_m NOT BETWEEN 1 AND 2000000 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'radius_m must be between 1 and 2000000',
      DETAIL = format('got %s', radius_m);
  END IF;
  r := coalesce(radius_m, t.offer_radius, t.driver_discovery_radius);
  RETURN QUERY
  WITH c AS (
    SELECT l.driver_id AS id, d.driver_id AS number,
           dispatch_distance(t.origin_lat, t.origin_lng, l.latitude, l.longitude) AS dist,
           dispatch_exclusion(t, l.driver_id) AS why,
           CASE WHEN d.review_count <= 0 OR d.rating <= 0 THEN 0.5
                ELSE least(1, greatest(0, (5 - d.rating::float8) / 4)) END AS rp,
           CASE WHEN d.acceptance_rate IS NULL THEN 0.5
                ELSE least(1, greatest(0, 1 - d.acceptance_rate::float8)) END AS ap,
           d.rating::float8 AS rating, d.review_count, d.acceptance_rate::float8 AS acc
      FROM driver_locations l
      JOIN drivers d ON d.id = l.driver_id
     WHERE ST_DWithin(l.geog, t.origin_geog, r)
  ), s AS (
    SELECT c.*, dispatch_effective_distance(c.dist, c.rating, c.review_count, c.acc) AS eff
      FROM c WHERE c.dist <= r
  )
  SELECT s.id, s.number, s.dist, s.why IS NULL, s.why, s.rp, s.ap, s.eff, dispatch_score(s.eff),
         CASE WHEN s.why IS NULL
              THEN rank() OVER (PARTITION BY s.why IS NULL ORDER BY s.eff, s.dist, s.id) END
    FROM s
   ORDER BY s.why IS NOT NULL, s.eff, s.dist, s.id;
END
$$;
COMMENT ON FUNCTION explain_dispatch(uuid, integer) IS
  'Why each driver inside the trip''s radius (radius_m, else the current offer radius, else driver_discovery_radius) was or was not matched: the distance, and either the parts of the score (rating and acceptance penalties, effective distance, score, rank among the eligible) or the first eligibility rule that excluded the driver (see dispatch_exclusion). For ADMINs and trusted callers (42501 otherwise).';
SELECT api_expose('explain_dispatch(uuid, integer)'::regprocedure, 'authenticated');

-- ---------------------------------------------------------------------------
-- Offers
--
-- Notifications go out on the channel steppergo_dispatch (pg_notify, sent at
-- commit) with a JSON payload {"event", "trip_id", "user_id" (the recipient),
-- ...} and, for the events a person must see, as a notifications row (PUSH,
-- recipient = the user's id, resolved to devices by the push sender).
-- ---------------------------------------------------------------------------
CREATE FUNCTION dispatch_notify(event text, user_id uuid, trip_id uuid, extra jsonb DEFAULT '{}')
  RETURNS void
  LANGUAGE sql
  SET search_path FROM CURRENT
AS $$
  SELECT pg_catalog.pg_notify('steppergo_dispatch',
           (jsonb_build_object('event', event, 'trip_id', trip_id, 'user_id', user_id,
                               'sent_at', clock_timestamp()) || coalesce(extra, '{}'))::text);
$$;
COMMENT ON FUNCTION dispatch_notify(text, uuid, uuid, jsonb) IS
  'Internal: pg_notify on channel steppergo_dispatch with the JSON payload {"event", "trip_id", "user_id" (recipient), "sent_at", ...extra}; delivered when the transaction commits.';

CREATE FUNCTION dispatch_refresh_acceptance_rate(driver_id uuid) RETURNS void
  LANGUAGE sql
  SET search_path FROM CURRENT
AS $$
  UPDATE drivers d
     SET acceptance_rate = r.rate
    FROM (SELECT round(count(*) FILTER (WHERE a.action = 'ACCEPTED')::numeric / count(*), 4) AS rate
            FROM (SELECT a.action FROM trip_acceptance_logs a
                   WHERE a.driver_id = dispatch_refresh_acceptance_rate.driver_id
                     AND a.action <> 'OFFERED'
                   ORDER BY a.created_at DESC LIMIT 100) a
          HAVING count(*) > 0) r
   WHERE d.id = dispatch_refresh_acceptance_rate.driver_id
     AND d.acceptance_rate IS DISTINCT FROM r.rate;
$$;
COMMENT ON FUNCTION dispatch_refresh_acceptance_rate(uuid) IS
  'Internal: sets drivers.acceptance_rate to the share of ACCEPTED among the driver''s last 100 answers to offers (ACCEPTED, DECLINED, TIMEOUT).';

-- Return an OFFERED trip to PUBLISHED (FULL when no seat is left), clear the
-- offer, and tell the organizer that nobody took it.
CREATE FUNCTION dispatch_release(trip_id uuid, actor_id uuid, reason text) RETURNS void
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  t trips;
  back trip_status;
BEGIN
  SELECT * INTO t FROM trips WHERE id = dispatch_release.trip_id;
  back := CASE WHEN t.available_seats = 0 THEN 'FULL' ELSE 'PUBLISHED' END;
  UPDATE trips SET status = back, offered_to_driver_id = NULL, acceptance_deadline = NULL, offer_radius = NULL
   WHERE id = t.id;
  INSERT INTO trip_status_history (trip_id, from_status, to_status, actor_id, reason)
  VALUES (t.id, t.status, back, actor_id, left(reason, 1000));
  INSERT INTO notifications (user_id, type, channel, recipient, subject, body)
  VALUES (t.organizer_id, 'TRIP_NO_DRIVER', 'PUSH', t.organizer_id::text, 'No driver found',
          left(format('No driver accepted your trip "%s" (departure %s). It is %s again; you can offer it again later.',
                      t.title, to_char(t.departure_time AT TIME ZONE t.timezone, 'YYYY-MM-DD HH24:MI'), back), 10000));
  PERFORM dispatch_notify('TRIP_NO_DRIVER', t.organizer_id, t.id,
                          jsonb_build_object('status', back, 'reason', reason));
END
$$;
COMMENT ON FUNCTION dispatch_release(uuid, uuid, text) IS
  'Internal: the trip (locked, OFFERED) returns to PUBLISHED, or FULL when no seat is left, with its offer cleared; writes the trip_status_history row, a TRIP_NO_DRIVER notification for the organizer and a pg_notify.';

-- Offer the (locked) trip to one driver: status OFFERED, deadline, log,
-- visibility, notification row and pg_notify.
CREATE FUNCTION dispatch_make_offer(trip_id uuid, driver_id uuid, actor_id uuid, radius integer,
                                    distance_m float8 DEFAULT NULL) RETURNS void
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  t trips;
  drv drivers;
  timeout integer := dispatch_setting('acceptance_timeout')::integer;
  offered timestamptz := clock_timestamp();
  deadline timestamptz := offered + make_interval(secs => timeout);
BEGIN
  SELECT * INTO t FROM trips WHERE id = dispatch_make_offer.trip_id;
  SELECT * INTO drv FROM drivers WHERE id = dispatch_make_offer.driver_id;
  UPDATE trips
     SET status = 'OFFERED', offered_to_driver_id = drv.id, acceptance_deadline = deadline,
         offer_radius = CASE WHEN radius > t.driver_discovery_radius THEN radius END
   WHERE id = t.id;
  IF t.status <> 'OFFERED' THEN
    INSERT INTO trip_status_history (trip_id, from_status, to_status, actor_id, reason)
    VALUES (t.id, t.status, 'OFFERED', actor_id, 'offered to driver ' || drv.driver_id);
  END IF;
  INSERT INTO trip_acceptance_logs (trip_id, driver_id, action, offered_at, timeout_duration)
  VALUES (t.id, drv.id, 'OFFERED', offered, timeout);
  INSERT INTO trip_driver_visibility AS v (trip_id, driver_id, shown_at)
  VALUES (t.id, drv.id, now())
  ON CONFLICT ON CONSTRAINT trip_driver_visibility_once DO UPDATE SET shown_at = EXCLUDED.shown_at;
  INSERT INTO notifications (user_id, type, channel, recipient, subject, body)
  VALUES (drv.user_id, 'TRIP_OFFER', 'PUSH', drv.user_id::text, 'New trip offer',
          left(format('%s: pickup at %s, departure %s. Accept within %s seconds.',
                      t.title, t.origin_name, to_char(t.departure_time AT TIME ZONE t.timezone, 'YYYY-MM-DD HH24:MI'),
                      timeout), 10000));
  PERFORM dispatch_notify('TRIP_OFFERED', drv.user_id, t.id,
    jsonb_build_object('driver_id', drv.id, 'acceptance_deadline', deadline, 'timeout_seconds', timeout,
                       'distance_m', round(distance_m::numeric, 1),
                       'origin', jsonb_build_object('name', t.origin_name, 'lat', t.origin_lat, 'lng', t.origin_lng),
                       'destination', jsonb_build_object('name', t.dest_name, 'lat', t.dest_lat, 'lng', t.dest_lng),
                       'departure_time', t.departure_time, 'trip_type', t.trip_type,
                       'seats', t.total_seats, 'estimated_earnings', t.estimated_earnings));
END
$$;
COMMENT ON FUNCTION dispatch_make_offer(uuid, uuid, uuid, integer, float8) IS
  'Internal: offers the locked trip to the driver: status OFFERED (status history row when it moves), offered_to_driver_id, acceptance_deadline = now + steppergo.dispatch_acceptance_timeout, offer_radius when widened, an OFFERED trip_acceptance_logs row, trip_driver_visibility, a TRIP_OFFER PUSH notification and a TRIP_OFFERED pg_notify to the driver.';

-- Offer the (locked) trip to the best eligible driver, widening the radius
-- in steps; returns the driver, or NULL when nobody is eligible even at
-- steppergo.dispatch_max_radius.
CREATE FUNCTION dispatch_offer_next(trip_id uuid, actor_id uuid) RETURNS uuid
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  t trips;
  r integer;
  max_r integer := dispatch_setting('max_radius')::integer;
  factor float8 := dispatch_setting('radius_factor')::float8;
  cand record;
BEGIN
  SELECT * INTO t FROM trips WHERE id = dispatch_offer_next.trip_id;
  r := coalesce(t.offer_radius, t.driver_discovery_radius);
  LOOP
    FOR cand IN SELECT s.driver_id, s.distance_m FROM dispatch_search(t.id, r, 10) s LOOP
      -- Lock the driver, then check again with a fresh snapshot: a
      -- concurrent offer of another trip to the same driver that committed
      -- meanwhile is seen, so no driver ever holds two open offers.
      PERFORM 1 FROM drivers d WHERE d.id = cand.driver_id FOR UPDATE;
      IF dispatch_exclusion(t, cand.driver_id) IS NULL THEN
        PERFORM dispatch_make_offer(t.id, cand.driver_id, actor_id, r, cand.distance_m);
        RETURN cand.driver_id;
      END IF;
    END LOOP;
    EXIT WHEN r >= max_r;
    r := least(max_r, greatest(r + 1, ceil(r * factor)::integer));
  END LOOP;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION dispatch_offer_next(uuid, uuid) IS
  'Internal: offers the locked trip to the best eligible driver within its radius (the current offer radius, else driver_discovery_radius), widening it by steppergo.dispatch_radius_factor up to steppergo.dispatch_max_radius while nobody is eligible. Returns the driver offered, or NULL.';

CREATE FUNCTION offer_trip(trip_id uuid, driver_id uuid DEFAULT NULL) RETURNS uuid
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  t trips;
  why text;
  chosen uuid;
BEGIN
  PERFORM require_arg(offer_trip.trip_id, 'trip_id');
  SELECT * INTO t FROM trips WHERE id = offer_trip.trip_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'trip not found',
      DETAIL = format('no trip with id %s', offer_trip.trip_id);
  END IF;
  PERFORM dispatch_assert_dispatcher(t.organizer_id);
  IF t.status NOT IN ('PUBLISHED', 'FULL') OR t.driver_id IS NOT NULL OR t.offered_to_driver_id IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'trip cannot be offered now',
      DETAIL = CASE WHEN t.driver_id IS NOT NULL THEN 'the trip already has a driver'
                    WHEN t.status = 'OFFERED' THEN 'the trip already has an open offer'
                    ELSE format('the trip is %s; only PUBLISHED or FULL trips without a driver are offered', t.status) END;
  END IF;
  IF offer_trip.driver_id IS NOT NULL THEN
    IF NOT EXISTS (SELECT 1 FROM drivers d WHERE d.id = offer_trip.driver_id) THEN
      RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'driver not found',
        DETAIL = format('no driver with id %s', offer_trip.driver_id);
    END IF;
    PERFORM 1 FROM drivers d WHERE d.id = offer_trip.driver_id FOR UPDATE;
    why := dispatch_exclusion(t, offer_trip.driver_id);
    IF why IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'driver is not eligible for this trip',
        DETAIL = format('excluded by rule %s (see explain_dispatch)', why);
    END IF;
    PERFORM dispatch_make_offer(t.id, offer_trip.driver_id, current_user_id(),
                                coalesce(t.offer_radius, t.driver_discovery_radius),
                                (SELECT dispatch_distance(t.origin_lat, t.origin_lng, l.latitude, l.longitude)
                                   FROM driver_locations l WHERE l.driver_id = offer_trip.driver_id));
    RETURN offer_trip.driver_id;
  END IF;
  chosen := dispatch_offer_next(t.id, current_user_id());
  IF chosen IS NULL AND t.offer_radius IS NOT NULL THEN
    UPDATE trips SET offer_radius = NULL WHERE id = t.id;
  END IF;
  RETURN chosen;
END
$$;
COMMENT ON FUNCTION offer_trip(uuid, uuid) IS
  'Offers a PUBLISHED or FULL trip without a driver to the given driver (who must be eligible: PT409 naming the rule otherwise) or to the best eligible one, widening the radius in steps (steppergo.dispatch_radius_factor up to steppergo.dispatch_max_radius). The trip becomes OFFERED with acceptance_deadline = now + steppergo.dispatch_acceptance_timeout seconds; an OFFERED trip_acceptance_logs row, a TRIP_OFFER PUSH notification and a pg_notify on channel steppergo_dispatch reach the driver. Returns the driver offered, or NULL (trip unchanged) when nobody is eligible. For the organizer, an ADMIN or trusted callers (42501); unknown trip or driver PT404; a trip in another state or already offered PT409.';
SELECT api_expose('offer_trip(uuid, uuid)'::regprocedure, 'authenticated');

-- Lock the trip and check that it is offered to this driver right now.
CREATE FUNCTION dispatch_lock_offer(trip_id uuid, driver_id uuid, enforce_deadline boolean) RETURNS trips
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  t trips;
  drv drivers;
BEGIN
  PERFORM require_arg(dispatch_lock_offer.trip_id, 'trip_id');
  PERFORM require_arg(dispatch_lock_offer.driver_id, 'driver_id');
  SELECT * INTO drv FROM drivers d WHERE d.id = dispatch_lock_offer.driver_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'driver not found',
      DETAIL = format('no driver with id %s', dispatch_lock_offer.driver_id);
  END IF;
  PERFORM assert_acting_as(drv.user_id);
  SELECT * INTO t FROM trips x WHERE x.id = dispatch_lock_offer.trip_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'trip not found',
      DETAIL = format('no trip with id %s', dispatch_lock_offer.trip_id);
  END IF;
  IF t.status <> 'OFFERED' OR t.offered_to_driver_id IS DISTINCT FROM drv.id THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'the trip is not offered to this driver',
      DETAIL = CASE WHEN t.driver_id = drv.id THEN 'the driver already accepted the trip'
                    WHEN t.driver_id IS NOT NULL THEN 'another driver took the trip'
                    ELSE 'the offer was answered, expired or moved to another driver' END;
  END IF;
  IF enforce_deadline AND clock_timestamp() > t.acceptance_deadline THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'the offer has expired',
      DETAIL = format('the acceptance deadline was %s', t.acceptance_deadline);
  END IF;
  RETURN t;
END
$$;
COMMENT ON FUNCTION dispatch_lock_offer(uuid, uuid, boolean) IS
  'Internal: checks arguments and caller (the driver''s user, an ADMIN or trusted: 42501 otherwise), locks the trip and raises PT409 unless it is offered to this driver now (and, when asked, before its deadline). Returns the locked trip.';

-- Log a driver's answer: trip_acceptance_logs row, visibility response, rate.
CREATE FUNCTION dispatch_log_answer(t trips, driver_id uuid, action trip_acceptance_action) RETURNS void
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  o trip_acceptance_logs;
  answered timestamptz := clock_timestamp();
BEGIN
  SELECT * INTO o FROM trip_acceptance_logs a
   WHERE a.trip_id = t.id AND a.driver_id = dispatch_log_answer.driver_id AND a.action = 'OFFERED'
   ORDER BY a.offered_at DESC LIMIT 1;
  INSERT INTO trip_acceptance_logs (trip_id, driver_id, action, offered_at, responded_at,
                                    response_time_seconds, ip_address, user_agent, timeout_duration)
  VALUES (t.id, dispatch_log_answer.driver_id, action, coalesce(o.offered_at, answered), answered,
          greatest(0, floor(extract(epoch FROM answered - coalesce(o.offered_at, answered))))::integer,
          CASE WHEN action <> 'TIMEOUT' THEN request_ip() END,
          CASE WHEN action <> 'TIMEOUT' THEN left(request_header('user-agent'), 1024) END,
          o.timeout_duration);
  INSERT INTO trip_driver_visibility AS v (trip_id, driver_id, shown_at, response_action, response_at)
  VALUES (t.id, dispatch_log_answer.driver_id, coalesce(o.offered_at, answered), action, answered)
  ON CONFLICT ON CONSTRAINT trip_driver_visibility_once
  DO UPDATE SET response_action = EXCLUDED.response_action, response_at = EXCLUDED.response_at;
  PERFORM dispatch_refresh_acceptance_rate(dispatch_log_answer.driver_id);
END
$$;
COMMENT ON FUNCTION dispatch_log_answer(trips, uuid, trip_acceptance_action) IS
  'Internal: records a driver''s answer to an offer (ACCEPTED, DECLINED, TIMEOUT): a trip_acceptance_logs row with response time, IP and user agent, the trip_driver_visibility response, and the driver''s acceptance_rate.';

CREATE FUNCTION accept_trip(trip_id uuid, driver_id uuid) RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  t trips;
  drv drivers;
  back trip_status;
BEGIN
  t := dispatch_lock_offer(accept_trip.trip_id, accept_trip.driver_id, true);
  SELECT * INTO drv FROM drivers d WHERE d.id = accept_trip.driver_id;
  back := CASE WHEN t.available_seats = 0 THEN 'FULL' ELSE 'PUBLISHED' END;
  UPDATE trips
     SET driver_id = drv.id, status = back, offered_to_driver_id = NULL, acceptance_deadline = NULL,
         offer_radius = NULL
   WHERE id = t.id;
  INSERT INTO trip_status_history (trip_id, from_status, to_status, actor_id, reason)
  VALUES (t.id, 'OFFERED', back, drv.user_id, 'accepted by driver ' || drv.driver_id);
  PERFORM dispatch_log_answer(t, drv.id, 'ACCEPTED');
  INSERT INTO notifications (user_id, type, channel, recipient, subject, body)
  VALUES (t.organizer_id, 'TRIP_DRIVER_ASSIGNED', 'PUSH', t.organizer_id::text, 'Driver found',
          left(format('Driver %s accepted your trip "%s".', drv.driver_id, t.title), 10000));
  PERFORM dispatch_notify('TRIP_ACCEPTED', t.organizer_id, t.id,
                          jsonb_build_object('driver_id', drv.id, 'status', back));
END
$$;
COMMENT ON FUNCTION accept_trip(uuid, uuid) IS
  'The offered driver accepts the trip before its acceptance deadline (checked at call time): the trip gets driver_id and returns to PUBLISHED (FULL when no seat is left), the offer is cleared, an ACCEPTED trip_acceptance_logs row with response_time_seconds, the visibility response, a status history row (actor: the driver''s user), and the organizer is notified. Exactly one accept succeeds under any interleaving (the trip row is locked); every other answer gets PT409. Only the driver''s user (or an ADMIN, or a trusted caller) may call it: 42501.';
SELECT api_expose('accept_trip(uuid, uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION decline_trip(trip_id uuid, driver_id uuid) RETURNS void
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  t trips;
  drv drivers;
BEGIN
  t := dispatch_lock_offer(decline_trip.trip_id, decline_trip.driver_id, false);
  SELECT * INTO drv FROM drivers d WHERE d.id = decline_trip.driver_id;
  PERFORM dispatch_log_answer(t, drv.id, 'DECLINED');
  IF dispatch_offer_next(t.id, drv.user_id) IS NULL THEN
    PERFORM dispatch_release(t.id, drv.user_id, 'declined by driver ' || drv.driver_id || '; no other driver eligible');
  END IF;
END
$$;
COMMENT ON FUNCTION decline_trip(uuid, uuid) IS
  'The offered driver declines the trip (also after the deadline, as long as the offer is still theirs): a DECLINED trip_acceptance_logs row and visibility response, then the next eligible driver is offered at once (widening the radius); when nobody is, the trip returns to PUBLISHED (or FULL) and the organizer is notified. Only the driver''s user (or an ADMIN, or a trusted caller): 42501; a stale offer PT409.';
SELECT api_expose('decline_trip(uuid, uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION process_acceptance_timeouts() RETURNS integer
  LANGUAGE plpgsql VOLATILE SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  x record;
  t trips;
  n integer := 0;
BEGIN
  IF NOT is_trusted_caller() THEN
    PERFORM assert_app_role('ADMIN');
  END IF;
  -- SKIP LOCKED: a trip locked by an answer in flight is left to that answer
  FOR x IN SELECT id FROM trips
            WHERE status = 'OFFERED' AND acceptance_deadline < clock_timestamp()
            ORDER BY acceptance_deadline
              FOR UPDATE SKIP LOCKED LOOP
    BEGIN
      SELECT * INTO t FROM trips WHERE id = x.id;
      CONTINUE WHEN t.status <> 'OFFERED' OR t.acceptance_deadline >= clock_timestamp();
      PERFORM dispatch_log_answer(t, t.offered_to_driver_id, 'TIMEOUT');
      IF dispatch_offer_next(t.id, NULL) IS NULL THEN
        PERFORM dispatch_release(t.id, NULL, 'offer timed out; no other driver eligible');
      END IF;
      n := n + 1;
    EXCEPTION WHEN OTHERS THEN
      -- one broken trip must not stop the others; it is retried next time
      RAISE WARNING 'steppergo: acceptance timeout of trip % failed: % (%)', x.id, SQLERRM, SQLSTATE;
    END;
  END LOOP;
  RETURN n;
END
$$;
COMMENT ON FUNCTION process_acceptance_timeouts() IS
  'Acts on every offer past its acceptance deadline: a TIMEOUT trip_acceptance_logs row and visibility response, then the next eligible driver is offered (widening the radius in steps); when nobody is, the trip returns to PUBLISHED (or FULL) and the organizer is notified. Returns the number of expired offers handled. Trips locked by an answer in flight are skipped (the answer decides). Run by the pg_cron job steppergo_dispatch_timeouts through dispatch_timeout_worker; for trusted callers and ADMINs.';
SELECT api_expose('process_acceptance_timeouts()'::regprocedure, 'service');

-- The pg_cron job (src/dispatch/worker.c).  pg_cron starts it once a minute;
-- it keeps checking every steppergo.dispatch_job_interval seconds for
-- steppergo.dispatch_job_duration seconds, committing after each check so
-- that every offer it makes is visible (and notified) at once.  A session
-- advisory lock keeps two runs from overlapping.  In C: a procedure that
-- commits may have neither SET options nor SECURITY DEFINER.
CREATE PROCEDURE dispatch_timeout_worker()
  AS 'MODULE_PATHNAME', 'sg_dispatch_timeout_worker'
  LANGUAGE C;
COMMENT ON PROCEDURE dispatch_timeout_worker() IS
  'The body of the pg_cron job steppergo_dispatch_timeouts: under the session advisory lock (1397180243, 4) (a run that finds it taken returns at once), calls process_acceptance_timeouts() every steppergo.dispatch_job_interval seconds for steppergo.dispatch_job_duration seconds, committing after each call, so expired offers are acted on within seconds although pg_cron starts jobs at most once a minute. Inside a transaction block it makes one check.';

-- internal: only pg_cron (as the job owner) and superusers run it
REVOKE ALL ON PROCEDURE dispatch_timeout_worker() FROM PUBLIC;

INSERT INTO job_definitions (name, schedule, command, description) VALUES
  ('steppergo_dispatch_timeouts', '* * * * *', 'CALL steppergo.dispatch_timeout_worker()',
   'Expired trip offers: every minute a run that checks every steppergo.dispatch_job_interval seconds for steppergo.dispatch_job_duration seconds (offers last 15-30 s), TIMEOUT logged and the next driver offered.');
