-- Seat invariant over the bench trips: one row per violation (must be none).
SELECT t.id, t.available_seats, t.total_seats,
       t.total_seats - coalesce(sum(b.seats_booked) FILTER (WHERE b.status IN ('PENDING', 'CONFIRMED', 'COMPLETED')), 0) AS expected
  FROM steppergo.trips t LEFT JOIN steppergo.bookings b ON b.trip_id = t.id
 WHERE t.title LIKE 'bench trip %'
 GROUP BY t.id
HAVING t.available_seats < 0
    OR t.available_seats <> t.total_seats - coalesce(sum(b.seats_booked) FILTER (WHERE b.status IN ('PENDING', 'CONFIRMED', 'COMPLETED')), 0)
UNION ALL
-- a user with two live bookings on one trip
SELECT b.trip_id, count(*)::int, NULL, NULL FROM steppergo.bookings b
 WHERE b.status IN ('PENDING', 'CONFIRMED') GROUP BY b.trip_id, b.user_id HAVING count(*) > 1;
