/*-------------------------------------------------------------------------
 *
 * find.c
 *	  find_drivers: the eligible drivers nearest a trip's pickup point,
 *	  ranked by the dispatch score, found nearest-first through a GiST
 *	  index of driver_locations with an early stop.
 *
 * The search reads indexes and tables directly (no executor, no SPI, on the
 * common path):
 *
 * 1. The trip, by primary key, and the drivers who declined it or let its
 *	  offer time out (trip_acceptance_logs_trip_idx).  Only a caller who is
 *	  not trusted costs an SPI call (dispatch_assert_dispatcher).
 * 2. A KNN scan of driver_locations_dispatch_idx, the built-in point GiST
 *	  on (longitude, latitude) of the drivers who are APPROVED and ONLINE (for
 *	  a trip of more than 4 seats, driver_locations_dispatch_large_idx: only
 *	  those whose vehicle seats more than 4),
 *	  restricted to the box that holds every point within the radius, streams
 *	  positions in order of their distance in degrees.  That order is not the
 *	  WGS84 order, but it bounds it: along any path, ds^2 = M^2 dphi^2 +
 *	  N^2 cos^2(phi) dlambda^2 >= k^2 (dphi^2 + dlambda^2) with
 *	  k = min(M_min, N_min cos(phi_far)), where phi_far is the latitude
 *	  farthest from the equator that a path of at most radius_m can reach.
 *	  So every later candidate is at least k * (its degree distance, in
 *	  radians) away, and the scan stops as soon as that bound passes the
 *	  radius or the worst effective distance kept.  When the radius reaches
 *	  a pole (phi_far >= 89.5 degrees) or the antimeridian, where degree
 *	  distances bound nothing, the scan walks the geography index instead
 *	  (sphere distances, 0.99 x as the bound).
 * 3. Each candidate is decided from its position row, which carries the
 *	  driver's dispatch state (driver_locations.dispatch_*, kept by the
 *	  triggers of dispatch's update-0.3.sql): approval and availability,
 *	  trip types, the active vehicle's capacity, rating and acceptance rate,
 *	  and the number of schedules and trips that can make the driver
 *	  unavailable.  The exact WGS84 distance (Vincenty, geodesic.c) is
 *	  computed only for candidates that pass.  Drivers with such holds are
 *	  kept as maybes and decided at the end, each by three index probes
 *	  (schedules, assigned trips, open offers); the stop rule counts only
 *	  the drivers known to be eligible, so no maybe can hide a better
 *	  candidate.
 * 4. One cached SPI plan refreshes trip_driver_visibility.shown_at for the
 *	  drivers returned (an upsert the first time a pair is shown).
 *
 * The rules are those of dispatch_exclusion() (dispatch.sql), which
 * explain_dispatch reports; test/bench/25_dispatch/check.sql and the
 * regression suite compare the two.
 *
 *-------------------------------------------------------------------------
 */
#include "dispatch.h"

#include <math.h>

#include "access/genam.h"
#include "access/relation.h"
#include "access/relscan.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "catalog/pg_amop.h"
#include "catalog/pg_enum.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/catcache.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/float.h"
#include "utils/geo_decls.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/uuid.h"

/* sphere distance never exceeds the WGS84 distance by more than 0.6 % */
#define SPHERE_LOWER_BOUND 0.99
#define MAX_RESULTS_LIMIT 1000

/* WGS84: the smallest meridional and prime-vertical radii of curvature */
#define WGS84_M_MIN 6335439.327083		/* a (1 - e^2), at the equator */
#define WGS84_N_MIN 6378137.0			/* a, at the equator */
/* rounding headroom of the planar bound (the bound itself is exact) */
#define PLANAR_SAFETY 0.999
#define DEG2RAD (M_PI / 180.0)
/* beyond these the degree distance is no usable bound: geography index */
#define PLANAR_MAX_LAT 89.5
#define PLANAR_MAX_LNG 179.5
/* driver_locations_dispatch_large_idx holds vehicles seating more than this */
#define LARGE_SEATS 4
/* the first box of a search holds the points within this many metres */
#define FIRST_REACH 500.0
#define REACH_GROWTH 4.0

typedef struct Candidate
{
	pg_uuid_t	id;
	double		distance;
	double		effective;
} Candidate;

/* ------------------------------------------------------------------------
 * Catalog lookups, cached per backend and dropped on any relcache
 * invalidation of the relations involved (DDL, DROP/CREATE EXTENSION).
 * ------------------------------------------------------------------------
 */
typedef struct IndexOp
{
	StrategyNumber strategy;
	Oid			subtype;
	RegProcedure proc;
} IndexOp;

/* a relation and the attribute numbers of the columns read from it */
#define MAX_COLS 16
typedef struct RelInfo
{
	Oid			relid;
	AttrNumber	att[MAX_COLS];
	AttrNumber	max_att;
} RelInfo;

/* driver_locations columns */
enum
{
	L_DRIVER_ID, L_LATITUDE, L_LONGITUDE, L_IS_ACTIVE, L_LAST_UPDATED, L_READY,
	L_PRIVATE, L_SHARED, L_SEATS, L_HOLDS, L_RATING, L_REVIEWS, L_ACCEPTANCE
};
static const char *const loc_cols[] = {
	"driver_id", "latitude", "longitude", "is_active", "last_updated", "dispatch_ready",
	"dispatch_accepts_private", "dispatch_accepts_shared", "dispatch_seats", "dispatch_holds",
	"dispatch_rating", "dispatch_review_count", "dispatch_acceptance_rate", NULL
};

