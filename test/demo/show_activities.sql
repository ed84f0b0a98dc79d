-- Activities: example calls printed by the demo (database steppergo, demo data loaded).
\pset footer off
\echo '-- Best-rated activities in Almaty (search_activities, anon)'
SELECT title, category, average_rating, review_count, price_per_person, currency
  FROM steppergo.search_activities(city => 'Almaty', max_results => 5);

\echo '-- The 5 activities nearest to Dostyk Plaza (KNN on the GiST index of geog)'
SELECT title, round((distance_m / 1000)::numeric, 1) AS km, average_rating
  FROM steppergo.search_activities(lat => 43.2330, lng => 76.9560, sort => 'distance', max_results => 5);

\echo '-- Next week''s bookable slots of the best-rated one (activity_availability, local Almaty times)'
SELECT scheduled_date, scheduled_time, end_time, capacity, booked, remaining
  FROM steppergo.activity_availability(
         (SELECT id FROM steppergo.search_activities(city => 'Almaty', max_results => 1)),
         (now() AT TIME ZONE 'Asia/Almaty')::date + 1, (now() AT TIME ZONE 'Asia/Almaty')::date + 7)
 LIMIT 6;

\echo '-- A booking of 6 (group tier price), paid, then cancelled by the passenger: refund by the copied policy (rolled back)'
BEGIN;
SELECT steppergo.book_activity(s.activity_id, (SELECT id FROM steppergo.users WHERE role = 'PASSENGER' ORDER BY email LIMIT 1),
                               s.scheduled_date, s.scheduled_time, 6) AS booking_id
  FROM (SELECT a.id AS activity_id, v.scheduled_date, v.scheduled_time
          FROM steppergo.search_activities(city => 'Almaty', max_results => 1) a,
               steppergo.activity_availability(a.id, (now() AT TIME ZONE 'Asia/Almaty')::date + 5,
                                              (now() AT TIME ZONE 'Asia/Almaty')::date + 12) v
         WHERE v.remaining >= 6 LIMIT 1) s \gset
UPDATE steppergo.activity_bookings SET payment_id = 'pi_demo_show', payment_status = 'SUCCEEDED', status = 'CONFIRMED'
 WHERE id = :'booking_id';
SELECT steppergo.cancel_activity_booking(:'booking_id', 'change of plans') AS refund;
SELECT booking_number, participants, price_per_person, total_amount, status, refund_amount,
       cancellation_policy -> 'tiers' AS policy
  FROM steppergo.activity_bookings WHERE id = :'booking_id';
ROLLBACK;

\echo '-- Owners by revenue (aggregates kept exact by triggers)'
SELECT business_name, verification_status, total_activities, total_bookings, total_revenue, average_rating
  FROM steppergo.activity_owners ORDER BY total_revenue DESC LIMIT 5;
