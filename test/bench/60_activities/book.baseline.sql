-- Baseline: the bare capacity check + INSERT transaction (slot lock, count, insert),
-- without validation of the slot, the window, the price tiers or the caller.
\set a random(1, :n_bookable)
\set u random(1, :n_pax)
\set d random(2, 80)
\set p random(1, 3)
BEGIN;
SELECT pg_advisory_xact_lock(hashtextextended((SELECT id FROM bench_bookable WHERE n = :a)::text || ((now() AT TIME ZONE 'Asia/Almaty')::date + :d::int)::text || '10:00', 8));
SELECT coalesce(sum(participants), 0) FROM steppergo.activity_bookings
 WHERE activity_id = (SELECT id FROM bench_bookable WHERE n = :a)
   AND scheduled_date = (now() AT TIME ZONE 'Asia/Almaty')::date + :d::int AND scheduled_time = '10:00'
   AND status IN ('PENDING', 'CONFIRMED');
INSERT INTO steppergo.activity_bookings (activity_id, passenger_id, scheduled_date, scheduled_time, participants,
                                         price_per_person, total_amount)
VALUES ((SELECT id FROM bench_bookable WHERE n = :a), (SELECT id FROM bench_pax WHERE n = :u),
        (now() AT TIME ZONE 'Asia/Almaty')::date + :d::int, '10:00', :p, 5000, 5000 * :p::int);
END;
