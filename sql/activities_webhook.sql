-- activities with the Stripe webhook of the trips domain (record_webhook):
-- payment_intent events find the activity booking by payment_id; the
-- activities triggers keep the aggregates and the booking rules.
\set VERBOSITY terse
SET client_min_messages = warning;
SET search_path = steppergo, public;

INSERT INTO users (email, phone, name, role) VALUES
  ('wh-owner@activities.test', '+79063000001', 'Wh Owner', 'ACTIVITY_OWNER'),
  ('wh-pax@activities.test', '+79063000002', 'Wh Pax', 'PASSENGER');
INSERT INTO activity_owners (user_id, business_name, verification_status)
SELECT id, 'Webhook Tours', 'VERIFIED' FROM users WHERE email = 'wh-owner@activities.test';
INSERT INTO activities (owner_id, title, category, city, price_per_person, max_participants, status, published_at)
SELECT id, 'Webhook hike', 'TOUR', 'Whgrad', 8000, 10, 'ACTIVE', now() FROM activity_owners WHERE business_name = 'Webhook Tours';
INSERT INTO activity_schedules (activity_id, day_of_week, start_time, end_time)
SELECT a.id, d, '09:00', '11:00' FROM activities a, unnest(weekdays()) d WHERE a.title = 'Webhook hike';

CREATE TEMP TABLE wb AS
SELECT k, book_activity((SELECT id FROM activities WHERE title = 'Webhook hike'),
                        (SELECT id FROM users WHERE email = 'wh-pax@activities.test'),
                        (now() AT TIME ZONE 'Asia/Almaty')::date + 4, '09:00', k) AS id
  FROM generate_series(1, 3) k;
UPDATE activity_bookings b SET payment_id = 'pi_act_wh_' || w.k FROM wb w WHERE b.id = w.id;

-- evt(type, intent, amount in minor units): a Stripe event
CREATE FUNCTION pg_temp.evt(t text, intent text, amount bigint) RETURNS jsonb LANGUAGE sql AS $$
  SELECT jsonb_build_object('type', t, 'data', jsonb_build_object('object',
           jsonb_build_object('id', intent, 'object', 'payment_intent', 'amount', amount, 'currency', 'kzt'))) $$;

-- success: CONFIRMED, counted
SELECT record_webhook('stripe', 'evt_act_wh_1', 'payment_intent.succeeded', pg_temp.evt('payment_intent.succeeded', 'pi_act_wh_1', 800000)) AS recorded;
SELECT record_webhook('stripe', 'evt_act_wh_1', 'payment_intent.succeeded', pg_temp.evt('payment_intent.succeeded', 'pi_act_wh_1', 800000)) AS recorded_again;
SELECT record_webhook('stripe', 'evt_act_wh_2', 'payment_intent.succeeded', pg_temp.evt('payment_intent.succeeded', 'pi_act_wh_2', 1600000)) AS recorded;
SELECT w.k, b.status, b.payment_status, b.confirmed_at IS NOT NULL AS confirmed_at, b.refund_amount
  FROM wb w JOIN activity_bookings b ON b.id = w.id ORDER BY w.k;
SELECT total_bookings, total_revenue FROM activities WHERE title = 'Webhook hike';

-- the third booking's hold expires, then its payment arrives late: it stays
-- cancelled (its places are free again) and is owed back in full
UPDATE activity_bookings SET created_at = now() - interval '1 hour' WHERE id = (SELECT id FROM wb WHERE k = 3);
SELECT expire_activity_holds() >= 1 AS expired;
SELECT record_webhook('stripe', 'evt_act_wh_3', 'payment_intent.succeeded', pg_temp.evt('payment_intent.succeeded', 'pi_act_wh_3', 2400000)) AS recorded;
SELECT b.status, b.payment_status, b.refund_amount, b.total_amount FROM activity_bookings b WHERE b.id = (SELECT id FROM wb WHERE k = 3);
SELECT booked, remaining FROM activity_availability((SELECT id FROM activities WHERE title = 'Webhook hike'),
  (now() AT TIME ZONE 'Asia/Almaty')::date + 4, (now() AT TIME ZONE 'Asia/Almaty')::date + 4);

-- a full refund: REFUNDED, refund_amount = total, out of the revenue
SELECT record_webhook('stripe', 'evt_act_wh_4', 'charge.refunded',
  '{"type": "charge.refunded", "data": {"object": {"id": "ch_act_wh_2", "object": "charge", "payment_intent": "pi_act_wh_2", "refunded": true}}}') AS recorded;
SELECT b.status, b.payment_status, b.refund_amount, b.total_amount FROM activity_bookings b WHERE b.id = (SELECT id FROM wb WHERE k = 2);
SELECT total_bookings, total_revenue FROM activities WHERE title = 'Webhook hike';
SELECT total_bookings, total_revenue FROM activity_owners WHERE business_name = 'Webhook Tours';
