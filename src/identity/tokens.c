/*-------------------------------------------------------------------------
 *
 * tokens.c
 *	  Sessions, refresh tokens and access tokens.
 *
 * A login opens a session and the first refresh token of its family (the
 * family id is the session id).  refresh_session spends a token and issues
 * the next one of the family; logout revokes the family and the session.
 * Refresh tokens are 32 random bytes in base64url; only their BLAKE2b-256
 * is stored.  The session's token_hash is the hash of the refresh token
 * handed out at login (the seed's Session.token, never stored in clear).
 *
 * Theft detection: a spent token presented again revokes the whole family
 * and its session, and the call fails with PT401.  The failure rolls back
 * the caller's transaction, so the revocation is written by a short-lived
 * background worker in a transaction of its own (see revoke_family_async);
 * refresh_session waits for it (steppergo.refresh_revoke_wait) before it
 * raises the error.
 *
 * Access tokens are JWTs signed HS256 with steppergo.jwt_secret, the secret
 * PostgREST verifies them with.
 *
 *-------------------------------------------------------------------------
 */
#include "identity.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/json.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(sg_identity_refresh_session);
PG_FUNCTION_INFO_V1(sg_identity_logout);

PGDLLEXPORT void sg_identity_revoke_worker(Datum main_arg);

/* base64url of {"alg":"HS256","typ":"JWT"} */
#define JWT_HEADER_B64 "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"

static char *
uuid_text(Datum d)
{
	return DatumGetCString(DirectFunctionCall1(uuid_out, d));
}

static bytea *
hash_bytea(const unsigned char hash[SG_HASH_BYTES])
{
	bytea	   *b = palloc(VARHDRSZ + SG_HASH_BYTES);

	SET_VARSIZE(b, VARHDRSZ + SG_HASH_BYTES);
	memcpy(VARDATA(b), hash, SG_HASH_BYTES);
	return b;
}

/* A new refresh token (base64url) and the hash to store for it. */
static char *
new_refresh_token(unsigned char hash[SG_HASH_BYTES])
{
	unsigned char raw[SG_REFRESH_TOKEN_BYTES];
	char	   *token;

	randombytes_buf(raw, sizeof(raw));
	token = sg_identity_base64url(raw, sizeof(raw));
	sg_identity_blake2b(raw, sizeof(raw), hash);
	sodium_memzero(raw, sizeof(raw));
	return token;
}

/*
 * The hash of a presented refresh token; PT401 when it is not a token this
 * module could have issued (so malformed input is just a bad credential).
 */
static bytea *
presented_token_hash(FunctionCallInfo fcinfo)
{
	char	   *token = sg_identity_text_arg(fcinfo, 0, "refresh_token");
	unsigned char raw[SG_REFRESH_TOKEN_BYTES];
	unsigned char hash[SG_HASH_BYTES];

	if (!sg_identity_base64url_decode(token, raw, sizeof(raw)))
		ereport(ERROR,
				(errcode(ERRCODE_SG_UNAUTHORIZED),
				 errmsg("invalid refresh token")));
	sg_identity_blake2b(raw, sizeof(raw), hash);
	sodium_memzero(raw, sizeof(raw));
	return hash_bytea(hash);
}

/*
 * A signed access token for the user and session, and its expiry.
 */
static char *
access_token(Datum user_id, const char *app_role, Datum tenant_id,
			 bool tenant_null, Datum session_id, TimestampTz *expires_at)
{
	const char *secret = sg_secret(sg_jwt_secret, "jwt_secret");
	pg_time_t	iat = timestamptz_to_time_t(GetCurrentTransactionStartTimestamp());
	pg_time_t	exp = iat + sg_access_token_ttl;
	StringInfoData claims;
	StringInfoData jwt;
	char	   *payload;

	initStringInfo(&claims);
	appendStringInfoString(&claims, "{\"sub\":");
	escape_json(&claims, uuid_text(user_id));
	appendStringInfoString(&claims, ",\"role\":");
	escape_json(&claims, sg_jwt_role);
	appendStringInfoString(&claims, ",\"app_role\":");
	escape_json(&claims, app_role);
	appendStringInfoString(&claims, ",\"sid\":");
	escape_json(&claims, uuid_text(session_id));
	if (!tenant_null)
	{
		appendStringInfoString(&claims, ",\"tenant_id\":");
		escape_json(&claims, uuid_text(tenant_id));
	}
	appendStringInfo(&claims, ",\"iat\":" INT64_FORMAT ",\"exp\":" INT64_FORMAT "}",
					 (int64) iat, (int64) exp);

	payload = sg_identity_base64url((unsigned char *) claims.data, claims.len);
	initStringInfo(&jwt);
	appendStringInfo(&jwt, "%s.%s", JWT_HEADER_B64, payload);
	appendStringInfo(&jwt, ".%s",
					 sg_identity_hs256((const unsigned char *) secret, strlen(secret), jwt.data));
	*expires_at = time_t_to_timestamptz(exp);
	return jwt.data;
}

