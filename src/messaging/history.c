/*-------------------------------------------------------------------------
 *
 * history.c
 *	  message_history(): one keyset page of a trip conversation, in C.
 *
 * This is the hot read path of the chat (every screen that opens a
 * conversation calls it), so it runs no SQL on the common path: the caller
 * is resolved from the role cache, the membership is one probe of the
 * unique index conversation_participants_once (conversation_id, user_id),
 * and the page is one backward range scan of messages_conversation_sent_idx
 * (conversation_id, sent_at), read with the query's snapshot straight into
 * the result tuplestore.  That is the plan the bare keyset query gets, minus
 * the executor's start-up, which SPI paid on every call together with two
 * copies of every row.
 *
 * The relations are found by name in the extension's schema once per
 * backend (never through the caller's search_path) and forgotten on any
 * relcache invalidation of one of them; the shapes this code relies on
 * (index columns, column types) are checked when they are found.
 *
 * The rules are those of the PL/pgSQL helpers (chat_actor,
 * chat_is_moderator, chat_participant), which it calls through SPI for
 * everything off the common path (requests with JWT claims, refusals), so
 * the wording of errors stays in one place.
 *
 *-------------------------------------------------------------------------
 */
#include "steppergo.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "commands/defrem.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(sg_messaging_history);

#define HISTORY_COLUMNS 12
#define SG_SCHEMA "steppergo"

/* the result columns, in order, as columns of steppergo.messages */
static const struct
{
	const char *name;
	Oid			type;
}			history_columns[HISTORY_COLUMNS] =
{
	{"id", UUIDOID},
	{"sender_id", UUIDOID},
	{"type", InvalidOid},		/* enum message_type: checked against the result */
	{"content", TEXTOID},
	{"metadata", JSONBOID},
	{"status", InvalidOid},		/* enum message_status: likewise */
	{"sent_at", TIMESTAMPTZOID},
	{"delivered_at", TIMESTAMPTZOID},
	{"read_at", TIMESTAMPTZOID},
	{"edited_at", TIMESTAMPTZOID},
	{"is_reported", BOOLOID},
	{"is_hidden", BOOLOID},
};
#define COL_SENT_AT 6
#define COL_IS_HIDDEN 11

/*
 * What one backend knows about the relations it reads.  valid is cleared by
 * the relcache callback when any of them (or everything) is invalidated;
 * generation counts those resets so that a caller that locked relations
 * named by an older lookup can tell.
 */
typedef struct HistoryRels
{
	bool		valid;
	Oid			messages;
	Oid			messages_idx;	/* messages_conversation_sent_idx */
	Oid			participants;
	Oid			participants_idx;	/* conversation_participants_once */
	Oid			conversations;
	Oid			conversations_idx;	/* conversations_pkey */
	AttrNumber	msg_att[HISTORY_COLUMNS];	/* attnum of each result column */
	Oid			msg_type[HISTORY_COLUMNS];	/* its type */
	AttrNumber	msg_natts;		/* deform this many attributes */
	AttrNumber	left_at_att;	/* conversation_participants.left_at */
} HistoryRels;

static HistoryRels rels;
static uint64 rels_generation = 0;
static bool callbacks_registered = false;

static SPIPlanPtr plan_claims = NULL;
static SPIPlanPtr plan_refuse = NULL;

/* the role steppergo_api, looked up once per backend (InvalidOid: absent) */
static Oid	api_role = InvalidOid;
static bool api_role_known = false;

static void
history_relcache_callback(Datum arg, Oid relid)
{
	if (!rels.valid)
		return;
	if (relid == InvalidOid || relid == rels.messages || relid == rels.messages_idx ||
		relid == rels.participants || relid == rels.participants_idx ||
		relid == rels.conversations || relid == rels.conversations_idx)
	{
		rels.valid = false;
		rels_generation++;
	}
}

static void
history_authid_callback(Datum arg, int cacheid, uint32 hashvalue)
{
	api_role_known = false;
}

static void
register_callbacks(void)
{
	if (callbacks_registered)
		return;
	CacheRegisterRelcacheCallback(history_relcache_callback, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHOID, history_authid_callback, (Datum) 0);
	callbacks_registered = true;
}

static Oid
schema_rel(Oid nsp, const char *name, char relkind)
{
	Oid			relid = get_relname_relid(name, nsp);

	if (!OidIsValid(relid) || get_rel_relkind(relid) != relkind)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("relation \"%s.%s\" is missing", SG_SCHEMA, name)));
	return relid;
}

