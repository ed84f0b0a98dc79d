/*-------------------------------------------------------------------------
 *
 * settings.c
 *	  Settings of the admin domain: retention periods, analytics partitions,
 *	  the notification outbox's retry policy and routing.
 *
 * All are PGC_SUSET (a superuser sets them in postgresql.conf, ALTER
 * SYSTEM or ALTER DATABASE); the SQL functions read them with
 * current_setting().  See src/admin/README.md.
 *
 *-------------------------------------------------------------------------
 */
#include "steppergo.h"

#include "utils/guc.h"

#include "admin/admin.h"

int			sg_admin_file_retention_days = 30;
int			sg_admin_analytics_retention_months = 13;
int			sg_admin_analytics_partitions_ahead = 3;
int			sg_admin_webhook_retention_days = 90;
int			sg_admin_notification_max_attempts = 5;
int			sg_admin_notification_backoff_base = 30;
int			sg_admin_notification_backoff_max = 3600;
int			sg_admin_notification_claim_timeout = 300;
char	   *sg_admin_push_first_types = NULL;

void
sg_admin_init(void)
{
	DefineCustomIntVariable("steppergo.file_retention_days",
							"Days a soft-deleted file_uploads row is kept before the purge job removes it.",
							NULL,
							&sg_admin_file_retention_days,
							30, 0, 3650,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("steppergo.analytics_retention_months",
							"Monthly analytics_events partitions older than this many months are dropped.",
							NULL,
							&sg_admin_analytics_retention_months,
							13, 1, 1200,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("steppergo.analytics_partitions_ahead",
							"How many monthly analytics_events partitions are created ahead of the current month.",
							NULL,
							&sg_admin_analytics_partitions_ahead,
							3, 1, 24,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("steppergo.webhook_retention_days",
							"Days processed webhook_logs rows are kept; unprocessed ones are never purged.",
							NULL,
							&sg_admin_webhook_retention_days,
							90, 1, 3650,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("steppergo.notification_max_attempts",
							"Attempts a notification gets on one channel before it fails (and falls back to the next channel).",
							NULL,
							&sg_admin_notification_max_attempts,
							5, 1, 100,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("steppergo.notification_backoff_base_seconds",
							"Delay before the first retry of a failed notification; doubles with every attempt.",
							NULL,
							&sg_admin_notification_backoff_base,
							30, 1, 86400,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("steppergo.notification_backoff_max_seconds",
							"Longest delay between two attempts of a notification.",
							NULL,
							&sg_admin_notification_backoff_max,
							3600, 1, 604800,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomIntVariable("steppergo.notification_claim_timeout_seconds",
							"A claimed notification not reported within this time goes back to the queue (the sender is presumed dead).",
							NULL,
							&sg_admin_notification_claim_timeout,
							300, 10, 86400,
							PGC_SUSET, 0,
							NULL, NULL, NULL);
	DefineCustomStringVariable("steppergo.notification_push_first_types",
							   "Comma-separated notification types routed to PUSH first (time-critical).",
							   NULL,
							   &sg_admin_push_first_types,
							   "TRIP_OFFER,DRIVER_ARRIVED",
							   PGC_SUSET, 0,
							   NULL, NULL, NULL);
}
