/*-------------------------------------------------------------------------
 *
 * location.c
 *	  Live driver positions: update_driver_location (one ping) and
 *	  update_driver_locations (a JSON batch), the hottest write path of the
 *	  platform.
 *
 * Every ping is checked completely before anything is written: NULL
 * driver/lat/lng raise 22004, NaN or out-of-range values 22023, an unknown
 * driver PT404, a caller acting for another user's driver 42501.  A batch is
 * all or nothing: the first bad element refuses the whole batch and its
 * 0-based index is in errdetail; as the checks that need the database run
 * after or with the writes, the ERROR rolls back whatever the call wrote.
 *
 * A single ping is one cached plan in the common case: an UPDATE of
 * driver_locations by primary key that also decides, on the same row
 * (activity_synced_at), whether drivers.last_activity_at is due for a refresh
 * (at most once per steppergo.driver_activity_interval); only then does a
 * second plan write the driver row.
 * A batch does the same set-based, in one statement over unnest() of arrays.
 * When a driver has no row yet, an INSERT ... ON CONFLICT DO UPDATE creates
 * it, joined to drivers so that an unknown driver writes nothing and is
 * reported as PT404.
 *
 * Callers: a trusted caller (is_trusted_caller(): psql, backends, jobs)
 * writes any driver's position; an API caller only its own driver's (or any
 * as ADMIN), checked by core's assert_acting_as on the driver's user.
 *
 *-------------------------------------------------------------------------
 */
#include "drivers.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/datum.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"
#include "access/xact.h"
#include "miscadmin.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/syscache.h"

PG_FUNCTION_INFO_V1(sg_drivers_update_location);
PG_FUNCTION_INFO_V1(sg_drivers_update_locations);

/* one validated ping */
typedef struct Ping
{
	pg_uuid_t	driver_id;
	double		lat;
	double		lng;
	double		heading;
	double		speed;
	double		accuracy;
	bool		heading_null;
	bool		speed_null;
	bool		accuracy_null;
	int			index;			/* first position of this driver in the batch */
} Ping;

/* cached plans, prepared on first use and kept for the backend's life */
static SPIPlanPtr plan_trusted = NULL;
static SPIPlanPtr plan_owner = NULL;
static SPIPlanPtr plan_assert = NULL;
static SPIPlanPtr plan_update_one = NULL;
static SPIPlanPtr plan_activity_one = NULL;
static SPIPlanPtr plan_reset_one = NULL;
static SPIPlanPtr plan_insert_one = NULL;
static SPIPlanPtr plan_update_many = NULL;
static SPIPlanPtr plan_activity_many = NULL;
static SPIPlanPtr plan_insert_many = NULL;
static SPIPlanPtr plan_owners_many = NULL;
static SPIPlanPtr plan_unknown_many = NULL;

static SPIPlanPtr
keep_plan(SPIPlanPtr *cache, const char *sql, int nargs, Oid *argtypes)
{
	if (*cache == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		*cache = plan;
	}
	return *cache;
}

/* ------------------------------------------------------------------------
 * argument checks
 * ------------------------------------------------------------------------
 */

/*
 * Checks one value; "where" is "" for the single-ping function and
 * "pings[i]." for a batch element, so the message names the field and the
 * detail the element.
 */
static void
check_range(double v, const char *name, double lo, double hi, bool hi_inclusive,
			int index)
{
	if (isnan(v) || v < lo || (hi_inclusive ? v > hi : v >= hi))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be between %g and %g%s", name, lo, hi,
						hi_inclusive ? "" : " (exclusive)"),
				 index >= 0 ?
				 errdetail("pings[%d].%s is %g", index, name, v) :
				 errdetail("got %g", v)));
}

static void
check_ping(Ping *p, int index)
{
	check_range(p->lat, "lat", -90, 90, true, index);
	check_range(p->lng, "lng", -180, 180, true, index);
	if (!p->heading_null)
		check_range(p->heading, "heading", 0, 360, true, index);
	if (!p->speed_null)
		check_range(p->speed, "speed", 0, 500, false, index);
	if (!p->accuracy_null)
		check_range(p->accuracy, "accuracy", 0, 100000, false, index);
}

