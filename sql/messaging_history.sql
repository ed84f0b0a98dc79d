-- message_history (src/messaging/history.c): the keyset page read straight
-- from messages_conversation_sent_idx.  Every page is compared with the bare
-- SQL it stands for (the oracle below); page boundaries, ties moved apart by
-- the trigger, hidden rows, a participant who left and came back, the
-- caller rules, bad arguments, the caller's search_path, and the backend's
-- cached relation OIDs across DDL.
\set VERBOSITY terse
SET client_min_messages = warning;

DO $$ BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'history_api') THEN
    CREATE ROLE history_api NOLOGIN;
  END IF;
END $$;
GRANT USAGE ON SCHEMA steppergo TO history_api;
GRANT EXECUTE ON FUNCTION steppergo.message_history(uuid, timestamptz, integer, uuid) TO history_api;

CREATE FUNCTION hist_uid(email text) RETURNS uuid LANGUAGE sql SECURITY DEFINER AS $$
  SELECT id FROM steppergo.users WHERE email = hist_uid.email
$$;
CREATE FUNCTION hist_act_as(email text) RETURNS boolean LANGUAGE sql SECURITY DEFINER AS $$
  SELECT set_config('request.jwt.claims', json_build_object('sub', u.id, 'app_role', u.role)::text, true) IS NOT NULL
    FROM steppergo.users u WHERE u.email = hist_act_as.email
