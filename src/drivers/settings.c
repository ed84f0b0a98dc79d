/*-------------------------------------------------------------------------
 *
 * settings.c
 *	  Settings of the drivers domain (steppergo.driver_*), see
 *	  src/drivers/README.md.
 *
 *-------------------------------------------------------------------------
 */
#include "drivers.h"

#include "utils/guc.h"

int			sg_drivers_offline_after = 300;
int			sg_drivers_activity_interval = 60;
int			sg_drivers_batch_max = 10000;

void
sg_drivers_init(void)
{
	DefineCustomIntVariable("steppergo.driver_offline_after",
							"An ONLINE driver without a position for this long goes OFFLINE.",
							"Checked by the auto-offline pg_cron job every minute.",
							&sg_drivers_offline_after,
							300, 30, 86400,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("steppergo.driver_activity_interval",
							"Least time between two writes of drivers.last_activity_at by position pings.",
							"Positions are always written; the driver row only when its last_activity_at "
							"is older than this (0 = on every ping).",
							&sg_drivers_activity_interval,
							60, 0, 3600,
							PGC_SUSET,
							GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("steppergo.location_batch_max",
							"Most pings update_driver_locations accepts in one call.",
							NULL,
							&sg_drivers_batch_max,
							10000, 1, 1000000,
							PGC_SUSET,
							0,
							NULL, NULL, NULL);
}