static AttrNumber
column_of(Oid relid, const char *column, Oid type)
{
	HeapTuple	tp = SearchSysCacheAttName(relid, column);
	AttrNumber	attnum;
	Oid			atttype;

	if (!HeapTupleIsValid(tp))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" is missing", column, get_rel_name(relid))));
	attnum = ((Form_pg_attribute) GETSTRUCT(tp))->attnum;
	atttype = ((Form_pg_attribute) GETSTRUCT(tp))->atttypid;
	ReleaseSysCache(tp);
	if (OidIsValid(type) && atttype != type)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of relation \"%s\" has type %s, expected %s",
						column, get_rel_name(relid), format_type_be(atttype), format_type_be(type))));
	return attnum;
}

/*
 * The index is a valid ascending btree on exactly these columns of its
 * table, with the default operator classes of these types, so that the
 * scan keys below (uuid_eq, timestamptz_lt) mean what they say.
 */
static void
check_index(Oid indexid, Oid relid, int nkeys, const AttrNumber *atts, const Oid *types)
{
	Relation	idx = index_open(indexid, AccessShareLock);
	bool		ok;
	int			i;

	ok = idx->rd_rel->relam == BTREE_AM_OID &&
		idx->rd_index->indrelid == relid &&
		idx->rd_index->indisvalid &&
		idx->rd_index->indnkeyatts == nkeys &&
		RelationGetIndexExpressions(idx) == NIL &&
		RelationGetIndexPredicate(idx) == NIL;
	for (i = 0; ok && i < nkeys; i++)
		ok = idx->rd_index->indkey.values[i] == atts[i] &&
			idx->rd_opcintype[i] == types[i] &&
			(idx->rd_indoption[i] & INDOPTION_DESC) == 0 &&
			idx->rd_opfamily[i] == get_opclass_family(GetDefaultOpClass(types[i], BTREE_AM_OID));
	index_close(idx, AccessShareLock);
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("index \"%s\" is not the one message_history reads", get_rel_name(indexid))));
}

/*
 * (Re)find the relations, their columns and indexes, by name in the
 * extension's schema.  A caller's search_path plays no part.
 */
static void
load_rels(void)
{
	HistoryRels r;
	Oid			nsp;
	AttrNumber	atts[2];
	Oid			types[2];
	int			i;

	register_callbacks();
	nsp = get_namespace_oid(SG_SCHEMA, false);
	memset(&r, 0, sizeof(r));
	r.messages = schema_rel(nsp, "messages", RELKIND_RELATION);
	r.messages_idx = schema_rel(nsp, "messages_conversation_sent_idx", RELKIND_INDEX);
	r.participants = schema_rel(nsp, "conversation_participants", RELKIND_RELATION);
	r.participants_idx = schema_rel(nsp, "conversation_participants_once", RELKIND_INDEX);
	r.conversations = schema_rel(nsp, "conversations", RELKIND_RELATION);
	r.conversations_idx = schema_rel(nsp, "conversations_pkey", RELKIND_INDEX);

	r.msg_natts = 0;
	for (i = 0; i < HISTORY_COLUMNS; i++)
	{
		r.msg_att[i] = column_of(r.messages, history_columns[i].name, history_columns[i].type);
		r.msg_type[i] = get_atttype(r.messages, r.msg_att[i]);
		r.msg_natts = Max(r.msg_natts, r.msg_att[i]);
	}

	atts[0] = column_of(r.messages, "conversation_id", UUIDOID);
	atts[1] = r.msg_att[COL_SENT_AT];
	types[0] = UUIDOID;
	types[1] = TIMESTAMPTZOID;
	check_index(r.messages_idx, r.messages, 2, atts, types);

	atts[0] = column_of(r.participants, "conversation_id", UUIDOID);
	atts[1] = column_of(r.participants, "user_id", UUIDOID);
	types[1] = UUIDOID;
	check_index(r.participants_idx, r.participants, 2, atts, types);
	r.left_at_att = column_of(r.participants, "left_at", TIMESTAMPTZOID);

	atts[0] = column_of(r.conversations, "id", UUIDOID);
	check_index(r.conversations_idx, r.conversations, 1, atts, types);

	r.valid = true;
	rels = r;
}

/*
 * Lock the relations a call reads (AccessShareLock, kept to the end of the
 * transaction as the executor does; conversations only for a moderator) by
 * the OIDs of the cache, and make sure the cache still names them
 * afterwards (src/core/relcache.c); else look them up again.
 */
static void
lock_rels(bool moderator)
{
	for (;;)
	{
		Oid			oids[4];

		if (!rels.valid)
			load_rels();
		oids[0] = rels.messages;
		oids[1] = rels.messages_idx;
		oids[2] = moderator ? rels.conversations : rels.participants;
		oids[3] = moderator ? rels.conversations_idx : rels.participants_idx;
		if (sg_lock_cached_relations(oids, 4, &rels_generation) && rels.valid)
			return;
	}
}

