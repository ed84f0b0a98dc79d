-- Invariants after the run (prints one row per violation): counters of a
-- sample of conversations equal a recount; last_message_at is the newest
-- visible message.
SELECT 'unread_count', p.conversation_id, p.user_id
  FROM steppergo.conversation_participants p
 WHERE p.conversation_id IN (SELECT conversation_id FROM bench_conversations WHERE n % 97 = 0)
   AND p.unread_count <> steppergo.chat_unread_recount(p.conversation_id, p.user_id);
SELECT 'last_message_at', c.id
  FROM steppergo.conversations c
 WHERE c.id IN (SELECT conversation_id FROM bench_conversations WHERE n % 97 = 0)
   AND c.last_message_at IS DISTINCT FROM (SELECT max(m.sent_at) FROM steppergo.messages m
                                            WHERE m.conversation_id = c.id AND NOT m.is_hidden);
