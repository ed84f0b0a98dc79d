-- trips: seat allocation (book_seats, cancel_booking), expiry of unpaid
-- bookings, and the seat invariant
\set VERBOSITY terse
SET search_path = steppergo, public;
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE sql;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

INSERT INTO users (email, phone, name, role)
SELECT 'st.p' || g || '@trips.test', '+7903000020' || g, 'Seats Passenger ' || g, 'PASSENGER'
  FROM generate_series(1, 6) g;
SELECT id AS p1 FROM users WHERE email = 'st.p1@trips.test' \gset
SELECT id AS p2 FROM users WHERE email = 'st.p2@trips.test' \gset
SELECT id AS p3 FROM users WHERE email = 'st.p3@trips.test' \gset
SELECT id AS p4 FROM users WHERE email = 'st.p4@trips.test' \gset
SELECT id AS p5 FROM users WHERE email = 'st.p5@trips.test' \gset
SELECT create_trip('Seats shared', 'A', 43.2, 76.9, 'B', 43.3, 77.0, now() + interval '2 days', 4, 'SHARED',
                   price_per_seat => 2500, organizer_id => :'p1', publish => true) AS shared \gset
SELECT create_trip('Seats private', 'A', 43.2, 76.9, 'B', 43.3, 77.0, now() + interval '2 days', 4, 'PRIVATE',
                   base_price => 20000, organizer_id => :'p1', publish => true) AS priv \gset
SELECT create_trip('Seats draft', 'A', 43.2, 76.9, 'B', 43.3, 77.0, now() + interval '2 days', 4, 'SHARED',
                   price_per_seat => 2500, organizer_id => :'p1') AS draft \gset

-- ----------------------------------------------------------- refusals
SELECT pg_temp.try(format('SELECT steppergo.book_seats(NULL, %L, 1)', :'p1'));
SELECT pg_temp.try(format('SELECT steppergo.book_seats(%L, NULL, 1)', :'shared'));
SELECT pg_temp.try(format('SELECT steppergo.book_seats(%L, %L, NULL)', :'shared', :'p1'));
SELECT pg_temp.try(format('SELECT steppergo.book_seats(%L, %L, 1, NULL)', :'shared', :'p1'));
SELECT pg_temp.try(format('SELECT steppergo.book_seats(%L, %L, 1, ''[]'', NULL)', :'shared', :'p1'));
SELECT pg_temp.try(format('SELECT steppergo.book_seats(%L, %L, 0)', :'shared', :'p1'));
SELECT pg_temp.try(format('SELECT steppergo.book_seats(%L, %L, 61)', :'shared', :'p1'));
SELECT pg_temp.try(format('SELECT steppergo.book_seats(%L, %L, 2)', :'shared', :'p1'));
SELECT pg_temp.try(format('SELECT steppergo.book_seats(%L, %L, 2, ''[{"name": "A"}]'')', :'shared', :'p1'));
SELECT pg_temp.try(format('SELECT steppergo.book_seats(%L, %L, 1, ''{"name": "A"}'')', :'shared', :'p1'));
SELECT pg_temp.try(format('SELECT steppergo.book_seats(%L, %L, 1, ''"A"'')', :'shared', :'p1'));
SELECT pg_temp.try(format('SELECT steppergo.book_seats(%L, %L, 1, ''[{"name": ""}]'')', :'shared', :'p1'));
SELECT pg_temp.try(format('SELECT steppergo.book_seats(%L, %L, 1, ''[{"name": "A", "phone": "8 700 123"}]'')', :'shared', :'p1'));
SELECT pg_temp.try(format('SELECT steppergo.book_seats(%L, %L, 1, ''[{"name": "A", "passport": "N123"}]'')', :'shared', :'p1'));
SELECT pg_temp.try(format('SELECT steppergo.book_seats(%L, %L, 1)', '00000000-0000-0000-0000-000000000000', :'p1'));
SELECT pg_temp.try(format('SELECT steppergo.book_seats(%L, %L, 1)', :'shared', '00000000-0000-0000-0000-000000000000'));
SELECT pg_temp.try(format('SELECT steppergo.book_seats(%L, %L, 1)', :'draft', :'p1'));
SELECT pg_temp.try(format('SELECT steppergo.book_seats(%L, %L, 5, %L)', :'shared', :'p1',
                          (SELECT jsonb_agg(jsonb_build_object('name', 'P' || g)) FROM generate_series(1, 5) g)));
