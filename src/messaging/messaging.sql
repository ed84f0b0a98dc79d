-- ===========================================================================
-- messaging (release 0.2): trip chat.  One conversation per trip, kept in
-- step with trips and bookings by triggers; messages with per-type
-- validation; receipts; exact unread counts; moderation; NOTIFY and the
-- notifications outbox.  See src/messaging/README.md.
--
-- Concurrency rule (why the counters are exact): every writer that changes
-- what a participant has unread -- a new message, a hide, a join or leave,
-- a read -- first locks the conversation row (senders FOR NO KEY UPDATE,
-- readers FOR SHARE), then reads with a fresh snapshot.  Senders of one
-- conversation are thereby serialised and send_message hands out sent_at
-- under that lock, so sent_at order is commit order within a conversation,
-- and a reader never misses a message committed before it, nor counts one
-- committed after it.
-- ===========================================================================

-- ---------------------------------------------------------------------------
-- Internal helpers
-- ---------------------------------------------------------------------------
CREATE FUNCTION conversation_channel(conversation_id uuid) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  SET search_path FROM CURRENT
  RETURN 'steppergo_chat_' || replace(conversation_id::text, '-', '');
COMMENT ON FUNCTION conversation_channel(uuid) IS
  'The LISTEN/NOTIFY channel of a conversation: steppergo_chat_ followed by the conversation id''s 32 hex digits (a plain identifier, LISTEN needs no quotes). Every new, edited, hidden, delivered or read message is announced there with a small JSON payload (README).';
