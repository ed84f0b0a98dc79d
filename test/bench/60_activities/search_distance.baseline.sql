-- Baseline: the bare KNN query on the GiST index of geog, same columns.
\set x random(0, 200000)
\set y random(0, 200000)
SELECT a.id, a.title, a.category, a.city, a.price_per_person, a.currency, a.duration_minutes,
       a.average_rating, a.review_count, a.latitude, a.longitude, ST_Distance(a.geog, o.p) AS distance_m,
       (SELECT p.url FROM steppergo.activity_photos p WHERE p.activity_id = a.id AND p.is_cover) AS cover_url
  FROM steppergo.activities a,
       (SELECT steppergo.geog_point(43.14 + :x::int / 1000000.0, 76.73 + :y::int / 1000000.0 * 1.5) AS p) o
 WHERE a.status = 'ACTIVE' AND a.geog IS NOT NULL
 ORDER BY a.geog <-> o.p
 LIMIT 20;
