/*-------------------------------------------------------------------------
 *
 * boarding.c
 *	  Boarding codes: four random digits per CONFIRMED booking, handed to
 *	  the passenger once and kept only as a keyed BLAKE2b hash.
 *
 * The hash binds the code to its booking: BLAKE2b-256 keyed with
 * steppergo.otp_key over "steppergo-boarding" || booking uuid || code.  A
 * table dump therefore reveals nothing: without the key the 10,000 possible
 * codes of a booking cannot be tried offline, and a hash is useless for any
 * other booking.  Comparison is constant time (sodium_memcmp).
 *
 * These functions are internal (EXECUTE revoked from PUBLIC); the SQL
 * functions issue_boarding_code and board_passenger call them.
 *
 *-------------------------------------------------------------------------
 */
#include "steppergo.h"

#include <sodium.h>

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(sg_trips_boarding_code_new);
PG_FUNCTION_INFO_V1(sg_trips_boarding_code_hash);
PG_FUNCTION_INFO_V1(sg_trips_boarding_code_check);

#define BOARDING_HASH_LEN 32
#define BOARDING_DOMAIN "steppergo-boarding"

/* the key for crypto_generichash: the secret itself, or its hash when long */
static void
boarding_key(unsigned char *key, size_t *keylen)
{
	const char *secret = sg_secret(sg_otp_key, "otp_key");
	size_t		len = strlen(secret);

	if (len <= crypto_generichash_KEYBYTES_MAX)
	{
		memcpy(key, secret, len);
		*keylen = len;
	}
	else
	{
		crypto_generichash(key, crypto_generichash_KEYBYTES,
						   (const unsigned char *) secret, len, NULL, 0);
		*keylen = crypto_generichash_KEYBYTES;
	}
}

static bool
code_is_valid(const char *code, size_t len)
{
	if (len != 4)
		return false;
	for (size_t i = 0; i < 4; i++)
		if (code[i] < '0' || code[i] > '9')
			return false;
	return true;
}

static void
boarding_hash(pg_uuid_t *booking, const char *code, unsigned char *out)
{
	unsigned char key[crypto_generichash_KEYBYTES_MAX];
	size_t		keylen;
	crypto_generichash_state st;

	boarding_key(key, &keylen);
	crypto_generichash_init(&st, key, keylen, BOARDING_HASH_LEN);
	crypto_generichash_update(&st, (const unsigned char *) BOARDING_DOMAIN,
							  sizeof(BOARDING_DOMAIN) - 1);
	crypto_generichash_update(&st, booking->data, UUID_LEN);
	crypto_generichash_update(&st, (const unsigned char *) code, 4);
	crypto_generichash_final(&st, out, BOARDING_HASH_LEN);
	sodium_memzero(key, sizeof(key));
}

/* boarding_code_new() RETURNS text: four uniformly random digits */
Datum
sg_trips_boarding_code_new(PG_FUNCTION_ARGS)
{
	char		buf[5];

	snprintf(buf, sizeof(buf), "%04u", (unsigned) randombytes_uniform(10000));
	PG_RETURN_TEXT_P(cstring_to_text(buf));
}

/* boarding_code_hash(booking_id uuid, code text) RETURNS bytea */
Datum
sg_trips_boarding_code_hash(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *booking;
	text	   *code;
	bytea	   *result;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("booking_id and code must not be null")));
	booking = PG_GETARG_UUID_P(0);
	code = PG_GETARG_TEXT_PP(1);
	if (!code_is_valid(VARDATA_ANY(code), VARSIZE_ANY_EXHDR(code)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a boarding code is four digits")));

	result = palloc(VARHDRSZ + BOARDING_HASH_LEN);
	SET_VARSIZE(result, VARHDRSZ + BOARDING_HASH_LEN);
	boarding_hash(booking, VARDATA_ANY(code), (unsigned char *) VARDATA(result));
	PG_RETURN_BYTEA_P(result);
}

/*
 * boarding_code_check(booking_id uuid, code text, stored bytea) RETURNS boolean
 *
 * True when the code hashes to the stored hash; false for a wrong code, a
 * malformed code or a missing hash (never an error, so that the caller can
 * count the attempt).
 */
Datum
sg_trips_boarding_code_check(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *booking;
	text	   *code;
	bytea	   *stored;
	unsigned char computed[BOARDING_HASH_LEN];

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_BOOL(false);
	booking = PG_GETARG_UUID_P(0);
	code = PG_GETARG_TEXT_PP(1);
	stored = PG_GETARG_BYTEA_PP(2);
	if (!code_is_valid(VARDATA_ANY(code), VARSIZE_ANY_EXHDR(code)) ||
		VARSIZE_ANY_EXHDR(stored) != BOARDING_HASH_LEN)
		PG_RETURN_BOOL(false);
	boarding_hash(booking, VARDATA_ANY(code), computed);
	PG_RETURN_BOOL(sodium_memcmp(computed, VARDATA_ANY(stored), BOARDING_HASH_LEN) == 0);
}