/*
 * One equality probe of a unique index (1 or 2 uuid keys) with the query's
 * snapshot.  Returns whether a visible row exists; with att, also that
 * column of it.
 */
static bool
probe(Oid relid, Oid indexid, Snapshot snapshot, int nkeys, Datum key1, Datum key2,
	  AttrNumber att, TimestampTz *value, bool *isnull)
{
	Relation	heap = table_open(relid, NoLock);
	Relation	idx = index_open(indexid, NoLock);
	TupleTableSlot *slot = table_slot_create(heap, NULL);
	ScanKeyData key[2];
	IndexScanDesc scan;
	bool		found;

	ScanKeyInit(&key[0], 1, BTEqualStrategyNumber, F_UUID_EQ, key1);
	if (nkeys > 1)
		ScanKeyInit(&key[1], 2, BTEqualStrategyNumber, F_UUID_EQ, key2);
	scan = index_beginscan(heap, idx, snapshot, nkeys, 0);
	index_rescan(scan, key, nkeys, NULL, 0);
	found = index_getnext_slot(scan, ForwardScanDirection, slot);
	if (found && att != InvalidAttrNumber)
	{
		Datum		d = slot_getattr(slot, att, isnull);

		if (!*isnull)
			*value = DatumGetTimestampTz(d);
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(idx, NoLock);
	table_close(heap, NoLock);
	return found;
}

/*
 * The page: messages of the conversation with sent_at < bound, newest first,
 * at most page_size of them (hidden ones skipped unless all), read backwards
 * from messages_conversation_sent_idx straight into the result.
 */
static void
read_page(ReturnSetInfo *rsinfo, Snapshot snapshot, Datum conversation_id,
		  TimestampTz bound, int32 page_size, bool all)
{
	Relation	heap = table_open(rels.messages, NoLock);
	Relation	idx = index_open(rels.messages_idx, NoLock);
	TupleTableSlot *slot = table_slot_create(heap, NULL);
	ScanKeyData key[2];
	IndexScanDesc scan;
	int32		n = 0;
	AttrNumber	hidden = rels.msg_att[COL_IS_HIDDEN] - 1;

	ScanKeyInit(&key[0], 1, BTEqualStrategyNumber, F_UUID_EQ, conversation_id);
	ScanKeyInit(&key[1], 2, BTLessStrategyNumber, F_TIMESTAMPTZ_LT, TimestampTzGetDatum(bound));
	scan = index_beginscan(heap, idx, snapshot, 2, 0);
	index_rescan(scan, key, 2, NULL, 0);
	while (n < page_size && index_getnext_slot(scan, BackwardScanDirection, slot))
	{
		Datum		values[HISTORY_COLUMNS];
		bool		nulls[HISTORY_COLUMNS];
		int			i;

		CHECK_FOR_INTERRUPTS();
		slot_getsomeattrs(slot, rels.msg_natts);
		if (!all && (slot->tts_isnull[hidden] || DatumGetBool(slot->tts_values[hidden])))
			continue;
		for (i = 0; i < HISTORY_COLUMNS; i++)
		{
			values[i] = slot->tts_values[rels.msg_att[i] - 1];
			nulls[i] = slot->tts_isnull[rels.msg_att[i] - 1];
		}
		/* copies the row (by-reference values point into the buffer) */
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		n++;
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(idx, NoLock);
	table_close(heap, NoLock);
}

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

	if (!(raw == NULL || raw[0] == '\0' || strcmp(raw, "{}") == 0))
		return false;
	if (!api_role_known)
	{
		register_callbacks();
		api_role = get_role_oid("steppergo_api", true);
		api_role_known = true;
	}
	return !OidIsValid(api_role) || !is_member_of_role_nosuper(GetOuterUserId(), api_role);
}

/*
 * A caller with claims (or a member of the API roles): core's helpers read
 * the claims (PT401 when malformed) and decide, with chat_actor's and
 * chat_is_moderator's rules.  Sets *moderator, or *me (copied into *buf).
 */
static void
resolve_by_claims(FunctionCallInfo fcinfo, bool *moderator, Datum *me, pg_uuid_t *buf)
{
	bool		sub_null;
	bool		flag_null;
	bool		admin;
	bool		trusted;
	Datum		sub;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (plan_claims == NULL)
		plan_claims = prepare_kept(
			"SELECT steppergo.current_user_id(),"
			"       steppergo.current_app_role() IS NOT DISTINCT FROM 'ADMIN',"
			"       steppergo.is_trusted_caller()",
			0, NULL);
	if (SPI_execute_plan(plan_claims, NULL, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "caller lookup failed");
	sub = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &sub_null);
	admin = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &flag_null));
	trusted = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &flag_null));
	if (!sub_null)
	{
		memcpy(buf, DatumGetUUIDP(sub), sizeof(pg_uuid_t));
		sub = UUIDPGetDatum(buf);
	}
	SPI_finish();

	*moderator = false;
	if (trusted)
	{
		/* acts for user_id, or reads as a moderator without one */
		*moderator = PG_ARGISNULL(3);
		if (!*moderator)
			*me = PG_GETARG_DATUM(3);
	}
	else if (sub_null)
		ereport(ERROR,
				(errcode(ERRCODE_SG_UNAUTHORIZED),
				 errmsg("authentication required")));
	else if (admin)
	{
		*moderator = PG_ARGISNULL(3);
		*me = PG_ARGISNULL(3) ? sub : PG_GETARG_DATUM(3);
	}
	else
	{
		if (!PG_ARGISNULL(3) &&
			!DatumGetBool(DirectFunctionCall2(uuid_eq, sub, PG_GETARG_DATUM(3))))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("not allowed to act for another user")));
		*me = sub;
	}
}

