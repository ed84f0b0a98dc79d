-- trips: PaymentIntents, Stripe webhooks (once, in order, never backwards,
-- never lost), refunds
\set VERBOSITY terse
SET search_path = steppergo, public;
CREATE FUNCTION pg_temp.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE sql;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
-- a Stripe event as the webhook endpoint receives it
CREATE FUNCTION pg_temp.evt(type text, obj jsonb) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object('object', 'event', 'type', type, 'data', jsonb_build_object('object', obj))
$$;
CREATE FUNCTION pg_temp.intent(id text, amount integer, extra jsonb DEFAULT '{}') RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object('id', id, 'object', 'payment_intent', 'amount', amount, 'currency', 'kzt') || extra
$$;

INSERT INTO users (email, phone, name, role)
SELECT 'pm.p' || g || '@trips.test', '+7903000030' || g, 'Pay Passenger ' || g, 'PASSENGER'
  FROM generate_series(1, 6) g;
SELECT id AS p1 FROM users WHERE email = 'pm.p1@trips.test' \gset
SELECT id AS p2 FROM users WHERE email = 'pm.p2@trips.test' \gset
SELECT id AS p3 FROM users WHERE email = 'pm.p3@trips.test' \gset
SELECT id AS p4 FROM users WHERE email = 'pm.p4@trips.test' \gset
SELECT id AS p5 FROM users WHERE email = 'pm.p5@trips.test' \gset
SELECT create_trip('Pay shared', 'A', 43.2, 76.9, 'B', 43.3, 77.0, now() + interval '2 days', 6, 'SHARED',
                   price_per_seat => 2500, organizer_id => :'p1', publish => true) AS trip \gset
SELECT book_seats(:'trip', :'p1', 1) AS b1 \gset
SELECT book_seats(:'trip', :'p2', 2, '[{"name": "A"}, {"name": "B"}]') AS b2 \gset
SELECT book_seats(:'trip', :'p3', 1) AS b3 \gset
SELECT book_seats(:'trip', :'p4', 1, '[]', 'CASH_TO_DRIVER') AS b4 \gset
SELECT book_seats(:'trip', :'p5', 1) AS b5 \gset

-- --------------------------------------------------- attaching intents
SELECT pg_temp.try(format('SELECT steppergo.attach_payment_intent(%L, %L, %L, 2500)', :'b1', 'ch_123', 'secret'));
SELECT pg_temp.try(format('SELECT steppergo.attach_payment_intent(%L, %L, %L, 2400)', :'b1', 'pi_pm_1', 'secret'));
SELECT pg_temp.try(format('SELECT steppergo.attach_payment_intent(%L, %L, %L, 2500, %L)', :'b1', 'pi_pm_1', 'secret', 'USD'));
SELECT pg_temp.try(format('SELECT steppergo.attach_payment_intent(%L, %L, %L, 2500)', :'b4', 'pi_pm_4', 'secret'));
SELECT pg_temp.try(format('SELECT steppergo.attach_payment_intent(%L, %L, %L, 2500)', '00000000-0000-0000-0000-000000000000', 'pi_pm_0', 'secret'));
SELECT pg_temp.try(format('SELECT steppergo.attach_payment_intent(%L, NULL, %L, 2500)', :'b1', 'secret'));
SELECT attach_payment_intent(:'b1', 'pi_pm_1', 'pi_pm_1_secret_x', 2500, 'kzt') AS pay1 \gset
SELECT attach_payment_intent(:'b1', 'pi_pm_1', 'pi_pm_1_secret_x', 2500) = :'pay1' AS same_payment;
SELECT attach_payment_intent(:'b2', 'pi_pm_2', 'pi_pm_2_secret_x', 5000) IS NOT NULL AS attached;
SELECT attach_payment_intent(:'b3', 'pi_pm_3', 'pi_pm_3_secret_x', 2500) IS NOT NULL AS attached;
SELECT status, amount, currency, stripe_client_secret FROM payments WHERE id = :'pay1';