/* transaction start minus the activity interval: older last_activity_at is refreshed */
static Datum
activity_cutoff(void)
{
	TimestampTz now = GetCurrentTransactionStartTimestamp();

	return TimestampTzGetDatum(now - (int64) sg_drivers_activity_interval * USECS_PER_SEC);
}

/*
 * is_trusted_caller() is memoised: its answer depends only on the request's
 * claims (request.jwt.claims), the role set by SET ROLE, the session user and
 * the role catalogs (membership of steppergo_api), so the last answer is kept
 * with those inputs, and any change of pg_authid, pg_auth_members or
 * pg_proc (a new definition of the function) forgets it.  On the hot path
 * this saves one PL/pgSQL call and a pg_roles lookup per ping.
 */
static bool trusted_valid = false;
static bool trusted_answer = false;
static char *trusted_claims = NULL;
static char *trusted_role = NULL;
static Oid	trusted_session = InvalidOid;
static bool trusted_callbacks = false;

static void
trusted_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	trusted_valid = false;
}

static bool
same_text(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static char *
keep_text(char *old, const char *s)
{
	if (old)
		pfree(old);
	return s ? MemoryContextStrdup(TopMemoryContext, s) : NULL;
}

static bool
caller_is_trusted(void)
{
	const char *claims = GetConfigOption("request.jwt.claims", true, false);
	const char *role = GetConfigOption("role", false, false);
	Oid			session = GetSessionUserId();
	SPIPlanPtr	plan;
	bool		isnull;
	Datum		d;

	if (!trusted_callbacks)
	{
		CacheRegisterSyscacheCallback(AUTHOID, trusted_invalidate, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, trusted_invalidate, (Datum) 0);
		CacheRegisterSyscacheCallback(PROCOID, trusted_invalidate, (Datum) 0);
		trusted_callbacks = true;
	}
	if (trusted_valid && session == trusted_session &&
		same_text(claims, trusted_claims) && same_text(role, trusted_role))
		return trusted_answer;

	plan = keep_plan(&plan_trusted, "SELECT steppergo.is_trusted_caller()", 0, NULL);
	if (SPI_execute_plan(plan, NULL, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "is_trusted_caller() failed");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

	trusted_valid = false;
	trusted_claims = keep_text(trusted_claims, claims);
	trusted_role = keep_text(trusted_role, role);
	trusted_session = session;
	trusted_answer = !isnull && DatumGetBool(d);
	trusted_valid = true;
	return trusted_answer;
}

/* assert_acting_as(user_id) through a cached plan */
static void
assert_acting_as(Datum user_id)
{
	Oid			types[1] = {UUIDOID};
	SPIPlanPtr	plan = keep_plan(&plan_assert, "SELECT steppergo.assert_acting_as($1)", 1, types);

	if (SPI_execute_plan(plan, &user_id, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "assert_acting_as() failed");
}

static void
report_unknown_driver(const pg_uuid_t *id, int index)
{
	char	   *txt = DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum((pg_uuid_t *) id)));

	ereport(ERROR,
			(errcode(ERRCODE_SG_NOT_FOUND),
			 errmsg("driver not found"),
			 index >= 0 ?
			 errdetail("pings[%d].driver_id: no driver with id %s", index, txt) :
			 errdetail("no driver with id %s", txt)));
}

/* ------------------------------------------------------------------------
 * update_driver_location(driver_id uuid, lat float8, lng float8,
 *						  heading float8, speed float8, accuracy float8)
 * ------------------------------------------------------------------------
 */
/*
 * The common case is one statement touching one table: the position row
 * also records when a ping last refreshed drivers.last_activity_at
 * (activity_synced_at), so the throttle is decided on the row being written
 * anyway, and only when it fires does a second plan write the driver row.
 */
#define UPDATE_ONE_SQL \
	"UPDATE steppergo.driver_locations l" \
	"   SET latitude = $2, longitude = $3, heading = $4, speed = $5, accuracy = $6," \
	"       last_updated = now(), is_active = true," \
	"       activity_synced_at = CASE WHEN l.activity_synced_at IS NULL OR l.activity_synced_at < $7" \
	"                            THEN now() ELSE l.activity_synced_at END" \
	" WHERE l.driver_id = $1" \
	" RETURNING l.activity_synced_at = now()"

/*
 * When the throttle fires (the UPDATE above marked the position row): the
 * driver row is taken only if nobody else holds it -- a ping never waits
 * for a driver row, as every other writer locks the driver row before the
 * position row -- and last_activity_at refreshed.  The count says whether
 * the driver row was had; when it was not, RESET_ONE_SQL clears the mark
 * (NULL: due again at the next ping).
 */
#define ACTIVITY_ONE_SQL \
	"WITH lk AS (SELECT d.id FROM steppergo.drivers d WHERE d.id = $1" \
	"             FOR NO KEY UPDATE SKIP LOCKED)," \
	" act AS (UPDATE steppergo.drivers d SET last_activity_at = now() FROM lk" \
	"          WHERE d.id = lk.id AND (d.last_activity_at IS NULL OR d.last_activity_at < now()))" \
	" SELECT count(*) FROM lk"
#define RESET_ONE_SQL \
	"UPDATE steppergo.driver_locations SET activity_synced_at = NULL WHERE driver_id = $1"

#define INSERT_ONE_SQL \
	"WITH loc AS (" \
	"  INSERT INTO steppergo.driver_locations AS l" \
	"         (driver_id, latitude, longitude, heading, speed, accuracy, last_updated, is_active," \
	"          activity_synced_at)" \
	"  SELECT d.id, $2, $3, $4, $5, $6, now(), true, now()" \
	"    FROM steppergo.drivers d WHERE d.id = $1" \
	"  ON CONFLICT (driver_id) DO UPDATE" \
	"     SET latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude," \
	"         heading = EXCLUDED.heading, speed = EXCLUDED.speed, accuracy = EXCLUDED.accuracy," \
	"         last_updated = EXCLUDED.last_updated, is_active = true," \
	"         activity_synced_at = CASE WHEN l.activity_synced_at IS NULL OR l.activity_synced_at < $7" \
	"                            THEN now() ELSE l.activity_synced_at END" \
	"  RETURNING l.driver_id, l.activity_synced_at = now() AS sync)," \
	" act AS (" \
	"  UPDATE steppergo.drivers d SET last_activity_at = now()" \
	"    FROM loc" \
	"   WHERE loc.sync AND d.id = loc.driver_id" \
	"     AND (d.last_activity_at IS NULL OR d.last_activity_at < now())" \
	"  RETURNING d.id)" \
	" SELECT count(*) FROM loc"

static int64
exec_count(SPIPlanPtr plan, Datum *values, const char *nulls)
{
	bool		isnull;
	Datum		d;

	if (SPI_execute_plan(plan, values, nulls, false, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "driver location write failed");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return isnull ? 0 : DatumGetInt64(d);
}

Datum
sg_drivers_update_location(PG_FUNCTION_ARGS)
{
	Ping		p;
	pg_uuid_t  *id;
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	Oid			types[7] = {UUIDOID, FLOAT8OID, FLOAT8OID, FLOAT8OID, FLOAT8OID,
	FLOAT8OID, TIMESTAMPTZOID};
	bool		trusted;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("driver_id must not be null")));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("lat must not be null")));
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("lng must not be null")));
	id = PG_GETARG_UUID_P(0);
	p.lat = PG_GETARG_FLOAT8(1);
	p.lng = PG_GETARG_FLOAT8(2);
	p.heading_null = PG_ARGISNULL(3);
	p.heading = p.heading_null ? 0 : PG_GETARG_FLOAT8(3);
	p.speed_null = PG_ARGISNULL(4);
	p.speed = p.speed_null ? 0 : PG_GETARG_FLOAT8(4);
	p.accuracy_null = PG_ARGISNULL(5);
	p.accuracy = p.accuracy_null ? 0 : PG_GETARG_FLOAT8(5);
	check_ping(&p, -1);

	values[0] = UUIDPGetDatum(id);
	values[1] = Float8GetDatum(p.lat);
	values[2] = Float8GetDatum(p.lng);
	values[3] = Float8GetDatum(p.heading);
	values[4] = Float8GetDatum(p.speed);
	values[5] = Float8GetDatum(p.accuracy);
	values[6] = activity_cutoff();
	if (p.heading_null)
		nulls[3] = 'n';
	if (p.speed_null)
		nulls[4] = 'n';
	if (p.accuracy_null)
		nulls[5] = 'n';

	SPI_connect();
	trusted = caller_is_trusted();
	if (!trusted)
	{
		SPIPlanPtr	plan = keep_plan(&plan_owner,
									 "SELECT user_id FROM steppergo.drivers WHERE id = $1",
									 1, types);
		bool		isnull;
		Datum		user_id;

		if (SPI_execute_plan(plan, values, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "driver lookup failed");
		if (SPI_processed == 0)
			report_unknown_driver(id, -1);
		user_id = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		assert_acting_as(user_id);
	}

	if (SPI_execute_plan(keep_plan(&plan_update_one, UPDATE_ONE_SQL, 7, types),
						 values, nulls, false, 0) != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "driver location update failed");
	if (SPI_processed == 1)
	{
		bool		isnull;
		Datum		due = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull && DatumGetBool(due) &&
			exec_count(keep_plan(&plan_activity_one, ACTIVITY_ONE_SQL, 7, types), values, nulls) == 0 &&
			SPI_execute_plan(keep_plan(&plan_reset_one, RESET_ONE_SQL, 7, types),
							 values, nulls, false, 0) != SPI_OK_UPDATE)
			elog(ERROR, "driver activity update failed");
	}
	else if (exec_count(keep_plan(&plan_insert_one, INSERT_ONE_SQL, 7, types), values, nulls) == 0)
		report_unknown_driver(id, -1);

	SPI_finish();
	PG_RETURN_VOID();
}

