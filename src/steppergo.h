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

#endif							/* STEPPERGO_H */
