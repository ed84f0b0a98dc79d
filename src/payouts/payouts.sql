-- ===========================================================================
-- payouts (release 0.2): the split, batching, lifecycle, reconciliation
-- ===========================================================================

CREATE FUNCTION payout_split(gross numeric, platform_rate numeric DEFAULT 0.15, minor_unit integer DEFAULT 2)
  RETURNS TABLE (driver_amount numeric, platform_fee numeric)
  AS 'MODULE_PATHNAME', 'sg_payout_split'
  LANGUAGE C IMMUTABLE PARALLEL SAFE ROWS 1;
COMMENT ON FUNCTION payout_split(numeric, numeric, integer) IS
  'Splits a gross amount between driver and platform, exactly: platform_fee = round(gross * platform_rate, minor_unit) (halves away from zero), driver_amount = gross - platform_fee, so the two always add up to gross. Rate in [0, 1] (default 0.15, the 85/15 split); minor_unit is the currency''s decimals (KZT: 2). Negative, NaN or infinite amounts, or more decimals than the minor unit, raise 22023; NULLs raise 22004.';