$$;
CREATE FUNCTION hist_try(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  EXECUTE 'SELECT count(*) FROM (' || q || ') s' INTO n;
  RETURN 'ok: ' || n || ' rows';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
GRANT EXECUTE ON FUNCTION hist_uid(text), hist_act_as(text), hist_try(text) TO history_api;
-- What a page must be: the bare keyset query, for a participant (hidden rows
-- out, nothing after their leaving) or a moderator (everything).
CREATE FUNCTION hist_oracle(conv uuid, before timestamptz, page integer, reader uuid)
RETURNS SETOF text LANGUAGE sql AS $$
  SELECT m.content FROM steppergo.messages m
   WHERE m.conversation_id = conv AND m.sent_at < coalesce(before, 'infinity')
     AND (reader IS NULL
          OR (NOT m.is_hidden
              AND m.sent_at <= (SELECT coalesce(p.left_at, 'infinity') FROM steppergo.conversation_participants p
                                 WHERE p.conversation_id = conv AND p.user_id = reader)))
   ORDER BY m.sent_at DESC LIMIT page
$$;
-- Walks the whole history page by page (keyset on the last sent_at) and
-- returns the contents in order, and the page sizes seen.
CREATE FUNCTION hist_walk(conv uuid, page integer, reader uuid, OUT contents text, OUT pages text)
LANGUAGE plpgsql AS $$
DECLARE
  cursor_at timestamptz := NULL;
  n integer;
  last_at timestamptz;
  got text;
BEGIN
  contents := '';
  pages := '';
  LOOP
    SELECT count(*), min(h.sent_at), string_agg(h.content, ',' ORDER BY h.sent_at DESC)
      INTO n, last_at, got
      FROM steppergo.message_history(conv, cursor_at, page, reader) h;
    pages := pages || n || ' ';
    EXIT WHEN n = 0;
    contents := contents || got || ',';
    cursor_at := last_at;
  END LOOP;
END $$;

INSERT INTO steppergo.users (email, phone, name, role) VALUES
  ('org@history.test',   '+79052000001', 'Madina', 'PASSENGER'),
  ('p1@history.test',    '+79052000002', 'Arman', 'PASSENGER'),
  ('p2@history.test',    '+79052000003', 'Dana', 'PASSENGER'),
  ('out@history.test',   '+79052000004', 'Yerlan', 'PASSENGER'),
  ('admin@history.test', '+79052000005', 'Moderator', 'ADMIN');
INSERT INTO steppergo.trips (title, organizer_id, departure_time, origin_name, origin_lat, origin_lng,
                             dest_name, dest_lat, dest_lng, total_seats, trip_type, price_per_seat, status)
VALUES ('History: Almaty to Charyn', hist_uid('org@history.test'), '2030-07-01 03:00+00', 'Almaty', 43.238, 76.889,
        'Charyn Canyon', 43.351, 79.081, 4, 'SHARED', 12000, 'PUBLISHED');
SELECT c.id AS conv FROM steppergo.conversations c JOIN steppergo.trips t ON t.id = c.trip_id
 WHERE t.title = 'History: Almaty to Charyn' \gset
INSERT INTO steppergo.bookings (trip_id, user_id, status, seats_booked, total_amount)
SELECT t.id, u.id, 'CONFIRMED', 1, 12000 FROM steppergo.trips t, steppergo.users u
 WHERE t.title = 'History: Almaty to Charyn' AND u.email IN ('p1@history.test', 'p2@history.test');
-- the participants joined at a known time, before every message below
UPDATE steppergo.conversation_participants SET joined_at = '2030-06-01 00:00+00' WHERE conversation_id = :'conv';

-- Eleven messages a minute apart (m01 oldest), written directly as a bulk
-- import would; m05 and m06 share a sent_at (the trigger moves one on by a
-- microsecond, so the keyset loses neither).
INSERT INTO steppergo.messages (conversation_id, sender_id, content, sent_at)
SELECT :'conv', hist_uid(CASE WHEN g % 2 = 0 THEN 'org@history.test' ELSE 'p1@history.test' END),
       'm' || lpad(g::text, 2, '0'),
       timestamptz '2030-06-10 10:00+00' + (CASE WHEN g = 6 THEN 5 ELSE g END) * interval '1 minute'
  FROM generate_series(1, 11) g;
SELECT count(DISTINCT sent_at) AS distinct_sent_at, count(*) AS messages
  FROM steppergo.messages WHERE conversation_id = :'conv';

-- Participant (a trusted backend acting for p2): every page size walks the
-- whole history exactly once, newest first; the last page is short or, when
-- the history divides evenly, an empty page ends the walk.
SELECT page, (hist_walk(:'conv', page, hist_uid('p2@history.test'))).*
  FROM (VALUES (1), (2), (3), (11), (12), (200)) v(page);
-- each page equals the bare query, from every starting point
SELECT count(*) AS cursors, count(*) FILTER (WHERE same) AS equal_to_bare_query
  FROM (SELECT (SELECT array_agg(content) FROM steppergo.message_history(:'conv', b, k, hist_uid('p2@history.test')))
               IS NOT DISTINCT FROM (SELECT array_agg(c) FROM hist_oracle(:'conv', b, k, hist_uid('p2@history.test')) c) AS same
          FROM (SELECT sent_at AS b FROM steppergo.messages WHERE conversation_id = :'conv'
                UNION ALL SELECT NULL UNION ALL SELECT '-infinity' UNION ALL SELECT 'infinity'
                UNION ALL SELECT '2030-06-10 10:05:00.000001+00') bs,
               generate_series(1, 4) k) s;
-- before is exclusive; infinity is the same as NULL; -infinity is empty
SELECT string_agg(content, ',') AS before_m04
  FROM steppergo.message_history(:'conv', (SELECT sent_at FROM steppergo.messages WHERE content = 'm04'), 10,
                                 hist_uid('p2@history.test'));
SELECT (SELECT string_agg(content, ',') FROM steppergo.message_history(:'conv', 'infinity', 3, hist_uid('p2@history.test')))
       AS before_infinity,
       (SELECT count(*) FROM steppergo.message_history(:'conv', '-infinity', 3, hist_uid('p2@history.test')))
       AS before_minus_infinity;
-- the same columns, types and values as the table's row
SELECT count(*) AS rows_equal_to_table
  FROM steppergo.message_history(:'conv', NULL, 200, hist_uid('p2@history.test')) h
  JOIN steppergo.messages m ON m.id = h.id
 WHERE (h.sender_id, h.type, h.content, h.metadata, h.status, h.sent_at, h.delivered_at, h.read_at, h.edited_at,
        h.is_reported, h.is_hidden)
       IS NOT DISTINCT FROM
       (m.sender_id, m.type, m.content, m.metadata, m.status, m.sent_at, m.delivered_at, m.read_at, m.edited_at,
        m.is_reported, m.is_hidden);
SELECT pg_get_function_result('steppergo.message_history'::regproc) AS result_type;
-- its columns: those of messages, in this order and of these types
SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum) AS result_columns
  FROM pg_attribute a WHERE a.attrelid = 'steppergo.message_history_row'::regclass AND a.attnum > 0;

-- Hidden messages: never returned to participants, and they take no place
-- in a page (a page of 3 still has 3 rows); moderators see them, flagged.
UPDATE steppergo.messages SET is_hidden = true, hidden_at = now()
 WHERE conversation_id = :'conv' AND content IN ('m09', 'm10', 'm03');
SELECT page, (hist_walk(:'conv', page, hist_uid('p2@history.test'))).*
  FROM (VALUES (1), (3), (200)) v(page);
SELECT string_agg(content || CASE WHEN is_hidden THEN '(hidden)' ELSE '' END, ',') AS moderator_page
  FROM steppergo.message_history(:'conv', NULL, 4);
SELECT (hist_walk(:'conv', 4, NULL)).* AS moderator_walk;

-- A participant who left reads up to their leaving, inclusive: a message at
-- exactly left_at is theirs, one a microsecond later is not.
UPDATE steppergo.conversation_participants
   SET left_at = (SELECT sent_at FROM steppergo.messages WHERE content = 'm06')
 WHERE conversation_id = :'conv' AND user_id = hist_uid('p1@history.test');
