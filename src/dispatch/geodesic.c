/*-------------------------------------------------------------------------
 *
 * geodesic.c
 *	  Distances on the WGS84 spheroid and the dispatch score.
 *
 * Distances are computed from the latitude/longitude columns with
 * Vincenty's inverse formula on the WGS84 ellipsoid (a = 6378137 m,
 * f = 1/298.257223563), accurate to well under a millimetre for every pair
 * of points that are not nearly antipodal; PostGIS's ST_Distance(geography,
 * geography) (GeographicLib) agrees to the millimetre.  Nearly antipodal
 * pairs, where the iteration does not converge, fall back to the sphere of
 * the same mean radius (never within any dispatch radius).
 *
 * The score: see src/dispatch/README.md ("Score").
 *
 *-------------------------------------------------------------------------
 */
#include "dispatch.h"

#include <math.h>

#include "fmgr.h"
#include "utils/builtins.h"

#define WGS84_A 6378137.0
#define WGS84_F (1.0 / 298.257223563)
#define DEG2RAD (M_PI / 180.0)

double
sg_dispatch_sphere_distance(double lat1, double lng1, double lat2, double lng2)
{
	double		p1 = lat1 * DEG2RAD;
	double		p2 = lat2 * DEG2RAD;
	double		dp = p2 - p1;
	double		dl = (lng2 - lng1) * DEG2RAD;
	double		h;

	h = sin(dp / 2) * sin(dp / 2) + cos(p1) * cos(p2) * sin(dl / 2) * sin(dl / 2);
	if (h > 1.0)
		h = 1.0;
	return 2.0 * SG_SPHERE_RADIUS * asin(sqrt(h));
}

double
sg_dispatch_spheroid_distance(double lat1, double lng1, double lat2, double lng2)
{
	const double a = WGS84_A;
	const double f = WGS84_F;
	const double b = a * (1.0 - f);
	double		L;
	double		U1,
				U2,
				sinU1,
				cosU1,
				sinU2,
				cosU2;
	double		lambda,
				lambdaP;
	double		sinSigma = 0,
				cosSigma = 0,
				sigma = 0,
				cos2Alpha = 0,
				cos2SigmaM = 0;
	double		u2,
				A,
				B,
				deltaSigma;
	int			iter;
	bool		converged = false;

	if (lat1 == lat2 && lng1 == lng2)
		return 0.0;

	L = (lng2 - lng1) * DEG2RAD;
	while (L > M_PI)
		L -= 2 * M_PI;
	while (L < -M_PI)
		L += 2 * M_PI;
	U1 = atan((1.0 - f) * tan(lat1 * DEG2RAD));
	U2 = atan((1.0 - f) * tan(lat2 * DEG2RAD));
	sinU1 = sin(U1);
	cosU1 = cos(U1);
	sinU2 = sin(U2);
	cosU2 = cos(U2);

	lambda = L;
	for (iter = 0; iter < 200; iter++)
	{
		double		sinLambda = sin(lambda);
		double		cosLambda = cos(lambda);
		double		sinAlpha;
		double		C;
		double		t1 = cosU2 * sinLambda;
		double		t2 = cosU1 * sinU2 - sinU1 * cosU2 * cosLambda;

		sinSigma = sqrt(t1 * t1 + t2 * t2);
		if (sinSigma == 0.0)
			return 0.0;			/* coincident points */
		cosSigma = sinU1 * sinU2 + cosU1 * cosU2 * cosLambda;
		sigma = atan2(sinSigma, cosSigma);
		sinAlpha = cosU1 * cosU2 * sinLambda / sinSigma;
		cos2Alpha = 1.0 - sinAlpha * sinAlpha;
		cos2SigmaM = (cos2Alpha != 0.0) ? cosSigma - 2.0 * sinU1 * sinU2 / cos2Alpha : 0.0;
		C = f / 16.0 * cos2Alpha * (4.0 + f * (4.0 - 3.0 * cos2Alpha));
		lambdaP = lambda;
		lambda = L + (1.0 - C) * f * sinAlpha *
			(sigma + C * sinSigma * (cos2SigmaM + C * cosSigma * (-1.0 + 2.0 * cos2SigmaM * cos2SigmaM)));
		if (fabs(lambda - lambdaP) < 1e-12)
		{
			converged = true;
			break;
		}
	}
	if (!converged)
		return sg_dispatch_sphere_distance(lat1, lng1, lat2, lng2);

	u2 = cos2Alpha * (a * a - b * b) / (b * b);
	A = 1.0 + u2 / 16384.0 * (4096.0 + u2 * (-768.0 + u2 * (320.0 - 175.0 * u2)));
	B = u2 / 1024.0 * (256.0 + u2 * (-128.0 + u2 * (74.0 - 47.0 * u2)));
	deltaSigma = B * sinSigma * (cos2SigmaM + B / 4.0 *
								 (cosSigma * (-1.0 + 2.0 * cos2SigmaM * cos2SigmaM) -
								  B / 6.0 * cos2SigmaM * (-3.0 + 4.0 * sinSigma * sinSigma) *
								  (-3.0 + 4.0 * cos2SigmaM * cos2SigmaM)));
	return b * A * (sigma - deltaSigma);
}