-- nothing was written by any refusal
SELECT count(*) AS bookings, (SELECT available_seats FROM trips WHERE id = :'shared') AS available
  FROM bookings WHERE trip_id IN (:'shared', :'priv', :'draft');

-- ---------------------------------------------------- SHARED bookings
SELECT book_seats(:'shared', :'p1', 1) AS b1 \gset
SELECT book_seats(:'shared', :'p2', 2, '[{"name": "Aruzhan", "age": 9, "isChild": true}, {"name": "Marat", "phone": "+77071234567"}]') AS b2 \gset
SELECT status, seats_booked, total_amount, currency, payment_method_type,
       expires_at - created_at AS holds_for, passengers
  FROM bookings WHERE id IN (:'b1', :'b2') ORDER BY seats_booked;
-- a user has one live booking per trip
SELECT pg_temp.try(format('SELECT steppergo.book_seats(%L, %L, 1)', :'shared', :'p1'));
-- more seats than are left
SELECT pg_temp.try(format('SELECT steppergo.book_seats(%L, %L, 2, ''[{"name": "A"}, {"name": "B"}]'')', :'shared', :'p3'));
-- the last seat, in cash: confirmed at once, the trip is FULL
SELECT book_seats(:'shared', :'p3', 1, '[]', 'CASH_TO_DRIVER') AS b3 \gset
SELECT status, confirmed_at IS NOT NULL AS confirmed, expires_at FROM bookings WHERE id = :'b3';
SELECT status, available_seats FROM trips WHERE id = :'shared';
SELECT pg_temp.try(format('SELECT steppergo.book_seats(%L, %L, 1)', :'shared', :'p4'));
-- cancelling releases the seats and reopens the trip; twice is a conflict
SELECT cancel_booking(:'b2', 'plans changed');
SELECT status, available_seats FROM trips WHERE id = :'shared';
SELECT status, cancelled_at IS NOT NULL AS cancelled_at, cancellation_reason FROM bookings WHERE id = :'b2';
SELECT pg_temp.try(format('SELECT steppergo.cancel_booking(%L)', :'b2'));
SELECT pg_temp.try(format('SELECT steppergo.cancel_booking(%L)', '00000000-0000-0000-0000-000000000000'));
SELECT pg_temp.try(format('SELECT steppergo.cancel_booking(NULL)'));
SELECT pg_temp.try(format('SELECT steppergo.cancel_booking(%L, %L)', :'b1', repeat('x', 1001)));
SELECT status, available_seats FROM trips WHERE id = :'shared';
-- the same user books again after cancelling
SELECT book_seats(:'shared', :'p2', 1) IS NOT NULL AS rebooked;
SELECT to_status, reason FROM trip_status_history WHERE trip_id = :'shared' ORDER BY changed_at, id;

-- only the passenger (or an admin) cancels a booking
-- the API roles as PostgREST uses them (setup_api_roles is idempotent)
SET client_min_messages = warning;
SELECT steppergo.setup_api_roles() AS roles \gset
RESET client_min_messages;
SET ROLE authenticated;
SELECT set_config('request.jwt.claims', json_build_object('sub', :'p4', 'app_role', 'PASSENGER')::text, false) AS claims \gset
SELECT pg_temp.try(format('SELECT steppergo.cancel_booking(%L)', :'b1'));
SELECT pg_temp.try(format('SELECT steppergo.book_seats(%L, %L, 1)', :'shared', :'p5'));
SELECT set_config('request.jwt.claims', json_build_object('sub', :'p1', 'app_role', 'PASSENGER')::text, false) AS claims \gset
SELECT pg_temp.try(format('SELECT steppergo.cancel_booking(%L, %L)', :'b1', 'by myself'));
SELECT pg_temp.try('SELECT steppergo.expire_unpaid_bookings()');
SELECT set_config('request.jwt.claims', '', false) AS claims \gset
RESET ROLE;

-- --------------------------------------------------- PRIVATE bookings
-- the party of two takes the whole vehicle at base_price
SELECT book_seats(:'priv', :'p1', 2, '[{"name": "A"}, {"name": "B"}]') AS pv \gset
SELECT seats_booked, total_amount, jsonb_array_length(passengers) AS party FROM bookings WHERE id = :'pv';
SELECT status, available_seats FROM trips WHERE id = :'priv';
SELECT pg_temp.try(format('SELECT steppergo.book_seats(%L, %L, 1)', :'priv', :'p2'));
SELECT cancel_booking(:'pv');
SELECT pg_temp.try(format('SELECT steppergo.book_seats(%L, %L, 5, %L)', :'priv', :'p2',
                          (SELECT jsonb_agg(jsonb_build_object('name', 'P' || g)) FROM generate_series(1, 5) g)));
