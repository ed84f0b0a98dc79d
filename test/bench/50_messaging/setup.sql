-- Messaging bench: 100,000 trip conversations holding 10,000,000 messages
-- (scale 1), each with its organizer and one passenger.  Messages arrive in
-- time order across all conversations (conversation = message number modulo
-- the conversation count), so a conversation's messages are spread over the
-- table as in production, 10 ms apart.  Loaded set-based with the triggers
-- off (session_replication_role = replica, the bulk-import path of the
-- README), then the counters are computed once by refresh_conversation_counts.
\if :{?scale}
\else
\set scale 1
\endif
SET client_min_messages = warning;
DROP TABLE IF EXISTS bench_meta, bench_conversations;
CREATE TABLE bench_meta (key text PRIMARY KEY, value text);
SELECT greatest(10, (100000 * :scale)::int) AS nconv, greatest(1000, (10000000 * :scale)::int) AS nmsg \gset
SELECT greatest(10, :nconv / 5) AS nusers \gset

BEGIN;
SET LOCAL session_replication_role = replica;
INSERT INTO steppergo.users (email, phone, name, role)
SELECT 'bench.chat' || g || '@messaging.test', '+7905' || lpad(g::text, 7, '0'), 'Chat User ' || g, 'PASSENGER'
  FROM generate_series(1, :nusers) g;
CREATE TEMP TABLE bu AS
SELECT row_number() OVER (ORDER BY id)::int - 1 AS k, id FROM steppergo.users WHERE email LIKE 'bench.chat%@messaging.test';
CREATE UNIQUE INDEX ON bu (k);
INSERT INTO steppergo.trips (title, organizer_id, departure_time, origin_name, origin_lat, origin_lng,
                             dest_name, dest_lat, dest_lng, total_seats, available_seats, trip_type,
                             price_per_seat, status)
SELECT 'Bench chat trip ' || g, bu.id, timestamptz '2030-01-01 03:00+00' + g * interval '1 minute',
       'Almaty', 43.238, 76.889, 'Kolsai Lakes', 42.983, 78.333, 4, 3, 'SHARED', 9000, 'PUBLISHED'
  FROM generate_series(1, :nconv) g JOIN bu ON bu.k = g % :nusers;
CREATE TABLE bench_conversations (n integer PRIMARY KEY, conversation_id uuid NOT NULL, user_id uuid NOT NULL,
                                  other_id uuid NOT NULL);
INSERT INTO steppergo.conversations (trip_id, created_at)
SELECT t.id, timestamptz '2026-01-01 00:00+00' FROM steppergo.trips t WHERE t.title LIKE 'Bench chat trip %';
INSERT INTO bench_conversations (n, conversation_id, user_id, other_id)
SELECT substr(t.title, 17)::int, c.id, t.organizer_id, p.id
  FROM steppergo.conversations c
  JOIN steppergo.trips t ON t.id = c.trip_id
  JOIN bu p ON p.k = (substr(t.title, 17)::int * 7 + 1) % :nusers
 WHERE t.title LIKE 'Bench chat trip %';
-- organizer and passenger (distinct users: 7n+1 and n differ modulo nusers unless nusers divides 6n+1)
INSERT INTO steppergo.conversation_participants (conversation_id, user_id, joined_at, last_read_at)
SELECT conversation_id, user_id, timestamptz '2026-01-01 00:00+00', NULL FROM bench_conversations
UNION ALL
SELECT conversation_id, other_id, timestamptz '2026-01-01 00:00+00',
       timestamptz '2026-01-01 00:00+00' + (:nmsg / 2) * interval '10 ms'
  FROM bench_conversations WHERE other_id <> user_id;
INSERT INTO steppergo.messages (conversation_id, sender_id, content, type, status, sent_at)
SELECT bc.conversation_id, CASE WHEN g % 3 = 0 THEN bc.user_id ELSE bc.other_id END,
       'Bench message ' || g || ': meet at the Sairan bus stop', 'TEXT',
       CASE WHEN g < :nmsg / 2 THEN 'READ' ELSE 'SENT' END::steppergo.message_status,
       timestamptz '2026-01-01 00:00+00' + g * interval '10 ms'
  FROM generate_series(0, :nmsg - 1) g
  JOIN bench_conversations bc ON bc.n = g % :nconv + 1;
COMMIT;
SELECT steppergo.refresh_conversation_counts() >= 0 AS counted;
VACUUM ANALYZE steppergo.users, steppergo.trips, steppergo.conversations, steppergo.conversation_participants,
               steppergo.messages, bench_conversations;
INSERT INTO bench_meta VALUES ('nconv', :nconv), ('nmsg', :nmsg),
  ('base', extract(epoch FROM timestamptz '2026-01-01 00:00+00')::bigint);
