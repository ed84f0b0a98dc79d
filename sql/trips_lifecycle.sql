-- trips: creating and publishing, the status machine and its side effects,
-- boarding codes, driver reviews, time zones
\set VERBOSITY terse
SET search_path = steppergo, public;
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE sql;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

-- Kazakhstan moved to a single zone, UTC+5, on 2024-03-01: a stale time-zone
-- database would still say UTC+6 for Almaty
SELECT '2024-02-29 12:00+00'::timestamptz AT TIME ZONE 'Asia/Almaty' AS before_change,
       '2024-03-01 12:00+00'::timestamptz AT TIME ZONE 'Asia/Almaty' AS after_change,
       '2026-07-01 12:00+00'::timestamptz AT TIME ZONE 'Asia/Almaty' AS summer_2026;

INSERT INTO users (email, phone, name, role) VALUES
  ('lc.org@trips.test',   '+79030000101', 'Lc Organizer', 'PASSENGER'),
  ('lc.p1@trips.test',    '+79030000102', 'Lc Passenger One', 'PASSENGER'),
  ('lc.p2@trips.test',    '+79030000103', 'Lc Passenger Two', 'PASSENGER'),
  ('lc.drv@trips.test',   '+79030000104', 'Lc Driver', 'DRIVER'),
  ('lc.admin@trips.test', '+79030000105', 'Lc Admin', 'ADMIN'),
  ('lc.other@trips.test', '+79030000106', 'Lc Stranger', 'PASSENGER');
INSERT INTO drivers (user_id, status, availability)
SELECT id, 'APPROVED', 'ONLINE' FROM users WHERE email = 'lc.drv@trips.test';
SELECT id AS org FROM users WHERE email = 'lc.org@trips.test' \gset
SELECT id AS p1 FROM users WHERE email = 'lc.p1@trips.test' \gset
SELECT id AS p2 FROM users WHERE email = 'lc.p2@trips.test' \gset
SELECT id AS drv_user FROM users WHERE email = 'lc.drv@trips.test' \gset
SELECT id AS admin FROM users WHERE email = 'lc.admin@trips.test' \gset
SELECT id AS stranger FROM users WHERE email = 'lc.other@trips.test' \gset
SELECT id AS drv FROM drivers WHERE user_id = :'drv_user' \gset
INSERT INTO tenants (name, platform_rate, timezone) VALUES ('Trips Test Tenant', 0.1, 'Asia/Almaty') RETURNING id AS tenant \gset

-- ------------------------------------------------------------ create_trip
-- PRIVATE: whole vehicle at base_price; fee by the default 15 %
SELECT create_trip('Medeu private', 'Dostyk Plaza', 43.233, 76.956, 'Medeu', 43.1575, 77.059,
                   now() + interval '3 days', 4, 'PRIVATE', base_price => 18000, organizer_id => :'org') AS priv \gset
SELECT status, total_seats, available_seats, base_price, price_per_seat, currency, timezone,
       platform_fee, estimated_earnings, published_at IS NULL AS unpublished
  FROM trips WHERE id = :'priv';
-- SHARED at a tenant's 10 %: fee on price_per_seat x total_seats
SELECT create_trip('Shymbulak shuttle', 'Mega', 43.203, 76.892, 'Shymbulak', 43.128, 77.08,
                   now() + interval '4 days', 6, 'SHARED', price_per_seat => 4999.99, organizer_id => :'org',
                   tenant_id => :'tenant', publish => true,
                   itinerary => '{"stops": [{"order": 1, "name": "Mega", "lat": 43.203, "lng": 76.892},
                                            {"order": 2, "name": "Medeu", "lat": 43.1575, "lng": 77.059}]}') AS shared \gset
SELECT status, available_seats, platform_fee, estimated_earnings, platform_fee + estimated_earnings = price_per_seat * total_seats AS exact,
       published_at IS NOT NULL AS published
  FROM trips WHERE id = :'shared';
SELECT from_status, to_status, actor_id = :'org' AS by_organizer, reason FROM trip_status_history
 WHERE trip_id = :'shared' ORDER BY changed_at, id;
-- local departure in the trip's zone: UTC+5
SELECT departure_local(t) - departure_time AT TIME ZONE 'UTC' AS almaty_offset FROM trips t WHERE id = :'shared';

