/*-------------------------------------------------------------------------
 *
 * validate.c
 *	  Cheap validators used by CHECK constraints.
 *
 *-------------------------------------------------------------------------
 */
#include "steppergo.h"

#include "fmgr.h"
#include "pgtime.h"
#include "utils/builtins.h"

PG_FUNCTION_INFO_V1(sg_is_valid_timezone);

/*
 * True when the argument names a zone of the IANA database this server uses
 * (Asia/Almaty, UTC, ...).  POSIX-style specifications such as "UTC+5" or
 * "<+05>-5" are refused: a trip's zone must follow the zone's real history.
 */
Datum
sg_is_valid_timezone(PG_FUNCTION_ARGS)
{
	text	   *arg = PG_GETARG_TEXT_PP(0);
	char	   *name = text_to_cstring(arg);
	size_t		len = strlen(name);
	const char *c;

	if (len == 0 || len > TZ_STRLEN_MAX)
		PG_RETURN_BOOL(false);

	for (c = name; *c; c++)
	{
		if (!((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
			  (*c >= '0' && *c <= '9') || *c == '/' || *c == '_' ||
			  *c == '-' || *c == '+'))
			PG_RETURN_BOOL(false);
	}
	/* a zone name starts with a letter; "+5" and "-03" are offsets */
	if (!((name[0] >= 'A' && name[0] <= 'Z') || (name[0] >= 'a' && name[0] <= 'z')))
		PG_RETURN_BOOL(false);
	/* "UTC+5" and the like would be parsed as POSIX rules, not zone names */
	if (strpbrk(name, "+-") != NULL && strchr(name, '/') == NULL)
		PG_RETURN_BOOL(false);

	PG_RETURN_BOOL(pg_tzset(name) != NULL);
}