/*
 * The reply of login and refresh_session, built in the caller's memory
 * context (SPI must be connected).
 */
static Datum
build_reply(Datum user_id, const char *app_role, Datum tenant_id,
			bool tenant_null, Datum session_id, const char *refresh_token,
			Datum refresh_expires, bool is_first_login)
{
	TimestampTz expires_at;
	char	   *jwt = access_token(user_id, app_role, tenant_id, tenant_null,
								   session_id, &expires_at);
	Oid			types[9] = {UUIDOID, TEXTOID, TEXTOID, TIMESTAMPTZOID, TEXTOID,
	TIMESTAMPTZOID, UUIDOID, BOOLOID, UUIDOID};
	Datum		values[9];
	char		nulls[10] = "         ";
	bool		isnull;
	Datum		reply;

	values[0] = user_id;
	values[1] = CStringGetTextDatum(app_role);
	values[2] = CStringGetTextDatum(jwt);
	values[3] = TimestampTzGetDatum(expires_at);
	values[4] = CStringGetTextDatum(refresh_token);
	values[5] = refresh_expires;
	values[6] = session_id;
	values[7] = BoolGetDatum(is_first_login);
	values[8] = tenant_id;
	if (tenant_null)
		nulls[8] = 'n';
	sg_identity_spi_exec("SELECT pg_catalog.jsonb_build_object("
						 "'user_id', $1, 'role', $2, 'access_token', $3, "
						 "'token_type', 'bearer', 'expires_at', $4, "
						 "'refresh_token', $5, 'refresh_expires_at', $6, "
						 "'session_id', $7, 'is_first_login', $8, 'tenant_id', $9)",
						 9, types, values, nulls, SPI_OK_SELECT);
	reply = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return SPI_datumTransfer(reply, false, -1);
}

/*
 * Opens a session for a user who just proved their password (login): the
 * session row, the first refresh token of its family, and the reply.
 */
Datum
sg_identity_open_session(Datum user_id, const char *app_role, Datum tenant_id,
						 bool tenant_null, bool is_first_login)
{
	unsigned char hash[SG_HASH_BYTES];
	char	   *token = new_refresh_token(hash);
	Oid			stypes[3] = {UUIDOID, BYTEAOID, INT4OID};
	Datum		svalues[3];
	Oid			ttypes[4] = {UUIDOID, BYTEAOID, UUIDOID, TIMESTAMPTZOID};
	Datum		tvalues[4];
	Datum		session_id;
	Datum		expires;
	bool		isnull;

	svalues[0] = user_id;
	svalues[1] = PointerGetDatum(hash_bytea(hash));
	svalues[2] = Int32GetDatum(sg_refresh_token_ttl);
	sg_identity_spi_exec("INSERT INTO steppergo.sessions "
						 "(user_id, token_hash, expires_at, ip_address, user_agent, last_seen_at) "
						 "VALUES ($1, $2, pg_catalog.now() + $3 * interval '1 second', "
						 "steppergo.request_ip(), "
						 "pg_catalog.left(steppergo.request_header('user-agent'), 1024), "
						 "pg_catalog.now()) RETURNING id, expires_at",
						 3, stypes, svalues, NULL, SPI_OK_INSERT_RETURNING);
	session_id = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	expires = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);

	tvalues[0] = user_id;
	tvalues[1] = svalues[1];
	tvalues[2] = session_id;
	tvalues[3] = expires;
	sg_identity_spi_exec("INSERT INTO steppergo.refresh_tokens "
						 "(user_id, token_hash, session_id, expires_at, family_id) "
						 "VALUES ($1, $2, $3, $4, $3)",
						 4, ttypes, tvalues, NULL, SPI_OK_INSERT);

	return build_reply(user_id, app_role, tenant_id, tenant_null, session_id,
					   token, expires, is_first_login);
}

