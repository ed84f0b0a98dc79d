-- activities: owners, listings, photos, schedules, availability, booking,
-- cancellation refunds, reviews, aggregates, search.
-- Data: emails *@activities.test, phones +7906NNNNNNN, city 'Actgrad'.
\set VERBOSITY terse
SET client_min_messages = warning;
SET search_path = steppergo, public;

-- try(sql): 'ok' or the refusal's SQLSTATE and message
CREATE FUNCTION pg_temp.try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;

DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'activities_test_api') THEN
    CREATE ROLE activities_test_api NOLOGIN;
  END IF;
END $$;
GRANT USAGE ON SCHEMA steppergo TO activities_test_api;

-- users: an admin, an owner-to-be, two passengers, a driver
INSERT INTO users (email, phone, name, role) VALUES
  ('admin@activities.test', '+79060000001', 'Act Admin', 'ADMIN'),
  ('owner@activities.test', '+79060000002', 'Act Owner', 'PASSENGER'),
  ('pax1@activities.test', '+79060000003', 'Act Pax One', 'PASSENGER'),
  ('pax2@activities.test', '+79060000004', 'Act Pax Two', 'PASSENGER'),
  ('driver@activities.test', '+79060000005', 'Act Driver', 'DRIVER'),
  ('owner2@activities.test', '+79060000006', 'Act Owner Two', 'PASSENGER');
CREATE TEMP TABLE u AS SELECT split_part(email, '@', 1) AS k, id, role FROM users WHERE email LIKE '%@activities.test';
GRANT SELECT ON u TO activities_test_api;
-- claims(k): the JWT claims of user k (the role it had when the token was issued)
CREATE FUNCTION pg_temp.claims(who text) RETURNS text LANGUAGE sql AS $$
  SELECT set_config('request.jwt.claims', json_build_object('sub', u.id, 'app_role', u.role)::text, true)
    FROM pg_temp.u u WHERE u.k = who $$;

-- ======================================================== owners
-- refusals before the profile exists
SELECT pg_temp.try($$SELECT create_activity_owner((SELECT id FROM u WHERE k = 'driver'), 'Drive Tours')$$);
SELECT pg_temp.try($$SELECT create_activity_owner(NULL, 'X')$$);
SELECT pg_temp.try($$SELECT create_activity_owner(uuid_generate_v7(), 'X')$$);
SELECT pg_temp.try($$SELECT create_activity_owner((SELECT id FROM u WHERE k = 'owner'), 'X', '{"tax":"1"}')$$);
SELECT pg_temp.try($$SELECT create_activity_owner((SELECT id FROM u WHERE k = 'owner'), 'X', '{"website":"ftp://x"}')$$);
-- as an API user: another user's profile is refused
BEGIN;
SET LOCAL ROLE activities_test_api;
SELECT pg_temp.claims('pax1') IS NOT NULL AS as_pax1;
SELECT pg_temp.try($$SELECT create_activity_owner((SELECT id FROM u WHERE k = 'owner'), 'Hijack Tours')$$);
-- the owner creates their own
SELECT pg_temp.claims('owner') IS NOT NULL AS as_owner;
SELECT create_activity_owner((SELECT id FROM u WHERE k = 'owner'), 'Actgrad Adventures',
  '{"business_type":"LLP","tax_id":"990140000001","city":"Actgrad","phone":"+79060000002","categories":["TOUR","NATURE"]}') IS NOT NULL AS created;
SELECT pg_temp.try($$SELECT create_activity_owner((SELECT id FROM u WHERE k = 'owner'), 'Again')$$);
COMMIT;
SELECT u.role, o.verification_status, o.business_type, o.categories, o.total_activities
  FROM activity_owners o JOIN users u ON u.id = o.user_id WHERE u.email = 'owner@activities.test';
CREATE TEMP TABLE own AS SELECT o.id, o.user_id FROM activity_owners o JOIN u ON u.id = o.user_id AND u.k = 'owner';
GRANT SELECT ON own TO activities_test_api;
SELECT pg_temp.try($$SELECT update_activity_owner((SELECT id FROM own), '{"website":"https://actgrad.example.kz","business_address":"Main St 1"}')$$);
SELECT website, business_address FROM activity_owners WHERE id = (SELECT id FROM own);

-- verification: only admins; audited; PENDING -> VERIFIED
BEGIN;
SET LOCAL ROLE activities_test_api;
SELECT pg_temp.claims('owner') IS NOT NULL AS as_owner;
SELECT pg_temp.try($$SELECT verify_activity_owner((SELECT id FROM own), 'VERIFIED')$$);
SELECT pg_temp.claims('admin') IS NOT NULL AS as_admin;
SELECT pg_temp.try($$SELECT verify_activity_owner((SELECT id FROM own), 'APPROVED')$$);
SELECT pg_temp.try($$SELECT verify_activity_owner((SELECT id FROM own), 'REJECTED')$$);
SELECT pg_temp.try($$SELECT verify_activity_owner((SELECT id FROM own), 'VERIFIED')$$);
SELECT pg_temp.try($$SELECT verify_activity_owner((SELECT id FROM own), 'VERIFIED')$$);
COMMIT;
SELECT o.verification_status, o.verified_at IS NOT NULL AS verified_at, o.verified_by = (SELECT id FROM u WHERE k = 'admin') AS by_admin
  FROM activity_owners o WHERE o.id = (SELECT id FROM own);
