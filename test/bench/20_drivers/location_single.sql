-- One ping through update_driver_location (validation, caller check,
-- throttled drivers.last_activity_at) against the bare UPDATE.
\set n random(1, :nd20)
\set dlat random(-1350, 1350)
\set dlng random(-1850, 1850)
SELECT steppergo.update_driver_location(driver_id, 43.238 + :dlat / 10000.0, 76.889 + :dlng / 10000.0, 90, 10, 5)
  FROM bench20_drivers WHERE n = :n;
