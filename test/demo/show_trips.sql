-- trips: the status machine, seats, boarding and payments on the demo data
-- (everything that writes runs in a transaction that is rolled back)
\echo '== trips: who may move a trip where (transition_trip)'
SELECT from_status, to_status, array_to_string(allowed, ', ') AS who, coalesce(requires, '') AS requires
  FROM steppergo.trip_status_transitions() ORDER BY from_status, to_status;

\echo '== trips: the next published shared trips, in Almaty time'
SELECT t.title, steppergo.departure_local(t) AS departs_local, t.timezone, t.available_seats || '/' || t.total_seats AS seats,
       t.price_per_seat, t.platform_fee, t.estimated_earnings
  FROM steppergo.trips t
 WHERE t.status = 'PUBLISHED' AND t.trip_type = 'SHARED' AND t.departure_time > now()
 ORDER BY t.departure_time LIMIT 5;

BEGIN;
\echo '== trips: booking two seats, paying through a Stripe webhook, cancelling'
SELECT t.id AS trip, u.id AS passenger
  FROM steppergo.trips t,
       LATERAL (SELECT u.id FROM steppergo.users u WHERE u.role = 'PASSENGER'
                   AND NOT EXISTS (SELECT 1 FROM steppergo.bookings b WHERE b.trip_id = t.id AND b.user_id = u.id)
                 ORDER BY u.email LIMIT 1) u
 WHERE t.status = 'PUBLISHED' AND t.trip_type = 'SHARED' AND t.available_seats >= 2 AND t.departure_time > now()
 ORDER BY t.departure_time LIMIT 1 \gset
SELECT steppergo.book_seats(:'trip', :'passenger', 2,
         '[{"name": "Aigerim Nurlanovna", "phone": "+77011234567"}, {"name": "Daniyar", "age": 9, "isChild": true}]') AS booking \gset
SELECT status, seats_booked, total_amount, currency, expires_at - created_at AS unpaid_hold FROM steppergo.bookings WHERE id = :'booking';
SELECT steppergo.attach_payment_intent(:'booking', 'pi_show_trips_1', 'pi_show_trips_1_secret_demo',
         (SELECT total_amount FROM steppergo.bookings WHERE id = :'booking')) IS NOT NULL AS intent_attached;
SELECT steppergo.record_webhook('stripe', 'evt_show_trips_1', 'payment_intent.succeeded',
         jsonb_build_object('data', jsonb_build_object('object', jsonb_build_object(
           'id', 'pi_show_trips_1', 'currency', 'kzt',
           'amount', (SELECT (total_amount * 100)::bigint FROM steppergo.bookings WHERE id = :'booking'),
           'charges', jsonb_build_object('data', jsonb_build_array(jsonb_build_object('payment_method_details',
             jsonb_build_object('type', 'card', 'card', jsonb_build_object('last4', '4242'))))))))) AS first_delivery,
       steppergo.record_webhook('stripe', 'evt_show_trips_1', 'payment_intent.succeeded', '{}') AS redelivery;
SELECT b.status AS booking, p.status AS payment, p.last4 FROM steppergo.bookings b JOIN steppergo.payments p ON p.booking_id = b.id
 WHERE b.id = :'booking';
SELECT steppergo.cancel_booking(:'booking', 'plans changed');
SELECT b.status AS booking, p.refund_requested_at IS NOT NULL AS refund_requested, t.available_seats
  FROM steppergo.bookings b JOIN steppergo.payments p ON p.booking_id = b.id JOIN steppergo.trips t ON t.id = b.trip_id
 WHERE b.id = :'booking';
ROLLBACK;

\echo '== trips: the seat invariant over every open trip (violations)'
SELECT count(*) AS violations
  FROM steppergo.trips t
 WHERE t.status IN ('PUBLISHED', 'OFFERED', 'FULL')
   AND t.available_seats <> t.total_seats - (SELECT coalesce(sum(b.seats_booked), 0) FROM steppergo.bookings b
                                              WHERE b.trip_id = t.id AND b.status IN ('PENDING', 'CONFIRMED'));