-- refusals
SELECT pg_temp.try(format($$SELECT steppergo.create_trip('x', 'a', 43, 76, 'b', 43, 77, now() + interval '1 day', 2, 'PRIVATE', organizer_id => %L)$$, :'org'));
SELECT pg_temp.try(format($$SELECT steppergo.create_trip('x', 'a', 43, 76, 'b', 43, 77, now() + interval '1 day', 2, 'SHARED', organizer_id => %L)$$, :'org'));
SELECT pg_temp.try(format($$SELECT steppergo.create_trip('x', 'a', 43, 76, 'b', 43, 77, now() - interval '1 hour', 2, 'PRIVATE', 100, organizer_id => %L)$$, :'org'));
SELECT pg_temp.try(format($$SELECT steppergo.create_trip('x', 'a', 93, 76, 'b', 43, 77, now() + interval '1 day', 2, 'PRIVATE', 100, organizer_id => %L)$$, :'org'));
SELECT pg_temp.try(format($$SELECT steppergo.create_trip('x', 'a', 43, 76, 'b', 43, 77, now() + interval '1 day', 61, 'PRIVATE', 100, organizer_id => %L)$$, :'org'));
SELECT pg_temp.try(format($$SELECT steppergo.create_trip('x', 'a', 43, 76, 'b', 43, 77, now() + interval '1 day', 2, 'PRIVATE', 100, timezone => 'Asia/Nowhere', organizer_id => %L)$$, :'org'));
SELECT pg_temp.try(format($$SELECT steppergo.create_trip('x', 'a', 43, 76, 'b', 43, 77, now() + interval '1 day', 2, 'PRIVATE', 100.001, organizer_id => %L)$$, :'org'));
SELECT pg_temp.try(format($$SELECT steppergo.create_trip('x', 'a', 43, 76, 'b', 43, 77, now() + interval '1 day', 2, 'PRIVATE', 100, currency => 'XXX', organizer_id => %L)$$, :'org'));
SELECT pg_temp.try(format($$SELECT steppergo.create_trip('x', 'a', 43, 76, 'b', 43, 77, now() + interval '1 day', 2, 'PRIVATE', 100, itinerary => '{"stops": [{"order": 1}]}', organizer_id => %L)$$, :'org'));
SELECT pg_temp.try(format($$SELECT steppergo.create_trip('x', 'a', 43, 76, 'b', 43, 77, now() + interval '1 day', 2, 'PRIVATE', 100, return_time => now(), organizer_id => %L)$$, :'org'));
SELECT pg_temp.try($$SELECT steppergo.create_trip('x', 'a', 43, 76, 'b', 43, 77, now() + interval '1 day', 2, 'PRIVATE', 100)$$);
SELECT pg_temp.try($$SELECT steppergo.create_trip('x', 'a', 43, 76, 'b', 43, 77, now() + interval '1 day', 2, 'PRIVATE', 100, organizer_id => '00000000-0000-0000-0000-000000000000')$$);
SELECT pg_temp.try(format($$SELECT steppergo.create_trip(NULL, 'a', 43, 76, 'b', 43, 77, now() + interval '1 day', 2, 'PRIVATE', 100, organizer_id => %L)$$, :'org'));

-- -------------------------------------------------- as API callers do
-- the API roles as PostgREST uses them (setup_api_roles is idempotent)
SET client_min_messages = warning;
SELECT steppergo.setup_api_roles() AS roles \gset
RESET client_min_messages;
SET ROLE authenticated;
-- the organizer creates and publishes; the tenant comes from the token
SELECT set_config('request.jwt.claims', json_build_object('sub', :'org', 'app_role', 'PASSENGER', 'tenant_id', :'tenant')::text, false) AS claims \gset
SELECT create_trip('Kok-Tobe', 'Arbat', 43.25, 76.94, 'Kok-Tobe', 43.233, 76.976, now() + interval '5 days', 3,
                   'SHARED', price_per_seat => 3000) AS api_trip \gset
