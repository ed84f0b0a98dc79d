-- The Almaty demo data set: deterministic (setseed), every table filled.
-- At scale 1: 2,000 drivers around 43.238 N 76.889 E with vehicles and live
-- positions, 500 passengers, 300 trips with bookings and payments, payouts,
-- chats, 20 activity owners with 40 activities, and the admin tables.
-- psql -v scale=0.1 loads a tenth (the dump/restore TAP test uses 0.02).
--
-- Rows are written directly, as a trusted backend restoring history would;
-- the business functions of release 0.2 are exercised by test/demo/show.sql.
\if :{?scale}
\else
\set scale 1
\endif
SET client_min_messages = warning;
SELECT setseed(0.2026);
BEGIN;

CREATE TEMP TABLE demo_params AS
SELECT greatest(2, (2000 * :scale)::int) AS n_drivers,
       greatest(5, (500 * :scale)::int) AS n_passengers,
       greatest(6, (300 * :scale)::int) AS n_trips,
       greatest(2, (20 * :scale)::int) AS n_owners,
       greatest(4, (40 * :scale)::int) AS n_activities;

INSERT INTO steppergo.tenants (name, platform_rate) VALUES
  ('StepperGO Almaty', NULL), ('Alatau Corporate Shuttles', 0.12)
ON CONFLICT (name) DO NOTHING;
INSERT INTO steppergo.currencies (code, name, minor_unit) VALUES ('MNT', 'Mongolian tugrik', 2)
ON CONFLICT (code) DO NOTHING;

-- ---------------------------------------------------------------- users
INSERT INTO steppergo.users (email, phone, name, password_hash, role, email_verified, phone_verified, is_first_login)
SELECT 'admin' || g || '@steppergo.kz', '+7700000000' || g, 'Admin ' || g,
       '$argon2id$v=19$m=65536,t=2,p=1$ZGVtb2RlbW9kZW1vZGVtbw$Zx1V0W3p9eN5j0yQ8m3l4bqkS7c2r0c2o7u8v9w0x1y', 'ADMIN', true, true, false
  FROM generate_series(1, 2) g;
INSERT INTO steppergo.users (email, phone, name, password_hash, role, email_verified, phone_verified, bio)
SELECT 'passenger' || g || '@example.kz', '+7702' || lpad(g::text, 7, '0'),
       (ARRAY['Aigerim','Nurlan','Dana','Yerlan','Madina','Arman','Saule','Timur','Aliya','Daniyar'])[1 + g % 10]
         || ' ' || (ARRAY['Abenova','Sadykov','Omarova','Zhunusov','Kassymova','Bekov'])[1 + g % 6],
       '$2b$10$CwTycUXWue0Thq9StjUM0uJ8.XaWvQ0v0uE1vGyJzQ3r2bO5m9W2e', 'PASSENGER', g % 3 <> 0, g % 4 <> 0,
       CASE WHEN g % 7 = 0 THEN 'Travels between Almaty and the mountains on weekends' END
  FROM generate_series(1, (SELECT n_passengers FROM demo_params)) g;
INSERT INTO steppergo.users (email, phone, name, password_hash, role, email_verified, phone_verified, tenant_id)
SELECT 'driver' || g || '@example.kz', '+7705' || lpad(g::text, 7, '0'),
       (ARRAY['Askar','Bolat','Yerzhan','Marat','Ruslan','Serik','Kairat','Almas'])[1 + g % 8]
         || ' ' || (ARRAY['Nurpeisov','Akhmetov','Suleimenov','Tokayev','Ibraimov'])[1 + g % 5],
       '$2b$10$CwTycUXWue0Thq9StjUM0uJ8.XaWvQ0v0uE1vGyJzQ3r2bO5m9W2e', 'DRIVER', true, true,
       CASE WHEN g % 10 = 0 THEN (SELECT id FROM steppergo.tenants WHERE name = 'Alatau Corporate Shuttles') END
  FROM generate_series(1, (SELECT n_drivers FROM demo_params)) g;
INSERT INTO steppergo.users (email, phone, name, password_hash, role, email_verified, phone_verified)
SELECT 'owner' || g || '@tours.kz', '+7707' || lpad(g::text, 7, '0'), 'Tour Operator ' || g,
       '$2b$10$CwTycUXWue0Thq9StjUM0uJ8.XaWvQ0v0uE1vGyJzQ3r2bO5m9W2e', 'ACTIVITY_OWNER', true, true
  FROM generate_series(1, (SELECT n_owners FROM demo_params)) g;

-- ------------------------------------------------------- drivers, vehicles
INSERT INTO steppergo.drivers (user_id, status, vehicle_type, vehicle_model, vehicle_make, vehicle_year,
                               license_plate, license_number, license_expiry, documents_url, rating, review_count,
                               completed_trips, availability, accepts_private_trips, accepts_shared_trips,
                               last_activity_at, languages, acceptance_rate, tenant_id)
