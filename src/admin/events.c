/*-------------------------------------------------------------------------
 *
 * events.c
 *	  record_event(): one analytics event, cheap enough for high volume.
 *
 * The common call, a trusted backend recording an event for a user without
 * an HTTP request around it, costs argument checks, one primary-key probe
 * of users and one INSERT through a kept plan.  Only when the call carries
 * PostgREST's request settings (JWT claims, headers) does it ask the core
 * SQL helpers who the caller is and what the client's address is.
 *
 * The function is SECURITY DEFINER (API roles cannot insert into the table
 * themselves), with its search_path pinned like every other; every name in
 * its SQL is schema-qualified besides.
 *
 *-------------------------------------------------------------------------
 */
#include "steppergo.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inet.h"
#include "utils/jsonb.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(sg_admin_record_event);

static SPIPlanPtr insert_plan = NULL;
static SPIPlanPtr user_plan = NULL;

static SPIPlanPtr
keep_plan(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, argtypes);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	return plan;
}

static bool
setting_present(const char *name, bool empty_object_counts)
{
	const char *v = GetConfigOption(name, true, false);

	if (v == NULL || v[0] == '\0')
		return false;
	if (!empty_object_counts && strcmp(v, "{}") == 0)
		return false;
	return true;
}

/* a one-value SPI query; NULL result or a copy in the caller's context */
static Datum
spi_value(const char *sql, bool *isnull)
{
	int			ret = SPI_execute(sql, true, 1);
	Datum		d;
	Form_pg_attribute att;

	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "query failed: %s", sql);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, isnull);
	if (*isnull)
		return (Datum) 0;
	att = TupleDescAttr(SPI_tuptable->tupdesc, 0);
	return SPI_datumTransfer(d, att->attbyval, att->attlen);
}

/* the role the caller acts as: SET ROLE's, else the session user */
static Oid
invoking_role(void)
{
	const char *r = GetConfigOption("role", false, false);

	if (r == NULL || strcmp(r, "none") == 0)
		return GetSessionUserId();
	return get_role_oid(r, true);
}

Datum
sg_admin_record_event(PG_FUNCTION_ARGS)
{
	text	   *name_t;
	char	   *name;
	int			len,
				i;
	Datum		values[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	Oid			types[6] = {TEXTOID, UUIDOID, JSONBOID, TEXTOID, INETOID, TEXTOID};
	bool		have_user = !PG_ARGISNULL(3);
	Datum		user = have_user ? PG_GETARG_DATUM(3) : (Datum) 0;
	int			ret;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("event_name must not be null")));
	name_t = PG_GETARG_TEXT_PP(0);
	name = VARDATA_ANY(name_t);
	len = VARSIZE_ANY_EXHDR(name_t);
	for (i = 0; i < len; i++)
	{
		char		c = name[i];

		if (!((c >= 'a' && c <= 'z') ||
			  (i > 0 && ((c >= '0' && c <= '9') || c == '_' || c == '.' || c == ':' || c == '-'))))
			break;
	}
	if (len == 0 || len > 100 || i < len)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("event_name must be lower case (a-z, 0-9, _ . : -), at most 100 characters")));

	if (!PG_ARGISNULL(1) && !JB_ROOT_IS_OBJECT(PG_GETARG_JSONB_P(1)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("metadata must be a JSON object")));
	if (!PG_ARGISNULL(2) &&
		DatumGetInt32(DirectFunctionCall1(textlen, PG_GETARG_DATUM(2))) > 200)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("session_id is longer than 200 characters")));

	values[0] = PointerGetDatum(name_t);
	values[2] = PG_ARGISNULL(1) ? DirectFunctionCall1(jsonb_in, CStringGetDatum("{}")) : PG_GETARG_DATUM(1);
	if (PG_ARGISNULL(2))
		nulls[3] = 'n';
	else
		values[3] = PG_GETARG_DATUM(2);
	if (PG_ARGISNULL(4))
		nulls[4] = 'n';
	else
		values[4] = PG_GETARG_DATUM(4);
	if (PG_ARGISNULL(5))
		nulls[5] = 'n';
	else
	{
		text	   *ua = PG_GETARG_TEXT_PP(5);

		if (VARSIZE_ANY_EXHDR(ua) > 1024)
			ua = cstring_to_text_with_len(VARDATA_ANY(ua), 1024);
		values[5] = PointerGetDatum(ua);
	}

	if ((ret = SPI_connect()) != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed: %s", SPI_result_code_string(ret));

	if (setting_present("request.jwt.claims", false))
	{
		/* a request for one user: events are the caller's own */
		bool		me_null,
					role_null;
		Datum		me = spi_value("SELECT steppergo.current_user_id()", &me_null);
		Datum		role = spi_value("SELECT steppergo.current_app_role()::text", &role_null);

		if (!have_user)
		{
			have_user = !me_null;
			user = me;
		}
		else if ((me_null || !DatumGetBool(DirectFunctionCall2(uuid_eq, me, user))) &&
				 (role_null || strcmp(TextDatumGetCString(role), "ADMIN") != 0))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("events can only be recorded for the caller")));
	}
	else if (have_user)
	{
		/* without claims, an API role is anonymous: it names nobody */
		Oid			api = get_role_oid("steppergo_api", true);
		Oid			me = invoking_role();

		if (OidIsValid(api) && OidIsValid(me) && is_member_of_role_nosuper(me, api))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("an anonymous caller cannot record events for a user")));
	}
	if (setting_present("request.headers", true))
	{
		bool		isnull;
		Datum		d;

		if (nulls[4] == 'n')
		{
			d = spi_value("SELECT steppergo.request_ip()", &isnull);
			if (!isnull)
			{
				values[4] = d;
				nulls[4] = ' ';
			}
		}
		if (nulls[5] == 'n')
		{
			d = spi_value("SELECT left(steppergo.request_header('user-agent'), 1024)", &isnull);
			if (!isnull)
			{
				values[5] = d;
				nulls[5] = ' ';
			}
		}
	}

	if (have_user)
	{
		Oid			uuidtype = UUIDOID;

		if (user_plan == NULL)
			user_plan = keep_plan("SELECT 1 FROM steppergo.users WHERE id = $1", 1, &uuidtype);
		ret = SPI_execute_plan(user_plan, &user, NULL, true, 1);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "user lookup failed: %s", SPI_result_code_string(ret));
		if (SPI_processed == 0)
			ereport(ERROR,
					(errcode(ERRCODE_SG_NOT_FOUND),
					 errmsg("user not found")));
		values[1] = user;
	}
	else
		nulls[1] = 'n';

	if (insert_plan == NULL)
		insert_plan = keep_plan("INSERT INTO steppergo.analytics_events "
								"(event_name, user_id, metadata, session_id, ip_address, user_agent) "
								"VALUES ($1, $2, $3, $4, $5, $6)", 6, types);
	ret = SPI_execute_plan(insert_plan, values, nulls, false, 0);
	if (ret != SPI_OK_INSERT)
		elog(ERROR, "inserting the event failed: %s", SPI_result_code_string(ret));
	SPI_finish();
	PG_RETURN_VOID();
}
