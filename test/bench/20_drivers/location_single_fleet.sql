-- As location_single, for a driver drawn from the whole fleet: at scale 1
-- (100,000 drivers) each driver pings only every ~20 s, so the throttled
-- write of drivers.last_activity_at (once a minute per driver) comes with
-- one ping in three instead of one in twelve: the worst case, no target.
\set n random(1, :nd20)
\set dlat random(-1350, 1350)
\set dlng random(-1850, 1850)
SELECT steppergo.update_driver_location(driver_id, 43.238 + :dlat / 10000.0, 76.889 + :dlng / 10000.0, 90, 10, 5)
  FROM bench20_drivers WHERE n = :n;
