-- Baseline: the bare transactions that do the least: UPDATE the trip's seats +
-- INSERT the booking; then UPDATE the booking cancelled + give the seat back.
\set t random(1, :ntrips)
BEGIN;
UPDATE steppergo.trips SET available_seats = available_seats - 1
 WHERE id = (SELECT trip_id FROM bench_trip_ids WHERE n = :t);
INSERT INTO steppergo.bookings (trip_id, user_id, seats_booked, total_amount, passengers, expires_at)
VALUES ((SELECT trip_id FROM bench_trip_ids WHERE n = :t), (SELECT user_id FROM bench_trip_users WHERE n = :client_id),
        1, 4500, '[{"name": "Bench Passenger"}]', now() + interval '15 minutes')
RETURNING id AS bid \gset
COMMIT;
BEGIN;
UPDATE steppergo.bookings SET status = 'CANCELLED', cancelled_at = now(), cancellation_reason = 'bench', expires_at = NULL
 WHERE id = :bid;
UPDATE steppergo.trips SET available_seats = available_seats + 1
 WHERE id = (SELECT trip_id FROM bench_trip_ids WHERE n = :t);
COMMIT;