/*
 * Starts the background worker that revokes a family (and its sessions) in
 * a transaction of its own, and waits up to steppergo.refresh_revoke_wait
 * for it to finish.  The caller must hold no lock on the family's rows
 * (the worker would wait for them while we wait for the worker); a worker
 * still waiting when we give up finishes after our transaction ends.
 */
static void
revoke_family_async(Datum family_id)
{
	BackgroundWorker worker;
	BackgroundWorkerHandle *handle;
	TimestampTz deadline;
	pid_t		pid;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	worker.bgw_start_time = BgWorkerStart_RecoveryFinished;
	worker.bgw_restart_time = BGW_NEVER_RESTART;
	snprintf(worker.bgw_library_name, BGW_MAXLEN, "steppergo");
	snprintf(worker.bgw_function_name, BGW_MAXLEN, "sg_identity_revoke_worker");
	snprintf(worker.bgw_name, BGW_MAXLEN, "steppergo refresh token family revocation");
	snprintf(worker.bgw_type, BGW_MAXLEN, "steppergo revocation");
	worker.bgw_main_arg = ObjectIdGetDatum(MyDatabaseId);
	memcpy(worker.bgw_extra, DatumGetUUIDP(family_id)->data, UUID_LEN);
	worker.bgw_notify_pid = MyProcPid;

	if (!RegisterDynamicBackgroundWorker(&worker, &handle))
	{
		ereport(WARNING,
				(errmsg("could not start a worker to revoke refresh token family %s",
						uuid_text(family_id)),
				 errhint("Raise max_worker_processes; revoke the family with logout or by UPDATE.")));
		return;
	}

	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(),
										   sg_refresh_revoke_wait_ms);
	for (;;)
	{
		BgwHandleStatus status = GetBackgroundWorkerPid(handle, &pid);

		if (status == BGWH_STOPPED || status == BGWH_POSTMASTER_DIED)
			break;
		if (GetCurrentTimestamp() >= deadline)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
						 10L, PG_WAIT_EXTENSION);
		ResetLatch(MyLatch);
		CHECK_FOR_INTERRUPTS();
	}
}

/*
 * The revocation worker: in its own transaction, as the bootstrap
 * superuser, first the sessions of the family (this waits for any refresh
 * in flight, which holds the session row), then, with a fresh snapshot,
 * every token of the family, including one such a refresh just issued.
 */
void
sg_identity_revoke_worker(Datum main_arg)
{
	Oid			dboid = DatumGetObjectId(main_arg);
	pg_uuid_t  *family = palloc(sizeof(pg_uuid_t));
	Oid			types[1] = {UUIDOID};
	Datum		values[1];
	int			ret;

	memcpy(family->data, MyBgworkerEntry->bgw_extra, UUID_LEN);
	values[0] = UUIDPGetDatum(family);

	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnectionByOid(dboid, InvalidOid, 0);

	SetCurrentStatementStartTimestamp();
	StartTransactionCommand();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	PushActiveSnapshot(GetTransactionSnapshot());
	pgstat_report_activity(STATE_RUNNING, "revoking a refresh token family");

	ret = SPI_execute_with_args("UPDATE steppergo.sessions SET revoked_at = pg_catalog.now() "
								"WHERE id IN (SELECT session_id FROM steppergo.refresh_tokens "
								"WHERE family_id = $1) AND revoked_at IS NULL",
								1, types, values, NULL, false, 0);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "revoking the sessions failed: %d", ret);
	ret = SPI_execute_with_args("UPDATE steppergo.refresh_tokens "
								"SET revoked = true, revoked_at = pg_catalog.now() "
								"WHERE family_id = $1 AND NOT revoked",
								1, types, values, NULL, false, 0);
	if (ret != SPI_OK_UPDATE)
		elog(ERROR, "revoking the refresh tokens failed: %d", ret);

	SPI_finish();
	PopActiveSnapshot();
	CommitTransactionCommand();
	pgstat_report_activity(STATE_IDLE, NULL);
	proc_exit(0);
}

