/*-------------------------------------------------------------------------
 *
 * split.c
 *	  The payout split: how a gross amount divides between driver and platform.
 *
 * Exact decimal arithmetic on numeric, never floating point:
 *
 *	platform_fee  = round(gross * rate, minor_unit)   (half away from zero)
 *	driver_amount = gross - platform_fee
 *
 * so driver_amount + platform_fee = gross exactly, for every input.  The
 * rounding mode is PostgreSQL's round(numeric, int): halves away from zero
 * (a fee of 0.005 tenge becomes 0.01), the same result plain SQL numeric
 * gives, so any reviewer can recompute a split by hand.
 *
 *-------------------------------------------------------------------------
 */
#include "steppergo.h"

#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/tuplestore.h"
#include "utils/fmgrprotos.h"
#include "utils/memutils.h"
#include "utils/numeric.h"

PG_FUNCTION_INFO_V1(sg_payout_split);
PG_FUNCTION_INFO_V1(sg_payout_fee);
PG_FUNCTION_INFO_V1(sg_payout_payable);

/* the numerics 0 and 1, made once per backend (the batch checks every row) */
static Numeric
const_numeric(int64 v)
{
	static Numeric zero = NULL;
	static Numeric one = NULL;
	Numeric    *slot = (v == 0) ? &zero : &one;

	Assert(v == 0 || v == 1);
	if (*slot == NULL)
	{
		MemoryContext old = MemoryContextSwitchTo(TopMemoryContext);

		*slot = int64_to_numeric(v);
		MemoryContextSwitchTo(old);
	}
	return *slot;
}

static void
check_finite(Numeric n, const char *what)
{
	if (numeric_is_nan(n) || numeric_is_inf(n))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a finite number", what)));
}

static int
cmp(Numeric a, Numeric b)
{
	return DatumGetInt32(DirectFunctionCall2(numeric_cmp,
											 NumericGetDatum(a),
											 NumericGetDatum(b)));
}

static char *
num_text(Numeric n)
{
	return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(n)));
}

/* sign of a finite numeric: -1, 0 or 1 (a comparison, nothing allocated) */
static int
sign_of(Numeric n)
{
	int			c = cmp(n, const_numeric(0));

	return (c > 0) - (c < 0);
}

/*
 * Does gross have no more decimals than the minor unit?  The display scale
 * answers most calls without arithmetic (numeric(14,2) values carry scale 2);
 * a larger scale may still hold a payable value (1.230), so then compare
 * with the rounded value.
 */
static bool
payable(Numeric gross, int32 minor_unit)
{
	int32		scale = DatumGetInt32(DirectFunctionCall1(numeric_scale,
														  NumericGetDatum(gross)));

	if (scale <= minor_unit)
		return true;
	return cmp(gross, DatumGetNumeric(DirectFunctionCall2(numeric_round,
														  NumericGetDatum(gross),
														  Int32GetDatum(minor_unit)))) == 0;
}

/* 22023 for a NaN, infinite or negative gross */
static void
check_gross(Numeric gross)
{
	check_finite(gross, "gross");
	if (sign_of(gross) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gross must not be negative"),
				 errdetail("gross is %s.", num_text(gross))));
}

/* 22023 for a minor unit outside [0, 4] */
static void
check_minor_unit(int32 minor_unit)
{
	if (minor_unit < 0 || minor_unit > 4)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("minor_unit must be between 0 and 4"),
				 errdetail("minor_unit is %d.", minor_unit)));
}

/*
 * Checks shared by both entry points; raises 22023 for a negative, NaN or
 * infinite gross, a rate outside [0, 1] or a minor unit outside [0, 4].
 */
static void
check_split_args(Numeric gross, Numeric rate, int32 minor_unit)
{
	check_gross(gross);
	check_finite(rate, "platform_rate");
	if (sign_of(rate) < 0 || cmp(rate, const_numeric(1)) > 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("platform_rate must be between 0 and 1"),
				 errdetail("platform_rate is %s.", num_text(rate))));
	check_minor_unit(minor_unit);
}

/* round(gross * rate, minor_unit): halves away from zero */
static Datum
compute_fee(Numeric gross, Numeric rate, int32 minor_unit)
{
	return DirectFunctionCall2(numeric_round,
							   DirectFunctionCall2(numeric_mul,
												   NumericGetDatum(gross),
												   NumericGetDatum(rate)),
							   Int32GetDatum(minor_unit));
}

/*
 * payout_split(gross numeric, platform_rate numeric DEFAULT 0.15,
 *				minor_unit integer DEFAULT 2)
 *	  RETURNS TABLE (driver_amount numeric, platform_fee numeric)
 *
 * Set-returning as the contract fixes it (one row), in materialize mode.
 */
Datum
sg_payout_split(PG_FUNCTION_ARGS)
{
	Numeric		gross;
	Numeric		rate;
	int32		minor_unit;
	Datum		fee;
	Datum		driver;
	ReturnSetInfo *rsinfo;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("gross must not be null")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("platform_rate must not be null")));
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("minor_unit must not be null")));

	gross = PG_GETARG_NUMERIC(0);
	rate = PG_GETARG_NUMERIC(1);
	minor_unit = PG_GETARG_INT32(2);

	check_split_args(gross, rate, minor_unit);

	/* amounts finer than the minor unit cannot be paid out */
	if (!payable(gross, minor_unit))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("gross has more decimals than the currency's minor unit"),
				 errdetail("gross is %s, minor unit %d.", num_text(gross), minor_unit)));

	fee = compute_fee(gross, rate, minor_unit);
	driver = DirectFunctionCall2(numeric_sub, NumericGetDatum(gross), fee);

	/* one row, returned in materialize mode */
	InitMaterializedSRF(fcinfo, 0);
	rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	values[0] = driver;
	values[1] = fee;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum) 0;
}

/*
 * payout_fee(gross numeric, platform_rate numeric, minor_unit integer)
 *	  RETURNS numeric
 *
 * The platform's fee of one booking, the same arithmetic as payout_split
 * without the set-returning machinery: the batch calls it once per booking.
 * STRICT.  Returns NULL (instead of raising) when gross has more decimals
 * than the minor unit, so that one unpayable booking never blocks a whole
 * batch: the batch leaves it unsettled and reconcile_payouts() reports it.
 */
Datum
sg_payout_fee(PG_FUNCTION_ARGS)
{
	Numeric		gross = PG_GETARG_NUMERIC(0);
	Numeric		rate = PG_GETARG_NUMERIC(1);
	int32		minor_unit = PG_GETARG_INT32(2);

	check_split_args(gross, rate, minor_unit);
	if (!payable(gross, minor_unit))
		PG_RETURN_NULL();
	PG_RETURN_DATUM(compute_fee(gross, rate, minor_unit));
}

/*
 * payout_payable(gross numeric, minor_unit integer) RETURNS boolean
 *
 * Whether payout_fee() can split gross in a currency of that minor unit,
 * i.e. whether gross has no more decimals than the minor unit: the same
 * test payout_fee() makes before it returns NULL, without the arithmetic.
 * The batch filters its bookings with it and calls payout_fee() only for
 * the two split columns it writes.  STRICT; the same 22023 refusals as
 * payout_fee() for the gross (NaN, infinite, negative) and the minor unit.
 */
Datum
sg_payout_payable(PG_FUNCTION_ARGS)
{
	Numeric		gross = PG_GETARG_NUMERIC(0);
	int32		minor_unit = PG_GETARG_INT32(1);

	check_minor_unit(minor_unit);
	check_gross(gross);
	PG_RETURN_BOOL(payable(gross, minor_unit));
}
