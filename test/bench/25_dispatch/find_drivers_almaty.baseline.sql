-- Baseline: the bare PostGIS radius + KNN query (no eligibility, no score, no
-- writes) around the same trips' pickup points.
\set n random(1, :ntrips_dispatch)
SELECT l.driver_id, ST_Distance(l.geog, o.p) AS distance_m
  FROM steppergo.driver_locations l,
       (SELECT t.origin_geog AS p FROM steppergo.trips t
         WHERE t.id = (SELECT trip_id FROM bench_dispatch_trips WHERE world = 'almaty' AND n = :n)) o
 WHERE ST_DWithin(l.geog, o.p, 5000)
 ORDER BY l.geog <-> o.p
 LIMIT 10;