/* trips columns */
enum
{
	T_ID, T_ORIGIN_LAT, T_ORIGIN_LNG, T_ORIGIN_GEOG, T_TRIP_TYPE, T_TOTAL_SEATS,
	T_DEPARTURE, T_RETURN, T_RADIUS, T_TIMEZONE, T_ORGANIZER, T_STATUS
};
static const char *const trip_cols[] = {
	"id", "origin_lat", "origin_lng", "origin_geog", "trip_type", "total_seats",
	"departure_time", "return_time", "driver_discovery_radius", "timezone", "organizer_id",
	"status", NULL
};

/* trip_acceptance_logs columns */
enum
{
	A_DRIVER_ID, A_ACTION
};
static const char *const log_cols[] = {"driver_id", "action", NULL};

/* driver_availability_schedules columns */
enum
{
	S_START, S_END, S_PATTERN, S_ACTIVE
};
static const char *const schedule_cols[] = {"start_time", "end_time", "recurring_pattern", "is_active", NULL};

typedef struct DispatchCatalog
{
	bool		valid;
	RelInfo		loc;
	RelInfo		trips;
	RelInfo		logs;
	RelInfo		schedules;
	Oid			pos_index;		/* driver_locations_dispatch_idx */
	Oid			large_index;	/* ... of drivers seating more than LARGE_SEATS */
	Oid			geog_index;		/* driver_locations_geog_idx */
	Oid			trips_pkey;
	Oid			logs_trip_index;	/* trip_acceptance_logs (trip_id, driver_id) */
	Oid			schedules_index;	/* active schedules by driver */
	Oid			assigned_index;	/* trips (driver_id, departure_time), not over */
	Oid			offered_index;	/* trips (offered_to_driver_id) */
	IndexOp		pos_order;		/* point <-> point */
	IndexOp		pos_within;		/* point <@ box */
	IndexOp		geog_order;		/* geography <-> geography */
	IndexOp		geog_overlap;	/* geography && geography */
	Oid			private_type;	/* trip_type 'PRIVATE' */
	Oid			declined;		/* trip_acceptance_action 'DECLINED' */
	Oid			timed_out;		/* trip_acceptance_action 'TIMEOUT' */
	Oid			completed;		/* trip_status 'COMPLETED' */
	Oid			cancelled;		/* trip_status 'CANCELLED' */
	Oid			covers_fn;		/* dispatch_schedule_covers(...) */
} DispatchCatalog;

static DispatchCatalog cat;
static uint64 cat_generation = 0;	/* invalidations of the catalog seen */
static bool cat_callback = false;

static void
catalog_invalidate(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == cat.loc.relid || relid == cat.trips.relid ||
		relid == cat.logs.relid || relid == cat.schedules.relid ||
		relid == cat.pos_index || relid == cat.large_index ||
		relid == cat.geog_index || relid == cat.trips_pkey ||
		relid == cat.logs_trip_index || relid == cat.schedules_index ||
		relid == cat.assigned_index || relid == cat.offered_index)
	{
		cat.valid = false;
		cat_generation++;
	}
}

static Oid
lookup_rel(Oid nsp, const char *name)
{
	Oid			relid = get_relname_relid(name, nsp);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("relation steppergo.%s is missing", name),
				 errdetail("find_drivers reads it directly; it was dropped or renamed outside the extension's scripts"),
				 errhint("recreate it as the extension's install script defines it")));
	return relid;
}

static void
lookup_relinfo(Oid nsp, const char *name, const char *const *cols, RelInfo *info)
{
	int			i;

	info->relid = lookup_rel(nsp, name);
	info->max_att = 0;
	for (i = 0; cols[i] != NULL; i++)
	{
		if (i >= MAX_COLS)
			elog(ERROR, "too many columns of steppergo.%s", name);
		info->att[i] = get_attnum(info->relid, cols[i]);
		if (info->att[i] == InvalidAttrNumber)
			elog(ERROR, "column %s of steppergo.%s is missing", cols[i], name);
		info->max_att = Max(info->max_att, info->att[i]);
	}
}

static Oid
lookup_label(Oid nsp, const char *type, const char *label)
{
	Oid			typid = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
										CStringGetDatum(type), ObjectIdGetDatum(nsp));
	HeapTuple	tup;
	Oid			result;

	if (!OidIsValid(typid))
		elog(ERROR, "type steppergo.%s is missing", type);
	tup = SearchSysCache2(ENUMTYPOIDNAME, ObjectIdGetDatum(typid), CStringGetDatum(label));
	if (!HeapTupleIsValid(tup))
		elog(ERROR, "label %s of type steppergo.%s is missing", label, type);
	result = ((Form_pg_enum) GETSTRUCT(tup))->oid;
	ReleaseSysCache(tup);
	return result;
}

/*
 * An operator of the first column's operator family of an index: the
 * operator of the given purpose (AMOP_ORDER: ordering, AMOP_SEARCH: search)
 * and strategy (InvalidStrategy: the only one of that purpose and types),
 * with right-hand type righttype (InvalidOid: the column's type).
 */
static IndexOp
lookup_index_op(Oid indexoid, char purpose, StrategyNumber strategy, Oid righttype)
{
	Relation	idx = index_open(indexoid, AccessShareLock);
	Oid			family = idx->rd_opfamily[0];
	Oid			type = idx->rd_opcintype[0];
	CatCList   *list;
	IndexOp		op = {InvalidStrategy, InvalidOid, InvalidOid};
	int			i;

	index_close(idx, AccessShareLock);
	list = SearchSysCacheList3(AMOPSTRATEGY, ObjectIdGetDatum(family), ObjectIdGetDatum(type),
							   ObjectIdGetDatum(OidIsValid(righttype) ? righttype : type));
	for (i = 0; i < list->n_members; i++)
	{
		Form_pg_amop amop = (Form_pg_amop) GETSTRUCT(&list->members[i]->tuple);

		if (amop->amoppurpose == purpose &&
			(strategy == InvalidStrategy || amop->amopstrategy == strategy))
		{
			op.strategy = amop->amopstrategy;
			op.subtype = amop->amoprighttype;
			op.proc = get_opcode(amop->amopopr);
			break;
		}
	}
	ReleaseSysCacheList(list);
	if (op.strategy == InvalidStrategy)
		elog(ERROR, "index %u has no operator for strategy %d", indexoid, strategy);
	return op;
}

