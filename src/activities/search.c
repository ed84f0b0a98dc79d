/*-------------------------------------------------------------------------
 *
 * search.c
 *	  steppergo.search_activities(city, category, lat, lng, radius_m, sort,
 *	  max_results): the anonymous listing search, in C since release 0.3.
 *
 *	  What made the PL/pgSQL version cost more than the bare query was the
 *	  interpreter around it, paid on every call: six validation IFs and two
 *	  assignments whose expression states PL/pgSQL builds afresh in each
 *	  transaction, the plan_cache_mode GUC set and reset per call, and the
 *	  function's entry and exit (see the bench section of
 *	  src/activities/README.md for the measurements).  Here the validation
 *	  is a few comparisons, and the search runs one of two ways:
 *
 *	  - best rated in a city without a point (the common search): a direct
 *	    scan of the (city, category) index with a bounded top-N in C, see
 *	    direct_search();
 *	  - everything else, and that search when the direct path may not run:
 *	    one of eight queries (one per sort and combination of filters, as
 *	    before, so that no generic plan carries an OR of parameters), each
 *	    prepared once per backend as a generic plan (CURSOR_OPT_GENERIC_PLAN)
 *	    and run through SPI straight into the function's result tuplestore,
 *	    as RETURN QUERY did.
 *
 *	  Security: the function stays SECURITY DEFINER with its search_path
 *	  pinned (SET search_path FROM CURRENT), so the plans are made and
 *	  revalidated under the extension's path whatever the caller's; the
 *	  query texts qualify the extension's tables and functions besides, and
 *	  the direct path finds its relations by name in schema steppergo.
 *
 *	  The searched point is steppergo.geog_point(lat, lng) written as an
 *	  uncorrelated scalar subquery: an initplan, computed once per
 *	  execution, that the KNN index scan takes as its order-by argument.
 *
 *	  The list of categories is steppergo.activity_categories(), read once
 *	  per backend and read again after any change to a function (pg_proc
 *	  invalidation), so CREATE OR REPLACE of the list takes effect at once.
 *
 *-------------------------------------------------------------------------
 */
#include "steppergo.h"

#include "access/genam.h"
#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/relation.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_am_d.h"
#include "catalog/pg_class.h"
#include "catalog/pg_index.h"
#include "catalog/pg_type_d.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "executor/tstoreReceiver.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "nodes/params.h"
#include "nodes/parsenodes.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/numeric.h"
#include "utils/plancache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(sg_search_activities);

/* the eight queries, by sort and filters */
typedef enum SearchQuery
{
	SQ_DISTANCE,				/* nearest first */
	SQ_DISTANCE_CITY,			/* nearest first in a city */
	SQ_DISTANCE_RADIUS,			/* nearest first within radius_m */
	SQ_DISTANCE_CITY_RADIUS,	/* both */
	SQ_RATING_CITY,				/* best rated in a city: (city, category) index */
	SQ_RATING_CITY_POINT,		/* best rated in a city, with distances */
	SQ_RATING,					/* best rated anywhere */
	SQ_RATING_POINT,			/* best rated anywhere, with distances */
	SQ_COUNT
}			SearchQuery;

/*
 * Parameters of every query: $1 city text, $2 categories text[], $3 lat,
 * $4 lng, $5 radius_m, $6 max_results.  A query may leave some unused.
 */
#define SQ_NPARAMS 6
static const Oid sq_param_types[SQ_NPARAMS] = {TEXTOID, TEXTARRAYOID, FLOAT8OID, FLOAT8OID, INT4OID, INT4OID};

static SPIPlanPtr sq_plans[SQ_COUNT];

/* activity_categories(), cached per backend */
static MemoryContext cat_cxt = NULL;
static bool cat_valid = false;
static uint64 cat_generation = 0;	/* pg_proc invalidations seen */
static bool cat_callback_registered = false;
static int	cat_count = 0;
static text **cat_names = NULL;
static Datum cat_array = (Datum) 0;
static char *cat_list = NULL;	/* "TOUR, EXCURSION, ..." for the error detail */

static void
cat_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	cat_valid = false;
	cat_generation++;
}

