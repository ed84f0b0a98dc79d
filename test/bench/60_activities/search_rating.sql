-- Best-rated ACTIVE activities of a category in a city, through the API function.
\set c random(1, 10)
\set k random(1, 14)
SELECT * FROM steppergo.search_activities(
  city => (ARRAY['Almaty','Astana','Shymkent','Karaganda','Aktobe','Taraz','Pavlodar','Oskemen','Atyrau','Turkistan'])[:c::int],
  category => (steppergo.activity_categories())[:k::int]);