/* ------------------------------------------------------------------------
 * update_driver_locations(pings jsonb) RETURNS integer
 * ------------------------------------------------------------------------
 */

/* "pings[i].key": required number, optional number (null or absent) */
static bool
json_number(JsonbContainer *obj, const char *key, int index, bool required,
			double *out, int *nfound)
{
	JsonbValue	buf;
	JsonbValue *v = getKeyJsonValueFromContainer(obj, key, strlen(key), &buf);
	char	   *txt;
	char	   *end;

	if (v == NULL)
	{
		if (required)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("every ping needs %s", key),
					 errdetail("pings[%d] has no key \"%s\"", index, key)));
		return false;
	}
	(*nfound)++;
	if (v->type == jbvNull)
	{
		if (required)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("%s must not be null", key),
					 errdetail("pings[%d].%s is null", index, key)));
		return false;
	}
	if (v->type != jbvNumeric)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s must be a JSON number", key),
				 errdetail("pings[%d].%s is not a number", index, key)));
	/* via text: a huge exponent becomes infinity here, not an overflow error */
	txt = DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	*out = strtod(txt, &end);
	pfree(txt);
	if (!isfinite(*out))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("%s is out of range", key),
				 errdetail("pings[%d].%s is not a finite double precision number", index, key)));
	return true;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* canonical 8-4-4-4-12 text only; false otherwise */
