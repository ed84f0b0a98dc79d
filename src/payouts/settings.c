/*-------------------------------------------------------------------------
 *
 * settings.c
 *	  Settings of the payouts domain.
 *
 * steppergo.payout_net_cash_commission (boolean, default off, superuser)
 *	  Off: the platform's share of CASH_TO_DRIVER bookings stays in
 *	  driver_commissions as OWED, shown in the driver's statement, and the
 *	  driver settles it separately (record_commission_payment).  On: each
 *	  payout batch deducts the driver's OWED commissions (same tenant and
 *	  currency, oldest first, whole commissions only, never below zero) from
 *	  the payout it creates and marks them NETTED.  See README.md.
 *
 *-------------------------------------------------------------------------
 */
#include "steppergo.h"

#include "utils/guc.h"

bool		sg_payouts_net_cash_commission = false;

void
sg_payouts_init(void)
{
	DefineCustomBoolVariable("steppergo.payout_net_cash_commission",
							 "Net drivers' owed cash commissions against their next payout.",
							 "Off (default): commissions on CASH_TO_DRIVER bookings stay OWED and are settled separately. "
							 "On: run_payout_batch deducts them, oldest first, from the payouts it creates.",
							 &sg_payouts_net_cash_commission,
							 false,
							 PGC_SUSET,
							 0,
							 NULL, NULL, NULL);
}
