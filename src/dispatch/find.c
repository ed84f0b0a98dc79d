/*-------------------------------------------------------------------------
 *
 * find.c
 *	  find_drivers: the eligible drivers nearest a trip's pickup point,
 *	  ranked by the dispatch score, found through the GiST index of
 *	  driver_locations in nearest-first order with an early stop.
 *
 * One cached plan streams candidates through a cursor: the KNN index scan
 * (ORDER BY geog <-> origin, sphere distance) joined with every eligibility
 * rule, each rule an index probe evaluated only for rows that passed the
 * cheaper ones.  For each candidate the exact WGS84 distance is computed
 * here from the latitude/longitude columns (no PostGIS call per row), and
 * the best max_results by effective distance are kept.  Because effective
 * distance >= distance >= 0.99 * sphere distance, the scan stops as soon as
 * the sphere distance of the next candidate proves that no later candidate
 * can enter the result or the radius: in a dense city that is a few dozen
 * rows, never the whole fleet.
 *
 *-------------------------------------------------------------------------
 */
#include "dispatch.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/guc.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/uuid.h"

/* sphere distance never exceeds the WGS84 distance by more than 0.6 % */
#define SPHERE_LOWER_BOUND 0.99
#define MAX_RESULTS_LIMIT 1000

typedef struct Candidate
{
	pg_uuid_t	id;
	double		distance;
	double		effective;
} Candidate;

static SPIPlanPtr trip_plan = NULL;
static SPIPlanPtr candidate_plan = NULL;
static SPIPlanPtr visibility_plan = NULL;

static const char *trip_sql =
"SELECT t.origin_lat, t.origin_lng, t.origin_geog, t.trip_type = 'PRIVATE',"
"       t.total_seats, t.departure_time,"
"       coalesce(t.return_time, t.departure_time), t.driver_discovery_radius,"
"       t.timezone,"
"       CASE WHEN $2 THEN steppergo.dispatch_assert_dispatcher(t.organizer_id) END"
"  FROM steppergo.trips t WHERE t.id = $1";

/*
 * The eligibility rules, in the order explain_dispatch reports them; keep
 * both in step (src/dispatch/dispatch.sql, dispatch_exclusion).
 */
static const char *candidate_sql =
"SELECT l.driver_id, l.latitude, l.longitude, d.rating::float8,"
"       d.review_count, d.acceptance_rate::float8"
"  FROM steppergo.driver_locations l"
"  JOIN steppergo.drivers d ON d.id = l.driver_id"
" WHERE l.geog && _ST_Expand($1, $2)"
"   AND d.status = 'APPROVED'"
"   AND d.availability = 'ONLINE'"
"   AND l.is_active AND l.last_updated >= $3"
"   AND CASE WHEN $4 THEN d.accepts_private_trips ELSE d.accepts_shared_trips END"
"   AND EXISTS (SELECT 1 FROM steppergo.vehicles v"
"                WHERE v.driver_id = d.id AND v.is_active AND v.passenger_capacity >= $5)"
"   AND NOT EXISTS (SELECT 1 FROM steppergo.driver_availability_schedules s"
"                    WHERE s.driver_id = d.id AND s.is_active AND s.start_time <= $7"
"                      AND steppergo.dispatch_schedule_covers(s.start_time, s.end_time,"
"                                                             s.recurring_pattern, $7, $10))"
"   AND NOT EXISTS (SELECT 1 FROM steppergo.trip_acceptance_logs a"
"                    WHERE a.trip_id = $6 AND a.driver_id = d.id"
"                      AND a.action IN ('DECLINED', 'TIMEOUT'))"
"   AND NOT EXISTS (SELECT 1 FROM steppergo.trips o"
"                    WHERE o.driver_id = d.id AND o.id <> $6"
"                      AND o.status NOT IN ('COMPLETED', 'CANCELLED')"
"                      AND o.departure_time < $8"
"                      AND coalesce(o.return_time, o.departure_time) + $9 > $7)"
"   AND NOT EXISTS (SELECT 1 FROM steppergo.trips f"
"                    WHERE f.offered_to_driver_id = d.id AND f.id <> $6)"
" ORDER BY l.geog <-> $1";

