-- ---------------------------------------------------------------------------
-- activities: release 0.3 (performance work of issue 8; see README.md, Bench)
-- ---------------------------------------------------------------------------

-- search_activities in C (src/activities/search.c): the same checks in the
-- same order with the same SQLSTATEs, the same eight queries, each prepared
-- once per backend as a generic plan and run straight into the result.
-- SECURITY DEFINER with the search_path pinned as before; the
-- plan_cache_mode setting is gone (the C code asks for generic plans).
CREATE OR REPLACE FUNCTION search_activities(city text DEFAULT NULL, category text DEFAULT NULL,
                                             lat double precision DEFAULT NULL, lng double precision DEFAULT NULL,
                                             radius_m integer DEFAULT NULL, sort text DEFAULT 'rating',
                                             max_results integer DEFAULT 20)
  RETURNS SETOF activity_search_result
  AS 'MODULE_PATHNAME', 'sg_search_activities'
  LANGUAGE C STABLE SECURITY DEFINER
  SET search_path FROM CURRENT;
COMMENT ON FUNCTION search_activities(text, text, double precision, double precision, integer, text, integer) IS
  'Published (ACTIVE) activities, optionally in a city, of a category (activity_categories(); 22023 otherwise) and within radius_m (1..1000000) metres of lat/lng (given together, in range; 22023 otherwise); sort rating (best rated first, then most reviewed, then id) or distance (nearest to lat/lng first, through the GiST index; 22004 without a point); distance_m is NULL without a point. At most max_results (1..100) rows with the cover photo''s URL. In C (search.c): one prepared generic plan per combination of filters.';

-- activity_price: the same rule in PL/pgSQL, whose plan is kept for the
-- session; as a SQL function with a pinned search_path (never inlined) its
-- body was read and planned again in every booking transaction
CREATE OR REPLACE FUNCTION activity_price(group_pricing jsonb, price_per_person integer, participants integer)
  RETURNS integer
  LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
  SET search_path FROM CURRENT
AS $$
BEGIN
  RETURN coalesce((SELECT (t ->> 'pricePerPerson')::int FROM jsonb_array_elements(group_pricing) t
                    WHERE participants BETWEEN (t ->> 'minParticipants')::int AND (t ->> 'maxParticipants')::int
                    LIMIT 1), price_per_person);
END
$$;
