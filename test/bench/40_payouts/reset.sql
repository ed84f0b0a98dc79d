-- Run by test/bench/run, untimed, before every timed run (hot path and
-- baseline alike): every scenario updates up to 1,000,000 bookings and rolls
-- back, leaving as many dead row versions and index entries behind.  Without
-- this, each run paid for the bloat of all earlier ones (and for whatever
-- autovacuum did or did not do in between), so the figures depended on the
-- order of the runs.  VACUUM FULL rewrites the tables in the same row order
-- and rebuilds their indexes, so every timed run starts from the same
-- physical state (about 5 s at scale 1); the plain VACUUM sets the
-- visibility map and hint bits as after the load, and the CHECKPOINT leaves
-- no dirty page of the reset for the timed run to write.
VACUUM FULL steppergo.bookings, steppergo.payouts, steppergo.driver_commissions;
VACUUM steppergo.bookings, steppergo.payouts, steppergo.driver_commissions;
CHECKPOINT;