SELECT u.id,
       (CASE WHEN n % 20 = 0 THEN 'PENDING' WHEN n % 53 = 0 THEN 'SUSPENDED' WHEN n % 97 = 0 THEN 'REJECTED' ELSE 'APPROVED' END)::steppergo.driver_status,
       (ARRAY['SEDAN','MINIVAN','SUV'])[1 + n % 3], (ARRAY['Camry','Sonata','Starex','Land Cruiser'])[1 + n % 4],
       (ARRAY['Toyota','Hyundai','Hyundai','Toyota'])[1 + n % 4], 2012 + n % 13,
       lpad((n % 1000)::text, 3, '0') || ' ABC 02', 'KZ' || lpad(n::text, 8, '0'),
       now() + (n % 1000) * interval '1 day',
       jsonb_build_object('license', 'https://files.steppergo.kz/d/' || n || '/license.pdf',
                          'insurance', 'https://files.steppergo.kz/d/' || n || '/insurance.pdf',
                          'registration', 'https://files.steppergo.kz/d/' || n || '/registration.pdf'),
       round((3.8 + random() * 1.2)::numeric, 2), (random() * 200)::int, (random() * 1500)::int,
       (CASE WHEN n % 10 < 6 THEN 'ONLINE' WHEN n % 10 < 7 THEN 'BUSY' WHEN n % 10 < 8 THEN 'ON_BREAK' ELSE 'OFFLINE' END)::steppergo.driver_availability,
       n % 5 <> 0, n % 4 <> 0, now() - (random() * 50) * interval '1 second',
       CASE WHEN n % 3 = 0 THEN ARRAY['kk','ru','en'] ELSE ARRAY['kk','ru'] END,
       round((0.6 + random() * 0.4)::numeric, 4), u.tenant_id
  FROM (SELECT id, tenant_id, row_number() OVER (ORDER BY email) AS n FROM steppergo.users WHERE role = 'DRIVER') u;

CREATE TEMP TABLE demo_drivers AS
SELECT d.id, d.user_id, row_number() OVER (ORDER BY d.driver_id) AS n FROM steppergo.drivers d;

INSERT INTO steppergo.vehicles (driver_id, make, model, year, color, license_plate, type, passenger_capacity,
                                luggage_capacity, amenities, photos, is_active)
SELECT d.id, (ARRAY['Toyota','Hyundai','Hyundai','Toyota'])[1 + d.n % 4], (ARRAY['Camry','Sonata','Starex','Land Cruiser'])[1 + d.n % 4],
       2012 + d.n % 13, (ARRAY['white','black','silver','grey'])[1 + d.n % 4], lpad((d.n % 1000)::text, 3, '0') || ' ABC 02',
       (ARRAY['SEDAN','SEDAN','MINIVAN','SUV'])[1 + d.n % 4], (ARRAY[4, 4, 7, 6])[1 + d.n % 4], (ARRAY[2, 2, 6, 4])[1 + d.n % 4],
       '["air_conditioning","usb_charging"]', '[]', true
  FROM demo_drivers d;
-- a second, inactive vehicle for some drivers
INSERT INTO steppergo.vehicles (driver_id, make, model, year, color, license_plate, type, passenger_capacity, is_active)
SELECT d.id, 'Lada', 'Niva', 2010, 'green', 'OLD ' || d.n, 'SUV', 4, false
  FROM demo_drivers d WHERE d.n % 25 = 0;

INSERT INTO steppergo.driver_locations (driver_id, latitude, longitude, heading, speed, accuracy, last_updated, is_active)
SELECT d.id, 43.238 + (random() - 0.5) * 0.27, 76.889 + (random() - 0.5) * 0.37,
       round((random() * 359)::numeric, 1), round((random() * 16)::numeric, 1), 5 + round((random() * 20)::numeric, 1),
       now() - (random() * 40) * interval '1 second', true
  FROM demo_drivers d;

INSERT INTO steppergo.driver_availability_schedules (driver_id, start_time, end_time, schedule_type, reason, is_recurring, recurring_pattern, is_active)
SELECT d.id, date_trunc('day', now()) + interval '13 hours', date_trunc('day', now()) + interval '14 hours', 'BREAK', 'Lunch',
       true, '{"freq":"WEEKLY","days":["MON","TUE","WED","THU","FRI"]}', true
  FROM demo_drivers d WHERE d.n % 4 = 0;
INSERT INTO steppergo.driver_availability_schedules (driver_id, start_time, end_time, schedule_type, reason, is_recurring, is_active)
SELECT d.id, now() + interval '2 days', now() + interval '9 days', 'UNAVAILABLE', 'Vacation', false, true
  FROM demo_drivers d WHERE d.n % 31 = 0;

INSERT INTO steppergo.driver_availability_history (driver_id, previous_status, new_status, change_reason, triggered_by, changed_at)
SELECT d.id, 'OFFLINE', 'ONLINE', 'Started shift', 'driver', now() - interval '3 hours'
  FROM demo_drivers d WHERE d.n % 2 = 0;

