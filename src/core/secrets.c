/*-------------------------------------------------------------------------
 *
 * secrets.c
 *	  The module's secret settings: the JWT signing secret shared with
 *	  PostgREST, the key of one-time code hashes, and the key of the audit
 *	  trail's hash chain.
 *
 * They are defined GUC_SUPERUSER_ONLY and PGC_SUSET: only superusers can
 * read them (SHOW, current_setting) or set them, and they never appear in
 * pg_settings for anyone else.  C code reads them through the variables
 * below; sg_secret() refuses to hand out a missing or too-short secret, so
 * nothing is ever signed or hashed with an empty key.
 *
 *-------------------------------------------------------------------------
 */
#include "steppergo.h"

#include "utils/guc.h"

char	   *sg_jwt_secret = NULL;
char	   *sg_otp_key = NULL;
char	   *sg_audit_key = NULL;

void
sg_secrets_init(void)
{
	DefineCustomStringVariable("steppergo.jwt_secret",
							   "Secret of the HS256 access tokens (PostgREST's jwt-secret).",
							   "At least 32 bytes. Readable and settable by superusers only.",
							   &sg_jwt_secret,
							   NULL,
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("steppergo.otp_key",
							   "Key of the keyed BLAKE2b hashes of one-time and boarding codes.",
							   "At least 32 bytes. Readable and settable by superusers only.",
							   &sg_otp_key,
							   NULL,
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
	DefineCustomStringVariable("steppergo.audit_key",
							   "Key of the hash chain over admin_actions.",
							   "At least 32 bytes. Readable and settable by superusers only.",
							   &sg_audit_key,
							   NULL,
							   PGC_SUSET,
							   GUC_SUPERUSER_ONLY | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE,
							   NULL, NULL, NULL);
}

/*
 * The value of a secret setting, or an error when it is unset or shorter
 * than SG_SECRET_MIN_LEN bytes.  "name" is the setting's name without the
 * prefix, for the message.
 */
const char *
sg_secret(const char *value, const char *name)
{
	if (value == NULL || value[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("steppergo.%s is not set", name),
				 errhint("Set steppergo.%s in postgresql.conf (at least %d bytes) and reload.",
						 name, SG_SECRET_MIN_LEN)));
	if (strlen(value) < SG_SECRET_MIN_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_CONFIG_FILE_ERROR),
				 errmsg("steppergo.%s is too short", name),
				 errdetail("It has %zu bytes; at least %d are required.",
						   strlen(value), SG_SECRET_MIN_LEN)));
	return value;
}
