/*
 * flagdoc — what a valid flag document is, and how a request changes one.
 *
 * Owns: decoding the JSON bodies of the flag write requests and the flags
 * of a flagd file into a change; merging a change into a flag's current
 * document; checking the result (typed variants, defaultVariant, targeting
 * compiled against the flag set's evaluators, metadata, description) with
 * a message that names where the problem is; and the normalized stored
 * form. Pure: no I/O, no global state.
 *
 * The stored document is a JSON object with only these members, in this
 * order: "variants" (name -> value, all boolean, all strings, all numbers
 * or all objects), "defaultVariant" (a variant name, or null: the caller's
 * default), then "targeting", "metadata" and "description" when set. A
 * flag's state is not in it: the original's is_enabled column holds it, so
 * the original monolith can still toggle flags on a migrated database. A
 * flag without a document (one the original created) is a boolean flag
 * with variants {"on": true, "off": false} and defaultVariant "on".
 */
#ifndef TM_FLAGDOC_H
#define TM_FLAGDOC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "flag.h"
#include "flagset.h"

#define FLAGDOC_VARIANTS_MAX 1000
#define FLAGDOC_VARIANT_NAME_MAX 256        /* bytes */
#define FLAGDOC_DESCRIPTION_MAX 1000        /* bytes */
#define FLAGDOC_METADATA_MAX 100            /* members */
/* Messages (the 400 response's "error", import warnings) fit in this. */
#define FLAGDOC_MESSAGE_MAX 400

/* A change to a flag: its state, and the document members it sets. */
struct flagdoc_change {
    char name[FLAG_NAME_MAX + 1];     /* create and import: the flag's name */
    bool has_enabled;
    bool is_enabled;
    json_t *members;                  /* an object: the members given, owned */
};

/* Decodes a POST /flags body (create: a name is required) or a
 * PUT /flags/<name> body (any subset; an empty change is refused). 0, or -1
 * with a client-facing message in err. Free with flagdoc_change_clear(). */
int flagdoc_decode_create(const char *body, size_t len, struct flagdoc_change *out, char *err, size_t errlen);
int flagdoc_decode_update(const char *body, size_t len, struct flagdoc_change *out, char *err, size_t errlen);
/* One flag of a flagd file ("key" -> flag): state is required there. */
int flagdoc_decode_flagd(const char *key, const json_t *flag, struct flagdoc_change *out, char *err, size_t errlen);
void flagdoc_change_clear(struct flagdoc_change *change);
/* Whether the change touches the document (not only the state). */
bool flagdoc_change_has_members(const struct flagdoc_change *change);

/* The document after change, normalized and checked: current is the flag's
 * document (NULL: the original's boolean shape). Strict (the API): the
 * targeting rule must compile strictly. Lenient (flagd files): a rule
 * flagd would load but not evaluate is kept and reported in warning (""
 * when none). NULL with err when the result is invalid. */
json_t *flagdoc_build(const json_t *current, const struct flagdoc_change *change, const struct flagset *set,
                      bool strict, char *err, size_t errlen, char *warning, size_t warnlen);

#endif
