/*-------------------------------------------------------------------------
 *
 * seats.c
 *	  Seat allocation: book_seats, cancel_booking and the expiry of unpaid
 *	  bookings.
 *
 * The invariant kept here, for every trip and under any interleaving:
 *
 *	trips.available_seats = total_seats - sum(seats_booked of the trip's
 *	                        live bookings), never below zero,
 *
 * where a live booking is PENDING or CONFIRMED.  Every function that moves
 * seats first locks the trip row (FOR NO KEY UPDATE: it does not block the
 * foreign-key checks of concurrent inserts), then the booking, then the
 * payment; transition_trip and the webhook handlers lock in the same order,
 * so they serialise per trip and never deadlock with each other.  The trip
 * row's available_seats is read under the lock (READ COMMITTED re-reads the
 * newest version after a wait) and every later check runs as its own SPI
 * statement, hence with a snapshot taken after the lock was granted.
 *
 * Plans are prepared once per backend and kept (SPI_keepplan).
 *
 *-------------------------------------------------------------------------
 */
#include "steppergo.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

#include "trips/trips.h"

PG_FUNCTION_INFO_V1(sg_trips_book_seats);
PG_FUNCTION_INFO_V1(sg_trips_cancel_booking);
PG_FUNCTION_INFO_V1(sg_trips_expire_booking);

#define MAX_SEATS 60
#define MAX_REASON 1000

static SPIPlanPtr plan_user = NULL;
static SPIPlanPtr plan_lock_trip = NULL;
static SPIPlanPtr plan_tenant = NULL;
static SPIPlanPtr plan_dup = NULL;
static SPIPlanPtr plan_book = NULL;
static SPIPlanPtr plan_booking_owner = NULL;
static SPIPlanPtr plan_lock_booking = NULL;
static SPIPlanPtr plan_cancel = NULL;
static SPIPlanPtr plan_acting = NULL;

static SPIPlanPtr
prepare(SPIPlanPtr *slot, const char *sql, int nargs, Oid *argtypes)
{
	if (*slot == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, argtypes);

		if (p == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(p);
		*slot = p;
	}
	return *slot;
}

static void
run(SPIPlanPtr plan, Datum *values, const char *nulls, bool read_only, int expect)
{
	int			rc = SPI_execute_plan(plan, values, nulls, read_only, 0);

	if (rc != expect)
		elog(ERROR, "steppergo seats: unexpected SPI result %s", SPI_result_code_string(rc));
}

static char *
col_text(int col)
{
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col);
}

static Datum
col_datum(int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, isnull);
}

static char *
uuid_str(Datum d)
{
	return DatumGetCString(DirectFunctionCall1(uuid_out, d));
}

/* raise 42501/PT401 unless the caller may act for this user */
static void
assert_acting_as(Datum user_id)
{
	Oid			t[1] = {UUIDOID};

	run(prepare(&plan_acting, "SELECT steppergo.assert_acting_as($1)", 1, t),
		&user_id, NULL, true, SPI_OK_SELECT);
}

/* lock the trip; returns false when there is no such trip */
typedef struct TripRow
{
	char	   *status;
	char	   *trip_type;
	int32		total_seats;
	int32		available_seats;
	bool		departed;
	bool		has_tenant;
	Datum		tenant_id;
} TripRow;

static bool
lock_trip(Datum trip_id, TripRow *row)
{
	Oid			t[1] = {UUIDOID};
	bool		isnull;

	run(prepare(&plan_lock_trip,
				"SELECT t.status::text, t.trip_type::text, t.total_seats, t.available_seats,"
				"       t.departure_time <= now(), t.tenant_id"
				"  FROM steppergo.trips t WHERE t.id = $1 FOR NO KEY UPDATE OF t",
				1, t),
		&trip_id, NULL, false, SPI_OK_SELECT);
	if (SPI_processed == 0)
		return false;
	row->status = col_text(1);
	row->trip_type = col_text(2);
	row->total_seats = DatumGetInt32(col_datum(3, &isnull));
	row->available_seats = DatumGetInt32(col_datum(4, &isnull));
	row->departed = DatumGetBool(col_datum(5, &isnull));
	row->tenant_id = col_datum(6, &isnull);
	row->has_tenant = !isnull;
	return true;
}