INSERT INTO steppergo.driver_credential_deliveries (driver_id, channel, status, sent_at, delivered_at, error_message)
SELECT d.id, (ARRAY['WHATSAPP','SMS','EMAIL'])[1 + d.n % 3]::steppergo.delivery_channel,
       (CASE WHEN d.n % 17 = 0 THEN 'FAILED' ELSE 'DELIVERED' END)::steppergo.delivery_status,
       now() - interval '30 days', CASE WHEN d.n % 17 <> 0 THEN now() - interval '30 days' + interval '5 seconds' END,
       CASE WHEN d.n % 17 = 0 THEN 'recipient unreachable' END
  FROM demo_drivers d WHERE d.n % 5 = 0;

-- ------------------------------------------------------------------- trips
CREATE TEMP TABLE demo_places (name text, address text, lat float8, lng float8);
INSERT INTO demo_places VALUES
  ('Almaty International Airport', 'Mailin St 2', 43.3521, 77.0405),
  ('Medeu', 'Gornaya St 465', 43.1575, 77.0590),
  ('Shymbulak', 'Shymbulak resort', 43.1281, 77.0806),
  ('Big Almaty Lake', 'Ile-Alatau National Park', 43.0506, 76.9850),
  ('Kok-Tobe', 'Kok-Tobe hill', 43.2331, 76.9766),
  ('Charyn Canyon', 'Charyn National Park', 43.3547, 79.0806),
  ('Kolsai Lakes', 'Saty village', 42.9897, 78.3256),
  ('Almaty-2 Railway Station', 'Abylai Khan Ave 1', 43.2700, 76.9420),
  ('Mega Alma-Ata', 'Rozybakiev St 247', 43.2030, 76.8920),
  ('Dostyk Plaza', 'Samal-2 111', 43.2330, 76.9560);

CREATE TEMP TABLE demo_trips AS
SELECT g AS n,
       (SELECT id FROM steppergo.users WHERE role = 'PASSENGER' ORDER BY email OFFSET (g * 7) % (SELECT n_passengers FROM demo_params) LIMIT 1) AS organizer_id,
       (ARRAY['COMPLETED','COMPLETED','COMPLETED','PUBLISHED','PUBLISHED','OFFERED','FULL','IN_PROGRESS',
              'EN_ROUTE','CANCELLED','DRAFT','ARRIVED'])[1 + g % 12]::steppergo.trip_status AS status,
       (CASE WHEN g % 3 = 0 THEN 'PRIVATE' ELSE 'SHARED' END)::steppergo.trip_type AS trip_type,
       1 + g % 10 AS o, 1 + (g * 3 + 1) % 10 AS d
  FROM generate_series(1, (SELECT n_trips FROM demo_params)) g;

INSERT INTO steppergo.trips (title, description, organizer_id, driver_id, departure_time, return_time, timezone,
                             origin_name, origin_address, origin_lat, origin_lng, dest_name, dest_address, dest_lat, dest_lng,
                             total_seats, available_seats, base_price, currency, platform_fee, itinerary, status, trip_type,
                             tenant_id, price_per_seat, driver_discovery_radius, estimated_earnings, acceptance_deadline,
                             offered_to_driver_id, published_at)
SELECT po.name || ' → ' || pd.name,
       'Demo trip ' || t.n,
       t.organizer_id,
       CASE WHEN t.status IN ('COMPLETED','FULL','IN_PROGRESS','EN_ROUTE','ARRIVED') THEN dd.id END,
       CASE WHEN t.status IN ('COMPLETED','CANCELLED','ARRIVED','IN_PROGRESS','EN_ROUTE')
            THEN date_trunc('hour', now()) - (t.n % 20 + 1) * interval '1 day' + interval '9 hours'
            ELSE date_trunc('hour', now()) + (t.n % 14 + 1) * interval '1 day' + interval '8 hours' END,
       NULL, 'Asia/Almaty',
       po.name, po.address, po.lat, po.lng, pd.name, pd.address, pd.lat, pd.lng,
       CASE WHEN t.trip_type = 'PRIVATE' THEN 4 ELSE 6 END,
       CASE WHEN t.status = 'FULL' THEN 0 WHEN t.trip_type = 'PRIVATE' THEN 4 ELSE 6 END,
       CASE WHEN t.trip_type = 'PRIVATE' THEN 18000 + (t.n % 10) * 1500 ELSE 0 END, 'KZT',
       0,
       jsonb_build_object('stops', jsonb_build_array(
         jsonb_build_object('order', 1, 'name', po.name, 'address', po.address, 'lat', po.lat, 'lng', po.lng),
         jsonb_build_object('order', 2, 'name', pd.name, 'address', pd.address, 'lat', pd.lat, 'lng', pd.lng))),
       t.status, t.trip_type,
       CASE WHEN t.n % 10 = 0 THEN (SELECT id FROM steppergo.tenants WHERE name = 'Alatau Corporate Shuttles') END,
       CASE WHEN t.trip_type = 'SHARED' THEN 4500 + (t.n % 6) * 500 END,
       5000, 0,
       CASE WHEN t.status = 'OFFERED' THEN now() + interval '20 seconds' END,
       CASE WHEN t.status = 'OFFERED' THEN dd.id END,
       CASE WHEN t.status <> 'DRAFT' THEN now() - interval '30 days' END
  FROM demo_trips t
  JOIN demo_places po ON po.name = (SELECT name FROM demo_places ORDER BY name OFFSET t.o - 1 LIMIT 1)
  JOIN demo_places pd ON pd.name = (SELECT name FROM demo_places ORDER BY name OFFSET t.d - 1 LIMIT 1)
  LEFT JOIN demo_drivers dd ON dd.n = 1 + (t.n * 13) % (SELECT n_drivers FROM demo_params);