SELECT book_seats(:'priv', :'p2', 4, (SELECT jsonb_agg(jsonb_build_object('name', 'P' || g)) FROM generate_series(1, 4) g)) IS NOT NULL AS whole_party;

-- ------------------------------------------------- OFFERED and departed
-- an OFFERED trip is bookable; its last seat leaves it OFFERED
SELECT create_trip('Seats offered', 'A', 43.2, 76.9, 'B', 43.3, 77.0, now() + interval '2 days', 1, 'SHARED',
                   price_per_seat => 1000, organizer_id => :'p1', publish => true) AS offered \gset
INSERT INTO users (email, phone, name, role) VALUES ('st.drv@trips.test', '+79030000299', 'Seats Driver', 'DRIVER');
INSERT INTO drivers (user_id, status, availability) SELECT id, 'APPROVED', 'ONLINE' FROM users WHERE email = 'st.drv@trips.test';
UPDATE trips SET status = 'OFFERED', acceptance_deadline = now() + interval '20 seconds',
                 offered_to_driver_id = (SELECT d.id FROM drivers d JOIN users u ON u.id = d.user_id WHERE u.email = 'st.drv@trips.test')
 WHERE id = :'offered';
SELECT book_seats(:'offered', :'p3', 1) IS NOT NULL AS booked_while_offered;
SELECT status, available_seats FROM trips WHERE id = :'offered';
SELECT pg_temp.try(format('SELECT steppergo.book_seats(%L, %L, 1)', :'offered', :'p4'));
-- past the departure: no more bookings
SELECT create_trip('Seats departed', 'A', 43.2, 76.9, 'B', 43.3, 77.0, now() + interval '1 hour', 3, 'SHARED',
                   price_per_seat => 1000, organizer_id => :'p1', publish => true) AS departed \gset
UPDATE trips SET departure_time = now() - interval '1 minute' WHERE id = :'departed';
SELECT pg_temp.try(format('SELECT steppergo.book_seats(%L, %L, 1)', :'departed', :'p4'));

-- ------------------------------------------------------------ expiry
SELECT create_trip('Seats expiry', 'A', 43.2, 76.9, 'B', 43.3, 77.0, now() + interval '2 days', 4, 'SHARED',
                   price_per_seat => 1000, organizer_id => :'p1', publish => true) AS exp \gset
SET steppergo.booking_payment_timeout = 1;
SELECT book_seats(:'exp', :'p1', 2, '[{"name": "A"}, {"name": "B"}]') AS e1 \gset
RESET steppergo.booking_payment_timeout;
SELECT book_seats(:'exp', :'p2', 1) AS e2 \gset
SELECT book_seats(:'exp', :'p3', 1, '[]', 'CASH_TO_DRIVER') AS e3 \gset
SELECT id = :'e1' AS first, expires_at - created_at AS holds_for FROM bookings WHERE trip_id = :'exp' AND status = 'PENDING' ORDER BY created_at;
SELECT status, available_seats FROM trips WHERE id = :'exp';
-- nothing is due yet
SELECT count(*) AS expired_now FROM (SELECT expire_booking(id) AS done FROM bookings WHERE trip_id = :'exp') x WHERE done;
-- the first booking's time runs out (as if 20 minutes passed)
UPDATE bookings SET expires_at = now() - interval '1 second' WHERE id = :'e1';
SELECT expire_unpaid_bookings() >= 1 AS expired_some;
SELECT status, cancellation_reason FROM bookings WHERE trip_id = :'exp' ORDER BY created_at;
SELECT status, available_seats FROM trips WHERE id = :'exp';
SELECT expire_booking(:'e1') AS expired_again;
SELECT j.name, j.schedule, j.command FROM job_definitions j WHERE j.name = 'steppergo_expire_unpaid_bookings';

-- --------------------------------------------------- the seat invariant
-- for every trip of this file: available = total - seats of live bookings
SELECT t.title, t.total_seats, t.available_seats,
       t.available_seats = t.total_seats - coalesce(sum(b.seats_booked) FILTER (WHERE b.status IN ('PENDING', 'CONFIRMED', 'COMPLETED')), 0)
         AND t.available_seats >= 0 AS invariant
  FROM trips t LEFT JOIN bookings b ON b.trip_id = t.id
 WHERE t.title LIKE 'Seats %'
 GROUP BY t.id ORDER BY t.title;
