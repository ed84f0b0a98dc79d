-- run_payout_batch over the bookings of the first 10 % of trips (100,000 at scale 1),
-- rolled back so that every transaction starts from the same state.
BEGIN;
SELECT steppergo.run_payout_batch(to_timestamp(:p10));
ROLLBACK;
