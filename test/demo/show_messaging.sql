-- messaging: the chat of a trip
\pset footer off
\echo '-- The busiest trip chat: its participants and their unread counts'
SELECT c.id AS conversation_id, t.title FROM steppergo.conversations c JOIN steppergo.trips t ON t.id = c.trip_id
 ORDER BY (SELECT count(*) FROM steppergo.messages m WHERE m.conversation_id = c.id) DESC, c.id LIMIT 1 \gset
SELECT u.name, p.unread_count, p.left_at IS NOT NULL AS left_chat, p.notifications_enabled, p.notification_channel
  FROM steppergo.conversation_participants p JOIN steppergo.users u ON u.id = p.user_id
 WHERE p.conversation_id = :'conversation_id' ORDER BY u.name;

\echo '-- Its newest page of history (message_history, keyset on (conversation_id, sent_at))'
SELECT to_char(sent_at, 'MM-DD HH24:MI:SS') AS sent, type, coalesce(u.name, '(system)') AS sender, left(content, 50) AS content, status
  FROM steppergo.message_history(:'conversation_id', NULL, 8) h LEFT JOIN steppergo.users u ON u.id = h.sender_id;

\echo '-- A participant says something (the outbox gets a notification for those not connected)'
SELECT steppergo.send_message(:'conversation_id', 'I am at the entrance, white Toyota Camry', 'TEXT', '{}',
                              (SELECT user_id FROM steppergo.conversation_participants
                                WHERE conversation_id = :'conversation_id' AND left_at IS NULL ORDER BY joined_at LIMIT 1)) IS NOT NULL AS sent;
SELECT n.channel, n.subject, n.body, n.status FROM steppergo.notifications n
 WHERE n.type = 'CHAT_MESSAGE' ORDER BY n.created_at DESC LIMIT 3;

\echo '-- The NOTIFY channel a gateway LISTENs on for this conversation'
SELECT steppergo.conversation_channel(:'conversation_id');