CREATE TEMP TABLE demo_trip_ids AS
SELECT id, row_number() OVER (ORDER BY id) AS n, status, trip_type, total_seats, driver_id, organizer_id,
       coalesce(price_per_seat, 0) AS price_per_seat, base_price
  FROM steppergo.trips;

-- -------------------------------------------- bookings and their payments
CREATE TEMP TABLE demo_bookings AS
SELECT t.id AS trip_id, t.n AS trip_n, b AS k, t.status AS trip_status, t.trip_type,
       (SELECT id FROM steppergo.users WHERE role = 'PASSENGER' ORDER BY email
         OFFSET (t.n * 11 + b * 5) % (SELECT n_passengers FROM demo_params) LIMIT 1) AS user_id,
       CASE WHEN t.trip_type = 'PRIVATE' THEN t.total_seats ELSE 1 + (t.n + b) % 2 END AS seats,
       CASE WHEN t.trip_type = 'PRIVATE' THEN t.base_price ELSE t.price_per_seat END AS unit_price,
       (CASE WHEN (t.n + b) % 4 = 0 THEN 'CASH_TO_DRIVER' ELSE 'ONLINE' END)::steppergo.payment_method_type AS method
  FROM demo_trip_ids t,
       generate_series(1, CASE WHEN t.trip_type = 'PRIVATE' THEN 1 ELSE 2 END) b
 WHERE t.status NOT IN ('DRAFT');

INSERT INTO steppergo.bookings (trip_id, user_id, status, seats_booked, total_amount, currency, passengers, notes,
                                payment_method_type, created_at, confirmed_at, cancelled_at)
SELECT b.trip_id, b.user_id,
       (CASE WHEN b.trip_status = 'COMPLETED' THEN 'COMPLETED' WHEN b.trip_status = 'CANCELLED' THEN 'CANCELLED'
             WHEN b.trip_status IN ('PUBLISHED','OFFERED') AND b.method = 'ONLINE' AND b.k = 2 THEN 'PENDING'
             ELSE 'CONFIRMED' END)::steppergo.booking_status,
       b.seats,
       CASE WHEN b.trip_type = 'PRIVATE' THEN b.unit_price ELSE b.unit_price * b.seats END, 'KZT',
       (SELECT jsonb_agg(jsonb_build_object('name', 'Passenger ' || b.trip_n || '-' || b.k || '-' || s,
                                            'phone', '+7708' || lpad((b.trip_n * 10 + s)::text, 7, '0'),
                                            'age', 20 + s * 7, 'isChild', false))
          FROM generate_series(1, b.seats) s),
       CASE WHEN b.k = 1 THEN 'Two suitcases' END,
       b.method, now() - interval '20 days',
       CASE WHEN b.trip_status <> 'CANCELLED' THEN now() - interval '20 days' END,
       CASE WHEN b.trip_status = 'CANCELLED' THEN now() - interval '19 days' END
  FROM demo_bookings b
ON CONFLICT DO NOTHING;

-- seats follow the live bookings
UPDATE steppergo.trips t
   SET available_seats = greatest(0, t.total_seats - coalesce((
         SELECT sum(seats_booked) FROM steppergo.bookings b
          WHERE b.trip_id = t.id AND b.status IN ('PENDING','CONFIRMED')), 0))
 WHERE t.status NOT IN ('COMPLETED', 'CANCELLED', 'FULL');
UPDATE steppergo.trips t
   SET platform_fee = s.platform_fee, estimated_earnings = s.driver_amount
  FROM (SELECT g.id, p.platform_fee, p.driver_amount
          FROM (SELECT id, tenant_id, CASE WHEN trip_type = 'PRIVATE' THEN base_price
                                           ELSE price_per_seat * total_seats END AS x
                  FROM steppergo.trips) g,
               LATERAL steppergo.payout_split(g.x, coalesce((SELECT platform_rate FROM steppergo.tenants WHERE id = g.tenant_id), 0.15)) p) s
 WHERE s.id = t.id;

INSERT INTO steppergo.payments (booking_id, stripe_intent_id, stripe_client_secret, amount, currency, status,
                                payment_method, last4, metadata, error_message, succeeded_at, failed_at)
