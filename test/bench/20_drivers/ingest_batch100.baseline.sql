-- Baseline: the bare set-based UPDATE from the same JSON batch of 100 pings
-- (no validation, no caller check, no last_activity_at).
\set k random(1, :nb100)
UPDATE steppergo.driver_locations l
   SET latitude = p.lat, longitude = p.lng, heading = p.heading, speed = p.speed,
       accuracy = p.accuracy, last_updated = now()
  FROM bench20_batches b,
       jsonb_to_recordset(b.pings) AS p(driver_id uuid, lat float8, lng float8, heading float8, speed float8, accuracy float8)
 WHERE b.size = 100 AND b.k = :k AND l.driver_id = p.driver_id;
