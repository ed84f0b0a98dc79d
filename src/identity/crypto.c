/*-------------------------------------------------------------------------
 *
 * crypto.c
 *	  The cryptographic primitives of the identity domain, all from
 *	  libsodium except bcrypt (libxcrypt):
 *
 *	  - password hashes: argon2id (crypto_pwhash_str) with the limits of
 *		steppergo.password_opslimit / steppergo.password_memlimit; bcrypt
 *		($2a$, $2b$, $2y$) hashes of imported users are verified with
 *		crypt_rn and reported as needing a rehash;
 *	  - a dummy verification for unknown identifiers that costs what a real
 *		one costs under the current limits;
 *	  - BLAKE2b-256 of refresh tokens, keyed BLAKE2b of one-time codes;
 *	  - HMAC-SHA256 of JWTs (HS256), base64url.
 *
 *-------------------------------------------------------------------------
 */
#include "identity.h"

#include <crypt.h>

#include "fmgr.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(sg_identity_jwt_sign_hs256);

static size_t
memlimit_bytes(void)
{
	return (size_t) sg_password_memlimit_kb * 1024;
}

/*
 * Refuses (22023) a password that register_user must not store: longer
 * than SG_PASSWORD_MAX_LEN bytes (argon2id of a huge input is a denial of
 * service) or shorter than steppergo.password_min_length.
 */
void
sg_identity_check_password_shape(const char *password)
{
	size_t		len = strlen(password);

	if (len > SG_PASSWORD_MAX_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("password is longer than %d bytes", SG_PASSWORD_MAX_LEN)));
	if (len < (size_t) sg_password_min_length)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("password is shorter than %d bytes", sg_password_min_length),
				 errhint("steppergo.password_min_length sets the minimum.")));
}

/* A new argon2id hash of the password under the current limits (palloc'd). */
char *
sg_identity_hash_password(const char *password)
{
	char		out[crypto_pwhash_STRBYTES];

	if (crypto_pwhash_str_alg(out, password, strlen(password),
							  (unsigned long long) sg_password_opslimit,
							  memlimit_bytes(),
							  crypto_pwhash_ALG_ARGON2ID13) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not hash the password"),
				 errdetail("argon2id could not allocate %d kB.", sg_password_memlimit_kb)));
	return pstrdup(out);
}

static bool
is_bcrypt(const char *stored)
{
	return strlen(stored) == 60 &&
		(strncmp(stored, "$2a$", 4) == 0 ||
		 strncmp(stored, "$2b$", 4) == 0 ||
		 strncmp(stored, "$2y$", 4) == 0);
}

static bool
verify_bcrypt(const char *stored, const char *password)
{
	struct crypt_data *data = palloc0(sizeof(struct crypt_data));
	char	   *res;
	bool		ok = false;

	res = crypt_rn(password, stored, data, sizeof(struct crypt_data));
	if (res != NULL && res[0] != '*' && strlen(res) == strlen(stored))
		ok = sodium_memcmp(res, stored, strlen(stored)) == 0;
	sodium_memzero(data, sizeof(struct crypt_data));
	pfree(data);
	return ok;
}

/*
 * Verifies a password against a stored hash.  argon2id (and argon2i)
 * hashes go to libsodium, bcrypt hashes to libxcrypt; anything else (NULL,
 * a damaged or foreign hash) costs a dummy verification and fails.
 * *needs_rehash is set on success when the hash is not argon2id under the
 * current limits.
 */
bool
sg_identity_verify_password(const char *stored, const char *password,
							bool *needs_rehash)
{
	*needs_rehash = false;

	if (stored != NULL && strncmp(stored, "$argon2", 7) == 0 &&
		strlen(stored) < crypto_pwhash_STRBYTES)
	{
		if (crypto_pwhash_str_verify(stored, password, strlen(password)) != 0)
			return false;
		*needs_rehash = strncmp(stored, "$argon2id$", 10) != 0 ||
			crypto_pwhash_str_needs_rehash(stored,
										   (unsigned long long) sg_password_opslimit,
										   memlimit_bytes()) != 0;
		return true;
	}
	if (stored != NULL && is_bcrypt(stored))
	{
		if (!verify_bcrypt(stored, password))
			return false;
		*needs_rehash = true;
		return true;
	}
	sg_identity_dummy_verify(password);
	return false;
}

/*
 * Spends the time of one argon2id verification under the current limits:
 * a well-formed hash string with these limits, a salt and a digest that no
 * password produces (random per backend), so the verification runs the full
 * argon2id computation and fails.  Used for unknown identifiers, so that
 * they cost what a wrong password costs.
 */