/*
 * Locks the four tables a search reads (see src/core/relcache.c); false when
 * the catalog changed meanwhile.
 */
static bool
lock_tables(void)
{
	Oid			tables[4];

	tables[0] = cat.loc.relid;
	tables[1] = cat.trips.relid;
	tables[2] = cat.logs.relid;
	tables[3] = cat.schedules.relid;
	return sg_lock_cached_relations(tables, 4, &cat_generation);
}

static void
load_catalog(void)
{
	Oid			nsp;
	Oid			covers_args[5] = {TIMESTAMPTZOID, TIMESTAMPTZOID, JSONBOID, TIMESTAMPTZOID, TEXTOID};
	uint64		generation;

	if (cat.valid)
		return;
	if (!cat_callback)
	{
		CacheRegisterRelcacheCallback(catalog_invalidate, (Datum) 0);
		cat_callback = true;
	}
	memset(&cat, 0, sizeof(cat));
	/* an invalidation while reading (the locks and index opens below) */
	generation = cat_generation;
	nsp = get_namespace_oid("steppergo", false);
	lookup_relinfo(nsp, "driver_locations", loc_cols, &cat.loc);
	lookup_relinfo(nsp, "trips", trip_cols, &cat.trips);
	lookup_relinfo(nsp, "trip_acceptance_logs", log_cols, &cat.logs);
	lookup_relinfo(nsp, "driver_availability_schedules", schedule_cols, &cat.schedules);
	/* the tables first: then no index of theirs can go while it is read */
	(void) lock_tables();
	cat.pos_index = lookup_rel(nsp, "driver_locations_dispatch_idx");
	cat.large_index = lookup_rel(nsp, "driver_locations_dispatch_large_idx");
	cat.geog_index = lookup_rel(nsp, "driver_locations_geog_idx");
	cat.trips_pkey = lookup_rel(nsp, "trips_pkey");
	cat.logs_trip_index = lookup_rel(nsp, "trip_acceptance_logs_trip_idx");
	cat.schedules_index = lookup_rel(nsp, "driver_availability_schedules_driver_idx");
	cat.assigned_index = lookup_rel(nsp, "trips_dispatch_assigned_idx");
	cat.offered_index = lookup_rel(nsp, "trips_offered_to_idx");
	cat.pos_order = lookup_index_op(cat.pos_index, AMOP_ORDER, InvalidStrategy, InvalidOid);
	cat.pos_within = lookup_index_op(cat.pos_index, AMOP_SEARCH, InvalidStrategy, BOXOID);
	cat.geog_order = lookup_index_op(cat.geog_index, AMOP_ORDER, InvalidStrategy, InvalidOid);
	cat.geog_overlap = lookup_index_op(cat.geog_index, AMOP_SEARCH, RTOverlapStrategyNumber, InvalidOid);
	cat.private_type = lookup_label(nsp, "trip_type", "PRIVATE");
	cat.declined = lookup_label(nsp, "trip_acceptance_action", "DECLINED");
	cat.timed_out = lookup_label(nsp, "trip_acceptance_action", "TIMEOUT");
	cat.completed = lookup_label(nsp, "trip_status", "COMPLETED");
	cat.cancelled = lookup_label(nsp, "trip_status", "CANCELLED");
	cat.covers_fn = LookupFuncName(list_make2(makeString("steppergo"),
											  makeString("dispatch_schedule_covers")),
								   5, covers_args, false);
	cat.valid = (generation == cat_generation);
}

/*
 * Makes the catalog current and locks the four tables a search reads until
 * the end of the transaction, so that nothing it names can be dropped or
 * rebuilt under the call; when the locks waited for such a change, the
 * catalog is read again, now under the locks.
 */
static void
open_catalog(void)
{
	int			tries;

	for (tries = 0;; tries++)
	{
		load_catalog();
		if (lock_tables() && cat.valid)
			return;
		if (tries >= 10)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("dispatch tables keep changing"),
					 errdetail("the catalog changed %d times while find_drivers read it", tries + 1)));
	}
}

/* ------------------------------------------------------------------------
 * Direct reads
 * ------------------------------------------------------------------------
 */

/* an index scan on one uuid equality key (and optionally a second key) */
typedef struct Probe
{
	Relation	heap;
	Relation	index;
	IndexScanDesc scan;
	TupleTableSlot *slot;
} Probe;

/*
 * Opens an index of the catalog; its table is locked (open_catalog), so only
 * the last step of a DROP INDEX CONCURRENTLY can still remove it, and an
 * index a failed CREATE/REINDEX CONCURRENTLY left invalid is refused rather
 * than read (it may miss rows).
 */
static Relation
open_index(Oid indexid)
{
	Relation	idx = try_relation_open(indexid, AccessShareLock);

	if (idx == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("an index find_drivers reads was dropped while it ran")));
	if (idx->rd_rel->relkind != RELKIND_INDEX || !idx->rd_index->indisvalid ||
		!idx->rd_index->indisready || !idx->rd_index->indislive)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("index steppergo.%s is not valid", RelationGetRelationName(idx)),
				 errdetail("find_drivers reads it directly; a CREATE INDEX CONCURRENTLY or REINDEX CONCURRENTLY failed or is still running"),
				 errhint("REINDEX INDEX steppergo.%s", RelationGetRelationName(idx))));
	return idx;
}

