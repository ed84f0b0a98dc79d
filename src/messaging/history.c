/*-------------------------------------------------------------------------
 *
 * history.c
 *	  message_history(): one keyset page of a trip conversation, in C.
 *
 * This is the hot read path of the chat (every screen that opens a
 * conversation calls it), so it avoids the interpreter: the caller is
 * resolved once, the membership is one index probe, and the page is one
 * backward range scan of messages_conversation_sent_idx, in one statement
 * prepared once per backend (the membership is checked apart only when the
 * page comes back empty).  The rules are those of
 * the PL/pgSQL helpers (chat_actor, chat_is_moderator, chat_participant),
 * which it calls through SPI for everything off the common path (requests
 * with JWT claims, refusals), so the wording of errors stays in one place.
 *
 *-------------------------------------------------------------------------
 */
#include "steppergo.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(sg_messaging_history);

#define HISTORY_COLUMNS 12

static SPIPlanPtr plan_member = NULL;
static SPIPlanPtr plan_page = NULL;
static SPIPlanPtr plan_page_all = NULL;
static SPIPlanPtr plan_claims = NULL;
static SPIPlanPtr plan_refuse = NULL;
static SPIPlanPtr plan_exists = NULL;

static SPIPlanPtr
prepare_kept(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql,
			 SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return plan;
}

static void
prepare_plans(void)
{
	Oid			t_uuid_uuid[2] = {UUIDOID, UUIDOID};
	Oid			t_page[3] = {UUIDOID, TIMESTAMPTZOID, INT4OID};
	Oid			t_page4[4] = {UUIDOID, TIMESTAMPTZOID, INT4OID, UUIDOID};

	if (plan_member != NULL)
		return;
	plan_member = prepare_kept(
		"SELECT cp.left_at FROM steppergo.conversation_participants cp"
		" WHERE cp.conversation_id = $1 AND cp.user_id = $2",
		2, t_uuid_uuid);
	/* membership and page in one statement: one executor run per call */
	plan_page = prepare_kept(
		"SELECT m.id, m.sender_id, m.type, m.content, m.metadata, m.status, m.sent_at,"
		"       m.delivered_at, m.read_at, m.edited_at, m.is_reported, false"
		"  FROM steppergo.conversation_participants cp"
		"  CROSS JOIN LATERAL ("
		"    SELECT * FROM steppergo.messages m"
		"     WHERE m.conversation_id = cp.conversation_id"
		"       AND m.sent_at < LEAST($2, COALESCE(cp.left_at + interval '1 microsecond', 'infinity'))"
		"       AND NOT m.is_hidden"
		"     ORDER BY m.sent_at DESC LIMIT $3) m"
		" WHERE cp.conversation_id = $1 AND cp.user_id = $4"
		" ORDER BY m.sent_at DESC",
		4, t_page4);
	plan_page_all = prepare_kept(
		"SELECT m.id, m.sender_id, m.type, m.content, m.metadata, m.status, m.sent_at,"
		"       m.delivered_at, m.read_at, m.edited_at, m.is_reported, m.is_hidden"
		"  FROM steppergo.messages m"
		" WHERE m.conversation_id = $1 AND m.sent_at < $2"
		" ORDER BY m.sent_at DESC LIMIT $3",
		3, t_page);
	plan_claims = prepare_kept(
		"SELECT steppergo.current_user_id(),"
		"       steppergo.current_app_role() IS NOT DISTINCT FROM 'ADMIN',"
		"       steppergo.is_trusted_caller()",
		0, NULL);
	plan_refuse = prepare_kept(
		"SELECT (steppergo.chat_participant($1, $2)).id",
		2, t_uuid_uuid);
	plan_exists = prepare_kept(
		"SELECT 1 FROM steppergo.conversations c WHERE c.id = $1",
		1, t_uuid_uuid);
}

/*
 * The common case decided without a query: a caller without JWT claims that
 * is no member of steppergo_api (a backend connecting as its own role, a
 * DBA, a job) is trusted by core's is_trusted_caller().  "Member" of the
 * outer user (the role SET ROLE chose, else the session user; SECURITY
 * DEFINER does not change it), a superuser being no member of an API role.
 * Everything else asks core's helpers.
 */
static bool
plainly_trusted(void)
{
	const char *raw = GetConfigOption("request.jwt.claims", true, false);
	Oid			api;

	if (!(raw == NULL || raw[0] == '\0' || strcmp(raw, "{}") == 0))
		return false;
	api = get_role_oid("steppergo_api", true);
	return !OidIsValid(api) || !is_member_of_role_nosuper(GetOuterUserId(), api);
}

