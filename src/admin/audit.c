/*-------------------------------------------------------------------------
 *
 * audit.c
 *	  The hash chain over admin_actions.
 *
 * Every audit row carries its position in the chain (seq), the hash of the
 * row before it (prev_hash) and its own hash (row_hash): a keyed BLAKE2b-256
 * (libsodium's crypto_generichash, keyed with steppergo.audit_key) over the
 * row's content and prev_hash.  Editing, inserting or deleting a row anywhere
 * but at the tail breaks the chain, and only a holder of the key could mend
 * it; verify_audit_chain() (admin.sql) names the first broken link.
 *
 * Appends are serialised by a transaction-level advisory lock, held until the
 * appending transaction ends, and the tail is read with the latest snapshot
 * (not the transaction's), so that under REPEATABLE READ too every append
 * links to the row committed last.  A unique index on seq refuses any fork.
 *
 *-------------------------------------------------------------------------
 */
#include "steppergo.h"

#include <sodium.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"
#include "utils/typcache.h"

#include "admin/admin.h"

PG_FUNCTION_INFO_V1(sg_admin_audit_chain);
PG_FUNCTION_INFO_V1(sg_admin_action_hash);

#define AUDIT_HASH_LEN 32

/* content columns, in hash order (seq and prev_hash are added around them) */
static const char *const audit_columns[] = {
	"id", "admin_id", "action_type", "target_type", "target_id",
	"details", "ip_address", "user_agent", "created_at"
};
#define N_AUDIT_COLUMNS lengthof(audit_columns)

static SPIPlanPtr tail_plan = NULL;

/* feed one length-prefixed field (or a NULL marker) into the hash */
static void
hash_field(crypto_generichash_state *st, const char *data, uint32 len, bool isnull)
{
	unsigned char hdr[5];

	hdr[0] = isnull ? 0 : 1;
	hdr[1] = (len >> 24) & 0xff;
	hdr[2] = (len >> 16) & 0xff;
	hdr[3] = (len >> 8) & 0xff;
	hdr[4] = len & 0xff;
	crypto_generichash_update(st, hdr, sizeof(hdr));
	if (!isnull && len > 0)
		crypto_generichash_update(st, (const unsigned char *) data, len);
}

static int
audit_attnum(TupleDesc tupdesc, const char *name)
{
	int			i;

	for (i = 0; i < tupdesc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, i);

		if (!att->attisdropped && strcmp(NameStr(att->attname), name) == 0)
			return i;
	}
	ereport(ERROR,
			(errcode(ERRCODE_UNDEFINED_COLUMN),
			 errmsg("admin_actions has no column %s", name)));
	return -1;					/* keep compiler quiet */
}

/*
 * The keyed hash of one audit row: a domain tag, seq, the content columns in
 * a fixed order (text output of each type, timestamps as their int64 value so
 * that DateStyle and TimeZone do not matter), then prev_hash.
 */
static void
audit_hash(TupleDesc tupdesc, Datum *values, bool *nulls, int64 seq,
		   const unsigned char *prev, unsigned char *out)
{
	const char *key = sg_secret(sg_audit_key, "audit_key");
	crypto_generichash_state st;
	static const char tag[] = "steppergo.admin_actions.v1";
	char		seqbuf[32];
	int			i;

	crypto_generichash_init(&st, (const unsigned char *) key,
							Min(strlen(key), crypto_generichash_KEYBYTES_MAX),
							AUDIT_HASH_LEN);
	hash_field(&st, tag, sizeof(tag) - 1, false);
	snprintf(seqbuf, sizeof(seqbuf), INT64_FORMAT, seq);
	hash_field(&st, seqbuf, strlen(seqbuf), false);

	for (i = 0; i < N_AUDIT_COLUMNS; i++)
	{
		int			att = audit_attnum(tupdesc, audit_columns[i]);
		Oid			typid = TupleDescAttr(tupdesc, att)->atttypid;

		if (nulls[att])
			hash_field(&st, NULL, 0, true);
		else if (typid == TIMESTAMPTZOID)
		{
			char		buf[32];

			snprintf(buf, sizeof(buf), INT64_FORMAT, DatumGetInt64(values[att]));
			hash_field(&st, buf, strlen(buf), false);
		}
		else
		{
			Oid			outfn;
			bool		isvarlena;
			char	   *s;

			getTypeOutputInfo(typid, &outfn, &isvarlena);
			s = OidOutputFunctionCall(outfn, values[att]);
			hash_field(&st, s, strlen(s), false);
			pfree(s);
		}
	}
	hash_field(&st, (const char *) prev, AUDIT_HASH_LEN, prev == NULL);
	crypto_generichash_final(&st, out, AUDIT_HASH_LEN);
}

static bytea *
make_bytea(const unsigned char *data, int len)
{
	bytea	   *b = (bytea *) palloc(VARHDRSZ + len);

	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), data, len);
	return b;
}

/*
 * BEFORE INSERT FOR EACH ROW trigger on admin_actions: assigns seq,
 * prev_hash and row_hash.  Rows that already carry their chain fields,
 * inserted in a superuser's session (pg_restore, reloading an archive), are
 * kept as given; verify_audit_chain() checks them like any other.
 */
