-- run_payout_batch over every unsettled booking (1,000,000 at scale 1),
-- rolled back so that every transaction starts from the same state.
BEGIN;
SELECT steppergo.run_payout_batch();
ROLLBACK;
