-- Baseline: the bare single-row UPDATE of a driver's position.
\set n random(1, :ndrivers)
\set dlat random(-500, 500)
\set dlng random(-500, 500)
UPDATE steppergo.driver_locations
   SET latitude = latitude + :dlat / 1000000.0, longitude = longitude + :dlng / 1000000.0,
       last_updated = now()
 WHERE driver_id = (SELECT driver_id FROM bench_drivers WHERE n = :n);