/*
 * Rating penalty in [0, 1]: 0 for 5 stars, 1 for 1 star; a driver without
 * reviews counts as 3 stars (0.5), neither favoured nor punished.
 */
double
sg_dispatch_rating_penalty(double rating, int review_count)
{
	double		p;

	if (review_count <= 0 || rating <= 0.0)
		return 0.5;
	p = (5.0 - rating) / 4.0;
	return p < 0.0 ? 0.0 : (p > 1.0 ? 1.0 : p);
}

/* Acceptance penalty in [0, 1]: 1 - acceptance rate; unknown counts as 0.5. */
double
sg_dispatch_acceptance_penalty(double rate, bool rate_isnull)
{
	double		p;

	if (rate_isnull)
		return 0.5;
	p = 1.0 - rate;
	return p < 0.0 ? 0.0 : (p > 1.0 ? 1.0 : p);
}

double
sg_dispatch_effective_distance(double distance_m, double rating_penalty,
							   double acceptance_penalty)
{
	return distance_m * (1.0 + sg_dispatch_rating_weight * rating_penalty +
						 sg_dispatch_acceptance_weight * acceptance_penalty);
}

/* 1.0 at the pickup point, 0.5 at an effective distance of 1 km */
double
sg_dispatch_score(double effective_distance_m)
{
	return 1000.0 / (1000.0 + effective_distance_m);
}

static void
check_coord(double lat, double lng)
{
	if (isnan(lat) || isnan(lng) || lat < -90.0 || lat > 90.0 ||
		lng < -180.0 || lng > 180.0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("coordinates out of range"),
				 errdetail("latitude must be in -90..90 and longitude in -180..180")));
}

PG_FUNCTION_INFO_V1(sg_dispatch_distance);
PG_FUNCTION_INFO_V1(sg_dispatch_effective_distance_sql);
PG_FUNCTION_INFO_V1(sg_dispatch_score_sql);

/* dispatch_distance(lat1, lng1, lat2, lng2) → metres on WGS84 */
Datum
sg_dispatch_distance(PG_FUNCTION_ARGS)
{
	double		lat1 = PG_GETARG_FLOAT8(0);
	double		lng1 = PG_GETARG_FLOAT8(1);
	double		lat2 = PG_GETARG_FLOAT8(2);
	double		lng2 = PG_GETARG_FLOAT8(3);

	check_coord(lat1, lng1);
	check_coord(lat2, lng2);
	PG_RETURN_FLOAT8(sg_dispatch_spheroid_distance(lat1, lng1, lat2, lng2));
}

/*
 * dispatch_effective_distance(distance_m, rating, review_count,
 *							   acceptance_rate) → metres
 */
Datum
sg_dispatch_effective_distance_sql(PG_FUNCTION_ARGS)
{
	double		d;
	double		rating;
	int			reviews;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	d = PG_GETARG_FLOAT8(0);
	rating = PG_ARGISNULL(1) ? 0.0 : PG_GETARG_FLOAT8(1);
	reviews = PG_ARGISNULL(2) ? 0 : PG_GETARG_INT32(2);
	PG_RETURN_FLOAT8(sg_dispatch_effective_distance(d,
													sg_dispatch_rating_penalty(rating, reviews),
													sg_dispatch_acceptance_penalty(PG_ARGISNULL(3) ? 0.0 : PG_GETARG_FLOAT8(3),
																				   PG_ARGISNULL(3))));
}

/* dispatch_score(effective_distance_m) → score in (0, 1] */
Datum
sg_dispatch_score_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(sg_dispatch_score(PG_GETARG_FLOAT8(0)));
}