SELECT pg_temp.try(format('SELECT steppergo.publish_trip(%L)', :'api_trip'));
-- a stranger of no tenant cannot see the tenant's trip
SELECT set_config('request.jwt.claims', json_build_object('sub', :'stranger', 'app_role', 'PASSENGER')::text, false) AS claims \gset
SELECT pg_temp.try(format('SELECT steppergo.transition_trip(%L, %L)', :'api_trip', 'CANCELLED'));
SELECT pg_temp.try(format('SELECT steppergo.book_seats(%L, %L, 1)', :'api_trip', :'stranger'));
-- a stranger may not cancel someone else's trip, nor act for another user
SELECT pg_temp.try(format('SELECT steppergo.transition_trip(%L, %L)', :'priv', 'CANCELLED'));
SELECT pg_temp.try(format('SELECT steppergo.transition_trip(%L, %L, %L)', :'priv', 'CANCELLED', :'org'));
SELECT pg_temp.try(format('SELECT steppergo.create_trip(%L, %L, 43, 76, %L, 43, 77, now() + interval ''1 day'', 2, ''PRIVATE'', 100, organizer_id => %L)', 'x', 'a', 'b', :'org'));
SELECT set_config('request.jwt.claims', '', false) AS claims \gset
RESET ROLE;
SELECT status, tenant_id = :'tenant' AS tenant_from_token, published_at IS NOT NULL AS published FROM trips WHERE id = :'api_trip';

-- ----------------------------------------------------- the status machine
-- illegal moves name both statuses
SELECT pg_temp.try(format('SELECT steppergo.transition_trip(%L, %L)', :'priv', 'COMPLETED'));
SELECT pg_temp.try(format('SELECT steppergo.transition_trip(%L, %L)', :'priv', 'DRAFT'));
SELECT pg_temp.try(format('SELECT steppergo.transition_trip(%L, %L)', :'shared', 'OFFERED'));
SELECT pg_temp.try(format('SELECT steppergo.transition_trip(%L, %L)', :'shared', 'FULL'));
SELECT pg_temp.try(format('SELECT steppergo.transition_trip(%L, %L)', :'shared', 'IN_PROGRESS'));
SELECT pg_temp.try(format('SELECT steppergo.transition_trip(%L, %L)', '00000000-0000-0000-0000-000000000000', 'PUBLISHED'));
SELECT pg_temp.try(format('SELECT steppergo.transition_trip(%L, NULL)', :'shared'));
-- the table is complete for all 14 statuses: every status is reachable and
-- every non-terminal status has a way out
SELECT count(*) AS moves,
       (SELECT count(DISTINCT s) FROM (SELECT from_status FROM trip_status_transitions()
                                        UNION SELECT to_status FROM trip_status_transitions()) x(s)) AS statuses,
       (SELECT array_agg(e ORDER BY e) FROM unnest(enum_range(NULL::trip_status)) e
         WHERE e NOT IN (SELECT from_status FROM trip_status_transitions())) AS terminal
  FROM trip_status_transitions();

-- the shared trip: two bookings, a driver, on the road
SELECT book_seats(:'shared', :'p1', 2, '[{"name": "Aigerim"}, {"name": "Daniyar", "phone": "+77011234567"}]', 'CASH_TO_DRIVER') AS bk1 \gset
SELECT book_seats(:'shared', :'p2', 1, '[]', 'CASH_TO_DRIVER') AS bk2 \gset
UPDATE trips SET driver_id = :'drv' WHERE id = :'shared';   -- what accept_trip does
-- the organizer cannot start it; the driver can (actor named by the backend)
SELECT pg_temp.try(format('SELECT steppergo.transition_trip(%L, %L, %L)', :'shared', 'IN_PROGRESS', :'org'));
SELECT transition_trip(:'shared', 'IN_PROGRESS', :'drv_user');
SELECT availability FROM drivers WHERE id = :'drv';
SELECT transition_trip(:'shared', 'EN_ROUTE', :'drv_user');
SELECT transition_trip(:'shared', 'DELAYED', :'drv_user', 'traffic on Al-Farabi');
SELECT pg_temp.try(format('SELECT steppergo.transition_trip(%L, %L)', :'shared', 'IN_TRANSIT'));
SELECT transition_trip(:'shared', 'DRIVER_ARRIVED', :'drv_user');
-- not everybody is on board
SELECT pg_temp.try(format('SELECT steppergo.transition_trip(%L, %L)', :'shared', 'PASSENGERS_BOARDED'));

