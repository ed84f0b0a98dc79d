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
 * book_seats(trip_id uuid, user_id uuid, seats integer,
 *			  passengers jsonb DEFAULT '[]',
 *			  payment_method payment_method_type DEFAULT 'ONLINE') RETURNS uuid
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
	TripRow		trip;
	bool		isnull;
	bool		is_private;
	int32		seats_booked;
	bool		becomes_full;
	Datum		passengers_d;
	Datum		result;
	char	   *trip_str;

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

	/* the caller acts for the user, who exists; default passenger list */
	{
		Oid			t[2] = {UUIDOID, JSONBOID};
		Datum		v[2] = {user_id, PointerGetDatum(passengers)};

		run(prepare(&plan_user,
					"SELECT steppergo.assert_acting_as($1),"
					"       CASE WHEN jsonb_array_length($2) = 0"
					"            THEN jsonb_build_array(jsonb_strip_nulls(jsonb_build_object('name', u.name, 'phone', u.phone)))"
					"            ELSE $2 END"
					"  FROM (SELECT 1) one LEFT JOIN steppergo.users u ON u.id = $1"
					" WHERE u.id IS NOT NULL",
					2, t),
			v, NULL, true, SPI_OK_SELECT);
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_SG_NOT_FOUND),
					 errmsg("user not found"),
					 errdetail("No user with id %s.", uuid_str(user_id))));
		passengers_d = SPI_datumTransfer(col_datum(2, &isnull), false, -1);
	}

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

	is_private = strcmp(trip.trip_type, "PRIVATE") == 0;
	if (is_private)
	{
		/* the whole vehicle: one live booking holding every seat */
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
		seats_booked = trip.total_seats;
	}
	else
	{
		if (seats > trip.available_seats)
			ereport(ERROR,
					(errcode(ERRCODE_SG_CONFLICT),
					 errmsg("not enough seats left on the trip"),
					 errdetail("%d seats requested, %d available.", seats, trip.available_seats)));
		seats_booked = seats;
	}
	becomes_full = trip.available_seats - seats_booked == 0 &&
		strcmp(trip.status, "PUBLISHED") == 0;

	/* booking, seats and (when it fills up) the status move, in one statement */
	{
		Oid			t[7] = {UUIDOID, UUIDOID, INT4OID, JSONBOID, method_type, INT4OID, BOOLOID};
		Datum		v[7] = {trip_id, user_id, Int32GetDatum(seats_booked), passengers_d, method,
		Int32GetDatum(sg_trips_payment_timeout), BoolGetDatum(becomes_full)};

		run(prepare(&plan_book,
					"WITH seat AS ("
					"  UPDATE steppergo.trips t"
					"     SET available_seats = t.available_seats - $3,"
					"         status = CASE WHEN $7 THEN 'FULL'::steppergo.trip_status ELSE t.status END"
					"   WHERE t.id = $1"
					"  RETURNING t.trip_type, t.base_price, t.price_per_seat, t.currency),"
					" hist AS ("
					"  INSERT INTO steppergo.trip_status_history (trip_id, from_status, to_status, actor_id, reason)"
					"  SELECT $1, 'PUBLISHED', 'FULL', $2, 'last seat booked' WHERE $7)"
					"INSERT INTO steppergo.bookings (trip_id, user_id, status, seats_booked, total_amount, currency,"
					"                                passengers, payment_method_type, confirmed_at, expires_at)"
					"SELECT $1, $2,"
					"       CASE WHEN $5 = 'ONLINE' THEN 'PENDING' ELSE 'CONFIRMED' END::steppergo.booking_status,"
					"       $3,"
					"       CASE WHEN s.trip_type = 'PRIVATE' THEN s.base_price ELSE s.price_per_seat * $3 END,"
					"       s.currency, $4, $5,"
					"       CASE WHEN $5 = 'ONLINE' THEN NULL ELSE now() END,"
					"       CASE WHEN $5 = 'ONLINE' THEN now() + make_interval(mins => $6) END"
					"  FROM seat s "
					"RETURNING id",
					7, t),
			v, NULL, false, SPI_OK_INSERT_RETURNING);
		if (SPI_processed != 1)
			elog(ERROR, "book_seats: the booking was not written");
		result = SPI_datumTransfer(col_datum(1, &isnull), false, UUID_LEN);
	}

	SPI_finish();
	PG_RETURN_DATUM(result);
}