static void
probe_open(Probe *p, Oid heapid, Oid indexid, int nkeys)
{
	p->heap = table_open(heapid, AccessShareLock);
	p->index = open_index(indexid);
	p->scan = index_beginscan(p->heap, p->index, GetActiveSnapshot(), nkeys, 0);
	p->slot = table_slot_create(p->heap, NULL);
}

static void
probe_close(Probe *p)
{
	ExecDropSingleTupleTableSlot(p->slot);
	index_endscan(p->scan);
	index_close(p->index, AccessShareLock);
	table_close(p->heap, AccessShareLock);
}

/* starts a probe: uuid key = id (and, when key2 is given, that key too) */
static void
probe_start(Probe *p, const pg_uuid_t *id, ScanKey key2)
{
	ScanKeyData keys[2];

	ScanKeyInit(&keys[0], 1, BTEqualStrategyNumber, F_UUID_EQ, UUIDPGetDatum(id));
	if (key2)
		keys[1] = *key2;
	index_rescan(p->scan, keys, key2 ? 2 : 1, NULL, 0);
}

static bool
probe_next(Probe *p, const RelInfo *info)
{
	if (!index_getnext_slot(p->scan, ForwardScanDirection, p->slot))
		return false;
	slot_getsomeattrs(p->slot, info->max_att);
	return true;
}

#define COL(p, info, c)		((p)->slot->tts_values[(info)->att[c] - 1])
#define COLNULL(p, info, c) ((p)->slot->tts_isnull[(info)->att[c] - 1])

/* ------------------------------------------------------------------------
 * The search
 * ------------------------------------------------------------------------
 */

/* what the search needs to know of the trip */
typedef struct TripInfo
{
	pg_uuid_t	id;
	pg_uuid_t	organizer;
	double		lat;
	double		lng;
	Datum		geog;
	bool		is_private;
	int32		seats;
	TimestampTz departure;
	TimestampTz window_end;		/* return (or departure) + trip window */
	Interval	window;
	int32		radius;
	Datum		tz;
	pg_uuid_t  *declined;		/* sorted */
	int			ndeclined;
} TripInfo;

/* the best max_results, sorted by effective distance, distance, id */
typedef struct Best
{
	Candidate  *items;
	int			n;
	int			max;
} Best;

static int
candidate_cmp(const Candidate *a, const Candidate *b)
{
	if (a->effective != b->effective)
		return a->effective < b->effective ? -1 : 1;
	if (a->distance != b->distance)
		return a->distance < b->distance ? -1 : 1;
	return memcmp(a->id.data, b->id.data, UUID_LEN);
}

static void
best_add(Best *best, const Candidate *c)
{
	int			pos = best->n;

	while (pos > 0 && candidate_cmp(c, &best->items[pos - 1]) < 0)
		pos--;
	if (pos >= best->max)
		return;
	if (best->n == best->max)
		best->n--;
	memmove(&best->items[pos + 1], &best->items[pos], (best->n - pos) * sizeof(Candidate));
	best->items[pos] = *c;
	best->n++;
}

/* the effective distance a candidate must not exceed to enter the result */
static double
best_worst(const Best *best)
{
	return best->n < best->max ? get_float8_infinity() : best->items[best->n - 1].effective;
}

static bool
declined(const TripInfo *trip, const pg_uuid_t *id)
{
	int			lo = 0,
				hi = trip->ndeclined - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;
		int			c = memcmp(id->data, trip->declined[mid].data, UUID_LEN);

		if (c == 0)
			return true;
		if (c < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return false;
}

static int
uuid_cmp_qsort(const void *a, const void *b)
{
	return memcmp(((const pg_uuid_t *) a)->data, ((const pg_uuid_t *) b)->data, UUID_LEN);
}

/*
 * Reads the trip into *trip (PT404 when unknown; the caller check when
 * asked), and the drivers who declined it or timed out on it.
 */
static void
read_trip(const pg_uuid_t *trip_id, bool has_radius, int32 radius_arg,
		  bool check_caller, TripInfo *trip)
{
	Probe		p;
	const RelInfo *t = &cat.trips;
	const RelInfo *a = &cat.logs;
	int			max = 4;

	probe_open(&p, t->relid, cat.trips_pkey, 1);
	probe_start(&p, trip_id, NULL);
	if (!probe_next(&p, t))
		ereport(ERROR,
				(errcode(ERRCODE_SG_NOT_FOUND),
				 errmsg("trip not found"),
				 errdetail("no trip with id %s",
						   DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(trip_id))))));
	trip->id = *trip_id;
	trip->organizer = *DatumGetUUIDP(COL(&p, t, T_ORGANIZER));
	trip->lat = DatumGetFloat8(COL(&p, t, T_ORIGIN_LAT));
	trip->lng = DatumGetFloat8(COL(&p, t, T_ORIGIN_LNG));
	trip->geog = datumCopy(COL(&p, t, T_ORIGIN_GEOG), false, -1);
	trip->is_private = DatumGetObjectId(COL(&p, t, T_TRIP_TYPE)) == cat.private_type;
	trip->seats = DatumGetInt32(COL(&p, t, T_TOTAL_SEATS));
	trip->departure = DatumGetTimestampTz(COL(&p, t, T_DEPARTURE));
	memset(&trip->window, 0, sizeof(Interval));
	trip->window.time = (int64) sg_dispatch_trip_window * USECS_PER_MINUTE;
	trip->window_end = (COLNULL(&p, t, T_RETURN) ? trip->departure :
						DatumGetTimestampTz(COL(&p, t, T_RETURN))) + trip->window.time;
	trip->radius = has_radius ? radius_arg : DatumGetInt32(COL(&p, t, T_RADIUS));
	trip->tz = datumCopy(COL(&p, t, T_TIMEZONE), false, -1);
	probe_close(&p);

	/* declines and timeouts: a handful of log rows per trip */
	trip->ndeclined = 0;
	trip->declined = (pg_uuid_t *) palloc(max * sizeof(pg_uuid_t));
	probe_open(&p, a->relid, cat.logs_trip_index, 1);
	probe_start(&p, trip_id, NULL);
	while (probe_next(&p, a))
	{
		Oid			action = DatumGetObjectId(COL(&p, a, A_ACTION));

		if (action != cat.declined && action != cat.timed_out)
			continue;
		if (trip->ndeclined == max)
		{
			max *= 2;
			trip->declined = (pg_uuid_t *) repalloc(trip->declined, max * sizeof(pg_uuid_t));
		}
		trip->declined[trip->ndeclined++] = *DatumGetUUIDP(COL(&p, a, A_DRIVER_ID));
	}
	probe_close(&p);
	qsort(trip->declined, trip->ndeclined, sizeof(pg_uuid_t), uuid_cmp_qsort);

	if (check_caller)
	{
		static SPIPlanPtr plan = NULL;
		Oid			types[1] = {UUIDOID};
		Datum		values[1];

		values[0] = UUIDPGetDatum(&trip->organizer);
		if (plan == NULL)
		{
			plan = SPI_prepare("SELECT steppergo.dispatch_assert_dispatcher($1)", 1, types);
			if (plan == NULL || SPI_keepplan(plan) != 0)
				elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		}
		if (SPI_execute_plan(plan, values, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "caller check failed");
	}
}

