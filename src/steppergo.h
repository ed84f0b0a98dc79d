/*-------------------------------------------------------------------------
 *
 * steppergo.h
 *	  Shared declarations of the steppergo extension: SQLSTATEs of the
 *	  public contract and the per-domain initialisation hooks.
 *
 *-------------------------------------------------------------------------
 */
#ifndef STEPPERGO_H
#define STEPPERGO_H

#include "postgres.h"
#include "utils/elog.h"

/*
 * SQLSTATEs of ../shared/CONTRACT.md that PostgreSQL has no code for.  They
 * are chosen so that PostgREST maps them to the HTTP status in the name.
 */
#define ERRCODE_SG_UNAUTHORIZED		MAKE_SQLSTATE('P','T','4','0','1')
#define ERRCODE_SG_NOT_FOUND		MAKE_SQLSTATE('P','T','4','0','4')
#define ERRCODE_SG_CONFLICT			MAKE_SQLSTATE('P','T','4','0','9')
#define ERRCODE_SG_TOO_MANY			MAKE_SQLSTATE('P','T','4','2','9')

/* Prefix of every configuration setting the module defines. */
#define SG_GUC_PREFIX "steppergo"

/* Secret settings (src/core/secrets.c); read them through sg_secret(). */
#define SG_SECRET_MIN_LEN 32
extern char *sg_jwt_secret;
extern char *sg_otp_key;
extern char *sg_audit_key;
extern void sg_secrets_init(void);
extern const char *sg_secret(const char *value, const char *name);

/* Settings of the activities domain (src/activities/settings.c). */
/* src/core/relcache.c */
extern bool sg_lock_cached_relations(const Oid *oids, int n, const uint64 *generation);

extern void sg_activities_init(void);

/*
 * Per-domain initialisation (settings), called from _PG_init.  A domain that
 * defines settings adds its prototype here and its call in steppergo.c.
 */
extern void sg_messaging_init(void);
extern void sg_trips_init(void);
extern void sg_identity_init(void);
extern void sg_drivers_init(void);
extern void sg_admin_init(void);
extern void sg_dispatch_init(void);
extern bool sg_payouts_net_cash_commission;
extern void sg_payouts_init(void);

#endif							/* STEPPERGO_H */