static bool
parse_uuid(const char *s, int len, pg_uuid_t *out)
{
	int			i;
	int			j = 0;

	if (len != 36)
		return false;
	for (i = 0; i < 36;)
	{
		int			hi,
					lo;

		if (i == 8 || i == 13 || i == 18 || i == 23)
		{
			if (s[i] != '-')
				return false;
			i++;
			continue;
		}
		hi = hexval(s[i]);
		lo = hexval(s[i + 1]);
		if (hi < 0 || lo < 0)
			return false;
		out->data[j++] = (unsigned char) (hi << 4 | lo);
		i += 2;
	}
	return true;
}

static void
parse_element(JsonbContainer *arr, int index, Ping *p)
{
	JsonbValue *elem = getIthJsonbValueFromContainer(arr, index);
	JsonbContainer *obj;
	JsonbValue	buf;
	JsonbValue *v;
	int			nfound = 0;

	if (elem == NULL || elem->type != jbvBinary || !JsonContainerIsObject(elem->val.binary.data))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("every ping must be a JSON object"),
				 errdetail("pings[%d] is not an object", index)));
	obj = elem->val.binary.data;

	v = getKeyJsonValueFromContainer(obj, "driver_id", 9, &buf);
	if (v == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("every ping needs driver_id"),
				 errdetail("pings[%d] has no key \"driver_id\"", index)));
	if (v->type == jbvNull)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("driver_id must not be null"),
				 errdetail("pings[%d].driver_id is null", index)));
	if (v->type != jbvString || !parse_uuid(v->val.string.val, v->val.string.len, &p->driver_id))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("driver_id must be a uuid string"),
				 errdetail("pings[%d].driver_id is not a uuid in 8-4-4-4-12 form", index)));
	nfound++;

	json_number(obj, "lat", index, true, &p->lat, &nfound);
	json_number(obj, "lng", index, true, &p->lng, &nfound);
	p->heading_null = !json_number(obj, "heading", index, false, &p->heading, &nfound);
	p->speed_null = !json_number(obj, "speed", index, false, &p->speed, &nfound);
	p->accuracy_null = !json_number(obj, "accuracy", index, false, &p->accuracy, &nfound);
	if (JsonContainerSize(obj) != nfound)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a ping has an unknown key"),
				 errdetail("pings[%d] has a key other than driver_id, lat, lng, heading, speed, accuracy", index)));
	check_ping(p, index);
	p->index = index;
}

