-- A participant reads one page (50) of a conversation's history, newest
-- first, at a random depth: message_history as a trusted backend acting for
-- the conversation's organizer (membership check, hidden filter, keyset).
\set n random(1, :nconv)
\set k random(50 * :nconv, :nmsg)
\set page 50
SELECT * FROM steppergo.message_history((SELECT conversation_id FROM bench_conversations WHERE n = :n),
                                        to_timestamp(:base + :k / 100.0), :page,
                                        (SELECT user_id FROM bench_conversations WHERE n = :n));
