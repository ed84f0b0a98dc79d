/*-------------------------------------------------------------------------
 *
 * users.c
 *	  register_user and login, and the SPI helpers of the identity domain.
 *
 * Passwords are kept only as argon2id hashes (crypto.c).  login finds the
 * user by e-mail or phone and verifies the password; an unknown identifier
 * costs one dummy verification under the same limits and fails with the
 * same PT401 and message as a wrong password, so accounts cannot be told
 * apart by answer or by time.  A successful login replaces a bcrypt hash
 * (users imported from the earlier application) or an argon2id hash with
 * other limits by a fresh argon2id hash.
 *
 *-------------------------------------------------------------------------
 */
#include "identity.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"

PG_FUNCTION_INFO_V1(sg_identity_register_user);
PG_FUNCTION_INFO_V1(sg_identity_login);

void
sg_identity_spi_exec(const char *sql, int nargs, Oid *types, Datum *values,
					 const char *nulls, int expected_status)
{
	int			ret = SPI_execute_with_args(sql, nargs, types, values, nulls, false, 0);

	if (ret != expected_status)
		elog(ERROR, "SPI_execute_with_args returned %d for: %s", ret, sql);
}

/* A text argument as a C string; 22004 naming it when it is NULL. */
char *
sg_identity_text_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("%s must not be null", name)));
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/* steppergo.is_trusted_caller() (SPI must be connected) */
bool
sg_identity_is_trusted(void)
{
	bool		isnull;

	sg_identity_spi_exec("SELECT steppergo.is_trusted_caller()", 0, NULL, NULL, NULL,
						 SPI_OK_SELECT);
	return DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
}

/*
 * register_user(email text, phone text, name text, password text,
 *				 role user_role DEFAULT 'PASSENGER') RETURNS uuid
 */
