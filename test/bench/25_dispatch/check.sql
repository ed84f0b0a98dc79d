-- Invariants after the dispatch bench (prints one row per violation): for
-- 20 trips of each world, every driver find_drivers returns is inside the
-- radius by PostGIS, its distance agrees with ST_Distance within 0.1 %, it
-- passes every eligibility rule, and no nearer eligible driver was missed
-- when fewer than 10 were returned; and the dispatch state kept on the
-- position rows equals the recount.
WITH t AS (
  SELECT tr.* FROM bench_dispatch_trips b JOIN steppergo.trips tr ON tr.id = b.trip_id
   WHERE b.n <= 20
), f AS (
  SELECT t.id AS trip_id, f.*, ST_Distance(l.geog, t.origin_geog) AS postgis_m,
         steppergo.dispatch_exclusion(t, f.driver_id) AS why
    FROM t, steppergo.find_drivers(t.id, 5000, 10) f
    JOIN steppergo.driver_locations l ON l.driver_id = f.driver_id
)
SELECT 'bad result' AS violation, trip_id, driver_id, distance_m, postgis_m, why
  FROM f
 WHERE postgis_m > 5000 OR abs(distance_m - postgis_m) > 0.001 * postgis_m OR why IS NOT NULL
UNION ALL
SELECT 'missed driver', t.id, l.driver_id, NULL, ST_Distance(l.geog, t.origin_geog), NULL
  FROM t JOIN steppergo.driver_locations l ON ST_DWithin(l.geog, t.origin_geog, 5000)
 WHERE (SELECT count(*) FROM f WHERE f.trip_id = t.id) < 10
   AND steppergo.dispatch_exclusion(t, l.driver_id) IS NULL
   AND l.driver_id NOT IN (SELECT f.driver_id FROM f WHERE f.trip_id = t.id);
-- the dispatch state on every position row equals the recount (triggers kept
-- it through the load and the run)
SELECT 'dispatch state drift', l.driver_id, NULL, NULL, NULL, NULL
  FROM steppergo.driver_locations l JOIN steppergo.driver_dispatch_state s ON s.driver_id = l.driver_id
 WHERE (l.dispatch_ready, l.dispatch_accepts_private, l.dispatch_accepts_shared, l.dispatch_seats,
        l.dispatch_holds, l.dispatch_rating, l.dispatch_review_count, l.dispatch_acceptance_rate)
       IS DISTINCT FROM
       (s.ready, s.accepts_private, s.accepts_shared, s.seats, s.holds, s.rating, s.review_count,
        s.acceptance_rate);
