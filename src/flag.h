/*
 * flag — the flag: the domain type every other module shares.
 *
 * Owns: what a valid flag name is; `struct flag`, one immutable,
 * reference-counted flag built once from a stored row: its document
 * (flagdoc.h) taken apart into typed variants, the default variant and the
 * targeting rule compiled (eval/logic.h), with its JSON renderings made at
 * that moment so that reads never encode; and evaluating a flag for a
 * context the way flagd resolves one (flag_evaluate). Pure: no I/O, no
 * global state.
 *
 * A rule that uses $ref is compiled against a flag set (flagset.h); the
 * snapshot keeps every flag it holds bound to its current set (flag_bind).
 *
 * Adding a field to flags means: a member in struct flag_row (what the
 * store reads and writes), the same in struct flag, and its line in the
 * rendering in flag.c. The snapshot, the sync thread and the API hold
 * flags by pointer and never spell the fields out.
 */
#ifndef TM_FLAG_H
#define TM_FLAG_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Names are 1-100 characters of [A-Za-z0-9._:-], starting with a letter or
 * digit: the original column is VARCHAR(100), and the character set keeps
 * names safe in URLs, logs and metrics labels without escaping. Rows the
 * original monolith wrote may hold other names (up to 100 characters, which
 * is at most FLAG_STORED_NAME_MAX bytes of UTF-8); they are served as they
 * are. */
#define FLAG_NAME_MAX 100
#define FLAG_STORED_NAME_MAX (4 * FLAG_NAME_MAX)

struct flagset;
struct logic_rule;
struct arena;

/* A flag as the store holds it. Strings are borrowed for the call. */
struct flag_row {
    const char *name;
    int64_t id;                /* the store's row id */
    bool is_enabled;
    const char *document;      /* the stored document (flagdoc.h), NULL: the original's boolean */
    int64_t version;           /* counts changes; 1 when created */
    int64_t expect_version;    /* updates: change only this version (0: any) */
    const char *created_at;    /* RFC 3339 UTC, or NULL */
    const char *updated_at;
};

enum flag_type { FLAG_TYPE_BOOLEAN, FLAG_TYPE_STRING, FLAG_TYPE_NUMBER, FLAG_TYPE_OBJECT };

struct flag_variant {
    const char *name;          /* NUL-terminated, inside the flag's document */
    size_t name_len;
    const json_t *value;
    char *name_json;           /* the name as a JSON string */
    size_t name_json_len;
    char *value_json;          /* the value as compact JSON */
    size_t value_json_len;
};
/* A flag the original monolith created (no stored document) shares one
 * immutable document and one variants array with every other such flag. */

/* A committed flag. Immutable once created; shared by every snapshot that
 * holds it, freed when the last reference goes. */
struct flag {
    atomic_long refs;
    uint64_t name_hash;        /* flag_name_hash(name) */
    int64_t id;
    int64_t version;
    bool is_enabled;
    enum flag_type type;
    json_t *doc;               /* the document, normalized (flagdoc.h) */
    size_t variant_count;
    struct flag_variant *variants;   /* sorted by name */
    int default_variant;       /* index into variants, or -1: the caller's default */
    struct logic_rule *rule;   /* NULL: no targeting */
    bool uses_refs;            /* the rule names a $ref */
    struct flagset *bound_set; /* the set its $refs were resolved against (a reference), or NULL */
    const char *problem;       /* the stored document cannot be used: every evaluation fails (static text) */
    char *metadata_json;       /* the flag's own metadata object, or NULL when it has none */
    size_t metadata_len;
    char *texts;               /* one allocation holding the six below */
    const char *name_json;     /* the name as a JSON string */
    size_t name_json_len;
    const char *summary;       /* {"name":...,"is_enabled":...}: an element of GET /flags */
    size_t summary_len;
    const char *body;          /* the whole flag: GET /flags/<name> */
    size_t body_len;
    const char *etag;          /* "\"<version>\"", NUL-terminated */
    const char *created_at, *updated_at;   /* RFC 3339, or NULL */
    size_t name_len;
    char name[];               /* NUL-terminated */
};

bool flag_name_valid(const char *name, size_t len);
uint64_t flag_name_hash(const char *name, size_t len);

/* A new flag with one reference, or NULL when out of memory. set (may be
 * NULL) resolves the rule's $refs. A document that cannot be used (not
 * JSON, no variants) still makes a flag: one whose evaluations fail. */
struct flag *flag_create(const struct flag_row *row, const struct flagset *set);
struct flag *flag_ref(struct flag *flag);
void flag_unref(struct flag *flag);
/* flag with its $refs resolved against set: flag itself (a new reference)
 * when it uses none or is bound to set already, else a rebuilt copy. NULL
 * when out of memory. */
struct flag *flag_bind(struct flag *flag, const struct flagset *set);
bool flag_needs_binding(const struct flag *flag, const struct flagset *set);
/* The document of a flag the original monolith created (a new reference):
 * variants {"on": true, "off": false}, defaultVariant "on". */
json_t *flag_original_document(void);
/* The variant called name[0..len), or NULL. */
const struct flag_variant *flag_variant(const struct flag *flag, const char *name, size_t len);
const char *flag_type_name(enum flag_type type);

/* ---- evaluation ------------------------------------------------------------ */

enum flag_reason {
    FLAG_REASON_STATIC,              /* no targeting: the default variant */
    FLAG_REASON_DEFAULT,             /* targeting gave null, or there is no default */
    FLAG_REASON_TARGETING_MATCH,
    FLAG_REASON_DISABLED,
    FLAG_REASON_ERROR,
};

enum flag_error {
    FLAG_ERROR_NONE,
    FLAG_ERROR_PARSE,                /* the rule cannot be evaluated */
    FLAG_ERROR_GENERAL,              /* the rule named no variant of the flag */
};

struct flag_result {
    enum flag_reason reason;
    enum flag_error error;
    const struct flag_variant *variant;   /* NULL: no value (the caller's default applies) */
    char detail[192];                     /* errors: why */
};

/* Evaluates flag for context (a JSON object, or NULL for none) at Unix
 * time now_s, using arena (eval/value.h) for the rule's values and resetting
 * it before returning. */
void flag_evaluate(const struct flag *flag, const json_t *context, int64_t now_s, struct arena *arena,
                   struct flag_result *out);
const char *flag_reason_text(enum flag_reason reason);    /* "TARGETING_MATCH" ... */
const char *flag_error_code(enum flag_error error);       /* "PARSE_ERROR", "GENERAL" */

#endif
