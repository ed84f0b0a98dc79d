/*-------------------------------------------------------------------------
 *
 * otp.c
 *	  One-time codes sent to phones: request_otp and verify_otp.
 *
 * A code is 6 decimal digits drawn with randombytes_uniform (no modulo
 * bias) and handed to the caller once, for delivery; the table keeps only
 * the keyed BLAKE2b of phone, code and row id (crypto.c).  A new request
 * invalidates the phone's active code; a phone may request
 * steppergo.otp_max_requests codes per steppergo.otp_request_window.
 *
 * verify_otp counts the attempt in the same UPDATE that finds the active
 * code (attempts < steppergo.otp_max_attempts in its WHERE clause): the row
 * lock serialises concurrent guesses and each one re-checks the count, so
 * however many sessions guess at once, at most that many comparisons are
 * ever made against one code.  A wrong code returns false and its counted
 * attempt commits; a burnt code fails with PT429.
 *
 *-------------------------------------------------------------------------
 */
#include "identity.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(sg_identity_request_otp);
PG_FUNCTION_INFO_V1(sg_identity_verify_otp);

/* advisory lock class of "one OTP request at a time per phone" */
#define SG_OTP_LOCK_CLASS 0x53474f54	/* "SGOT" */

static SPIPlanPtr attempt_plan = NULL;
static SPIPlanPtr burnt_plan = NULL;
static SPIPlanPtr verified_plan = NULL;

/* E.164 as steppergo.is_e164 defines it: ^\+[1-9][0-9]{6,14}$ */
static bool
is_e164(const char *p)
{
	size_t		n = strlen(p);
	size_t		i;

	if (n < 8 || n > 16 || p[0] != '+' || p[1] < '1' || p[1] > '9')
		return false;
	for (i = 2; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return true;
}

/* the phone argument, trimmed and checked */
static char *
phone_arg(FunctionCallInfo fcinfo)
{
	char	   *raw = sg_identity_text_arg(fcinfo, 0, "phone");
	char	   *p;
	char	   *end;

	/* trim blanks, as register_user does */
	for (p = raw; *p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'; p++)
		;
	end = p + strlen(p);
	while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	if (!is_e164(p))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("phone is not in E.164 form"),
				 errhint("Write it as + and country code and number, digits only: +77001234567.")));
	return p;
}

/*
 * request_otp(phone text) RETURNS text
 */
Datum
sg_identity_request_otp(PG_FUNCTION_ARGS)
{
	char	   *phone = phone_arg(fcinfo);
	Oid			types[4] = {TEXTOID, INT4OID, UUIDOID, BYTEAOID};
	Datum		values[4];
	bool		isnull;
	int64		recent;
	Datum		id;
	char		code[SG_OTP_DIGITS + 1];
	unsigned char hash[SG_HASH_BYTES];
	bytea	   *hash_b;
	text	   *result;

	(void) sg_secret(sg_otp_key, "otp_key");	/* fail before any write */

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/* one request at a time per phone, so that the limit holds under races */
	values[0] = CStringGetTextDatum(phone);
	values[1] = Int32GetDatum(SG_OTP_LOCK_CLASS);
	types[1] = INT4OID;
	sg_identity_spi_exec("SELECT pg_catalog.pg_advisory_xact_lock($2, pg_catalog.hashtext($1))",
						 2, types, values, NULL, SPI_OK_SELECT);

	values[1] = Int32GetDatum(sg_otp_request_window);
	sg_identity_spi_exec("SELECT count(*) FROM steppergo.otps WHERE phone = $1 "
						 "AND created_at > pg_catalog.now() - $2 * interval '1 second'",
						 2, types, values, NULL, SPI_OK_SELECT);
	recent = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (recent >= sg_otp_max_requests)
		ereport(ERROR,
				(errcode(ERRCODE_SG_TOO_MANY),
				 errmsg("too many one-time codes requested for this phone"),
				 errdetail("At most %d codes may be requested within %d seconds.",
						   sg_otp_max_requests, sg_otp_request_window),
				 errhint("Try again later.")));

	sg_identity_spi_exec("UPDATE steppergo.otps SET invalidated_at = pg_catalog.now() "
						 "WHERE phone = $1 AND NOT verified AND invalidated_at IS NULL",
						 1, types, values, NULL, SPI_OK_UPDATE);

	sg_identity_spi_exec("SELECT steppergo.uuid_generate_v7()", 0, NULL, NULL, NULL,
						 SPI_OK_SELECT);
	id = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

	snprintf(code, sizeof(code), "%06u", (unsigned int) randombytes_uniform(1000000));
	sg_identity_otp_hash(phone, code, DatumGetUUIDP(id), hash);
	hash_b = palloc(VARHDRSZ + SG_HASH_BYTES);
	SET_VARSIZE(hash_b, VARHDRSZ + SG_HASH_BYTES);
	memcpy(VARDATA(hash_b), hash, SG_HASH_BYTES);

	values[1] = Int32GetDatum(sg_otp_ttl);
	values[2] = id;
	values[3] = PointerGetDatum(hash_b);
	sg_identity_spi_exec("INSERT INTO steppergo.otps (id, phone, code_hash, expires_at) "
						 "VALUES ($3, $1, $4, pg_catalog.now() + $2 * interval '1 second')",
						 4, types, values, NULL, SPI_OK_INSERT);
	SPI_finish();

	result = cstring_to_text(code);
	sodium_memzero(code, sizeof(code));
	PG_RETURN_TEXT_P(result);
}