/* Reads activity_categories() into the cache; SPI must be connected. */
static void
cat_load(void)
{
	MemoryContext old;
	bool		isnull;
	Datum		d;
	ArrayType  *arr;
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	StringInfoData list;
	uint64		generation;

	if (!cat_callback_registered)
	{
		CacheRegisterSyscacheCallback(PROCOID, cat_invalidate, (Datum) 0);
		cat_callback_registered = true;
	}
	if (cat_cxt == NULL)
		cat_cxt = AllocSetContextCreate(CacheMemoryContext, "steppergo activity categories",
										ALLOCSET_SMALL_SIZES);
	cat_valid = false;
	MemoryContextReset(cat_cxt);
	cat_names = NULL;
	cat_count = 0;

	/* an invalidation while reading leaves the cache invalid: read again */
	generation = cat_generation;
	if (SPI_execute("SELECT steppergo.activity_categories()", true, 1) != SPI_OK_SELECT ||
		SPI_processed != 1)
		elog(ERROR, "reading activity_categories() failed");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		elog(ERROR, "activity_categories() returned null");

	old = MemoryContextSwitchTo(cat_cxt);
	arr = DatumGetArrayTypePCopy(d);
	deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &n);
	cat_names = palloc(sizeof(text *) * Max(n, 1));
	initStringInfo(&list);
	for (int i = 0; i < n; i++)
	{
		if (nulls[i])
			elog(ERROR, "activity_categories() holds a null");
		cat_names[i] = DatumGetTextPP(elems[i]);
		if (i > 0)
			appendStringInfoString(&list, ", ");
		appendBinaryStringInfo(&list, VARDATA_ANY(cat_names[i]), VARSIZE_ANY_EXHDR(cat_names[i]));
	}
	cat_count = n;
	cat_array = PointerGetDatum(arr);
	cat_list = list.data;
	MemoryContextSwitchTo(old);
	SPI_freetuptable(SPI_tuptable);
	cat_valid = (generation == cat_generation);
}

static bool
cat_known(text *category)
{
	int			len = VARSIZE_ANY_EXHDR(category);

	for (int i = 0; i < cat_count; i++)
		if (VARSIZE_ANY_EXHDR(cat_names[i]) == len &&
			memcmp(VARDATA_ANY(cat_names[i]), VARDATA_ANY(category), len) == 0)
			return true;
	return false;
}

static bool
text_is(text *t, const char *s)
{
	int			len = strlen(s);

	return VARSIZE_ANY_EXHDR(t) == len && memcmp(VARDATA_ANY(t), s, len) == 0;
}

/* The text of one query. */
static char *
sq_text(SearchQuery q)
{
	bool		distance_sort = q <= SQ_DISTANCE_CITY_RADIUS;
	bool		city = (q == SQ_DISTANCE_CITY || q == SQ_DISTANCE_CITY_RADIUS ||
						q == SQ_RATING_CITY || q == SQ_RATING_CITY_POINT);
	bool		point = (q != SQ_RATING_CITY && q != SQ_RATING);
	StringInfoData s;

	initStringInfo(&s);
	appendStringInfoString(&s,
						   "SELECT a.id, a.title, a.category, a.city, a.price_per_person, a.currency,"
						   " a.duration_minutes, a.average_rating, a.review_count, a.latitude, a.longitude, ");
	appendStringInfoString(&s, point
						   ? "ST_Distance(a.geog, (SELECT steppergo.geog_point($3, $4))), "
						   : "NULL::double precision, ");
	appendStringInfoString(&s,
						   "(SELECT p.url FROM steppergo.activity_photos p WHERE p.activity_id = a.id AND p.is_cover)"
						   " FROM steppergo.activities a"
						   " WHERE a.status = 'ACTIVE' AND a.category = ANY ($2)");
	if (city)
		appendStringInfoString(&s, " AND a.city = $1");
	if (distance_sort)
	{
		appendStringInfoString(&s, " AND a.geog IS NOT NULL");
		if (q == SQ_DISTANCE_RADIUS || q == SQ_DISTANCE_CITY_RADIUS)
			appendStringInfoString(&s, " AND ST_DWithin(a.geog, (SELECT steppergo.geog_point($3, $4)), $5)");
		appendStringInfoString(&s, " ORDER BY a.geog <-> (SELECT steppergo.geog_point($3, $4))");
	}
	else
	{
		if (point)
			appendStringInfoString(&s, " AND ($5 IS NULL OR ST_DWithin(a.geog, (SELECT steppergo.geog_point($3, $4)), $5))");
		appendStringInfoString(&s, " ORDER BY a.average_rating DESC, a.review_count DESC, a.id");
	}
	appendStringInfoString(&s, " LIMIT $6");
	return s.data;
}