/* a tenant's trip is invisible to callers of other tenants */
static bool
trip_visible(TripRow *row)
{
	Oid			t[1] = {UUIDOID};
	bool		isnull;

	if (!row->has_tenant)
		return true;
	run(prepare(&plan_tenant,
				"SELECT steppergo.is_trusted_caller()"
				"    OR steppergo.current_app_role() = 'ADMIN'"
				"    OR steppergo.current_tenant_id() IS NOT DISTINCT FROM $1",
				1, t),
		&row->tenant_id, NULL, true, SPI_OK_SELECT);
	return DatumGetBool(col_datum(1, &isnull));
}

/*
 * Why a booking could not be made, under the trip's lock: raises the
 * refusal, or returns when nothing stands in the way any more (the caller
 * then tries again, now holding the lock).
 */
static void
book_refusal(Datum trip_id, Datum user_id, int32 seats, const char *trip_str)
{
	TripRow		trip;
	bool		isnull;

	if (!lock_trip(trip_id, &trip) || !trip_visible(&trip))
		ereport(ERROR,
				(errcode(ERRCODE_SG_NOT_FOUND),
				 errmsg("trip not found"),
				 errdetail("No trip with id %s.", trip_str)));
	if (strcmp(trip.status, "PUBLISHED") != 0 && strcmp(trip.status, "OFFERED") != 0)
	{
		if (strcmp(trip.status, "FULL") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_SG_CONFLICT),
					 errmsg("no seats left on the trip"),
					 errdetail("Trip %s is FULL.", trip_str)));
		ereport(ERROR,
				(errcode(ERRCODE_SG_CONFLICT),
				 errmsg("trip is not open for booking"),
				 errdetail("Trip %s is %s; bookable statuses are PUBLISHED and OFFERED.",
						   trip_str, trip.status)));
	}
	if (trip.departed)
		ereport(ERROR,
				(errcode(ERRCODE_SG_CONFLICT),
				 errmsg("trip has already departed"),
				 errdetail("Trip %s is past its departure time.", trip_str)));

	/* after the lock: a fresh snapshot sees every committed booking */
	{
		Oid			t[2] = {UUIDOID, UUIDOID};
		Datum		v[2] = {trip_id, user_id};

		run(prepare(&plan_dup,
					"SELECT EXISTS (SELECT 1 FROM steppergo.bookings b"
					"                WHERE b.trip_id = $1 AND b.user_id = $2"
					"                  AND b.status IN ('PENDING', 'CONFIRMED'))",
					2, t),
			v, NULL, false, SPI_OK_SELECT);
		if (DatumGetBool(col_datum(1, &isnull)))
			ereport(ERROR,
					(errcode(ERRCODE_SG_CONFLICT),
					 errmsg("user already has a live booking on this trip"),
					 errhint("Cancel the existing booking first, or change it.")));
	}

	if (strcmp(trip.trip_type, "PRIVATE") == 0)
	{
		if (trip.available_seats < trip.total_seats)
			ereport(ERROR,
					(errcode(ERRCODE_SG_CONFLICT),
					 errmsg("private trip is already booked"),
					 errdetail("Trip %s is PRIVATE and has a live booking.", trip_str)));
		if (seats > trip.total_seats)
			ereport(ERROR,
					(errcode(ERRCODE_SG_CONFLICT),
					 errmsg("not enough seats on the trip"),
					 errdetail("%d seats requested, the vehicle has %d.", seats, trip.total_seats)));
	}
	else if (seats > trip.available_seats)
		ereport(ERROR,
				(errcode(ERRCODE_SG_CONFLICT),
				 errmsg("not enough seats left on the trip"),
				 errdetail("%d seats requested, %d available.", seats, trip.available_seats)));
}

/*
 * book_seats(trip_id uuid, user_id uuid, seats integer,
 *			  passengers jsonb DEFAULT '[]',
 *			  payment_method payment_method_type DEFAULT 'ONLINE') RETURNS uuid
 *
 * The fast path is one statement: the UPDATE of the trip takes its row lock
 * and re-checks every condition on the newest row version (READ COMMITTED
 * re-evaluation), the booking is inserted from its RETURNING, and the
 * partial unique index on live bookings (ON CONFLICT DO NOTHING) catches a
 * second live booking of the user.  So the trip's lock is held for one
 * statement and the commit, like the bare UPDATE + INSERT.  When the UPDATE
 * matches nothing, book_refusal() finds out why under the lock.
 */