Datum
sg_admin_audit_chain(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	TupleDesc	tupdesc;
	HeapTuple	tuple;
	Datum	   *values;
	bool	   *nulls;
	int			att_seq,
				att_prev,
				att_hash;
	int64		prev_seq = 0;
	unsigned char prev[AUDIT_HASH_LEN];
	unsigned char hash[AUDIT_HASH_LEN];
	LOCKTAG		tag;
	int			ret;

	if (!CALLED_AS_TRIGGER(fcinfo) ||
		!TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) ||
		!TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("sg_admin_audit_chain must be a BEFORE INSERT FOR EACH ROW trigger")));

	tupdesc = RelationGetDescr(trigdata->tg_relation);
	tuple = trigdata->tg_trigtuple;
	att_seq = audit_attnum(tupdesc, "seq");
	att_prev = audit_attnum(tupdesc, "prev_hash");
	att_hash = audit_attnum(tupdesc, "row_hash");

	values = (Datum *) palloc(tupdesc->natts * sizeof(Datum));
	nulls = (bool *) palloc(tupdesc->natts * sizeof(bool));
	heap_deform_tuple(tuple, tupdesc, values, nulls);

	/*
	 * The session's user, not the current one: inside the extension's
	 * SECURITY DEFINER functions the current user is a superuser for every
	 * caller.
	 */
	if (!nulls[att_seq] && !nulls[att_prev] && !nulls[att_hash] &&
		superuser_arg(GetSessionUserId()))
		return PointerGetDatum(tuple);

	/* fail before taking the lock when the key is missing */
	(void) sg_secret(sg_audit_key, "audit_key");

	/* serialise appends until this transaction ends */
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, SG_AUDIT_LOCK_KEY1, SG_AUDIT_LOCK_KEY2, 2);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);

	memset(prev, 0, sizeof(prev));
	if ((ret = SPI_connect()) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(ret));
	if (tail_plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare("SELECT a.seq, a.row_hash FROM steppergo.admin_actions a "
									   "WHERE a.seq IS NOT NULL ORDER BY a.seq DESC LIMIT 1",
									   0, NULL);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
		tail_plan = plan;
	}
	/* the latest snapshot: every append committed before we got the lock */
	ret = SPI_execute_snapshot(tail_plan, NULL, NULL, GetLatestSnapshot(),
							   InvalidSnapshot, false, false, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "reading the audit chain's tail failed: %s", SPI_result_code_string(ret));
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		d;

		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		prev_seq = DatumGetInt64(d);
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
		if (!isnull)
		{
			bytea	   *b = DatumGetByteaPP(d);

			if (VARSIZE_ANY_EXHDR(b) == AUDIT_HASH_LEN)
				memcpy(prev, VARDATA_ANY(b), AUDIT_HASH_LEN);
		}
	}
	SPI_finish();

	audit_hash(tupdesc, values, nulls, prev_seq + 1, prev, hash);

	values[att_seq] = Int64GetDatum(prev_seq + 1);
	nulls[att_seq] = false;
	values[att_prev] = PointerGetDatum(make_bytea(prev, AUDIT_HASH_LEN));
	nulls[att_prev] = false;
	values[att_hash] = PointerGetDatum(make_bytea(hash, AUDIT_HASH_LEN));
	nulls[att_hash] = false;

	return PointerGetDatum(heap_form_tuple(tupdesc, values, nulls));
}

/*
 * admin_action_hash(admin_actions): recomputes the hash a row should carry
 * from its content, seq and prev_hash (NULL when seq is NULL).
 */
Datum
sg_admin_action_hash(PG_FUNCTION_ARGS)
{
	HeapTupleHeader rec = PG_GETARG_HEAPTUPLEHEADER(0);
	TupleDesc	tupdesc;
	HeapTupleData tup;
	Datum	   *values;
	bool	   *nulls;
	int			att_seq,
				att_prev;
	unsigned char hash[AUDIT_HASH_LEN];
	const unsigned char *prev = NULL;

	tupdesc = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(rec),
									 HeapTupleHeaderGetTypMod(rec));
	tup.t_len = HeapTupleHeaderGetDatumLength(rec);
	ItemPointerSetInvalid(&(tup.t_self));
	tup.t_tableOid = InvalidOid;
	tup.t_data = rec;

	values = (Datum *) palloc(tupdesc->natts * sizeof(Datum));
	nulls = (bool *) palloc(tupdesc->natts * sizeof(bool));
	heap_deform_tuple(&tup, tupdesc, values, nulls);

	att_seq = audit_attnum(tupdesc, "seq");
	att_prev = audit_attnum(tupdesc, "prev_hash");
	if (nulls[att_seq])
	{
		ReleaseTupleDesc(tupdesc);
		PG_RETURN_NULL();
	}
	if (!nulls[att_prev])
	{
		bytea	   *b = DatumGetByteaPP(values[att_prev]);

		if (VARSIZE_ANY_EXHDR(b) == AUDIT_HASH_LEN)
			prev = (const unsigned char *) VARDATA_ANY(b);
		else
		{
			ReleaseTupleDesc(tupdesc);
			PG_RETURN_NULL();
		}
	}
	audit_hash(tupdesc, values, nulls, DatumGetInt64(values[att_seq]), prev, hash);
	ReleaseTupleDesc(tupdesc);
	PG_RETURN_BYTEA_P(make_bytea(hash, AUDIT_HASH_LEN));
}
