/*
 * flagset — what the catalogue's flags share: flagd's `$evaluators` (named
 * rule fragments that targeting rules include with {"$ref": name}) and the
 * flag-set metadata that every flag's metadata is laid over.
 *
 * Owns: `struct flagset`, one immutable, reference-counted value, built
 * from the stored rows; resolving a $ref against it. Pure: no I/O, no global state. The snapshot holds the
 * current set; flags whose rules use $ref are compiled against it (flag.h,
 * flag_bind).
 */
#ifndef TM_FLAGSET_H
#define TM_FLAGSET_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Evaluator names follow the flag name rule (flag.h). */
#define FLAGSET_EVALUATORS_MAX 10000

struct flagset_evaluator {
    char *name;
    json_t *rule;              /* the fragment */
    int64_t version;
    char *updated_at;          /* RFC 3339, or NULL */
};

struct flagset {
    atomic_long refs;
    size_t count;
    struct flagset_evaluator *evaluators;   /* sorted by name */
    json_t *metadata;          /* an object, possibly empty */
    char *metadata_json;       /* its compact text */
    size_t metadata_len;
};

/* An empty set (no evaluators, empty metadata), or NULL when out of memory. */
struct flagset *flagset_create(void);
struct flagset *flagset_ref(struct flagset *set);
void flagset_unref(struct flagset *set);

/* Building a set from stored rows: add each evaluator (the set takes its
 * own reference to rule; updated_at may be NULL), then set the metadata.
 * 0, or -1 when out of memory. */
int flagset_add(struct flagset *set, const char *name, json_t *rule, int64_t version, const char *updated_at);
int flagset_set_metadata(struct flagset *set, json_t *metadata);

const struct flagset_evaluator *flagset_find(const struct flagset *set, const char *name);
/* A logic_ref_fn (eval/logic.h) over a set passed as ctx. */
const json_t *flagset_resolve(void *set, const char *name);

#endif
