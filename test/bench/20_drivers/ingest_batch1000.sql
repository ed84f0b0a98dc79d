-- A batch of 1000 pings through update_driver_locations.
-- pings per second = TPS x 1000 (the case name says the batch size).
\set k random(1, :nb1000)
SELECT steppergo.update_driver_locations(pings) FROM bench20_batches WHERE size = 1000 AND k = :k;