-- ------------------------------------------------------ success, once
SELECT record_webhook('stripe', 'evt_pm_1', 'payment_intent.succeeded',
  pg_temp.evt('payment_intent.succeeded', pg_temp.intent('pi_pm_1', 250000,
    '{"charges": {"data": [{"payment_method_details": {"type": "card", "card": {"brand": "visa", "last4": "4242"}}}]}}'))) AS recorded;
SELECT p.status, p.payment_method, p.last4, p.succeeded_at IS NOT NULL AS succeeded_at,
       b.status AS booking, b.confirmed_at IS NOT NULL AS confirmed_at, b.expires_at
  FROM payments p JOIN bookings b ON b.id = p.booking_id WHERE p.id = :'pay1';
-- a redelivery is recognised and changes nothing
SELECT record_webhook('stripe', 'evt_pm_1', 'payment_intent.succeeded',
  pg_temp.evt('payment_intent.succeeded', pg_temp.intent('pi_pm_1', 250000))) AS recorded_again;
-- a late "processing" never moves the payment backwards; it is recorded and ignored
SELECT record_webhook('stripe', 'evt_pm_1_late', 'payment_intent.processing',
  pg_temp.evt('payment_intent.processing', pg_temp.intent('pi_pm_1', 250000))) AS recorded;
SELECT record_webhook('stripe', 'evt_pm_1_fail', 'payment_intent.payment_failed',
  pg_temp.evt('payment_intent.payment_failed', pg_temp.intent('pi_pm_1', 250000))) AS recorded;
SELECT status, last4 FROM payments WHERE id = :'pay1';
SELECT event_id, processed, processing_error, attempts FROM webhook_logs WHERE event_id LIKE 'evt_pm_1%' ORDER BY event_id;

-- ------------------------------------------- failure, then a retry that succeeds
SELECT record_webhook('stripe', 'evt_pm_2a', 'payment_intent.processing',
  pg_temp.evt('payment_intent.processing', pg_temp.intent('pi_pm_2', 500000)));
SELECT record_webhook('stripe', 'evt_pm_2b', 'payment_intent.payment_failed',
  pg_temp.evt('payment_intent.payment_failed', pg_temp.intent('pi_pm_2', 500000,
    '{"last_payment_error": {"code": "card_declined", "message": "Your card was declined."}}')));
SELECT p.status, p.error_message, p.failed_at IS NOT NULL AS failed_at, b.status AS booking
  FROM payments p JOIN bookings b ON b.id = p.booking_id WHERE p.stripe_intent_id = 'pi_pm_2';
SELECT record_webhook('stripe', 'evt_pm_2c', 'payment_intent.succeeded',
  pg_temp.evt('payment_intent.succeeded', pg_temp.intent('pi_pm_2', 500000)));
SELECT p.status, p.error_message, b.status AS booking
  FROM payments p JOIN bookings b ON b.id = p.booking_id WHERE p.stripe_intent_id = 'pi_pm_2';

-- ------------------------------- events that cannot be applied are kept
-- a wrong amount
SELECT record_webhook('stripe', 'evt_pm_3_wrong', 'payment_intent.succeeded',
  pg_temp.evt('payment_intent.succeeded', pg_temp.intent('pi_pm_3', 100)));
-- an intent nobody attached yet (the webhook overtook the application)
SELECT record_webhook('stripe', 'evt_pm_5', 'payment_intent.succeeded',
  pg_temp.evt('payment_intent.succeeded', pg_temp.intent('pi_pm_5', 250000)));
-- no data.object at all
SELECT record_webhook('stripe', 'evt_pm_bad', 'payment_intent.succeeded', '{"data": {}}');
SELECT event_id, processed, processing_error, attempts FROM webhook_logs
 WHERE event_id IN ('evt_pm_3_wrong', 'evt_pm_5', 'evt_pm_bad') ORDER BY event_id;
SELECT status FROM payments WHERE stripe_intent_id = 'pi_pm_3';
-- retrying applies nothing new yet, but counts the attempts
SELECT retry_webhooks() >= 0 AS retried;
SELECT event_id, processed, attempts > 1 AS retried FROM webhook_logs
 WHERE event_id IN ('evt_pm_3_wrong', 'evt_pm_5', 'evt_pm_bad') ORDER BY event_id;