Datum
sg_messaging_history(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		conversation_id;
	Datum		before;
	int32		page_size;
	Datum		me = (Datum) 0;
	bool		moderator = false;
	Datum		args[3];
	int			ret;
	uint64		i;
	SPITupleTable *tt;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("conversation_id must not be null")));
	if (PG_ARGISNULL(2) || PG_GETARG_INT32(2) < 1 || PG_GETARG_INT32(2) > 200)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("page_size must be between 1 and 200")));
	conversation_id = PG_GETARG_DATUM(0);
	page_size = PG_GETARG_INT32(2);
	if (PG_ARGISNULL(1))
	{
		Timestamp	inf;

		TIMESTAMP_NOEND(inf);
		before = TimestampTzGetDatum(inf);
	}
	else
		before = PG_GETARG_DATUM(1);

	/* the executor's expected row type spares a catalog lookup per call */
	InitMaterializedSRF(fcinfo,
						rsinfo != NULL && IsA(rsinfo, ReturnSetInfo) && rsinfo->expectedDesc != NULL
						? MAT_SRF_USE_EXPECTED_DESC : 0);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	prepare_plans();

	/* who is calling: the rules of chat_actor and chat_is_moderator */
	if (plainly_trusted())
	{
		moderator = PG_ARGISNULL(3);
		if (!moderator)
			me = PG_GETARG_DATUM(3);
	}
	else
	{
		bool		sub_null;
		bool		flag_null;
		bool		admin;
		bool		trusted;
		Datum		sub;

		/* core's helpers read the claims (PT401 when malformed) */
		ret = SPI_execute_plan(plan_claims, NULL, NULL, true, 1);
		if (ret != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "caller lookup failed");
		sub = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &sub_null);
		admin = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &flag_null));
		trusted = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &flag_null));
		if (trusted)
		{
			/* acts for user_id, or reads as a moderator without one */
			moderator = PG_ARGISNULL(3);
			if (!moderator)
				me = PG_GETARG_DATUM(3);
		}
		else if (sub_null)
			ereport(ERROR,
					(errcode(ERRCODE_SG_UNAUTHORIZED),
					 errmsg("authentication required")));
		else if (admin)
		{
			moderator = PG_ARGISNULL(3);
			me = PG_ARGISNULL(3) ? sub : PG_GETARG_DATUM(3);
		}
		else
		{
			if (!PG_ARGISNULL(3) &&
				!DatumGetBool(DirectFunctionCall2(uuid_eq, sub, PG_GETARG_DATUM(3))))
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("not allowed to act for another user")));
			me = sub;
		}
	}

	args[0] = conversation_id;
	args[1] = before;
	args[2] = Int32GetDatum(page_size);

	if (moderator)
	{
		ret = SPI_execute_plan(plan_exists, args, NULL, true, 1);
		if (ret != SPI_OK_SELECT || SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_SG_NOT_FOUND),
					 errmsg("conversation not found")));
		ret = SPI_execute_plan(plan_page_all, args, NULL, true, 0);
	}
	else
	{
		Datum		pargs[4];

		pargs[0] = conversation_id;
		pargs[1] = before;
		pargs[2] = Int32GetDatum(page_size);
		pargs[3] = me;
		ret = SPI_execute_plan(plan_page, pargs, NULL, true, 0);
		if (ret == SPI_OK_SELECT && SPI_processed == 0)
		{
			Datum		margs[2];

			/* an empty page, or no participant: tell them apart */
			margs[0] = conversation_id;
			margs[1] = me;
			if (SPI_execute_plan(plan_member, margs, NULL, true, 1) != SPI_OK_SELECT)
				elog(ERROR, "membership lookup failed");
			if (SPI_processed == 0)
			{
				/* raises PT404 (no such conversation) or 42501 */
				SPI_execute_plan(plan_refuse, margs, NULL, true, 1);
				ereport(ERROR,
						(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
						 errmsg("not a participant of this conversation")));
			}
			SPI_finish();
			return (Datum) 0;
		}
	}
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "history page failed");

	tt = SPI_tuptable;
	for (i = 0; i < SPI_processed; i++)
	{
		Datum		values[HISTORY_COLUMNS];
		bool		nulls[HISTORY_COLUMNS];

		heap_deform_tuple(tt->vals[i], tt->tupdesc, values, nulls);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	SPI_finish();
	return (Datum) 0;
}
