-- ===========================================================================
-- payouts (release 0.3): a cheaper run_payout_batch (src/payouts/README.md,
-- "Bench" says where the time goes).  Release 0.2 picked the bookings into
-- a materialised CTE, grouped it, joined it back to the groups and updated
-- each booking through its primary key (about 400 MB of temporary files and
-- 1,000,000 index descents for 1,000,000 bookings).  Now one UPDATE settles
-- the bookings in a single pass while the payouts are summed from exactly
-- the rows it settled.  (The rates CTE is MATERIALIZED to state that
-- platform_rate() runs once per tenant; the planner already evaluated it
-- per tenant row in 0.2, as a placeholder below the outer join.)
-- ===========================================================================

CREATE FUNCTION payout_group_id(batch_id uuid, driver_id uuid, tenant_id uuid, currency text)
  RETURNS uuid
  AS 'MODULE_PATHNAME', 'sg_payout_group_id'
  LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION payout_group_id(uuid, uuid, uuid, text) IS
  'Internal, for run_payout_batch: the id of the payout of one (driver, tenant or NULL, currency) group within a batch, a pure function of the batch id (a fresh UUIDv7) and the group: the batch id''s first 8 bytes (time-ordered like every key) and 62 bits of a hash of the group seeded with the batch id''s random bits. A hash collision between two groups of one batch makes the batch fail with 23505 (never merges them). NULL batch_id, driver_id or currency: 22004.';

CREATE FUNCTION payout_payable(gross numeric, minor_unit integer)
  RETURNS boolean
  AS 'MODULE_PATHNAME', 'sg_payout_payable'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION payout_payable(numeric, integer) IS
  'Internal, for run_payout_batch: whether payout_fee can split gross in a currency of that minor unit (gross has no more decimals than the minor unit), the test payout_fee makes before returning NULL, without the arithmetic. Same 22023 refusals as payout_fee for a NaN, infinite or negative gross and a minor unit outside 0..4.';

CREATE OR REPLACE FUNCTION run_payout_batch(period_end timestamptz DEFAULT now()) RETURNS integer
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  p_end timestamptz := run_payout_batch.period_end;
  default_rate numeric := platform_rate(NULL);
  batch_id uuid;
  n_payouts integer;
  new_ids uuid[];