/* order by driver id, then by position in the batch */
static int
ping_cmp(const void *a, const void *b)
{
	const Ping *pa = (const Ping *) a;
	const Ping *pb = (const Ping *) b;
	int			c = memcmp(pa->driver_id.data, pb->driver_id.data, UUID_LEN);

	if (c != 0)
		return c;
	return (pa->index > pb->index) - (pa->index < pb->index);
}

#define UPDATE_MANY_SQL \
	"WITH p AS (" \
	"  SELECT * FROM unnest($1::uuid[], $2::float8[], $3::float8[], $4::float8[], $5::float8[], $6::float8[])" \
	"         AS p(driver_id, lat, lng, heading, speed, accuracy))," \
	" loc AS (" \
	"  UPDATE steppergo.driver_locations l" \
	"     SET latitude = p.lat, longitude = p.lng, heading = p.heading, speed = p.speed," \
	"         accuracy = p.accuracy, last_updated = now(), is_active = true," \
	"         activity_synced_at = CASE WHEN l.activity_synced_at IS NULL OR l.activity_synced_at < $7" \
	"                            THEN now() ELSE l.activity_synced_at END" \
	"    FROM p WHERE l.driver_id = p.driver_id" \
	"  RETURNING l.driver_id, l.activity_synced_at = now() AS due)" \
	" SELECT count(*), array_agg(driver_id ORDER BY driver_id) FILTER (WHERE due) FROM loc"
/*
 * The throttle of a batch, as ACTIVITY_ONE_SQL and RESET_ONE_SQL for the
 * drivers that are due, in one statement
 */
