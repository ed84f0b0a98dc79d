-- Baseline: the plain PostGIS radius + KNN query (no eligibility rules):
-- the 10 nearest drivers within 5 km of a pickup point in Almaty.
\set x random(0, 200000)
\set y random(0, 200000)
SELECT driver_id, ST_Distance(geog, p) AS distance_m
  FROM steppergo.driver_locations,
       (SELECT steppergo.geog_point(43.14 + :x / 1000000.0, 76.73 + :y / 1000000.0 * 1.5) AS p) o
 WHERE ST_DWithin(geog, p, 5000)
 ORDER BY geog <-> p
 LIMIT 10;