/*
 * dispatch_schedule_covers(start_time, end_time, recurring_pattern,
 * departure, trip timezone) for the schedule row in sched (the pattern is
 * NULL for a one-off period, so this is a full call with null flags).
 */
static bool
schedule_covers(Probe *sched, const TripInfo *trip)
{
	const RelInfo *s = &cat.schedules;
	static FmgrInfo flinfo;
	static Oid	flinfo_fn = InvalidOid;
	LOCAL_FCINFO(fcinfo, 5);
	Datum		result;

	if (flinfo_fn != cat.covers_fn)
	{
		fmgr_info_cxt(cat.covers_fn, &flinfo, TopMemoryContext);
		flinfo_fn = cat.covers_fn;
	}
	InitFunctionCallInfoData(*fcinfo, &flinfo, 5, InvalidOid, NULL, NULL);
	fcinfo->args[0].value = COL(sched, s, S_START);
	fcinfo->args[0].isnull = false;
	fcinfo->args[1].value = COL(sched, s, S_END);
	fcinfo->args[1].isnull = false;
	fcinfo->args[2].value = COL(sched, s, S_PATTERN);
	fcinfo->args[2].isnull = COLNULL(sched, s, S_PATTERN);
	fcinfo->args[3].value = TimestampTzGetDatum(trip->departure);
	fcinfo->args[3].isnull = false;
	fcinfo->args[4].value = trip->tz;
	fcinfo->args[4].isnull = false;
	result = FunctionCallInvoke(fcinfo);
	return !fcinfo->isnull && DatumGetBool(result);
}

/*
 * The rules that driver_locations.dispatch_holds stands for, in
 * dispatch_exclusion's order (declines are decided from the trip's list):
 * keep them in step.  True when the driver is free for the trip.
 */
static bool
free_for_trip(const TripInfo *trip, const pg_uuid_t *driver, Probe *sched, Probe *assigned,
			  Probe *offered)
{
	const RelInfo *s = &cat.schedules;
	const RelInfo *t = &cat.trips;
	ScanKeyData before;

	/* unavailable_at_departure */
	probe_start(sched, driver, NULL);
	while (probe_next(sched, s))
	{
		if (!DatumGetBool(COL(sched, s, S_ACTIVE)) ||
			DatumGetTimestampTz(COL(sched, s, S_START)) > trip->departure)
			continue;
		if (schedule_covers(sched, trip))
			return false;
	}

	/* assigned_overlapping_trip: departing before this trip's window ends */
	ScanKeyInit(&before, 2, BTLessStrategyNumber, F_TIMESTAMPTZ_LT,
				TimestampTzGetDatum(trip->window_end));
	probe_start(assigned, driver, &before);
	while (probe_next(assigned, t))
	{
		Oid			status = DatumGetObjectId(COL(assigned, t, T_STATUS));
		TimestampTz end;

		if (memcmp(DatumGetUUIDP(COL(assigned, t, T_ID))->data, trip->id.data, UUID_LEN) == 0 ||
			status == cat.completed || status == cat.cancelled)
			continue;
		end = (COLNULL(assigned, t, T_RETURN) ? DatumGetTimestampTz(COL(assigned, t, T_DEPARTURE)) :
			   DatumGetTimestampTz(COL(assigned, t, T_RETURN))) + trip->window.time;
		if (end > trip->departure)
			return false;
	}

	/* open_offer_on_other_trip */
	probe_start(offered, driver, NULL);
	while (probe_next(offered, t))
		if (memcmp(DatumGetUUIDP(COL(offered, t, T_ID))->data, trip->id.data, UUID_LEN) != 0)
			return false;
	return true;
}

