-- ===========================================================================
-- payouts: what drivers are paid, batch by batch
-- ===========================================================================

CREATE TABLE payouts (
  id                  uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  driver_id           uuid NOT NULL REFERENCES drivers (id) ON DELETE RESTRICT,
  amount              numeric(14,2) NOT NULL CHECK (amount >= 0),
  currency            text NOT NULL DEFAULT 'KZT' REFERENCES currencies (code),
  status              payout_status NOT NULL DEFAULT 'PENDING',
  payout_method       text CHECK (length(payout_method) <= 50),
  payout_provider     text CHECK (length(payout_provider) <= 50),
  stripe_transfer_id  text UNIQUE CHECK (stripe_transfer_id ~ '^[A-Za-z0-9_]{3,255}$'),
  provider_metadata   jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(provider_metadata) = 'object'),
  period_start        timestamptz,
  period_end          timestamptz NOT NULL,
  trips_count         integer NOT NULL DEFAULT 0 CHECK (trips_count >= 0),
  bookings_count      integer NOT NULL DEFAULT 0 CHECK (bookings_count >= 0),
  tenant_id           uuid REFERENCES tenants (id) ON DELETE RESTRICT,
  metadata            jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
  created_at          timestamptz NOT NULL DEFAULT now(),
  processed_at        timestamptz,
  failed_at           timestamptz,
  updated_at          timestamptz NOT NULL DEFAULT now(),
  paid_at             timestamptz,
  cancelled_at        timestamptz,
  failure_reason      text CHECK (length(failure_reason) <= 2000),
  CONSTRAINT payouts_period CHECK (period_start IS NULL OR period_end >= period_start)
);
COMMENT ON TABLE payouts IS 'Payouts to drivers: one per driver, tenant and currency per batch, summing the driver''s share (85 % by default) of the settled ONLINE bookings.';
COMMENT ON COLUMN payouts.id IS 'Payout key (UUIDv7).';
COMMENT ON COLUMN payouts.driver_id IS 'The driver paid.';
COMMENT ON COLUMN payouts.amount IS 'Amount paid: the sum of the driver''s shares of the payout''s bookings.';
COMMENT ON COLUMN payouts.currency IS 'ISO 4217 currency; one payout never mixes currencies.';
COMMENT ON COLUMN payouts.status IS 'PENDING, PROCESSING, PAID, FAILED or CANCELLED.';
COMMENT ON COLUMN payouts.payout_method IS 'How the money is sent (bank_transfer, card, ...).';
COMMENT ON COLUMN payouts.payout_provider IS 'Who sends it (stripe, kaspi, ...).';
COMMENT ON COLUMN payouts.stripe_transfer_id IS 'The provider''s transfer id (tr_...), unique.';
COMMENT ON COLUMN payouts.provider_metadata IS 'Further provider data, a JSON object.';
COMMENT ON COLUMN payouts.period_start IS 'Start of the period the payout covers (the earliest completion of its bookings'' trips).';
COMMENT ON COLUMN payouts.period_end IS 'End of the period the payout covers: the batch''s period_end.';
COMMENT ON COLUMN payouts.trips_count IS 'Number of distinct trips in the payout.';
COMMENT ON COLUMN payouts.bookings_count IS 'Number of bookings in the payout.';
COMMENT ON COLUMN payouts.tenant_id IS 'The tenant of the payout''s trips; NULL for the platform''s own.';
COMMENT ON COLUMN payouts.metadata IS 'Further data, a JSON object.';
COMMENT ON COLUMN payouts.created_at IS 'When the batch created the payout.';
COMMENT ON COLUMN payouts.processed_at IS 'When the payout was handed to the provider (PROCESSING).';
COMMENT ON COLUMN payouts.failed_at IS 'When the provider reported failure.';
COMMENT ON COLUMN payouts.updated_at IS 'When the payout was last changed (kept by trigger).';
COMMENT ON COLUMN payouts.paid_at IS 'When the payout was PAID.';
COMMENT ON COLUMN payouts.cancelled_at IS 'When the payout was CANCELLED.';
COMMENT ON COLUMN payouts.failure_reason IS 'Why the payout failed or was cancelled.';
CREATE INDEX payouts_driver_idx ON payouts (driver_id, created_at);
CREATE INDEX payouts_status_idx ON payouts (status);
CREATE INDEX payouts_tenant_idx ON payouts (tenant_id) WHERE tenant_id IS NOT NULL;
CREATE TRIGGER payouts_touch BEFORE UPDATE ON payouts
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
SELECT pg_catalog.pg_extension_config_dump('payouts', '');

