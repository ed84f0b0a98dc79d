-- The 20 ACTIVE activities nearest to a point in Almaty, through the API function.
\set x random(0, 200000)
\set y random(0, 200000)
SELECT * FROM steppergo.search_activities(lat => 43.14 + :x::int / 1000000.0, lng => 76.73 + :y::int / 1000000.0 * 1.5,
                                          sort => 'distance');
