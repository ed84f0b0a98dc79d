-- Baseline: the bare query on the (city, category) index, same columns.
\set c random(1, 10)
\set k random(1, 14)
SELECT a.id, a.title, a.category, a.city, a.price_per_person, a.currency, a.duration_minutes,
       a.average_rating, a.review_count, a.latitude, a.longitude, NULL::float8 AS distance_m,
       (SELECT p.url FROM steppergo.activity_photos p WHERE p.activity_id = a.id AND p.is_cover) AS cover_url
  FROM steppergo.activities a
 WHERE a.city = (ARRAY['Almaty','Astana','Shymkent','Karaganda','Aktobe','Taraz','Pavlodar','Oskemen','Atyrau','Turkistan'])[:c::int]
   AND a.category = (steppergo.activity_categories())[:k::int] AND a.status = 'ACTIVE'
 ORDER BY a.average_rating DESC, a.review_count DESC, a.id
 LIMIT 20;
