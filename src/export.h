/*
 * export — the catalogue as one flagd flag-definition document.
 *
 * Owns: the document `togglemaster export` writes and GET /flagd.json
 * serves: {"$schema", "flags": {name: flag}, "$evaluators", "metadata"},
 * flags in name order, evaluators sorted, two-space indentation, so the
 * same catalogue gives the same bytes. Each flag carries flagd's members
 * (state, variants, defaultVariant, targeting, metadata) and ToggleMaster's
 * description; `togglemaster import` reads it back unchanged. A flag whose
 * stored name is not UTF-8 (only another program can write one) is left
 * out: JSON cannot name it. Pure.
 */
#ifndef TM_EXPORT_H
#define TM_EXPORT_H

#include <stddef.h>

#include "snapshot.h"

#define EXPORT_SCHEMA "https://flagd.dev/schema/v0/flags.json"

/* The document (malloc'd, ending in a newline; *len its length), or NULL
 * when out of memory. */
char *export_flagd(const struct snapshot *snap, size_t *len);

#endif
