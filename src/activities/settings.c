/*-------------------------------------------------------------------------
 *
 * settings.c
 *	  Settings of the activities domain (see src/activities/README.md).
 *
 *	  steppergo.activity_slot_step_minutes: distance between the bookable
 *	  start times of a FLEXIBLE activity inside its opening hours.
 *	  steppergo.activity_hold_minutes: how long an unpaid PENDING activity
 *	  booking holds its places before the expiry job releases them.
 *
 *-------------------------------------------------------------------------
 */
#include "steppergo.h"

#include "utils/guc.h"

static int	sg_activities_slot_step_minutes = 30;
static int	sg_activities_hold_minutes = 30;

void
sg_activities_init(void)
{
	DefineCustomIntVariable("steppergo.activity_slot_step_minutes",
							"Minutes between the bookable start times of a FLEXIBLE activity.",
							"Start times run from each opening time in steps of this many minutes, "
							"as long as the activity ends by the closing time.",
							&sg_activities_slot_step_minutes,
							30, 5, 1440,
							PGC_SUSET, 0,
							NULL, NULL, NULL);

	DefineCustomIntVariable("steppergo.activity_hold_minutes",
							"Minutes an unpaid PENDING activity booking holds its places.",
							"The job steppergo_activity_expire_holds cancels PENDING bookings whose payment "
							"has not started within this time; 0 keeps them until cancelled.",
							&sg_activities_hold_minutes,
							30, 0, 10080,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
}
