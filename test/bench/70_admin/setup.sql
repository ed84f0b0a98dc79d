-- admin bench data: a notification queue and users for analytics events.
-- scale 1: 200,000 queued notifications, 20,000 users.
SET client_min_messages = warning;
CREATE TABLE IF NOT EXISTS bench_meta (key text PRIMARY KEY, value text);
DROP TABLE IF EXISTS bench_admin_users;
CREATE TABLE bench_admin_users (n integer PRIMARY KEY, id uuid NOT NULL);
INSERT INTO steppergo.users (email, phone, name)
SELECT 'bench' || g || '@admin.test', '+7907' || lpad(g::text, 7, '0'), 'Bench User ' || g
  FROM generate_series(1, greatest(200, (20000 * :scale)::int)) g;
INSERT INTO bench_admin_users (n, id)
SELECT substring(u.email from '^bench(\d+)@')::int, u.id FROM steppergo.users u WHERE u.email LIKE 'bench%@admin.test';
-- the queue: mostly SMS/WhatsApp, some time-critical pushes, some not yet due
INSERT INTO steppergo.notifications (user_id, type, channel, recipient, body, next_attempt_at)
SELECT b.id, CASE WHEN g % 10 = 0 THEN 'TRIP_OFFER' ELSE 'BOOKING_CONFIRMED' END,
       (ARRAY['SMS', 'WHATSAPP', 'EMAIL'])[1 + g % 3]::steppergo.delivery_channel,
       '+7907' || lpad(b.n::text, 7, '0'), 'Your StepperGO booking is confirmed',
       now() - interval '1 hour' + (g % 7200) * interval '1 second'
  FROM generate_series(1, greatest(2000, (200000 * :scale)::int)) g
  JOIN bench_admin_users b ON b.n = 1 + g % (SELECT count(*) FROM bench_admin_users);
-- monthly analytics partitions, as the daily job keeps them
SELECT count(*) FROM steppergo.maintain_analytics_partitions();
VACUUM ANALYZE steppergo.notifications;
VACUUM ANALYZE bench_admin_users;
ANALYZE steppergo.users;
INSERT INTO bench_meta VALUES ('nadminusers', (SELECT count(*) FROM bench_admin_users))
  ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value;