static const char *visibility_sql =
"INSERT INTO steppergo.trip_driver_visibility AS v (trip_id, driver_id, shown_at)"
" SELECT $1, x, now() FROM unnest($2::uuid[]) AS x ORDER BY x"
" ON CONFLICT (trip_id, driver_id) DO UPDATE SET shown_at = EXCLUDED.shown_at";

static SPIPlanPtr
prepare_kept(const char *sql, int nargs, Oid *argtypes, int cursor_options)
{
	SPIPlanPtr	plan = SPI_prepare_cursor(sql, nargs, argtypes, cursor_options);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	return plan;
}

static void
prepare_plans(void)
{
	if (trip_plan == NULL)
	{
		Oid			types[2] = {UUIDOID, BOOLOID};

		trip_plan = prepare_kept(trip_sql, 2, types, 0);
	}
	if (candidate_plan == NULL)
	{
		Oid			types[10];

		types[0] = InvalidOid;	/* geography: resolved below */
		types[1] = FLOAT8OID;
		types[2] = TIMESTAMPTZOID;
		types[3] = BOOLOID;
		types[4] = INT4OID;
		types[5] = UUIDOID;
		types[6] = TIMESTAMPTZOID;
		types[7] = TIMESTAMPTZOID;
		types[8] = INTERVALOID;
		types[9] = TEXTOID;
		/* the geography type is PostGIS's: its oid is that of origin_geog */
		types[0] = SPI_gettypeid(SPI_tuptable->tupdesc, 3);
		/* a cursor read only as far as needed: plan for the first rows */
		candidate_plan = prepare_kept(candidate_sql, 10, types, CURSOR_OPT_FAST_PLAN);
	}
	if (visibility_plan == NULL)
	{
		Oid			types[2] = {UUIDOID, UUIDARRAYOID};

		visibility_plan = prepare_kept(visibility_sql, 2, types, 0);
	}
}

static int
candidate_cmp(const Candidate *a, const Candidate *b)
{
	if (a->effective != b->effective)
		return a->effective < b->effective ? -1 : 1;
	if (a->distance != b->distance)
		return a->distance < b->distance ? -1 : 1;
	return memcmp(a->id.data, b->id.data, UUID_LEN);
}

