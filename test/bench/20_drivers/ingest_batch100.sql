-- A batch of 100 pings through update_driver_locations.
-- pings per second = TPS x 100 (the case name says the batch size).
\set k random(1, :nb100)
SELECT steppergo.update_driver_locations(pings) FROM bench20_batches WHERE size = 100 AND k = :k;
