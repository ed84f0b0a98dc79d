/*-------------------------------------------------------------------------
 *
 * relcache.c
 *	  Locking the relations a per-backend cache of OIDs names.
 *
 * The C fast paths (dispatch's find_drivers, messaging's message_history)
 * find their tables and indexes by name once per backend and keep the OIDs,
 * forgetting them on a relcache invalidation of any of them (their callback
 * then also bumps a generation counter).  Before a call reads through those
 * OIDs it locks the tables as the executor would (AccessShareLock, to the end
 * of the transaction): DROP INDEX, CREATE INDEX and ALTER TABLE then have to
 * wait for it.  But the lock itself may have waited for such a command, and
 * taking it processes the invalidations that command sent: so the cache is
 * trusted only if its generation did not move while the locks were taken;
 * otherwise the caller reads the catalog again and locks again.
 *
 *-------------------------------------------------------------------------
 */
#include "steppergo.h"

#include "storage/lmgr.h"
#include "storage/lockdefs.h"

/*
 * Takes AccessShareLock on each of the n relations; returns whether
 * *generation is what it was before (no invalidation of the cache came
 * while locking).  Locks on OIDs that turned stale are kept: harmless.
 */
bool
sg_lock_cached_relations(const Oid *oids, int n, const uint64 *generation)
{
	uint64		before = *generation;
	int			i;

	for (i = 0; i < n; i++)
		LockRelationOid(oids[i], AccessShareLock);
	return *generation == before;
}