#define ACTIVITY_MANY_SQL \
	"WITH lk AS (SELECT d.id FROM steppergo.drivers d WHERE d.id = ANY ($1)" \
	"             ORDER BY d.id FOR NO KEY UPDATE SKIP LOCKED)," \
	" act AS (UPDATE steppergo.drivers d SET last_activity_at = now() FROM lk" \
	"          WHERE d.id = lk.id AND (d.last_activity_at IS NULL OR d.last_activity_at < now()))" \
	" UPDATE steppergo.driver_locations l SET activity_synced_at = NULL" \
	"  WHERE l.driver_id = ANY ($1) AND NOT EXISTS (SELECT 1 FROM lk WHERE lk.id = l.driver_id)"
#define INSERT_MANY_SQL \
	"WITH loc AS (" \
	"  INSERT INTO steppergo.driver_locations AS l" \
	"         (driver_id, latitude, longitude, heading, speed, accuracy, last_updated, is_active," \
	"          activity_synced_at)" \
	"  SELECT p.driver_id, p.lat, p.lng, p.heading, p.speed, p.accuracy, now(), true, now()" \
	"    FROM unnest($1::uuid[], $2::float8[], $3::float8[], $4::float8[], $5::float8[], $6::float8[])" \
	"         AS p(driver_id, lat, lng, heading, speed, accuracy)" \
	"    JOIN steppergo.drivers d ON d.id = p.driver_id" \
	"   WHERE NOT EXISTS (SELECT 1 FROM steppergo.driver_locations x WHERE x.driver_id = p.driver_id)" \
	"   ORDER BY p.driver_id" \
	"  ON CONFLICT (driver_id) DO UPDATE" \
	"     SET latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude," \
	"         heading = EXCLUDED.heading, speed = EXCLUDED.speed, accuracy = EXCLUDED.accuracy," \
	"         last_updated = EXCLUDED.last_updated, is_active = true," \
	"         activity_synced_at = CASE WHEN l.activity_synced_at IS NULL OR l.activity_synced_at < $7" \
	"                            THEN now() ELSE l.activity_synced_at END" \
	"  RETURNING l.driver_id, l.activity_synced_at = now() AS sync)," \
	" act AS (" \
	"  UPDATE steppergo.drivers d SET last_activity_at = now()" \
	"    FROM loc" \
	"   WHERE loc.sync AND d.id = loc.driver_id" \
	"     AND (d.last_activity_at IS NULL OR d.last_activity_at < now())" \
	"  RETURNING d.id)" \
	" SELECT count(*) FROM loc"

#define OWNERS_MANY_SQL \
	"SELECT u.i, d.user_id" \
	"  FROM unnest($1::uuid[], $2::int4[]) AS u(id, i)" \
	"  LEFT JOIN steppergo.drivers d ON d.id = u.id" \
	" ORDER BY u.i"

#define UNKNOWN_MANY_SQL \
	"SELECT u.i, u.id" \
	"  FROM unnest($1::uuid[], $2::int4[]) AS u(id, i)" \
	" WHERE NOT EXISTS (SELECT 1 FROM steppergo.drivers d WHERE d.id = u.id)" \
	" ORDER BY u.i LIMIT 1"

/* error context of the per-element authorisation check */
static void
ping_error_callback(void *arg)
{
	errcontext("pings[%d]", *(int *) arg);
}

static ArrayType *
float_array(Ping *pings, int n, size_t offset, size_t null_offset)
{
	Datum	   *d = palloc(sizeof(Datum) * n);
	bool	   *nulls = palloc(sizeof(bool) * n);
	int			dims[1] = {n};
	int			lbs[1] = {1};
	int			i;

	for (i = 0; i < n; i++)
	{
		char	   *base = (char *) &pings[i];

		nulls[i] = null_offset != 0 && *(bool *) (base + null_offset);
		d[i] = Float8GetDatum(*(double *) (base + offset));
	}
	return construct_md_array(d, nulls, 1, dims, lbs, FLOAT8OID, 8, FLOAT8PASSBYVAL, TYPALIGN_DOUBLE);
}