SELECT api_expose('conversation_channel(uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION chat_actor(user_id uuid) RETURNS uuid
  LANGUAGE plpgsql STABLE
  SET search_path FROM CURRENT
AS $$
DECLARE
  me uuid;
BEGIN
  IF user_id IS NULL THEN
    me := current_user_id();
    IF me IS NULL THEN
      IF is_trusted_caller() THEN
        RAISE EXCEPTION USING ERRCODE = '22004', MESSAGE = 'user_id must not be null',
          HINT = 'A caller without a token names the user it acts for.';
      END IF;
      RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'authentication required';
    END IF;
    RETURN me;
  END IF;
  PERFORM assert_acting_as(user_id);
  RETURN user_id;
END
$$;
COMMENT ON FUNCTION chat_actor(uuid) IS
  'Internal: the user a chat call acts for: the given user (the caller must be that user, an ADMIN or a trusted caller; else 42501), or the caller''s own user when NULL (22004 for a trusted caller without one, PT401 when anonymous).';

CREATE FUNCTION chat_is_entitled(trip_id uuid, user_id uuid) RETURNS boolean
  LANGUAGE sql STABLE
  SET search_path FROM CURRENT
  RETURN EXISTS (SELECT 1 FROM trips t WHERE t.id = chat_is_entitled.trip_id
                    AND t.organizer_id = chat_is_entitled.user_id)
      OR EXISTS (SELECT 1 FROM trips t JOIN drivers d ON d.id = t.driver_id
                  WHERE t.id = chat_is_entitled.trip_id AND d.user_id = chat_is_entitled.user_id)
      OR EXISTS (SELECT 1 FROM bookings b WHERE b.trip_id = chat_is_entitled.trip_id
                    AND b.user_id = chat_is_entitled.user_id AND b.status IN ('CONFIRMED', 'COMPLETED'));
COMMENT ON FUNCTION chat_is_entitled(uuid, uuid) IS
  'Internal: whether a user belongs in a trip''s conversation: the organizer, the assigned driver''s user, or a passenger with a CONFIRMED or COMPLETED booking.';

CREATE FUNCTION chat_ensure_conversation(trip_id uuid) RETURNS uuid
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  cid uuid;
BEGIN
  SELECT c.id INTO cid FROM conversations c WHERE c.trip_id = chat_ensure_conversation.trip_id;
  IF cid IS NULL THEN
    INSERT INTO conversations (trip_id) VALUES (chat_ensure_conversation.trip_id)
    ON CONFLICT ON CONSTRAINT conversations_trip_id_key DO NOTHING
    RETURNING id INTO cid;
    IF cid IS NULL THEN
      SELECT c.id INTO cid FROM conversations c WHERE c.trip_id = chat_ensure_conversation.trip_id;
    END IF;
  END IF;
  RETURN cid;
END
$$;
COMMENT ON FUNCTION chat_ensure_conversation(uuid) IS
  'Internal: the conversation of a trip, created when missing (one per trip).';

CREATE FUNCTION chat_unread_recount(conversation_id uuid, user_id uuid) RETURNS integer
  LANGUAGE sql STABLE
  SET search_path FROM CURRENT
  RETURN (SELECT count(*)::integer
            FROM conversation_participants p
            JOIN messages m ON m.conversation_id = p.conversation_id
           WHERE p.conversation_id = chat_unread_recount.conversation_id
             AND p.user_id = chat_unread_recount.user_id
             AND NOT m.is_hidden
             AND m.sender_id IS DISTINCT FROM p.user_id
             AND m.sent_at >= p.joined_at
             AND (p.last_read_at IS NULL OR m.sent_at > p.last_read_at)
             AND (p.left_at IS NULL OR m.sent_at <= p.left_at));
COMMENT ON FUNCTION chat_unread_recount(uuid, uuid) IS
  'The definition of unread_count, counted from messages: visible messages of others (SYSTEM included) sent since the participant (last) joined, after their last_read_at, and not after they left. conversation_participants.unread_count always equals it.';

CREATE FUNCTION chat_refresh_conversation(conversation_id uuid) RETURNS void
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
BEGIN
  -- the caller holds the conversation's row lock; a fresh snapshot follows
  UPDATE conversations c
     SET last_message_at = (SELECT max(m.sent_at) FROM messages m
                             WHERE m.conversation_id = c.id AND NOT m.is_hidden)
   WHERE c.id = chat_refresh_conversation.conversation_id;
  UPDATE conversation_participants p
     SET unread_count = chat_unread_recount(p.conversation_id, p.user_id)
   WHERE p.conversation_id = chat_refresh_conversation.conversation_id
     AND p.unread_count IS DISTINCT FROM chat_unread_recount(p.conversation_id, p.user_id);
END
$$;
COMMENT ON FUNCTION chat_refresh_conversation(uuid) IS
  'Internal: recomputes a conversation''s last_message_at and every participant''s unread_count from its messages (after a hide, unhide or delete). The caller holds the conversation''s row lock.';

CREATE FUNCTION refresh_conversation_counts() RETURNS integer
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  n integer;
BEGIN
  LOCK TABLE conversations IN SHARE ROW EXCLUSIVE MODE;
  UPDATE conversations c
     SET last_message_at = x.last_at
    FROM (SELECT c2.id, (SELECT max(m.sent_at) FROM messages m
                          WHERE m.conversation_id = c2.id AND NOT m.is_hidden) AS last_at
            FROM conversations c2) x
   WHERE x.id = c.id AND c.last_message_at IS DISTINCT FROM x.last_at;
  UPDATE conversation_participants p
     SET unread_count = x.n
    FROM (SELECT p2.id, count(m.id)::integer AS n
            FROM conversation_participants p2
            LEFT JOIN messages m ON m.conversation_id = p2.conversation_id
                  AND NOT m.is_hidden
                  AND m.sender_id IS DISTINCT FROM p2.user_id
                  AND m.sent_at >= p2.joined_at
                  AND (p2.last_read_at IS NULL OR m.sent_at > p2.last_read_at)
                  AND (p2.left_at IS NULL OR m.sent_at <= p2.left_at)
           GROUP BY p2.id) x
   WHERE x.id = p.id AND p.unread_count IS DISTINCT FROM x.n;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;
COMMENT ON FUNCTION refresh_conversation_counts() IS
  'Recomputes, set-based, every conversation''s last_message_at and every participant''s unread_count from the messages; returns the participant rows corrected. For DBAs after a bulk import that bypassed the triggers (session_replication_role = replica); otherwise the counters are always exact and it corrects nothing.';

-- The one way messages get their sent_at: under the conversation's lock,
-- strictly after every earlier message of the conversation.
CREATE FUNCTION chat_post(conversation_id uuid, sender_id uuid, type message_type, content text, metadata jsonb)
  RETURNS messages
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  last_at timestamptz;
  ts timestamptz;
  msg messages;
BEGIN
  PERFORM 1 FROM conversations c WHERE c.id = chat_post.conversation_id FOR NO KEY UPDATE;
  SELECT max(m.sent_at) INTO last_at FROM messages m WHERE m.conversation_id = chat_post.conversation_id;
  ts := pg_catalog.clock_timestamp();
  IF last_at IS NOT NULL AND ts <= last_at THEN
    ts := last_at + interval '1 microsecond';
  END IF;
  INSERT INTO messages (conversation_id, sender_id, content, type, metadata, status, sent_at)
  VALUES (chat_post.conversation_id, chat_post.sender_id, chat_post.content, chat_post.type,
          chat_post.metadata, 'SENT', ts)
  RETURNING * INTO msg;
  RETURN msg;
END
$$;
COMMENT ON FUNCTION chat_post(uuid, uuid, message_type, text, jsonb) IS
  'Internal: writes one message with sent_at handed out under the conversation''s row lock, strictly after the conversation''s newest message (so sent_at order is commit order and unique per conversation).';

CREATE FUNCTION chat_post_system(trip_id uuid, content text, metadata jsonb) RETURNS uuid
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  msg messages;
BEGIN
  msg := chat_post(chat_ensure_conversation(trip_id), NULL, 'SYSTEM', left(content, 4000), metadata);
  RETURN msg.id;
END
$$;
COMMENT ON FUNCTION chat_post_system(uuid, text, jsonb) IS
  'Internal: posts a SYSTEM message (no sender) to a trip''s conversation; metadata carries {"event": ...}.';

CREATE FUNCTION chat_sync_member(trip_id uuid, user_id uuid) RETURNS void
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  cid uuid;
  p conversation_participants;
  now_ts timestamptz;
BEGIN
  IF user_id IS NULL THEN
    RETURN;
  END IF;
  cid := chat_ensure_conversation(trip_id);
  PERFORM 1 FROM conversations c WHERE c.id = cid FOR NO KEY UPDATE;
  SELECT * INTO p FROM conversation_participants cp
   WHERE cp.conversation_id = cid AND cp.user_id = chat_sync_member.user_id FOR UPDATE;
  now_ts := pg_catalog.clock_timestamp();
  IF chat_is_entitled(trip_id, user_id) THEN
    IF p.id IS NULL THEN
      INSERT INTO conversation_participants (conversation_id, user_id, joined_at, unread_count)
      VALUES (cid, chat_sync_member.user_id, now_ts, 0);
      UPDATE conversation_participants cp SET unread_count = chat_unread_recount(cid, chat_sync_member.user_id)
       WHERE cp.conversation_id = cid AND cp.user_id = chat_sync_member.user_id;
    ELSIF p.left_at IS NOT NULL THEN
      -- rejoin: a new membership; what was said meanwhile is history, not unread
      UPDATE conversation_participants cp SET left_at = NULL, joined_at = now_ts WHERE cp.id = p.id;
      UPDATE conversation_participants cp SET unread_count = chat_unread_recount(cid, chat_sync_member.user_id)
       WHERE cp.id = p.id;
    END IF;
  ELSIF p.id IS NOT NULL AND p.left_at IS NULL THEN
    UPDATE conversation_participants cp SET left_at = greatest(now_ts, cp.joined_at) WHERE cp.id = p.id;
    UPDATE conversation_participants cp SET unread_count = chat_unread_recount(cid, chat_sync_member.user_id)
     WHERE cp.id = p.id;
  END IF;
END
$$;
COMMENT ON FUNCTION chat_sync_member(uuid, uuid) IS
  'Internal: makes a user''s participation in a trip''s conversation match chat_is_entitled: joins (or rejoins, clearing left_at and restarting joined_at) or leaves (left_at). Idempotent.';

CREATE FUNCTION chat_participant(conversation_id uuid, user_id uuid) RETURNS conversation_participants
  LANGUAGE plpgsql STABLE
  SET search_path FROM CURRENT
AS $$
DECLARE
  p conversation_participants;
BEGIN
  SELECT * INTO p FROM conversation_participants cp
   WHERE cp.conversation_id = chat_participant.conversation_id AND cp.user_id = chat_participant.user_id;
  IF p.id IS NULL THEN
    IF NOT EXISTS (SELECT 1 FROM conversations c WHERE c.id = chat_participant.conversation_id) THEN
      RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'conversation not found',
        DETAIL = format('no conversation with id %s', chat_participant.conversation_id);
    END IF;
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'not a participant of this conversation';
  END IF;
  RETURN p;
END
$$;
COMMENT ON FUNCTION chat_participant(uuid, uuid) IS
  'Internal: the participant row of a user in a conversation; PT404 for an unknown conversation, 42501 when the user never took part.';

CREATE FUNCTION chat_is_moderator() RETURNS boolean
  LANGUAGE sql STABLE
  SET search_path FROM CURRENT
  RETURN is_trusted_caller() OR current_app_role() IS NOT DISTINCT FROM 'ADMIN';
COMMENT ON FUNCTION chat_is_moderator() IS
  'Internal: true for an ADMIN or a trusted caller, who may read any conversation including hidden messages.';

-- Per-type validation; returns the metadata to store.
CREATE FUNCTION chat_validate(type message_type, content text, metadata jsonb, sender_id uuid)
  RETURNS jsonb
  LANGUAGE plpgsql STABLE
  SET search_path FROM CURRENT
AS $$
DECLARE
  k text;
  f file_uploads;
  fid uuid;
  out jsonb;
BEGIN
  IF metadata IS NULL THEN
    metadata := '{}';
  END IF;
  IF jsonb_typeof(metadata) <> 'object' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'metadata must be a JSON object';
  END IF;
  IF octet_length(metadata::text) > 2000 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'metadata is longer than 2000 bytes';
  END IF;
  IF type = 'TEXT' THEN
    IF content IS NULL OR btrim(content, E' \t\r\n') = '' THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'a text message must not be empty';
    END IF;
    IF length(content) > 4000 THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'a text message is at most 4000 characters',
        DETAIL = format('the message has %s characters', length(content));
    END IF;
    IF metadata <> '{}' THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'a text message takes no metadata';
    END IF;
    RETURN '{}';
  END IF;
  IF length(content) > 1000 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'a caption is at most 1000 characters',
      DETAIL = format('the caption has %s characters', length(content));
  END IF;
  IF type = 'LOCATION' THEN
    FOR k IN SELECT jsonb_object_keys(metadata) LOOP
      IF k NOT IN ('lat', 'lng', 'accuracy', 'name') THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'location metadata has an unknown key',
          DETAIL = format('%s; known keys: lat, lng, accuracy, name', left(k, 60));
      END IF;
    END LOOP;
    IF jsonb_typeof(metadata -> 'lat') IS DISTINCT FROM 'number'
       OR NOT is_valid_lat((metadata ->> 'lat')::float8) THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'location lat must be a number in -90..90';
    END IF;
    IF jsonb_typeof(metadata -> 'lng') IS DISTINCT FROM 'number'
       OR NOT is_valid_lng((metadata ->> 'lng')::float8) THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'location lng must be a number in -180..180';
    END IF;
    IF metadata ? 'accuracy' AND (jsonb_typeof(metadata -> 'accuracy') <> 'number'
                                  OR (metadata ->> 'accuracy')::float8 NOT BETWEEN 0 AND 100000) THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'location accuracy must be a number of metres in 0..100000';
    END IF;
    IF metadata ? 'name' AND (jsonb_typeof(metadata -> 'name') <> 'string'
                              OR length(metadata ->> 'name') > 200) THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'location name must be a text of at most 200 characters';
    END IF;
    RETURN metadata;
  END IF;
  IF type IN ('IMAGE', 'FILE') THEN
    FOR k IN SELECT jsonb_object_keys(metadata) LOOP
      IF k <> 'file_upload_id' THEN
        RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'attachment metadata has an unknown key',
          DETAIL = format('%s; the only key is file_upload_id', left(k, 60));
      END IF;
    END LOOP;
    IF jsonb_typeof(metadata -> 'file_upload_id') IS DISTINCT FROM 'string'
       OR (metadata ->> 'file_upload_id') !~ '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$' THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'an attachment needs metadata.file_upload_id, the id of an upload';
    END IF;
    fid := (metadata ->> 'file_upload_id')::uuid;
    SELECT * INTO f FROM file_uploads u WHERE u.id = fid AND u.deleted_at IS NULL;
    IF f.id IS NULL THEN
      RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'file upload not found',
        DETAIL = format('no upload with id %s (or it was deleted)', fid);
    END IF;
    IF f.user_id IS DISTINCT FROM sender_id THEN
      RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'the upload belongs to another user';
    END IF;
    IF type = 'IMAGE' AND f.mime_type NOT LIKE 'image/%' THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'an image message needs an image upload',
        DETAIL = format('the upload is %s', f.mime_type);
    END IF;
    out := jsonb_build_object('file_upload_id', f.id, 'mime_type', f.mime_type, 'size_bytes', f.size_bytes,
                              'name', f.original_name);
    RETURN out;
  END IF;
  RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'SYSTEM messages are written by the platform only';
END
$$;
COMMENT ON FUNCTION chat_validate(message_type, text, jsonb, uuid) IS
  'Internal: per-type validation of a message (22023 naming the problem): TEXT 1..4000 characters, no metadata; LOCATION {"lat", "lng", "accuracy"?, "name"?} with valid coordinates; IMAGE and FILE {"file_upload_id"} of a non-deleted upload of the sender (IMAGE: an image/* upload; PT404 unknown, 42501 another user''s), caption at most 1000 characters; SYSTEM refused (42501). Returns the metadata to store (attachments get mime_type, size_bytes and name of the upload).';

CREATE FUNCTION chat_triggers_active() RETURNS boolean
  LANGUAGE sql STABLE
  SET search_path FROM CURRENT
  RETURN pg_catalog.current_setting('check_function_bodies') <> 'off';
COMMENT ON FUNCTION chat_triggers_active() IS
  'Internal: false while pg_restore (or a pg_dump script) loads data: those always run with check_function_bodies = off, and the dump already holds the conversations, participants, messages and notifications the messaging triggers once made, so the triggers stand aside instead of making them twice.';

-- ---------------------------------------------------------------------------
-- Triggers on messages: unique sent_at, counters, NOTIFY, outbox
-- ---------------------------------------------------------------------------
CREATE FUNCTION messages_sent_at_unique() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF NOT chat_triggers_active() THEN
    RETURN NEW;
  END IF;
  WHILE EXISTS (SELECT 1 FROM messages m WHERE m.conversation_id = NEW.conversation_id AND m.sent_at = NEW.sent_at) LOOP
    NEW.sent_at := NEW.sent_at + interval '1 microsecond';
  END LOOP;
  RETURN NEW;
END
$$;
COMMENT ON FUNCTION messages_sent_at_unique() IS
  'Trigger function: moves the sent_at of a directly inserted message on by a microsecond while it collides with another message of the conversation (sent_at is the history keyset). send_message never collides.';
CREATE TRIGGER messages_sent_at_unique BEFORE INSERT ON messages
  FOR EACH ROW EXECUTE FUNCTION messages_sent_at_unique();
COMMENT ON TRIGGER messages_sent_at_unique ON messages IS 'Keeps sent_at unique per conversation for direct inserts.';

CREATE FUNCTION messages_after_insert() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  timeout interval := coalesce(pg_catalog.current_setting('steppergo.chat_presence_timeout', true), '60')::interval;
  trip trips;
  sender_name text;
BEGIN
  IF NOT chat_triggers_active() THEN
    RETURN NULL;
  END IF;
  IF NEW.is_hidden THEN
    RETURN NULL;
  END IF;
  -- takes the conversation's row lock (senders serialise here)
  UPDATE conversations c
     SET last_message_at = greatest(coalesce(c.last_message_at, '-infinity'), NEW.sent_at)
   WHERE c.id = NEW.conversation_id;
  UPDATE conversation_participants p
     SET unread_count = p.unread_count + 1
   WHERE p.conversation_id = NEW.conversation_id
     AND p.user_id IS DISTINCT FROM NEW.sender_id
     AND p.left_at IS NULL
     AND p.joined_at <= NEW.sent_at
     AND (p.last_read_at IS NULL OR p.last_read_at < NEW.sent_at);
  PERFORM pg_catalog.pg_notify(conversation_channel(NEW.conversation_id),
    json_build_object('event', 'message', 'conversation_id', NEW.conversation_id, 'message_id', NEW.id,
                      'type', NEW.type, 'sender_id', NEW.sender_id, 'sent_at', NEW.sent_at)::text);
  -- the outbox: participants with notifications on who are not connected
  IF EXISTS (SELECT 1 FROM conversation_participants p
              WHERE p.conversation_id = NEW.conversation_id AND p.left_at IS NULL
                AND p.notifications_enabled AND p.user_id IS DISTINCT FROM NEW.sender_id
                AND NOT EXISTS (SELECT 1 FROM chat_presence s
                                 WHERE s.user_id = p.user_id AND s.last_seen_at > pg_catalog.now() - timeout)) THEN
    SELECT t.* INTO trip FROM trips t JOIN conversations c ON c.trip_id = t.id WHERE c.id = NEW.conversation_id;
    SELECT u.name INTO sender_name FROM users u WHERE u.id = NEW.sender_id;
    INSERT INTO notifications (user_id, type, channel, recipient, subject, body, status)
    SELECT p.user_id, 'CHAT_MESSAGE', x.channel, x.recipient, left(trip.title, 500),
           CASE NEW.type
             WHEN 'SYSTEM' THEN NEW.content
             WHEN 'TEXT' THEN coalesce(sender_name, 'Someone') || ' sent a message'
             WHEN 'IMAGE' THEN coalesce(sender_name, 'Someone') || ' sent a photo'
             WHEN 'FILE' THEN coalesce(sender_name, 'Someone') || ' sent a file'
             WHEN 'LOCATION' THEN coalesce(sender_name, 'Someone') || ' shared a location'
           END,
           'PENDING'
      FROM conversation_participants p
      JOIN users u ON u.id = p.user_id
      CROSS JOIN LATERAL (
        SELECT CASE WHEN p.notification_channel IN ('SMS', 'WHATSAPP') AND u.phone IS NOT NULL THEN p.notification_channel
                    WHEN p.notification_channel = 'EMAIL' AND u.email IS NOT NULL THEN p.notification_channel
                    ELSE 'PUSH'::delivery_channel END AS channel,
               CASE WHEN p.notification_channel IN ('SMS', 'WHATSAPP') AND u.phone IS NOT NULL THEN u.phone
                    WHEN p.notification_channel = 'EMAIL' AND u.email IS NOT NULL THEN u.email
                    ELSE u.id::text END AS recipient) x
     WHERE p.conversation_id = NEW.conversation_id AND p.left_at IS NULL
       AND p.notifications_enabled AND p.user_id IS DISTINCT FROM NEW.sender_id
       AND NOT EXISTS (SELECT 1 FROM chat_presence s
                        WHERE s.user_id = p.user_id AND s.last_seen_at > pg_catalog.now() - timeout);
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION messages_after_insert() IS
  'Trigger function: for a new visible message, under the conversation''s row lock, advances last_message_at, adds one to the unread_count of every active participant but the sender, announces it on the conversation''s NOTIFY channel, and queues a CHAT_MESSAGE notification for each participant with notifications on who is not connected (chat_presence).';
CREATE TRIGGER messages_after_insert AFTER INSERT ON messages
  FOR EACH ROW EXECUTE FUNCTION messages_after_insert();
COMMENT ON TRIGGER messages_after_insert ON messages IS 'Counters, NOTIFY and outbox for every new message, whoever writes it.';

CREATE FUNCTION messages_after_change() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF NOT chat_triggers_active() THEN
    RETURN NULL;
  END IF;
  IF OLD.is_hidden IS DISTINCT FROM NEW.is_hidden OR OLD.sent_at IS DISTINCT FROM NEW.sent_at
     OR OLD.sender_id IS DISTINCT FROM NEW.sender_id THEN
    PERFORM 1 FROM conversations c WHERE c.id = NEW.conversation_id FOR NO KEY UPDATE;
    PERFORM chat_refresh_conversation(NEW.conversation_id);
  END IF;
  IF OLD.is_hidden IS DISTINCT FROM NEW.is_hidden THEN
    PERFORM pg_catalog.pg_notify(conversation_channel(NEW.conversation_id),
      json_build_object('event', CASE WHEN NEW.is_hidden THEN 'hidden' ELSE 'unhidden' END,
                        'conversation_id', NEW.conversation_id, 'message_id', NEW.id,
                        'type', NEW.type, 'sender_id', NEW.sender_id, 'sent_at', NEW.sent_at)::text);
  ELSIF (OLD.content IS DISTINCT FROM NEW.content OR OLD.metadata IS DISTINCT FROM NEW.metadata) AND NOT NEW.is_hidden THEN
    PERFORM pg_catalog.pg_notify(conversation_channel(NEW.conversation_id),
      json_build_object('event', 'edited', 'conversation_id', NEW.conversation_id, 'message_id', NEW.id,
                        'type', NEW.type, 'sender_id', NEW.sender_id, 'sent_at', NEW.sent_at,
                        'edited_at', NEW.edited_at)::text);
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION messages_after_change() IS
  'Trigger function: after a message is hidden, unhidden, or its sent_at or sender changes, recomputes the conversation''s last_message_at and unread counts under its row lock; announces hides and edits on the NOTIFY channel (never with content).';
CREATE TRIGGER messages_after_change AFTER UPDATE ON messages
  FOR EACH ROW
  WHEN (OLD.is_hidden IS DISTINCT FROM NEW.is_hidden OR OLD.sent_at IS DISTINCT FROM NEW.sent_at
        OR OLD.sender_id IS DISTINCT FROM NEW.sender_id OR OLD.content IS DISTINCT FROM NEW.content
        OR OLD.metadata IS DISTINCT FROM NEW.metadata)
  EXECUTE FUNCTION messages_after_change();
COMMENT ON TRIGGER messages_after_change ON messages IS 'Keeps counters exact and announces hides and edits.';

CREATE FUNCTION messages_after_delete() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  cid uuid;
BEGIN
  IF NOT chat_triggers_active() THEN
    RETURN NULL;
  END IF;
  FOR cid IN SELECT DISTINCT o.conversation_id FROM old_rows o ORDER BY 1 LOOP
    PERFORM 1 FROM conversations c WHERE c.id = cid FOR NO KEY UPDATE;
    IF FOUND THEN
      PERFORM chat_refresh_conversation(cid);
    END IF;
  END LOOP;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION messages_after_delete() IS
  'Trigger function: after messages are deleted, recomputes last_message_at and unread counts of the conversations that still exist.';
CREATE TRIGGER messages_after_delete AFTER DELETE ON messages
  REFERENCING OLD TABLE AS old_rows
  FOR EACH STATEMENT EXECUTE FUNCTION messages_after_delete();
COMMENT ON TRIGGER messages_after_delete ON messages IS 'Keeps counters exact when messages are deleted.';

-- ---------------------------------------------------------------------------
-- Triggers on the other domains' tables: membership and SYSTEM messages
-- ---------------------------------------------------------------------------
CREATE FUNCTION chat_trip_inserted() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF NOT chat_triggers_active() THEN
    RETURN NULL;
  END IF;
  PERFORM chat_ensure_conversation(NEW.id);
  PERFORM chat_sync_member(NEW.id, NEW.organizer_id);
  IF NEW.driver_id IS NOT NULL THEN
    PERFORM chat_sync_member(NEW.id, (SELECT d.user_id FROM drivers d WHERE d.id = NEW.driver_id));
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION chat_trip_inserted() IS
  'Trigger function: a new trip gets its conversation with the organizer (and the driver, if already assigned) as participants.';
CREATE TRIGGER chat_trip_inserted AFTER INSERT ON trips
  FOR EACH ROW EXECUTE FUNCTION chat_trip_inserted();
COMMENT ON TRIGGER chat_trip_inserted ON trips IS 'Messaging: one conversation per trip, created with it.';

CREATE FUNCTION chat_trip_people_changed() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  old_user uuid;
  new_user uuid;
  new_name text;
BEGIN
  IF NOT chat_triggers_active() THEN
    RETURN NULL;
  END IF;
  IF OLD.organizer_id IS DISTINCT FROM NEW.organizer_id THEN
    PERFORM chat_sync_member(NEW.id, OLD.organizer_id);
    PERFORM chat_sync_member(NEW.id, NEW.organizer_id);
  END IF;
  IF OLD.driver_id IS DISTINCT FROM NEW.driver_id THEN
    SELECT d.user_id INTO old_user FROM drivers d WHERE d.id = OLD.driver_id;
    SELECT d.user_id, u.name INTO new_user, new_name FROM drivers d JOIN users u ON u.id = d.user_id
     WHERE d.id = NEW.driver_id;
    IF OLD.driver_id IS NOT NULL THEN
      PERFORM chat_post_system(NEW.id, 'The driver is no longer assigned to this trip',
                               jsonb_build_object('event', 'driver_unassigned', 'driver_id', OLD.driver_id));
      PERFORM chat_sync_member(NEW.id, old_user);
    END IF;
    IF NEW.driver_id IS NOT NULL THEN
      PERFORM chat_sync_member(NEW.id, new_user);
      PERFORM chat_post_system(NEW.id, format('%s is the driver of this trip', coalesce(new_name, 'A driver')),
                               jsonb_build_object('event', 'driver_assigned', 'driver_id', NEW.driver_id));
    END IF;
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION chat_trip_people_changed() IS
  'Trigger function: when a trip''s driver is assigned, changed or cleared (or its organizer changes), the users join or leave the conversation and a SYSTEM message says so.';
CREATE TRIGGER chat_trip_people_changed AFTER UPDATE OF driver_id, organizer_id ON trips
  FOR EACH ROW
  WHEN (OLD.driver_id IS DISTINCT FROM NEW.driver_id OR OLD.organizer_id IS DISTINCT FROM NEW.organizer_id)
  EXECUTE FUNCTION chat_trip_people_changed();
COMMENT ON TRIGGER chat_trip_people_changed ON trips IS 'Messaging: the driver and organizer follow the trip.';

CREATE FUNCTION chat_booking_changed() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  who text;
BEGIN
  IF NOT chat_triggers_active() THEN
    RETURN NULL;
  END IF;
  IF TG_OP = 'UPDATE' AND OLD.user_id IS DISTINCT FROM NEW.user_id THEN
    PERFORM chat_sync_member(OLD.trip_id, OLD.user_id);
  END IF;
  -- the cancellation is told while the passenger is still in, so they see it
  IF TG_OP = 'UPDATE' AND OLD.status IN ('CONFIRMED', 'COMPLETED') AND NEW.status IN ('CANCELLED', 'REFUNDED') THEN
    SELECT u.name INTO who FROM users u WHERE u.id = NEW.user_id;
    PERFORM chat_post_system(NEW.trip_id,
      format('%s cancelled their booking (%s %s)', coalesce(who, 'A passenger'), NEW.seats_booked,
             CASE WHEN NEW.seats_booked = 1 THEN 'seat' ELSE 'seats' END),
      jsonb_build_object('event', 'booking_cancelled', 'booking_id', NEW.id, 'seats', NEW.seats_booked));
  END IF;
  PERFORM chat_sync_member(NEW.trip_id, NEW.user_id);
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION chat_booking_changed() IS
  'Trigger function: a passenger joins the trip''s conversation when their booking becomes CONFIRMED (or is written COMPLETED), rejoining if they had left, and leaves when it is CANCELLED or REFUNDED unless another live booking, the organizer''s or the driver''s role keeps them in; a cancelled confirmed booking is announced by a SYSTEM message.';
CREATE TRIGGER chat_booking_inserted AFTER INSERT ON bookings
  FOR EACH ROW WHEN (NEW.status IN ('CONFIRMED', 'COMPLETED'))
  EXECUTE FUNCTION chat_booking_changed();
COMMENT ON TRIGGER chat_booking_inserted ON bookings IS 'Messaging: a passenger with a confirmed booking joins the chat.';
CREATE TRIGGER chat_booking_changed AFTER UPDATE OF status, user_id ON bookings
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.user_id IS DISTINCT FROM NEW.user_id)
  EXECUTE FUNCTION chat_booking_changed();