/* The plan of one query, prepared on first use; SPI must be connected. */
static SPIPlanPtr
sq_plan(SearchQuery q, TupleDesc expected)
{
	SPIPlanPtr	plan;
	CachedPlanSource *source;
	TupleDesc	got;

	if (sq_plans[q] != NULL)
		return sq_plans[q];

	plan = SPI_prepare_cursor(sq_text(q), SQ_NPARAMS, (Oid *) sq_param_types,
							  CURSOR_OPT_GENERIC_PLAN);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));

	/* the rows go straight into the result: the columns must be the type's */
	source = (CachedPlanSource *) linitial(SPI_plan_get_plan_sources(plan));
	got = source->resultDesc;
	if (got == NULL || got->natts != expected->natts)
		elog(ERROR, "search query returns %d columns, activity_search_result has %d",
			 got ? got->natts : 0, expected->natts);
	for (int i = 0; i < got->natts; i++)
		if (TupleDescAttr(got, i)->atttypid != TupleDescAttr(expected, i)->atttypid)
			elog(ERROR, "search query column %d has type %u, activity_search_result has %u",
				 i + 1, TupleDescAttr(got, i)->atttypid, TupleDescAttr(expected, i)->atttypid);

	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	sq_plans[q] = plan;
	return plan;
}


/* ---------------------------------------------------------------------------
 * The direct path: best rated in a city, without a point.
 *
 * The SQL plan of this search (bitmap scan of the (city, category) index,
 * top-N sort, then the cover subquery for the rows kept) copies every
 * candidate row into the sort as a minimal tuple of eleven columns before
 * it compares anything, and detoasts average_rating for each comparison.
 * Here the same index is scanned with the same keys under the same
 * snapshot, each visible row is checked (ACTIVE, category among the ones
 * asked for) and compared with the current last of the top max_results
 * on (average_rating DESC, review_count DESC, id); only rows that enter
 * the top are copied.  The cover URL is then read for the rows kept through
 * the unique partial index activity_photos_one_cover, as the subquery
 * does.  Same rows, same order, same columns as the query of sq_text().
 *
 * The path is taken only when the catalog is what it expects (the index
 * exists, is a valid btree on (city, category) with the columns'
 * deterministic collations; the cover index is a btree on activity_id
 * WHERE is_cover), the function's user may SELECT both tables and no row
 * security applies to it; otherwise the prepared query runs instead.
 * ---------------------------------------------------------------------------
 */
typedef struct DirectCatalog
{
	bool		valid;			/* the fields below were filled */
	bool		usable;			/* the direct path may run */
	Oid			act_relid;
	Oid			cc_indexid;		/* activities_city_category_idx */
	Oid			photo_relid;
	Oid			cover_indexid;	/* activity_photos_one_cover */
	RegProcedure city_eq;		/* equality functions of the index columns */
	RegProcedure category_eq;
	Oid			city_coll;
	Oid			category_coll;
	/* attribute numbers in activities */
	AttrNumber	a_id,
				a_title,
				a_category,
				a_status,
				a_city,
				a_latitude,
				a_longitude,
				a_price,
				a_currency,
				a_duration,
				a_rating,
				a_reviews,
				a_max;
	/* and in activity_photos */
	AttrNumber	p_url,
				p_is_cover,
				p_max;
}			DirectCatalog;

static DirectCatalog dc;
static bool dc_callback_registered = false;

static void
dc_invalidate(Datum arg, Oid relid)
{
	if (!dc.valid)
		return;
	if (relid == InvalidOid || relid == dc.act_relid || relid == dc.cc_indexid ||
		relid == dc.photo_relid || relid == dc.cover_indexid)
		dc.valid = false;
}

static AttrNumber
dc_attnum(Oid relid, const char *name, Oid type)
{
	AttrNumber	att = get_attnum(relid, name);

	if (att == InvalidAttrNumber || att < 0 || get_atttype(relid, att) != type)
		return InvalidAttrNumber;
	return att;
}

