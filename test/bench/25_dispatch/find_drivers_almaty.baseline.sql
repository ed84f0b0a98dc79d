-- Baseline: the bare PostGIS radius + KNN query (no eligibility, no score, no
-- writes) around the same trips' pickup points.  The pickup point is a
-- scalar subquery (an init plan, evaluated once), so the GiST index serves
-- ORDER BY <-> with LIMIT 10 exactly as with a literal point.
\set n random(1, :ntrips_dispatch)
SELECT l.driver_id,
       ST_Distance(l.geog, (SELECT t.origin_geog FROM steppergo.trips t
                             WHERE t.id = (SELECT trip_id FROM bench_dispatch_trips WHERE world = 'almaty' AND n = :n))) AS distance_m
  FROM steppergo.driver_locations l
 WHERE ST_DWithin(l.geog, (SELECT t.origin_geog FROM steppergo.trips t
                            WHERE t.id = (SELECT trip_id FROM bench_dispatch_trips WHERE world = 'almaty' AND n = :n)), 5000)
 ORDER BY l.geog <-> (SELECT t.origin_geog FROM steppergo.trips t
                       WHERE t.id = (SELECT trip_id FROM bench_dispatch_trips WHERE world = 'almaty' AND n = :n))
 LIMIT 10;