COMMENT ON TRIGGER chat_booking_changed ON bookings IS 'Messaging: passengers join and leave with their bookings.';

CREATE FUNCTION chat_trip_status_text(to_status trip_status, reason text) RETURNS text
  LANGUAGE sql IMMUTABLE
  SET search_path FROM CURRENT
  RETURN CASE to_status
    WHEN 'DRAFT' THEN 'The trip is back in draft'
    WHEN 'PUBLISHED' THEN 'The trip is open for booking'
    WHEN 'FULL' THEN 'All seats are booked'
    WHEN 'IN_PROGRESS' THEN 'The trip has started'
    WHEN 'DEPARTED' THEN 'The vehicle has left the starting point'
    WHEN 'EN_ROUTE' THEN 'The driver is on the way'
    WHEN 'DRIVER_ARRIVED' THEN 'The driver has arrived at the pickup point'
    WHEN 'PASSENGERS_BOARDED' THEN 'All passengers are on board'
    WHEN 'IN_TRANSIT' THEN 'On the way to the destination'
    WHEN 'DELAYED' THEN 'The trip is running late'
    WHEN 'ARRIVED' THEN 'Arrived at the destination'
    WHEN 'COMPLETED' THEN 'The trip is completed'
    WHEN 'CANCELLED' THEN 'The trip was cancelled' || coalesce(': ' || left(reason, 500), '')
    ELSE 'The trip is now ' || to_status::text
  END;
