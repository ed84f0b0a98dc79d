-- Invariant after the drivers bench (concurrent single pings and batches):
-- whenever a ping recorded that it refreshed drivers.last_activity_at
-- (driver_locations.activity_synced_at), the driver row carries at least
-- that time.  Prints one row per violation.
SELECT l.driver_id, l.activity_synced_at, d.last_activity_at
  FROM steppergo.driver_locations l JOIN steppergo.drivers d ON d.id = l.driver_id
 WHERE l.activity_synced_at IS NOT NULL
   AND (d.last_activity_at IS NULL OR d.last_activity_at < l.activity_synced_at);
