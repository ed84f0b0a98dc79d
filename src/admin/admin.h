/*-------------------------------------------------------------------------
 *
 * admin.h
 *	  Declarations shared by the admin domain's C files.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SG_ADMIN_H
#define SG_ADMIN_H

/*
 * The advisory lock (two int4 keys: 'step', 'audi') that serialises appends
 * to the audit chain; a DBA may take it with
 * pg_advisory_xact_lock(1937007984, 1635083369) to freeze the chain.
 */
#define SG_AUDIT_LOCK_KEY1 1937007984
#define SG_AUDIT_LOCK_KEY2 1635083369

extern int	sg_admin_file_retention_days;
extern int	sg_admin_analytics_retention_months;
extern int	sg_admin_analytics_partitions_ahead;
extern int	sg_admin_webhook_retention_days;
extern int	sg_admin_notification_max_attempts;
extern int	sg_admin_notification_backoff_base;
extern int	sg_admin_notification_backoff_max;
extern int	sg_admin_notification_claim_timeout;
extern char *sg_admin_push_first_types;

#endif							/* SG_ADMIN_H */
