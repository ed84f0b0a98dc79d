-- steppergo: the StepperGO marketplace inside PostgreSQL.
-- This script is assembled by the Makefile from the per-domain sources under
-- src/; edit those, never the built file.
\echo Use "CREATE EXTENSION steppergo CASCADE" to load this file. \quit

-- While this script runs, search_path is "steppergo, <schema of postgis>".
-- Append pg_temp so that every function declared with
-- "SET search_path FROM CURRENT" resolves names in steppergo, then PostGIS,
-- and never in a caller's temporary schema.
SELECT pg_catalog.set_config('search_path',
       pg_catalog.current_setting('search_path') || ', pg_temp', true);
-- ===========================================================================
-- drivers (release 0.3): one lock order with dispatch.
--
-- Dispatch keeps a copy of each driver's dispatch state on the driver's
-- position row (driver_locations.dispatch_*), written by triggers that lock
-- the driver row and then the position row.  So every writer now takes a
-- driver row before the position row, and pings, which lock position rows,
-- never wait for a driver row: the throttled write of
-- drivers.last_activity_at skips a driver locked by someone else (location.c).
-- ===========================================================================

CREATE OR REPLACE FUNCTION update_driver_availability(driver_id uuid, availability driver_availability,
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
  -- lock order: the driver row, then (by the updates below and the dispatch
  -- state trigger) the position row; a ping never waits for a driver row
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

CREATE OR REPLACE FUNCTION auto_offline_stale_drivers() RETURNS integer
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
  -- Both rows are taken with SKIP LOCKED (the position row here, the driver
  -- row in stale_driver_offline), so the job never waits for a driver who
  -- resumes sending positions, or for any other writer; rows locked by
  -- others are left for the next run.
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
-- ===========================================================================
-- dispatch (release 0.3): find_drivers decides a candidate from the row the
-- index scan already read.
--
-- 1. A planar position index.  PostGIS's geography GiST computes sphere
--    distances for every index entry a KNN search visits; a built-in point
--    GiST on (longitude, latitude) orders by plain float arithmetic.
--    find_drivers (find.c) walks it nearest-first and stops with a proven
--    lower bound of the WGS84 distance (see README, "How find_drivers
--    searches"); near the poles and the antimeridian it walks the geography
--    index instead.  The index holds only drivers that can be dispatched at
--    all (APPROVED, ONLINE, with an active vehicle): the others cost a search
--    nothing.
-- 2. A dispatch state on each position row: the driver's approval and
--    availability, trip types, rating, acceptance rate, the active
--    vehicle's capacity, and the number of things that can make the driver
--    unavailable at some time (active schedules, trips assigned and not
--    over, open offers).  Kept by triggers from drivers, vehicles,
--    driver_availability_schedules and trips.  A candidate whose count is 0
--    is decided from its position row alone; only the others go through the
--    schedule and trip rules.
--
-- Lock order (all domains): a driver row before the driver's position row.
-- Pings lock only position rows and never wait for a driver row (the
-- throttled write of drivers.last_activity_at skips a locked driver), so
-- the triggers below, which lock the driver row and then write the
-- position row, cannot deadlock with them.
-- ===========================================================================

ALTER TABLE driver_locations
  ADD COLUMN pos point GENERATED ALWAYS AS (point(longitude, latitude)) STORED,
  ADD COLUMN dispatch_ready boolean NOT NULL DEFAULT false,
  ADD COLUMN dispatch_accepts_private boolean NOT NULL DEFAULT false,
  ADD COLUMN dispatch_accepts_shared boolean NOT NULL DEFAULT false,
  ADD COLUMN dispatch_seats integer NOT NULL DEFAULT 0,
  ADD COLUMN dispatch_holds integer NOT NULL DEFAULT 0,
  ADD COLUMN dispatch_rating double precision NOT NULL DEFAULT 0,
  ADD COLUMN dispatch_review_count integer NOT NULL DEFAULT 0,
  ADD COLUMN dispatch_acceptance_rate double precision;
COMMENT ON COLUMN driver_locations.pos IS
  'The position as a plain point (longitude, latitude) in degrees (generated); its partial GiST index is the one find_drivers walks nearest-first.';
COMMENT ON COLUMN driver_locations.dispatch_ready IS
  'Dispatch state (kept by triggers, see driver_dispatch_state): the driver is APPROVED and ONLINE.';
COMMENT ON COLUMN driver_locations.dispatch_accepts_private IS
  'Dispatch state: drivers.accepts_private_trips.';
COMMENT ON COLUMN driver_locations.dispatch_accepts_shared IS
  'Dispatch state: drivers.accepts_shared_trips.';
COMMENT ON COLUMN driver_locations.dispatch_seats IS
  'Dispatch state: passenger_capacity of the driver''s active vehicle, 0 without one.';
COMMENT ON COLUMN driver_locations.dispatch_holds IS
  'Dispatch state: active availability schedules + trips assigned to the driver and not COMPLETED/CANCELLED + trips offered to the driver; find_drivers checks the schedule and trip rules only when it is above 0.';
COMMENT ON COLUMN driver_locations.dispatch_rating IS
  'Dispatch state: drivers.rating.';
COMMENT ON COLUMN driver_locations.dispatch_review_count IS
  'Dispatch state: drivers.review_count.';
COMMENT ON COLUMN driver_locations.dispatch_acceptance_rate IS
  'Dispatch state: drivers.acceptance_rate (NULL when unknown).';
CREATE INDEX driver_locations_dispatch_idx ON driver_locations USING gist (pos)
  WHERE dispatch_ready AND dispatch_seats > 0;
COMMENT ON INDEX driver_locations_dispatch_idx IS
  'Dispatch: nearest-first (KNN) search of the positions of APPROVED, ONLINE drivers with an active vehicle, in degree space, far cheaper per entry than the geography index; find_drivers converts its order into a WGS84 lower bound.';
CREATE INDEX driver_locations_dispatch_large_idx ON driver_locations USING gist (pos)
  WHERE dispatch_ready AND dispatch_seats > 4;
COMMENT ON INDEX driver_locations_dispatch_large_idx IS
  'Dispatch: as driver_locations_dispatch_idx, for the drivers whose active vehicle seats more than 4 (minivans, buses): a trip for 5 or more passengers searches only them instead of stepping over every sedan in town.';

CREATE FUNCTION dispatch_search_index(lat float8, lng float8, radius_m integer, seats integer) RETURNS regclass
  AS 'MODULE_PATHNAME', 'sg_dispatch_search_index'
  LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION dispatch_search_index(float8, float8, integer, integer) IS
  'Internal: the index find_drivers walks for a pickup point, a radius and the seats a trip needs: driver_locations_dispatch_idx, driver_locations_dispatch_large_idx (more than 4 seats), or driver_locations_geog_idx where the radius reaches a pole or the antimeridian. Out-of-range arguments raise 22023.';

-- ---------------------------------------------------------------------------
-- Keeping the dispatch state
-- ---------------------------------------------------------------------------
CREATE VIEW driver_dispatch_state AS
SELECT d.id AS driver_id,
       d.status = 'APPROVED' AND d.availability = 'ONLINE' AS ready,
       d.accepts_private_trips AS accepts_private,
       d.accepts_shared_trips AS accepts_shared,
       coalesce((SELECT v.passenger_capacity FROM vehicles v
                  WHERE v.driver_id = d.id AND v.is_active), 0) AS seats,
       ((SELECT count(*) FROM driver_availability_schedules s WHERE s.driver_id = d.id AND s.is_active)
        + (SELECT count(*) FROM trips o WHERE o.driver_id = d.id AND o.status NOT IN ('COMPLETED', 'CANCELLED'))
        + (SELECT count(*) FROM trips f WHERE f.offered_to_driver_id = d.id))::integer AS holds,
       d.rating::double precision AS rating,
       d.review_count,
       d.acceptance_rate::double precision AS acceptance_rate
  FROM drivers d;
COMMENT ON VIEW driver_dispatch_state IS
  'What the dispatch_* columns of a driver''s driver_locations row must hold, computed from drivers, vehicles, driver_availability_schedules and trips: the definition the triggers keep (a recount to compare with).';
COMMENT ON COLUMN driver_dispatch_state.driver_id IS 'The driver.';
COMMENT ON COLUMN driver_dispatch_state.ready IS 'APPROVED and ONLINE.';
COMMENT ON COLUMN driver_dispatch_state.accepts_private IS 'accepts_private_trips.';
COMMENT ON COLUMN driver_dispatch_state.accepts_shared IS 'accepts_shared_trips.';
COMMENT ON COLUMN driver_dispatch_state.seats IS 'passenger_capacity of the active vehicle, 0 without one.';
COMMENT ON COLUMN driver_dispatch_state.holds IS 'Active schedules + trips assigned and not COMPLETED/CANCELLED + trips offered to the driver.';
COMMENT ON COLUMN driver_dispatch_state.rating IS 'rating.';
COMMENT ON COLUMN driver_dispatch_state.review_count IS 'review_count.';
COMMENT ON COLUMN driver_dispatch_state.acceptance_rate IS 'acceptance_rate (NULL when unknown).';

-- Recomputed from the tables, never adjusted by deltas: the driver rows are
-- locked first (in id order), so the statement that writes the position
-- rows runs with a snapshot taken after every concurrent writer of those
-- drivers committed (READ COMMITTED), and a restore or a replay of the same
-- rows cannot double-count.
CREATE FUNCTION dispatch_refresh_drivers(driver_ids uuid[]) RETURNS integer
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  n integer;
BEGIN
  IF driver_ids IS NULL THEN
    driver_ids := ARRAY(SELECT d.id FROM drivers d ORDER BY d.id);
  END IF;
  -- a join with the ids, not = ANY: a bulk statement names many drivers
  PERFORM 1 FROM drivers d WHERE d.id IN (SELECT unnest(driver_ids)) ORDER BY d.id FOR NO KEY UPDATE;
  UPDATE driver_locations l
     SET dispatch_ready = s.ready, dispatch_accepts_private = s.accepts_private,
         dispatch_accepts_shared = s.accepts_shared, dispatch_seats = s.seats, dispatch_holds = s.holds,
         dispatch_rating = s.rating, dispatch_review_count = s.review_count,
         dispatch_acceptance_rate = s.acceptance_rate
    FROM driver_dispatch_state s
   WHERE s.driver_id IN (SELECT unnest(driver_ids)) AND l.driver_id = s.driver_id
     AND (l.dispatch_ready, l.dispatch_accepts_private, l.dispatch_accepts_shared, l.dispatch_seats,
          l.dispatch_holds, l.dispatch_rating, l.dispatch_review_count, l.dispatch_acceptance_rate)
         IS DISTINCT FROM
         (s.ready, s.accepts_private, s.accepts_shared, s.seats, s.holds, s.rating, s.review_count,
          s.acceptance_rate);
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;
COMMENT ON FUNCTION dispatch_refresh_drivers(uuid[]) IS
  'Internal: locks the drivers (all when NULL) in id order and sets the dispatch_* columns of their driver_locations rows to driver_dispatch_state; returns how many rows changed.';

-- a driver's first position: the state is read under a lock of the
-- driver row, so a concurrent change of the driver either committed before
-- (and is read) or waits for this insert (and then sees the row)
CREATE FUNCTION dispatch_location_inserted() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  s driver_dispatch_state;
BEGIN
  PERFORM 1 FROM drivers d WHERE d.id = NEW.driver_id FOR NO KEY UPDATE;
  SELECT * INTO s FROM driver_dispatch_state x WHERE x.driver_id = NEW.driver_id;
  IF FOUND THEN
    NEW.dispatch_ready := s.ready;
    NEW.dispatch_accepts_private := s.accepts_private;
    NEW.dispatch_accepts_shared := s.accepts_shared;
    NEW.dispatch_seats := s.seats;
    NEW.dispatch_holds := s.holds;
    NEW.dispatch_rating := s.rating;
    NEW.dispatch_review_count := s.review_count;
    NEW.dispatch_acceptance_rate := s.acceptance_rate;
  END IF;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION dispatch_location_inserted() IS
  'Trigger function (driver_locations, before insert): fills the dispatch_* columns of a driver''s first position from driver_dispatch_state, under a lock of the driver row (FOR NO KEY UPDATE: two first positions of one driver wait for each other instead of deadlocking).';
CREATE TRIGGER driver_locations_dispatch_state BEFORE INSERT ON driver_locations
  FOR EACH ROW EXECUTE FUNCTION dispatch_location_inserted();
COMMENT ON TRIGGER driver_locations_dispatch_state ON driver_locations IS
  'Dispatch: a new position row starts with the driver''s dispatch state.';

-- drivers: the columns the state copies
CREATE FUNCTION dispatch_driver_changed() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
BEGIN
  PERFORM dispatch_refresh_drivers(ARRAY[NEW.id]);
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION dispatch_driver_changed() IS
  'Trigger function (drivers): refreshes the dispatch state of a driver whose approval, availability, trip types, rating or acceptance rate changed.';
CREATE TRIGGER drivers_dispatch_state AFTER UPDATE OF status, availability, accepts_private_trips,
    accepts_shared_trips, rating, review_count, acceptance_rate ON drivers
  FOR EACH ROW WHEN ((OLD.status, OLD.availability, OLD.accepts_private_trips, OLD.accepts_shared_trips,
                      OLD.rating, OLD.review_count, OLD.acceptance_rate)
                     IS DISTINCT FROM
                     (NEW.status, NEW.availability, NEW.accepts_private_trips, NEW.accepts_shared_trips,
                      NEW.rating, NEW.review_count, NEW.acceptance_rate))
  EXECUTE FUNCTION dispatch_driver_changed();
COMMENT ON TRIGGER drivers_dispatch_state ON drivers IS
  'Dispatch: keeps the dispatch state of the driver''s position row.';

-- vehicles and schedules: one refresh per statement, for every driver the
-- statement touched (a bulk load is one set-based refresh)
CREATE FUNCTION dispatch_summary_rows_changed() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM dispatch_refresh_drivers(ARRAY(SELECT DISTINCT n.driver_id FROM new_rows n));
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM dispatch_refresh_drivers(ARRAY(SELECT DISTINCT o.driver_id FROM old_rows o));
  ELSE
    PERFORM dispatch_refresh_drivers(ARRAY(SELECT o.driver_id FROM old_rows o
                                           UNION SELECT n.driver_id FROM new_rows n));
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION dispatch_summary_rows_changed() IS
  'Statement trigger function (vehicles, driver_availability_schedules): refreshes the dispatch state of every driver whose rows the statement inserted, changed or deleted.';

CREATE TRIGGER vehicles_dispatch_state_ins AFTER INSERT ON vehicles
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION dispatch_summary_rows_changed();
CREATE TRIGGER vehicles_dispatch_state_upd AFTER UPDATE ON vehicles
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION dispatch_summary_rows_changed();
CREATE TRIGGER vehicles_dispatch_state_del AFTER DELETE ON vehicles
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION dispatch_summary_rows_changed();
COMMENT ON TRIGGER vehicles_dispatch_state_ins ON vehicles IS 'Dispatch: keeps the dispatch state (the active vehicle''s capacity).';
COMMENT ON TRIGGER vehicles_dispatch_state_upd ON vehicles IS 'Dispatch: keeps the dispatch state (the active vehicle''s capacity).';
COMMENT ON TRIGGER vehicles_dispatch_state_del ON vehicles IS 'Dispatch: keeps the dispatch state (the active vehicle''s capacity).';

CREATE TRIGGER schedules_dispatch_state_ins AFTER INSERT ON driver_availability_schedules
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION dispatch_summary_rows_changed();
CREATE TRIGGER schedules_dispatch_state_upd AFTER UPDATE ON driver_availability_schedules
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION dispatch_summary_rows_changed();
CREATE TRIGGER schedules_dispatch_state_del AFTER DELETE ON driver_availability_schedules
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION dispatch_summary_rows_changed();
COMMENT ON TRIGGER schedules_dispatch_state_ins ON driver_availability_schedules IS 'Dispatch: keeps the dispatch state (active schedules).';
COMMENT ON TRIGGER schedules_dispatch_state_upd ON driver_availability_schedules IS 'Dispatch: keeps the dispatch state (active schedules).';
COMMENT ON TRIGGER schedules_dispatch_state_del ON driver_availability_schedules IS 'Dispatch: keeps the dispatch state (active schedules).';

-- trips: row triggers that fire only when a driver or an offer is involved
-- (trips are updated on every booking; a statement trigger would capture
-- every one of those updates)
CREATE FUNCTION dispatch_summary_trip_changed() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    PERFORM dispatch_refresh_drivers(ARRAY[NEW.driver_id, NEW.offered_to_driver_id]);
  ELSIF TG_OP = 'DELETE' THEN
    PERFORM dispatch_refresh_drivers(ARRAY[OLD.driver_id, OLD.offered_to_driver_id]);
  ELSE
    PERFORM dispatch_refresh_drivers(ARRAY[OLD.driver_id, OLD.offered_to_driver_id,
                                           NEW.driver_id, NEW.offered_to_driver_id]);
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION dispatch_summary_trip_changed() IS
  'Trigger function (trips): refreshes the dispatch state of the drivers a trip names, before and after the change.';

CREATE TRIGGER trips_dispatch_state_ins AFTER INSERT ON trips
  FOR EACH ROW WHEN (NEW.driver_id IS NOT NULL OR NEW.offered_to_driver_id IS NOT NULL)
  EXECUTE FUNCTION dispatch_summary_trip_changed();
COMMENT ON TRIGGER trips_dispatch_state_ins ON trips IS
  'Dispatch: keeps the dispatch state (a trip created with a driver or an offer).';
CREATE TRIGGER trips_dispatch_state_upd AFTER UPDATE OF driver_id, offered_to_driver_id, status ON trips
  FOR EACH ROW WHEN (OLD.driver_id IS DISTINCT FROM NEW.driver_id
                     OR OLD.offered_to_driver_id IS DISTINCT FROM NEW.offered_to_driver_id
                     OR (NEW.driver_id IS NOT NULL
                         AND (OLD.status IN ('COMPLETED', 'CANCELLED')) <> (NEW.status IN ('COMPLETED', 'CANCELLED'))))
  EXECUTE FUNCTION dispatch_summary_trip_changed();
COMMENT ON TRIGGER trips_dispatch_state_upd ON trips IS
  'Dispatch: keeps the dispatch state (driver assigned or unassigned, offer made or cleared, trip over or reopened).';
CREATE TRIGGER trips_dispatch_state_del AFTER DELETE ON trips
  FOR EACH ROW WHEN (OLD.driver_id IS NOT NULL OR OLD.offered_to_driver_id IS NOT NULL)
  EXECUTE FUNCTION dispatch_summary_trip_changed();
COMMENT ON TRIGGER trips_dispatch_state_del ON trips IS
  'Dispatch: keeps the dispatch state (a trip with a driver or an offer deleted).';

CREATE FUNCTION refresh_dispatch_state() RETURNS integer
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF NOT is_trusted_caller() THEN
    PERFORM assert_app_role('ADMIN');
  END IF;
  RETURN dispatch_refresh_drivers(NULL);
END
$$;
COMMENT ON FUNCTION refresh_dispatch_state() IS
  'Recomputes the dispatch state (driver_locations.dispatch_*) of every driver and returns how many rows changed (0 when the triggers kept it). Needed only after loading drivers, vehicles, schedules or trips with triggers disabled (session_replication_role = replica); trusted callers and admins.';
SELECT api_expose('refresh_dispatch_state()'::regprocedure, 'service');

-- existing data (an upgrade from 0.2): compute the state once
SELECT refresh_dispatch_state();

-- find_drivers no longer runs a cursor whose plan shape matters (0.2 forced
-- generic plans for it); its remaining cached plans are simple lookups
ALTER FUNCTION find_drivers(uuid, integer, integer) RESET plan_cache_mode;
ALTER FUNCTION dispatch_search(uuid, integer, integer) RESET plan_cache_mode;
-- ===========================================================================
-- payouts (release 0.3): a cheaper run_payout_batch (src/payouts/README.md,
-- "Bench" says where the time goes).  Release 0.2 picked the bookings into
-- a materialised CTE, grouped it, joined it back to the groups and updated
-- each booking through its primary key (about 400 MB of temporary files and
-- 1,000,000 index descents for 1,000,000 bookings).  Now one UPDATE settles
-- the bookings in a single pass while the payouts are summed from exactly
-- the rows it settled.  (The rates CTE is MATERIALIZED to state that
-- platform_rate() runs once per tenant; the planner already evaluated it
-- per tenant row in 0.2, as a placeholder below the outer join.)
-- ===========================================================================

CREATE FUNCTION payout_group_id(batch_id uuid, driver_id uuid, tenant_id uuid, currency text)
  RETURNS uuid
  AS 'MODULE_PATHNAME', 'sg_payout_group_id'
  LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION payout_group_id(uuid, uuid, uuid, text) IS
  'Internal, for run_payout_batch: the id of the payout of one (driver, tenant or NULL, currency) group within a batch, a pure function of the batch id (a fresh UUIDv7) and the group: the batch id''s first 8 bytes (time-ordered like every key) and 62 bits of a hash of the group seeded with the batch id''s random bits. A hash collision between two groups of one batch makes the batch fail with 23505 (never merges them). NULL batch_id, driver_id or currency: 22004.';

CREATE FUNCTION payout_payable(gross numeric, minor_unit integer)
  RETURNS boolean
  AS 'MODULE_PATHNAME', 'sg_payout_payable'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION payout_payable(numeric, integer) IS
  'Internal, for run_payout_batch: whether payout_fee can split gross in a currency of that minor unit (gross has no more decimals than the minor unit), the test payout_fee makes before returning NULL, without the arithmetic. Same 22023 refusals as payout_fee for a NaN, infinite or negative gross and a minor unit outside 0..4.';

CREATE OR REPLACE FUNCTION run_payout_batch(period_end timestamptz DEFAULT now()) RETURNS integer
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  p_end timestamptz := run_payout_batch.period_end;
  default_rate numeric := platform_rate(NULL);
  batch_id uuid;
  n_payouts integer;
  new_ids uuid[];
BEGIN
  PERFORM require_arg(p_end, 'period_end');
  PERFORM assert_service_caller('run_payout_batch');
  IF NOT isfinite(p_end) OR p_end > now() THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'period_end must be a finite time not after now',
      DETAIL = format('period_end is %s, now is %s', p_end, now());
  END IF;

  -- One batch at a time.  A second run waits here; in READ COMMITTED its
  -- next statement sees what the first settled.  Under REPEATABLE READ a
  -- stale snapshot makes the settling UPDATE fail with 40001 instead.
  PERFORM pg_advisory_xact_lock(hashtextextended('steppergo.run_payout_batch', 0));

  -- 1. Cash bookings: never paid out; the platform's share becomes a
  --    commission the driver owes, and the booking's split is frozen.
  WITH rates AS MATERIALIZED (
    SELECT tn.id AS tenant_id, platform_rate(tn.id) AS rate FROM tenants tn
  ), cash AS (
    SELECT b.id, b.trip_id, t.driver_id, t.tenant_id, b.currency, b.total_amount,
           coalesce(r.rate, default_rate) AS rate,
           payout_fee(b.total_amount, coalesce(r.rate, default_rate), c.minor_unit) AS fee
      FROM bookings b
      JOIN trips t ON t.id = b.trip_id
      JOIN currencies c ON c.code = b.currency
      LEFT JOIN rates r ON r.tenant_id = t.tenant_id
     WHERE b.status = 'COMPLETED' AND b.platform_fee IS NULL
       AND b.payment_method_type = 'CASH_TO_DRIVER'
       AND t.completed_at < p_end AND t.driver_id IS NOT NULL
  ), frozen AS (
    UPDATE bookings b
       SET platform_rate = s.rate, platform_fee = s.fee, driver_amount = s.total_amount - s.fee
      FROM cash s
     WHERE b.id = s.id AND s.fee IS NOT NULL AND b.platform_fee IS NULL
    RETURNING b.id
  )
  INSERT INTO driver_commissions (driver_id, booking_id, trip_id, tenant_id, currency, gross, platform_rate, amount)
  SELECT s.driver_id, s.id, s.trip_id, s.tenant_id, s.currency, s.total_amount, s.rate, s.fee
    FROM cash s JOIN frozen f ON f.id = s.id;

  -- 2. ONLINE bookings, in one statement and one pass over the bookings:
  --    the UPDATE settles each booking (split computed in C and frozen,
  --    payout id of its driver, tenant and currency), and the payouts are
  --    the sums of exactly the rows it settled (RETURNING), so a payout
  --    always matches its bookings, even when a booking changed
  --    concurrently (READ COMMITTED re-checks such a row, and a row that
  --    no longer qualifies is neither settled nor summed).  Grouping by the
  --    id and the group's columns turns an id collision into a 23505.
  batch_id := uuid_generate_v7();
  WITH rates AS MATERIALIZED (
    SELECT tn.id AS tenant_id, platform_rate(tn.id) AS rate FROM tenants tn
  ), settled AS (
    UPDATE bookings b
       SET payout_id = payout_group_id(batch_id, t.driver_id, t.tenant_id, b.currency),
           payout_settled = true, settled_at = now(),
           platform_rate = coalesce(r.rate, default_rate),
           platform_fee = payout_fee(b.total_amount, coalesce(r.rate, default_rate), c.minor_unit),
           driver_amount = b.total_amount - payout_fee(b.total_amount, coalesce(r.rate, default_rate), c.minor_unit)
      FROM trips t
      LEFT JOIN rates r ON r.tenant_id = t.tenant_id, currencies c
     WHERE t.id = b.trip_id AND c.code = b.currency
       AND b.status = 'COMPLETED' AND b.platform_fee IS NULL AND NOT b.payout_settled
       AND b.payment_method_type = 'ONLINE'
       AND t.completed_at < p_end AND t.driver_id IS NOT NULL
       AND payout_payable(b.total_amount, c.minor_unit)
    RETURNING b.payout_id, t.driver_id, t.tenant_id, b.currency, b.trip_id, b.driver_amount, t.completed_at
  ), per_trip AS (
    SELECT s.payout_id, s.driver_id, s.tenant_id, s.currency, s.trip_id,
           sum(s.driver_amount) AS amount, count(*) AS n_bookings, min(s.completed_at) AS completed_at
      FROM settled s
     GROUP BY s.payout_id, s.driver_id, s.tenant_id, s.currency, s.trip_id
  ), ins AS (
    INSERT INTO payouts (id, driver_id, amount, currency, status, period_start, period_end,
                         trips_count, bookings_count, tenant_id)
    SELECT pt.payout_id, pt.driver_id, sum(pt.amount), pt.currency, 'PENDING', min(pt.completed_at), p_end,
           count(*), sum(pt.n_bookings), pt.tenant_id
      FROM per_trip pt
     GROUP BY pt.payout_id, pt.driver_id, pt.tenant_id, pt.currency
    RETURNING id
  )
  SELECT count(*), array_agg(id) INTO n_payouts, new_ids FROM ins;

  -- 3. Optionally, deduct owed cash commissions from the new payouts:
  --    oldest first, whole commissions only, never below zero.
  IF n_payouts > 0 AND current_setting('steppergo.payout_net_cash_commission')::boolean THEN
    WITH owed AS (
      SELECT c.id, p.id AS payout_id, p.amount AS payout_amount,
             sum(c.amount) OVER (PARTITION BY p.id ORDER BY c.recorded_at, c.id) AS running
        FROM payouts p
        JOIN driver_commissions c ON c.driver_id = p.driver_id AND c.currency = p.currency
                                 AND c.tenant_id IS NOT DISTINCT FROM p.tenant_id AND c.status = 'OWED'
       WHERE p.id = ANY (new_ids)
    ), marked AS (
      UPDATE driver_commissions c
         SET status = 'NETTED', payout_id = o.payout_id, netted_at = now()
        FROM owed o
       WHERE c.id = o.id AND o.running <= o.payout_amount AND c.status = 'OWED'
      RETURNING c.payout_id, c.amount
    )
    UPDATE payouts p
       SET commission_netted = m.total, amount = p.amount - m.total
      FROM (SELECT marked.payout_id, sum(marked.amount) AS total FROM marked GROUP BY marked.payout_id) m
     WHERE p.id = m.payout_id;
  END IF;

  RETURN n_payouts;
END
$$;
-- ===========================================================================
-- messaging (release 0.3)
--
-- message_history returns a named row type instead of RETURNS TABLE: the
-- executor then takes the result's row type from the type cache, where for
-- a RETURNS TABLE function it builds it from pg_proc's argument arrays on
-- every call (about a thirtieth of a page read, callgrind).  Same columns,
-- same order, same C (history.c), same arguments: callers see no
-- difference.  Dropped and created again (a function's result type cannot
-- be replaced); run setup_api_roles() after the update, as for every update,
-- to grant it again.
-- ===========================================================================

CREATE TYPE message_history_row AS (
  id            uuid,
  sender_id     uuid,
  type          message_type,
  content       text,
  metadata      jsonb,
  status        message_status,
  sent_at       timestamptz,
  delivered_at  timestamptz,
  read_at       timestamptz,
  edited_at     timestamptz,
  is_reported   boolean,
  is_hidden     boolean
);
COMMENT ON TYPE message_history_row IS 'A row of message_history(): one message of a conversation page.';
COMMENT ON COLUMN message_history_row.id IS 'The message (messages.id).';
COMMENT ON COLUMN message_history_row.sender_id IS 'Who sent it (messages.sender_id).';
COMMENT ON COLUMN message_history_row.type IS 'TEXT, IMAGE, FILE, LOCATION or SYSTEM (messages.type).';
COMMENT ON COLUMN message_history_row.content IS 'The text (messages.content).';
COMMENT ON COLUMN message_history_row.metadata IS 'Per-type details (messages.metadata).';
COMMENT ON COLUMN message_history_row.status IS 'SENT, DELIVERED or READ (messages.status).';
COMMENT ON COLUMN message_history_row.sent_at IS 'When it was sent; the keyset of the pages (messages.sent_at).';
COMMENT ON COLUMN message_history_row.delivered_at IS 'When it was delivered (messages.delivered_at).';
COMMENT ON COLUMN message_history_row.read_at IS 'When it was read (messages.read_at).';
COMMENT ON COLUMN message_history_row.edited_at IS 'When its sender last edited it (messages.edited_at).';
COMMENT ON COLUMN message_history_row.is_reported IS 'Reported by a participant (messages.is_reported).';
COMMENT ON COLUMN message_history_row.is_hidden IS 'Hidden by a moderator; only moderators get such rows (messages.is_hidden).';

DROP FUNCTION message_history(uuid, timestamptz, integer, uuid);
CREATE FUNCTION message_history(conversation_id uuid, before timestamptz DEFAULT NULL, page_size integer DEFAULT 50,
                                user_id uuid DEFAULT NULL)
  RETURNS SETOF message_history_row
  AS 'MODULE_PATHNAME', 'sg_messaging_history'
  LANGUAGE C STABLE SECURITY DEFINER ROWS 50
  SET search_path FROM CURRENT;
COMMENT ON FUNCTION message_history(uuid, timestamptz, integer, uuid) IS
  'One page of a conversation''s history, newest first: at most page_size (1..200, default 50) messages sent before before (NULL: the newest); pass the sent_at of a page''s last row as before to get the next page (keyset on messages_conversation_sent_idx; sent_at is unique per conversation). Participants never get hidden messages, and one who left gets the history up to their leaving; an ADMIN or a trusted caller without user_id reads everything with is_hidden shown. 42501 non-participant, PT404 unknown conversation, 22023 bad page_size.';
SELECT api_expose('message_history(uuid,timestamptz,integer,uuid)'::regprocedure, 'authenticated');
-- ---------------------------------------------------------------------------
-- activities: release 0.3 (performance work of issue 8; see README.md, Bench)
-- ---------------------------------------------------------------------------

-- search_activities in C (src/activities/search.c): the same checks in the
-- same order with the same SQLSTATEs, the same eight queries, each prepared
-- once per backend as a generic plan and run straight into the result.
-- SECURITY DEFINER with the search_path pinned as before; the
-- plan_cache_mode setting is gone (the C code asks for generic plans).
CREATE OR REPLACE FUNCTION search_activities(city text DEFAULT NULL, category text DEFAULT NULL,
                                             lat double precision DEFAULT NULL, lng double precision DEFAULT NULL,
                                             radius_m integer DEFAULT NULL, sort text DEFAULT 'rating',
                                             max_results integer DEFAULT 20)
  RETURNS SETOF activity_search_result
  AS 'MODULE_PATHNAME', 'sg_search_activities'
  LANGUAGE C STABLE SECURITY DEFINER
  SET search_path FROM CURRENT;
COMMENT ON FUNCTION search_activities(text, text, double precision, double precision, integer, text, integer) IS
  'Published (ACTIVE) activities, optionally in a city, of a category (activity_categories(); 22023 otherwise) and within radius_m (1..1000000) metres of lat/lng (given together, in range; 22023 otherwise); sort rating (best rated first, then most reviewed, then id) or distance (nearest to lat/lng first, through the GiST index; 22004 without a point); distance_m is NULL without a point. At most max_results (1..100) rows with the cover photo''s URL. In C (search.c): one prepared generic plan per combination of filters.';

-- activity_price: the same rule in PL/pgSQL, whose plan is kept for the
-- session; as a SQL function with a pinned search_path (never inlined) its
-- body was read and planned again in every booking transaction
CREATE OR REPLACE FUNCTION activity_price(group_pricing jsonb, price_per_person integer, participants integer)
  RETURNS integer
  LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
BEGIN
  RETURN coalesce((SELECT (t ->> 'pricePerPerson')::int FROM jsonb_array_elements(group_pricing) t
                    WHERE participants BETWEEN (t ->> 'minParticipants')::int AND (t ->> 'maxParticipants')::int
                    LIMIT 1), price_per_person);
END
$$;