ALTER TABLE bookings ADD CONSTRAINT bookings_payout_id_fkey
  FOREIGN KEY (payout_id) REFERENCES payouts (id) ON DELETE RESTRICT;

-- What a payout deducted for commissions the driver owed on cash bookings
-- (steppergo.payout_net_cash_commission); zero when netting is off.
ALTER TABLE payouts ADD COLUMN commission_netted numeric(14,2) NOT NULL DEFAULT 0 CHECK (commission_netted >= 0);
COMMENT ON COLUMN payouts.commission_netted IS 'Commissions the driver owed on CASH_TO_DRIVER bookings that this payout deducted (steppergo.payout_net_cash_commission); amount = the bookings'' driver shares minus this. Zero when netting is off.';

-- ---------------------------------------------------------------------------
-- The frozen split of every booking.  The batch computes it once, with the
-- rate of the trip's tenant at that moment, and stores it on the booking:
-- ONLINE bookings when a payout settles them, CASH_TO_DRIVER bookings when
-- their commission is recorded.  Later rate changes never alter what was paid.
-- ---------------------------------------------------------------------------
ALTER TABLE bookings
  ADD COLUMN platform_rate numeric(5,4),
  ADD COLUMN platform_fee numeric(14,2),
  ADD COLUMN driver_amount numeric(14,2),
  ADD CONSTRAINT bookings_split_exact CHECK (
    (platform_rate IS NULL AND platform_fee IS NULL AND driver_amount IS NULL)
    OR (platform_rate BETWEEN 0 AND 1 AND platform_fee >= 0 AND driver_amount >= 0
        AND platform_fee + driver_amount = total_amount));
COMMENT ON COLUMN bookings.platform_rate IS 'Platform rate the booking was split with (frozen by the payout batch: the trip tenant''s rate at that time); NULL until split.';
COMMENT ON COLUMN bookings.platform_fee IS 'The platform''s share of total_amount, round(total_amount * platform_rate) to the currency''s minor unit, halves away from zero; frozen when a payout settles the booking (ONLINE) or its commission is recorded (CASH_TO_DRIVER).';
COMMENT ON COLUMN bookings.driver_amount IS 'The driver''s share: total_amount - platform_fee, so the two always add up to total_amount (CHECK bookings_split_exact).';
-- The batch's work list: completed bookings not split yet.  Small in steady
-- state (only what completed since the last batch), whatever the history.
CREATE INDEX bookings_unsplit_idx ON bookings (trip_id)
  WHERE status = 'COMPLETED' AND platform_fee IS NULL;
CREATE INDEX trips_completed_at_idx ON trips (completed_at) WHERE completed_at IS NOT NULL;