-- ------------------------------------------------------------- boarding
SET steppergo.boarding_wait = '5min';
SELECT issue_boarding_code(:'bk1') AS code1 \gset
SELECT :'code1' ~ '^[0-9]{4}$' AS four_digits,
       boarding_code_hash IS NOT NULL AND position(convert_to(:'code1', 'UTF8') IN boarding_code_hash) = 0 AS only_hash
  FROM bookings WHERE id = :'bk1';
-- a wrong code is counted, the right one boards
SELECT board_passenger(:'bk1', CASE WHEN :'code1' = '0000' THEN '0001' ELSE '0000' END) AS wrong_code;
SELECT board_passenger(:'bk1', 'abcd') AS malformed_code;
SELECT boarding_attempts FROM bookings WHERE id = :'bk1';
SELECT board_passenger(:'bk1', :'code1') AS boarded;
SELECT pg_temp.try(format('SELECT steppergo.board_passenger(%L, %L)', :'bk1', :'code1'));
SELECT pg_temp.try(format('SELECT steppergo.cancel_booking(%L)', :'bk1'));
-- the second passenger has no code yet; the no-show must wait
SELECT pg_temp.try(format('SELECT steppergo.board_passenger(%L, %L)', :'bk2', '1234'));
SELECT pg_temp.try(format('SELECT steppergo.mark_no_show(%L)', :'bk2'));
-- five wrong codes block the code until a new one is issued
SELECT issue_boarding_code(:'bk2') AS code2 \gset
SELECT count(*) FILTER (WHERE NOT board_passenger(:'bk2', lpad(((:'code2'::int + g) % 10000)::text, 4, '0'))) AS wrong
  FROM generate_series(1, 5) g;
SELECT pg_temp.try(format('SELECT steppergo.board_passenger(%L, %L)', :'bk2', :'code2'));
SELECT issue_boarding_code(:'bk2') AS code2 \gset
SELECT boarding_attempts FROM bookings WHERE id = :'bk2';
-- after the waiting time (the setting at 0): a no-show
SET steppergo.boarding_wait = 0;
SELECT mark_no_show(:'bk2');
SELECT seats_booked, boarded_at IS NOT NULL AS boarded, no_show_at IS NOT NULL AS no_show FROM bookings
 WHERE id IN (:'bk1', :'bk2') ORDER BY seats_booked;
RESET steppergo.boarding_wait;
SELECT transition_trip(:'shared', 'PASSENGERS_BOARDED', :'drv_user');
-- once on board: no way back to pickup, the organizer cannot cancel
SELECT transition_trip(:'shared', 'DELAYED', :'drv_user');
SELECT pg_temp.try(format('SELECT steppergo.transition_trip(%L, %L)', :'shared', 'DRIVER_ARRIVED'));
SELECT pg_temp.try(format('SELECT steppergo.transition_trip(%L, %L, %L)', :'shared', 'CANCELLED', :'org'));
SELECT transition_trip(:'shared', 'IN_TRANSIT', :'drv_user');
SELECT transition_trip(:'shared', 'ARRIVED', :'drv_user');
SELECT completed_trips FROM drivers WHERE id = :'drv';
SELECT transition_trip(:'shared', 'COMPLETED', :'drv_user');
SELECT t.status, t.completed_at IS NOT NULL AS completed_at, d.completed_trips, d.availability
  FROM trips t JOIN drivers d ON d.id = t.driver_id WHERE t.id = :'shared';
SELECT status, completed_at IS NOT NULL AS completed_at FROM bookings WHERE trip_id = :'shared' ORDER BY seats_booked;
SELECT pg_temp.try(format('SELECT steppergo.transition_trip(%L, %L)', :'shared', 'CANCELLED'));
SELECT from_status, to_status, actor_id = :'drv_user' AS by_driver FROM trip_status_history
 WHERE trip_id = :'shared' ORDER BY changed_at, id;
SELECT previous_status, new_status, triggered_by FROM driver_availability_history
 WHERE driver_id = :'drv' ORDER BY changed_at, id;