-- attaching the intent applies the event that waited for it
SELECT attach_payment_intent(:'b5', 'pi_pm_5', 'pi_pm_5_secret_x', 2500) IS NOT NULL AS attached;
SELECT p.status, b.status AS booking FROM payments p JOIN bookings b ON b.id = p.booking_id WHERE p.stripe_intent_id = 'pi_pm_5';
SELECT processed, processing_error FROM webhook_logs WHERE event_id = 'evt_pm_5';
-- an attached intent cannot be swapped once it succeeded
SELECT pg_temp.try(format('SELECT steppergo.attach_payment_intent(%L, %L, %L, 2500)', :'b5', 'pi_pm_5b', 'secret'));

-- ---------------------------------------------------------- refunds
-- a paid booking cancelled by the passenger is marked for refund
SELECT cancel_booking(:'b1', 'cannot come');
SELECT status, refund_requested_at IS NOT NULL AS refund_requested FROM payments WHERE id = :'pay1';
SELECT available_seats FROM trips WHERE id = :'trip';
-- Stripe reports the refund: payment and booking REFUNDED
SELECT record_webhook('stripe', 'evt_pm_1_refund', 'charge.refunded',
  pg_temp.evt('charge.refunded', '{"id": "ch_pm_1", "object": "charge", "payment_intent": "pi_pm_1", "refunded": true}'));
SELECT p.status, p.refunded_at IS NOT NULL AS refunded_at, b.status AS booking
  FROM payments p JOIN bookings b ON b.id = p.booking_id WHERE p.id = :'pay1';
-- it was cancelled before: its seats were released then, not again
SELECT available_seats FROM trips WHERE id = :'trip';
SELECT record_webhook('stripe', 'evt_pm_2_partial', 'charge.refunded',
  pg_temp.evt('charge.refunded', '{"id": "ch_pm_2", "payment_intent": "pi_pm_2", "refunded": false, "amount_refunded": 1000}'));
SELECT status FROM payments WHERE stripe_intent_id = 'pi_pm_2';
SELECT record_webhook('stripe', 'evt_pm_2_refund', 'charge.refunded',
  pg_temp.evt('charge.refunded', '{"id": "ch_pm_2", "payment_intent": "pi_pm_2", "refunded": true}'));
SELECT p.status, b.status AS booking FROM payments p JOIN bookings b ON b.id = p.booking_id WHERE p.stripe_intent_id = 'pi_pm_2';
SELECT available_seats FROM trips WHERE id = :'trip';
-- a success arriving after the refund is ignored
SELECT record_webhook('stripe', 'evt_pm_2_late', 'payment_intent.succeeded',
  pg_temp.evt('payment_intent.succeeded', pg_temp.intent('pi_pm_2', 500000)));
SELECT status FROM payments WHERE stripe_intent_id = 'pi_pm_2';

-- ------------------------------- a payment after the booking expired
-- the seat is gone: the payment is kept and marked for refund
UPDATE bookings SET expires_at = now() - interval '1 second' WHERE id = :'b3';
SELECT expire_booking(:'b3') AS expired;
SELECT record_webhook('stripe', 'evt_pm_3_late', 'payment_intent.succeeded',
  pg_temp.evt('payment_intent.succeeded', pg_temp.intent('pi_pm_3', 250000)));
SELECT p.status, p.refund_requested_at IS NOT NULL AS refund_requested, b.status AS booking
  FROM payments p JOIN bookings b ON b.id = p.booking_id WHERE p.stripe_intent_id = 'pi_pm_3';

