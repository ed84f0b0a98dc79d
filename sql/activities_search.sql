-- activities: search_activities (C since 0.3, src/activities/search.c)
-- against the bare SQL it stands for, on every path: the direct scan of the
-- (city, category) index, the same search through the prepared query when
-- the direct path may not run, the distance and point queries; every
-- refusal; the caller's search_path; the category list changing.
-- Data: one transaction, rolled back (emails search.*@activities.test,
-- phones +790640000NN, cities Searchgrad and Otherburg).
\set VERBOSITY terse
SET client_min_messages = warning;
SET search_path = steppergo, public;

-- err(sql): the refusal's SQLSTATE, message and detail
CREATE FUNCTION pg_temp.err(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE d text;
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS d = PG_EXCEPTION_DETAIL;
  RETURN SQLSTATE || ': ' || SQLERRM || coalesce(' / ' || nullif(d, ''), '');
END $$;

-- got(...): what search_activities returns, in its order, as text
CREATE FUNCTION pg_temp.got(c text, k text, la float8, lo float8, r int, s text, n int) RETURNS text
  LANGUAGE sql AS $$
  SELECT coalesce(string_agg(row(x.id, x.title, x.category, x.city, x.price_per_person, x.currency, x.duration_minutes,
                                 x.average_rating, x.review_count, x.latitude, x.longitude, x.distance_m, x.cover_url)::text,
                             E'\n' ORDER BY x.o), '')
    FROM steppergo.search_activities(c, k, la, lo, r, s, n) WITH ORDINALITY
         AS x(id, title, category, city, price_per_person, currency, duration_minutes, average_rating, review_count,
              latitude, longitude, distance_m, cover_url, o) $$;
-- want(...): the same search as one bare query with ORs of its arguments
CREATE FUNCTION pg_temp.want(c text, k text, la float8, lo float8, r int, s text, n int) RETURNS text
  LANGUAGE sql AS $$
  SELECT coalesce(string_agg(row(x.id, x.title, x.category, x.city, x.price_per_person, x.currency, x.duration_minutes,
                                 x.average_rating, x.review_count, x.latitude, x.longitude, x.distance_m, x.cover_url)::text,
                             E'\n' ORDER BY x.o), '')
    FROM (SELECT a.*, ST_Distance(a.geog, steppergo.geog_point(la, lo)) AS distance_m,
                 (SELECT p.url FROM steppergo.activity_photos p WHERE p.activity_id = a.id AND p.is_cover) AS cover_url,
                 row_number() OVER (ORDER BY CASE WHEN s = 'distance' THEN a.geog <-> steppergo.geog_point(la, lo) END,
                                             a.average_rating DESC, a.review_count DESC, a.id) AS o
            FROM steppergo.activities a
           WHERE a.status = 'ACTIVE' AND (c IS NULL OR a.city = c) AND (k IS NULL OR a.category = k)
             AND (r IS NULL OR ST_DWithin(a.geog, steppergo.geog_point(la, lo), r))
             AND (s = 'rating' OR a.geog IS NOT NULL)) x
   WHERE x.o <= n $$;

BEGIN;
-- a verified owner; 90 listings in two cities, four categories, some
-- PAUSED or DRAFT, some without a position; ratings and review counts with
-- many ties (the id decides), covers on most, a second photo on some
INSERT INTO users (email, phone, name, password_hash, role)
VALUES ('search.owner@activities.test', '+79064000001', 'Search Owner', 'x', 'ACTIVITY_OWNER');
INSERT INTO activity_owners (user_id, business_name, verification_status, verified_at, city)
SELECT id, 'Search Tours', 'VERIFIED', now(), 'Searchgrad' FROM users WHERE email = 'search.owner@activities.test';
INSERT INTO activities (owner_id, title, category, status, city, latitude, longitude, price_per_person, published_at)
SELECT o.id, 'Search act ' || g, (ARRAY['TOUR', 'NATURE', 'FOOD', 'WATER'])[1 + g % 4],
       CASE WHEN g % 9 = 0 THEN 'PAUSED' WHEN g % 13 = 0 THEN 'DRAFT' ELSE 'ACTIVE' END,
       CASE WHEN g % 3 = 0 THEN 'Otherburg' ELSE 'Searchgrad' END,
       CASE WHEN g % 11 = 0 THEN NULL ELSE 43.0 + g * 0.0013 END,
       CASE WHEN g % 11 = 0 THEN NULL ELSE 76.5 + (g * 37 % 101) * 0.0021 END,
       1000 + g, now()
  FROM generate_series(1, 90) g, activity_owners o WHERE o.business_name = 'Search Tours';
CREATE TEMP TABLE sa AS
SELECT row_number() OVER (ORDER BY a.price_per_person)::int AS g, a.id FROM activities a
  JOIN activity_owners o ON o.id = a.owner_id WHERE o.business_name = 'Search Tours';
UPDATE activities a SET average_rating = (ARRAY[5.00, 4.50, 4.50, 3.00, 0])[1 + s.g % 5],
                        review_count = (ARRAY[2, 2, 7, 1, 0])[1 + s.g % 5]
  FROM sa s WHERE s.id = a.id;
-- row versions the scans must skip: a category moved (a new index entry),
-- titles rewritten twice (HOT chains)
UPDATE activities a SET category = 'FOOD' FROM sa s WHERE s.id = a.id AND s.g % 10 = 1;
UPDATE activities a SET title = title || ' (new)' FROM sa s WHERE s.id = a.id AND s.g % 4 = 2;
UPDATE activities a SET title = title || '!' FROM sa s WHERE s.id = a.id AND s.g % 8 = 2;
INSERT INTO activity_photos (activity_id, url, cloudinary_id, "order", is_cover)
SELECT s.id, 'https://res.cloudinary.com/search/c' || s.g || '.jpg', 'search/c' || s.g, 0, true FROM sa s WHERE s.g % 7 <> 0;
INSERT INTO activity_photos (activity_id, url, cloudinary_id, "order", is_cover)
SELECT s.id, 'https://res.cloudinary.com/search/x' || s.g || '.jpg', 'search/x' || s.g, 1, false FROM sa s WHERE s.g % 7 <> 0 AND s.g % 2 = 0;
SELECT count(*) FILTER (WHERE a.status = 'ACTIVE') AS active, count(*) AS listings,
       count(DISTINCT (a.average_rating, a.review_count)) AS rating_keys
  FROM activities a JOIN sa s ON s.id = a.id;

-- the best rated of a category in a city: the direct scan
SET client_min_messages = debug1;
SELECT title, category, average_rating, review_count, distance_m, cover_url
  FROM search_activities(city => 'Searchgrad', category => 'FOOD', max_results => 6);
SET client_min_messages = warning;

-- every city (and one without listings) x every category (and all) x limits:
-- the same rows, columns and order as the bare query
CREATE TEMP TABLE rating_cases AS
SELECT c.c, k.k, n.n FROM (VALUES ('Searchgrad'), ('Otherburg'), ('Nowhere'), ('')) c(c),
       (SELECT unnest(activity_categories()) UNION ALL SELECT NULL) k(k), (VALUES (1), (3), (20), (100)) n(n);
SELECT count(*) AS cases, count(*) FILTER (WHERE pg_temp.got(c, k, NULL, NULL, NULL, 'rating', n) <> '') AS with_rows,
       count(*) FILTER (WHERE pg_temp.got(c, k, NULL, NULL, NULL, 'rating', n)
                              IS DISTINCT FROM pg_temp.want(c, k, NULL, NULL, NULL, 'rating', n)) AS differ
  FROM rating_cases;

-- without the (city, category) index the direct path does not run: the
-- prepared query gives the same answers
SAVEPOINT no_index;
DROP INDEX activities_city_category_idx;
SET client_min_messages = debug1;
SELECT count(*) FROM search_activities(city => 'Searchgrad', category => 'FOOD', max_results => 6);
SET client_min_messages = warning;
SELECT count(*) AS cases,
       count(*) FILTER (WHERE pg_temp.got(c, k, NULL, NULL, NULL, 'rating', n)
                              IS DISTINCT FROM pg_temp.want(c, k, NULL, NULL, NULL, 'rating', n)) AS differ
  FROM rating_cases;
ROLLBACK TO SAVEPOINT no_index;
-- and with it back, the direct scan again
SET client_min_messages = debug1;
SELECT count(*) FROM search_activities(city => 'Searchgrad', category => 'FOOD', max_results => 6);
SET client_min_messages = warning;

-- the other seven queries: by rating anywhere, with a point and a radius,
-- by distance with and without a city and a radius
SELECT count(*) AS cases, count(*) FILTER (WHERE pg_temp.got(c, k, la, lo, r, s, n) <> '') AS with_rows,
       count(*) FILTER (WHERE pg_temp.got(c, k, la, lo, r, s, n) IS DISTINCT FROM pg_temp.want(c, k, la, lo, r, s, n)) AS differ
  FROM (VALUES ('Searchgrad'), ('Otherburg'), (NULL)) c(c), (VALUES ('FOOD'), ('WATER'), (NULL)) k(k),
       (VALUES (43.05::float8, 76.6::float8), (NULL, NULL)) p(la, lo), (VALUES (NULL::int), (3000), (20000)) r(r),
       (VALUES ('rating'), ('distance')) s(s), (VALUES (1), (5), (100)) n(n)
 WHERE (la IS NOT NULL OR (r IS NULL AND s = 'rating'))
   AND NOT (c IS NOT NULL AND la IS NULL);
SELECT title, round(distance_m) AS m, cover_url
  FROM search_activities(lat => 43.05, lng => 76.6, radius_m => 3000, sort => 'distance', max_results => 4);

-- a caller's search_path changes nothing: look-alike objects first
SAVEPOINT evil;
CREATE SCHEMA search_evil;
CREATE TABLE search_evil.activities (LIKE steppergo.activities);
CREATE TABLE search_evil.activity_photos (LIKE steppergo.activity_photos);
CREATE FUNCTION search_evil.activity_categories() RETURNS text[] LANGUAGE sql IMMUTABLE RETURN ARRAY['EVIL'];
CREATE FUNCTION search_evil.geog_point(lat double precision, lng double precision) RETURNS geography
  LANGUAGE sql IMMUTABLE RETURN NULL::geography;
SET LOCAL search_path = search_evil, pg_temp, steppergo, public;
SELECT count(*) AS cases,
       count(*) FILTER (WHERE pg_temp.got(c, k, NULL, NULL, NULL, 'rating', n)
                              IS DISTINCT FROM pg_temp.want(c, k, NULL, NULL, NULL, 'rating', n)) AS differ
  FROM rating_cases;
SELECT count(*) AS nearest FROM steppergo.search_activities(lat => 43.05, lng => 76.6, sort => 'distance');
ROLLBACK TO SAVEPOINT evil;

-- the category list is activity_categories() as it is now
SELECT pg_temp.err($$SELECT * FROM search_activities(city => 'Searchgrad', category => 'SKYDIVING')$$);
SAVEPOINT categories;
CREATE OR REPLACE FUNCTION activity_categories() RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE
  RETURN ARRAY['TOUR', 'EXCURSION', 'ATTRACTION', 'ADVENTURE', 'NATURE', 'CULTURAL', 'FOOD', 'SPORTS',
               'WELLNESS', 'WATER', 'WINTER', 'CITY', 'MULTI_DAY', 'OTHER', 'SKYDIVING'];
SELECT pg_temp.err($$SELECT * FROM search_activities(city => 'Searchgrad', category => 'SKYDIVING')$$);
ROLLBACK TO SAVEPOINT categories;
SELECT pg_temp.err($$SELECT * FROM search_activities(city => 'Searchgrad', category => 'SKYDIVING')$$);

-- refusals: the checks in order, each with its SQLSTATE
SELECT q, pg_temp.err('SELECT * FROM search_activities(' || q || ')') AS refusal
  FROM (VALUES ('sort => NULL'), ($$sort => 'price'$$), ($$sort => 'price', max_results => 0$$),
               ('max_results => NULL'), ('max_results => 0'), ('max_results => 101'), ('max_results => -1'),
               ($$category => 'tour'$$), ($$category => ''$$), ($$category => 'SKYDIVING', lat => 95, lng => 0$$),
               ('lat => 43'), ('lng => 76'), ('lat => 95, lng => 0'), ('lat => 0, lng => 181'),
               ($$lat => 'NaN', lng => 0$$), ($$lat => 0, lng => '-Infinity'$$),
               ('radius_m => 100'), ('lat => 43, lng => 76, radius_m => 0'),
               ('lat => 43, lng => 76, radius_m => 1000001'), ($$radius_m => 0, sort => 'distance'$$),
               ($$sort => 'distance'$$), ($$sort => 'distance', city => 'Searchgrad'$$),
               ('max_results => 1'), ('max_results => 100'), ('lat => -90, lng => 180, radius_m => 1000000'),
               ($$city => NULL, category => NULL$$)) t(q);
ROLLBACK;
