/*-------------------------------------------------------------------------
 *
 * settings.c
 *	  The settings of the identity domain: password hashing limits, token
 *	  lifetimes, the database role of access tokens and the one-time code
 *	  rules.  All are PGC_SUSET: only superusers change them (globally in
 *	  postgresql.conf, per database or role with ALTER ... SET, or per
 *	  session), because each of them weakens or strengthens authentication
 *	  for everyone.
 *
 *-------------------------------------------------------------------------
 */
#include "identity.h"

#include "utils/guc.h"

int			sg_password_opslimit = 2;	/* crypto_pwhash_OPSLIMIT_INTERACTIVE */
int			sg_password_memlimit_kb = 65536;	/* MEMLIMIT_INTERACTIVE, 64 MiB */
int			sg_password_min_length = 8;
int			sg_access_token_ttl = 900;
int			sg_refresh_token_ttl = 30 * 24 * 3600;
char	   *sg_jwt_role = NULL;
int			sg_otp_ttl = 300;
int			sg_otp_max_requests = 3;
int			sg_otp_request_window = 900;
int			sg_otp_max_attempts = 5;
int			sg_refresh_revoke_wait_ms = 5000;

static bool
check_jwt_role(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
	{
		GUC_check_errdetail("The role claim of access tokens must not be empty.");
		return false;
	}
	if (strlen(*newval) >= NAMEDATALEN)
	{
		GUC_check_errdetail("A role name has at most %d bytes.", NAMEDATALEN - 1);
		return false;
	}
	return true;
}

void
sg_identity_init(void)
{
	StaticAssertStmt(crypto_pwhash_OPSLIMIT_INTERACTIVE == 2,
					 "libsodium's interactive opslimit changed");
	StaticAssertStmt(crypto_pwhash_MEMLIMIT_INTERACTIVE == 65536 * 1024,
					 "libsodium's interactive memlimit changed");

	DefineCustomIntVariable("steppergo.password_opslimit",
							"argon2id passes (opslimit) of new password hashes.",
							"Default: libsodium's interactive limit (2). A successful login rehashes a password stored with other limits.",
							&sg_password_opslimit,
							2, crypto_pwhash_OPSLIMIT_MIN, 100,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("steppergo.password_memlimit",
							"argon2id memory (memlimit) of new password hashes.",
							"Default: libsodium's interactive limit (64MB). A successful login rehashes a password stored with other limits.",
							&sg_password_memlimit_kb,
							65536, 8, 4 * 1024 * 1024,
							PGC_SUSET, GUC_UNIT_KB, NULL, NULL, NULL);
	DefineCustomIntVariable("steppergo.password_min_length",
							"Shortest password register_user accepts, in bytes.",
							NULL,
							&sg_password_min_length,
							8, 1, SG_PASSWORD_MAX_LEN,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("steppergo.access_token_ttl",
							"Lifetime of access tokens (JWT exp - iat).",
							NULL,
							&sg_access_token_ttl,
							900, 30, 24 * 3600,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("steppergo.refresh_token_ttl",
							"Lifetime of refresh tokens; a session lives as long as its newest refresh token.",
							NULL,
							&sg_refresh_token_ttl,
							30 * 24 * 3600, 60, 365 * 24 * 3600,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomStringVariable("steppergo.jwt_role",
							   "Database role named in the role claim of access tokens (the role PostgREST switches to).",
							   NULL,
							   &sg_jwt_role,
							   "authenticated",
							   PGC_SUSET, 0, check_jwt_role, NULL, NULL);
	DefineCustomIntVariable("steppergo.otp_ttl",
							"How long a one-time code is accepted after it was requested.",
							NULL,
							&sg_otp_ttl,
							300, 30, 3600,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("steppergo.otp_max_requests",
							"One-time codes a phone may request within steppergo.otp_request_window.",
							NULL,
							&sg_otp_max_requests,
							3, 1, 1000000,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("steppergo.otp_request_window",
							"Window of the one-time code request limit.",
							NULL,
							&sg_otp_request_window,
							900, 1, 24 * 3600,
							PGC_SUSET, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("steppergo.otp_max_attempts",
							"Verification attempts a one-time code allows before it is burnt.",
							NULL,
							&sg_otp_max_attempts,
							5, 1, INT_MAX,
							PGC_SUSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("steppergo.refresh_revoke_wait",
							"How long refresh_session waits for the background worker that revokes a family after reuse of a spent token.",
							NULL,
							&sg_refresh_revoke_wait_ms,
							5000, 0, 60000,
							PGC_SUSET, GUC_UNIT_MS, NULL, NULL, NULL);
}
