-- find_drivers (full eligibility, score, visibility recorded) for a trip
-- anywhere in Kazakhstan: 1,000,000 drivers.
\set n random(1, :ntrips_dispatch)
SELECT * FROM steppergo.find_drivers((SELECT trip_id FROM bench_dispatch_trips WHERE world = 'kz' AND n = :n), 5000, 10);
