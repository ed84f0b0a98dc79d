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
