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