Datum
sg_trips_book_seats(PG_FUNCTION_ARGS)
{
	Datum		trip_id,
				user_id;
	int32		seats;
	Jsonb	   *passengers;
	Datum		method;
	Oid			method_type;
	int			npassengers;
	bool		isnull;
	Datum		passengers_d;
	Datum		sees_all;
	Datum		tenant;
	bool		tenant_null;
	Datum		result = (Datum) 0;
	char	   *trip_str;
	int			attempt;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("trip_id must not be null")));
	if (PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("user_id must not be null")));
	if (PG_ARGISNULL(2))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("seats must not be null")));
	if (PG_ARGISNULL(3))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("passengers must not be null")));
	if (PG_ARGISNULL(4))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("payment_method must not be null")));

	trip_id = PG_GETARG_DATUM(0);
	user_id = PG_GETARG_DATUM(1);
	seats = PG_GETARG_INT32(2);
	passengers = PG_GETARG_JSONB_P(3);
	method = PG_GETARG_DATUM(4);
	method_type = get_fn_expr_argtype(fcinfo->flinfo, 4);
	if (!OidIsValid(method_type))
		elog(ERROR, "could not determine the type of payment_method");

	if (seats < 1 || seats > MAX_SEATS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("seats must be between 1 and %d", MAX_SEATS),
				 errdetail("seats is %d.", seats)));
	if (!JB_ROOT_IS_ARRAY(passengers) || JB_ROOT_IS_SCALAR(passengers))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("passengers must be a JSON array"),
				 errhint("One entry per seat: [{\"name\": \"Aigerim\", \"phone\": \"+77001234567\"}]; "
						 "an empty array books one seat for the user.")));
	npassengers = JB_ROOT_COUNT(passengers);
	if (npassengers == 0 && seats != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("passengers must list one entry per seat"),
				 errdetail("%d seats requested, no passengers given.", seats),
				 errhint("An empty passengers array is accepted for one seat only: the user travels.")));
	if (npassengers != 0 && npassengers != seats)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("passengers must list one entry per seat"),
				 errdetail("%d seats requested, %d passengers given.", seats, npassengers)));

	trip_str = uuid_str(trip_id);
	SPI_connect();

	/*
	 * Before any lock: the caller acts for the user, who exists; which
	 * tenants' trips the caller sees; the passenger list (default: the user).
	 */
	{
		Oid			t[2] = {UUIDOID, JSONBOID};
		Datum		v[2] = {user_id, PointerGetDatum(passengers)};

		run(prepare(&plan_user,
					"SELECT steppergo.assert_acting_as($1),"
					"       steppergo.is_trusted_caller() OR steppergo.current_app_role() IS NOT DISTINCT FROM 'ADMIN',"
					"       steppergo.current_tenant_id(),"
					"       CASE WHEN jsonb_array_length($2) = 0"
					"            THEN jsonb_build_array(jsonb_strip_nulls(jsonb_build_object('name', u.name, 'phone', u.phone)))"
					"            ELSE $2 END"
					"  FROM steppergo.users u WHERE u.id = $1",
					2, t),
			v, NULL, true, SPI_OK_SELECT);
		if (SPI_processed == 0)
		{
			/* refuse callers who may not act for that id before saying more */
			assert_acting_as(user_id);
			ereport(ERROR,
					(errcode(ERRCODE_SG_NOT_FOUND),
					 errmsg("user not found"),
					 errdetail("No user with id %s.", uuid_str(user_id))));
		}
		sees_all = col_datum(2, &isnull);
		tenant = col_datum(3, &tenant_null);
		if (!tenant_null)
			tenant = SPI_datumTransfer(tenant, false, UUID_LEN);
		passengers_d = SPI_datumTransfer(col_datum(4, &isnull), false, -1);
	}

	for (attempt = 0;; attempt++)
	{
		Oid			t[8] = {UUIDOID, UUIDOID, INT4OID, JSONBOID, method_type, INT4OID, BOOLOID, UUIDOID};
		Datum		v[8] = {trip_id, user_id, Int32GetDatum(seats), passengers_d, method,
		Int32GetDatum(sg_trips_payment_timeout), sees_all, tenant};
		char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', tenant_null ? 'n' : ' '};
		bool		seated;

		run(prepare(&plan_book,
					"WITH seat AS ("
					"  UPDATE steppergo.trips t"
					"     SET available_seats = CASE WHEN t.trip_type = 'PRIVATE' THEN 0 ELSE t.available_seats - $3 END,"
					"         status = CASE WHEN t.status = 'PUBLISHED'"
					"                        AND (t.trip_type = 'PRIVATE' OR t.available_seats = $3)"
					"                       THEN 'FULL'::steppergo.trip_status ELSE t.status END"
					"   WHERE t.id = $1"
					"     AND t.status IN ('PUBLISHED', 'OFFERED')"
					"     AND t.departure_time > now()"
					"     AND CASE WHEN t.trip_type = 'PRIVATE'"
					"              THEN t.available_seats = t.total_seats AND $3 <= t.total_seats"
					"              ELSE t.available_seats >= $3 END"
					"     AND (t.tenant_id IS NULL OR $7 OR t.tenant_id = $8)"
					"  RETURNING t.trip_type, t.total_seats, t.base_price, t.price_per_seat, t.currency, t.status),"
					" ins AS ("
					"  INSERT INTO steppergo.bookings (trip_id, user_id, status, seats_booked, total_amount, currency,"
					"                                  passengers, payment_method_type, confirmed_at, expires_at)"
					"  SELECT $1, $2,"
					"         CASE WHEN $5 = 'ONLINE' THEN 'PENDING' ELSE 'CONFIRMED' END::steppergo.booking_status,"
					"         CASE WHEN s.trip_type = 'PRIVATE' THEN s.total_seats ELSE $3 END,"
					"         CASE WHEN s.trip_type = 'PRIVATE' THEN s.base_price ELSE s.price_per_seat * $3 END,"
					"         s.currency, $4, $5,"
					"         CASE WHEN $5 = 'ONLINE' THEN NULL ELSE now() END,"
					"         CASE WHEN $5 = 'ONLINE' THEN now() + make_interval(mins => $6) END"
					"    FROM seat s"
					"  ON CONFLICT (trip_id, user_id) WHERE status IN ('PENDING', 'CONFIRMED') DO NOTHING"
					"  RETURNING id),"
					" hist AS ("
					"  INSERT INTO steppergo.trip_status_history (trip_id, from_status, to_status, actor_id, reason)"
					"  SELECT $1, 'PUBLISHED', 'FULL', $2, 'last seat booked'"
					"    FROM seat s WHERE s.status = 'FULL' AND EXISTS (SELECT 1 FROM ins))"
					"SELECT EXISTS (SELECT 1 FROM seat), (SELECT id FROM ins)",
					8, t),
			v, nulls, false, SPI_OK_SELECT);
		seated = DatumGetBool(col_datum(1, &isnull));
		if (seated)
		{
			result = col_datum(2, &isnull);
			if (isnull)
				ereport(ERROR,
						(errcode(ERRCODE_SG_CONFLICT),
						 errmsg("user already has a live booking on this trip"),
						 errhint("Cancel the existing booking first, or change it.")));
			result = SPI_datumTransfer(result, false, UUID_LEN);
			break;
		}
		if (attempt > 0)
			elog(ERROR, "book_seats: trip %s could not be booked although nothing refuses it", trip_str);
		/* raises the refusal; returns only if a concurrent change lifted it */
		book_refusal(trip_id, user_id, seats, trip_str);
	}

	SPI_finish();
	PG_RETURN_DATUM(result);
}

