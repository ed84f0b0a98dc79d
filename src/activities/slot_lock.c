/*-------------------------------------------------------------------------
 *
 * slot_lock.c
 *	  Capacity-safe booking of activity slots: one booker per slot at a time,
 *	  and a count of the places held that sees every committed booking.
 *
 *	  steppergo.activity_slot_lock(activity_id, date, time) takes a
 *	  transaction-level advisory lock on the slot and then counts the
 *	  participants of its PENDING and CONFIRMED bookings with the latest
 *	  snapshot, not the transaction's.  Under READ COMMITTED a fresh
 *	  statement snapshot would do, but a REPEATABLE READ or SERIALIZABLE
 *	  transaction keeps the snapshot it took before waiting for the lock and
 *	  would miss the booking that made it wait (the isolation spec
 *	  activities_last_places shows the oversell).  Foreign-key checks solve
 *	  the same problem the same way (ri_PerformCheck).
 *
 *-------------------------------------------------------------------------
 */
#include "steppergo.h"

#include "catalog/pg_type_d.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/snapmgr.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(sg_activities_slot_lock);

static SPIPlanPtr held_plan = NULL;

/* Advisory lock key space of the slot locks (second half of the key). */
#define SG_ACTIVITIES_LOCK_CLASS 0x4143	/* "AC" */

Datum
sg_activities_slot_lock(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *activity;
	DateADT		slot_date;
	TimeADT		slot_time;
	uint64		h;
	LOCKTAG		tag;
	Datum		values[3];
	int			rc;
	bool		isnull;
	int32		held;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("activity_id, scheduled_date and scheduled_time must not be null")));
	activity = PG_GETARG_UUID_P(0);
	slot_date = PG_GETARG_DATEADT(1);
	slot_time = PG_GETARG_TIMEADT(2);

	/*
	 * One advisory lock per slot, held to the end of the transaction.  A hash
	 * collision between two slots only makes them wait for each other.
	 */
	h = hash_bytes_extended(activity->data, UUID_LEN,
							((uint64) (uint32) slot_date << 32) ^ (uint64) slot_time);
	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, (uint32) (h >> 32), (uint32) h,
						 SG_ACTIVITIES_LOCK_CLASS);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);

	values[0] = UUIDPGetDatum(activity);
	values[1] = DateADTGetDatum(slot_date);
	values[2] = TimeADTGetDatum(slot_time);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (held_plan == NULL)
	{
		Oid			types[3] = {UUIDOID, DATEOID, TIMEOID};
		SPIPlanPtr	plan;

		plan = SPI_prepare("SELECT coalesce(sum(b.participants), 0)::int4"
						   "  FROM steppergo.activity_bookings b"
						   " WHERE b.activity_id = $1 AND b.scheduled_date = $2"
						   "   AND b.scheduled_time = $3"
						   "   AND b.status IN ('PENDING', 'CONFIRMED')",
						   3, types);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		if (SPI_keepplan(plan) != 0)
			elog(ERROR, "SPI_keepplan failed");
		held_plan = plan;
	}

	/* count with the latest snapshot: every booking committed before the lock */
	CommandCounterIncrement();
	rc = SPI_execute_snapshot(held_plan, values, NULL, GetLatestSnapshot(),
							  InvalidSnapshot, false, false, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "counting the places of a slot failed: %s", SPI_result_code_string(rc));
	held = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();

	PG_RETURN_INT32(held);
}