SELECT b.id, 'pi_demo_' || replace(b.id::text, '-', ''), 'pi_demo_' || replace(b.id::text, '-', '') || '_secret_demo',
       b.total_amount, b.currency,
       (CASE b.status WHEN 'PENDING' THEN 'PROCESSING' WHEN 'CANCELLED' THEN 'REFUNDED' ELSE 'SUCCEEDED' END)::steppergo.payment_status,
       'card', lpad(((abs(hashtext(b.id::text)) % 10000))::text, 4, '0'), '{"source":"demo"}', NULL,
       CASE WHEN b.status IN ('CONFIRMED','COMPLETED') THEN b.created_at + interval '1 minute' END, NULL
  FROM steppergo.bookings b WHERE b.payment_method_type = 'ONLINE';

-- ------------------------------------------- trip history, offers, reviews
INSERT INTO steppergo.trip_status_history (trip_id, from_status, to_status, actor_id, reason, changed_at)
SELECT t.id, 'DRAFT', 'PUBLISHED', t.organizer_id, 'published by the organizer', now() - interval '30 days'
  FROM demo_trip_ids t WHERE t.status <> 'DRAFT';
INSERT INTO steppergo.trip_status_history (trip_id, from_status, to_status, actor_id, reason, changed_at)
SELECT t.id, 'ARRIVED', 'COMPLETED', (SELECT user_id FROM steppergo.drivers WHERE id = t.driver_id), 'trip finished',
       now() - (t.n % 20 + 1) * interval '1 day' + interval '12 hours'
  FROM demo_trip_ids t WHERE t.status = 'COMPLETED';

INSERT INTO steppergo.trip_driver_visibility (trip_id, driver_id, shown_at, viewed_at, response_action, response_at)
SELECT t.id, dd.id, now() - interval '29 days', now() - interval '29 days' + interval '3 seconds',
       (CASE WHEN dd.id = t.driver_id THEN 'ACCEPTED' ELSE 'DECLINED' END)::steppergo.trip_acceptance_action, now() - interval '29 days' + interval '9 seconds'
  FROM demo_trip_ids t
  JOIN demo_drivers dd ON dd.n IN (1 + (t.n * 13) % (SELECT n_drivers FROM demo_params), 1 + (t.n * 17) % (SELECT n_drivers FROM demo_params))
 WHERE t.driver_id IS NOT NULL;
INSERT INTO steppergo.trip_acceptance_logs (trip_id, driver_id, action, offered_at, responded_at, response_time_seconds,
                                            ip_address, user_agent, timeout_duration)
SELECT t.id, t.driver_id, a.action::steppergo.trip_acceptance_action, now() - interval '29 days',
       CASE WHEN a.action <> 'OFFERED' THEN now() - interval '29 days' + interval '7 seconds' END,
       CASE WHEN a.action <> 'OFFERED' THEN 7 END, '198.51.100.23', 'StepperGO Driver/3.4 (Android 14)', 20
  FROM demo_trip_ids t, (VALUES ('OFFERED'), ('ACCEPTED')) a(action)
 WHERE t.driver_id IS NOT NULL;

INSERT INTO steppergo.reviews (driver_id, trip_id, rating, comment, reviewer_id, reviewer_name, response, responded_at)
SELECT t.driver_id, t.id, 3 + (t.n % 3), (ARRAY['Great ride to the mountains','On time, clean car','Friendly driver'])[1 + t.n % 3],
       b.user_id, u.name, CASE WHEN t.n % 4 = 0 THEN 'Thank you!' END, CASE WHEN t.n % 4 = 0 THEN now() - interval '5 days' END
  FROM demo_trip_ids t
  JOIN LATERAL (SELECT user_id FROM steppergo.bookings WHERE trip_id = t.id ORDER BY id LIMIT 1) b ON true
  JOIN steppergo.users u ON u.id = b.user_id
 WHERE t.status = 'COMPLETED' AND t.driver_id IS NOT NULL
ON CONFLICT DO NOTHING;

-- ----------------------------------------------------------------- payouts
-- Payouts go through the payouts domain's own functions, so the books
-- balance (reconcile_payouts() is empty).  A completed trip finished three
-- hours after departure (only where the trips section left completed_at
-- empty).  An earlier batch paid the older half of the completed trips (at
-- least one with an online fare): the payouts were sent and paid, but one
-- transfer bounced (FAILED: its bookings were released); today's batch pays
-- the rest, that one included, and records the commission drivers owe on
-- cash fares.
UPDATE steppergo.trips SET completed_at = departure_time + interval '3 hours'
 WHERE status = 'COMPLETED' AND completed_at IS NULL;
SELECT steppergo.run_payout_batch(greatest(
         (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY completed_at) FROM steppergo.trips WHERE status = 'COMPLETED'),
         (SELECT min(t.completed_at) FROM steppergo.trips t JOIN steppergo.bookings b ON b.trip_id = t.id
           WHERE b.status = 'COMPLETED' AND b.payment_method_type = 'ONLINE' AND t.driver_id IS NOT NULL))
       + interval '1 second') AS demo_earlier_batch;
