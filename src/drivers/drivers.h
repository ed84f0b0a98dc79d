/*-------------------------------------------------------------------------
 *
 * drivers.h
 *	  Declarations shared by the drivers domain's C files.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SG_DRIVERS_H
#define SG_DRIVERS_H

#include "steppergo.h"

/* settings (settings.c); times in seconds */
extern int	sg_drivers_offline_after;
extern int	sg_drivers_activity_interval;
extern int	sg_drivers_batch_max;

#endif							/* SG_DRIVERS_H */
