/*-------------------------------------------------------------------------
 *
 * steppergo.c
 *	  Module entry point: initialises libsodium and every domain's settings.
 *
 *-------------------------------------------------------------------------
 */
#include "steppergo.h"

#include <sodium.h>

#include "fmgr.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	/* sodium_init is idempotent; -1 means no usable entropy source */
	if (sodium_init() < 0)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("steppergo could not initialise libsodium")));

	sg_secrets_init();
	/* domains' settings: one call per domain, in build order */
	sg_activities_init();
	sg_messaging_init();
	sg_trips_init();
	sg_identity_init();
	sg_drivers_init();
	sg_admin_init();
	sg_dispatch_init();
	sg_payouts_init();

	MarkGUCPrefixReserved(SG_GUC_PREFIX);
}