/*
 * The common path of cancel_booking and the expiry job.  Returns false
 * (nothing done) in expiry mode when the booking is no longer an expired
 * unpaid booking; raises otherwise.
 */
static bool
cancel_one(Datum booking_id, const char *reason, bool expiry)
{
	Oid			t1[1] = {UUIDOID};
	Datum		trip_id;
	Datum		user_id;
	bool		isnull;
	TripRow		trip;
	char	   *status;
	int32		seats_booked;
	bool		boarded;
	bool		expired;
	bool		reopens;
	char	   *booking_str = uuid_str(booking_id);

	run(prepare(&plan_booking_owner,
				"SELECT b.trip_id, b.user_id FROM steppergo.bookings b WHERE b.id = $1",
				1, t1),
		&booking_id, NULL, false, SPI_OK_SELECT);
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
	user_id = SPI_datumTransfer(col_datum(2, &isnull), false, UUID_LEN);

	if (!expiry)
		assert_acting_as(user_id);

	/* lock order: trip, booking, payment */
	if (!lock_trip(trip_id, &trip))
		elog(ERROR, "trip of booking %s vanished", booking_str);

	run(prepare(&plan_lock_booking,
				"SELECT b.status::text, b.seats_booked, b.boarded_at IS NOT NULL,"
				"       b.status = 'PENDING' AND b.expires_at <= now()"
				"  FROM steppergo.bookings b WHERE b.id = $1 FOR UPDATE OF b",
				1, t1),
		&booking_id, NULL, false, SPI_OK_SELECT);
	if (SPI_processed == 0)
		elog(ERROR, "booking %s vanished", booking_str);
	status = col_text(1);
	seats_booked = DatumGetInt32(col_datum(2, &isnull));
	boarded = DatumGetBool(col_datum(3, &isnull));
	expired = DatumGetBool(col_datum(4, &isnull));

	if (expiry && !expired)
		return false;
	if (strcmp(status, "PENDING") != 0 && strcmp(status, "CONFIRMED") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_SG_CONFLICT),
				 errmsg("booking is not live"),
				 errdetail("Booking %s is %s; only PENDING or CONFIRMED bookings can be cancelled.",
						   booking_str, status)));
	if (boarded)
		ereport(ERROR,
				(errcode(ERRCODE_SG_CONFLICT),
				 errmsg("passenger has already boarded"),
				 errdetail("Booking %s was boarded; it completes with the trip.", booking_str)));

	reopens = strcmp(trip.status, "FULL") == 0;

	{
		Oid			t[5] = {UUIDOID, UUIDOID, INT4OID, TEXTOID, BOOLOID};
		Datum		v[5];
		char		nulls[5] = {' ', ' ', ' ', ' ', ' '};

		v[0] = booking_id;
		v[1] = trip_id;
		v[2] = Int32GetDatum(seats_booked);
		if (reason)
			v[3] = CStringGetTextDatum(reason);
		else
		{
			v[3] = (Datum) 0;
			nulls[3] = 'n';
		}
		v[4] = BoolGetDatum(reopens);

		run(prepare(&plan_cancel,
					"WITH bk AS ("
					"  UPDATE steppergo.bookings b"
					"     SET status = 'CANCELLED', cancelled_at = now(), cancellation_reason = $4,"
					"         expires_at = NULL"
					"   WHERE b.id = $1 RETURNING b.user_id),"
					" seat AS ("
					"  UPDATE steppergo.trips t"
					"     SET available_seats = t.available_seats + $3,"
					"         status = CASE WHEN $5 THEN 'PUBLISHED'::steppergo.trip_status ELSE t.status END"
					"   WHERE t.id = $2 RETURNING t.id),"
					" hist AS ("
					"  INSERT INTO steppergo.trip_status_history (trip_id, from_status, to_status, actor_id, reason)"
					"  SELECT $2, 'FULL', 'PUBLISHED', steppergo.current_user_id(), 'seats released by a cancelled booking'"
					"   WHERE $5)"
					"UPDATE steppergo.payments p SET refund_requested_at = now()"
					" WHERE p.booking_id = $1 AND p.status = 'SUCCEEDED' AND p.refund_requested_at IS NULL"
					"   AND EXISTS (SELECT 1 FROM bk) AND EXISTS (SELECT 1 FROM seat)",
					5, t),
			v, nulls, false, SPI_OK_UPDATE);
	}
	return true;
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