BEGIN
  PERFORM require_arg(p_end, 'period_end');
  PERFORM assert_service_caller('run_payout_batch');
  IF NOT isfinite(p_end) OR p_end > now() THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'period_end must be a finite time not after now',
      DETAIL = format('period_end is %s, now is %s', p_end, now());
  END IF;

  -- One batch at a time.  A second run waits here; in READ COMMITTED its
  -- next statement sees what the first settled.  Under REPEATABLE READ a
  -- stale snapshot makes the settling UPDATE fail with 40001 instead.
  PERFORM pg_advisory_xact_lock(hashtextextended('steppergo.run_payout_batch', 0));

  -- 1. Cash bookings: never paid out; the platform's share becomes a
  --    commission the driver owes, and the booking's split is frozen.
  WITH rates AS MATERIALIZED (
    SELECT tn.id AS tenant_id, platform_rate(tn.id) AS rate FROM tenants tn
  ), cash AS (
    SELECT b.id, b.trip_id, t.driver_id, t.tenant_id, b.currency, b.total_amount,
           coalesce(r.rate, default_rate) AS rate,
           payout_fee(b.total_amount, coalesce(r.rate, default_rate), c.minor_unit) AS fee
      FROM bookings b
      JOIN trips t ON t.id = b.trip_id
      JOIN currencies c ON c.code = b.currency
      LEFT JOIN rates r ON r.tenant_id = t.tenant_id
     WHERE b.status = 'COMPLETED' AND b.platform_fee IS NULL
       AND b.payment_method_type = 'CASH_TO_DRIVER'
       AND t.completed_at < p_end AND t.driver_id IS NOT NULL
  ), frozen AS (
    UPDATE bookings b
       SET platform_rate = s.rate, platform_fee = s.fee, driver_amount = s.total_amount - s.fee
      FROM cash s
     WHERE b.id = s.id AND s.fee IS NOT NULL AND b.platform_fee IS NULL
    RETURNING b.id
  )
  INSERT INTO driver_commissions (driver_id, booking_id, trip_id, tenant_id, currency, gross, platform_rate, amount)
  SELECT s.driver_id, s.id, s.trip_id, s.tenant_id, s.currency, s.total_amount, s.rate, s.fee
    FROM cash s JOIN frozen f ON f.id = s.id;

  -- 2. ONLINE bookings, in one statement and one pass over the bookings:
  --    the UPDATE settles each booking (split computed in C and frozen,
  --    payout id of its driver, tenant and currency), and the payouts are
  --    the sums of exactly the rows it settled (RETURNING), so a payout
  --    always matches its bookings, even when a booking changed
  --    concurrently (READ COMMITTED re-checks such a row, and a row that
  --    no longer qualifies is neither settled nor summed).  Grouping by the
  --    id and the group's columns turns an id collision into a 23505.
  batch_id := uuid_generate_v7();
  WITH rates AS MATERIALIZED (
    SELECT tn.id AS tenant_id, platform_rate(tn.id) AS rate FROM tenants tn
  ), settled AS (
    UPDATE bookings b
       SET payout_id = payout_group_id(batch_id, t.driver_id, t.tenant_id, b.currency),
           payout_settled = true, settled_at = now(),
           platform_rate = coalesce(r.rate, default_rate),
           platform_fee = payout_fee(b.total_amount, coalesce(r.rate, default_rate), c.minor_unit),
           driver_amount = b.total_amount - payout_fee(b.total_amount, coalesce(r.rate, default_rate), c.minor_unit)
      FROM trips t
      LEFT JOIN rates r ON r.tenant_id = t.tenant_id, currencies c
     WHERE t.id = b.trip_id AND c.code = b.currency
       AND b.status = 'COMPLETED' AND b.platform_fee IS NULL AND NOT b.payout_settled
       AND b.payment_method_type = 'ONLINE'
       AND t.completed_at < p_end AND t.driver_id IS NOT NULL
       AND payout_payable(b.total_amount, c.minor_unit)
    RETURNING b.payout_id, t.driver_id, t.tenant_id, b.currency, b.trip_id, b.driver_amount, t.completed_at
  ), per_trip AS (
    SELECT s.payout_id, s.driver_id, s.tenant_id, s.currency, s.trip_id,
           sum(s.driver_amount) AS amount, count(*) AS n_bookings, min(s.completed_at) AS completed_at
      FROM settled s
     GROUP BY s.payout_id, s.driver_id, s.tenant_id, s.currency, s.trip_id
  ), ins AS (
    INSERT INTO payouts (id, driver_id, amount, currency, status, period_start, period_end,
                         trips_count, bookings_count, tenant_id)
    SELECT pt.payout_id, pt.driver_id, sum(pt.amount), pt.currency, 'PENDING', min(pt.completed_at), p_end,
           count(*), sum(pt.n_bookings), pt.tenant_id
      FROM per_trip pt
     GROUP BY pt.payout_id, pt.driver_id, pt.tenant_id, pt.currency
    RETURNING id
  )
  SELECT count(*), array_agg(id) INTO n_payouts, new_ids FROM ins;

  -- 3. Optionally, deduct owed cash commissions from the new payouts:
  --    oldest first, whole commissions only, never below zero.
  IF n_payouts > 0 AND current_setting('steppergo.payout_net_cash_commission')::boolean THEN
    WITH owed AS (
      SELECT c.id, p.id AS payout_id, p.amount AS payout_amount,
             sum(c.amount) OVER (PARTITION BY p.id ORDER BY c.recorded_at, c.id) AS running
        FROM payouts p
        JOIN driver_commissions c ON c.driver_id = p.driver_id AND c.currency = p.currency
                                 AND c.tenant_id IS NOT DISTINCT FROM p.tenant_id AND c.status = 'OWED'
       WHERE p.id = ANY (new_ids)
    ), marked AS (
      UPDATE driver_commissions c
         SET status = 'NETTED', payout_id = o.payout_id, netted_at = now()
        FROM owed o
       WHERE c.id = o.id AND o.running <= o.payout_amount AND c.status = 'OWED'
      RETURNING c.payout_id, c.amount
    )
    UPDATE payouts p
       SET commission_netted = m.total, amount = p.amount - m.total
      FROM (SELECT marked.payout_id, sum(marked.amount) AS total FROM marked GROUP BY marked.payout_id) m
     WHERE p.id = m.payout_id;
  END IF;

  RETURN n_payouts;
END
$$;
