-- One ping through update_driver_location (validation, caller check,
-- throttled drivers.last_activity_at) against the bare UPDATE, from the live
-- pool: 20,000 drivers (at most), each pinging every ~4 s at the ~5,000
-- pings/s two cores absorb, the cadence of the driver app, so the throttled
-- write of drivers.last_activity_at (once a minute per driver) comes as
-- often as in production (location_single_fleet: the whole fleet).
\set n random(1, :nd20_live)
\set dlat random(-1350, 1350)
\set dlng random(-1850, 1850)
SELECT steppergo.update_driver_location(driver_id, 43.238 + :dlat / 10000.0, 76.889 + :dlng / 10000.0, 90, 10, 5)
  FROM bench20_drivers WHERE n = :n;