SELECT (SELECT sent_at FROM steppergo.messages WHERE content = 'm06')
     - (SELECT sent_at FROM steppergo.messages WHERE content = 'm05') AS m06_after_m05;
SELECT page, (hist_walk(:'conv', page, hist_uid('p1@history.test'))).*
  FROM (VALUES (1), (2), (200)) v(page);
-- a cursor past the leaving changes nothing
SELECT string_agg(content, ',') AS left_reader_from_the_top
  FROM steppergo.message_history(:'conv', 'infinity', 3, hist_uid('p1@history.test'));
SELECT string_agg(content, ',') AS left_reader_below_m05
  FROM steppergo.message_history(:'conv', (SELECT sent_at FROM steppergo.messages WHERE content = 'm05'), 3,
                                 hist_uid('p1@history.test'));
-- back in: everything visible again
UPDATE steppergo.conversation_participants SET left_at = NULL
 WHERE conversation_id = :'conv' AND user_id = hist_uid('p1@history.test');
SELECT (hist_walk(:'conv', 200, hist_uid('p1@history.test'))).contents AS rejoined;

-- Refusals (SQLSTATEs of the contract) and bad arguments
SELECT hist_try(format('SELECT * FROM steppergo.message_history(%L, NULL, 50, %L)', :'conv', hist_uid('out@history.test')))
       AS non_participant;
SELECT hist_try(format('SELECT * FROM steppergo.message_history(%L, NULL, 50, %L)', '00000000-0000-7000-8000-000000000000',
                       hist_uid('out@history.test'))) AS unknown_conversation;
SELECT hist_try(format('SELECT * FROM steppergo.message_history(%L)', '00000000-0000-7000-8000-000000000000'))
       AS unknown_conversation_moderator;
SELECT hist_try('SELECT * FROM steppergo.message_history(NULL)') AS null_conversation;
SELECT hist_try(format('SELECT * FROM steppergo.message_history(%L, NULL, NULL)', :'conv')) AS null_page_size;
SELECT hist_try(format('SELECT * FROM steppergo.message_history(%L, NULL, -1)', :'conv')) AS negative_page_size;
SELECT hist_try(format('SELECT * FROM steppergo.message_history(%L, NULL, 0)', :'conv')) AS zero_page_size;
SELECT hist_try(format('SELECT * FROM steppergo.message_history(%L, NULL, 201)', :'conv')) AS page_size_201;
SELECT hist_try(format('SELECT * FROM steppergo.message_history(%L, NULL, 2147483647)', :'conv')) AS page_size_max_int;
SELECT hist_try(format('SELECT * FROM steppergo.message_history(%L, NULL, 200)', :'conv')) AS page_size_200;
SELECT hist_try(format('SELECT * FROM steppergo.message_history(%L, NULL, 1, %L)', :'conv', hist_uid('p2@history.test')))
       AS page_size_1;
-- a participant in an empty conversation gets an empty page, not a refusal
INSERT INTO steppergo.trips (title, organizer_id, departure_time, origin_name, origin_lat, origin_lng,
                             dest_name, dest_lat, dest_lng, total_seats)
VALUES ('History: quiet trip', hist_uid('org@history.test'), '2030-07-02 03:00+00', 'Almaty', 43.238, 76.889,
        'Issyk', 43.256, 77.481, 3);
SELECT hist_try(format('SELECT * FROM steppergo.message_history(%L, NULL, 50, %L)',
                       c.id, hist_uid('org@history.test'))) AS empty_conversation,
       hist_try(format('SELECT * FROM steppergo.message_history(%L, NULL, 50, %L)',
                       c.id, hist_uid('p2@history.test'))) AS empty_conversation_outsider
  FROM steppergo.conversations c JOIN steppergo.trips t ON t.id = c.trip_id WHERE t.title = 'History: quiet trip';

-- Through an API role with claims, as PostgREST calls it
BEGIN;
SET LOCAL ROLE history_api;
SELECT hist_act_as('p2@history.test') AS acting;
SELECT string_agg(content, ',') AS own_page FROM steppergo.message_history(:'conv', NULL, 3);
SELECT string_agg(content, ',') AS own_page_named FROM steppergo.message_history(:'conv', NULL, 3, hist_uid('p2@history.test'));
SELECT hist_try(format('SELECT * FROM steppergo.message_history(%L, NULL, 3, %L)', :'conv', hist_uid('p1@history.test')))
       AS for_another_user;
SELECT hist_act_as('out@history.test') AS acting;
SELECT hist_try(format('SELECT * FROM steppergo.message_history(%L)', :'conv')) AS outsider;
SELECT hist_act_as('admin@history.test') AS acting;
SELECT string_agg(content || CASE WHEN is_hidden THEN '(hidden)' ELSE '' END, ',') AS admin_page
  FROM steppergo.message_history(:'conv', NULL, 3);