-- ------------------------------------------------- other events, sources
SELECT record_webhook('stripe', 'evt_pm_other', 'customer.created', '{"data": {"object": {"id": "cus_1"}}}');
SELECT record_webhook('twilio', 'evt_pm_sms', 'message.delivered', '{"sid": "SM1"}');
SELECT event_id, processed, processing_error FROM webhook_logs WHERE event_id IN ('evt_pm_other', 'evt_pm_sms') ORDER BY event_id;
SELECT pg_temp.try($$SELECT steppergo.record_webhook(NULL, 'e', 't', '{}')$$);
SELECT pg_temp.try($$SELECT steppergo.record_webhook('Stripe!', 'e', 't', '{}')$$);
SELECT pg_temp.try($$SELECT steppergo.record_webhook('stripe', 'e', 't', '[]')$$);
SELECT pg_temp.try($$SELECT steppergo.record_webhook('stripe', '', 't', '{}')$$);
-- the API roles as PostgREST uses them (setup_api_roles is idempotent)
SET client_min_messages = warning;
SELECT steppergo.setup_api_roles() AS roles \gset
RESET client_min_messages;
SET ROLE authenticated;
SELECT set_config('request.jwt.claims', json_build_object('sub', :'p1', 'app_role', 'PASSENGER')::text, false) AS claims \gset
SELECT pg_temp.try($$SELECT steppergo.record_webhook('stripe', 'evt_pm_forged', 'payment_intent.succeeded', '{}')$$);
SELECT pg_temp.try('SELECT steppergo.retry_webhooks()');
SELECT set_config('request.jwt.claims', '', false) AS claims \gset
RESET ROLE;
SELECT count(*) AS forged FROM webhook_logs WHERE event_id = 'evt_pm_forged';
-- the service role of trusted backends records webhooks
SET ROLE service_role;
SELECT steppergo.record_webhook('stripe', 'evt_pm_service', 'customer.updated', '{"data": {"object": {"id": "cus_2"}}}') AS recorded;
RESET ROLE;

-- ------------------------------------------ activity bookings via Stripe
INSERT INTO users (email, phone, name, role) VALUES ('pm.owner@trips.test', '+79030000399', 'Pay Owner', 'ACTIVITY_OWNER');
INSERT INTO activity_owners (user_id, business_name) SELECT id, 'Pay Tours' FROM users WHERE email = 'pm.owner@trips.test';
INSERT INTO activities (owner_id, title, category, price_per_person)
SELECT o.id, 'Pay Canyon Tour', 'TOUR', 15000 FROM activity_owners o WHERE o.business_name = 'Pay Tours' RETURNING id AS act \gset
INSERT INTO activity_bookings (activity_id, passenger_id, scheduled_date, participants, price_per_person, total_amount, payment_id)
VALUES (:'act', :'p1', current_date + 7, 2, 15000, 30000, 'pi_pm_act_1') RETURNING id AS ab \gset
SELECT record_webhook('stripe', 'evt_pm_act_1', 'payment_intent.succeeded',
  pg_temp.evt('payment_intent.succeeded', pg_temp.intent('pi_pm_act_1', 3000000)));
SELECT payment_status, status, confirmed_at IS NOT NULL AS confirmed_at FROM activity_bookings WHERE id = :'ab';
SELECT record_webhook('stripe', 'evt_pm_act_1_late', 'payment_intent.payment_failed',
  pg_temp.evt('payment_intent.payment_failed', pg_temp.intent('pi_pm_act_1', 3000000)));
SELECT record_webhook('stripe', 'evt_pm_act_1_refund', 'charge.refunded',
  pg_temp.evt('charge.refunded', '{"id": "ch_act", "payment_intent": "pi_pm_act_1", "refunded": true}'));
SELECT payment_status, status FROM activity_bookings WHERE id = :'ab';
SELECT event_id, processed FROM webhook_logs WHERE event_id LIKE 'evt_pm_act%' ORDER BY event_id;

-- the seat invariant holds through all of it
SELECT t.available_seats = t.total_seats - coalesce(sum(b.seats_booked) FILTER (WHERE b.status IN ('PENDING', 'CONFIRMED', 'COMPLETED')), 0) AS invariant,
       t.available_seats
  FROM trips t LEFT JOIN bookings b ON b.trip_id = t.id WHERE t.id = :'trip' GROUP BY t.id;
