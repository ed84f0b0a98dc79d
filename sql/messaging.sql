-- messaging: trip conversations, membership by triggers, messages, receipts,
-- unread counters, moderation, NOTIFY channel and the notifications outbox
\set VERBOSITY terse
SET client_min_messages = warning;

-- A plain API role, called as PostgREST does (SET ROLE + request.jwt.claims).
DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'messaging_api') THEN
    CREATE ROLE messaging_api NOLOGIN;
  END IF;
END $$;
GRANT USAGE ON SCHEMA steppergo TO messaging_api;

CREATE FUNCTION msg_act_as(email text) RETURNS text LANGUAGE sql SECURITY DEFINER AS $$
  SELECT set_config('request.jwt.claims',
                    json_build_object('sub', u.id, 'app_role', u.role)::text, true)
    FROM steppergo.users u WHERE u.email = msg_act_as.email
$$;
CREATE FUNCTION msg_uid(email text) RETURNS uuid LANGUAGE sql SECURITY DEFINER AS $$
  SELECT id FROM steppergo.users WHERE email = msg_uid.email
$$;
-- runs a statement, returns ok or the SQLSTATE and message of its refusal
CREATE FUNCTION msg_try(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
GRANT EXECUTE ON FUNCTION msg_act_as(text), msg_uid(text), msg_try(text) TO messaging_api;
-- exactness: the stored counters against a recount from the messages
CREATE FUNCTION msg_check(trip_title text) RETURNS TABLE (who text, unread integer, recount integer, left_chat boolean)
LANGUAGE sql AS $$
  SELECT split_part(u.email, '@', 1), p.unread_count,
         steppergo.chat_unread_recount(p.conversation_id, p.user_id), p.left_at IS NOT NULL
    FROM steppergo.conversation_participants p
    JOIN steppergo.conversations c ON c.id = p.conversation_id
    JOIN steppergo.trips t ON t.id = c.trip_id
    JOIN steppergo.users u ON u.id = p.user_id
   WHERE t.title = trip_title
   ORDER BY 1
$$;
CREATE FUNCTION msg_chat(trip_title text) RETURNS TABLE (sender text, type steppergo.message_type, content text,
                                                          status steppergo.message_status, hidden boolean, edited boolean)
LANGUAGE sql AS $$
  SELECT coalesce(split_part(u.email, '@', 1), '(system)'), m.type, left(m.content, 60), m.status, m.is_hidden,
         m.edited_at IS NOT NULL
    FROM steppergo.messages m
    JOIN steppergo.conversations c ON c.id = m.conversation_id
    JOIN steppergo.trips t ON t.id = c.trip_id
    LEFT JOIN steppergo.users u ON u.id = m.sender_id
   WHERE t.title = trip_title
   ORDER BY m.sent_at
$$;

INSERT INTO steppergo.users (email, phone, name, role) VALUES
  ('org@messaging.test',   '+79050000001', 'Aruzhan', 'PASSENGER'),
  ('drv@messaging.test',   '+79050000002', 'Daniyar', 'DRIVER'),
  ('p1@messaging.test',    '+79050000003', 'Bolat', 'PASSENGER'),
  ('p2@messaging.test',    '+79050000004', 'Saule', 'PASSENGER'),
  ('out@messaging.test',   '+79050000005', 'Erlan', 'PASSENGER'),
  ('admin@messaging.test', '+79050000006', 'Moderator', 'ADMIN'),
  ('drv2@messaging.test',  '+79050000007', 'Timur', 'DRIVER');
INSERT INTO steppergo.drivers (user_id, status)
SELECT id, 'APPROVED' FROM steppergo.users WHERE email IN ('drv@messaging.test', 'drv2@messaging.test');
INSERT INTO steppergo.file_uploads (user_id, original_name, stored_name, mime_type, size_bytes, s3_bucket, s3_key, purpose, deleted_at)
VALUES (msg_uid('p1@messaging.test'), 'kolsai.jpg', 'm1.jpg', 'image/jpeg', 120000, 'steppergo-chat', 'messaging/m1.jpg', 'CHAT_ATTACHMENT', NULL),
       (msg_uid('p1@messaging.test'), 'ticket.pdf', 'm2.pdf', 'application/pdf', 30000, 'steppergo-chat', 'messaging/m2.pdf', 'CHAT_ATTACHMENT', NULL),
       (msg_uid('p1@messaging.test'), 'old.jpg', 'm3.jpg', 'image/jpeg', 1000, 'steppergo-chat', 'messaging/m3.jpg', 'CHAT_ATTACHMENT', now()),
       (msg_uid('p2@messaging.test'), 'saule.jpg', 'm4.jpg', 'image/jpeg', 1000, 'steppergo-chat', 'messaging/m4.jpg', 'CHAT_ATTACHMENT', NULL);
SELECT id AS img1 FROM steppergo.file_uploads WHERE s3_key = 'messaging/m1.jpg' \gset
SELECT id AS pdf1 FROM steppergo.file_uploads WHERE s3_key = 'messaging/m2.pdf' \gset
SELECT id AS img_deleted FROM steppergo.file_uploads WHERE s3_key = 'messaging/m3.jpg' \gset
SELECT id AS img_other FROM steppergo.file_uploads WHERE s3_key = 'messaging/m4.jpg' \gset

-- A trip gets its conversation with the organizer in it.
INSERT INTO steppergo.trips (title, organizer_id, departure_time, origin_name, origin_lat, origin_lng,
                             dest_name, dest_lat, dest_lng, total_seats, trip_type, price_per_seat, status)
VALUES ('Messaging: Almaty to Kolsai', msg_uid('org@messaging.test'), '2030-06-01 03:00+00', 'Almaty', 43.238, 76.889,
        'Kolsai Lakes', 42.983, 78.333, 4, 'SHARED', 9000, 'PUBLISHED');
SELECT id AS trip FROM steppergo.trips WHERE title = 'Messaging: Almaty to Kolsai' \gset
SELECT id AS conv FROM steppergo.conversations WHERE trip_id = :'trip' \gset
SELECT * FROM msg_check('Messaging: Almaty to Kolsai');

-- Passengers join when their booking is confirmed, not before.
INSERT INTO steppergo.bookings (trip_id, user_id, status, seats_booked, total_amount)
VALUES (:'trip', msg_uid('p1@messaging.test'), 'PENDING', 1, 9000),
       (:'trip', msg_uid('p2@messaging.test'), 'CONFIRMED', 2, 18000);
SELECT * FROM msg_check('Messaging: Almaty to Kolsai');
UPDATE steppergo.bookings SET status = 'CONFIRMED' WHERE trip_id = :'trip' AND user_id = msg_uid('p1@messaging.test');
-- the driver joins on assignment, announced by a SYSTEM message
UPDATE steppergo.trips SET driver_id = (SELECT id FROM steppergo.drivers WHERE user_id = msg_uid('drv@messaging.test'))
 WHERE id = :'trip';
-- status changes become SYSTEM messages; offers do not
INSERT INTO steppergo.trip_status_history (trip_id, from_status, to_status) VALUES
  (:'trip', 'PUBLISHED', 'OFFERED'), (:'trip', 'OFFERED', 'PUBLISHED'), (:'trip', 'PUBLISHED', 'FULL');
SELECT * FROM msg_check('Messaging: Almaty to Kolsai');
SELECT * FROM msg_chat('Messaging: Almaty to Kolsai');
SELECT metadata - 'driver_id' - 'history_id' AS system_metadata FROM steppergo.messages WHERE conversation_id = :'conv' ORDER BY sent_at;

-- Sending, as PostgREST calls it
BEGIN;
SET LOCAL ROLE messaging_api;
SELECT msg_act_as('p1@messaging.test') IS NOT NULL AS acting;
SELECT steppergo.send_message(:'conv', 'Salem! I will be at the Sairan bus stop') IS NOT NULL AS sent;
SELECT steppergo.send_message(:'conv', 'Here', 'LOCATION', '{"lat": 43.2389, "lng": 76.8461, "accuracy": 12, "name": "Sairan"}') IS NOT NULL AS sent_location;
SELECT steppergo.send_message(:'conv', 'The lake', 'IMAGE', jsonb_build_object('file_upload_id', :'img1')) IS NOT NULL AS sent_image;
SELECT steppergo.send_message(:'conv', NULL, 'FILE', jsonb_build_object('file_upload_id', :'pdf1')) IS NOT NULL AS sent_file;
-- refusals
SELECT msg_try(format('SELECT steppergo.send_message(%L, %L)', :'conv', '')) AS empty_text;
SELECT msg_try(format('SELECT steppergo.send_message(%L, %L)', :'conv', E'  \n\t ')) AS blank_text;
SELECT msg_try(format('SELECT steppergo.send_message(%L, repeat(%L, 4001))', :'conv', 'x')) AS oversize_text;
SELECT msg_try(format('SELECT steppergo.send_message(%L, repeat(%L, 4000))', :'conv', 'x')) AS longest_text;
SELECT msg_try(format('SELECT steppergo.send_message(%L, NULL)', :'conv')) AS null_text;
SELECT msg_try(format('SELECT steppergo.send_message(NULL, %L)', 'hi')) AS null_conversation;
SELECT msg_try(format('SELECT steppergo.send_message(%L, %L, %L)', :'conv', 'hi', 'SYSTEM')) AS system_type;
SELECT msg_try(format('SELECT steppergo.send_message(%L, %L, %L, %L)', :'conv', 'hi', 'TEXT', '{"x": 1}')) AS text_with_metadata;
SELECT msg_try(format('SELECT steppergo.send_message(%L, %L, %L, %L)', :'conv', '', 'LOCATION', '{"lat": 91, "lng": 76}')) AS bad_lat;
SELECT msg_try(format('SELECT steppergo.send_message(%L, %L, %L, %L)', :'conv', '', 'LOCATION', '{"lat": 43.2}')) AS no_lng;
SELECT msg_try(format('SELECT steppergo.send_message(%L, %L, %L, %L)', :'conv', '', 'LOCATION', '{"lat": "43.2", "lng": 76}')) AS lat_as_text;
SELECT msg_try(format('SELECT steppergo.send_message(%L, %L, %L, %L)', :'conv', '', 'LOCATION', '{"lat": 43.2, "lng": 76, "alt": 800}')) AS unknown_key;
SELECT msg_try(format('SELECT steppergo.send_message(%L, %L, %L, %L)', :'conv', '', 'LOCATION', '[1, 2]')) AS metadata_array;
SELECT msg_try(format('SELECT steppergo.send_message(%L, %L, %L, %L)', :'conv', '', 'IMAGE', '{}')) AS image_without_upload;
SELECT msg_try(format('SELECT steppergo.send_message(%L, %L, %L, %L)', :'conv', '', 'IMAGE', '{"file_upload_id": "nope"}')) AS image_bad_id;
SELECT msg_try(format('SELECT steppergo.send_message(%L, %L, %L, %L)', :'conv', '', 'IMAGE', jsonb_build_object('file_upload_id', :'img_deleted'))) AS image_deleted_upload;
SELECT msg_try(format('SELECT steppergo.send_message(%L, %L, %L, %L)', :'conv', '', 'IMAGE', jsonb_build_object('file_upload_id', :'img_other'))) AS image_of_another_user;
SELECT msg_try(format('SELECT steppergo.send_message(%L, %L, %L, %L)', :'conv', '', 'IMAGE', jsonb_build_object('file_upload_id', :'pdf1'))) AS image_not_an_image;
SELECT msg_try(format('SELECT steppergo.send_message(%L, repeat(%L, 1001), %L, %L)', :'conv', 'x', 'FILE', jsonb_build_object('file_upload_id', :'pdf1'))) AS caption_too_long;
SELECT msg_try(format('SELECT steppergo.send_message(%L, %L)', '00000000-0000-7000-8000-000000000000', 'hi')) AS unknown_conversation;
SELECT msg_try(format('SELECT steppergo.send_message(%L, %L, %L, %L, %L)', :'conv', 'hi', 'TEXT', '{}', msg_uid('p2@messaging.test'))) AS as_another_user;
SELECT msg_act_as('out@messaging.test') IS NOT NULL AS acting;
SELECT msg_try(format('SELECT steppergo.send_message(%L, %L)', :'conv', 'let me in')) AS not_a_participant;
SELECT msg_try(format('SELECT * FROM steppergo.message_history(%L)', :'conv')) AS outsider_history;
SELECT msg_try(format('SELECT steppergo.mark_read(%L)', :'conv')) AS outsider_read;
SELECT msg_try(format('SELECT steppergo.trip_conversation(%L)', :'trip')) AS outsider_lookup;
SELECT msg_act_as('org@messaging.test') IS NOT NULL AS acting;
SELECT steppergo.trip_conversation(:'trip') = :'conv' AS organizer_finds_conversation;
SELECT steppergo.send_message(:'conv', 'Welcome everyone, we leave at 8 sharp') IS NOT NULL AS sent;
COMMIT;
SELECT * FROM msg_chat('Messaging: Almaty to Kolsai');
SELECT type, metadata - 'file_upload_id' AS metadata FROM steppergo.messages
 WHERE conversation_id = :'conv' AND type IN ('LOCATION', 'IMAGE', 'FILE') ORDER BY sent_at;
SELECT * FROM msg_check('Messaging: Almaty to Kolsai');
SELECT count(DISTINCT sent_at) = count(*) AS sent_at_unique,
       (SELECT last_message_at FROM steppergo.conversations WHERE id = :'conv') = max(sent_at) AS last_message_at_exact
  FROM steppergo.messages WHERE conversation_id = :'conv';

-- Editing one's own message
BEGIN;
SET LOCAL ROLE messaging_api;
SELECT msg_act_as('p1@messaging.test') IS NOT NULL AS acting;
SELECT id AS m_salem FROM steppergo.message_history(:'conv', NULL, 200) WHERE content LIKE 'Salem%' \gset
SELECT id AS m_welcome FROM steppergo.message_history(:'conv', NULL, 200) WHERE content LIKE 'Welcome%' \gset
SELECT id AS m_loc FROM steppergo.message_history(:'conv', NULL, 200) WHERE type = 'LOCATION' \gset
SELECT id AS m_img FROM steppergo.message_history(:'conv', NULL, 200) WHERE type = 'IMAGE' \gset
SELECT id AS m_sys FROM steppergo.message_history(:'conv', NULL, 200) WHERE type = 'SYSTEM' LIMIT 1 \gset
SELECT steppergo.edit_message(:'m_salem', 'Salem! I will be at the Sairan bus stop, north side') IS NOT NULL AS edited;
SELECT steppergo.edit_message(:'m_loc', 'Moved', '{"lat": 43.24, "lng": 76.85}') IS NOT NULL AS location_edited;
SELECT steppergo.edit_message(:'m_img', 'Kolsai, the upper lake') IS NOT NULL AS caption_edited;
SELECT msg_try(format('SELECT steppergo.edit_message(%L, %L, %L)', :'m_img', 'x', jsonb_build_object('file_upload_id', :'pdf1'))) AS change_attachment;
SELECT msg_try(format('SELECT steppergo.edit_message(%L, %L)', :'m_salem', '')) AS edit_to_empty;
SELECT msg_try(format('SELECT steppergo.edit_message(%L, %L)', :'m_loc', 'x')) AS edit_location_keeps_metadata;
SELECT msg_try(format('SELECT steppergo.edit_message(%L, %L)', :'m_welcome', 'hijacked')) AS edit_others;
SELECT msg_try(format('SELECT steppergo.edit_message(%L, %L)', :'m_sys', 'hijacked')) AS edit_system;
SELECT msg_try(format('SELECT steppergo.edit_message(%L, %L)', '00000000-0000-7000-8000-000000000000', 'x')) AS edit_unknown;
COMMIT;
SELECT content, metadata FROM steppergo.messages WHERE id IN (:'m_salem', :'m_loc') ORDER BY sent_at;

-- Receipts: delivered, then read, only forwards
BEGIN;
SET LOCAL ROLE messaging_api;
SELECT msg_act_as('p2@messaging.test') IS NOT NULL AS acting;
SELECT unread_count FROM steppergo.my_conversations() WHERE conversation_id = :'conv';
SELECT steppergo.mark_delivered(:'conv', :'m_loc') AS delivered;
SELECT steppergo.mark_delivered(:'conv', :'m_loc') AS delivered_again;
SELECT steppergo.mark_read(:'conv', :'m_salem') AS unread_left;
SELECT steppergo.mark_read(:'conv', :'m_sys') AS unread_after_going_back;
SELECT msg_try(format('SELECT steppergo.mark_read(%L, %L)', :'conv', '00000000-0000-7000-8000-000000000000')) AS read_unknown_message;
COMMIT;
SELECT * FROM msg_chat('Messaging: Almaty to Kolsai');
SELECT * FROM msg_check('Messaging: Almaty to Kolsai');
BEGIN;
SET LOCAL ROLE messaging_api;
SELECT msg_act_as('p2@messaging.test') IS NOT NULL AS acting;
SELECT steppergo.mark_read(:'conv') AS unread_after_reading_all;
SELECT last_read_at = last_message_at AS read_to_the_end FROM steppergo.my_conversations() WHERE conversation_id = :'conv';
COMMIT;
SELECT sender, type, status FROM msg_chat('Messaging: Almaty to Kolsai');

-- History: keyset pages, newest first
BEGIN;
SET LOCAL ROLE messaging_api;
SELECT msg_act_as('p2@messaging.test') IS NOT NULL AS acting;
SELECT type, left(content, 60) AS content FROM steppergo.message_history(:'conv', NULL, 3);
SELECT min(sent_at) AS page1_end FROM steppergo.message_history(:'conv', NULL, 3) \gset
SELECT type, left(content, 60) AS content FROM steppergo.message_history(:'conv', :'page1_end', 3);
SELECT msg_try(format('SELECT * FROM steppergo.message_history(%L, NULL, 0)', :'conv')) AS page_size_zero;
SELECT msg_try(format('SELECT * FROM steppergo.message_history(%L, NULL, 201)', :'conv')) AS page_size_too_big;
COMMIT;
-- the index the seed names serves the page
SET enable_seqscan = off;
SET plan_cache_mode = force_generic_plan;
PREPARE msg_page(uuid, timestamptz) AS
  SELECT * FROM steppergo.messages WHERE conversation_id = $1 AND sent_at < $2 AND NOT is_hidden ORDER BY sent_at DESC LIMIT 50;
EXPLAIN (COSTS OFF) EXECUTE msg_page(:'conv', 'infinity');
DEALLOCATE msg_page;
RESET plan_cache_mode;
RESET enable_seqscan;

-- Moderation: report, hide (admin, audited), hidden never reaches participants
BEGIN;
SET LOCAL ROLE messaging_api;
SELECT msg_act_as('p2@messaging.test') IS NOT NULL AS acting;
SELECT steppergo.report_message(:'m_salem', 'spam') AS reported;
SELECT steppergo.report_message(:'m_salem', 'spam again') AS reported_again;
SELECT msg_try(format('SELECT steppergo.report_message(%L, %L)', :'m_salem', '')) AS empty_reason;
SELECT msg_try(format('SELECT steppergo.report_message(%L, %L)', :'m_sys', 'x')) AS report_system;
SELECT msg_try(format('SELECT steppergo.hide_message(%L)', :'m_salem')) AS passenger_hides;
SELECT msg_act_as('p1@messaging.test') IS NOT NULL AS acting;
SELECT msg_try(format('SELECT steppergo.report_message(%L, %L)', :'m_salem', 'me')) AS report_own;
-- p1's message is newest for p2 only if unread: send one more, unread by p2
SELECT steppergo.send_message(:'conv', 'Buy me a coffee at the bus stop') IS NOT NULL AS sent;
SELECT msg_act_as('admin@messaging.test') IS NOT NULL AS acting;
SELECT id AS m_coffee FROM steppergo.message_history(:'conv', NULL, 1) \gset
SELECT steppergo.hide_message(:'m_salem', 'abusive') AS hidden;
SELECT steppergo.hide_message(:'m_coffee', 'spam') AS hidden;
SELECT steppergo.hide_message(:'m_coffee') AS hidden_again;
SELECT content, is_hidden FROM steppergo.message_history(:'conv', NULL, 2);
SELECT msg_act_as('p2@messaging.test') IS NOT NULL AS acting;
SELECT count(*) FILTER (WHERE content LIKE 'Salem%' OR content LIKE 'Buy me%') AS hidden_seen_by_participant, count(*) AS visible
  FROM steppergo.message_history(:'conv', NULL, 200);
SELECT msg_try(format('SELECT steppergo.report_message(%L, %L)', :'m_coffee', 'x')) AS report_hidden;
SELECT msg_act_as('p1@messaging.test') IS NOT NULL AS acting;
SELECT msg_try(format('SELECT steppergo.edit_message(%L, %L)', :'m_coffee', 'sorry')) AS edit_hidden;
COMMIT;
SELECT action_type, target_type, details->>'reason' AS reason, details->>'was_reported' AS was_reported
  FROM steppergo.admin_actions WHERE target_id IN (:'m_salem', :'m_coffee') ORDER BY created_at, action_type;
SELECT * FROM msg_check('Messaging: Almaty to Kolsai');
SELECT (SELECT last_message_at FROM steppergo.conversations WHERE id = :'conv')
       = (SELECT max(sent_at) FROM steppergo.messages WHERE conversation_id = :'conv' AND NOT is_hidden) AS last_message_at_skips_hidden;
SELECT steppergo.unhide_message(:'m_coffee', 'appeal granted') AS unhidden;
SELECT * FROM msg_check('Messaging: Almaty to Kolsai');
SELECT steppergo.hide_message(:'m_coffee', 'appeal withdrawn') AS hidden;

-- Notifications switch and the outbox
SELECT split_part(u.email, '@', 1) AS who, n.channel, n.recipient = u.id::text AS to_user_id, n.subject, n.body, count(*)
  FROM steppergo.notifications n JOIN steppergo.users u ON u.id = n.user_id
 WHERE u.email LIKE '%@messaging.test' AND n.type = 'CHAT_MESSAGE'
 GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 5;
DELETE FROM steppergo.notifications WHERE type = 'CHAT_MESSAGE' AND user_id IN (SELECT id FROM steppergo.users WHERE email LIKE '%@messaging.test');
BEGIN;
SET LOCAL ROLE messaging_api;
SELECT msg_act_as('p2@messaging.test') IS NOT NULL AS acting;
SELECT steppergo.set_notifications(:'conv', false);
SELECT msg_act_as('drv@messaging.test') IS NOT NULL AS acting;
SELECT steppergo.set_notifications(:'conv', true, 'SMS');
SELECT msg_act_as('org@messaging.test') IS NOT NULL AS acting;
SELECT steppergo.chat_heartbeat(NULL, 'gateway-1') > now() AS heartbeat;    -- the organizer is connected
SELECT msg_act_as('out@messaging.test') IS NOT NULL AS acting;
SELECT msg_try(format('SELECT steppergo.set_notifications(%L, false)', :'conv')) AS outsider_switch;
SELECT msg_act_as('p1@messaging.test') IS NOT NULL AS acting;
SELECT steppergo.send_message(:'conv', 'See you tomorrow') IS NOT NULL AS sent;
COMMIT;
-- only the driver (SMS to their phone): p2 switched off, the organizer is connected
SELECT split_part(u.email, '@', 1) AS who, n.channel, n.recipient, n.body, n.status
  FROM steppergo.notifications n JOIN steppergo.users u ON u.id = n.user_id
 WHERE u.email LIKE '%@messaging.test' AND n.type = 'CHAT_MESSAGE' ORDER BY 1;
SELECT split_part(u.email, '@', 1) AS who, p.notifications_enabled, p.notification_channel
  FROM steppergo.conversation_participants p JOIN steppergo.users u ON u.id = p.user_id
 WHERE p.conversation_id = :'conv' ORDER BY 1;
-- a heartbeat older than steppergo.chat_presence_timeout no longer counts
UPDATE steppergo.chat_presence SET last_seen_at = now() - interval '2 minutes' WHERE user_id = msg_uid('org@messaging.test');
SELECT steppergo.send_message(:'conv', 'Anyone awake?', 'TEXT', '{}', msg_uid('p1@messaging.test')) IS NOT NULL AS sent;
SELECT split_part(u.email, '@', 1) AS who, count(*)
  FROM steppergo.notifications n JOIN steppergo.users u ON u.id = n.user_id
 WHERE u.email LIKE '%@messaging.test' AND n.type = 'CHAT_MESSAGE' GROUP BY 1 ORDER BY 1;
SELECT steppergo.chat_disconnect(msg_uid('org@messaging.test')) AS disconnected,
       steppergo.chat_disconnect(msg_uid('org@messaging.test')) AS disconnected_again;
SELECT msg_try('SELECT steppergo.chat_heartbeat()') AS trusted_without_user;

-- A cancelled booking: the passenger leaves, can read up to then, not post
UPDATE steppergo.bookings SET status = 'CANCELLED', cancelled_at = now()
 WHERE trip_id = :'trip' AND user_id = msg_uid('p1@messaging.test');
SELECT steppergo.send_message(:'conv', 'Pity, Bolat', 'TEXT', '{}', msg_uid('p2@messaging.test')) IS NOT NULL AS sent;
SELECT * FROM msg_check('Messaging: Almaty to Kolsai');
SELECT id AS m_pity FROM steppergo.messages WHERE conversation_id = :'conv' AND content = 'Pity, Bolat' \gset
BEGIN;
SET LOCAL ROLE messaging_api;
SELECT msg_act_as('p1@messaging.test') IS NOT NULL AS acting;
SELECT msg_try(format('SELECT steppergo.send_message(%L, %L)', :'conv', 'wait')) AS left_sends;
SELECT count(*) FILTER (WHERE content = 'Pity, Bolat') AS sees_after_leaving,
       count(*) FILTER (WHERE content LIKE 'Bolat cancelled%') AS sees_own_cancellation
  FROM steppergo.message_history(:'conv', NULL, 200);
SELECT msg_try(format('SELECT steppergo.mark_read(%L, %L)', :'conv', :'m_pity')) AS read_after_leaving;
SELECT steppergo.mark_read(:'conv') AS unread_up_to_leaving;
SELECT count(*) AS listed, count(*) FILTER (WHERE left_at IS NOT NULL) AS listed_left FROM steppergo.my_conversations();
SELECT count(*) AS listed_with_left FROM steppergo.my_conversations(NULL, true);
COMMIT;
-- booking again: rejoins, what was said meanwhile is not unread
INSERT INTO steppergo.bookings (trip_id, user_id, status, seats_booked, total_amount)
VALUES (:'trip', msg_uid('p1@messaging.test'), 'CONFIRMED', 1, 9000);
SELECT * FROM msg_check('Messaging: Almaty to Kolsai');
-- the organizer booking a seat and cancelling it stays in (organizer)
INSERT INTO steppergo.bookings (trip_id, user_id, status, seats_booked, total_amount)
VALUES (:'trip', msg_uid('org@messaging.test'), 'CONFIRMED', 1, 9000);
UPDATE steppergo.bookings SET status = 'REFUNDED' WHERE trip_id = :'trip' AND user_id = msg_uid('org@messaging.test');
-- driver changed, then cleared
UPDATE steppergo.trips SET driver_id = (SELECT id FROM steppergo.drivers WHERE user_id = msg_uid('drv2@messaging.test'))
 WHERE id = :'trip';
UPDATE steppergo.trips SET driver_id = NULL WHERE id = :'trip';
INSERT INTO steppergo.trip_status_history (trip_id, from_status, to_status, reason)
VALUES (:'trip', 'FULL', 'CANCELLED', 'Pass closed by snow');
SELECT sender, type, content FROM msg_chat('Messaging: Almaty to Kolsai') WHERE type = 'SYSTEM';
SELECT * FROM msg_check('Messaging: Almaty to Kolsai');

-- The list of a user's conversations with unread counts
INSERT INTO steppergo.trips (title, organizer_id, departure_time, origin_name, origin_lat, origin_lng,
                             dest_name, dest_lat, dest_lng, total_seats)
VALUES ('Messaging: airport transfer', msg_uid('p2@messaging.test'), '2030-06-02 03:00+00', 'Almaty', 43.238, 76.889,
        'ALA airport', 43.352, 77.040, 3);
SELECT steppergo.send_message(c.id, 'Taxi for three', 'TEXT', '{}', msg_uid('p2@messaging.test')) IS NOT NULL AS sent
  FROM steppergo.conversations c JOIN steppergo.trips t ON t.id = c.trip_id WHERE t.title = 'Messaging: airport transfer';
SELECT trip_title, trip_status, unread_count, left_at IS NOT NULL AS left_chat
  FROM steppergo.my_conversations(msg_uid('p2@messaging.test'));
SELECT msg_try('SELECT * FROM steppergo.my_conversations()') AS trusted_without_user;

-- Deleting messages keeps the counters exact too
DELETE FROM steppergo.messages WHERE conversation_id = :'conv' AND content = 'Anyone awake?';
SELECT * FROM msg_check('Messaging: Almaty to Kolsai');
SELECT steppergo.refresh_conversation_counts() AS corrected_by_a_full_recount;

-- The NOTIFY channel name and the API surface
SELECT steppergo.conversation_channel('0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b');
SELECT signature, audience FROM steppergo.api_functions
 WHERE signature ~ '^(send_message|edit_message|mark_delivered|mark_read|report_message|hide_message|unhide_message|set_notifications|message_history|my_conversations|trip_conversation|conversation_channel|chat_heartbeat|chat_disconnect|chat_presence_cleanup)\('
 ORDER BY 1;
SELECT count(*) AS undocumented FROM pg_proc p
 WHERE p.pronamespace = 'steppergo'::regnamespace
   AND (p.proname LIKE 'chat\_%' OR p.proname IN ('send_message', 'edit_message', 'mark_read', 'mark_delivered', 'message_history', 'my_conversations'))
   AND obj_description(p.oid, 'pg_proc') IS NULL;
