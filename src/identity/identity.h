/*-------------------------------------------------------------------------
 *
 * identity.h
 *	  Internal declarations of the identity domain: settings, the
 *	  cryptographic primitives (crypto.c), session issuing (tokens.c) and the
 *	  small SPI helpers its SQL-callable functions share.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SG_IDENTITY_H
#define SG_IDENTITY_H

#include "steppergo.h"

#include <sodium.h>

#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "utils/uuid.h"

/* Password limits (bytes) */
#define SG_PASSWORD_MAX_LEN		1024

/* Lengths of the stored hashes (BLAKE2b-256) and of refresh tokens */
#define SG_HASH_BYTES			32
#define SG_REFRESH_TOKEN_BYTES	32
#define SG_OTP_DIGITS			6

/* settings.c: every steppergo.* setting of the identity domain */
extern int	sg_password_opslimit;
extern int	sg_password_memlimit_kb;
extern int	sg_password_min_length;
extern int	sg_access_token_ttl;
extern int	sg_refresh_token_ttl;
extern char *sg_jwt_role;
extern int	sg_otp_ttl;
extern int	sg_otp_max_requests;
extern int	sg_otp_request_window;
extern int	sg_otp_max_attempts;
extern int	sg_refresh_revoke_wait_ms;

/* crypto.c */
extern char *sg_identity_hash_password(const char *password);
extern bool sg_identity_verify_password(const char *stored, const char *password,
										bool *needs_rehash);
extern void sg_identity_dummy_verify(const char *password);
extern char *sg_identity_base64url(const unsigned char *bin, size_t len);
extern bool sg_identity_base64url_decode(const char *text, unsigned char *bin,
										 size_t binlen);
extern void sg_identity_blake2b(const unsigned char *in, size_t inlen,
								unsigned char out[SG_HASH_BYTES]);
extern char *sg_identity_hs256(const unsigned char *key, size_t keylen,
							   const char *signing_input);
extern void sg_identity_otp_hash(const char *phone, const char *code,
								 const pg_uuid_t *id,
								 unsigned char out[SG_HASH_BYTES]);
extern void sg_identity_check_password_shape(const char *password);

/* tokens.c: a new session and its first tokens, as the jsonb reply */
extern Datum sg_identity_open_session(Datum user_id, const char *app_role,
									  Datum tenant_id, bool tenant_null,
									  bool is_first_login);

/* helpers shared by the SQL-callable functions */
extern void sg_identity_spi_exec(const char *sql, int nargs, Oid *types,
								 Datum *values, const char *nulls,
								 int expected_status);
extern char *sg_identity_text_arg(FunctionCallInfo fcinfo, int argno,
								  const char *name);
extern bool sg_identity_is_trusted(void);

#endif							/* SG_IDENTITY_H */
