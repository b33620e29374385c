/*
 * fake_store — an in-memory store backend for tests: the store interface
 * (store.h) without a database, so the write path (catalog), the sync
 * thread and the HTTP request path can be tested and fuzzed in one
 * process. It can be made unavailable, made slow to load (to race loads
 * with writes), and can simulate another instance's writes, which it
 * announces on its change feed as PostgreSQL's NOTIFY would.
 *
 * One fake database per process; the functions are thread-safe.
 */
#ifndef TM_FAKE_STORE_H
#define TM_FAKE_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "store/backend.h"

extern const struct store_backend fake_store_backend;

/* Empties the database and clears every failure setting. */
void fake_store_reset(void);
/* Every operation fails with STORE_UNAVAILABLE while set. */
void fake_store_set_unavailable(bool unavailable);
/* flag_load_all() waits this long between reading the rows and handing
 * them over: writes committed meanwhile are not in what it returns. */
void fake_store_set_load_delay_ms(int ms);
/* After each write commits, the caller is held up for a random time of up
 * to this many microseconds before it goes on: it makes writes to one name
 * likely to overtake each other between committing and publishing, which
 * the catalog's name lock must prevent. */
void fake_store_set_commit_jitter_us(int us);
/* A write by "another instance": committed, and announced on the change
 * feed unless quietly (then only a resync finds it). enabled < 0 deletes. */
void fake_store_remote_write(const char *name, int enabled, bool quietly);
/* The committed state of a name: 1 enabled, 0 disabled, -1 absent; *id the
 * row id when present. */
int fake_store_state(const char *name, int64_t *id);
/* The number of rows. */
int fake_store_count(void);
/* Calls fn for every committed row. */
void fake_store_each(void (*fn)(void *ctx, const char *name, int64_t id, bool enabled), void *ctx);

#endif