/* Fills dc from the catalog; dc.usable says whether the direct path may run. */
static void
dc_load(void)
{
	Oid			ns;
	Relation	idx;
	Oid			opfamily;
	Oid			op;
	List	   *pred;
	Oid			typid;
	int32		typmod;
	Oid			city_coll;
	Oid			category_coll;

	if (!dc_callback_registered)
	{
		CacheRegisterRelcacheCallback(dc_invalidate, (Datum) 0);
		dc_callback_registered = true;
	}
	memset(&dc, 0, sizeof(dc));
	dc.valid = true;			/* an invalidation from here on clears it */

	ns = get_namespace_oid("steppergo", true);
	if (!OidIsValid(ns))
		return;
	dc.act_relid = get_relname_relid("activities", ns);
	dc.cc_indexid = get_relname_relid("activities_city_category_idx", ns);
	dc.photo_relid = get_relname_relid("activity_photos", ns);
	dc.cover_indexid = get_relname_relid("activity_photos_one_cover", ns);
	if (!OidIsValid(dc.act_relid) || !OidIsValid(dc.cc_indexid) ||
		!OidIsValid(dc.photo_relid) || !OidIsValid(dc.cover_indexid))
		return;

	dc.a_id = dc_attnum(dc.act_relid, "id", UUIDOID);
	dc.a_title = dc_attnum(dc.act_relid, "title", TEXTOID);
	dc.a_category = dc_attnum(dc.act_relid, "category", TEXTOID);
	dc.a_status = dc_attnum(dc.act_relid, "status", TEXTOID);
	dc.a_city = dc_attnum(dc.act_relid, "city", TEXTOID);
	dc.a_latitude = dc_attnum(dc.act_relid, "latitude", FLOAT8OID);
	dc.a_longitude = dc_attnum(dc.act_relid, "longitude", FLOAT8OID);
	dc.a_price = dc_attnum(dc.act_relid, "price_per_person", INT4OID);
	dc.a_currency = dc_attnum(dc.act_relid, "currency", TEXTOID);
	dc.a_duration = dc_attnum(dc.act_relid, "duration_minutes", INT4OID);
	dc.a_rating = dc_attnum(dc.act_relid, "average_rating", NUMERICOID);
	dc.a_reviews = dc_attnum(dc.act_relid, "review_count", INT4OID);
	dc.p_url = dc_attnum(dc.photo_relid, "url", TEXTOID);
	dc.p_is_cover = dc_attnum(dc.photo_relid, "is_cover", BOOLOID);
	if (!dc.a_id || !dc.a_title || !dc.a_category || !dc.a_status || !dc.a_city ||
		!dc.a_latitude || !dc.a_longitude || !dc.a_price || !dc.a_currency ||
		!dc.a_duration || !dc.a_rating || !dc.a_reviews || !dc.p_url || !dc.p_is_cover)
		return;
	dc.a_max = Max(Max(Max(dc.a_id, dc.a_title), Max(dc.a_category, dc.a_status)),
				   Max(Max(dc.a_city, dc.a_latitude), Max(dc.a_longitude, dc.a_price)));
	dc.a_max = Max(Max(dc.a_max, Max(dc.a_currency, dc.a_duration)), Max(dc.a_rating, dc.a_reviews));
	dc.p_max = Max(dc.p_url, dc.p_is_cover);

	/* activities_city_category_idx: a valid btree on (city, category) */
	get_atttypetypmodcoll(dc.act_relid, dc.a_city, &typid, &typmod, &city_coll);
	get_atttypetypmodcoll(dc.act_relid, dc.a_category, &typid, &typmod, &category_coll);
	/* (try_: a concurrent drop between the name look-up and here) */
	idx = try_relation_open(dc.cc_indexid, AccessShareLock);
	if (idx == NULL)
		return;
	if (idx->rd_rel->relkind != RELKIND_INDEX || idx->rd_rel->relam != BTREE_AM_OID || idx->rd_index->indrelid != dc.act_relid ||
		!idx->rd_index->indisvalid || !idx->rd_index->indisready || !idx->rd_index->indislive ||
		IndexRelationGetNumberOfKeyAttributes(idx) < 2 ||
		idx->rd_index->indkey.values[0] != dc.a_city ||
		idx->rd_index->indkey.values[1] != dc.a_category ||
		RelationGetIndexPredicate(idx) != NIL ||
		idx->rd_opcintype[0] != TEXTOID || idx->rd_opcintype[1] != TEXTOID ||
		idx->rd_indcollation[0] != city_coll || idx->rd_indcollation[1] != category_coll ||
		!OidIsValid(idx->rd_indcollation[0]) || !OidIsValid(idx->rd_indcollation[1]) ||
		!get_collation_isdeterministic(idx->rd_indcollation[0]) ||
		!get_collation_isdeterministic(idx->rd_indcollation[1]))
	{
		relation_close(idx, AccessShareLock);
		return;
	}
	dc.city_coll = idx->rd_indcollation[0];
	dc.category_coll = idx->rd_indcollation[1];
	opfamily = idx->rd_opfamily[0];
	op = get_opfamily_member(opfamily, TEXTOID, TEXTOID, BTEqualStrategyNumber);
	dc.city_eq = OidIsValid(op) ? get_opcode(op) : InvalidOid;
	opfamily = idx->rd_opfamily[1];
	op = get_opfamily_member(opfamily, TEXTOID, TEXTOID, BTEqualStrategyNumber);
	dc.category_eq = OidIsValid(op) ? get_opcode(op) : InvalidOid;
	relation_close(idx, AccessShareLock);
	/* bytewise equality is what the category filter below relies on */
	if (dc.city_eq != F_TEXTEQ || dc.category_eq != F_TEXTEQ)
		return;

	/* activity_photos_one_cover: a valid btree on (activity_id) WHERE is_cover */
	idx = try_relation_open(dc.cover_indexid, AccessShareLock);
	if (idx == NULL)
		return;
	if (idx->rd_rel->relkind != RELKIND_INDEX)
	{
		relation_close(idx, AccessShareLock);
		return;
	}
	pred = RelationGetIndexPredicate(idx);
	if (idx->rd_rel->relam != BTREE_AM_OID || idx->rd_index->indrelid != dc.photo_relid ||
		!idx->rd_index->indisvalid || !idx->rd_index->indisready || !idx->rd_index->indislive ||
		IndexRelationGetNumberOfKeyAttributes(idx) != 1 ||
		idx->rd_index->indkey.values[0] != get_attnum(dc.photo_relid, "activity_id") ||
		idx->rd_opcintype[0] != UUIDOID ||
		list_length(pred) != 1 || !IsA(linitial(pred), Var) ||
		((Var *) linitial(pred))->varattno != dc.p_is_cover)
	{
		relation_close(idx, AccessShareLock);
		return;
	}
	op = get_opfamily_member(idx->rd_opfamily[0], UUIDOID, UUIDOID, BTEqualStrategyNumber);
	relation_close(idx, AccessShareLock);
	if (!OidIsValid(op) || get_opcode(op) != F_UUID_EQ)
		return;

	dc.usable = true;
}