/* no participant row: chat_participant raises PT404 or 42501 */
static void
refuse(Datum conversation_id, Datum me)
{
	Datum		args[2];
	Oid			types[2] = {UUIDOID, UUIDOID};

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (plan_refuse == NULL)
		plan_refuse = prepare_kept("SELECT (steppergo.chat_participant($1, $2)).id", 2, types);
	args[0] = conversation_id;
	args[1] = me;
	SPI_execute_plan(plan_refuse, args, NULL, true, 1);
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("not a participant of this conversation")));
}

Datum
sg_messaging_history(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Datum		conversation_id;
	TimestampTz bound;
	int32		page_size;
	Datum		me = (Datum) 0;
	pg_uuid_t	me_buf;
	bool		moderator = false;
	Snapshot	snapshot;
	TupleDesc	desc;
	int			i;

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
		TIMESTAMP_NOEND(bound);
	else
		bound = PG_GETARG_TIMESTAMPTZ(1);

	/* the executor's expected row type spares a catalog lookup per call */
	InitMaterializedSRF(fcinfo,
						rsinfo != NULL && IsA(rsinfo, ReturnSetInfo) && rsinfo->expectedDesc != NULL
						? MAT_SRF_USE_EXPECTED_DESC : 0);

	/* who is calling: the rules of chat_actor and chat_is_moderator */
	if (plainly_trusted())
	{
		moderator = PG_ARGISNULL(3);
		if (!moderator)
			me = PG_GETARG_DATUM(3);
	}
	else
		resolve_by_claims(fcinfo, &moderator, &me, &me_buf);

	lock_rels(moderator);
	desc = rsinfo->setDesc;
	if (desc->natts != HISTORY_COLUMNS)
		elog(ERROR, "message_history returns %d columns, expected %d", desc->natts, HISTORY_COLUMNS);
	for (i = 0; i < HISTORY_COLUMNS; i++)
		if (TupleDescAttr(desc, i)->atttypid != rels.msg_type[i])
			elog(ERROR, "column %d of message_history's result does not have the type of messages.%s",
				 i + 1, history_columns[i].name);

	if (!ActiveSnapshotSet())
		elog(ERROR, "message_history needs an active snapshot");
	snapshot = GetActiveSnapshot();

	if (moderator)
	{
		if (!probe(rels.conversations, rels.conversations_idx, snapshot, 1, conversation_id, (Datum) 0,
				   InvalidAttrNumber, NULL, NULL))
			ereport(ERROR,
					(errcode(ERRCODE_SG_NOT_FOUND),
					 errmsg("conversation not found")));
	}
	else
	{
		TimestampTz left_at = 0;
		bool		left_null = true;

		if (!probe(rels.participants, rels.participants_idx, snapshot, 2, conversation_id, me,
				   rels.left_at_att, &left_at, &left_null))
			refuse(conversation_id, me);
		/* one who left reads up to their leaving (sent_at <= left_at) */
		if (!left_null)
		{
			TimestampTz upto = left_at;

			if (!TIMESTAMP_NOT_FINITE(upto))
				upto += 1;
			if (upto < bound)
				bound = upto;
		}
	}

	read_page(rsinfo, snapshot, conversation_id, bound, page_size, moderator);
	return (Datum) 0;
}