COMMENT ON FUNCTION chat_trip_status_text(trip_status, text) IS
  'Internal: the text of the SYSTEM message for a trip status change.';

CREATE FUNCTION chat_trip_status_changed() RETURNS trigger
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF NOT chat_triggers_active() THEN
    RETURN NULL;
  END IF;
  -- offers come and go many times before a driver accepts; the assignment
  -- itself is announced by chat_trip_people_changed
  IF NEW.to_status = 'OFFERED' OR NEW.from_status = 'OFFERED'
     OR NEW.from_status IS NOT DISTINCT FROM NEW.to_status THEN
    RETURN NULL;
  END IF;
  PERFORM chat_post_system(NEW.trip_id, chat_trip_status_text(NEW.to_status, NEW.reason),
    jsonb_build_object('event', 'trip_status', 'from', NEW.from_status, 'to', NEW.to_status,
                       'history_id', NEW.id));
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION chat_trip_status_changed() IS
  'Trigger function: every trip status change recorded in trip_status_history becomes a SYSTEM message in the trip''s conversation (moves into or out of OFFERED excepted: dispatch churn, the driver assignment is announced on its own).';
CREATE TRIGGER chat_trip_status_changed AFTER INSERT ON trip_status_history
  FOR EACH ROW EXECUTE FUNCTION chat_trip_status_changed();