SELECT count(steppergo.mark_payout_processing(id, 'stripe', 'bank_transfer', 'tr_demo_' || replace(id::text, '-', '')))
  FROM steppergo.payouts WHERE status = 'PENDING';
SELECT count(steppergo.mark_payout_failed(id, 'bank account closed'))
  FROM (SELECT id FROM steppergo.payouts WHERE status = 'PROCESSING' ORDER BY id LIMIT 1) p;
SELECT count(steppergo.mark_payout_paid(id)) FROM steppergo.payouts WHERE status = 'PROCESSING';
SELECT steppergo.run_payout_batch() AS demo_payouts_today;
-- total_earnings is the sum of PAID payouts (mark_payout_paid keeps it so
-- from here on; this sets the start)
UPDATE steppergo.drivers d
   SET total_earnings = coalesce((SELECT sum(amount) FROM steppergo.payouts p WHERE p.driver_id = d.id AND p.status = 'PAID'), 0);

-- --------------------------------------------------------------- messaging
INSERT INTO steppergo.conversations (trip_id, last_message_at)
SELECT id, now() - interval '1 day' FROM demo_trip_ids
ON CONFLICT (trip_id) DO NOTHING;
INSERT INTO steppergo.conversation_participants (conversation_id, user_id, last_read_at, unread_count, notifications_enabled)
SELECT c.id, p.user_id, now() - interval '2 days', 0, true
  FROM steppergo.conversations c
  JOIN steppergo.trips t ON t.id = c.trip_id
  CROSS JOIN LATERAL (
    SELECT t.organizer_id AS user_id
    UNION SELECT d.user_id FROM steppergo.drivers d WHERE d.id = t.driver_id
    UNION SELECT b.user_id FROM steppergo.bookings b WHERE b.trip_id = t.id AND b.status IN ('CONFIRMED','COMPLETED')) p
ON CONFLICT DO NOTHING;
INSERT INTO steppergo.messages (conversation_id, sender_id, content, type, metadata, status, sent_at, delivered_at, read_at)
SELECT cp.conversation_id, cp.user_id,
       (ARRAY['Salem! I will be at the entrance', 'Running 5 minutes late', 'Where exactly is the pickup?', 'Rakhmet!'])[1 + m % 4],
       'TEXT', '{}', 'READ', now() - interval '1 day' + m * interval '1 minute',
       now() - interval '1 day' + m * interval '1 minute' + interval '1 second',
       now() - interval '1 day' + m * interval '1 minute' + interval '30 seconds'
  FROM steppergo.conversation_participants cp, generate_series(1, 2) m;
INSERT INTO steppergo.messages (conversation_id, sender_id, content, type, metadata, status, sent_at)
SELECT c.id, NULL, 'Driver assigned', 'SYSTEM', '{"event":"driver_assigned"}', 'DELIVERED', now() - interval '2 days'
  FROM steppergo.conversations c JOIN steppergo.trips t ON t.id = c.trip_id WHERE t.driver_id IS NOT NULL;
-- a few users connected to the real-time chat right now (gateway heartbeats)
INSERT INTO steppergo.chat_presence (user_id, connected_at, last_seen_at, client)
SELECT user_id, now() - interval '10 minutes', now() - interval '20 seconds', 'gateway-almaty-1'
  FROM (SELECT DISTINCT user_id FROM steppergo.conversation_participants) p
 ORDER BY user_id LIMIT greatest(3, (200 * :scale)::int);

-- ---------------------------------------------------------------- activities
INSERT INTO steppergo.activity_owners (user_id, business_name, business_type, tax_id, registration_number,
                                       business_address, city, country, phone, website, verification_status,
                                       verified_at, verified_by, categories, documents_url)
SELECT u.id, (ARRAY['Alatau','Tien Shan','Steppe','Ile','Zailiysky'])[1 + n % 5] || ' Adventures ' || n,
       'LLP', lpad((100000000000 + n)::text, 12, '0'), 'REG-' || n, 'Abai Ave ' || n, 'Almaty', 'KZ',
       u.phone, 'https://tours' || n || '.example.kz',
       CASE WHEN n % 5 = 0 THEN 'PENDING' ELSE 'VERIFIED' END,
       CASE WHEN n % 5 <> 0 THEN now() - interval '90 days' END,
       CASE WHEN n % 5 <> 0 THEN (SELECT id FROM steppergo.users WHERE role = 'ADMIN' ORDER BY email LIMIT 1) END,
       ARRAY['TOUR', (ARRAY['ADVENTURE','NATURE','CULTURAL'])[1 + n % 3]], '{}'
  FROM (SELECT id, phone, row_number() OVER (ORDER BY email) AS n FROM steppergo.users WHERE role = 'ACTIVITY_OWNER') u;