/* decides the maybes that could still enter and adds the free ones to best */
static void
settle_maybes(const TripInfo *trip, Candidate *maybes, int nmaybes, Best *best)
{
	Probe		sched,
				assigned,
				offered;
	int			i;

	probe_open(&sched, cat.schedules.relid, cat.schedules_index, 1);
	probe_open(&assigned, cat.trips.relid, cat.assigned_index, 2);
	probe_open(&offered, cat.trips.relid, cat.offered_index, 1);
	for (i = 0; i < nmaybes; i++)
	{
		CHECK_FOR_INTERRUPTS();
		if (maybes[i].effective <= best_worst(best) &&
			free_for_trip(trip, &maybes[i].id, &sched, &assigned, &offered))
			best_add(best, &maybes[i]);
	}
	probe_close(&offered);
	probe_close(&assigned);
	probe_close(&sched);
}

/*
 * Where the degree distance of the point index bounds the WGS84 distance
 * for this origin and radius: the factor k (metres per radian of degree
 * distance), or 0 when the geography index must be used.  *box is then the
 * degree box that holds every point within the radius (a path of length r
 * changes latitude by at most r / M_min and longitude by at most
 * r / (N_min cos(phi_far))).
 */
static double
planar_bound_factor(double lat, double lng, int32 radius, BOX *box)
{
	double		phi_far = fabs(lat) * DEG2RAD + radius / WGS84_M_MIN;
	double		k,
				dlat,
				dlng;

	if (phi_far >= PLANAR_MAX_LAT * DEG2RAD)
		return 0.0;
	k = Min(WGS84_M_MIN, WGS84_N_MIN * cos(phi_far)) * PLANAR_SAFETY;
	dlat = radius / (WGS84_M_MIN * PLANAR_SAFETY) / DEG2RAD;
	dlng = radius / (WGS84_N_MIN * cos(phi_far) * PLANAR_SAFETY) / DEG2RAD;
	if (fabs(lng) + dlng >= PLANAR_MAX_LNG)
		return 0.0;
	box->low.x = lng - dlng;
	box->high.x = lng + dlng;
	box->low.y = lat - dlat;
	box->high.y = lat + dlat;
	return k;
}

/* the index the search walks for an origin, a radius and a seat count */
static Oid
search_index(double lat, double lng, int32 radius, int32 seats, double *k, BOX *box)
{
	*k = planar_bound_factor(lat, lng, radius, box);
	if (*k <= 0.0)
		return cat.geog_index;
	return seats > LARGE_SEATS ? cat.large_index : cat.pos_index;
}


/* the geography expanded by the radius (and 1 %), for the fallback scan */
static Datum
expanded_geography(Datum geog, int32 radius)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[2] = {InvalidOid, FLOAT8OID};
	Datum		values[2];
	bool		isnull;
	Datum		result;

	types[0] = TypenameGetTypid("geography");
	if (plan == NULL)
	{
		plan = SPI_prepare("SELECT _ST_Expand($1, $2)", 2, types);
		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	}
	values[0] = geog;
	values[1] = Float8GetDatum(radius * 1.01 + 10.0);
	if (SPI_execute_plan(plan, values, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "_ST_Expand failed");
	result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return datumCopy(result, false, -1);
}

/*
 * Visibility: the common case (the drivers were shown this trip before) is
 * a plain update through the unique index; the first time for a pair is an
 * upsert (two searches of one trip may race to insert it).  Both take the
 * rows in driver-id order, so concurrent searches of a trip never deadlock.
 */