COMMENT ON TRIGGER chat_trip_status_changed ON trip_status_history IS 'Messaging: trip status changes are told in the chat.';

-- ---------------------------------------------------------------------------
-- Public API
-- ---------------------------------------------------------------------------
CREATE FUNCTION trip_conversation(trip_id uuid, user_id uuid DEFAULT NULL) RETURNS uuid
  LANGUAGE plpgsql STABLE SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  cid uuid;
  me uuid;
BEGIN
  PERFORM require_arg(trip_id, 'trip_id');
  SELECT c.id INTO cid FROM conversations c WHERE c.trip_id = trip_conversation.trip_id;
  IF cid IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'trip not found',
      DETAIL = format('no trip (conversation) with id %s', trip_id);
  END IF;
  IF user_id IS NULL AND chat_is_moderator() THEN
    RETURN cid;
  END IF;
  me := chat_actor(user_id);
  PERFORM chat_participant(cid, me);
  RETURN cid;
END
$$;
COMMENT ON FUNCTION trip_conversation(uuid, uuid) IS
  'The conversation id of a trip, for a participant (the calling user, or user_id), an ADMIN or a trusted caller. PT404 for an unknown trip, 42501 for a non-participant.';
SELECT api_expose('trip_conversation(uuid,uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION send_message(conversation_id uuid, content text, type message_type DEFAULT 'TEXT',
                             metadata jsonb DEFAULT '{}', user_id uuid DEFAULT NULL)
  RETURNS uuid
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  me uuid;
  p conversation_participants;
  md jsonb;
  msg messages;