/*
 * Runs UPDATE_MANY_SQL: returns the rows written and sets *due to the array
 * of drivers whose throttle fired (copied into the caller's memory context,
 * so that it survives a subtransaction), or 0 when there are none.
 */
static int64
update_many(Datum *values, Oid *types, Datum *due)
{
	bool		isnull;
	int64		n;
	Datum		d;

	if (SPI_execute_plan(keep_plan(&plan_update_many, UPDATE_MANY_SQL, 7, types),
						 values, NULL, false, 0) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "driver location write failed");
	n = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	*due = isnull ? (Datum) 0 : datumCopy(d, false, -1);
	SPI_freetuptable(SPI_tuptable);
	return n;
}

Datum
sg_drivers_update_locations(PG_FUNCTION_ARGS)
{
	Jsonb	   *pings;
	int			n;
	int			i;
	int			ndistinct;
	Ping	   *all;
	Ping	   *uniq;
	Datum	   *ids;
	Datum	   *idx;
	Datum		values[7];
	Datum		keys[2];
	Oid			types[7] = {UUIDARRAYOID, FLOAT8ARRAYOID, FLOAT8ARRAYOID, FLOAT8ARRAYOID,
	FLOAT8ARRAYOID, FLOAT8ARRAYOID, TIMESTAMPTZOID};
	Oid			keytypes[2] = {UUIDARRAYOID, INT4ARRAYOID};
	int64		written;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("pings must not be null")));
	pings = PG_GETARG_JSONB_P(0);
	if (!JB_ROOT_IS_ARRAY(pings) || JB_ROOT_IS_SCALAR(pings))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pings must be a JSON array"),
				 errhint("Example: [{\"driver_id\": \"...\", \"lat\": 43.238, \"lng\": 76.889, \"heading\": 90, \"speed\": 12.5, \"accuracy\": 5}]")));
	n = JsonContainerSize(&pings->root);
	if (n == 0)
		PG_RETURN_INT32(0);
	if (n > sg_drivers_batch_max)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("too many pings in one batch"),
				 errdetail("%d pings, at most %d (steppergo.location_batch_max)", n, sg_drivers_batch_max)));

	/* 1. check every element; nothing is written before all are valid */
	all = palloc(sizeof(Ping) * n);
	for (i = 0; i < n; i++)
		parse_element(&pings->root, i, &all[i]);

	/*
	 * 2. one row per driver: the last ping of a driver wins (pings come in
	 * time order), its index is the driver's first position for errors
	 */
	qsort(all, n, sizeof(Ping), ping_cmp);
	uniq = palloc(sizeof(Ping) * n);
	ndistinct = 0;
	for (i = 0; i < n; i++)
	{
		if (ndistinct > 0 &&
			memcmp(uniq[ndistinct - 1].driver_id.data, all[i].driver_id.data, UUID_LEN) == 0)
		{
			int			first = uniq[ndistinct - 1].index;

			uniq[ndistinct - 1] = all[i];
			uniq[ndistinct - 1].index = first;
		}
		else
			uniq[ndistinct++] = all[i];
	}

	ids = palloc(sizeof(Datum) * ndistinct);
	idx = palloc(sizeof(Datum) * ndistinct);
	for (i = 0; i < ndistinct; i++)
	{
		ids[i] = UUIDPGetDatum(&uniq[i].driver_id);
		idx[i] = Int32GetDatum(uniq[i].index);
	}
	values[0] = PointerGetDatum(construct_array(ids, ndistinct, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	values[1] = PointerGetDatum(float_array(uniq, ndistinct, offsetof(Ping, lat), 0));
	values[2] = PointerGetDatum(float_array(uniq, ndistinct, offsetof(Ping, lng), 0));
	values[3] = PointerGetDatum(float_array(uniq, ndistinct, offsetof(Ping, heading), offsetof(Ping, heading_null)));
	values[4] = PointerGetDatum(float_array(uniq, ndistinct, offsetof(Ping, speed), offsetof(Ping, speed_null)));
	values[5] = PointerGetDatum(float_array(uniq, ndistinct, offsetof(Ping, accuracy), offsetof(Ping, accuracy_null)));
	values[6] = activity_cutoff();
	keys[0] = values[0];
	keys[1] = PointerGetDatum(construct_array(idx, ndistinct, INT4OID, 4, true, TYPALIGN_INT));

	SPI_connect();

	/* 3. an API caller: every driver must exist and be the caller's own */
	if (!caller_is_trusted())
	{
		SPIPlanPtr	plan = keep_plan(&plan_owners_many, OWNERS_MANY_SQL, 2, keytypes);
		SPITupleTable *tt;
		uint64		nrows;
		uint64		r;
		Datum		checked = (Datum) 0;
		bool		have_checked = false;
		int			current = -1;
		ErrorContextCallback errcb;

		if (SPI_execute_plan(plan, keys, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "driver lookup failed");
		tt = SPI_tuptable;
		nrows = SPI_processed;
		errcb.callback = ping_error_callback;
		errcb.arg = &current;
		errcb.previous = error_context_stack;
		error_context_stack = &errcb;
		for (r = 0; r < nrows; r++)
		{
			bool		isnull;
			Datum		user_id;

			current = DatumGetInt32(SPI_getbinval(tt->vals[r], tt->tupdesc, 1, &isnull));
			user_id = SPI_getbinval(tt->vals[r], tt->tupdesc, 2, &isnull);
			if (isnull)
			{
				int			k;

				for (k = 0; k < ndistinct && uniq[k].index != current; k++)
					;
				report_unknown_driver(&uniq[k < ndistinct ? k : 0].driver_id, current);
			}
			if (have_checked &&
				memcmp(DatumGetUUIDP(checked)->data, DatumGetUUIDP(user_id)->data, UUID_LEN) == 0)
				continue;
			assert_acting_as(user_id);
			checked = user_id;
			have_checked = true;
		}
		error_context_stack = errcb.previous;
		SPI_freetuptable(tt);
	}

	/*
	 * 4. write: update the drivers that have a row, insert the others.  An
	 * insert locks the driver row (dispatch's trigger on driver_locations),
	 * and nothing may wait for a driver row while holding a position row:
	 * when some drivers have no row yet, the update is undone and redone
	 * after the inserts.
	 */
	{
		MemoryContext oldcontext = CurrentMemoryContext;
		ResourceOwner oldowner = CurrentResourceOwner;
		Datum		due;

		BeginInternalSubTransaction(NULL);
		MemoryContextSwitchTo(oldcontext);
		written = update_many(values, types, &due);
		if (written < ndistinct)
		{
			RollbackAndReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(oldcontext);
			CurrentResourceOwner = oldowner;
			exec_count(keep_plan(&plan_insert_many, INSERT_MANY_SQL, 7, types), values, NULL);
			written = update_many(values, types, &due);
		}
		else
		{
			ReleaseCurrentSubTransaction();
			MemoryContextSwitchTo(oldcontext);
			CurrentResourceOwner = oldowner;
		}
		if (due != (Datum) 0)
		{
			Oid			atypes[1] = {UUIDARRAYOID};

			if (SPI_execute_plan(keep_plan(&plan_activity_many, ACTIVITY_MANY_SQL, 1, atypes),
								 &due, NULL, false, 0) != SPI_OK_UPDATE)
				elog(ERROR, "driver activity update failed");
		}
	}
	if (written < ndistinct)
	{
		/* an unknown driver: the ERROR rolls back what was written */
		SPIPlanPtr	plan = keep_plan(&plan_unknown_many, UNKNOWN_MANY_SQL, 2, keytypes);
		bool		isnull;

		if (SPI_execute_plan(plan, keys, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "driver lookup failed");
		if (SPI_processed == 1)
			report_unknown_driver(DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)),
								  DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)));
		elog(ERROR, "driver location batch wrote %lld of %d rows", (long long) written, ndistinct);
	}

	SPI_finish();
	PG_RETURN_INT32((int32) written);
}