SELECT a.action_type, a.target_type, a.details ->> 'from' AS "from", a.details ->> 'to' AS "to",
       a.admin_id = (SELECT id FROM u WHERE k = 'admin') AS by_admin
  FROM admin_actions a WHERE a.target_id = (SELECT id::text FROM own);

-- a second owner, rejected, then resubmits
SELECT create_activity_owner((SELECT id FROM u WHERE k = 'owner2'), 'Second Tours') IS NOT NULL AS created;
CREATE TEMP TABLE own2 AS SELECT o.id FROM activity_owners o JOIN u ON u.id = o.user_id AND u.k = 'owner2';
SELECT verify_activity_owner((SELECT id FROM own2), 'REJECTED', 'tax id missing');
SELECT verification_status, rejection_reason FROM activity_owners WHERE id = (SELECT id FROM own2);
SELECT update_activity_owner((SELECT id FROM own2), '{"tax_id":"990140000002"}');
SELECT verification_status FROM activity_owners WHERE id = (SELECT id FROM own2);

-- ======================================================== listings
SELECT pg_temp.try($$SELECT create_activity((SELECT id FROM own), '{"title":"No price","category":"TOUR"}')$$);
SELECT pg_temp.try($$SELECT create_activity((SELECT id FROM own), '{"title":"Bad","category":"SKYDIVING","price_per_person":1}')$$);
SELECT pg_temp.try($$SELECT create_activity((SELECT id FROM own), '{"title":"Bad","category":"TOUR","price_per_person":1,"status":"ACTIVE"}')$$);
SELECT pg_temp.try($$SELECT create_activity((SELECT id FROM own), '{"title":"Bad","category":"TOUR","price_per_person":"many"}')$$);
-- group tiers: overlapping, outside min/max (cross-column), non-positive
SELECT pg_temp.try($$SELECT create_activity((SELECT id FROM own), '{"title":"Bad","category":"TOUR","price_per_person":1000,
  "group_pricing":[{"minParticipants":2,"maxParticipants":5,"pricePerPerson":900},{"minParticipants":5,"maxParticipants":8,"pricePerPerson":800}]}')$$);
SELECT pg_temp.try($$SELECT create_activity((SELECT id FROM own), '{"title":"Bad","category":"TOUR","price_per_person":1000,
  "max_participants":6,"group_pricing":[{"minParticipants":5,"maxParticipants":8,"pricePerPerson":800}]}')$$);
SELECT pg_temp.try($$SELECT create_activity((SELECT id FROM own), '{"title":"Bad","category":"TOUR","price_per_person":1000,
  "group_pricing":[{"minParticipants":2,"maxParticipants":5,"pricePerPerson":0}]}')$$);
SELECT pg_temp.try($$SELECT create_activity((SELECT id FROM own), '{"title":"Bad","category":"TOUR","price_per_person":1000,
  "cancellation_policy":{"tiers":[{"hoursBefore":48,"refundPercent":120}]}}')$$);
SELECT pg_temp.try($$SELECT create_activity((SELECT id FROM own), '{"title":"Bad","category":"TOUR","price_per_person":1000,"timezone":"Mars/Olympus"}')$$);

-- the main listing: FIXED, every day at 10:00 and 15:00, 6 places, tiers
SELECT create_activity((SELECT id FROM own), '{
  "title": "Big Almaty Lake hike", "description": "A day in the mountains", "category": "NATURE",
  "address": "Lake road 1", "city": "Actgrad", "latitude": 43.05, "longitude": 76.98,
  "price_per_person": 10000, "min_participants": 1, "max_participants": 6, "duration_minutes": 240,
  "group_pricing": [{"minParticipants": 3, "maxParticipants": 4, "pricePerPerson": 9000},
                    {"minParticipants": 5, "maxParticipants": 6, "pricePerPerson": 8000}],
  "cancellation_policy": {"tiers": [{"hoursBefore": 48, "refundPercent": 100}, {"hoursBefore": 24, "refundPercent": 50}]},
  "inclusions": ["Guide", "Transport"], "requirements": ["Boots"], "min_notice_hours": 2, "advance_booking_days": 60
}') IS NOT NULL AS created;
CREATE TEMP TABLE act AS SELECT id FROM activities WHERE title = 'Big Almaty Lake hike' AND city = 'Actgrad';
GRANT SELECT ON act TO activities_test_api;
SELECT status, schedule_type, timezone, published_at IS NULL AS unpublished, inclusions, group_pricing -> 1 ->> 'pricePerPerson' AS tier2
  FROM activities WHERE id = (SELECT id FROM act);
SELECT total_activities FROM activity_owners WHERE id = (SELECT id FROM own);
-- updates: a tier outside a lowered max is refused (cross-column, on update too)
SELECT pg_temp.try($$SELECT update_activity((SELECT id FROM act), '{"max_participants":4}')$$);
SELECT pg_temp.try($$SELECT update_activity((SELECT id FROM act), '{"min_participants":7}')$$);
SELECT pg_temp.try($$SELECT update_activity((SELECT id FROM act), '{"description":"A full day in the mountains"}')$$);
-- someone else cannot edit it
BEGIN;
SET LOCAL ROLE activities_test_api;
SELECT pg_temp.claims('pax1') IS NOT NULL AS as_pax1;
SELECT pg_temp.try($$SELECT update_activity((SELECT id FROM act), '{"price_per_person":1}')$$);
SELECT pg_temp.try($$SELECT transition_activity((SELECT id FROM act), 'PENDING_APPROVAL')$$);
COMMIT;

-- workflow: no schedule yet, then schedules
SELECT pg_temp.try($$SELECT transition_activity((SELECT id FROM act), 'ACTIVE')$$);
SELECT pg_temp.try($$SELECT transition_activity((SELECT id FROM act), 'PENDING_APPROVAL')$$);
SELECT pg_temp.try($$SELECT add_activity_schedule((SELECT id FROM act), '10:00', '09:00', 'MON')$$);
SELECT pg_temp.try($$SELECT add_activity_schedule((SELECT id FROM act), '10:00', '14:00')$$);
SELECT pg_temp.try($$SELECT add_activity_schedule((SELECT id FROM act), '10:00', '14:00', 'MONDAY')$$);
SELECT count(*) AS slots_added FROM (
  SELECT add_activity_schedule((SELECT id FROM act), t.s, t.e, d)
    FROM unnest(weekdays()) d, (VALUES ('10:00'::time, '14:00'::time), ('15:00', '19:00')) t(s, e)) x;
BEGIN;
SET LOCAL ROLE activities_test_api;
SELECT pg_temp.claims('owner') IS NOT NULL AS as_owner;
SELECT pg_temp.try($$SELECT transition_activity((SELECT id FROM act), 'PENDING_APPROVAL')$$);
-- the owner cannot approve
SELECT pg_temp.try($$SELECT transition_activity((SELECT id FROM act), 'ACTIVE')$$);
SELECT pg_temp.claims('admin') IS NOT NULL AS as_admin;
SELECT pg_temp.try($$SELECT transition_activity((SELECT id FROM act), 'REJECTED')$$);
SELECT pg_temp.try($$SELECT transition_activity((SELECT id FROM act), 'REJECTED', 'photos missing')$$);
COMMIT;
SELECT status FROM activities WHERE id = (SELECT id FROM act);
SELECT transition_activity((SELECT id FROM act), 'DRAFT');
SELECT transition_activity((SELECT id FROM act), 'PENDING_APPROVAL');
BEGIN;
SET LOCAL ROLE activities_test_api;
SELECT pg_temp.claims('admin') IS NOT NULL AS as_admin;
SELECT pg_temp.try($$SELECT transition_activity((SELECT id FROM act), 'ACTIVE')$$);
COMMIT;
SELECT status, published_at IS NOT NULL AS published FROM activities WHERE id = (SELECT id FROM act);
SELECT action_type, details ->> 'from' AS "from", details ->> 'to' AS "to", details ->> 'reason' AS reason
  FROM admin_actions WHERE target_type = 'activity' AND target_id = (SELECT id::text FROM act) ORDER BY id;
-- illegal moves
SELECT pg_temp.try($$SELECT transition_activity((SELECT id FROM act), 'DRAFT')$$);
SELECT pg_temp.try($$SELECT transition_activity((SELECT id FROM act), 'PENDING_APPROVAL')$$);
SELECT pg_temp.try($$SELECT transition_activity((SELECT id FROM act), 'DELETED')$$);
-- pause keeps published_at; back to ACTIVE
CREATE TEMP TABLE pub AS SELECT published_at FROM activities WHERE id = (SELECT id FROM act);
SELECT transition_activity((SELECT id FROM act), 'PAUSED');
SELECT pg_temp.try($$SELECT transition_activity((SELECT id FROM act), 'PENDING_APPROVAL')$$);
SELECT transition_activity((SELECT id FROM act), 'ACTIVE');
SELECT status, published_at = (SELECT published_at FROM pub) AS same_published_at FROM activities WHERE id = (SELECT id FROM act);
-- an unverified owner cannot publish
SELECT create_activity((SELECT id FROM own2), '{"title":"Pending owner tour","category":"TOUR","price_per_person":5000,"city":"Actgrad"}') IS NOT NULL AS created;
SELECT add_activity_schedule((SELECT id FROM activities WHERE title = 'Pending owner tour'), '09:00', '12:00', 'SAT') IS NOT NULL AS added;
CREATE TEMP TABLE pend AS SELECT id FROM activities WHERE title = 'Pending owner tour';
GRANT SELECT ON pend TO activities_test_api;
SELECT pg_temp.try($$SELECT transition_activity((SELECT id FROM pend), 'PENDING_APPROVAL')$$);

-- ======================================================== photos
SELECT add_activity_photo((SELECT id FROM act), 'https://res.cloudinary.com/act/p1.jpg', 'act/p1') IS NOT NULL AS p1;
SELECT add_activity_photo((SELECT id FROM act), 'https://res.cloudinary.com/act/p2.jpg', 'act/p2') IS NOT NULL AS p2;
SELECT add_activity_photo((SELECT id FROM act), 'https://res.cloudinary.com/act/p3.jpg', 'act/p3', caption => 'Lake') IS NOT NULL AS p3;
SELECT pg_temp.try($$SELECT add_activity_photo((SELECT id FROM act), 'https://res.cloudinary.com/act/p4.jpg', 'act/p1')$$);
SELECT pg_temp.try($$SELECT add_activity_photo((SELECT id FROM act), 'not a url')$$);
SELECT cloudinary_id, "order", is_cover FROM activity_photos WHERE activity_id = (SELECT id FROM act) ORDER BY "order";
SELECT set_activity_cover((SELECT id FROM activity_photos WHERE cloudinary_id = 'act/p3'));
SELECT cloudinary_id, "order", is_cover FROM activity_photos WHERE activity_id = (SELECT id FROM act) ORDER BY "order";
SELECT reorder_activity_photos((SELECT id FROM act), ARRAY(SELECT id FROM activity_photos WHERE activity_id = (SELECT id FROM act) ORDER BY cloudinary_id DESC));
SELECT pg_temp.try($$SELECT reorder_activity_photos((SELECT id FROM act), ARRAY(SELECT id FROM activity_photos WHERE cloudinary_id = 'act/p1'))$$);
SELECT remove_activity_photo((SELECT id FROM activity_photos WHERE cloudinary_id = 'act/p3'));
SELECT cloudinary_id, "order", is_cover FROM activity_photos WHERE activity_id = (SELECT id FROM act) ORDER BY "order";
-- a second cover written directly is refused (unique); direct writes keep a cover
SELECT pg_temp.try($$UPDATE activity_photos SET is_cover = true WHERE cloudinary_id = 'act/p1'$$);
INSERT INTO activity_photos (activity_id, url, cloudinary_id, "order")
VALUES ((SELECT id FROM act), 'https://res.cloudinary.com/act/p5.jpg', 'act/p5', 0);
DELETE FROM activity_photos WHERE cloudinary_id = 'act/p2';
SELECT cloudinary_id, "order", is_cover FROM activity_photos WHERE activity_id = (SELECT id FROM act) ORDER BY "order";
SELECT set_activity_cover((SELECT id FROM activity_photos WHERE cloudinary_id = 'act/p1'));
SELECT cloudinary_id, "order", is_cover FROM activity_photos WHERE activity_id = (SELECT id FROM act) ORDER BY "order";

-- ======================================================== availability
-- local dates relative to the activity's today (Asia/Almaty)
CREATE TEMP TABLE t0 AS SELECT (now() AT TIME ZONE 'Asia/Almaty')::date AS today;
GRANT SELECT ON t0 TO activities_test_api;
SELECT scheduled_date - (SELECT today FROM t0) AS day, scheduled_time, end_time, capacity, booked, remaining,
       starts_at = (scheduled_date + scheduled_time) AT TIME ZONE 'Asia/Almaty' AS local_start
  FROM activity_availability((SELECT id FROM act), (SELECT today + 3 FROM t0), (SELECT today + 4 FROM t0));
-- blackout dates, the booking window (60 days), the range limits
SELECT update_activity((SELECT id FROM act), format('{"blackout_dates":["%s"]}', (SELECT today + 4 FROM t0))::jsonb);
SELECT count(*) AS slots_day4 FROM activity_availability((SELECT id FROM act), (SELECT today + 4 FROM t0), (SELECT today + 4 FROM t0));
SELECT max(scheduled_date) - (SELECT today FROM t0) AS last_day, min(starts_at) > now() + interval '2 hours' AS notice_kept
  FROM activity_availability((SELECT id FROM act), (SELECT today - 5 FROM t0), (SELECT today + 100 FROM t0));
SELECT pg_temp.try($$SELECT * FROM activity_availability((SELECT id FROM act), (SELECT today + 2 FROM t0), (SELECT today FROM t0))$$);
SELECT pg_temp.try($$SELECT * FROM activity_availability((SELECT id FROM act), (SELECT today FROM t0), (SELECT today + 400 FROM t0))$$);
SELECT pg_temp.try($$SELECT * FROM activity_availability(uuid_generate_v7(), (SELECT today FROM t0), (SELECT today FROM t0))$$);
-- anonymous callers see ACTIVE activities only
BEGIN;
SET LOCAL ROLE activities_test_api;
SELECT set_config('request.jwt.claims', '{"role":"anon"}', true) IS NOT NULL AS anon;
SELECT count(*) AS anon_slots FROM activity_availability((SELECT id FROM act), (SELECT today + 3 FROM t0), (SELECT today + 3 FROM t0));
SELECT pg_temp.try($$SELECT * FROM activity_availability((SELECT id FROM pend), (SELECT today FROM t0), (SELECT today + 7 FROM t0))$$);
COMMIT;

-- FLEXIBLE: opening hours 09:00-13:00 on TUE and SAT only, 90 minutes, step 30
SELECT create_activity((SELECT id FROM own), '{"title":"Horse ride","category":"ADVENTURE","price_per_person":7000,"city":"Actgrad",
  "schedule_type":"FLEXIBLE","duration_minutes":90,"max_participants":4,"available_days":["TUE","SAT"],
  "latitude":43.20,"longitude":76.90}') IS NOT NULL AS created;
CREATE TEMP TABLE flex AS SELECT id FROM activities WHERE title = 'Horse ride' AND city = 'Actgrad';
SELECT count(*) FROM (SELECT add_activity_schedule((SELECT id FROM flex), '09:00', '13:00', d) FROM unnest(weekdays()) d) x;
SELECT transition_activity((SELECT id FROM flex), 'PENDING_APPROVAL'), transition_activity((SELECT id FROM flex), 'ACTIVE');
SELECT to_char(scheduled_date, 'DY') AS dow, array_agg(scheduled_time::text || '-' || end_time::text ORDER BY scheduled_time) AS starts
  FROM activity_availability((SELECT id FROM flex), (SELECT today + 7 FROM t0), (SELECT today + 13 FROM t0))
 GROUP BY scheduled_date ORDER BY 1;
SET steppergo.activity_slot_step_minutes = 60;
SELECT count(*) AS hourly_starts FROM activity_availability((SELECT id FROM flex), (SELECT today + 7 FROM t0), (SELECT today + 13 FROM t0));
RESET steppergo.activity_slot_step_minutes;

-- ======================================================== booking
-- refusals
SELECT pg_temp.try($$SELECT book_activity((SELECT id FROM act), (SELECT id FROM u WHERE k = 'pax1'), (SELECT today + 3 FROM t0), '11:00', 2)$$);
SELECT pg_temp.try($$SELECT book_activity((SELECT id FROM act), (SELECT id FROM u WHERE k = 'pax1'), (SELECT today + 4 FROM t0), '10:00', 2)$$);
SELECT pg_temp.try($$SELECT book_activity((SELECT id FROM act), (SELECT id FROM u WHERE k = 'pax1'), (SELECT today - 1 FROM t0), '10:00', 2)$$);
SELECT pg_temp.try($$SELECT book_activity((SELECT id FROM act), (SELECT id FROM u WHERE k = 'pax1'), (SELECT today + 70 FROM t0), '10:00', 2)$$);
SELECT pg_temp.try($$SELECT book_activity((SELECT id FROM act), (SELECT id FROM u WHERE k = 'pax1'), (SELECT today + 3 FROM t0), '10:00', 7)$$);
SELECT pg_temp.try($$SELECT book_activity((SELECT id FROM act), (SELECT id FROM u WHERE k = 'pax1'), (SELECT today + 3 FROM t0), '10:00', 0)$$);
SELECT pg_temp.try($$SELECT book_activity((SELECT id FROM act), (SELECT id FROM u WHERE k = 'pax1'), (SELECT today + 3 FROM t0), NULL, 2)$$);
SELECT pg_temp.try($$SELECT book_activity((SELECT id FROM act), uuid_generate_v7(), (SELECT today + 3 FROM t0), '10:00', 2)$$);
SELECT pg_temp.try($$SELECT book_activity((SELECT id FROM act), (SELECT id FROM u WHERE k = 'pax1'), (SELECT today + 3 FROM t0), '10:00', 2, '{"name":"x"}')$$);
SELECT pg_temp.try($$SELECT book_activity((SELECT id FROM activities WHERE title = 'Pending owner tour'), (SELECT id FROM u WHERE k = 'pax1'), (SELECT today + 3 FROM t0), '09:00', 1)$$);
-- a one-off slot starting in about one hour: too little notice
SELECT add_activity_schedule((SELECT id FROM act), date_trunc('minute', now() AT TIME ZONE 'Asia/Almaty' + interval '1 hour')::time, '23:59:59', specific_date => (now() AT TIME ZONE 'Asia/Almaty' + interval '1 hour')::date) IS NOT NULL AS soon_slot;
SELECT pg_temp.try(format($$SELECT book_activity((SELECT id FROM act), (SELECT id FROM u WHERE k = 'pax1'), %L, %L, 1)$$,
  (now() AT TIME ZONE 'Asia/Almaty' + interval '1 hour')::date, date_trunc('minute', now() AT TIME ZONE 'Asia/Almaty' + interval '1 hour')::time))
  AS too_late;
-- as a passenger: for oneself only
BEGIN;
SET LOCAL ROLE activities_test_api;
SELECT pg_temp.claims('pax1') IS NOT NULL AS as_pax1;
SELECT pg_temp.try($$SELECT book_activity((SELECT id FROM act), (SELECT id FROM u WHERE k = 'pax2'), (SELECT today + 3 FROM t0), '10:00', 2)$$);
SELECT pg_temp.try($$SELECT book_activity((SELECT id FROM act), (SELECT id FROM u WHERE k = 'pax1'), (SELECT today + 3 FROM t0), '10:00', 2, '[{"name":"Aigerim"},{"name":"Nurlan"}]')$$);
COMMIT;
-- pricing: 2 at the base price, 3 and 4 on the first tier ... capacity 6
SELECT b.booking_number ~ ('^ACT-' || to_char(now() AT TIME ZONE 'Asia/Almaty', 'YYYY') || '-[0-9]{6}$') AS number_ok,
       b.participants, b.price_per_person, b.total_amount, b.status, b.payment_status,
       b.cancellation_policy = a.cancellation_policy AS policy_copied
  FROM activity_bookings b JOIN activities a ON a.id = b.activity_id WHERE b.activity_id = (SELECT id FROM act);
SELECT pg_temp.try($$SELECT book_activity((SELECT id FROM act), (SELECT id FROM u WHERE k = 'pax2'), (SELECT today + 3 FROM t0), '10:00', 5)$$);
SELECT pg_temp.try($$SELECT book_activity((SELECT id FROM act), (SELECT id FROM u WHERE k = 'pax2'), (SELECT today + 3 FROM t0), '10:00', 4)$$);
SELECT pg_temp.try($$SELECT book_activity((SELECT id FROM act), (SELECT id FROM u WHERE k = 'pax2'), (SELECT today + 3 FROM t0), '10:00', 1)$$);
SELECT book_activity((SELECT id FROM act), (SELECT id FROM u WHERE k = 'pax2'), (SELECT today + 3 FROM t0), '15:00', 5) IS NOT NULL AS booked_tier2;
SELECT participants, price_per_person, total_amount FROM activity_bookings WHERE activity_id = (SELECT id FROM act) ORDER BY created_at;
SELECT scheduled_time, capacity, booked, remaining
  FROM activity_availability((SELECT id FROM act), (SELECT today + 3 FROM t0), (SELECT today + 3 FROM t0));
-- FLEXIBLE booking on a start time
SELECT pg_temp.try(format($$SELECT book_activity((SELECT id FROM flex), (SELECT id FROM u WHERE k = 'pax1'), %L, '09:15', 2)$$,
  (SELECT min(scheduled_date) FROM activity_availability((SELECT id FROM flex), (SELECT today + 7 FROM t0), (SELECT today + 13 FROM t0)))));
SELECT pg_temp.try(format($$SELECT book_activity((SELECT id FROM flex), (SELECT id FROM u WHERE k = 'pax1'), %L, '11:30', 2)$$,
  (SELECT min(scheduled_date) FROM activity_availability((SELECT id FROM flex), (SELECT today + 7 FROM t0), (SELECT today + 13 FROM t0)))));
-- REPEATABLE READ callers are counted right too (the slot lock counts with the latest snapshot)
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT pg_temp.try($$SELECT book_activity((SELECT id FROM act), (SELECT id FROM u WHERE k = 'pax1'), (SELECT today + 3 FROM t0), '10:00', 1)$$);
ROLLBACK;

-- ======================================================== payment (as the Stripe webhook does: plain UPDATEs)
UPDATE activity_bookings SET payment_id = 'pi_act_test_' || participants
 WHERE activity_id = (SELECT id FROM act);
UPDATE activity_bookings SET payment_status = 'SUCCEEDED', status = 'CONFIRMED'
 WHERE payment_id IN ('pi_act_test_2', 'pi_act_test_5');
SELECT participants, status, payment_status, confirmed_at IS NOT NULL AS confirmed_at FROM activity_bookings
 WHERE activity_id = (SELECT id FROM act) ORDER BY created_at;
SELECT total_bookings, total_revenue FROM activities WHERE id = (SELECT id FROM act);
SELECT total_activities, total_bookings, total_revenue FROM activity_owners WHERE id = (SELECT id FROM own);
CREATE TEMP TABLE bk AS SELECT payment_id AS k, id FROM activity_bookings WHERE activity_id = (SELECT id FROM act);
GRANT SELECT ON bk TO activities_test_api;

-- ======================================================== cancellation
-- refund tiers by hours before the local start: one-off slots ~30 h and ~60 h ahead
SELECT add_activity_schedule((SELECT id FROM act), date_trunc('minute', now() AT TIME ZONE 'Asia/Almaty' + h * interval '1 hour')::time, '23:59:59',
                             specific_date => (now() AT TIME ZONE 'Asia/Almaty' + h * interval '1 hour')::date) IS NOT NULL AS slot
  FROM unnest(ARRAY[30, 60]) h;
CREATE TEMP TABLE cb AS
SELECT h, book_activity((SELECT id FROM act), (SELECT id FROM u WHERE k = 'pax1'),
                        (now() AT TIME ZONE 'Asia/Almaty' + h * interval '1 hour')::date,
                        date_trunc('minute', now() AT TIME ZONE 'Asia/Almaty' + h * interval '1 hour')::time, 2) AS id
  FROM unnest(ARRAY[30, 60]) h;
GRANT SELECT ON cb TO activities_test_api;
UPDATE activity_bookings SET payment_status = 'SUCCEEDED', status = 'CONFIRMED' WHERE id IN (SELECT id FROM cb);
-- a later policy change does not alter existing bookings
SELECT update_activity((SELECT id FROM act), '{"cancellation_policy":{}}');
BEGIN;
SET LOCAL ROLE activities_test_api;
SELECT pg_temp.claims('pax2') IS NOT NULL AS as_pax2;
SELECT pg_temp.try($$SELECT cancel_activity_booking((SELECT id FROM cb WHERE h = 30))$$);
SELECT pg_temp.claims('pax1') IS NOT NULL AS as_pax1;
SELECT pg_temp.try($$SELECT cancel_activity_booking((SELECT id FROM cb WHERE h = 30), 'sick', (SELECT id FROM u WHERE k = 'owner'))$$);
SELECT cancel_activity_booking((SELECT id FROM cb WHERE h = 30), 'sick') AS refund_30h;
SELECT cancel_activity_booking((SELECT id FROM cb WHERE h = 60), 'plans changed') AS refund_60h;
SELECT pg_temp.try($$SELECT cancel_activity_booking((SELECT id FROM cb WHERE h = 60))$$);
COMMIT;
SELECT c.h, b.status, b.total_amount, b.refund_amount, b.cancellation_reason, b.cancelled_at IS NOT NULL AS at,
       b.cancelled_by = (SELECT id FROM u WHERE k = 'pax1') AS by_pax
  FROM cb c JOIN activity_bookings b ON b.id = c.id ORDER BY c.h;
-- the owner cancels a paid booking: full refund; an unpaid one refunds nothing
BEGIN;
SET LOCAL ROLE activities_test_api;
SELECT pg_temp.claims('owner') IS NOT NULL AS as_owner;
SELECT cancel_activity_booking((SELECT id FROM bk WHERE k = 'pi_act_test_5'), 'guide ill') AS owner_refund;
SELECT cancel_activity_booking((SELECT id FROM bk WHERE k = 'pi_act_test_4'), 'guide ill') AS unpaid_refund;
COMMIT;
-- a passenger cancelling after the start gets nothing by the policy (trusted caller, on behalf of the passenger)
SELECT activity_refund('{"tiers":[{"hoursBefore":48,"refundPercent":100},{"hoursBefore":24,"refundPercent":50}]}', 10001, h) AS refund
  FROM unnest(ARRAY[-1, 0, 23.99, 24, 47, 48, 1000]::numeric[]) h;
SELECT activity_refund('{}', 10000, 100) AS no_policy, activity_refund('{"tiers":[{"hoursBefore":0,"refundPercent":100}]}', 0, 5) AS unpaid;
SELECT total_bookings, total_revenue FROM activities WHERE id = (SELECT id FROM act);
SELECT total_bookings, total_revenue FROM activity_owners WHERE id = (SELECT id FROM own);
-- the places are released (the weekly slots of that day; the one-off slots
-- made at now + 30 h and now + 60 h fall on it when the suite runs after
-- local noon)
SELECT scheduled_time, booked, remaining
  FROM activity_availability((SELECT id FROM act), (SELECT today + 3 FROM t0), (SELECT today + 3 FROM t0))
 WHERE scheduled_time IN ('10:00', '15:00');

-- ======================================================== completion and reviews
SELECT pg_temp.try($$SELECT complete_activity_booking((SELECT id FROM bk WHERE k = 'pi_act_test_2'))$$);
SELECT pg_temp.try($$SELECT review_activity((SELECT id FROM bk WHERE k = 'pi_act_test_2'), 5)$$);
SELECT complete_activity_bookings(now() + interval '20 days') >= 1 AS completed_some;
SELECT status, completed_at IS NOT NULL AS completed_at FROM activity_bookings WHERE payment_id = 'pi_act_test_2';
BEGIN;
SET LOCAL ROLE activities_test_api;
SELECT pg_temp.claims('pax2') IS NOT NULL AS as_pax2;
SELECT pg_temp.try($$SELECT review_activity((SELECT id FROM bk WHERE k = 'pi_act_test_2'), 1)$$);
SELECT pg_temp.claims('pax1') IS NOT NULL AS as_pax1;
SELECT pg_temp.try($$SELECT review_activity((SELECT id FROM bk WHERE k = 'pi_act_test_2'), 6)$$);
SELECT pg_temp.try($$SELECT review_activity((SELECT id FROM bk WHERE k = 'pi_act_test_2'), 4, 'Great', ARRAY['ftp://x'])$$);
SELECT pg_temp.try($$SELECT review_activity((SELECT id FROM bk WHERE k = 'pi_act_test_2'), 4, 'Great lake', ARRAY['https://img.example.kz/r1.jpg'])$$);
SELECT pg_temp.try($$SELECT review_activity((SELECT id FROM bk WHERE k = 'pi_act_test_2'), 5)$$);
COMMIT;
-- a second completed booking, reviewed 5: average 4.50
SELECT book_activity((SELECT id FROM flex), (SELECT id FROM u WHERE k = 'pax2'),
  (SELECT min(scheduled_date) FROM activity_availability((SELECT id FROM flex), (SELECT today + 7 FROM t0), (SELECT today + 13 FROM t0))), '10:00', 1) IS NOT NULL AS booked;
UPDATE activity_bookings SET payment_id = 'pi_act_test_flex', payment_status = 'SUCCEEDED', status = 'COMPLETED'
 WHERE activity_id = (SELECT id FROM flex) AND passenger_id = (SELECT id FROM u WHERE k = 'pax2');
SELECT review_activity((SELECT id FROM activity_bookings WHERE payment_id = 'pi_act_test_flex'), 5) IS NOT NULL AS reviewed;
SELECT title, total_bookings, total_revenue, review_count, average_rating FROM activities WHERE owner_id = (SELECT id FROM own) ORDER BY title;
SELECT total_activities, total_bookings, total_revenue, review_count, average_rating FROM activity_owners WHERE id = (SELECT id FROM own);
-- any writer keeps them exact: a DBA deletes a review, moves a booking's status
DELETE FROM activity_reviews WHERE booking_id = (SELECT id FROM activity_bookings WHERE payment_id = 'pi_act_test_flex');
UPDATE activity_bookings SET refund_amount = 3000, status = 'REFUNDED', payment_status = 'REFUNDED' WHERE payment_id = 'pi_act_test_flex';
-- recount equals the stored aggregates
SELECT count(*) AS mismatched_activities FROM activities a
 WHERE a.owner_id IN (SELECT id FROM own UNION SELECT id FROM own2)
   AND (a.total_bookings, a.total_revenue, a.review_count, a.average_rating) IS DISTINCT FROM (
     (SELECT count(*) FILTER (WHERE b.status IN ('CONFIRMED', 'COMPLETED')) FROM activity_bookings b WHERE b.activity_id = a.id),
     (SELECT coalesce(sum(b.total_amount - b.refund_amount) FILTER (WHERE b.payment_status IN ('SUCCEEDED', 'REFUNDED')), 0) FROM activity_bookings b WHERE b.activity_id = a.id),
     (SELECT count(*) FROM activity_reviews r WHERE r.activity_id = a.id),
     (SELECT coalesce(round(avg(r.rating), 2), 0) FROM activity_reviews r WHERE r.activity_id = a.id));
SELECT count(*) AS mismatched_owners FROM activity_owners o
 WHERE o.id IN (SELECT id FROM own UNION SELECT id FROM own2)
   AND (o.total_activities, o.total_bookings, o.total_revenue, o.average_rating) IS DISTINCT FROM (
     (SELECT count(*) FROM activities a WHERE a.owner_id = o.id),
     (SELECT count(*) FROM activity_bookings b JOIN activities a ON a.id = b.activity_id WHERE a.owner_id = o.id AND b.status IN ('CONFIRMED', 'COMPLETED')),
     (SELECT coalesce(sum(b.total_amount - b.refund_amount), 0) FROM activity_bookings b JOIN activities a ON a.id = b.activity_id WHERE a.owner_id = o.id AND b.payment_status IN ('SUCCEEDED', 'REFUNDED')),
     (SELECT coalesce(round(avg(r.rating), 2), 0) FROM activity_reviews r JOIN activities a ON a.id = r.activity_id WHERE a.owner_id = o.id));
SELECT title, total_bookings, total_revenue, review_count, average_rating FROM activities WHERE owner_id = (SELECT id FROM own) ORDER BY title;

-- a late payment on a cancelled booking does not revive it; it is owed back in full
UPDATE activity_bookings SET payment_status = 'SUCCEEDED', status = 'CONFIRMED' WHERE payment_id = 'pi_act_test_4';
SELECT status, payment_status, refund_amount = total_amount AS full_refund FROM activity_bookings WHERE payment_id = 'pi_act_test_4';

-- ======================================================== details
BEGIN;
SET LOCAL ROLE activities_test_api;
SELECT set_config('request.jwt.claims', '{"role":"anon"}', true) IS NOT NULL AS anon;
SELECT d ->> 'title' AS title, d ->> 'status' AS status, d -> 'owner' ->> 'business_name' AS owner,
       jsonb_array_length(d -> 'photos') AS photos, d -> 'photos' -> 0 ->> 'is_cover' AS first_is_cover,
       jsonb_array_length(d -> 'schedules') AS schedules, d -> 'recent_reviews' -> 0 ->> 'rating' AS last_rating,
       d ? 'geog' AS has_geog
  FROM activity_details((SELECT id FROM act)) d;
SELECT pg_temp.try($$SELECT activity_details((SELECT id FROM pend))$$);
COMMIT;

-- ======================================================== search
SELECT add_activity_photo((SELECT id FROM flex), 'https://res.cloudinary.com/act/h1.jpg', 'act/h1') IS NOT NULL AS photo;
BEGIN;
SET LOCAL ROLE activities_test_api;
SELECT set_config('request.jwt.claims', '{"role":"anon"}', true) IS NOT NULL AS anon;
SELECT title, category, average_rating, review_count, distance_m IS NULL AS no_distance, cover_url
  FROM search_activities(city => 'Actgrad');
SELECT title FROM search_activities(city => 'Actgrad', category => 'ADVENTURE');
SELECT title, round(distance_m / 1000) AS km FROM search_activities(lat => 43.21, lng => 76.91, sort => 'distance', city => 'Actgrad');
SELECT title FROM search_activities(lat => 43.21, lng => 76.91, radius_m => 5000, city => 'Actgrad');
SELECT pg_temp.try($$SELECT * FROM search_activities(category => 'SKYDIVING')$$);
SELECT pg_temp.try($$SELECT * FROM search_activities(sort => 'distance')$$);
SELECT pg_temp.try($$SELECT * FROM search_activities(lat => 95, lng => 0)$$);
SELECT pg_temp.try($$SELECT * FROM search_activities(max_results => 0)$$);
COMMIT;
-- paused and draft listings are not found
SELECT transition_activity((SELECT id FROM flex), 'PAUSED');
SELECT title FROM search_activities(city => 'Actgrad');
-- the plans use the seed's indexes
EXPLAIN (COSTS OFF) SELECT id FROM activities a WHERE a.city = 'Actgrad' AND a.category = ANY (activity_categories()) AND a.status = 'ACTIVE'
  ORDER BY a.average_rating DESC, a.review_count DESC, a.id LIMIT 20;

-- ======================================================== archive, suspension, expiry
SELECT pg_temp.try($$SELECT transition_activity((SELECT id FROM flex), 'ARCHIVED')$$);
-- unpaid holds expire after steppergo.activity_hold_minutes
SELECT expire_activity_holds(now() + interval '29 minutes') AS expired_early;
SELECT expire_activity_holds(now() + interval '31 minutes') >= 1 AS expired;
SELECT count(*) AS pending_left FROM activity_bookings WHERE activity_id IN (SELECT id FROM act UNION SELECT id FROM flex) AND status = 'PENDING';
SELECT transition_activity((SELECT id FROM flex), 'ARCHIVED');
SELECT pg_temp.try($$SELECT transition_activity((SELECT id FROM flex), 'ACTIVE')$$);
SELECT pg_temp.try($$SELECT update_activity((SELECT id FROM flex), '{"title":"x"}')$$);
SELECT pg_temp.try($$SELECT add_activity_schedule((SELECT id FROM flex), '09:00', '10:00', 'MON')$$);
SELECT verify_activity_owner((SELECT id FROM own), 'SUSPENDED', 'complaints');
SELECT title, status FROM activities WHERE owner_id = (SELECT id FROM own) ORDER BY title;
SELECT pg_temp.try($$SELECT transition_activity((SELECT id FROM act), 'ACTIVE')$$);
SELECT details -> 'paused_activities' IS NOT NULL AS paused_listed FROM admin_actions
 WHERE action_type = 'ACTIVITY_OWNER_SUSPENDED' AND target_id = (SELECT id::text FROM own);

-- the API surface
SELECT signature, audience FROM api_functions
 WHERE signature ~ '(activit|search_activities|book_activity)' ORDER BY signature;
