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
