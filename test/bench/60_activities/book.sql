-- One booking of 1..3 places on a random slot (capacity 10,000), through book_activity.
\set a random(1, :n_bookable)
\set u random(1, :n_pax)
\set d random(2, 80)
\set p random(1, 3)
SELECT steppergo.book_activity((SELECT id FROM bench_bookable WHERE n = :a), (SELECT id FROM bench_pax WHERE n = :u),
                               (now() AT TIME ZONE 'Asia/Almaty')::date + :d::int, '10:00', :p::int);
