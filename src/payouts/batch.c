/*-------------------------------------------------------------------------
 *
 * batch.c
 *	  The payout id of a (driver, tenant, currency) group within one batch.
 *
 * run_payout_batch settles every booking and builds the payouts from the
 * rows it settled, in one pass over the bookings (src/payouts/README.md).
 * For that, each booking must learn its payout's id while it is updated,
 * without first grouping the bookings and joining them back to the groups.
 * payout_group_id() gives that id as a pure function of the group:
 *
 *	bytes 0-7	the batch id's (a fresh UUIDv7): Unix milliseconds, version
 *				7 and the sub-millisecond fraction, so payout ids stay
 *				time-ordered like every other key
 *	bytes 8-15	the RFC 9562 variant and 62 bits of a 64-bit hash of the
 *				group (driver, tenant or none, currency), seeded with the
 *				batch id's 62 random bits
 *
 * Two groups of one batch get the same id only by a hash collision (about
 * n^2 / 2^63 for n groups: 6e-11 for 23,000 groups).  The batch groups by
 * the id *and* the group's columns, so such a collision makes two payout
 * rows with one primary key: the batch fails with 23505 and writes nothing
 * (the next run draws another batch id).  It can never merge two groups.
 *
 *-------------------------------------------------------------------------
 */
#include "steppergo.h"

#include "common/hashfn.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(sg_payout_group_id);

/*
 * payout_group_id(batch_id uuid, driver_id uuid, tenant_id uuid,
 *				   currency text) RETURNS uuid
 *
 * Not strict: tenant_id NULL is the platform's own group.  The other
 * arguments must not be NULL (22004).  Immutable: the same batch id and
 * group always give the same payout id.
 */
Datum
sg_payout_group_id(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *batch;
	pg_uuid_t  *driver;
	text	   *currency;
	pg_uuid_t  *result;
	unsigned char key[2 * UUID_LEN + 1 + 8];
	int			keylen;
	int			curlen;
	uint64		seed = 0;
	uint64		h;
	int			i;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("batch_id, driver_id and currency must not be null")));

	batch = PG_GETARG_UUID_P(0);
	driver = PG_GETARG_UUID_P(1);
	currency = PG_GETARG_TEXT_PP(3);
	curlen = VARSIZE_ANY_EXHDR(currency);
	if (curlen < 1 || curlen > 8)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("currency must be a code of 1 to 8 bytes"),
				 errdetail("currency has %d bytes.", curlen)));

	/* the group: driver, a tenant flag and tenant, currency */
	memcpy(key, driver->data, UUID_LEN);
	if (PG_ARGISNULL(2))
	{
		key[UUID_LEN] = 0;
		memset(key + UUID_LEN + 1, 0, UUID_LEN);
	}
	else
	{
		key[UUID_LEN] = 1;
		memcpy(key + UUID_LEN + 1, PG_GETARG_UUID_P(2)->data, UUID_LEN);
	}
	memcpy(key + 2 * UUID_LEN + 1, VARDATA_ANY(currency), curlen);
	keylen = 2 * UUID_LEN + 1 + curlen;

	/* seeded with the batch id's random tail (its variant bits masked) */
	for (i = 8; i < UUID_LEN; i++)
		seed = (seed << 8) | (i == 8 ? (batch->data[i] & 0x3F) : batch->data[i]);
	h = hash_bytes_extended(key, keylen, seed);

	result = palloc(sizeof(pg_uuid_t));
	memcpy(result->data, batch->data, 8);
	for (i = 15; i >= 8; i--)
	{
		result->data[i] = (unsigned char) (h & 0xFF);
		h >>= 8;
	}
	result->data[8] = 0x80 | (result->data[8] & 0x3F);

	PG_RETURN_UUID_P(result);
}