INSERT INTO steppergo.activities (owner_id, title, description, category, status, address, city, latitude, longitude,
                                  price_per_person, currency, group_pricing, min_participants, max_participants,
                                  duration_minutes, schedule_type, available_days, advance_booking_days,
                                  cancellation_policy, inclusions, exclusions, requirements, published_at)
SELECT o.id, p.name || ' ' || (ARRAY['day tour','sunrise hike','photo tour','horse ride'])[1 + a % 4],
       'Guided ' || lower(p.name) || ' trip from Almaty', (ARRAY['TOUR','ADVENTURE','NATURE','EXCURSION'])[1 + a % 4],
       CASE WHEN a % 9 = 0 THEN 'DRAFT' WHEN a % 11 = 0 THEN 'PAUSED' ELSE 'ACTIVE' END,
       p.address, 'Almaty', p.lat, p.lng, 8000 + (a % 8) * 1000, 'KZT',
       '[{"minParticipants":5,"maxParticipants":8,"pricePerPerson":7000},{"minParticipants":9,"maxParticipants":12,"pricePerPerson":6000}]',
       1, 12, 240 + (a % 4) * 60, CASE WHEN a % 3 = 0 THEN 'FLEXIBLE' ELSE 'FIXED' END,
       ARRAY['MON','WED','FRI','SAT','SUN'], 60,
       '{"tiers":[{"hoursBefore":48,"refundPercent":100},{"hoursBefore":24,"refundPercent":50}]}',
       ARRAY['Transport from Almaty','Guide'], ARRAY['Meals'], ARRAY['Comfortable shoes'],
       CASE WHEN a % 9 <> 0 THEN now() - interval '60 days' END
  FROM generate_series(1, (SELECT n_activities FROM demo_params)) a
  JOIN LATERAL (SELECT id FROM steppergo.activity_owners ORDER BY business_name OFFSET a % (SELECT n_owners FROM demo_params) LIMIT 1) o ON true
  JOIN LATERAL (SELECT * FROM demo_places ORDER BY name OFFSET a % 10 LIMIT 1) p ON true;

CREATE TEMP TABLE demo_activities AS SELECT id, row_number() OVER (ORDER BY id) AS n FROM steppergo.activities;
INSERT INTO steppergo.activity_photos (activity_id, url, thumbnail_url, cloudinary_id, width, height, size, format, caption, "order", is_cover)
SELECT a.id, 'https://res.cloudinary.com/steppergo/image/upload/a' || a.n || '_' || k || '.jpg',
       'https://res.cloudinary.com/steppergo/image/upload/t_thumb/a' || a.n || '_' || k || '.jpg',
       'steppergo/a' || a.n || '_' || k, 1600, 1067, 240000 + k * 1000, 'jpg', 'Photo ' || k, k, k = 1
  FROM demo_activities a, generate_series(1, 3) k;
INSERT INTO steppergo.activity_schedules (activity_id, day_of_week, start_time, end_time, is_recurring, specific_date)
SELECT a.id, d, '08:00', '14:00', true, NULL
  FROM demo_activities a, unnest(ARRAY['MON','WED','FRI','SAT','SUN']) d;
INSERT INTO steppergo.activity_schedules (activity_id, day_of_week, start_time, end_time, is_recurring, specific_date)
SELECT a.id, NULL, '18:00', '21:00', false, current_date + 10
  FROM demo_activities a WHERE a.n % 4 = 0;

INSERT INTO steppergo.activity_bookings (activity_id, passenger_id, scheduled_date, scheduled_time, participants,
                                         participant_details, price_per_person, total_amount, currency, payment_id,
                                         payment_status, status, cancelled_at, cancellation_reason, refund_amount)
SELECT a.id, u.id, current_date + (k % 2) * 14 - 7, '08:00', 1 + k % 3,
       '[{"name":"Guest"}]', 9000, 9000 * (1 + k % 3), 'KZT', 'pi_act_demo_' || a.n || '_' || k,
       'SUCCEEDED', (CASE WHEN k % 2 = 0 THEN 'COMPLETED' WHEN k = 3 THEN 'CANCELLED' ELSE 'CONFIRMED' END)::steppergo.booking_status,
       CASE WHEN k = 3 THEN now() - interval '3 days' END, CASE WHEN k = 3 THEN 'Change of plans' END,
       CASE WHEN k = 3 THEN 9000 * (1 + k % 3) / 2 ELSE 0 END
  FROM demo_activities a, generate_series(1, 4) k
  JOIN LATERAL (SELECT id FROM steppergo.users WHERE role = 'PASSENGER' ORDER BY email OFFSET k * 3 LIMIT 1) u ON true;
INSERT INTO steppergo.activity_reviews (activity_id, booking_id, passenger_id, rating, comment, photos)
SELECT b.activity_id, b.id, b.passenger_id, 4 + (abs(hashtext(b.id::text)) % 2), 'Beautiful views, great guide', ARRAY[]::text[]
  FROM steppergo.activity_bookings b WHERE b.status = 'COMPLETED';