/*
 * The common path of cancel_booking and the expiry job.  Returns false
 * (nothing done) in expiry mode when the booking is no longer an expired
 * unpaid booking; raises otherwise.
 *
 * Under the trip's lock there are two statements: the lock itself (it
 * tells whether the trip is FULL and so reopens) and one statement that
 * cancels the booking (locking and re-checking it), gives the seats back,
 * records the reopening and marks a paid payment for refund.
 */
static bool
cancel_one(Datum booking_id, const char *reason, bool expiry)
{
	Oid			t1[2] = {UUIDOID, BOOLOID};
	Datum		v1[2] = {booking_id, BoolGetDatum(!expiry)};
	Datum		trip_id;
	bool		isnull;
	TripRow		trip;
	bool		reopens;
	char	   *booking_str = uuid_str(booking_id);

	run(prepare(&plan_booking_owner,
				"SELECT b.trip_id, CASE WHEN $2 THEN steppergo.assert_acting_as(b.user_id) END"
				"  FROM steppergo.bookings b WHERE b.id = $1",
				2, t1),
		v1, NULL, false, SPI_OK_SELECT);
	if (SPI_processed == 0)
	{
		if (expiry)
			return false;
		ereport(ERROR,
				(errcode(ERRCODE_SG_NOT_FOUND),
				 errmsg("booking not found"),
				 errdetail("No booking with id %s.", booking_str)));
	}
	trip_id = SPI_datumTransfer(col_datum(1, &isnull), false, UUID_LEN);

	/* lock order: trip, booking, payment */
	if (!lock_trip(trip_id, &trip))
		elog(ERROR, "trip of booking %s vanished", booking_str);
	reopens = strcmp(trip.status, "FULL") == 0;

	{
		Oid			t[5] = {UUIDOID, UUIDOID, TEXTOID, BOOLOID, BOOLOID};
		Datum		v[5];
		char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

		v[0] = booking_id;
		v[1] = trip_id;
		if (reason)
			v[2] = CStringGetTextDatum(reason);
		else
		{
			v[2] = (Datum) 0;
			nulls[2] = 'n';
		}
		v[3] = BoolGetDatum(reopens);
		v[4] = BoolGetDatum(expiry);

		run(prepare(&plan_cancel,
					"WITH bk AS ("
					"  UPDATE steppergo.bookings b"
					"     SET status = 'CANCELLED', cancelled_at = now(), cancellation_reason = $3,"
					"         expires_at = NULL"
					"   WHERE b.id = $1 AND b.status IN ('PENDING', 'CONFIRMED') AND b.boarded_at IS NULL"
					"     AND (NOT $5 OR (b.status = 'PENDING' AND b.expires_at <= now()))"
					"  RETURNING b.seats_booked),"
					" seat AS ("
					"  UPDATE steppergo.trips t"
					"     SET available_seats = t.available_seats + bk.seats_booked,"
					"         status = CASE WHEN $4 THEN 'PUBLISHED'::steppergo.trip_status ELSE t.status END"
					"    FROM bk WHERE t.id = $2 RETURNING t.id),"
					" hist AS ("
					"  INSERT INTO steppergo.trip_status_history (trip_id, from_status, to_status, actor_id, reason)"
					"  SELECT $2, 'FULL', 'PUBLISHED', steppergo.current_user_id(), 'seats released by a cancelled booking'"
					"    FROM seat WHERE $4),"
					" pay AS ("
					"  UPDATE steppergo.payments p SET refund_requested_at = now()"
					"    FROM bk WHERE p.booking_id = $1 AND p.status = 'SUCCEEDED' AND p.refund_requested_at IS NULL)"
					"SELECT EXISTS (SELECT 1 FROM bk)",
					5, t),
			v, nulls, false, SPI_OK_SELECT);
		if (DatumGetBool(col_datum(1, &isnull)))
			return true;
	}

	/* nothing cancelled: say why (read after the lock, so current) */
	if (expiry)
		return false;
	run(prepare(&plan_lock_booking,
				"SELECT b.status::text, b.boarded_at IS NOT NULL FROM steppergo.bookings b WHERE b.id = $1",
				1, t1),
		&booking_id, NULL, false, SPI_OK_SELECT);
	if (SPI_processed == 0)
		elog(ERROR, "booking %s vanished", booking_str);
	if (DatumGetBool(col_datum(2, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_SG_CONFLICT),
				 errmsg("passenger has already boarded"),
				 errdetail("Booking %s was boarded; it completes with the trip.", booking_str)));
	ereport(ERROR,
			(errcode(ERRCODE_SG_CONFLICT),
			 errmsg("booking is not live"),
			 errdetail("Booking %s is %s; only PENDING or CONFIRMED bookings can be cancelled.",
					   booking_str, col_text(1))));
	return false;				/* not reached */
}