BEGIN
  PERFORM require_arg(conversation_id, 'conversation_id');
  PERFORM require_arg(type, 'type');
  IF type = 'TEXT' THEN
    PERFORM require_arg(content, 'content');
  END IF;
  me := chat_actor(user_id);
  md := chat_validate(type, coalesce(content, ''), metadata, me);
  -- lock first, then look at the membership with a fresh snapshot
  PERFORM 1 FROM conversations c WHERE c.id = send_message.conversation_id FOR NO KEY UPDATE;
  p := chat_participant(conversation_id, me);
  IF p.left_at IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'you left this conversation',
      DETAIL = format('left at %s', p.left_at);
  END IF;
  msg := chat_post(conversation_id, me, type, coalesce(content, ''), md);
  RETURN msg.id;
END
$$;
COMMENT ON FUNCTION send_message(uuid, text, message_type, jsonb, uuid) IS
  'Sends a message to a conversation as the calling user (or user_id, for a trusted backend or an ADMIN) and returns its id. Types: TEXT (1..4000 characters), IMAGE and FILE (metadata {"file_upload_id"}: a non-deleted upload of the sender; content is an optional caption of at most 1000 characters), LOCATION (metadata {"lat", "lng", "accuracy"?, "name"?}). Refusals: 22023 empty, oversize or malformed; 22004 NULL; 42501 not an active participant, or type SYSTEM; PT404 unknown conversation or upload. The message is announced on conversation_channel(conversation_id) and queued as a notification for participants who are not connected.';