-- ------------------------------------------------------------ admin tables
INSERT INTO steppergo.admin_actions (admin_id, action_type, target_type, target_id, details, ip_address, user_agent)
SELECT (SELECT id FROM steppergo.users WHERE role = 'ADMIN' ORDER BY email LIMIT 1), 'DRIVER_APPROVED', 'driver', d.id::text,
       '{"before":{"status":"PENDING"},"after":{"status":"APPROVED"}}', '192.0.2.10', 'StepperGO Admin/1.0'
  FROM demo_drivers d WHERE d.n % 50 = 1;
INSERT INTO steppergo.document_verifications (user_id, driver_id, document_type, document_number, document_url, status,
                                              verified_at, verified_by, rejection_reason, expiry_date, metadata)
SELECT d.user_id, d.id, x.t, 'DOC-' || d.n || '-' || x.t, 'https://files.steppergo.kz/d/' || d.n || '/' || lower(x.t) || '.pdf',
       CASE WHEN d.n % 20 = 0 THEN 'PENDING' ELSE 'VERIFIED' END,
       CASE WHEN d.n % 20 <> 0 THEN now() - interval '100 days' END,
       CASE WHEN d.n % 20 <> 0 THEN (SELECT id FROM steppergo.users WHERE role = 'ADMIN' ORDER BY email LIMIT 1) END,
       NULL, now() + interval '400 days', '{}'
  FROM demo_drivers d, (VALUES ('LICENSE'), ('INSURANCE'), ('REGISTRATION')) x(t)
 WHERE d.n % 10 = 1;
INSERT INTO steppergo.file_uploads (user_id, original_name, stored_name, mime_type, size_bytes, s3_bucket, s3_key, url, purpose, metadata)
SELECT d.user_id, 'license.pdf', d.n || '-license.pdf', 'application/pdf', 180000, 'steppergo-documents',
       'drivers/' || d.n || '/license.pdf', 'https://steppergo-documents.s3.amazonaws.com/drivers/' || d.n || '/license.pdf',
       'DRIVER_DOCUMENT', '{}'
  FROM demo_drivers d WHERE d.n % 10 = 1;
INSERT INTO steppergo.webhook_logs (source, event_type, event_id, payload, processed, processed_at)
SELECT 'stripe', 'payment_intent.succeeded', 'evt_demo_' || replace(p.id::text, '-', ''),
       jsonb_build_object('id', 'evt_demo', 'data', jsonb_build_object('object', jsonb_build_object('id', p.stripe_intent_id))),
       true, p.succeeded_at
  FROM steppergo.payments p WHERE p.status = 'SUCCEEDED';
INSERT INTO steppergo.notifications (user_id, type, channel, recipient, subject, body, status, sent_at)
SELECT b.user_id, 'BOOKING_CONFIRMED', 'SMS', u.phone, NULL, 'Your StepperGO booking is confirmed', 'SENT', b.confirmed_at
  FROM steppergo.bookings b JOIN steppergo.users u ON u.id = b.user_id WHERE b.status = 'CONFIRMED';
INSERT INTO steppergo.analytics_events (event_name, user_id, metadata, session_id, ip_address, user_agent, created_at)
SELECT (ARRAY['app_open','trip_search','trip_view','booking_started','booking_paid'])[1 + g % 5],
       (SELECT id FROM steppergo.users WHERE role = 'PASSENGER' ORDER BY email OFFSET g % (SELECT n_passengers FROM demo_params) LIMIT 1),
       jsonb_build_object('screen', 'home'), 'sess-' || (g % 97), ('203.0.113.' || (g % 250))::inet, 'StepperGO/2.1 (iOS 18)',
       now() - (g % 20) * interval '1 hour'
  FROM generate_series(1, greatest(20, (5000 * :scale)::int)) g;

-- ---------------------------------------------------------- auth leftovers
INSERT INTO steppergo.sessions (user_id, token_hash, expires_at, ip_address, user_agent)
SELECT u.id, sha256(convert_to('demo-session-' || u.id, 'UTF8')), now() + interval '30 days', '203.0.113.5', 'StepperGO/2.1'
  FROM steppergo.users u WHERE u.role = 'PASSENGER' AND abs(hashtext(u.email)) % 5 = 0;
INSERT INTO steppergo.refresh_tokens (user_id, token_hash, session_id, expires_at, family_id)
SELECT s.user_id, sha256(convert_to('demo-refresh-' || s.id, 'UTF8')), s.id, now() + interval '30 days', s.id
  FROM steppergo.sessions s;
INSERT INTO steppergo.otps (phone, code_hash, expires_at, attempts, verified, verified_at, created_at)
SELECT u.phone, sha256(convert_to('demo-otp-' || u.id, 'UTF8')), now() - interval '1 day', 1, true,
       now() - interval '1 day' - interval '4 minutes', now() - interval '1 day' - interval '5 minutes'
  FROM steppergo.users u WHERE u.role = 'PASSENGER' AND abs(hashtext(u.email)) % 9 = 0;

COMMIT;
ANALYZE;
