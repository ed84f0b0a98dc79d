/*-------------------------------------------------------------------------
 *
 * worker.c
 *	  dispatch_timeout_worker(): the body of the pg_cron job that acts on
 *	  expired offers, working inside its minute.
 *
 * pg_cron starts jobs at most once a minute while offers last 15-30 s.  The
 * procedure takes a session advisory lock (a run that finds it taken returns
 * at once, so runs never overlap), then calls process_acceptance_timeouts()
 * every steppergo.dispatch_job_interval seconds for
 * steppergo.dispatch_job_duration seconds, committing after each call so that
 * every offer it makes, and its notifications, go out at once.  Called inside
 * a transaction block (atomic context) it makes one check and returns.
 *
 *-------------------------------------------------------------------------
 */
#include "dispatch.h"

#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "nodes/parsenodes.h"
#include "storage/latch.h"
#include "utils/fmgrprotos.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

/* advisory lock key (1397180243 = 'SGOS', 4 = issue 4) */
#define WORKER_LOCK_KEY1 1397180243
#define WORKER_LOCK_KEY2 4

PG_FUNCTION_INFO_V1(sg_dispatch_timeout_worker);

static void
unlock_worker(void)
{
	DirectFunctionCall2(pg_advisory_unlock_int4,
						Int32GetDatum(WORKER_LOCK_KEY1),
						Int32GetDatum(WORKER_LOCK_KEY2));
}

Datum
sg_dispatch_timeout_worker(PG_FUNCTION_ARGS)
{
	bool		nonatomic;
	TimestampTz end;

	nonatomic = fcinfo->context != NULL && IsA(fcinfo->context, CallContext) &&
		!castNode(CallContext, fcinfo->context)->atomic;

	if (!DatumGetBool(DirectFunctionCall2(pg_try_advisory_lock_int4,
										  Int32GetDatum(WORKER_LOCK_KEY1),
										  Int32GetDatum(WORKER_LOCK_KEY2))))
		PG_RETURN_VOID();		/* another run is still working */

	end = GetCurrentTimestamp() + (int64) sg_dispatch_job_duration * USECS_PER_SEC;

	PG_TRY();
	{
		if (SPI_connect_ext(nonatomic ? SPI_OPT_NONATOMIC : 0) != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		for (;;)
		{
			TimestampTz next = GetCurrentTimestamp() +
				(int64) sg_dispatch_job_interval * USECS_PER_SEC;
			TimestampTz now;

			if (SPI_execute("SELECT steppergo.process_acceptance_timeouts()", false, 0) != SPI_OK_SELECT)
				elog(ERROR, "process_acceptance_timeouts failed");
			if (!nonatomic)
				break;
			SPI_commit();
			if (next >= end)
				break;
			/* sleep until the next check, interruptibly */
			while ((now = GetCurrentTimestamp()) < next)
			{
				long		ms = (long) ((next - now) / 1000) + 1;

				(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH,
								 ms, PG_WAIT_EXTENSION);
				ResetLatch(MyLatch);
				CHECK_FOR_INTERRUPTS();
			}
		}
		SPI_finish();
	}
	PG_CATCH();
	{
		/* session locks outlive the transaction: release before rethrowing */
		unlock_worker();
		PG_RE_THROW();
	}
	PG_END_TRY();

	unlock_worker();
	PG_RETURN_VOID();
}