SELECT string_agg(content, ',') AS admin_acting_for_p2 FROM steppergo.message_history(:'conv', NULL, 3, hist_uid('p2@history.test'));
SELECT set_config('request.jwt.claims', '{"role": "anon"}', true) IS NOT NULL AS anonymous;
SELECT hist_try(format('SELECT * FROM steppergo.message_history(%L)', :'conv')) AS anonymous_caller;
SELECT set_config('request.jwt.claims', '{"sub": "not-a-uuid"}', true) IS NOT NULL AS malformed;
SELECT hist_try(format('SELECT * FROM steppergo.message_history(%L)', :'conv')) AS malformed_token;
ROLLBACK;

-- The caller's search_path plays no part: look-alike tables, first in the path
CREATE SCHEMA hist_decoy;
CREATE TABLE hist_decoy.messages (LIKE steppergo.messages INCLUDING DEFAULTS);
CREATE TABLE hist_decoy.conversation_participants (LIKE steppergo.conversation_participants INCLUDING DEFAULTS);
INSERT INTO hist_decoy.conversation_participants (conversation_id, user_id) VALUES (:'conv', hist_uid('out@history.test'));
INSERT INTO hist_decoy.messages (conversation_id, content, sent_at) VALUES (:'conv', 'decoy', 'infinity');
BEGIN;
SET LOCAL search_path = hist_decoy, pg_catalog, public;
SELECT string_agg(content, ',') AS page_with_decoys
  FROM steppergo.message_history(:'conv', NULL, 3, public.hist_uid('p2@history.test'));
SELECT public.hist_try(format('SELECT * FROM steppergo.message_history(%L, NULL, 3, %L)', :'conv',
                              public.hist_uid('out@history.test'))) AS decoy_membership;
ROLLBACK;
DROP SCHEMA hist_decoy CASCADE;

-- The backend keeps the relations' OIDs: DDL on them is seen at once.
SELECT string_agg(content, ',') AS before_reindex FROM steppergo.message_history(:'conv', NULL, 3, hist_uid('p2@history.test'));
-- a new index (new OID) replaces messages_conversation_sent_idx
REINDEX INDEX CONCURRENTLY steppergo.messages_conversation_sent_idx;
SELECT string_agg(content, ',') AS after_reindex FROM steppergo.message_history(:'conv', NULL, 3, hist_uid('p2@history.test'));
REINDEX TABLE CONCURRENTLY steppergo.conversation_participants;
SELECT string_agg(content, ',') AS after_reindex_participants
  FROM steppergo.message_history(:'conv', NULL, 3, hist_uid('p2@history.test'));
-- without its index the function says so, and finds it again after the rollback
BEGIN;
ALTER INDEX steppergo.messages_conversation_sent_idx RENAME TO hist_renamed_idx;
SELECT hist_try(format('SELECT * FROM steppergo.message_history(%L, NULL, 3, %L)', :'conv', hist_uid('p2@history.test')))
       AS without_index;
ROLLBACK;
SELECT string_agg(content, ',') AS after_rollback FROM steppergo.message_history(:'conv', NULL, 3, hist_uid('p2@history.test'));
-- an index of another shape under the name is refused, not misread
BEGIN;
ALTER INDEX steppergo.messages_conversation_sent_idx RENAME TO hist_renamed_idx;
CREATE INDEX messages_conversation_sent_idx ON steppergo.messages (conversation_id, sent_at DESC);
SELECT hist_try(format('SELECT * FROM steppergo.message_history(%L, NULL, 3, %L)', :'conv', hist_uid('p2@history.test')))
       AS descending_index;
ROLLBACK;
-- a column added to messages moves nothing
BEGIN;
ALTER TABLE steppergo.messages ADD COLUMN hist_extra integer DEFAULT 7;
SELECT string_agg(content, ',') AS with_extra_column
  FROM steppergo.message_history(:'conv', NULL, 3, hist_uid('p2@history.test'));
ROLLBACK;
SELECT string_agg(content, ',') AS finally FROM steppergo.message_history(:'conv', NULL, 3, hist_uid('p2@history.test'));

-- clean up
DELETE FROM steppergo.bookings WHERE trip_id IN (SELECT id FROM steppergo.trips WHERE title LIKE 'History: %');
DELETE FROM steppergo.trips WHERE title LIKE 'History: %';
DELETE FROM steppergo.users WHERE email LIKE '%@history.test';
DROP FUNCTION hist_walk(uuid, integer, uuid), hist_oracle(uuid, timestamptz, integer, uuid), hist_try(text),
              hist_act_as(text), hist_uid(text);
