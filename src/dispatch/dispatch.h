/*-------------------------------------------------------------------------
 *
 * dispatch.h
 *	  Declarations shared by the C files of the dispatch domain: settings,
 *	  geodesic distances and the dispatch score.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SG_DISPATCH_H
#define SG_DISPATCH_H

#include "steppergo.h"

/* settings (settings.c); see src/dispatch/README.md */
extern int	sg_dispatch_position_max_age;
extern double sg_dispatch_rating_weight;
extern double sg_dispatch_acceptance_weight;
extern int	sg_dispatch_acceptance_timeout;
extern double sg_dispatch_radius_factor;
extern int	sg_dispatch_max_radius;
extern int	sg_dispatch_trip_window;
extern int	sg_dispatch_job_interval;
extern int	sg_dispatch_job_duration;

/* geodesic.c */
extern double sg_dispatch_spheroid_distance(double lat1, double lng1,
											double lat2, double lng2);
extern double sg_dispatch_sphere_distance(double lat1, double lng1,
										  double lat2, double lng2);
extern double sg_dispatch_rating_penalty(double rating, int review_count);
extern double sg_dispatch_acceptance_penalty(double rate, bool rate_isnull);
extern double sg_dispatch_effective_distance(double distance_m,
											 double rating_penalty,
											 double acceptance_penalty);
extern double sg_dispatch_score(double effective_distance_m);

/* PostGIS's sphere radius for geography KNN: the WGS84 mean radius */
#define SG_SPHERE_RADIUS 6371008.7714150598

#endif							/* SG_DISPATCH_H */
