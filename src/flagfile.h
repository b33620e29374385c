/*
 * flagfile — flagd flag files in and out of the store: the `import` and
 * `export` commands.
 *
 * Owns: reading a flagd flag-definition document (flags as a map or as
 * flagd's array form, `$evaluators`, flag-set metadata), checking every
 * flag the way flagd's file loading does (flagdoc.h, lenient: a rule flagd
 * loads but cannot evaluate is stored and reported as a warning, since
 * flagd would answer PARSE_ERROR for it too), comparing it with what the
 * store holds, and applying the differences in one transaction with a
 * report of each; and writing the catalogue as one document (export.h).
 *
 * Runs as a command, not inside the server: it talks to the store only. A
 * running server learns of an import through the change feed (PostgreSQL)
 * or at its next resync (SQLite; SIGHUP asks for one at once).
 */
#ifndef TM_FLAGFILE_H
#define TM_FLAGFILE_H

#include <stdbool.h>
#include <stdio.h>

#include "store/store.h"

/* A flag file is read whole; larger files are refused. */
#define FLAGFILE_MAX_BYTES (64 * 1024 * 1024)

struct flagfile_options {
    bool dry_run;              /* report, write nothing */
    bool prune;                /* delete flags and evaluators the file does not have */
};

/* Imports path (or stdin for "-"), printing what changed to report. 0 when
 * imported (or would be, for a dry run), 1 when the file is invalid or the
 * store failed (nothing written), with the reasons on report. */
int flagfile_import(struct store *store, const char *path, const struct flagfile_options *options, FILE *report);

/* Writes the catalogue as one flagd document to out. 0, or 1 with a reason
 * on errors. */
int flagfile_export(struct store *store, FILE *out, FILE *errors);

#endif