void
sg_identity_dummy_verify(const char *password)
{
	static unsigned char salt[crypto_pwhash_SALTBYTES];
	static unsigned char digest[32];
	static bool initialised = false;
	char		salt64[sodium_base64_ENCODED_LEN(crypto_pwhash_SALTBYTES,
												 sodium_base64_VARIANT_ORIGINAL_NO_PADDING)];
	char		digest64[sodium_base64_ENCODED_LEN(32,
												   sodium_base64_VARIANT_ORIGINAL_NO_PADDING)];
	char		str[crypto_pwhash_STRBYTES];

	if (!initialised)
	{
		randombytes_buf(salt, sizeof(salt));
		randombytes_buf(digest, sizeof(digest));
		initialised = true;
	}
	sodium_bin2base64(salt64, sizeof(salt64), salt, sizeof(salt),
					  sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
	sodium_bin2base64(digest64, sizeof(digest64), digest, sizeof(digest),
					  sodium_base64_VARIANT_ORIGINAL_NO_PADDING);
	snprintf(str, sizeof(str), "$argon2id$v=19$m=%d,t=%d,p=1$%s$%s",
			 sg_password_memlimit_kb, sg_password_opslimit, salt64, digest64);
	/* the result is known (no password matches); only the time counts */
	if (crypto_pwhash_str_verify(str, password, strlen(password)) == 0)
		elog(DEBUG1, "dummy password hash matched");
}

/* base64url without padding (RFC 4648 section 5), palloc'd */
char *
sg_identity_base64url(const unsigned char *bin, size_t len)
{
	size_t		outlen = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	char	   *out = palloc(outlen);

	sodium_bin2base64(out, outlen, bin, len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return out;
}

/*
 * Decodes base64url without padding into exactly binlen bytes; false for
 * anything else (wrong length, foreign characters, non-canonical tail).
 */
bool
sg_identity_base64url_decode(const char *text, unsigned char *bin, size_t binlen)
{
	size_t		len = strlen(text);
	size_t		outlen = 0;
	const char *end = NULL;

	if (len != sodium_base64_ENCODED_LEN(binlen, sodium_base64_VARIANT_URLSAFE_NO_PADDING) - 1)
		return false;
	if (sodium_base642bin(bin, binlen, text, len, NULL, &outlen, &end,
						  sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
		return false;
	return outlen == binlen && end == text + len;
}

/* Unkeyed BLAKE2b-256 (refresh and session token hashes) */
void
sg_identity_blake2b(const unsigned char *in, size_t inlen,
					unsigned char out[SG_HASH_BYTES])
{
	crypto_generichash(out, SG_HASH_BYTES, in, inlen, NULL, 0);
}

/*
 * The HS256 signature (RFC 7515/7518) of a JWS signing input, base64url:
 * HMAC-SHA256 keyed with the whole key (crypto_auth_hmacsha256_init takes
 * keys of any length, as RFC 2104 does).
 */
char *
sg_identity_hs256(const unsigned char *key, size_t keylen, const char *signing_input)
{
	crypto_auth_hmacsha256_state st;
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	char	   *out;

	crypto_auth_hmacsha256_init(&st, key, keylen);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *) signing_input,
								  strlen(signing_input));
	crypto_auth_hmacsha256_final(&st, mac);
	out = sg_identity_base64url(mac, sizeof(mac));
	sodium_memzero(&st, sizeof(st));
	return out;
}

/*
 * Keyed BLAKE2b-256 of a one-time code, bound to its phone and row:
 * message = phone || 0x00 || code || 0x00 || id (16 bytes), key =
 * steppergo.otp_key (a secret longer than 64 bytes, BLAKE2b's maximum key,
 * is first reduced with BLAKE2b-512).
 */
void
sg_identity_otp_hash(const char *phone, const char *code, const pg_uuid_t *id,
					 unsigned char out[SG_HASH_BYTES])
{
	const char *secret = sg_secret(sg_otp_key, "otp_key");
	size_t		keylen = strlen(secret);
	unsigned char reduced[crypto_generichash_KEYBYTES_MAX];
	const unsigned char *key = (const unsigned char *) secret;
	crypto_generichash_state st;
	static const unsigned char zero = 0;

	if (keylen > crypto_generichash_KEYBYTES_MAX)
	{
		crypto_generichash(reduced, sizeof(reduced), key, keylen, NULL, 0);
		key = reduced;
		keylen = sizeof(reduced);
	}
	crypto_generichash_init(&st, key, keylen, SG_HASH_BYTES);
	crypto_generichash_update(&st, (const unsigned char *) phone, strlen(phone));
	crypto_generichash_update(&st, &zero, 1);
	crypto_generichash_update(&st, (const unsigned char *) code, strlen(code));
	crypto_generichash_update(&st, &zero, 1);
	crypto_generichash_update(&st, id->data, UUID_LEN);
	crypto_generichash_final(&st, out, SG_HASH_BYTES);
	sodium_memzero(&st, sizeof(st));
	sodium_memzero(reduced, sizeof(reduced));
}

/*
 * jwt_sign_hs256(signing_input text, key bytea) RETURNS text
 *
 * The base64url HS256 signature of a JWS signing input under an explicit
 * key.  Internal: exposed so that the signer can be checked against RFC 7515
 * appendix A.1; the module signs access tokens with steppergo.jwt_secret.
 */
Datum
sg_identity_jwt_sign_hs256(PG_FUNCTION_ARGS)
{
	char	   *input;
	bytea	   *key;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("signing_input must not be null")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("key must not be null")));
	input = text_to_cstring(PG_GETARG_TEXT_PP(0));
	key = PG_GETARG_BYTEA_PP(1);
	if (VARSIZE_ANY_EXHDR(key) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key must not be empty")));
	PG_RETURN_TEXT_P(cstring_to_text(sg_identity_hs256((unsigned char *) VARDATA_ANY(key),
													   VARSIZE_ANY_EXHDR(key),
													   input)));
}
