/*
 * flagset — evaluators and flag-set metadata. See flagset.h.
 *
 * Evaluators are few (they are hand-written rule fragments): the set keeps
 * them in a sorted array, and a change builds a new set from the stored
 * rows (catalog.c), never touching the flags that do not use them.
 */
#include "flagset.h"

#include <stdlib.h>
#include <string.h>

struct flagset *flagset_create(void)
{
    struct flagset *set = calloc(1, sizeof *set);
    json_t *empty = json_object();
    int rc = -1;

    if (set != NULL) {
        atomic_init(&set->refs, 1);
        rc = flagset_set_metadata(set, empty);
    }
    json_decref(empty);
    if (rc != 0) {
        free(set);
        return NULL;
    }
    return set;
}

struct flagset *flagset_ref(struct flagset *set)
{
    atomic_fetch_add_explicit(&set->refs, 1, memory_order_relaxed);
    return set;
}

static void free_evaluator(struct flagset_evaluator *e)
{
    free(e->name);
    free(e->updated_at);
    json_decref(e->rule);
}

void flagset_unref(struct flagset *set)
{
    if (set == NULL || atomic_fetch_sub_explicit(&set->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < set->count; i++)
        free_evaluator(&set->evaluators[i]);
    free(set->evaluators);
    json_decref(set->metadata);
    free(set->metadata_json);
    free(set);
}

/* Index of name, or where it would go (then *found is false). */
static size_t position(const struct flagset *set, const char *name, bool *found)
{
    size_t lo = 0, hi = set->count;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(set->evaluators[mid].name, name);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = false;
    return lo;
}

static int fill(struct flagset_evaluator *e, const char *name, json_t *rule, int64_t version, const char *updated_at)
{
    e->name = strdup(name);
    e->updated_at = updated_at ? strdup(updated_at) : NULL;
    e->rule = json_incref(rule);
    e->version = version;
    if (e->name == NULL || (updated_at != NULL && e->updated_at == NULL)) {
        free_evaluator(e);
        return -1;
    }
    return 0;
}

int flagset_add(struct flagset *set, const char *name, json_t *rule, int64_t version, const char *updated_at)
{
    bool found;
    size_t at = position(set, name, &found);
    struct flagset_evaluator *grown;

    if (found) {
        struct flagset_evaluator fresh;
        if (fill(&fresh, name, rule, version, updated_at) != 0)
            return -1;
        free_evaluator(&set->evaluators[at]);
        set->evaluators[at] = fresh;
        return 0;
    }
    grown = realloc(set->evaluators, (set->count + 1) * sizeof *grown);
    if (grown == NULL)
        return -1;
    set->evaluators = grown;
    memmove(&grown[at + 1], &grown[at], (set->count - at) * sizeof *grown);
    if (fill(&grown[at], name, rule, version, updated_at) != 0) {
        memmove(&grown[at], &grown[at + 1], (set->count - at) * sizeof *grown);
        return -1;
    }
    set->count++;
    return 0;
}

int flagset_set_metadata(struct flagset *set, json_t *metadata)
{
    char *text;

    if (metadata == NULL || !json_is_object(metadata))
        return -1;
    text = json_dumps(metadata, JSON_COMPACT | JSON_SORT_KEYS);
    if (text == NULL)
        return -1;
    json_decref(set->metadata);
    free(set->metadata_json);
    set->metadata = json_incref(metadata);
    set->metadata_json = text;
    set->metadata_len = strlen(text);
    return 0;
}

const struct flagset_evaluator *flagset_find(const struct flagset *set, const char *name)
{
    bool found;
    size_t at = set ? position(set, name, &found) : 0;

    return set != NULL && found ? &set->evaluators[at] : NULL;
}

const json_t *flagset_resolve(void *set, const char *name)
{
    const struct flagset_evaluator *e = flagset_find(set, name);
    return e ? e->rule : NULL;
}