/* One row of the top: the sort keys and a copy of the row. */
typedef struct Candidate
{
	Numeric		rating;			/* detoasted, NULL when null */
	bool		reviews_null;
	int32		reviews;
	pg_uuid_t	id;
	HeapTuple	tuple;
}			Candidate;

/* < 0 when a comes first: average_rating DESC, review_count DESC, id */
static int
candidate_cmp(const Candidate *a, const Candidate *b)
{
	int			c;

	/* DESC puts nulls first */
	if ((a->rating == NULL) != (b->rating == NULL))
		return a->rating == NULL ? -1 : 1;
	if (a->rating != NULL)
	{
		c = DatumGetInt32(DirectFunctionCall2(numeric_cmp, NumericGetDatum(a->rating),
											  NumericGetDatum(b->rating)));
		if (c != 0)
			return -c;
	}
	if (a->reviews_null != b->reviews_null)
		return a->reviews_null ? -1 : 1;
	if (!a->reviews_null && a->reviews != b->reviews)
		return a->reviews > b->reviews ? -1 : 1;
	return memcmp(a->id.data, b->id.data, UUID_LEN);
}

static bool
category_wanted(Datum category, int ncats, text **cats)
{
	text	   *t = (text *) DatumGetPointer(category);
	int			len;

	if (VARATT_IS_EXTENDED(t) && !VARATT_IS_SHORT(t))
		t = pg_detoast_datum_packed(t);
	len = VARSIZE_ANY_EXHDR(t);
	for (int i = 0; i < ncats; i++)
		if (VARSIZE_ANY_EXHDR(cats[i]) == len &&
			memcmp(VARDATA_ANY(cats[i]), VARDATA_ANY(t), len) == 0)
			return true;
	return false;
}

static bool
text_datum_is(Datum d, const char *s)
{
	text	   *t = (text *) DatumGetPointer(d);
	int			len = strlen(s);

	if (VARATT_IS_EXTENDED(t) && !VARATT_IS_SHORT(t))
		t = pg_detoast_datum_packed(t);
	return VARSIZE_ANY_EXHDR(t) == len && memcmp(VARDATA_ANY(t), s, len) == 0;
}

/*
 * Runs the search directly into the tuplestore; false (and nothing done)
 * when the direct path may not run.  category NULL: every category of
 * cat_names.
 */
