/*-------------------------------------------------------------------------
 *
 * messaging_guc.c
 *	  Settings of the messaging domain (trip chat).
 *
 * steppergo.chat_presence_timeout: how long after their last heartbeat a
 * user still counts as connected to the real-time chat (chat_presence).
 * While connected, new messages reach them through LISTEN/NOTIFY (the
 * gateway pushes them); otherwise the message also produces an outbox row in
 * notifications.  Read from SQL as current_setting(...)::interval.
 *
 *-------------------------------------------------------------------------
 */
#include "steppergo.h"

#include "utils/guc.h"

static int	sg_messaging_presence_timeout = 60;

void
sg_messaging_init(void)
{
	DefineCustomIntVariable("steppergo.chat_presence_timeout",
							"Seconds after the last chat heartbeat during which a user counts as connected.",
							"A connected user gets new chat messages through NOTIFY only; others also get an outbox notification.",
							&sg_messaging_presence_timeout,
							60, 5, 86400,
							PGC_SUSET, GUC_UNIT_S,
							NULL, NULL, NULL);
}
