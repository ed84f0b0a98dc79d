-- dispatch: example calls (run by test/demo/run on the demo data)
\pset footer off

-- Positions older than steppergo.dispatch_max_location_age (60 s) are not
-- matched, and the demo data may have been loaded long ago: the online
-- drivers' apps report in first (one gateway batch, their last positions).
\echo '-- dispatch: the online drivers'' apps report their positions (one update_driver_locations batch)'
SELECT steppergo.update_driver_locations(jsonb_agg(jsonb_build_object(
         'driver_id', l.driver_id, 'lat', l.latitude, 'lng', l.longitude,
         'heading', l.heading, 'speed', l.speed, 'accuracy', l.accuracy))) AS pings_written
  FROM steppergo.driver_locations l
  JOIN steppergo.drivers d ON d.id = l.driver_id
 WHERE d.availability = 'ONLINE';

SELECT t.id AS trip, t.trip_type, t.origin_name, t.departure_time AT TIME ZONE 'Asia/Almaty' AS departs_local,
       t.driver_discovery_radius AS radius_m
  FROM steppergo.trips t
 WHERE t.status = 'PUBLISHED' AND t.trip_type = 'PRIVATE'
 ORDER BY t.departure_time, t.id LIMIT 1 \gset demo_

\echo '-- dispatch: the trip to dispatch (the first published private trip)'
SELECT :'demo_trip' AS trip, :'demo_trip_type' AS type, :'demo_origin_name' AS origin,
       :'demo_departs_local' AS departs_local, :'demo_radius_m' AS radius_m;

\echo '-- dispatch: find_drivers (C, GiST KNN with early stop, full eligibility, WGS84 distances)'
SELECT d.driver_id, round(f.distance_m) AS distance_m, round(f.score::numeric, 3) AS score,
       d.rating, d.acceptance_rate
  FROM steppergo.find_drivers(:'demo_trip', NULL, 5) f
  JOIN steppergo.drivers d ON d.id = f.driver_id
 ORDER BY f.score DESC, f.distance_m;

\echo '-- dispatch: explain_dispatch, every driver inside the radius: matched, or the first rule that excluded them'
SELECT coalesce(excluded_by, 'eligible') AS outcome, count(*) AS drivers,
       round(min(distance_m)) AS nearest_m
  FROM steppergo.explain_dispatch(:'demo_trip')
 GROUP BY 1 ORDER BY 2 DESC, 1;

\echo '-- dispatch: offer to the best driver, who accepts in time (rolled back)'
BEGIN;
SELECT steppergo.offer_trip(:'demo_trip') AS offered_id \gset demo_
SELECT t.status, d.driver_id AS offered_to,
       round(extract(epoch FROM t.acceptance_deadline - now())) AS seconds_to_answer
  FROM steppergo.trips t JOIN steppergo.drivers d ON d.id = t.offered_to_driver_id
 WHERE t.id = :'demo_trip';
SELECT steppergo.accept_trip(:'demo_trip', :'demo_offered_id');
SELECT t.status, d.driver_id AS driver
  FROM steppergo.trips t JOIN steppergo.drivers d ON d.id = t.driver_id
 WHERE t.id = :'demo_trip';
SELECT l.action, d.driver_id, l.response_time_seconds
  FROM steppergo.trip_acceptance_logs l JOIN steppergo.drivers d ON d.id = l.driver_id
 WHERE l.trip_id = :'demo_trip' ORDER BY l.created_at, l.action;
ROLLBACK;
