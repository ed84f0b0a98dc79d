-- ===========================================================================
-- messaging (release 0.3)
--
-- message_history returns a named row type instead of RETURNS TABLE: the
-- executor then takes the result's row type from the type cache, where for
-- a RETURNS TABLE function it builds it from pg_proc's argument arrays on
-- every call (about a thirtieth of a page read, callgrind).  Same columns,
-- same order, same C (history.c), same arguments: callers see no
-- difference.  Dropped and created again (a function's result type cannot
-- be replaced); run setup_api_roles() after the update, as for every update,
-- to grant it again.
-- ===========================================================================

CREATE TYPE message_history_row AS (
  id            uuid,
  sender_id     uuid,
  type          message_type,
  content       text,
  metadata      jsonb,
  status        message_status,
  sent_at       timestamptz,
  delivered_at  timestamptz,
  read_at       timestamptz,
  edited_at     timestamptz,
  is_reported   boolean,
  is_hidden     boolean
);
COMMENT ON TYPE message_history_row IS 'A row of message_history(): one message of a conversation page.';
COMMENT ON COLUMN message_history_row.id IS 'The message (messages.id).';
COMMENT ON COLUMN message_history_row.sender_id IS 'Who sent it (messages.sender_id).';
COMMENT ON COLUMN message_history_row.type IS 'TEXT, IMAGE, FILE, LOCATION or SYSTEM (messages.type).';
COMMENT ON COLUMN message_history_row.content IS 'The text (messages.content).';
COMMENT ON COLUMN message_history_row.metadata IS 'Per-type details (messages.metadata).';
COMMENT ON COLUMN message_history_row.status IS 'SENT, DELIVERED or READ (messages.status).';
COMMENT ON COLUMN message_history_row.sent_at IS 'When it was sent; the keyset of the pages (messages.sent_at).';
COMMENT ON COLUMN message_history_row.delivered_at IS 'When it was delivered (messages.delivered_at).';
COMMENT ON COLUMN message_history_row.read_at IS 'When it was read (messages.read_at).';
COMMENT ON COLUMN message_history_row.edited_at IS 'When its sender last edited it (messages.edited_at).';
COMMENT ON COLUMN message_history_row.is_reported IS 'Reported by a participant (messages.is_reported).';
COMMENT ON COLUMN message_history_row.is_hidden IS 'Hidden by a moderator; only moderators get such rows (messages.is_hidden).';

DROP FUNCTION message_history(uuid, timestamptz, integer, uuid);
CREATE FUNCTION message_history(conversation_id uuid, before timestamptz DEFAULT NULL, page_size integer DEFAULT 50,
                                user_id uuid DEFAULT NULL)
  RETURNS SETOF message_history_row
  AS 'MODULE_PATHNAME', 'sg_messaging_history'
  LANGUAGE C STABLE SECURITY DEFINER ROWS 50
  SET search_path FROM CURRENT;
COMMENT ON FUNCTION message_history(uuid, timestamptz, integer, uuid) IS
  'One page of a conversation''s history, newest first: at most page_size (1..200, default 50) messages sent before before (NULL: the newest); pass the sent_at of a page''s last row as before to get the next page (keyset on messages_conversation_sent_idx; sent_at is unique per conversation). Participants never get hidden messages, and one who left gets the history up to their leaving; an ADMIN or a trusted caller without user_id reads everything with is_hidden shown. 42501 non-participant, PT404 unknown conversation, 22023 bad page_size.';
SELECT api_expose('message_history(uuid,timestamptz,integer,uuid)'::regprocedure, 'authenticated');
