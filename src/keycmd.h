/*
 * keycmd — the `togglemaster keys` command: create, list and revoke API
 * keys straight in the store, for the operator at the console (or a
 * deployment script) before any key exists to call the API with.
 *
 * Owns: the command's arguments, its output (the new key on stdout, once,
 * with how to use it on stderr; the list as aligned text or, with --json,
 * one JSON array) and its exit codes (0 done, 1 the store failed, 2 usage,
 * 3 no such key). Writes are audited with the actor "cli". On PostgreSQL
 * running instances apply a change at once (the change feed); an instance
 * on SQLite picks it up at its next resync (RESYNC_INTERVAL) or SIGHUP.
 */
#ifndef TM_KEYCMD_H
#define TM_KEYCMD_H

#include "config.h"

/* argv[0] is "keys"; returns the exit code. */
int keycmd_run(const struct config *cfg, int argc, char **argv);

#endif