-- ---------------------------------------------------------------------------
-- driver_commissions: what drivers owe the platform for cash bookings
-- ---------------------------------------------------------------------------
CREATE TABLE driver_commissions (
  id             uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  driver_id      uuid NOT NULL REFERENCES drivers (id) ON DELETE RESTRICT,
  booking_id     uuid NOT NULL UNIQUE REFERENCES bookings (id) ON DELETE RESTRICT,
  trip_id        uuid NOT NULL REFERENCES trips (id) ON DELETE RESTRICT,
  tenant_id      uuid REFERENCES tenants (id) ON DELETE RESTRICT,
  currency       text NOT NULL REFERENCES currencies (code),
  gross          numeric(14,2) NOT NULL CHECK (gross >= 0),
  platform_rate  numeric(5,4) NOT NULL CHECK (platform_rate BETWEEN 0 AND 1),
  amount         numeric(14,2) NOT NULL CHECK (amount >= 0),
  status         text NOT NULL DEFAULT 'OWED' CHECK (status IN ('OWED', 'NETTED', 'PAID')),
  payout_id      uuid REFERENCES payouts (id) ON DELETE RESTRICT,
  reference      text CHECK (length(reference) <= 200),
  recorded_at    timestamptz NOT NULL DEFAULT now(),
  netted_at      timestamptz,
  paid_at        timestamptz,
  updated_at     timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT driver_commissions_within_gross CHECK (amount <= gross),
  CONSTRAINT driver_commissions_netted CHECK ((status = 'NETTED') = (payout_id IS NOT NULL)
                                              AND (status = 'NETTED') = (netted_at IS NOT NULL)),
  CONSTRAINT driver_commissions_paid CHECK ((status = 'PAID') = (paid_at IS NOT NULL))
);
COMMENT ON TABLE driver_commissions IS 'Ledger of the platform''s share of CASH_TO_DRIVER bookings: the driver collected the whole fare in cash, so the driver owes the platform its fee. One row per booking, written by run_payout_batch; never paid out. OWED until netted against a payout (steppergo.payout_net_cash_commission) or recorded as paid.';
COMMENT ON COLUMN driver_commissions.id IS 'Ledger row key (UUIDv7).';
COMMENT ON COLUMN driver_commissions.driver_id IS 'The driver who owes the commission (the trip''s driver).';
COMMENT ON COLUMN driver_commissions.booking_id IS 'The cash booking; one commission per booking.';
COMMENT ON COLUMN driver_commissions.trip_id IS 'The booking''s trip.';
COMMENT ON COLUMN driver_commissions.tenant_id IS 'The trip''s tenant; NULL for the platform''s own trips.';
COMMENT ON COLUMN driver_commissions.currency IS 'ISO 4217 currency of the booking.';
COMMENT ON COLUMN driver_commissions.gross IS 'What the passenger paid the driver in cash (the booking''s total_amount).';
COMMENT ON COLUMN driver_commissions.platform_rate IS 'Rate the commission was computed with (the tenant''s rate at the batch).';
COMMENT ON COLUMN driver_commissions.amount IS 'The commission owed: the booking''s platform_fee, round(gross * platform_rate) to the minor unit.';
COMMENT ON COLUMN driver_commissions.status IS 'OWED (driver still owes it), NETTED (deducted from payout_id), PAID (the driver paid it, reference says how).';
COMMENT ON COLUMN driver_commissions.payout_id IS 'The payout that deducted it; set exactly when NETTED.';
COMMENT ON COLUMN driver_commissions.reference IS 'How the driver paid it (receipt, transfer reference), when PAID.';
COMMENT ON COLUMN driver_commissions.recorded_at IS 'When the batch recorded it.';
COMMENT ON COLUMN driver_commissions.netted_at IS 'When a payout deducted it.';
COMMENT ON COLUMN driver_commissions.paid_at IS 'When it was recorded as paid.';
COMMENT ON COLUMN driver_commissions.updated_at IS 'When the row was last changed (kept by trigger).';
CREATE INDEX driver_commissions_driver_idx ON driver_commissions (driver_id, recorded_at);
CREATE INDEX driver_commissions_owed_idx ON driver_commissions (driver_id, currency, recorded_at) WHERE status = 'OWED';
CREATE INDEX driver_commissions_payout_idx ON driver_commissions (payout_id) WHERE payout_id IS NOT NULL;
CREATE TRIGGER driver_commissions_touch BEFORE UPDATE ON driver_commissions
  FOR EACH ROW EXECUTE FUNCTION touch_updated_at();
SELECT pg_catalog.pg_extension_config_dump('driver_commissions', '');

-- ---------------------------------------------------------------------------
-- payout_released_bookings: what a FAILED or CANCELLED payout had settled
-- ---------------------------------------------------------------------------
CREATE TABLE payout_released_bookings (
  id             uuid PRIMARY KEY DEFAULT uuid_generate_v7(),
  payout_id      uuid NOT NULL REFERENCES payouts (id) ON DELETE CASCADE,
  booking_id     uuid NOT NULL REFERENCES bookings (id) ON DELETE RESTRICT,
  platform_rate  numeric(5,4) NOT NULL,
  platform_fee   numeric(14,2) NOT NULL,
  driver_amount  numeric(14,2) NOT NULL,
  released_at    timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT payout_released_bookings_once UNIQUE (payout_id, booking_id)
);
COMMENT ON TABLE payout_released_bookings IS 'The bookings a payout had settled when it FAILED or was CANCELLED, with the split it had used: the bookings themselves are released for the next batch, this keeps the failed payout''s books checkable (reconcile_payouts).';
COMMENT ON COLUMN payout_released_bookings.id IS 'Row key (UUIDv7).';
COMMENT ON COLUMN payout_released_bookings.payout_id IS 'The FAILED or CANCELLED payout; a booking appears once per payout.';
COMMENT ON COLUMN payout_released_bookings.booking_id IS 'A booking it had settled.';
COMMENT ON COLUMN payout_released_bookings.platform_rate IS 'The rate the booking had been split with.';
COMMENT ON COLUMN payout_released_bookings.platform_fee IS 'The platform''s share the payout had used.';
COMMENT ON COLUMN payout_released_bookings.driver_amount IS 'The driver''s share the payout had included.';
COMMENT ON COLUMN payout_released_bookings.released_at IS 'When the payout failed or was cancelled and the booking was released.';
CREATE INDEX payout_released_bookings_booking_idx ON payout_released_bookings (booking_id);
SELECT pg_catalog.pg_extension_config_dump('payout_released_bookings', '');
