/*-------------------------------------------------------------------------
 *
 * trips.h
 *	  Declarations shared by the C files of the trips domain.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SG_TRIPS_H
#define SG_TRIPS_H

/* settings (settings.c) */
extern int	sg_trips_payment_timeout;
extern int	sg_trips_boarding_wait;

#endif							/* SG_TRIPS_H */