Datum
sg_identity_register_user(PG_FUNCTION_ARGS)
{
	char	   *name;
	char	   *password;
	char	   *role;
	char	   *hash;
	Oid			types[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[4];
	char		nulls[5] = "    ";
	bool		isnull;
	HeapTuple	tup;
	TupleDesc	desc;
	Datum		id;

	if (PG_ARGISNULL(0) && PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("email or phone must not be null"),
				 errdetail("A user needs an e-mail address or a phone number to log in.")));
	name = sg_identity_text_arg(fcinfo, 2, "name");
	password = sg_identity_text_arg(fcinfo, 3, "password");
	if (PG_ARGISNULL(4))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("role must not be null")));
	role = DatumGetCString(DirectFunctionCall1(enum_out, PG_GETARG_DATUM(4)));
	sg_identity_check_password_shape(password);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/* only administrators (and trusted callers) create administrators */
	if (strcmp(role, "PASSENGER") != 0 && strcmp(role, "DRIVER") != 0 &&
		strcmp(role, "ACTIVITY_OWNER") != 0 && !sg_identity_is_trusted())
	{
		sg_identity_spi_exec("SELECT steppergo.current_app_role() IS NOT DISTINCT FROM 'ADMIN'",
							 0, NULL, NULL, NULL, SPI_OK_SELECT);
		if (!DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("only an administrator can register a user with the role %s", role)));
	}

	/* normalise and validate, then look for duplicates */
	values[0] = PG_ARGISNULL(0) ? (Datum) 0 : PG_GETARG_DATUM(0);
	nulls[0] = PG_ARGISNULL(0) ? 'n' : ' ';
	values[1] = PG_ARGISNULL(1) ? (Datum) 0 : PG_GETARG_DATUM(1);
	nulls[1] = PG_ARGISNULL(1) ? 'n' : ' ';
	values[2] = CStringGetTextDatum(name);
	sg_identity_spi_exec("SELECT e, p, n, e IS NULL OR steppergo.is_email(e), "
						 "p IS NULL OR steppergo.is_e164(p), "
						 "pg_catalog.length(n) BETWEEN 1 AND 200, "
						 "EXISTS (SELECT 1 FROM steppergo.users u WHERE u.email = e), "
						 "EXISTS (SELECT 1 FROM steppergo.users u WHERE u.phone = p) "
						 "FROM (SELECT pg_catalog.lower(pg_catalog.btrim($1)) AS e, "
						 "pg_catalog.btrim($2) AS p, pg_catalog.btrim($3) AS n) s",
						 3, types, values, nulls, SPI_OK_SELECT);
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	if (!DatumGetBool(SPI_getbinval(tup, desc, 4, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("email is not a valid e-mail address")));
	if (!DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("phone is not in E.164 form"),
				 errhint("Write it as + and country code and number, digits only: +77001234567.")));
	if (!DatumGetBool(SPI_getbinval(tup, desc, 6, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("name must have 1 to 200 characters")));
	if (DatumGetBool(SPI_getbinval(tup, desc, 7, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("email is already registered")));
	if (DatumGetBool(SPI_getbinval(tup, desc, 8, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_UNIQUE_VIOLATION),
				 errmsg("phone is already registered")));
	values[0] = SPI_getbinval(tup, desc, 1, &isnull);
	nulls[0] = isnull ? 'n' : ' ';
	values[1] = SPI_getbinval(tup, desc, 2, &isnull);
	nulls[1] = isnull ? 'n' : ' ';
	values[2] = SPI_getbinval(tup, desc, 3, &isnull);

	hash = sg_identity_hash_password(password);
	values[3] = CStringGetTextDatum(hash);
	/* role goes in as text and is cast: the enum's OID is not fixed */
	{
		Oid			itypes[5] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
		Datum		ivalues[5];
		char		inulls[6] = "     ";

		memcpy(ivalues, values, sizeof(Datum) * 4);
		memcpy(inulls, nulls, 4);
		ivalues[4] = CStringGetTextDatum(role);
		sg_identity_spi_exec("INSERT INTO steppergo.users (email, phone, name, password_hash, role) "
							 "VALUES ($1, $2, $3, $4, $5::steppergo.user_role) RETURNING id",
							 5, itypes, ivalues, inulls, SPI_OK_INSERT_RETURNING);
	}
	id = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	id = SPI_datumTransfer(id, false, UUID_LEN);
	SPI_finish();
	PG_RETURN_DATUM(id);
}

/*
 * login(identifier text, password text) RETURNS jsonb
 */
Datum
sg_identity_login(PG_FUNCTION_ARGS)
{
	char	   *identifier = sg_identity_text_arg(fcinfo, 0, "identifier");
	char	   *password = sg_identity_text_arg(fcinfo, 1, "password");
	Oid			types[3] = {TEXTOID, TEXTOID, TEXTOID};
	Datum		values[3];
	char		nulls[4] = "   ";
	bool		isnull;
	HeapTuple	tup;
	TupleDesc	desc;
	char	   *stored;
	bool		needs_rehash;
	Datum		user_id;
	char	   *app_role;
	Datum		tenant_id;
	bool		tenant_null;
	bool		is_first_login;
	Datum		reply;

	if (strlen(password) > SG_PASSWORD_MAX_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("password is longer than %d bytes", SG_PASSWORD_MAX_LEN)));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	values[0] = CStringGetTextDatum(identifier);
	sg_identity_spi_exec(strchr(identifier, '@') != NULL ?
						 "SELECT id, password_hash, role::text, tenant_id, is_first_login "
						 "FROM steppergo.users WHERE email = pg_catalog.lower(pg_catalog.btrim($1))" :
						 "SELECT id, password_hash, role::text, tenant_id, is_first_login "
						 "FROM steppergo.users WHERE phone = pg_catalog.btrim($1)",
						 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
	{
		sg_identity_dummy_verify(password);
		ereport(ERROR,
				(errcode(ERRCODE_SG_UNAUTHORIZED),
				 errmsg("invalid credentials")));
	}
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	user_id = SPI_getbinval(tup, desc, 1, &isnull);
	stored = SPI_getvalue(tup, desc, 2);
	app_role = SPI_getvalue(tup, desc, 3);
	tenant_id = SPI_getbinval(tup, desc, 4, &tenant_null);
	is_first_login = DatumGetBool(SPI_getbinval(tup, desc, 5, &isnull));

	if (!sg_identity_verify_password(stored, password, &needs_rehash))
		ereport(ERROR,
				(errcode(ERRCODE_SG_UNAUTHORIZED),
				 errmsg("invalid credentials")));

	/*
	 * Record the login; replace the hash when it is bcrypt or has other
	 * limits, unless it was changed meanwhile (a concurrent password change
	 * wins).
	 */
	types[0] = UUIDOID;
	values[0] = user_id;
	if (needs_rehash)
	{
		values[1] = CStringGetTextDatum(sg_identity_hash_password(password));
		values[2] = CStringGetTextDatum(stored);
	}
	else
		nulls[1] = nulls[2] = 'n';
	sg_identity_spi_exec("UPDATE steppergo.users SET last_login_at = pg_catalog.now(), "
						 "is_first_login = false, "
						 "password_hash = CASE WHEN $2 IS NOT NULL AND password_hash = $3 "
						 "THEN $2 ELSE password_hash END "
						 "WHERE id = $1",
						 3, types, values, nulls, SPI_OK_UPDATE);

	reply = sg_identity_open_session(user_id, app_role, tenant_id, tenant_null,
									 is_first_login);
	SPI_finish();
	PG_RETURN_DATUM(reply);
}