static void
record_visibility(const TripInfo *trip, const Best *best)
{
	static SPIPlanPtr again_plan = NULL;
	static SPIPlanPtr first_plan = NULL;
	Oid			types[2] = {UUIDOID, UUIDARRAYOID};
	Datum	   *ids = (Datum *) palloc(best->n * sizeof(Datum));
	Datum		values[2];
	pg_uuid_t  *sorted = (pg_uuid_t *) palloc(best->n * sizeof(pg_uuid_t));
	int			i;

	for (i = 0; i < best->n; i++)
		sorted[i] = best->items[i].id;
	qsort(sorted, best->n, sizeof(pg_uuid_t), uuid_cmp_qsort);
	for (i = 0; i < best->n; i++)
		ids[i] = UUIDPGetDatum(&sorted[i]);
	values[0] = UUIDPGetDatum(&trip->id);
	values[1] = PointerGetDatum(construct_array(ids, best->n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	if (again_plan == NULL)
	{
		/* simple lookups: one generic plan, never re-planned per call */
		again_plan = SPI_prepare_cursor("UPDATE steppergo.trip_driver_visibility v SET shown_at = now()"
										" WHERE v.trip_id = $1 AND v.driver_id = ANY ($2)",
										2, types, CURSOR_OPT_GENERIC_PLAN);
		if (again_plan == NULL || SPI_keepplan(again_plan) != 0)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	}
	if (SPI_execute_plan(again_plan, values, NULL, false, 0) != SPI_OK_UPDATE)
		elog(ERROR, "recording trip_driver_visibility failed");
	if (SPI_processed == (uint64) best->n)
		return;
	if (first_plan == NULL)
	{
		first_plan = SPI_prepare_cursor("INSERT INTO steppergo.trip_driver_visibility AS v (trip_id, driver_id, shown_at)"
										" SELECT $1, x, now() FROM unnest($2::uuid[]) AS x ORDER BY x"
										" ON CONFLICT (trip_id, driver_id) DO UPDATE SET shown_at = EXCLUDED.shown_at",
										2, types, CURSOR_OPT_GENERIC_PLAN);
		if (first_plan == NULL || SPI_keepplan(first_plan) != 0)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	}
	if (SPI_execute_plan(first_plan, values, NULL, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "recording trip_driver_visibility failed");
}

/*
 * One pass of the search: streams the scan's candidates nearest first into
 * best (eligible) and maybes (eligible but for schedules and trips), until
 * the bound of the next candidate passes the radius or the worst kept.
 */
static void
scan_candidates(IndexScanDesc scan, TupleTableSlot *slot, const TripInfo *trip, bool planar,
				double k, Best *best, Candidate **maybes, int *nmaybes, int *maxmaybes)
{
	const RelInfo *l = &cat.loc;
	TimestampTz fresh_after = GetCurrentTimestamp() -
		(int64) sg_dispatch_position_max_age * USECS_PER_SEC;

	while (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		Datum	   *v = slot->tts_values;
		bool	   *isnull = slot->tts_isnull;
		double		worst = best_worst(best);
		double		needed = Min((double) trip->radius, worst);
		double		bound,
					d;
		pg_uuid_t  *id;
		Candidate	c;

		CHECK_FOR_INTERRUPTS();

		/* nothing from here on can be inside the radius or beat the worst kept */
		if (scan->xs_orderbynulls[0])
			break;
		bound = DatumGetFloat8(scan->xs_orderbyvals[0]);
		bound = planar ? k * bound * DEG2RAD : SPHERE_LOWER_BOUND * bound;
		if (bound > needed)
			break;

		/* every rule but schedules, trips and declines, from this row */
		slot_getsomeattrs(slot, l->max_att);
		if (!DatumGetBool(v[l->att[L_READY] - 1]) ||
			!DatumGetBool(v[l->att[L_IS_ACTIVE] - 1]) ||
			DatumGetTimestampTz(v[l->att[L_LAST_UPDATED] - 1]) < fresh_after ||
			!DatumGetBool(v[l->att[trip->is_private ? L_PRIVATE : L_SHARED] - 1]) ||
			DatumGetInt32(v[l->att[L_SEATS] - 1]) < trip->seats)
			continue;
		d = sg_dispatch_spheroid_distance(trip->lat, trip->lng,
										  DatumGetFloat8(v[l->att[L_LATITUDE] - 1]),
										  DatumGetFloat8(v[l->att[L_LONGITUDE] - 1]));
		if (d > needed)
			continue;			/* outside, or effective >= distance > worst */
		c.effective = sg_dispatch_effective_distance(d,
													 sg_dispatch_rating_penalty(DatumGetFloat8(v[l->att[L_RATING] - 1]),
																				DatumGetInt32(v[l->att[L_REVIEWS] - 1])),
													 sg_dispatch_acceptance_penalty(isnull[l->att[L_ACCEPTANCE] - 1] ? 0.0 :
																					DatumGetFloat8(v[l->att[L_ACCEPTANCE] - 1]),
																					isnull[l->att[L_ACCEPTANCE] - 1]));
		if (c.effective > worst)
			continue;
		id = DatumGetUUIDP(v[l->att[L_DRIVER_ID] - 1]);
		if (declined(trip, id))
			continue;
		memcpy(c.id.data, id->data, UUID_LEN);
		c.distance = d;
		if (DatumGetInt32(v[l->att[L_HOLDS] - 1]) == 0)
			best_add(best, &c);
		else
		{
			if (*nmaybes == *maxmaybes)
			{
				*maxmaybes *= 2;
				*maybes = (Candidate *) repalloc(*maybes, *maxmaybes * sizeof(Candidate));
			}
			(*maybes)[(*nmaybes)++] = c;
		}
	}
}

/*
 * The search shared by find_drivers and dispatch_search.  Fills ts with
 * (driver_id, distance_m, score), best first.
 */
static void
dispatch_search(pg_uuid_t *trip_id, bool has_radius, int32 radius_arg,
				int32 max_results, bool check_caller, bool record,
				Tuplestorestate *ts, TupleDesc outdesc)
{
	const RelInfo *l = &cat.loc;
	TripInfo	trip;
	Best		best;
	Candidate  *maybes;
	int			nmaybes = 0,
				maxmaybes = 16;
	double		k;
	bool		planar;
	Oid			indexid;
	Relation	locations,
				index;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	ScanKeyData orderby,
				within;
	Point		origin_point;
	BOX			box;
	double		reach;
	int			i;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	open_catalog();

	/* the statement's view, including what this transaction wrote so far */
	CommandCounterIncrement();
	PushActiveSnapshot(GetTransactionSnapshot());
	UpdateActiveSnapshotCommandId();

	read_trip(trip_id, has_radius, radius_arg, check_caller, &trip);

	best.items = (Candidate *) palloc((max_results + 1) * sizeof(Candidate));
	best.n = 0;
	best.max = max_results;
	maybes = (Candidate *) palloc(maxmaybes * sizeof(Candidate));

	indexid = search_index(trip.lat, trip.lng, trip.radius, trip.seats, &k, &box);
	planar = indexid != cat.geog_index;
	origin_point.x = trip.lng;
	origin_point.y = trip.lat;

	locations = table_open(l->relid, AccessShareLock);
	index = open_index(indexid);
	/*
	 * Nearest first, inside a box that holds every point within "reach"
	 * metres.  A box far larger than the few dozen candidates a dense city
	 * needs makes the index visit every entry of the pages near the pickup
	 * point; so the first box is FIRST_REACH metres, and it grows (by
	 * REACH_GROWTH, up to the radius) until it provably holds every
	 * candidate that could still enter: a point outside the box of reach r
	 * is farther than r.  Each larger box starts the search again.
	 */
	scan = index_beginscan(locations, index, GetActiveSnapshot(), 1, 1);
	slot = table_slot_create(locations, NULL);
	reach = planar ? Min(trip.radius, FIRST_REACH) : trip.radius;
	for (;;)
	{
		bool		complete;

		if (planar)
		{
			(void) planar_bound_factor(trip.lat, trip.lng, (int32) reach, &box);
			ScanKeyEntryInitialize(&within, 0, 1, cat.pos_within.strategy, cat.pos_within.subtype,
								   InvalidOid, cat.pos_within.proc, BoxPGetDatum(&box));
			ScanKeyEntryInitialize(&orderby, SK_ORDER_BY, 1, cat.pos_order.strategy, cat.pos_order.subtype,
								   InvalidOid, cat.pos_order.proc, PointPGetDatum(&origin_point));
		}
		else
		{
			ScanKeyEntryInitialize(&within, 0, 1, cat.geog_overlap.strategy, cat.geog_overlap.subtype,
								   InvalidOid, cat.geog_overlap.proc,
								   expanded_geography(trip.geog, trip.radius));
			ScanKeyEntryInitialize(&orderby, SK_ORDER_BY, 1, cat.geog_order.strategy, cat.geog_order.subtype,
								   InvalidOid, cat.geog_order.proc, trip.geog);
		}
		index_rescan(scan, &within, 1, &orderby, 1);
		best.n = 0;
		nmaybes = 0;
		scan_candidates(scan, slot, &trip, planar, k, &best, &maybes, &nmaybes, &maxmaybes);

		/* every candidate that could enter lies within reach: done */
		complete = reach >= trip.radius ||
			Min((double) trip.radius, best_worst(&best)) <= reach;
		if (complete)
			break;
		reach = Min((double) trip.radius, reach * REACH_GROWTH);
	}

	ExecDropSingleTupleTableSlot(slot);
	index_endscan(scan);
	index_close(index, AccessShareLock);
	table_close(locations, AccessShareLock);

	if (nmaybes > 0)
		settle_maybes(&trip, maybes, nmaybes, &best);
	PopActiveSnapshot();

	if (record && best.n > 0)
		record_visibility(&trip, &best);

	for (i = 0; i < best.n; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = UUIDPGetDatum(&best.items[i].id);
		values[1] = Float8GetDatum(best.items[i].distance);
		values[2] = Float8GetDatum(sg_dispatch_score(best.items[i].effective));
		tuplestore_putvalues(ts, outdesc, values, nulls);
	}

	SPI_finish();
}

/*
 * Fast path of core's is_trusted_caller(): no request claims and an invoking
 * role (SET ROLE, else the session user: GetOuterUserId) that is not a
 * member of steppergo_api (a superuser is none).  Anything else goes through the SQL check
 * (dispatch_assert_dispatcher), which decides exactly as the core helpers.
 */
static bool
trusted_fast_path(void)
{
	const char *claims = GetConfigOption("request.jwt.claims", true, false);
	Oid			api;

	if (claims != NULL && claims[0] != '\0')
		return false;
	api = get_role_oid("steppergo_api", true);
	if (!OidIsValid(api))
		return true;
	return !is_member_of_role_nosuper(GetOuterUserId(), api);
}

static void
run_search(FunctionCallInfo fcinfo, bool check_caller)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	pg_uuid_t  *trip_id;
	int32		radius = 0;
	int32		max_results;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("trip_id must not be null")));
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("max_results must not be null")));
	trip_id = PG_GETARG_UUID_P(0);
	if (!PG_ARGISNULL(1))
	{
		radius = PG_GETARG_INT32(1);
		if (radius < 1 || radius > 2000000)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("radius_m must be between 1 and 2000000"),
					 errdetail("got %d", radius)));
	}
	max_results = PG_GETARG_INT32(2);
	if (max_results < 1 || max_results > MAX_RESULTS_LIMIT)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("max_results must be between 1 and %d", MAX_RESULTS_LIMIT),
				 errdetail("got %d", max_results)));

	if (check_caller && trusted_fast_path())
		check_caller = false;

	InitMaterializedSRF(fcinfo, 0);
	dispatch_search(trip_id, !PG_ARGISNULL(1), radius, max_results,
					check_caller, true, rsinfo->setResult, rsinfo->setDesc);
}

