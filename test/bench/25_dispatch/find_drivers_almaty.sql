-- find_drivers (full eligibility, score, visibility recorded) for a trip in
-- the Almaty box: 100,000 online drivers in 30 x 30 km.
\set n random(1, :ntrips_dispatch)
SELECT * FROM steppergo.find_drivers((SELECT trip_id FROM bench_dispatch_trips WHERE world = 'almaty' AND n = :n), 5000, 10);