static bool
direct_search(Datum city, text *category, int32 max_results,
			  Tuplestorestate *store, TupleDesc desc)
{
	Relation	act;
	Relation	cc_idx;
	Relation	photos;
	Relation	cover_idx;
	ScanKeyData keys[2];
	IndexScanDesc scan;
	TupleTableSlot *slot;
	Snapshot	snapshot = GetActiveSnapshot();
	Candidate  *top;
	int			ntop = 0;
	text	   *one_cat[1];
	text	  **cats;
	int			ncats;
	MemoryContext work;
	MemoryContext old;
	Datum	   *av;
	bool	   *an;
	union
	{
		char		data[64];
		int64		align;
	}			rating_buf;

	/*
	 * Lock both tables first: taking the locks processes pending
	 * invalidations, so a relation dropped or changed since dc was filled
	 * shows as !dc.valid here, and no DDL on them or their indexes can run
	 * from now to the end of the transaction.  Fill dc again once if so.
	 */
	for (int attempt = 0;; attempt++)
	{
		if (!dc.valid)
			dc_load();
		if (!dc.usable)
			return false;
		act = try_table_open(dc.act_relid, AccessShareLock);
		photos = act ? try_table_open(dc.photo_relid, AccessShareLock) : NULL;
		if (act != NULL && photos != NULL && dc.valid)
			break;
		if (photos != NULL)
			table_close(photos, AccessShareLock);
		if (act != NULL)
			table_close(act, AccessShareLock);
		if (attempt > 0)
			return false;
		dc.valid = false;
	}
	/* what the executor would check for the query of sq_text() */
	if (pg_class_aclcheck(dc.act_relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK ||
		pg_class_aclcheck(dc.photo_relid, GetUserId(), ACL_SELECT) != ACLCHECK_OK ||
		check_enable_rls(dc.act_relid, InvalidOid, true) == RLS_ENABLED ||
		check_enable_rls(dc.photo_relid, InvalidOid, true) == RLS_ENABLED)
	{
		table_close(photos, AccessShareLock);
		table_close(act, AccessShareLock);
		return false;
	}

	work = AllocSetContextCreate(CurrentMemoryContext, "search_activities direct",
								 ALLOCSET_DEFAULT_SIZES);
	old = MemoryContextSwitchTo(work);

	if (category != NULL)
	{
		one_cat[0] = category;
		cats = one_cat;
		ncats = 1;
	}
	else
	{
		cats = cat_names;
		ncats = cat_count;
	}
	top = palloc(sizeof(Candidate) * (max_results + 1));

	cc_idx = index_open(dc.cc_indexid, AccessShareLock);
	ScanKeyEntryInitialize(&keys[0], 0, 1, BTEqualStrategyNumber, InvalidOid,
						   dc.city_coll, F_TEXTEQ, city);
	if (category != NULL)
		ScanKeyEntryInitialize(&keys[1], 0, 2, BTEqualStrategyNumber, InvalidOid,
							   dc.category_coll, F_TEXTEQ, PointerGetDatum(category));
	slot = table_slot_create(act, NULL);
	scan = index_beginscan(act, cc_idx, snapshot, category != NULL ? 2 : 1, 0);
	index_rescan(scan, keys, category != NULL ? 2 : 1, NULL, 0);

	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		Candidate	c;
		int			pos;

		CHECK_FOR_INTERRUPTS();
		slot_getsomeattrs(slot, dc.a_max);
		/* the query's filters: status = 'ACTIVE' AND category = ANY (cats) */
		if (slot->tts_isnull[dc.a_status - 1] ||
			!text_datum_is(slot->tts_values[dc.a_status - 1], "ACTIVE"))
			continue;
		if (category == NULL &&
			(slot->tts_isnull[dc.a_category - 1] ||
			 !category_wanted(slot->tts_values[dc.a_category - 1], ncats, cats)))
			continue;

		c.reviews_null = slot->tts_isnull[dc.a_reviews - 1];
		c.reviews = c.reviews_null ? 0 : DatumGetInt32(slot->tts_values[dc.a_reviews - 1]);
		memcpy(c.id.data, DatumGetUUIDP(slot->tts_values[dc.a_id - 1])->data, UUID_LEN);
		c.rating = NULL;
		if (!slot->tts_isnull[dc.a_rating - 1])
		{
			struct varlena *r = (struct varlena *) DatumGetPointer(slot->tts_values[dc.a_rating - 1]);

			/*
			 * numeric_cmp wants a 4-byte header: a short inline value is
			 * widened into rating_buf, anything else detoasted (a copy)
			 */
			if (!VARATT_IS_EXTENDED(r))
				c.rating = (Numeric) r;
			else if (VARATT_IS_SHORT(r) && VARSIZE_SHORT(r) - VARHDRSZ_SHORT + VARHDRSZ <= sizeof(rating_buf))
			{
				SET_VARSIZE(rating_buf.data, VARSIZE_SHORT(r) - VARHDRSZ_SHORT + VARHDRSZ);
				memcpy(VARDATA(rating_buf.data), VARDATA_SHORT(r), VARSIZE_SHORT(r) - VARHDRSZ_SHORT);
				c.rating = (Numeric) rating_buf.data;
			}
			else
				c.rating = (Numeric) pg_detoast_datum(r);
		}

		/* not better than the last of a full top: next */
		if (ntop == max_results && candidate_cmp(&c, &top[ntop - 1]) >= 0)
			continue;
		/* into the top, in order; the last falls out when it is full */
		if (c.rating != NULL)
		{
			Numeric		copy = palloc(VARSIZE(c.rating));

			memcpy(copy, c.rating, VARSIZE(c.rating));
			c.rating = copy;
		}
		c.tuple = ExecCopySlotHeapTuple(slot);
		if (ntop == max_results)
		{
			ntop--;
			if (top[ntop].rating != NULL)
				pfree(top[ntop].rating);
			heap_freetuple(top[ntop].tuple);
		}
		pos = ntop;
		while (pos > 0 && candidate_cmp(&c, &top[pos - 1]) < 0)
		{
			top[pos] = top[pos - 1];
			pos--;
		}
		top[pos] = c;
		ntop++;
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(cc_idx, NoLock);

	/* the rows kept, with their cover's URL */
	cover_idx = index_open(dc.cover_indexid, AccessShareLock);
	slot = table_slot_create(photos, NULL);
	scan = index_beginscan(photos, cover_idx, snapshot, 1, 0);
	av = palloc(sizeof(Datum) * RelationGetDescr(act)->natts);
	an = palloc(sizeof(bool) * RelationGetDescr(act)->natts);
	for (int i = 0; i < ntop; i++)
	{
		Datum		values[13];
		bool		nulls[13];
		bool		found = false;

		heap_deform_tuple(top[i].tuple, RelationGetDescr(act), av, an);
		values[0] = av[dc.a_id - 1];
		nulls[0] = an[dc.a_id - 1];
		values[1] = av[dc.a_title - 1];
		nulls[1] = an[dc.a_title - 1];
		values[2] = av[dc.a_category - 1];
		nulls[2] = an[dc.a_category - 1];
		values[3] = av[dc.a_city - 1];
		nulls[3] = an[dc.a_city - 1];
		values[4] = av[dc.a_price - 1];
		nulls[4] = an[dc.a_price - 1];
		values[5] = av[dc.a_currency - 1];
		nulls[5] = an[dc.a_currency - 1];
		values[6] = av[dc.a_duration - 1];
		nulls[6] = an[dc.a_duration - 1];
		values[7] = av[dc.a_rating - 1];
		nulls[7] = an[dc.a_rating - 1];
		values[8] = av[dc.a_reviews - 1];
		nulls[8] = an[dc.a_reviews - 1];
		values[9] = av[dc.a_latitude - 1];
		nulls[9] = an[dc.a_latitude - 1];
		values[10] = av[dc.a_longitude - 1];
		nulls[10] = an[dc.a_longitude - 1];
		values[11] = (Datum) 0;		/* distance_m: no point */
		nulls[11] = true;
		values[12] = (Datum) 0;
		nulls[12] = true;

		/* (SELECT p.url FROM activity_photos p WHERE p.activity_id = a.id AND p.is_cover) */
		ScanKeyEntryInitialize(&keys[0], 0, 1, BTEqualStrategyNumber, InvalidOid,
							   InvalidOid, F_UUID_EQ, UUIDPGetDatum(&top[i].id));
		index_rescan(scan, keys, 1, NULL, 0);
		while (index_getnext_slot(scan, ForwardScanDirection, slot))
		{
			slot_getsomeattrs(slot, dc.p_max);
			if (slot->tts_isnull[dc.p_is_cover - 1] ||
				!DatumGetBool(slot->tts_values[dc.p_is_cover - 1]))
				continue;
			if (found)
				ereport(ERROR,
						(errcode(ERRCODE_CARDINALITY_VIOLATION),
						 errmsg("more than one row returned by a subquery used as an expression")));
			found = true;
			nulls[12] = slot->tts_isnull[dc.p_url - 1];
			if (!nulls[12])
				values[12] = PointerGetDatum(PG_DETOAST_DATUM_COPY(slot->tts_values[dc.p_url - 1]));
		}
		tuplestore_putvalues(store, desc, values, nulls);
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(cover_idx, NoLock);
	table_close(photos, NoLock);
	table_close(act, NoLock);

	MemoryContextSwitchTo(old);
	MemoryContextDelete(work);
	return true;
}

Datum
sg_search_activities(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	bool		has_city = !PG_ARGISNULL(0);
	text	   *category = PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1);
	bool		has_lat = !PG_ARGISNULL(2);
	bool		has_lng = !PG_ARGISNULL(3);
	float8		lat = has_lat ? PG_GETARG_FLOAT8(2) : 0;
	float8		lng = has_lng ? PG_GETARG_FLOAT8(3) : 0;
	bool		has_radius = !PG_ARGISNULL(4);
	int32		radius_m = has_radius ? PG_GETARG_INT32(4) : 0;
	text	   *sort = PG_ARGISNULL(5) ? NULL : PG_GETARG_TEXT_PP(5);
	bool		by_distance;
	int32		max_results;
	SearchQuery q;
	ParamListInfo params;
	Datum		cats;
	DestReceiver *dest;
	SPIExecuteOptions options;
	int			rc;

	/* the same checks, in the same order, as the PL/pgSQL version */
	if (sort == NULL || !(text_is(sort, "rating") || text_is(sort, "distance")))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sort must be rating or distance")));
	by_distance = text_is(sort, "distance");
	if (PG_ARGISNULL(6) || PG_GETARG_INT32(6) < 1 || PG_GETARG_INT32(6) > 100)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_results must be 1..100")));
	max_results = PG_GETARG_INT32(6);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!cat_valid)
		cat_load();
	if (category != NULL && !cat_known(category))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown category"),
				 errdetail("categories: %s", cat_list)));
	/* NaN and infinities fail the comparisons: outside every range */
	if (has_lat != has_lng ||
		(has_lat && !(lat >= -90 && lat <= 90 && lng >= -180 && lng <= 180)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lat and lng must be given together, within -90..90 and -180..180")));
	if (has_radius && (radius_m < 1 || radius_m > 1000000 || !has_lat))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("radius_m must be 1..1000000 metres around lat/lng")));
	if (by_distance && !has_lat)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("lat and lng must not be null when sorting by distance")));

	if (by_distance)
		q = has_city ? (has_radius ? SQ_DISTANCE_CITY_RADIUS : SQ_DISTANCE_CITY)
			: (has_radius ? SQ_DISTANCE_RADIUS : SQ_DISTANCE);
	else if (has_city)
		q = has_lat ? SQ_RATING_CITY_POINT : SQ_RATING_CITY;
	else
		q = has_lat ? SQ_RATING_POINT : SQ_RATING;

	if (category == NULL)
		cats = cat_array;
	else
	{
		Datum		elem = PointerGetDatum(category);

		cats = PointerGetDatum(construct_array(&elem, 1, TEXTOID, -1, false, TYPALIGN_INT));
	}

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);

	if (q == SQ_RATING_CITY &&
		direct_search(PG_GETARG_DATUM(0), category, max_results, rsinfo->setResult, rsinfo->setDesc))
	{
		ereport(DEBUG1, (errmsg_internal("search_activities: direct scan")));
		SPI_finish();
		return (Datum) 0;
	}
	ereport(DEBUG1, (errmsg_internal("search_activities: prepared query %d", (int) q)));

	params = makeParamList(SQ_NPARAMS);
	params->numParams = SQ_NPARAMS;
	for (int i = 0; i < SQ_NPARAMS; i++)
	{
		params->params[i].ptype = sq_param_types[i];
		params->params[i].pflags = PARAM_FLAG_CONST;
		params->params[i].isnull = false;
	}
	params->params[0].value = has_city ? PG_GETARG_DATUM(0) : (Datum) 0;
	params->params[0].isnull = !has_city;
	params->params[1].value = cats;
	params->params[2].value = Float8GetDatum(lat);
	params->params[2].isnull = !has_lat;
	params->params[3].value = Float8GetDatum(lng);
	params->params[3].isnull = !has_lng;
	params->params[4].value = Int32GetDatum(radius_m);
	params->params[4].isnull = !has_radius;
	params->params[5].value = Int32GetDatum(max_results);

	dest = CreateDestReceiver(DestTuplestore);
	SetTuplestoreDestReceiverParams(dest, rsinfo->setResult,
									rsinfo->econtext->ecxt_per_query_memory,
									false, NULL, NULL);
	memset(&options, 0, sizeof(options));
	options.params = params;
	options.read_only = true;
	options.dest = dest;
	rc = SPI_execute_plan_extended(sq_plan(q, rsinfo->setDesc), &options);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "search query failed: %s", SPI_result_code_string(rc));
	dest->rDestroy(dest);
	SPI_finish();

	return (Datum) 0;
}
