-- ===========================================================================
-- payouts (release 0.2): the split, batching, lifecycle, reconciliation
-- ===========================================================================

CREATE FUNCTION payout_split(gross numeric, platform_rate numeric DEFAULT 0.15, minor_unit integer DEFAULT 2)
  RETURNS TABLE (driver_amount numeric, platform_fee numeric)
  AS 'MODULE_PATHNAME', 'sg_payout_split'
  LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 1;
COMMENT ON FUNCTION payout_split(numeric, numeric, integer) IS
  'Splits a gross amount between driver and platform, exactly: platform_fee = round(gross * platform_rate, minor_unit) (halves away from zero), driver_amount = gross - platform_fee, so the two always add up to gross. Rate in [0, 1] (default 0.15, the 85/15 split); minor_unit is the currency''s decimals (KZT: 2). Negative, NaN or infinite amounts, or more decimals than the minor unit, raise 22023; NULLs raise 22004.';
SELECT api_expose('payout_split(numeric, numeric, integer)'::regprocedure, 'anon');

CREATE FUNCTION payout_fee(gross numeric, platform_rate numeric, minor_unit integer)
  RETURNS numeric
  AS 'MODULE_PATHNAME', 'sg_payout_fee'
  LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION payout_fee(numeric, numeric, integer) IS
  'Internal, the per-booking hot path of run_payout_batch: the platform fee of payout_split, round(gross * platform_rate, minor_unit) with halves away from zero, as a scalar. NULL when gross has more decimals than the minor unit (the booking cannot be split exactly and stays unsettled; reconcile_payouts reports it). Same 22023 refusals as payout_split otherwise.';

-- ---------------------------------------------------------------------------
-- Who may touch payouts: admins (of the payout's tenant, when the token
-- names one) and trusted callers (backends, jobs, DBAs).
-- ---------------------------------------------------------------------------
CREATE FUNCTION assert_payout_admin(tenant_id uuid) RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF is_trusted_caller() THEN
    RETURN;
  END IF;
  PERFORM assert_app_role('ADMIN');
  IF current_tenant_id() IS NOT NULL AND current_tenant_id() IS DISTINCT FROM assert_payout_admin.tenant_id THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = 'not allowed to act on another tenant''s payouts';
  END IF;
END
$$;
COMMENT ON FUNCTION assert_payout_admin(uuid) IS
  'Internal: raises unless the caller is trusted or an ADMIN (of the given tenant when the token carries a tenant_id claim): PT401 anonymous, 42501 otherwise.';

CREATE FUNCTION assert_service_caller(fn text) RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF NOT is_trusted_caller() THEN
    RAISE EXCEPTION USING ERRCODE = '42501', MESSAGE = format('%s is for trusted backends and jobs only', fn);
  END IF;
END
$$;
COMMENT ON FUNCTION assert_service_caller(text) IS
  'Internal: raises 42501 unless the caller is trusted (no JWT claims, not an API role): backends, pg_cron jobs, DBAs.';