PG_FUNCTION_INFO_V1(sg_dispatch_find_drivers);
PG_FUNCTION_INFO_V1(sg_dispatch_search);
PG_FUNCTION_INFO_V1(sg_dispatch_search_index);

/*
 * find_drivers(trip_id uuid, radius_m integer DEFAULT NULL,
 *				max_results integer DEFAULT 10)
 *	 RETURNS TABLE (driver_id uuid, distance_m float8, score float8)
 *
 * The public API: the caller must be the trip's organizer, an ADMIN or a
 * trusted caller.
 */
Datum
sg_dispatch_find_drivers(PG_FUNCTION_ARGS)
{
	run_search(fcinfo, true);
	return (Datum) 0;
}

/* dispatch_search(...): the same search for the offer functions, no caller check */
Datum
sg_dispatch_search(PG_FUNCTION_ARGS)
{
	run_search(fcinfo, false);
	return (Datum) 0;
}

/*
 * dispatch_search_index(lat float8, lng float8, radius_m integer,
 *						 seats integer) RETURNS regclass
 *
 * The index find_drivers walks for a pickup point, a radius and the seats
 * a trip needs (support and tests: which path a search takes).
 */
Datum
sg_dispatch_search_index(PG_FUNCTION_ARGS)
{
	double		lat = PG_GETARG_FLOAT8(0);
	double		lng = PG_GETARG_FLOAT8(1);
	int32		radius = PG_GETARG_INT32(2);
	int32		seats = PG_GETARG_INT32(3);
	double		k;
	BOX			box;

	if (isnan(lat) || lat < -90 || lat > 90 || isnan(lng) || lng < -180 || lng > 180)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("lat must be within -90..90 and lng within -180..180")));
	if (radius < 1 || radius > 2000000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("radius_m must be between 1 and 2000000"),
				 errdetail("got %d", radius)));
	load_catalog();
	PG_RETURN_OID(search_index(lat, lng, radius, seats, &k, &box));
}