/* The state of a refresh token read under its family's lock */
typedef struct TokenState
{
	bool		spent;
	bool		revoked;
	bool		expired;
	Datum		token_id;
	Datum		user_id;
	Datum		session_id;
	bool		session_null;
	Datum		family_id;
	char	   *app_role;
	Datum		tenant_id;
	bool		tenant_null;
} TokenState;

/*
 * Locks the family of the token (its session row, or the token row itself
 * when it has no session) and reads the token's state as of after the lock.
 */
static void
lock_and_read(Datum token_id, Datum session_id, bool session_null, TokenState *st)
{
	Oid			types[1] = {UUIDOID};
	Datum		values[1];
	bool		isnull;
	HeapTuple	tup;
	TupleDesc	desc;

	if (!session_null)
	{
		values[0] = session_id;
		sg_identity_spi_exec("SELECT 1 FROM steppergo.sessions WHERE id = $1 FOR UPDATE",
							 1, types, values, NULL, SPI_OK_SELECT);
	}
	else
	{
		values[0] = token_id;
		sg_identity_spi_exec("SELECT 1 FROM steppergo.refresh_tokens WHERE id = $1 FOR UPDATE",
							 1, types, values, NULL, SPI_OK_SELECT);
	}

	/* a new statement: a new snapshot that sees what the lock holder wrote */
	values[0] = token_id;
	sg_identity_spi_exec("SELECT t.used_at IS NOT NULL, "
						 "t.revoked OR coalesce(s.revoked_at IS NOT NULL, false), "
						 "t.expires_at <= pg_catalog.now() "
						 "  OR coalesce(s.expires_at <= pg_catalog.now(), false), "
						 "t.user_id, t.session_id, t.family_id, u.role::text, u.tenant_id "
						 "FROM steppergo.refresh_tokens t "
						 "JOIN steppergo.users u ON u.id = t.user_id "
						 "LEFT JOIN steppergo.sessions s ON s.id = t.session_id "
						 "WHERE t.id = $1",
						 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_SG_UNAUTHORIZED),
				 errmsg("invalid refresh token")));
	tup = SPI_tuptable->vals[0];
	desc = SPI_tuptable->tupdesc;
	st->spent = DatumGetBool(SPI_getbinval(tup, desc, 1, &isnull));
	st->revoked = DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull));
	st->expired = DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull));
	st->token_id = token_id;
	st->user_id = SPI_getbinval(tup, desc, 4, &isnull);
	st->session_id = SPI_getbinval(tup, desc, 5, &st->session_null);
	st->family_id = SPI_getbinval(tup, desc, 6, &isnull);
	st->app_role = SPI_getvalue(tup, desc, 7);
	st->tenant_id = SPI_getbinval(tup, desc, 8, &st->tenant_null);
}

/*
 * refresh_session(refresh_token text) RETURNS jsonb
 */