-- ---------------------------------------------------------------------------
-- run_payout_batch
-- ---------------------------------------------------------------------------
CREATE FUNCTION run_payout_batch(period_end timestamptz DEFAULT now()) RETURNS integer
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  p_end timestamptz := run_payout_batch.period_end;
  default_rate numeric := platform_rate(NULL);
  n_payouts integer;
  n_picked bigint;
  n_settled bigint;
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
  WITH rates AS (
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

  -- 2. ONLINE bookings: one payout per driver, tenant and currency, and
  --    every booking settled by it, in one statement.  The split of each
  --    booking is computed once, in C, and frozen on the booking.
  WITH rates AS (
    SELECT tn.id AS tenant_id, platform_rate(tn.id) AS rate FROM tenants tn
  ), picked AS (
    SELECT b.id, b.trip_id, t.driver_id, t.tenant_id,
           coalesce(t.tenant_id, '00000000-0000-0000-0000-000000000000'::uuid) AS tkey,
           b.currency, t.completed_at, b.total_amount,
           coalesce(r.rate, default_rate) AS rate,
           payout_fee(b.total_amount, coalesce(r.rate, default_rate), c.minor_unit) AS fee
      FROM bookings b
      JOIN trips t ON t.id = b.trip_id
      JOIN currencies c ON c.code = b.currency
      LEFT JOIN rates r ON r.tenant_id = t.tenant_id
     WHERE b.status = 'COMPLETED' AND b.platform_fee IS NULL AND NOT b.payout_settled
       AND b.payment_method_type = 'ONLINE'
       AND t.completed_at < p_end AND t.driver_id IS NOT NULL
  ), grp AS (
    SELECT driver_id, tkey, currency, min(tenant_id::text)::uuid AS tenant_id,
           uuid_generate_v7() AS payout_id,
           sum(total_amount - fee) AS amount, count(*) AS n_bookings,
           count(DISTINCT trip_id) AS n_trips, min(completed_at) AS first_completed
      FROM picked
     WHERE fee IS NOT NULL
     GROUP BY driver_id, tkey, currency
  ), ins AS (
    INSERT INTO payouts (id, driver_id, amount, currency, status, period_start, period_end,
                         trips_count, bookings_count, tenant_id)
    SELECT g.payout_id, g.driver_id, g.amount, g.currency, 'PENDING', g.first_completed, p_end,
           g.n_trips, g.n_bookings, g.tenant_id
      FROM grp g
    RETURNING id
  ), upd AS (
    UPDATE bookings b
       SET payout_id = g.payout_id, payout_settled = true, settled_at = now(),
           platform_rate = p.rate, platform_fee = p.fee, driver_amount = p.total_amount - p.fee
      FROM picked p
      JOIN grp g ON g.driver_id = p.driver_id AND g.tkey = p.tkey AND g.currency = p.currency
     WHERE b.id = p.id AND p.fee IS NOT NULL
       AND b.status = 'COMPLETED' AND NOT b.payout_settled AND b.platform_fee IS NULL
    RETURNING 1
  )
  SELECT (SELECT count(*) FROM ins), (SELECT array_agg(id) FROM ins),
         (SELECT coalesce(sum(n_bookings), 0) FROM grp), (SELECT count(*) FROM upd)
    INTO n_payouts, new_ids, n_picked, n_settled;

  -- A booking changed under us (a concurrent refund, a REPEATABLE READ
  -- snapshot older than the last batch): settle nothing rather than pay a
  -- sum that no longer matches its bookings.
  IF n_settled <> n_picked THEN
    RAISE EXCEPTION USING ERRCODE = '40001', MESSAGE = 'bookings changed while the payout batch ran',
      DETAIL = format('%s bookings picked, %s settled', n_picked, n_settled),
      HINT = 'Run the batch again.';
  END IF;

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
COMMENT ON FUNCTION run_payout_batch(timestamptz) IS
  'The payout batch (daily pg_cron job steppergo_payout_batch). For every driver, tenant and currency, the COMPLETED, ONLINE, unsettled bookings whose trip completed before period_end become one PENDING payout (amount = sum of the driver''s shares, trips_count, bookings_count, period_start = first completion, period_end), and each booking gets payout_id, payout_settled, settled_at and its frozen split, all in one transaction. CASH_TO_DRIVER bookings are never paid out: their platform fee is recorded in driver_commissions (and deducted from the new payouts when steppergo.payout_net_cash_commission is on). Idempotent (a second run finds nothing left); runs are serialised by an advisory lock, so no booking is ever settled twice. Trusted callers only (42501); period_end in the future or infinite raises 22023. Returns the number of payouts created.';
SELECT api_expose('run_payout_batch(timestamptz)'::regprocedure, 'service');

INSERT INTO job_definitions (name, schedule, command, description) VALUES
  ('steppergo_payout_batch', '0 21 * * *', 'SELECT steppergo.run_payout_batch()',
   'Daily payout batch at 02:00 in Asia/Almaty (UTC+5, no daylight saving since 2024-03-01), which is 21:00 UTC of the previous day: pg_cron 1.4 evaluates schedules in UTC. Pays every booking whose trip completed before the run.');

-- ---------------------------------------------------------------------------
-- Lifecycle: PENDING -> PROCESSING -> PAID | FAILED; PENDING/PROCESSING -> CANCELLED
-- ---------------------------------------------------------------------------
CREATE FUNCTION lock_payout(payout_id uuid) RETURNS payouts
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  p payouts;
BEGIN
  PERFORM require_arg(payout_id, 'payout_id');
  -- role first, so that non-admins learn nothing about payout ids
  IF NOT is_trusted_caller() THEN
    PERFORM assert_app_role('ADMIN');
  END IF;
  SELECT * INTO p FROM payouts WHERE id = lock_payout.payout_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'payout not found',
      DETAIL = format('no payout with id %s', lock_payout.payout_id);
  END IF;
  PERFORM assert_payout_admin(p.tenant_id);
  RETURN p;
END
$$;
COMMENT ON FUNCTION lock_payout(uuid) IS
  'Internal: the payout row locked FOR UPDATE after checking the caller (trusted, or ADMIN of its tenant); PT404 when unknown.';

CREATE FUNCTION refuse_payout_move(p payouts, target payout_status, allowed payout_status[]) RETURNS void
  LANGUAGE plpgsql IMMUTABLE
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF NOT p.status = ANY (allowed) THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('a %s payout cannot become %s', p.status, target),
      DETAIL = format('payout %s is %s; %s needs %s', p.id, p.status, target, array_to_string(allowed, ' or ')),
      HINT = 'Payouts move PENDING -> PROCESSING -> PAID or FAILED; PENDING or PROCESSING -> CANCELLED.';
  END IF;
END
$$;
COMMENT ON FUNCTION refuse_payout_move(payouts, payout_status, payout_status[]) IS
  'Internal: raises PT409 naming the move unless the payout''s status is one of the allowed ones.';

CREATE FUNCTION check_payout_text(value text, name text, max_len integer) RETURNS text
  LANGUAGE plpgsql IMMUTABLE
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF value IS NOT NULL AND (length(btrim(value)) = 0 OR length(value) > max_len) THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = format('%s must be a text of 1 to %s characters', name, max_len);
  END IF;
  RETURN value;
END
$$;
COMMENT ON FUNCTION check_payout_text(text, text, integer) IS 'Internal: returns the text, or raises 22023 when it is blank or longer than max_len.';

CREATE FUNCTION check_transfer_id(stripe_transfer_id text) RETURNS text
  LANGUAGE plpgsql IMMUTABLE
  SET search_path FROM CURRENT
AS $$
BEGIN
  IF stripe_transfer_id IS NOT NULL AND stripe_transfer_id !~ '^[A-Za-z0-9_]{3,255}$' THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'stripe_transfer_id must be 3 to 255 letters, digits or _',
      DETAIL = format('got %s', left(stripe_transfer_id, 60));
  END IF;
  RETURN stripe_transfer_id;
END
$$;
COMMENT ON FUNCTION check_transfer_id(text) IS 'Internal: returns the transfer id, or raises 22023 when it is not a provider id (tr_...).';

CREATE FUNCTION release_payout_bookings(payout_id uuid) RETURNS integer
  LANGUAGE plpgsql
  SET search_path FROM CURRENT
AS $$
DECLARE
  n integer;
BEGIN
  INSERT INTO payout_released_bookings (payout_id, booking_id, platform_rate, platform_fee, driver_amount)
  SELECT b.payout_id, b.id, b.platform_rate, b.platform_fee, b.driver_amount
    FROM bookings b WHERE b.payout_id = release_payout_bookings.payout_id;
  UPDATE bookings b
     SET payout_id = NULL, payout_settled = false, settled_at = NULL,
         platform_rate = NULL, platform_fee = NULL, driver_amount = NULL
   WHERE b.payout_id = release_payout_bookings.payout_id;
  GET DIAGNOSTICS n = ROW_COUNT;
  UPDATE driver_commissions c
     SET status = 'OWED', payout_id = NULL, netted_at = NULL
   WHERE c.payout_id = release_payout_bookings.payout_id;
  RETURN n;
END
$$;
COMMENT ON FUNCTION release_payout_bookings(uuid) IS
  'Internal: a FAILED or CANCELLED payout gives its bookings back to the next batch (unsettled, split cleared, recorded in payout_released_bookings) and its netted commissions back to OWED. Returns the bookings released.';

CREATE FUNCTION mark_payout_processing(payout_id uuid, provider text, method text,
                                       stripe_transfer_id text DEFAULT NULL) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  p payouts;
BEGIN
  PERFORM require_arg(provider, 'provider');
  PERFORM require_arg(method, 'method');
  PERFORM check_payout_text(provider, 'provider', 50);
  PERFORM check_payout_text(method, 'method', 50);
  PERFORM check_transfer_id(stripe_transfer_id);
  p := lock_payout(payout_id);
  PERFORM refuse_payout_move(p, 'PROCESSING', '{PENDING}');
  UPDATE payouts
     SET status = 'PROCESSING', processed_at = now(), payout_provider = provider, payout_method = method,
         stripe_transfer_id = coalesce(mark_payout_processing.stripe_transfer_id, payouts.stripe_transfer_id)
   WHERE id = p.id;
  PERFORM log_admin_action('PAYOUT_PROCESSING', 'payout', p.id::text,
    jsonb_build_object('from', p.status, 'to', 'PROCESSING', 'provider', provider, 'method', method,
                       'stripe_transfer_id', mark_payout_processing.stripe_transfer_id, 'amount', p.amount,
                       'currency', p.currency, 'driver_id', p.driver_id));
END
$$;
COMMENT ON FUNCTION mark_payout_processing(uuid, text, text, text) IS
  'PENDING -> PROCESSING: the payout was handed to the provider (provider: stripe, kaspi, ...; method: bank_transfer, card, ...; the provider''s transfer id when already known, unique: 23505). Sets processed_at; audited in admin_actions. ADMIN or trusted callers; other states PT409, unknown id PT404, blank or too long texts 22023.';
SELECT api_expose('mark_payout_processing(uuid, text, text, text)'::regprocedure, 'authenticated');

CREATE FUNCTION mark_payout_paid(payout_id uuid, stripe_transfer_id text DEFAULT NULL) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  p payouts;
BEGIN
  PERFORM check_transfer_id(stripe_transfer_id);
  p := lock_payout(payout_id);
  PERFORM refuse_payout_move(p, 'PAID', '{PROCESSING}');
  UPDATE payouts
     SET status = 'PAID', paid_at = now(),
         stripe_transfer_id = coalesce(mark_payout_paid.stripe_transfer_id, payouts.stripe_transfer_id)
   WHERE id = p.id;
  UPDATE drivers d SET total_earnings = d.total_earnings + p.amount WHERE d.id = p.driver_id;
  PERFORM log_admin_action('PAYOUT_PAID', 'payout', p.id::text,
    jsonb_build_object('from', p.status, 'to', 'PAID', 'stripe_transfer_id',
                       coalesce(mark_payout_paid.stripe_transfer_id, p.stripe_transfer_id),
                       'amount', p.amount, 'currency', p.currency, 'driver_id', p.driver_id));
END
$$;
COMMENT ON FUNCTION mark_payout_paid(uuid, text) IS
  'PROCESSING -> PAID: the provider confirmed the transfer (its id, unique: 23505). Sets paid_at and adds the amount to the driver''s total_earnings in the same transaction; audited. ADMIN or trusted callers; other states PT409.';
SELECT api_expose('mark_payout_paid(uuid, text)'::regprocedure, 'authenticated');

CREATE FUNCTION mark_payout_failed(payout_id uuid, reason text) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  p payouts;
  n integer;
BEGIN
  PERFORM require_arg(reason, 'reason');
  PERFORM check_payout_text(reason, 'reason', 2000);
  p := lock_payout(payout_id);
  PERFORM refuse_payout_move(p, 'FAILED', '{PROCESSING}');
  UPDATE payouts SET status = 'FAILED', failed_at = now(), failure_reason = reason WHERE id = p.id;
  n := release_payout_bookings(p.id);
  PERFORM log_admin_action('PAYOUT_FAILED', 'payout', p.id::text,
    jsonb_build_object('from', p.status, 'to', 'FAILED', 'reason', reason, 'bookings_released', n,
                       'amount', p.amount, 'currency', p.currency, 'driver_id', p.driver_id));
END
$$;
COMMENT ON FUNCTION mark_payout_failed(uuid, text) IS
  'PROCESSING -> FAILED: the provider reported failure (reason required). Sets failed_at and failure_reason and releases the payout''s bookings for the next batch (and its netted commissions back to OWED); audited. ADMIN or trusted callers; other states PT409.';
SELECT api_expose('mark_payout_failed(uuid, text)'::regprocedure, 'authenticated');

CREATE FUNCTION cancel_payout(payout_id uuid, reason text) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  p payouts;
  n integer;
BEGIN
  PERFORM require_arg(reason, 'reason');
  PERFORM check_payout_text(reason, 'reason', 2000);
  p := lock_payout(payout_id);
  PERFORM refuse_payout_move(p, 'CANCELLED', '{PENDING,PROCESSING}');
  UPDATE payouts SET status = 'CANCELLED', cancelled_at = now(), failure_reason = reason WHERE id = p.id;
  n := release_payout_bookings(p.id);
  PERFORM log_admin_action('PAYOUT_CANCELLED', 'payout', p.id::text,
    jsonb_build_object('from', p.status, 'to', 'CANCELLED', 'reason', reason, 'bookings_released', n,
                       'amount', p.amount, 'currency', p.currency, 'driver_id', p.driver_id));
END
$$;
COMMENT ON FUNCTION cancel_payout(uuid, text) IS
  'PENDING or PROCESSING -> CANCELLED (reason required, kept in failure_reason). Sets cancelled_at and releases the payout''s bookings for the next batch (and its netted commissions back to OWED); audited. ADMIN or trusted callers; other states PT409.';
SELECT api_expose('cancel_payout(uuid, text)'::regprocedure, 'authenticated');

CREATE FUNCTION record_commission_payment(commission_id uuid, reference text) RETURNS void
  LANGUAGE plpgsql SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  c driver_commissions;
BEGIN
  PERFORM require_arg(commission_id, 'commission_id');
  PERFORM require_arg(reference, 'reference');
  PERFORM check_payout_text(reference, 'reference', 200);
  IF NOT is_trusted_caller() THEN
    PERFORM assert_app_role('ADMIN');
  END IF;
  SELECT * INTO c FROM driver_commissions WHERE id = commission_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'commission not found',
      DETAIL = format('no driver commission with id %s', commission_id);
  END IF;
  PERFORM assert_payout_admin(c.tenant_id);
  IF c.status <> 'OWED' THEN
    RAISE EXCEPTION USING ERRCODE = 'PT409', MESSAGE = format('a %s commission cannot be paid', c.status),
      DETAIL = format('commission %s is %s', c.id, c.status);
  END IF;
  UPDATE driver_commissions SET status = 'PAID', paid_at = now(), reference = record_commission_payment.reference
   WHERE id = c.id;
  PERFORM log_admin_action('COMMISSION_PAID', 'driver_commission', c.id::text,
    jsonb_build_object('from', 'OWED', 'to', 'PAID', 'reference', reference, 'amount', c.amount,
                       'currency', c.currency, 'driver_id', c.driver_id));
END
$$;
COMMENT ON FUNCTION record_commission_payment(uuid, text) IS
  'OWED -> PAID: the driver paid a cash-booking commission to the platform (reference: receipt or transfer). Audited. ADMIN or trusted callers; NETTED or PAID commissions PT409.';
SELECT api_expose('record_commission_payment(uuid, text)'::regprocedure, 'authenticated');

-- ---------------------------------------------------------------------------
-- The driver's statement
-- ---------------------------------------------------------------------------
CREATE FUNCTION driver_statement(driver_id uuid, period_start timestamptz, period_end timestamptz)
  RETURNS TABLE (booking_id uuid, trip_id uuid, completed_at timestamptz, payment_method payment_method_type,
                 currency text, gross numeric, platform_rate numeric, platform_fee numeric, driver_amount numeric,
                 split_frozen boolean, payout_id uuid, payout_status payout_status,
                 commission_id uuid, commission_status text)
  LANGUAGE plpgsql STABLE SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
DECLARE
  d drivers;
  default_rate numeric := platform_rate(NULL);
BEGIN
  PERFORM require_arg(driver_id, 'driver_id');
  PERFORM require_arg(period_start, 'period_start');
  PERFORM require_arg(period_end, 'period_end');
  IF period_end < period_start THEN
    RAISE EXCEPTION USING ERRCODE = '22023', MESSAGE = 'period_end must not be before period_start';
  END IF;
  IF NOT is_trusted_caller() AND current_user_id() IS NULL THEN
    RAISE EXCEPTION USING ERRCODE = 'PT401', MESSAGE = 'authentication required';
  END IF;
  SELECT * INTO d FROM drivers WHERE id = driver_statement.driver_id;
  IF NOT FOUND THEN
    RAISE EXCEPTION USING ERRCODE = 'PT404', MESSAGE = 'driver not found',
      DETAIL = format('no driver with id %s', driver_statement.driver_id);
  END IF;
  IF NOT is_trusted_caller() AND current_user_id() IS DISTINCT FROM d.user_id THEN
    PERFORM assert_payout_admin(d.tenant_id);
  END IF;
  RETURN QUERY
  SELECT b.id, t.id, t.completed_at, b.payment_method_type, b.currency, b.total_amount,
         coalesce(b.platform_rate, s.rate), coalesce(b.platform_fee, s.fee),
         coalesce(b.driver_amount, b.total_amount - s.fee),
         b.platform_fee IS NOT NULL, b.payout_id, p.status, c.id, c.status
    FROM trips t
    JOIN bookings b ON b.trip_id = t.id
    JOIN currencies cu ON cu.code = b.currency
    LEFT JOIN tenants tn ON tn.id = t.tenant_id
    LEFT JOIN payouts p ON p.id = b.payout_id
    LEFT JOIN driver_commissions c ON c.booking_id = b.id
    CROSS JOIN LATERAL (
      SELECT r.rate, payout_fee(b.total_amount, r.rate, cu.minor_unit) AS fee
        FROM (SELECT CASE WHEN t.tenant_id IS NULL THEN default_rate ELSE platform_rate(t.tenant_id) END AS rate) r
    ) s
   WHERE t.driver_id = driver_statement.driver_id
     AND b.status = 'COMPLETED'
     AND t.completed_at >= driver_statement.period_start AND t.completed_at < driver_statement.period_end
   ORDER BY t.completed_at, b.id;
END
$$;
COMMENT ON FUNCTION driver_statement(uuid, timestamptz, timestamptz) IS
  'A driver''s statement for a period (trips completed in [period_start, period_end)): every COMPLETED booking with its gross, platform rate, fee and driver share (frozen once split_frozen, else what the next batch would compute now), payment method, the payout that settled it and its status, and for CASH_TO_DRIVER bookings the commission the driver owes (commission_status OWED, NETTED or PAID). The driver may read their own; ADMIN (of the driver''s tenant) and trusted callers any. PT404 unknown driver, 22023 period_end before period_start.';
SELECT api_expose('driver_statement(uuid, timestamptz, timestamptz)'::regprocedure, 'authenticated');

-- ---------------------------------------------------------------------------
-- Reconciliation: every violated invariant, one row each
-- ---------------------------------------------------------------------------
CREATE FUNCTION reconcile_payouts()
  RETURNS TABLE (invariant text, payout_id uuid, booking_id uuid, driver_id uuid, detail text)
  LANGUAGE plpgsql STABLE SECURITY DEFINER
  SET search_path FROM CURRENT
AS $$
BEGIN
  PERFORM assert_service_caller('reconcile_payouts');
  RETURN QUERY
  -- 1. a live payout pays exactly its bookings' driver shares (minus netted commissions)
  WITH live AS (
    SELECT b.payout_id, sum(b.driver_amount) AS shares, count(*) AS n, count(DISTINCT b.trip_id) AS trips
      FROM bookings b WHERE b.payout_id IS NOT NULL GROUP BY b.payout_id
  ), released AS (
    SELECT r.payout_id, sum(r.driver_amount) AS shares, count(*) AS n
      FROM payout_released_bookings r GROUP BY r.payout_id
  ), netted AS (
    SELECT c.payout_id, sum(c.amount) AS total FROM driver_commissions c
     WHERE c.payout_id IS NOT NULL GROUP BY c.payout_id
  )
  SELECT 'payout_amount', p.id, NULL::uuid, p.driver_id,
         format('payout %s is %s %s + %s netted; its bookings'' driver shares sum to %s (%s bookings, payout says %s)',
                p.status, p.amount, p.currency, p.commission_netted,
                coalesce(CASE WHEN p.status IN ('FAILED', 'CANCELLED') THEN rl.shares ELSE l.shares END, 0),
                coalesce(CASE WHEN p.status IN ('FAILED', 'CANCELLED') THEN rl.n ELSE l.n END, 0), p.bookings_count)
    FROM payouts p
    LEFT JOIN live l ON l.payout_id = p.id
    LEFT JOIN released rl ON rl.payout_id = p.id
   WHERE p.amount + p.commission_netted
           IS DISTINCT FROM coalesce(CASE WHEN p.status IN ('FAILED', 'CANCELLED') THEN rl.shares ELSE l.shares END, 0)
      OR p.bookings_count IS DISTINCT FROM coalesce(CASE WHEN p.status IN ('FAILED', 'CANCELLED') THEN rl.n ELSE l.n END, 0)
      OR (p.status NOT IN ('FAILED', 'CANCELLED') AND p.trips_count IS DISTINCT FROM coalesce(l.trips, 0))
  UNION ALL
  SELECT 'payout_commission_netted', p.id, NULL, p.driver_id,
         format('payout deducted %s; NETTED commissions pointing to it sum to %s', p.commission_netted, coalesce(n.total, 0))
    FROM payouts p LEFT JOIN netted n ON n.payout_id = p.id
   WHERE p.status NOT IN ('FAILED', 'CANCELLED') AND p.commission_netted IS DISTINCT FROM coalesce(n.total, 0)
  UNION ALL
  -- 2. every settled booking: driver share + fee = gross
  SELECT 'booking_split', b.payout_id, b.id, NULL,
         format('gross %s, fee %s, driver share %s', b.total_amount, b.platform_fee, b.driver_amount)
    FROM bookings b
   WHERE (b.payout_settled OR b.payout_id IS NOT NULL)
     AND (b.platform_fee IS NULL OR b.driver_amount IS NULL
          OR b.platform_fee + b.driver_amount IS DISTINCT FROM b.total_amount)
  UNION ALL
  -- 3. settled without a payout, or a payout without the settled flag
  SELECT 'settled_without_payout', b.payout_id, b.id, NULL,
         format('payout_settled %s, payout_id %s', b.payout_settled, coalesce(b.payout_id::text, 'NULL'))
    FROM bookings b
   WHERE b.payout_settled IS DISTINCT FROM (b.payout_id IS NOT NULL)
  UNION ALL
  -- 4. settled twice: a booking held by a released payout that is not
  --    FAILED/CANCELLED, or by a dead payout still
  SELECT 'settled_twice', r.payout_id, r.booking_id, p.driver_id,
         format('released from payout %s which is %s', r.payout_id, p.status)
    FROM payout_released_bookings r JOIN payouts p ON p.id = r.payout_id
   WHERE p.status NOT IN ('FAILED', 'CANCELLED')
  UNION ALL
  SELECT 'settled_twice', p.id, b.id, p.driver_id,
         format('booking still settled by a %s payout', p.status)
    FROM bookings b JOIN payouts p ON p.id = b.payout_id
   WHERE p.status IN ('FAILED', 'CANCELLED')
  UNION ALL
  -- 5. what a payout settles must be payable to that driver, in its currency
  SELECT 'settled_not_payable', p.id, b.id, p.driver_id,
         format('booking %s %s by %s in %s; payout to driver %s in %s', b.status, b.payment_method_type,
                coalesce(t.driver_id::text, 'no driver'), b.currency, p.driver_id, p.currency)
    FROM bookings b JOIN payouts p ON p.id = b.payout_id JOIN trips t ON t.id = b.trip_id
   WHERE b.status <> 'COMPLETED' OR b.payment_method_type <> 'ONLINE'
      OR t.driver_id IS DISTINCT FROM p.driver_id OR b.currency <> p.currency
      OR t.tenant_id IS DISTINCT FROM p.tenant_id
  UNION ALL
  -- 6. the commission ledger matches the cash bookings' frozen fees
  SELECT 'commission_mismatch', c.payout_id, c.booking_id, c.driver_id,
         format('commission %s %s on gross %s; booking %s %s, fee %s', c.amount, c.currency, c.gross,
                b.payment_method_type, b.total_amount, b.platform_fee)
    FROM driver_commissions c JOIN bookings b ON b.id = c.booking_id
   WHERE b.payment_method_type <> 'CASH_TO_DRIVER' OR c.gross <> b.total_amount
      OR c.amount IS DISTINCT FROM b.platform_fee OR c.currency <> b.currency
  UNION ALL
  -- 7. total_earnings = the sum of the driver's PAID payouts
  SELECT 'total_earnings', NULL, NULL, d.id,
         format('total_earnings %s; PAID payouts sum to %s', d.total_earnings, coalesce(pd.total, 0))
    FROM drivers d
    LEFT JOIN (SELECT p.driver_id, sum(p.amount) AS total FROM payouts p WHERE p.status = 'PAID'
                GROUP BY p.driver_id) pd ON pd.driver_id = d.id
   WHERE d.total_earnings IS DISTINCT FROM coalesce(pd.total, 0)
  UNION ALL
  -- 8. a completed ONLINE booking no batch can pay (finer than the minor unit)
  SELECT 'unpayable_booking', NULL, b.id, t.driver_id,
         format('total_amount %s has more decimals than %s allows (%s)', b.total_amount, b.currency, cu.minor_unit)
    FROM bookings b JOIN trips t ON t.id = b.trip_id JOIN currencies cu ON cu.code = b.currency
   WHERE b.status = 'COMPLETED' AND b.platform_fee IS NULL AND NOT b.payout_settled
     AND b.total_amount <> round(b.total_amount, cu.minor_unit);
END
$$;
COMMENT ON FUNCTION reconcile_payouts() IS
  'Checks the payout books and returns one row per violated invariant (none: the books balance): payout_amount (a payout''s amount plus netted commissions equals the driver shares of its bookings, or of the bookings it released when FAILED/CANCELLED, and its counts match), payout_commission_netted, booking_split (driver share + fee = gross for every settled booking), settled_without_payout, settled_twice, settled_not_payable (wrong status, method, driver, currency or tenant), commission_mismatch, total_earnings (= sum of the driver''s PAID payouts), unpayable_booking. Trusted callers only.';
SELECT api_expose('reconcile_payouts()'::regprocedure, 'service');