static SPIPlanPtr
keep_plan(SPIPlanPtr *slot, const char *sql, int nargs, Oid *types)
{
	if (*slot == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, types);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed for: %s", sql);
		SPI_keepplan(plan);
		*slot = plan;
	}
	return *slot;
}

/*
 * verify_otp(phone text, code text) RETURNS boolean
 */
Datum
sg_identity_verify_otp(PG_FUNCTION_ARGS)
{
	char	   *phone = phone_arg(fcinfo);
	char	   *code = sg_identity_text_arg(fcinfo, 1, "code");
	Oid			types[2] = {TEXTOID, INT4OID};
	Datum		values[2];
	bool		isnull;
	int			i;
	int			ret;
	HeapTuple	tup;
	TupleDesc	desc;
	bytea	   *stored;
	unsigned char expected[SG_HASH_BYTES];
	bool		ok;

	if (strlen(code) != SG_OTP_DIGITS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("code must be %d digits", SG_OTP_DIGITS)));
	for (i = 0; i < SG_OTP_DIGITS; i++)
		if (code[i] < '0' || code[i] > '9')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("code must be %d digits", SG_OTP_DIGITS)));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	values[0] = CStringGetTextDatum(phone);
	values[1] = Int32GetDatum(sg_otp_max_attempts);
	ret = SPI_execute_plan(keep_plan(&attempt_plan,
									 "UPDATE steppergo.otps SET attempts = attempts + 1 "
									 "WHERE phone = $1 AND NOT verified AND invalidated_at IS NULL "
									 "AND expires_at > pg_catalog.now() AND attempts < $2 "
									 "RETURNING id, code_hash",
									 2, types),
						   values, NULL, false, 0);
	if (ret != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "counting the attempt failed: %d", ret);

	if (SPI_processed == 0)
	{
		/* no active code, or one that is burnt */
		ret = SPI_execute_plan(keep_plan(&burnt_plan,
										 "SELECT 1 FROM steppergo.otps "
										 "WHERE phone = $1 AND NOT verified AND invalidated_at IS NULL "
										 "AND expires_at > pg_catalog.now() AND attempts >= $2",
										 2, types),
							   values, NULL, false, 1);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "reading the code failed: %d", ret);
		if (SPI_processed > 0)
			ereport(ERROR,
					(errcode(ERRCODE_SG_TOO_MANY),
					 errmsg("too many attempts for this one-time code"),
					 errdetail("A code allows %d attempts.", sg_otp_max_attempts),
					 errhint("Request a new code.")));
		SPI_finish();
		PG_RETURN_BOOL(false);
	}

	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	stored = DatumGetByteaPP(SPI_getbinval(tup, desc, 2, &isnull));
	sg_identity_otp_hash(phone, code,
						 DatumGetUUIDP(SPI_getbinval(tup, desc, 1, &isnull)), expected);
	ok = VARSIZE_ANY_EXHDR(stored) == SG_HASH_BYTES &&
		sodium_memcmp(VARDATA_ANY(stored), expected, SG_HASH_BYTES) == 0;
	sodium_memzero(code, strlen(code));

	if (ok)
	{
		Oid			vtypes[2] = {UUIDOID, TEXTOID};
		Datum		vvalues[2];

		vvalues[0] = SPI_getbinval(tup, desc, 1, &isnull);
		vvalues[1] = values[0];
		ret = SPI_execute_plan(keep_plan(&verified_plan,
										 "WITH o AS (UPDATE steppergo.otps "
										 "SET verified = true, verified_at = pg_catalog.now() "
										 "WHERE id = $1) "
										 "UPDATE steppergo.users SET phone_verified = true "
										 "WHERE phone = $2 AND NOT phone_verified",
										 2, vtypes),
							   vvalues, NULL, false, 0);
		if (ret != SPI_OK_UPDATE)
			elog(ERROR, "marking the code verified failed: %d", ret);
	}
	SPI_finish();
	PG_RETURN_BOOL(ok);
}
