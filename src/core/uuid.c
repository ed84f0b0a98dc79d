/*-------------------------------------------------------------------------
 *
 * uuid.c
 *	  Time-ordered UUIDs (version 7, RFC 9562) for every primary key.
 *
 * Layout: 48 bits of Unix time in milliseconds, the version nibble, 12 bits
 * of sub-millisecond fraction (RFC 9562 section 6.2, method 3), the variant,
 * and 62 random bits from libsodium.  Within one backend the values are
 * strictly increasing even when the clock stalls or steps back: the 60-bit
 * (millisecond, fraction) counter is bumped past the last value handed out.
 * New keys therefore land at the right-hand edge of their B-tree index.
 *
 *-------------------------------------------------------------------------
 */
#include "steppergo.h"

#include <sodium.h>
#include <time.h>

#include "fmgr.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

PG_FUNCTION_INFO_V1(sg_uuid_generate_v7);
PG_FUNCTION_INFO_V1(sg_uuid_v7_time);

/* last (unix_ms << 12 | fraction) handed out by this backend */
static uint64 last_ts_counter = 0;

Datum
sg_uuid_generate_v7(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *uuid = palloc(sizeof(pg_uuid_t));
	struct timespec ts;
	uint64		unix_ms;
	uint64		fraction;
	uint64		counter;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not read the system clock: %m")));

	unix_ms = (uint64) ts.tv_sec * 1000 + (uint64) ts.tv_nsec / 1000000;
	/* nanoseconds within the millisecond scaled to 12 bits */
	fraction = ((uint64) (ts.tv_nsec % 1000000) << 12) / 1000000;
	counter = (unix_ms << 12) | fraction;
	if (counter <= last_ts_counter)
		counter = last_ts_counter + 1;
	last_ts_counter = counter;

	randombytes_buf(uuid->data, UUID_LEN);

	uuid->data[0] = (unsigned char) (counter >> 52);
	uuid->data[1] = (unsigned char) (counter >> 44);
	uuid->data[2] = (unsigned char) (counter >> 36);
	uuid->data[3] = (unsigned char) (counter >> 28);
	uuid->data[4] = (unsigned char) (counter >> 20);
	uuid->data[5] = (unsigned char) (counter >> 12);
	uuid->data[6] = 0x70 | (unsigned char) ((counter >> 8) & 0x0F);
	uuid->data[7] = (unsigned char) (counter & 0xFF);
	uuid->data[8] = 0x80 | (uuid->data[8] & 0x3F);

	PG_RETURN_UUID_P(uuid);
}

/*
 * The creation time of a version 7 UUID, to the millisecond; NULL for a UUID
 * of another version (for example a v4 key imported from elsewhere).
 */
Datum
sg_uuid_v7_time(PG_FUNCTION_ARGS)
{
	pg_uuid_t  *uuid = PG_GETARG_UUID_P(0);
	uint64		unix_ms = 0;
	int			i;

	if ((uuid->data[6] & 0xF0) != 0x70 || (uuid->data[8] & 0xC0) != 0x80)
		PG_RETURN_NULL();

	for (i = 0; i < 6; i++)
		unix_ms = (unix_ms << 8) | uuid->data[i];

	PG_RETURN_TIMESTAMPTZ((TimestampTz) (unix_ms * 1000) -
						  ((TimestampTz) (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY));
}
