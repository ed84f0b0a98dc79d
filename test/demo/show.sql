-- Example queries printed by test/demo/run.
\pset footer off
\echo '-- What is in the marketplace'
SELECT (SELECT count(*) FROM steppergo.drivers) AS drivers,
       (SELECT count(*) FROM steppergo.drivers WHERE status = 'APPROVED' AND availability = 'ONLINE') AS online_approved,
       (SELECT count(*) FROM steppergo.trips) AS trips,
       (SELECT count(*) FROM steppergo.bookings) AS bookings,
       (SELECT count(*) FROM steppergo.activities WHERE status = 'ACTIVE') AS active_activities;

\echo '-- Trips by status'
SELECT status, trip_type, count(*) FROM steppergo.trips GROUP BY 1, 2 ORDER BY 1, 2;

\echo '-- The 5 nearest online approved drivers to Dostyk Plaza (43.2330 N, 76.9560 E), PostGIS KNN on the GiST index'
SELECT d.driver_id, u.name, round(ST_Distance(l.geog, p.g)::numeric) AS metres, d.rating
  FROM (SELECT steppergo.geog_point(43.2330, 76.9560) AS g) p
  CROSS JOIN LATERAL (
    SELECT * FROM steppergo.driver_locations l
     WHERE ST_DWithin(l.geog, p.g, 3000)
     ORDER BY l.geog <-> p.g LIMIT 50) l
  JOIN steppergo.drivers d ON d.id = l.driver_id AND d.status = 'APPROVED' AND d.availability = 'ONLINE'
  JOIN steppergo.users u ON u.id = d.user_id
 ORDER BY l.geog <-> p.g LIMIT 5;

\echo '-- Upcoming shared rides with free seats'
SELECT title, to_char(departure_time AT TIME ZONE timezone, 'YYYY-MM-DD HH24:MI') AS local_departure,
       available_seats || '/' || total_seats AS seats, price_per_seat, currency
  FROM steppergo.trips
 WHERE trip_type = 'SHARED' AND status IN ('PUBLISHED', 'OFFERED') AND available_seats > 0 AND departure_time > now()
 ORDER BY departure_time LIMIT 5;

\echo '-- The 85/15 split of the largest completed bookings: payout_split, exact numeric in C'
SELECT b.total_amount AS gross, s.platform_fee, s.driver_amount, b.payment_method_type
  FROM steppergo.bookings b
  JOIN steppergo.trips t ON t.id = b.trip_id
  CROSS JOIN LATERAL steppergo.payout_split(b.total_amount, steppergo.platform_rate(t.tenant_id)) s
 WHERE b.status = 'COMPLETED' ORDER BY b.total_amount DESC, b.id LIMIT 3;

\echo '-- Top activities by rating'
SELECT a.title, a.category, a.price_per_person AS kzt_per_person,
       round(avg(r.rating), 2) AS rating, count(r.*) AS reviews
  FROM steppergo.activities a LEFT JOIN steppergo.activity_reviews r ON r.activity_id = a.id
 WHERE a.status = 'ACTIVE'
 GROUP BY a.id ORDER BY rating DESC NULLS LAST, reviews DESC LIMIT 5;