SELECT api_expose('send_message(uuid,text,message_type,jsonb,uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION edit_message(message_id uuid, content text, metadata jsonb DEFAULT NULL, user_id uuid DEFAULT NULL)
  RETURNS timestamptz
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  me uuid;
  m messages;
  p conversation_participants;
  md jsonb;
  ts timestamptz := pg_catalog.clock_timestamp();
BEGIN
  PERFORM require_arg(message_id, 'message_id');
  me := chat_actor(user_id);
  SELECT * INTO m FROM messages x WHERE x.id = edit_message.message_id FOR UPDATE;
  IF m.id IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'message not found',
      DETAIL = format('no message with id %s', message_id);
  END IF;
  p := chat_participant(m.conversation_id, me);
  IF m.sender_id IS DISTINCT FROM me THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'only the sender may edit a message';
  END IF;
  IF p.left_at IS NOT NULL THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'you left this conversation';
  END IF;
  IF m.is_hidden THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = 'the message was hidden by a moderator';
  END IF;
  IF m.type IN ('IMAGE', 'FILE') THEN
    IF metadata IS NOT NULL THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'the attachment of a message cannot be changed',
        HINT = 'Edit the caption only (metadata NULL), or send a new message.';
    END IF;
    IF length(content) > 1000 THEN
      RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'a caption is at most 1000 characters',
        DETAIL = format('the caption has %s characters', length(content));
    END IF;
    md := m.metadata;
  ELSIF m.type = 'LOCATION' THEN
    md := chat_validate(m.type, coalesce(content, ''), coalesce(metadata, m.metadata), me);
  ELSE
    IF m.type = 'TEXT' THEN
      PERFORM require_arg(content, 'content');
    END IF;
    md := chat_validate(m.type, content, coalesce(metadata, '{}'), me);
  END IF;
  UPDATE messages x SET content = coalesce(edit_message.content, ''), metadata = md, edited_at = ts
   WHERE x.id = m.id;
  RETURN ts;
END
$$;
COMMENT ON FUNCTION edit_message(uuid, text, jsonb, uuid) IS
  'Edits one''s own message (its text, a caption, or a LOCATION''s metadata) with the same validation as send_message; sets edited_at and returns it. 42501 for another''s message or after leaving, PT409 for a hidden message, PT404 unknown message. The attachment of IMAGE and FILE messages cannot change (22023).';
SELECT api_expose('edit_message(uuid,text,jsonb,uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION chat_target_time(conversation_id uuid, up_to_message_id uuid, p conversation_participants)
  RETURNS timestamptz
  LANGUAGE plpgsql STABLE
  SET search_path FROM CURRENT
AS $$
DECLARE
  ts timestamptz;
BEGIN
  IF up_to_message_id IS NULL THEN
    SELECT max(m.sent_at) INTO ts FROM messages m
     WHERE m.conversation_id = chat_target_time.conversation_id AND NOT m.is_hidden
       AND (p.left_at IS NULL OR m.sent_at <= p.left_at);
    RETURN ts;
  END IF;
  SELECT m.sent_at INTO ts FROM messages m
   WHERE m.id = up_to_message_id AND m.conversation_id = chat_target_time.conversation_id;
  IF ts IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'message not found in this conversation',
      DETAIL = format('no message with id %s in conversation %s', up_to_message_id, conversation_id);
  END IF;
  IF p.left_at IS NOT NULL AND ts > p.left_at THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'the message was sent after you left';
  END IF;
  RETURN ts;
END
$$;
COMMENT ON FUNCTION chat_target_time(uuid, uuid, conversation_participants) IS
  'Internal: sent_at of the message a receipt goes up to (the newest visible one when NULL), checked to belong to the conversation and to the participant''s membership.';

CREATE FUNCTION mark_delivered(conversation_id uuid, up_to_message_id uuid DEFAULT NULL, user_id uuid DEFAULT NULL)
  RETURNS integer
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  me uuid;
  p conversation_participants;
  target timestamptz;
  n integer;
BEGIN
  PERFORM require_arg(conversation_id, 'conversation_id');
  me := chat_actor(user_id);
  PERFORM 1 FROM conversations c WHERE c.id = mark_delivered.conversation_id FOR SHARE;
  p := chat_participant(conversation_id, me);
  target := chat_target_time(conversation_id, up_to_message_id, p);
  IF target IS NULL THEN
    RETURN 0;
  END IF;
  UPDATE messages m SET status = 'DELIVERED', delivered_at = coalesce(m.delivered_at, pg_catalog.clock_timestamp())
   WHERE m.conversation_id = mark_delivered.conversation_id
     AND m.sent_at >= p.joined_at AND m.sent_at <= target
     AND (p.last_read_at IS NULL OR m.sent_at > p.last_read_at)
     AND m.sender_id IS DISTINCT FROM me AND NOT m.is_hidden
     AND m.status = 'SENT';
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n > 0 THEN
    PERFORM pg_catalog.pg_notify(conversation_channel(conversation_id),
      json_build_object('event', 'delivered', 'conversation_id', conversation_id, 'user_id', me,
                        'up_to', target)::text);
  END IF;
  RETURN n;
END
$$;
COMMENT ON FUNCTION mark_delivered(uuid, uuid, uuid) IS
  'Receipt from a participant''s device: others'' messages up to the given one (the newest when NULL), sent since the participant joined and after their read position, move SENT to DELIVERED (never backwards). Returns how many moved; announces it on the NOTIFY channel. 42501 for a non-participant or a message after leaving, PT404 for a message of another conversation.';
SELECT api_expose('mark_delivered(uuid,uuid,uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION mark_read(conversation_id uuid, up_to_message_id uuid DEFAULT NULL, user_id uuid DEFAULT NULL)
  RETURNS integer
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  me uuid;
  p conversation_participants;
  target timestamptz;
  n integer;
  ts timestamptz := pg_catalog.clock_timestamp();
BEGIN
  PERFORM require_arg(conversation_id, 'conversation_id');
  me := chat_actor(user_id);
  -- readers share the conversation lock: they wait for senders in flight,
  -- not for each other; the participant row serialises one user's devices
  PERFORM 1 FROM conversations c WHERE c.id = mark_read.conversation_id FOR SHARE;
  PERFORM 1 FROM conversation_participants cp
   WHERE cp.conversation_id = mark_read.conversation_id AND cp.user_id = me FOR UPDATE;
  p := chat_participant(conversation_id, me);
  target := chat_target_time(conversation_id, up_to_message_id, p);
  IF target IS NULL OR (p.last_read_at IS NOT NULL AND target <= p.last_read_at) THEN
    RETURN p.unread_count;
  END IF;
  UPDATE messages m SET status = 'READ', read_at = coalesce(m.read_at, ts), delivered_at = coalesce(m.delivered_at, ts)
   WHERE m.conversation_id = mark_read.conversation_id
     AND m.sent_at >= p.joined_at AND m.sent_at <= target
     AND (p.last_read_at IS NULL OR m.sent_at > p.last_read_at)
     AND m.sender_id IS DISTINCT FROM me AND NOT m.is_hidden
     AND m.status IN ('SENT', 'DELIVERED');
  UPDATE conversation_participants cp SET last_read_at = target WHERE cp.id = p.id;
  UPDATE conversation_participants cp SET unread_count = chat_unread_recount(cp.conversation_id, cp.user_id)
   WHERE cp.id = p.id
  RETURNING cp.unread_count INTO n;
  PERFORM pg_catalog.pg_notify(conversation_channel(conversation_id),
    json_build_object('event', 'read', 'conversation_id', conversation_id, 'user_id', me, 'up_to', target)::text);
  RETURN n;
END
$$;
COMMENT ON FUNCTION mark_read(uuid, uuid, uuid) IS
  'The participant has read up to the given message (the newest visible one when NULL): their last_read_at moves forward to its sent_at (never back), others'' messages up to it move to READ (SENT and DELIVERED only), and unread_count is recounted. Returns the remaining unread_count; announces the receipt on the NOTIFY channel. 42501 non-participant or a message after leaving, PT404 message of another conversation.';
SELECT api_expose('mark_read(uuid,uuid,uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION report_message(message_id uuid, reason text, user_id uuid DEFAULT NULL) RETURNS boolean
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  me uuid;
  m messages;
  p conversation_participants;
BEGIN
  PERFORM require_arg(message_id, 'message_id');
  PERFORM require_arg(reason, 'reason');
  IF btrim(reason) = '' OR length(reason) > 1000 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'reason must be a text of 1 to 1000 characters';
  END IF;
  me := chat_actor(user_id);
  SELECT * INTO m FROM messages x WHERE x.id = report_message.message_id FOR UPDATE;
  IF m.id IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'message not found';
  END IF;
  p := chat_participant(m.conversation_id, me);
  IF m.is_hidden OR (p.left_at IS NOT NULL AND m.sent_at > p.left_at) THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'message not found';
  END IF;
  IF m.sender_id IS NOT DISTINCT FROM me THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'you cannot report your own message';
  END IF;
  IF m.type = 'SYSTEM' THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'SYSTEM messages cannot be reported';
  END IF;
  IF m.is_reported THEN
    RETURN false;
  END IF;
  UPDATE messages x SET is_reported = true, report_reason = btrim(reason), reported_at = pg_catalog.clock_timestamp(),
                        reported_by = me
   WHERE x.id = m.id;
  RETURN true;
END
$$;
COMMENT ON FUNCTION report_message(uuid, text, uuid) IS
  'A participant reports another''s message for moderation (reason, 1..1000 characters). Returns true, or false when it was already reported (the first report is kept). 42501 for one''s own or a SYSTEM message or a non-participant; PT404 for an unknown, hidden, or after-leaving message. Reported, not yet hidden messages are listed by the messages_reported_idx index.';
SELECT api_expose('report_message(uuid,text,uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION hide_message(message_id uuid, reason text DEFAULT NULL) RETURNS boolean
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  m messages;
BEGIN
  PERFORM require_arg(message_id, 'message_id');
  PERFORM assert_app_role('ADMIN');
  IF length(reason) > 1000 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'reason is at most 1000 characters';
  END IF;
  -- the conversation first, as senders and readers lock it (no deadlock
  -- with a mark_read updating this message under the conversation's lock)
  PERFORM 1 FROM conversations c
   WHERE c.id = (SELECT x.conversation_id FROM messages x WHERE x.id = hide_message.message_id)
     FOR NO KEY UPDATE;
  SELECT * INTO m FROM messages x WHERE x.id = hide_message.message_id FOR UPDATE;
  IF m.id IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'message not found';
  END IF;
  IF m.is_hidden THEN
    RETURN false;
  END IF;
  UPDATE messages x SET is_hidden = true, hidden_at = pg_catalog.clock_timestamp(), hidden_by = current_user_id()
   WHERE x.id = m.id;
  PERFORM log_admin_action('HIDE_MESSAGE', 'message', m.id::text,
    jsonb_build_object('conversation_id', m.conversation_id, 'sender_id', m.sender_id, 'type', m.type,
                       'was_reported', m.is_reported, 'report_reason', m.report_reason, 'reason', reason));
  RETURN true;
END
$$;
COMMENT ON FUNCTION hide_message(uuid, text) IS
  'ADMIN: hides a message from participants (history, counters and last_message_at follow), audited in admin_actions (HIDE_MESSAGE) in the same transaction. Returns false when it was already hidden. 42501 for other roles, PT404 unknown message.';
SELECT api_expose('hide_message(uuid,text)'::regprocedure, 'authenticated');

CREATE FUNCTION unhide_message(message_id uuid, reason text DEFAULT NULL) RETURNS boolean
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  m messages;
BEGIN
  PERFORM require_arg(message_id, 'message_id');
  PERFORM assert_app_role('ADMIN');
  IF length(reason) > 1000 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'reason is at most 1000 characters';
  END IF;
  -- the conversation first, as senders and readers lock it (no deadlock
  -- with a mark_read updating this message under the conversation's lock)
  PERFORM 1 FROM conversations c
   WHERE c.id = (SELECT x.conversation_id FROM messages x WHERE x.id = unhide_message.message_id)
     FOR NO KEY UPDATE;
  SELECT * INTO m FROM messages x WHERE x.id = unhide_message.message_id FOR UPDATE;
  IF m.id IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'message not found';
  END IF;
  IF NOT m.is_hidden THEN
    RETURN false;
  END IF;
  UPDATE messages x SET is_hidden = false, hidden_at = NULL, hidden_by = NULL WHERE x.id = m.id;
  PERFORM log_admin_action('UNHIDE_MESSAGE', 'message', m.id::text,
    jsonb_build_object('conversation_id', m.conversation_id, 'hidden_by', m.hidden_by, 'hidden_at', m.hidden_at,
                       'reason', reason));
  RETURN true;
END
$$;
COMMENT ON FUNCTION unhide_message(uuid, text) IS
  'ADMIN: reverses hide_message (audited as UNHIDE_MESSAGE). Returns false when the message was not hidden.';
SELECT api_expose('unhide_message(uuid,text)'::regprocedure, 'authenticated');

CREATE FUNCTION set_notifications(conversation_id uuid, enabled boolean, channel delivery_channel DEFAULT NULL,
                                  user_id uuid DEFAULT NULL)
  RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  me uuid;
  p conversation_participants;
BEGIN
  PERFORM require_arg(conversation_id, 'conversation_id');
  PERFORM require_arg(enabled, 'enabled');
  me := chat_actor(user_id);
  p := chat_participant(conversation_id, me);
  UPDATE conversation_participants cp
     SET notifications_enabled = enabled, notification_channel = coalesce(channel, cp.notification_channel)
   WHERE cp.id = p.id;
END
$$;
COMMENT ON FUNCTION set_notifications(uuid, boolean, delivery_channel, uuid) IS
  'A participant switches the outbox notifications of a conversation on or off, optionally choosing their channel (PUSH, SMS, WHATSAPP, EMAIL; unchanged when NULL). 42501 for a non-participant.';
SELECT api_expose('set_notifications(uuid,boolean,delivery_channel,uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION message_history(conversation_id uuid, before timestamptz DEFAULT NULL, page_size integer DEFAULT 50,
                                user_id uuid DEFAULT NULL)
  RETURNS TABLE (id uuid, sender_id uuid, type message_type, content text, metadata jsonb, status message_status,
                 sent_at timestamptz, delivered_at timestamptz, read_at timestamptz, edited_at timestamptz,
                 is_reported boolean, is_hidden boolean)
  AS 'MODULE_PATHNAME', 'sg_messaging_history'
  LANGUAGE C STABLE SECURITY DEFINER ROWS 50
  SET search_path FROM CURRENT;
COMMENT ON FUNCTION message_history(uuid, timestamptz, integer, uuid) IS
  'One page of a conversation''s history, newest first: at most page_size (1..200, default 50) messages sent before before (NULL: the newest); pass the sent_at of a page''s last row as before to get the next page (keyset on messages_conversation_sent_idx; sent_at is unique per conversation). Participants never get hidden messages, and one who left gets the history up to their leaving; an ADMIN or a trusted caller without user_id reads everything with is_hidden shown. 42501 non-participant, PT404 unknown conversation, 22023 bad page_size.';
SELECT api_expose('message_history(uuid,timestamptz,integer,uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION my_conversations(user_id uuid DEFAULT NULL, include_left boolean DEFAULT false)
  RETURNS TABLE (conversation_id uuid, trip_id uuid, trip_title text, trip_status trip_status,
                 departure_time timestamptz, last_message_at timestamptz, unread_count integer,
                 last_read_at timestamptz, notifications_enabled boolean, notification_channel delivery_channel,
                 joined_at timestamptz, left_at timestamptz)
  LANGUAGE plpgsql STABLE SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  me uuid;
BEGIN
  me := chat_actor(user_id);
  RETURN QUERY
    SELECT c.id, t.id, t.title, t.status, t.departure_time, c.last_message_at, p.unread_count,
           p.last_read_at, p.notifications_enabled, p.notification_channel, p.joined_at, p.left_at
      FROM conversation_participants p
      JOIN conversations c ON c.id = p.conversation_id
      JOIN trips t ON t.id = c.trip_id
     WHERE p.user_id = me AND (include_left OR p.left_at IS NULL)
     ORDER BY coalesce(c.last_message_at, c.created_at) DESC, c.id DESC;
END
$$;
COMMENT ON FUNCTION my_conversations(uuid, boolean) IS
  'The conversations of the calling user (or user_id) with their unread counts, the trip they belong to, and the newest activity first; conversations they left only with include_left.';
SELECT api_expose('my_conversations(uuid,boolean)'::regprocedure, 'authenticated');

CREATE FUNCTION chat_heartbeat(user_id uuid DEFAULT NULL, client text DEFAULT NULL) RETURNS timestamptz
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  me uuid;
  timeout interval := coalesce(pg_catalog.current_setting('steppergo.chat_presence_timeout', true), '60')::interval;
  ts timestamptz := pg_catalog.clock_timestamp();
BEGIN
  me := chat_actor(user_id);
  IF length(client) > 200 THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'client is at most 200 characters';
  END IF;
  INSERT INTO chat_presence AS s (user_id, connected_at, last_seen_at, client)
  VALUES (me, ts, ts, client)
  ON CONFLICT ON CONSTRAINT chat_presence_pkey DO UPDATE
    SET connected_at = CASE WHEN s.last_seen_at > ts - timeout THEN s.connected_at ELSE ts END,
        last_seen_at = ts, client = coalesce(EXCLUDED.client, s.client);
  RETURN ts + timeout;
END
$$;
COMMENT ON FUNCTION chat_heartbeat(uuid, text) IS
  'Called by the real-time gateway (or the app) while the user is connected, at least once per steppergo.chat_presence_timeout: the user counts as listening and gets new messages by NOTIFY only, no outbox notification. Returns the time until which the heartbeat holds.';
SELECT api_expose('chat_heartbeat(uuid,text)'::regprocedure, 'authenticated');

CREATE FUNCTION chat_disconnect(user_id uuid DEFAULT NULL) RETURNS boolean
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  me uuid;
BEGIN
  me := chat_actor(user_id);
  DELETE FROM chat_presence s WHERE s.user_id = me;
  RETURN FOUND;
END
$$;
COMMENT ON FUNCTION chat_disconnect(uuid) IS
  'Called by the gateway when the user''s last connection closes: from now on new messages also queue outbox notifications. Returns false when the user was not connected.';
SELECT api_expose('chat_disconnect(uuid)'::regprocedure, 'authenticated');

CREATE FUNCTION chat_presence_cleanup() RETURNS integer
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  timeout interval := coalesce(pg_catalog.current_setting('steppergo.chat_presence_timeout', true), '60')::interval;
  n integer;
BEGIN
  DELETE FROM chat_presence s WHERE s.last_seen_at < pg_catalog.now() - timeout - interval '1 hour';
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN n;
END
$$;
COMMENT ON FUNCTION chat_presence_cleanup() IS
  'Removes presence rows whose heartbeat stopped more than an hour (plus the timeout) ago; they already count as not listening, this only keeps the table small. Returns rows removed. The job steppergo_chat_presence_cleanup runs it hourly.';
SELECT api_expose('chat_presence_cleanup()'::regprocedure, 'service');

INSERT INTO job_definitions (name, schedule, command, description) VALUES
  ('steppergo_chat_presence_cleanup', '17 * * * *', 'SELECT steppergo.chat_presence_cleanup()',
   'Hourly: drops chat presence rows of users whose heartbeat stopped long ago (they already count as not listening).');

-- ---------------------------------------------------------------------------
-- Backfill: trips created before these triggers (an upgrade from 0.1) get
-- their conversation and participants; counters are computed once.
-- ---------------------------------------------------------------------------
INSERT INTO conversations (trip_id)
SELECT t.id FROM trips t
 WHERE NOT EXISTS (SELECT 1 FROM conversations c WHERE c.trip_id = t.id);
INSERT INTO conversation_participants (conversation_id, user_id, joined_at)
SELECT DISTINCT ON (c.id, x.user_id) c.id, x.user_id, c.created_at
  FROM conversations c
  JOIN trips t ON t.id = c.trip_id
  CROSS JOIN LATERAL (
    SELECT t.organizer_id AS user_id
    UNION ALL SELECT d.user_id FROM drivers d WHERE d.id = t.driver_id
    UNION ALL SELECT b.user_id FROM bookings b WHERE b.trip_id = t.id AND b.status IN ('CONFIRMED', 'COMPLETED')) x
ON CONFLICT ON CONSTRAINT conversation_participants_once DO NOTHING;
SELECT refresh_conversation_counts();
