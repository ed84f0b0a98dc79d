-- A sender claims a batch of 10 due notifications through claim_notifications.
-- The transaction is rolled back, so the queue stays the same size for every
-- round and both sides (this and the baseline) see the same queue; four
-- senders run at once, so SKIP LOCKED is exercised on every call.
BEGIN;
SELECT * FROM steppergo.claim_notifications('bench-sender-' || :client_id, 10);
ROLLBACK;