Datum
sg_identity_refresh_session(PG_FUNCTION_ARGS)
{
	bytea	   *hash = presented_token_hash(fcinfo);
	Oid			types[4] = {BYTEAOID, UUIDOID, UUIDOID, INT4OID};
	Datum		values[4];
	bool		isnull;
	Datum		token_id;
	Datum		session_id;
	bool		session_null;
	TokenState	st;
	MemoryContext oldcontext = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	unsigned char newhash[SG_HASH_BYTES];
	char	   *token;
	Datum		new_id;
	Datum		expires;
	Datum		reply;
	Oid			itypes[5] = {UUIDOID, BYTEAOID, UUIDOID, INT4OID, UUIDOID};
	Datum		ivalues[5];
	char		inulls[6] = "     ";

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	values[0] = PointerGetDatum(hash);
	sg_identity_spi_exec("SELECT id, session_id FROM steppergo.refresh_tokens WHERE token_hash = $1",
						 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_SG_UNAUTHORIZED),
				 errmsg("invalid refresh token")));
	token_id = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	session_id = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &session_null);

	/*
	 * Lock and read in a subtransaction: when the token turns out to be spent,
	 * rolling it back releases the lock, so that the revocation worker can
	 * take it while we wait for the worker.
	 */
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcontext);
	PG_TRY();
	{
		lock_and_read(token_id, session_id, session_null, &st);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcontext);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		ReThrowError(edata);
	}
	PG_END_TRY();

	if (st.spent && !st.revoked)
	{
		Datum		family = datumCopy(st.family_id, false, UUID_LEN);

		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcontext);
		CurrentResourceOwner = oldowner;
		revoke_family_async(family);
		ereport(ERROR,
				(errcode(ERRCODE_SG_UNAUTHORIZED),
				 errmsg("refresh token reuse detected"),
				 errdetail("The token was already spent; every token of its session has been revoked."),
				 errhint("Log in again.")));
	}
	ReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(oldcontext);
	CurrentResourceOwner = oldowner;

	if (st.revoked || st.spent)
		ereport(ERROR,
				(errcode(ERRCODE_SG_UNAUTHORIZED),
				 errmsg("refresh token revoked"),
				 errhint("Log in again.")));
	if (st.expired)
		ereport(ERROR,
				(errcode(ERRCODE_SG_UNAUTHORIZED),
				 errmsg("refresh token expired"),
				 errhint("Log in again.")));

	/* the next token of the family */
	token = new_refresh_token(newhash);
	ivalues[0] = st.user_id;
	ivalues[1] = PointerGetDatum(hash_bytea(newhash));
	ivalues[2] = st.session_id;
	if (st.session_null)
		inulls[2] = 'n';
	ivalues[3] = Int32GetDatum(sg_refresh_token_ttl);
	ivalues[4] = st.family_id;
	sg_identity_spi_exec("INSERT INTO steppergo.refresh_tokens "
						 "(user_id, token_hash, session_id, expires_at, family_id) "
						 "VALUES ($1, $2, $3, pg_catalog.now() + $4 * interval '1 second', $5) "
						 "RETURNING id, expires_at",
						 5, itypes, ivalues, inulls, SPI_OK_INSERT_RETURNING);
	new_id = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	expires = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);

	values[0] = st.token_id;
	values[1] = new_id;
	types[0] = UUIDOID;
	sg_identity_spi_exec("UPDATE steppergo.refresh_tokens "
						 "SET used_at = pg_catalog.now(), replaced_by = $2 WHERE id = $1",
						 2, types, values, NULL, SPI_OK_UPDATE);
	if (!st.session_null)
	{
		Oid			utypes[2] = {UUIDOID, TIMESTAMPTZOID};
		Datum		uvalues[2];

		uvalues[0] = st.session_id;
		uvalues[1] = expires;
		sg_identity_spi_exec("UPDATE steppergo.sessions "
							 "SET expires_at = $2, last_seen_at = pg_catalog.now() WHERE id = $1",
							 2, utypes, uvalues, NULL, SPI_OK_UPDATE);
	}

	/* access tokens name a session; a token without one names its family */
	reply = build_reply(st.user_id, st.app_role, st.tenant_id, st.tenant_null,
						st.session_null ? st.family_id : st.session_id,
						token, expires, false);
	SPI_finish();
	PG_RETURN_DATUM(reply);
}

/*
 * logout(refresh_token text) RETURNS void
 *
 * Revokes the token's whole family and its session.  Any token of the
 * family, also a spent one, ends the session; doing it twice is harmless.
 */
Datum
sg_identity_logout(PG_FUNCTION_ARGS)
{
	bytea	   *hash = presented_token_hash(fcinfo);
	Oid			types[1] = {BYTEAOID};
	Datum		values[1];
	bool		isnull;
	Datum		family_id;
	Datum		session_id;
	bool		session_null;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	values[0] = PointerGetDatum(hash);
	sg_identity_spi_exec("SELECT family_id, session_id FROM steppergo.refresh_tokens WHERE token_hash = $1",
						 1, types, values, NULL, SPI_OK_SELECT);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_SG_UNAUTHORIZED),
				 errmsg("invalid refresh token")));
	family_id = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	session_id = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &session_null);

	types[0] = UUIDOID;
	if (!session_null)
	{
		/* the session row serialises us with refreshes of the family */
		values[0] = session_id;
		sg_identity_spi_exec("UPDATE steppergo.sessions SET revoked_at = pg_catalog.now() "
							 "WHERE id = $1 AND revoked_at IS NULL",
							 1, types, values, NULL, SPI_OK_UPDATE);
	}
	values[0] = family_id;
	sg_identity_spi_exec("UPDATE steppergo.refresh_tokens "
						 "SET revoked = true, revoked_at = pg_catalog.now() "
						 "WHERE family_id = $1 AND NOT revoked",
						 1, types, values, NULL, SPI_OK_UPDATE);
	SPI_finish();
	PG_RETURN_VOID();
}
