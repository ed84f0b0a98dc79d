/*-------------------------------------------------------------------------
 *
 * settings.c
 *	  Settings of the trips domain.
 *
 *	steppergo.booking_payment_timeout  minutes an unpaid ONLINE booking
 *	                                   holds its seats (default 15)
 *	steppergo.boarding_wait            minutes past DRIVER_ARRIVED before the
 *	                                   driver may mark a no-show (default 5)
 *
 * Both are PGC_SUSET: a DBA sets them in postgresql.conf, ALTER SYSTEM or
 * ALTER DATABASE; API roles cannot change them for their own requests.
 *
 *-------------------------------------------------------------------------
 */
#include "steppergo.h"

#include "utils/guc.h"

#include "trips/trips.h"

int			sg_trips_payment_timeout = 15;
int			sg_trips_boarding_wait = 5;

void
sg_trips_init(void)
{
	DefineCustomIntVariable("steppergo.booking_payment_timeout",
							"Minutes an unpaid ONLINE booking holds its seats before it expires.",
							"book_seats sets bookings.expires_at this far ahead; the job "
							"steppergo_expire_unpaid_bookings cancels what is still unpaid.",
							&sg_trips_payment_timeout,
							15, 1, 1440,
							PGC_SUSET, GUC_UNIT_MIN,
							NULL, NULL, NULL);
	DefineCustomIntVariable("steppergo.boarding_wait",
							"Minutes past the driver's arrival before a passenger may be marked a no-show.",
							NULL,
							&sg_trips_boarding_wait,
							5, 0, 120,
							PGC_SUSET, GUC_UNIT_MIN,
							NULL, NULL, NULL);
}
