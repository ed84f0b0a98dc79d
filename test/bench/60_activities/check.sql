-- Invariants after the activities bench; every row printed is a violation.
-- 1. no slot holds more places than the activity has
SELECT 'oversold slot', b.activity_id, b.scheduled_date, b.scheduled_time, sum(b.participants), a.max_participants
  FROM steppergo.activity_bookings b JOIN steppergo.activities a ON a.id = b.activity_id
 WHERE b.status IN ('PENDING', 'CONFIRMED')
 GROUP BY b.activity_id, b.scheduled_date, b.scheduled_time, a.max_participants
HAVING sum(b.participants) > a.max_participants;
-- 2. the aggregates kept by triggers equal a recount
SELECT 'activity aggregates', a.id
  FROM steppergo.activities a
 WHERE (a.total_bookings, a.total_revenue, a.review_count, a.average_rating) IS DISTINCT FROM (
   (SELECT count(*) FILTER (WHERE b.status IN ('CONFIRMED', 'COMPLETED')) FROM steppergo.activity_bookings b WHERE b.activity_id = a.id),
   (SELECT coalesce(sum(b.total_amount - b.refund_amount) FILTER (WHERE b.payment_status IN ('SUCCEEDED', 'REFUNDED')), 0)
      FROM steppergo.activity_bookings b WHERE b.activity_id = a.id),
   (SELECT count(*) FROM steppergo.activity_reviews r WHERE r.activity_id = a.id),
   (SELECT coalesce(round(avg(r.rating), 2), 0) FROM steppergo.activity_reviews r WHERE r.activity_id = a.id));
SELECT 'owner aggregates', o.id
  FROM steppergo.activity_owners o
 WHERE (o.total_activities, o.total_bookings, o.total_revenue, o.average_rating) IS DISTINCT FROM (
   (SELECT count(*) FROM steppergo.activities a WHERE a.owner_id = o.id),
   (SELECT coalesce(sum(a.total_bookings), 0) FROM steppergo.activities a WHERE a.owner_id = o.id),
   (SELECT coalesce(sum(a.total_revenue), 0) FROM steppergo.activities a WHERE a.owner_id = o.id),
   (SELECT coalesce(round(avg(r.rating), 2), 0) FROM steppergo.activity_reviews r JOIN steppergo.activities a ON a.id = r.activity_id WHERE a.owner_id = o.id));
-- 3. the hot slots were filled to capacity, not beyond (a row when not full)
SELECT 'hot slot not filled', a.n, coalesce(sum(b.participants), 0)
  FROM bench_hot a LEFT JOIN steppergo.activity_bookings b
    ON b.activity_id = a.id AND b.status IN ('PENDING', 'CONFIRMED')
 GROUP BY a.n HAVING coalesce(sum(b.participants), 0) < 47;