/* cancel_booking(booking_id uuid, reason text DEFAULT NULL) RETURNS void */
Datum
sg_trips_cancel_booking(PG_FUNCTION_ARGS)
{
	char	   *reason = NULL;

	if (PG_ARGISNULL(0))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("booking_id must not be null")));
	if (!PG_ARGISNULL(1))
	{
		reason = text_to_cstring(PG_GETARG_TEXT_PP(1));
		if (pg_mbstrlen(reason) > MAX_REASON)
			ereport(ERROR,
					(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
					 errmsg("reason must be at most %d characters", MAX_REASON)));
	}
	SPI_connect();
	cancel_one(PG_GETARG_DATUM(0), reason, false);
	SPI_finish();
	PG_RETURN_VOID();
}

/*
 * expire_booking(booking_id uuid) RETURNS boolean: internal, for the expiry
 * job.  Cancels the booking when it is still PENDING past expires_at; false
 * when it is not (paid meanwhile, cancelled, or gone).
 */
Datum
sg_trips_expire_booking(PG_FUNCTION_ARGS)
{
	bool		done;

	if (PG_ARGISNULL(0))
		PG_RETURN_BOOL(false);
	SPI_connect();
	done = cancel_one(PG_GETARG_DATUM(0), "payment not received in time", true);
	SPI_finish();
	PG_RETURN_BOOL(done);
}
