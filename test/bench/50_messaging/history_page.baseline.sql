-- Baseline: the bare keyset query on messages_conversation_sent_idx (with
-- the page size a parameter, as inside message_history), same
-- conversation, same page, same columns.
\set n random(1, :nconv)
\set k random(50 * :nconv, :nmsg)
\set page 50
SELECT m.id, m.sender_id, m.type, m.content, m.metadata, m.status, m.sent_at, m.delivered_at, m.read_at,
       m.edited_at, m.is_reported, m.is_hidden
  FROM steppergo.messages m
 WHERE m.conversation_id = (SELECT conversation_id FROM bench_conversations WHERE n = :n)
   AND m.sent_at < to_timestamp(:base + :k / 100.0)
 ORDER BY m.sent_at DESC
 LIMIT :page;
