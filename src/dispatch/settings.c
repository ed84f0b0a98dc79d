/*-------------------------------------------------------------------------
 *
 * settings.c
 *	  Settings of the dispatch domain (steppergo.dispatch_*).  Every one is
 *	  documented in src/dispatch/README.md.
 *
 *-------------------------------------------------------------------------
 */
#include "dispatch.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/guc.h"

int			sg_dispatch_position_max_age = 60;
double		sg_dispatch_rating_weight = 0.2;
double		sg_dispatch_acceptance_weight = 0.1;
int			sg_dispatch_acceptance_timeout = 20;
double		sg_dispatch_radius_factor = 2.0;
int			sg_dispatch_max_radius = 50000;
int			sg_dispatch_trip_window = 120;
int			sg_dispatch_job_interval = 2;
int			sg_dispatch_job_duration = 55;

void
sg_dispatch_init(void)
{
	DefineCustomIntVariable("steppergo.dispatch_position_max_age",
							"Seconds a driver's last position stays fresh enough for matching.",
							"Drivers whose driver_locations.last_updated is older are not matched.",
							&sg_dispatch_position_max_age,
							60, 1, 7 * 24 * 3600,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomRealVariable("steppergo.dispatch_rating_weight",
							 "Weight of the rating penalty in the dispatch score.",
							 "effective distance = distance * (1 + rating_weight * rating penalty + acceptance_weight * acceptance penalty).",
							 &sg_dispatch_rating_weight,
							 0.2, 0.0, 10.0,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomRealVariable("steppergo.dispatch_acceptance_weight",
							 "Weight of the acceptance-rate penalty in the dispatch score.",
							 NULL,
							 &sg_dispatch_acceptance_weight,
							 0.1, 0.0, 10.0,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("steppergo.dispatch_acceptance_timeout",
							"Seconds a driver has to accept an offered trip.",
							NULL,
							&sg_dispatch_acceptance_timeout,
							20, 5, 600,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomRealVariable("steppergo.dispatch_radius_factor",
							 "Factor by which the offer radius widens when no driver is eligible.",
							 NULL,
							 &sg_dispatch_radius_factor,
							 2.0, 1.1, 10.0,
							 PGC_SUSET, 0,
							 NULL, NULL, NULL);
	DefineCustomIntVariable("steppergo.dispatch_max_radius",
							"Largest offer radius in metres the widening reaches.",
							NULL,
							&sg_dispatch_max_radius,
							50000, 100, 2000000,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("steppergo.dispatch_trip_window",
							"Minutes a trip is assumed to occupy its driver after its departure (or return).",
							"A driver assigned to another trip whose window overlaps is not matched.",
							&sg_dispatch_trip_window,
							120, 1, 7 * 24 * 60,
							PGC_SUSET, GUC_UNIT_MIN,
							NULL, NULL, NULL);
	DefineCustomIntVariable("steppergo.dispatch_job_interval",
							"Seconds between two checks for expired offers inside one run of the timeout job.",
							NULL,
							&sg_dispatch_job_interval,
							2, 1, 60,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
	DefineCustomIntVariable("steppergo.dispatch_job_duration",
							"Seconds one run of the timeout job keeps checking (pg_cron starts one a minute).",
							NULL,
							&sg_dispatch_job_duration,
							55, 0, 3600,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
}

PG_FUNCTION_INFO_V1(sg_dispatch_setting);

/*
 * dispatch_setting(name text) → float8: the value of a dispatch setting in
 * its base unit (seconds, minutes, metres), for the SQL of the domain.
 */
Datum
sg_dispatch_setting(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));

	if (strcmp(name, "position_max_age") == 0)
		PG_RETURN_FLOAT8(sg_dispatch_position_max_age);
	if (strcmp(name, "rating_weight") == 0)
		PG_RETURN_FLOAT8(sg_dispatch_rating_weight);
	if (strcmp(name, "acceptance_weight") == 0)
		PG_RETURN_FLOAT8(sg_dispatch_acceptance_weight);
	if (strcmp(name, "acceptance_timeout") == 0)
		PG_RETURN_FLOAT8(sg_dispatch_acceptance_timeout);
	if (strcmp(name, "radius_factor") == 0)
		PG_RETURN_FLOAT8(sg_dispatch_radius_factor);
	if (strcmp(name, "max_radius") == 0)
		PG_RETURN_FLOAT8(sg_dispatch_max_radius);
	if (strcmp(name, "trip_window") == 0)
		PG_RETURN_FLOAT8(sg_dispatch_trip_window);
	if (strcmp(name, "job_interval") == 0)
		PG_RETURN_FLOAT8(sg_dispatch_job_interval);
	if (strcmp(name, "job_duration") == 0)
		PG_RETURN_FLOAT8(sg_dispatch_job_duration);
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown dispatch setting \"%s\"", name)));
	PG_RETURN_NULL();
}
