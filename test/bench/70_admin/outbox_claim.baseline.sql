-- Baseline: the bare SKIP LOCKED claim query (same predicate, order, update
-- and returned columns as claim_notifications), rolled back likewise.
BEGIN;
WITH c AS (
  SELECT q.id FROM steppergo.notifications q
   WHERE q.status = 'PENDING' AND q.next_attempt_at <= now()
     AND (q.expires_at IS NULL OR q.expires_at > now())
   ORDER BY q.priority DESC, q.next_attempt_at
   LIMIT 10
   FOR UPDATE SKIP LOCKED)
UPDATE steppergo.notifications n
   SET status = 'SENDING', claimed_by = 'bench-sender-' || :client_id, claimed_at = now(), attempts = n.attempts + 1
  FROM c
 WHERE n.id = c.id
RETURNING n.id, n.user_id, n.type, n.channel, n.recipient, n.subject, n.body, n.payload, n.attempts, n.expires_at;
ROLLBACK;
