-- Invariants after the admin bench (each row printed is a violation):
-- every claim was rolled back, so nothing is left SENDING or claimed;
SELECT 'notification left claimed: ' || id FROM steppergo.notifications
 WHERE status <> 'PENDING' OR claimed_by IS NOT NULL OR attempts <> 0 LIMIT 10;
-- every event landed in a monthly partition, none in the default one.
SELECT 'event in the default partition: ' || id FROM steppergo.analytics_events_default LIMIT 10;
