/*
 * insights — the usage flusher: writes the evaluation counts (usage.h) to
 * the store and brings back what every instance wrote.
 *
 * Owns: one thread with its own store connection that, every
 * USAGE_FLUSH_INTERVAL seconds and once more when stopped,
 *  - takes the counts not yet written and adds them to the database in one
 *    transaction (on failure they stay in memory for the next try, so a
 *    database outage loses nothing while the process lives);
 *  - reads back when each flag was last evaluated on any instance and
 *    publishes it with the snapshot (the usage view), for
 *    GET /flags/<name>'s last_evaluated_at;
 *  - forgets the written counts of flags no longer in the catalogue, and
 *    once an hour deletes hourly counts older than USAGE_RETENTION_DAYS.
 *
 * Nothing here runs per request, and a usage write never touches the flags
 * table: a flag write never waits for one.
 *
 * What a crash loses: the counts since the last flush (at most one
 * interval). A clean stop (SIGTERM) writes them first.
 */
#ifndef TM_INSIGHTS_H
#define TM_INSIGHTS_H

#include <stdint.h>

#include "app.h"

/* Hourly counts are kept this long (the longest usage window is 30 days). */
#define USAGE_RETENTION_DAYS 90

struct insights *insights_start(struct app *app, char *err, size_t errlen);
/* Flushes once more, then stops the thread and frees it. */
void insights_stop(struct insights *in);

/* For /metrics: Unix time of the last successful flush (0: none yet). */
int64_t insights_last_flush(struct insights *in);

#endif