-- ------------------------------------------------------------- reviews
SELECT review_driver(:'bk1', 5, 'Smooth ride') AS rev1 \gset
SELECT review_driver(:'bk2', 2) AS rev2 \gset
SELECT rating, review_count FROM drivers WHERE id = :'drv';
SELECT pg_temp.try(format('SELECT steppergo.review_driver(%L, 4)', :'bk1'));
SELECT pg_temp.try(format('SELECT steppergo.review_driver(%L, 6)', :'bk1'));
SELECT respond_to_review(:'rev1', 'Thank you!');
SELECT pg_temp.try(format('SELECT steppergo.respond_to_review(%L, %L)', :'rev1', 'again'));
SET ROLE authenticated;
SELECT set_config('request.jwt.claims', json_build_object('sub', :'p1', 'app_role', 'PASSENGER')::text, false) AS claims \gset
SELECT pg_temp.try(format('SELECT steppergo.respond_to_review(%L, %L)', :'rev2', 'not mine'));
SELECT pg_temp.try(format('SELECT steppergo.review_driver(%L, 3)', :'bk2'));
SELECT set_config('request.jwt.claims', json_build_object('sub', :'drv_user', 'app_role', 'DRIVER')::text, false) AS claims \gset
SELECT pg_temp.try(format('SELECT steppergo.respond_to_review(%L, %L)', :'rev2', 'Sorry for the wait'));
SELECT set_config('request.jwt.claims', '', false) AS claims \gset
RESET ROLE;
-- exact: a recount equals the stored figures
SELECT d.rating = round(avg(r.rating), 2) AND d.review_count = count(*) AS exact, d.rating, d.review_count
  FROM drivers d JOIN reviews r ON r.driver_id = d.id WHERE d.id = :'drv' GROUP BY d.id;

-- ---------------------------------------------------- cancelling a trip
-- the private trip, booked and paid online, cancelled by the organizer
SELECT publish_trip(:'priv');
SELECT book_seats(:'priv', :'p1', 2, '[{"name": "A"}, {"name": "B"}]') AS pb \gset
SELECT status, available_seats FROM trips WHERE id = :'priv';
INSERT INTO payments (booking_id, stripe_intent_id, amount, status, succeeded_at)
SELECT id, 'pi_lc_private_1', total_amount, 'SUCCEEDED', now() FROM bookings WHERE id = :'pb';
UPDATE bookings SET status = 'CONFIRMED', confirmed_at = now(), expires_at = NULL WHERE id = :'pb';
SELECT transition_trip(:'priv', 'CANCELLED', :'org', 'weather');
SELECT t.status, t.available_seats, t.cancellation_reason, b.status AS booking, b.cancellation_reason AS booking_reason,
       p.refund_requested_at IS NOT NULL AS refund_requested
  FROM trips t JOIN bookings b ON b.trip_id = t.id JOIN payments p ON p.booking_id = b.id WHERE t.id = :'priv';
SELECT pg_temp.try(format('SELECT steppergo.book_seats(%L, %L, 1)', :'priv', :'p2'));
-- the driver was never on the road for it: availability untouched
SELECT availability FROM drivers WHERE id = :'drv';

-- a trip cancelled on the road frees its driver; only an admin cancels once
-- the passengers are on board
SELECT create_trip('Road cancel', 'A', 43.2, 76.9, 'B', 43.3, 77.0, now() + interval '1 day', 3, 'SHARED',
                   price_per_seat => 1500, organizer_id => :'org', publish => true) AS road \gset
SELECT book_seats(:'road', :'p2', 1, '[]', 'CASH_TO_DRIVER') AS rb \gset
UPDATE trips SET driver_id = :'drv' WHERE id = :'road';
SELECT transition_trip(:'road', 'IN_PROGRESS', :'drv_user');
SELECT transition_trip(:'road', 'DRIVER_ARRIVED', :'drv_user');
SELECT board_passenger(:'rb', issue_boarding_code(:'rb')) AS boarded;
SELECT transition_trip(:'road', 'PASSENGERS_BOARDED', :'drv_user');
SELECT pg_temp.try(format('SELECT steppergo.transition_trip(%L, %L, %L)', :'road', 'CANCELLED', :'drv_user'));
SELECT availability FROM drivers WHERE id = :'drv';
SELECT transition_trip(:'road', 'CANCELLED', :'admin', 'vehicle breakdown');
SELECT t.status, t.available_seats, b.status AS booking, d.availability
  FROM trips t JOIN bookings b ON b.trip_id = t.id JOIN drivers d ON d.id = t.driver_id WHERE t.id = :'road';
SELECT from_status, to_status, actor_id = :'admin' AS by_admin, reason FROM trip_status_history
 WHERE trip_id = :'road' AND to_status = 'CANCELLED';

