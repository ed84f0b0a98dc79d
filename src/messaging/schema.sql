-- ===========================================================================
-- messaging: one conversation per trip, its participants and messages
-- ===========================================================================

CREATE TABLE conversations (
  id               uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  trip_id          uuid NOT NULL UNIQUE REFERENCES trips (id) ON DELETE CASCADE,
  last_message_at  timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE conversations IS 'The chat room of a trip, one per trip, where organizer, driver and passengers coordinate.';
COMMENT ON COLUMN conversations.id IS 'Conversation key (UUIDv7).';
COMMENT ON COLUMN conversations.trip_id IS 'The trip the conversation belongs to; one conversation per trip.';
COMMENT ON COLUMN conversations.last_message_at IS 'When the newest visible message was sent; kept exact with messages.';
COMMENT ON COLUMN conversations.created_at IS 'When the conversation was created (with the trip).';
COMMENT ON COLUMN conversations.updated_at IS 'When the conversation was last changed (kept by trigger).';
CREATE TRIGGER conversations_touch BEFORE UPDATE ON conversations
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
SELECT pg_catalog.pg_extension_config_dump('conversations', '');

CREATE TABLE conversation_participants (
  id                     uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  conversation_id        uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  user_id                uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  last_read_at           timestamptz,
  unread_count           integer NOT NULL DEFAULT 0 CHECK (unread_count >= 0),
  notifications_enabled  boolean NOT NULL DEFAULT true,
  joined_at              timestamptz NOT NULL DEFAULT now(),
  left_at                timestamptz,
  CONSTRAINT conversation_participants_once UNIQUE (conversation_id, user_id),
  CONSTRAINT conversation_participants_left_after_join CHECK (left_at IS NULL OR left_at >= joined_at)
);
COMMENT ON TABLE conversation_participants IS 'Who is in a trip''s conversation (organizer, driver, passengers with a confirmed booking), with their read position and unread count.';
COMMENT ON COLUMN conversation_participants.id IS 'Participant row key (UUIDv7).';
COMMENT ON COLUMN conversation_participants.conversation_id IS 'The conversation.';
COMMENT ON COLUMN conversation_participants.user_id IS 'The participating user; once per conversation.';
COMMENT ON COLUMN conversation_participants.last_read_at IS 'Sent time of the newest message the participant has read.';
COMMENT ON COLUMN conversation_participants.unread_count IS 'Visible messages of others the participant has not read; kept exact under concurrent senders and readers.';
COMMENT ON COLUMN conversation_participants.notifications_enabled IS 'Whether new messages also notify the participant outside the app.';
COMMENT ON COLUMN conversation_participants.joined_at IS 'When the participant joined.';
COMMENT ON COLUMN conversation_participants.left_at IS 'When the participant left (booking cancelled, driver unassigned); NULL while in. One who left cannot post or read new messages.';
CREATE INDEX conversation_participants_user_idx ON conversation_participants (user_id, conversation_id);
ALTER TABLE conversation_participants
  ADD COLUMN notification_channel delivery_channel NOT NULL DEFAULT 'PUSH';
COMMENT ON COLUMN conversation_participants.notification_channel IS 'Channel of the outbox notifications this participant gets for new messages while not connected: PUSH (default), SMS, WHATSAPP or EMAIL.';
SELECT pg_catalog.pg_extension_config_dump('conversation_participants', '');

CREATE TABLE messages (
  id               uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  conversation_id  uuid NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
  sender_id        uuid REFERENCES users (id) ON DELETE SET NULL,
  content          text NOT NULL CHECK (length(content) <= 4000),
  type             message_type NOT NULL DEFAULT 'TEXT',
  metadata         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
  status           message_status NOT NULL DEFAULT 'SENT',
  is_reported      boolean NOT NULL DEFAULT false,
  report_reason    text CHECK (length(report_reason) <= 1000),
  is_hidden        boolean NOT NULL DEFAULT false,
  sent_at          timestamptz NOT NULL DEFAULT now(),
  delivered_at     timestamptz,
  read_at          timestamptz,
  edited_at        timestamptz,
  hidden_at        timestamptz,
  hidden_by        uuid REFERENCES users (id) ON DELETE SET NULL,
  reported_at      timestamptz,
  reported_by      uuid REFERENCES users (id) ON DELETE SET NULL
);
COMMENT ON TABLE messages IS 'Chat messages of trip conversations: text, images and files (uploads), shared locations, and SYSTEM messages the platform writes.';
COMMENT ON COLUMN messages.id IS 'Message key (UUIDv7).';
COMMENT ON COLUMN messages.conversation_id IS 'The conversation the message belongs to.';
COMMENT ON COLUMN messages.sender_id IS 'The user who sent it; NULL for SYSTEM messages.';
COMMENT ON COLUMN messages.content IS 'Text of the message (a caption for IMAGE and FILE), at most 4,000 characters.';
COMMENT ON COLUMN messages.type IS 'TEXT, IMAGE, FILE, LOCATION or SYSTEM.';
COMMENT ON COLUMN messages.metadata IS 'Per type: {"lat", "lng"} for LOCATION, {"file_upload_id"} for IMAGE and FILE, {"event"} for SYSTEM.';
COMMENT ON COLUMN messages.status IS 'SENT, DELIVERED, READ (only forwards) or FAILED.';
COMMENT ON COLUMN messages.is_reported IS 'True once a participant reported the message.';
COMMENT ON COLUMN messages.report_reason IS 'Why it was reported.';
COMMENT ON COLUMN messages.is_hidden IS 'True once an admin hid the message; hidden messages are not returned to participants.';
COMMENT ON COLUMN messages.sent_at IS 'When the message was sent; history is paged by (conversation_id, sent_at).';
COMMENT ON COLUMN messages.delivered_at IS 'When it was first delivered to a recipient''s device.';
COMMENT ON COLUMN messages.read_at IS 'When a recipient first read it.';
COMMENT ON COLUMN messages.edited_at IS 'When the sender last edited it.';
COMMENT ON COLUMN messages.hidden_at IS 'When an admin hid it.';
COMMENT ON COLUMN messages.hidden_by IS 'The admin who hid it.';
COMMENT ON COLUMN messages.reported_at IS 'When it was reported.';
COMMENT ON COLUMN messages.reported_by IS 'Who reported it.';
-- Unique: sent_at is the keyset of a conversation's history.  send_message
-- hands out strictly increasing times per conversation; a direct INSERT that
-- would collide is moved on by a microsecond (trigger messages_sent_at_unique).
CREATE UNIQUE INDEX messages_conversation_sent_idx ON messages (conversation_id, sent_at);
CREATE INDEX messages_sender_idx ON messages (sender_id) WHERE sender_id IS NOT NULL;
CREATE INDEX messages_hidden_by_idx ON messages (hidden_by) WHERE hidden_by IS NOT NULL;
CREATE INDEX messages_reported_by_idx ON messages (reported_by) WHERE reported_by IS NOT NULL;
CREATE INDEX messages_reported_idx ON messages (reported_at) WHERE is_reported AND NOT is_hidden;
SELECT pg_catalog.pg_extension_config_dump('messages', '');

CREATE TABLE chat_presence (
  user_id       uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
  connected_at  timestamptz NOT NULL DEFAULT now(),
  last_seen_at  timestamptz NOT NULL DEFAULT now(),
  client        text CHECK (length(client) <= 200)
);
COMMENT ON TABLE chat_presence IS 'Which users are connected to the real-time chat right now: the WebSocket gateway (or the app) calls chat_heartbeat while a user is connected and chat_disconnect when they go. A user seen within steppergo.chat_presence_timeout is listening and gets no outbox notification for new messages.';
COMMENT ON COLUMN chat_presence.user_id IS 'The connected user.';
COMMENT ON COLUMN chat_presence.connected_at IS 'When the current connection started (first heartbeat after a disconnect).';
COMMENT ON COLUMN chat_presence.last_seen_at IS 'Time of the newest heartbeat.';
COMMENT ON COLUMN chat_presence.client IS 'Free text naming the gateway node or client, for operators.';
CREATE INDEX chat_presence_seen_idx ON chat_presence (last_seen_at);
SELECT pg_catalog.pg_extension_config_dump('chat_presence', '');
