-- Baseline: the bare single-row UPDATE of a driver's position (no checks),
-- any driver of the fleet.
\set n random(1, :nd20)
\set dlat random(-1350, 1350)
\set dlng random(-1850, 1850)
UPDATE steppergo.driver_locations
   SET latitude = 43.238 + :dlat / 10000.0, longitude = 76.889 + :dlng / 10000.0,
       heading = 90, speed = 10, accuracy = 5, last_updated = now()
 WHERE driver_id = (SELECT driver_id FROM bench20_drivers WHERE n = :n);