static double
get_float8(HeapTuple tup, TupleDesc desc, int col, bool *isnull)
{
	Datum		d = SPI_getbinval(tup, desc, col, isnull);

	return *isnull ? 0.0 : DatumGetFloat8(d);
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
	Datum		tvals[2];
	char		tnulls[2] = {' ', ' '};
	HeapTuple	trip;
	TupleDesc	tdesc;
	bool		isnull;
	double		olat,
				olng;
	Datum		origin;
	bool		is_private;
	int32		seats;
	TimestampTz departure,
				base_end;
	int32		radius;
	Datum		tz;
	Interval   *window;
	Datum		cvals[10];
	Portal		portal;
	Candidate  *best;
	int			nbest = 0;
	bool		done = false;
	int			batch;
	int			i;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	if (trip_plan == NULL)
	{
		Oid			types[2] = {UUIDOID, BOOLOID};

		trip_plan = prepare_kept(trip_sql, 2, types, 0);
	}
	tvals[0] = UUIDPGetDatum(trip_id);
	tvals[1] = BoolGetDatum(check_caller);
	if (SPI_execute_plan(trip_plan, tvals, tnulls, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "trip lookup failed");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_SG_NOT_FOUND),
				 errmsg("trip not found"),
				 errdetail("no trip with id %s",
						   DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(trip_id))))));
	prepare_plans();

	trip = SPI_tuptable->vals[0];
	tdesc = SPI_tuptable->tupdesc;
	olat = get_float8(trip, tdesc, 1, &isnull);
	olng = get_float8(trip, tdesc, 2, &isnull);
	origin = SPI_getbinval(trip, tdesc, 3, &isnull);
	is_private = DatumGetBool(SPI_getbinval(trip, tdesc, 4, &isnull));
	seats = DatumGetInt32(SPI_getbinval(trip, tdesc, 5, &isnull));
	departure = DatumGetTimestampTz(SPI_getbinval(trip, tdesc, 6, &isnull));
	base_end = DatumGetTimestampTz(SPI_getbinval(trip, tdesc, 7, &isnull));
	radius = has_radius ? radius_arg : DatumGetInt32(SPI_getbinval(trip, tdesc, 8, &isnull));
	tz = SPI_getbinval(trip, tdesc, 9, &isnull);

	window = (Interval *) palloc0(sizeof(Interval));
	window->time = (int64) sg_dispatch_trip_window * USECS_PER_MINUTE;

	cvals[0] = origin;
	cvals[1] = Float8GetDatum(radius * 1.01 + 10.0);
	cvals[2] = TimestampTzGetDatum(GetCurrentTimestamp() -
								   (int64) sg_dispatch_position_max_age * USECS_PER_SEC);
	cvals[3] = BoolGetDatum(is_private);
	cvals[4] = Int32GetDatum(seats);
	cvals[5] = UUIDPGetDatum(trip_id);
	cvals[6] = TimestampTzGetDatum(departure);
	cvals[7] = TimestampTzGetDatum(base_end + window->time);
	cvals[8] = IntervalPGetDatum(window);
	cvals[9] = tz;

	best = (Candidate *) palloc((max_results + 1) * sizeof(Candidate));

	portal = SPI_cursor_open(NULL, candidate_plan, cvals, NULL, false);
	batch = max_results + 8;
	while (!done)
	{
		uint64		n;

		SPI_cursor_fetch(portal, true, batch);
		n = SPI_processed;
		for (i = 0; i < (int) n && !done; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			double		lat = get_float8(tup, desc, 2, &isnull);
			double		lng = get_float8(tup, desc, 3, &isnull);
			double		lower = SPHERE_LOWER_BOUND *
				sg_dispatch_sphere_distance(olat, olng, lat, lng);
			double		d,
						rating,
						acc,
						eff;
			bool		acc_null;
			int32		reviews;
			Candidate	c;
			int			pos;

			/* nothing later can be inside the radius or beat the worst kept */
			if (lower > radius ||
				(nbest == max_results && lower > best[nbest - 1].effective))
			{
				done = true;
				break;
			}
			d = sg_dispatch_spheroid_distance(olat, olng, lat, lng);
			if (d > radius)
				continue;
			rating = get_float8(tup, desc, 4, &isnull);
			reviews = DatumGetInt32(SPI_getbinval(tup, desc, 5, &isnull));
			acc = get_float8(tup, desc, 6, &acc_null);
			eff = sg_dispatch_effective_distance(d,
												 sg_dispatch_rating_penalty(rating, reviews),
												 sg_dispatch_acceptance_penalty(acc, acc_null));
			memcpy(c.id.data, DatumGetUUIDP(SPI_getbinval(tup, desc, 1, &isnull))->data, UUID_LEN);
			c.distance = d;
			c.effective = eff;
			/* insertion into the sorted array of the best */
			pos = nbest;
			while (pos > 0 && candidate_cmp(&c, &best[pos - 1]) < 0)
				pos--;
			if (pos >= max_results)
				continue;
			memmove(&best[pos + 1], &best[pos], (nbest - pos) * sizeof(Candidate));
			best[pos] = c;
			if (nbest < max_results)
				nbest++;
		}
		SPI_freetuptable(SPI_tuptable);
		if (n < (uint64) batch)
			done = true;
		batch = 64;
	}
	SPI_cursor_close(portal);

	if (record && nbest > 0)
	{
		Datum	   *ids = (Datum *) palloc(nbest * sizeof(Datum));
		Datum		vvals[2];
		ArrayType  *arr;

		for (i = 0; i < nbest; i++)
			ids[i] = UUIDPGetDatum(&best[i].id);
		arr = construct_array(ids, nbest, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR);
		vvals[0] = UUIDPGetDatum(trip_id);
		vvals[1] = PointerGetDatum(arr);
		if (SPI_execute_plan(visibility_plan, vvals, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "recording trip_driver_visibility failed");
	}

	for (i = 0; i < nbest; i++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};

		values[0] = UUIDPGetDatum(&best[i].id);
		values[1] = Float8GetDatum(best[i].distance);
		values[2] = Float8GetDatum(sg_dispatch_score(best[i].effective));
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
