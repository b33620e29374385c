/*
 * flagfile — import and export of flagd flag files. See flagfile.h.
 */
#include "flagfile.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "export.h"
#include "flagdoc.h"
#include "snapshot.h"
#include "text.h"

/* One flag of the file, checked. */
struct file_flag {
    char name[FLAG_NAME_MAX + 1];
    bool is_enabled;
    json_t *doc;               /* normalized */
    char *text;                /* its stored form */
};

struct plan {
    struct file_flag *flags;
    size_t count;
    json_t *names;             /* the flags' names, as an object's keys (a set) */
    json_t *evaluators;        /* the file's $evaluators (an object) */
    json_t *metadata;          /* the file's metadata, or NULL */
    int errors, warnings;
};

static void plan_free(struct plan *p)
{
    for (size_t i = 0; i < p->count; i++) {
        json_decref(p->flags[i].doc);
        free(p->flags[i].text);
    }
    free(p->flags);
    json_decref(p->names);
    json_decref(p->evaluators);
    json_decref(p->metadata);
}

/* The file's text, parsed. */
static json_t *read_document(const char *path, FILE *report)
{
    FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
    json_error_t jerr;
    json_t *doc;
    char *text;
    size_t len = 0, got;

    if (f == NULL) {
        fprintf(report, "error: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    text = malloc(FLAGFILE_MAX_BYTES + 1);
    while (text != NULL && (got = fread(text + len, 1, FLAGFILE_MAX_BYTES + 1 - len, f)) > 0)
        len += got;
    if (f != stdin)
        fclose(f);
    if (text == NULL || len > FLAGFILE_MAX_BYTES) {
        fprintf(report, "error: %s is larger than %d MiB\n", path, FLAGFILE_MAX_BYTES / (1024 * 1024));
        free(text);
        return NULL;
    }
    doc = json_loadb(text, len, 0, &jerr);
    free(text);
    if (doc == NULL)
        fprintf(report, "error: %s is not JSON: line %d column %d: %s\n", path, jerr.line, jerr.column, jerr.text);
    else if (!json_is_object(doc) || json_object_get(doc, "flags") == NULL) {
        fprintf(report, "error: %s is not a flagd flag file: it needs a \"flags\" member\n", path);
        json_decref(doc);
        doc = NULL;
    }
    return doc;
}

/* Checks one flag of the file into the plan. */
static void plan_flag(struct plan *p, const char *key, const json_t *flag, const struct flagset *set, FILE *report)
{
    struct flagdoc_change change;
    char err[FLAGDOC_MESSAGE_MAX], warning[FLAGDOC_MESSAGE_MAX];
    struct file_flag *ff;
    json_t *doc;

    if (json_object_get(p->names, key) != NULL) {
        fprintf(report, "error: flag %s: defined twice\n", key);
        p->errors++;
        return;
    }
    if (flagdoc_decode_flagd(key, flag, &change, err, sizeof err) != 0) {
        fprintf(report, "error: flag %s: %s\n", key, err);
        p->errors++;
        return;
    }
    doc = flagdoc_build(NULL, &change, set, false, err, sizeof err, warning, sizeof warning);
    if (doc == NULL) {
        fprintf(report, "error: flag %s: %s\n", key, err);
        p->errors++;
    } else {
        if (warning[0] != '\0') {
            fprintf(report, "warning: flag %s: %s\n", key, warning);
            p->warnings++;
        }
        ff = &p->flags[p->count++];
        memcpy(ff->name, key, strlen(key) + 1);
        if (json_object_set_new(p->names, key, json_true()) != 0)
            p->errors++;
        ff->is_enabled = change.is_enabled;
        ff->doc = doc;
        ff->text = json_dumps(doc, JSON_COMPACT);
        if (ff->text == NULL) {
            fprintf(report, "error: out of memory\n");
            p->errors++;
        }
    }
    flagdoc_change_clear(&change);
}

/* Reads and checks the whole file. */
static int plan_read(struct plan *p, const json_t *file, FILE *report)
{
    const json_t *flags = json_object_get(file, "flags"), *evaluators = json_object_get(file, "$evaluators");
    const json_t *metadata = json_object_get(file, "metadata");
    struct flagset *set = flagset_create();
    const char *key;
    json_t *value;
    size_t total = json_is_array(flags) ? json_array_size(flags) : json_object_size(flags);

    p->names = json_object();
    if (set == NULL || p->names == NULL || (p->flags = calloc(total + 1, sizeof *p->flags)) == NULL) {
        flagset_unref(set);
        fprintf(report, "error: out of memory\n");
        return -1;
    }
    if (evaluators != NULL && !json_is_object(evaluators)) {
        fprintf(report, "error: $evaluators must be an object (name -> rule)\n");
        p->errors++;
    }
    p->evaluators = json_is_object(evaluators) ? json_incref((json_t *)evaluators) : json_object();
    json_object_foreach(p->evaluators, key, value) {
        if (!flag_name_valid(key, strlen(key))) {
            fprintf(report, "error: $evaluators.%s: names are 1-100 characters of A-Z a-z 0-9 . _ : -\n", key);
            p->errors++;
        } else if (flagset_add(set, key, value, 1, NULL) != 0) {
            p->errors++;
        }
    }
    if (metadata != NULL) {
        json_t *m = (json_t *)metadata;
        bool ok = json_is_object(m);
        json_object_foreach(m, key, value)
            ok = ok && (json_is_string(value) || json_is_number(value) || json_is_boolean(value));
        if (!ok) {
            fprintf(report, "error: metadata must be an object of strings, numbers and booleans\n");
            p->errors++;
        } else {
            p->metadata = json_incref(m);
        }
    }
    if (json_is_array(flags)) {   /* flagd's array form: [{"key": ..., ...}] */
        for (size_t i = 0; i < json_array_size(flags); i++) {
            const json_t *f = json_array_get(flags, i);
            const char *k = json_string_value(json_object_get(f, "key"));
            if (k == NULL) {
                fprintf(report, "error: flags[%zu]: needs a \"key\"\n", i);
                p->errors++;
                continue;
            }
            plan_flag(p, k, f, set, report);
        }
    } else if (json_is_object(flags)) {
        json_object_foreach((json_t *)flags, key, value)
            plan_flag(p, key, value, set, report);
    } else {
        fprintf(report, "error: flags must be an object (key -> flag) or an array\n");
        p->errors++;
    }
    flagset_unref(set);
    return 0;
}

/* ---- what the store holds ------------------------------------------------------ */

static int add_flag(void *builder, struct flag *flag)
{
    return snapshot_builder_add(builder, flag);
}

/* Everything the store holds, as a snapshot. */
static enum store_status load_snapshot(struct store_conn *conn, struct snapshot **out)
{
    struct snapshot_builder *builder = snapshot_builder_create();
    struct flagset *set = NULL;
    enum store_status st;

    if (builder == NULL)
        return STORE_ERROR;
    st = store_flagset_load(conn, &set);
    if (st == STORE_OK) {
        snapshot_builder_set_flagset(builder, set);
        st = store_flag_load_all(conn, add_flag, builder);
    }
    flagset_unref(set);
    if (st != STORE_OK) {
        snapshot_builder_abort(builder);
        return st;
    }
    *out = snapshot_builder_finish(builder);
    return *out != NULL ? STORE_OK : STORE_ERROR;
}

/* ---- applying -------------------------------------------------------------------- */

struct counts {
    int created, updated, deleted, unchanged;
    int evaluators_saved, evaluators_deleted;
    bool metadata_saved;
};

/* Runs every change (or only reports it, for a dry run). */
static enum store_status apply(struct store_conn *conn, const struct plan *p, const struct snapshot *now,
                               const struct flagfile_options *o, struct counts *c, FILE *report)
{
    enum store_status st = STORE_OK;
    struct snapshot_cursor cursor;
    const struct flag *f;
    const char *key;
    json_t *value;

    /* Evaluators first: the flags after them may name them. */
    json_object_foreach(p->evaluators, key, value) {
        const struct flagset_evaluator *e = flagset_find(now->flagset, key);
        int64_t version;
        char *text;
        if (e != NULL && json_equal(e->rule, value))
            continue;
        fprintf(report, "%s evaluator %s\n", e ? "update" : "create", key);
        c->evaluators_saved++;
        if (o->dry_run)
            continue;
        text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
        st = text ? store_evaluator_put(conn, key, text, &version) : STORE_ERROR;
        free(text);
        if (st != STORE_OK)
            return st;
    }
    for (size_t i = 0; i < p->count; i++) {
        const struct file_flag *ff = &p->flags[i];
        const struct flag *cur = snapshot_find(now, ff->name, strlen(ff->name));
        struct flag_row row = {.name = ff->name, .is_enabled = ff->is_enabled, .document = ff->text};
        struct flag *committed = NULL;
        if (cur != NULL && cur->is_enabled == ff->is_enabled && json_equal(cur->doc, ff->doc)) {
            c->unchanged++;
            continue;
        }
        fprintf(report, "%s flag %s\n", cur ? "update" : "create", ff->name);
        if (cur != NULL)
            c->updated++;
        else
            c->created++;
        if (o->dry_run)
            continue;
        row.expect_version = cur ? cur->version : 0;
        st = cur ? store_flag_update(conn, &row, &committed) : store_flag_create(conn, &row, &committed);
        flag_unref(committed);
        if (st != STORE_OK)
            return st;
    }
    if (p->metadata != NULL && !json_equal(p->metadata, now->flagset->metadata)) {
        char *text = json_dumps(p->metadata, JSON_COMPACT);
        fprintf(report, "update flag-set metadata\n");
        c->metadata_saved = true;
        st = o->dry_run ? STORE_OK : text ? store_metadata_put(conn, text) : STORE_ERROR;
        free(text);
        if (st != STORE_OK)
            return st;
    }
    if (!o->prune)
        return STORE_OK;
    snapshot_cursor_after(now, "", 0, &cursor);
    while ((f = snapshot_cursor_next(&cursor)) != NULL) {
        if (text_utf8_valid(f->name, f->name_len) && json_object_get(p->names, f->name) != NULL)
            continue;
        fprintf(report, "delete flag %s\n", f->name);
        c->deleted++;
        if (!o->dry_run && (st = store_flag_delete(conn, f->name)) != STORE_OK)
            return st;
    }
    for (size_t i = 0; i < now->flagset->count; i++) {
        const char *name = now->flagset->evaluators[i].name;
        if (json_object_get(p->evaluators, name) != NULL)
            continue;
        fprintf(report, "delete evaluator %s\n", name);
        c->evaluators_deleted++;
        if (!o->dry_run && (st = store_evaluator_delete(conn, name)) != STORE_OK)
            return st;
    }
    return STORE_OK;
}

int flagfile_import(struct store *store, const char *path, const struct flagfile_options *options, FILE *report)
{
    struct plan plan = {0};
    struct counts counts = {0};
    struct store_conn *conn = NULL;
    struct snapshot *now = NULL;
    json_t *file = read_document(path, report);
    enum store_status st = STORE_ERROR;
    int rc = 1;

    if (file == NULL || plan_read(&plan, file, report) != 0)
        goto out;
    if (plan.errors > 0) {
        fprintf(report, "import refused: %d error%s in %s; nothing was written\n", plan.errors,
                plan.errors == 1 ? "" : "s", path);
        goto out;
    }
    conn = store_conn_create(store, "import");
    if (conn == NULL)
        goto out;
    store_conn_set_cli_actor(conn, "import");
    /* The comparison and the changes in one transaction: what is compared
     * is what is changed. */
    if (!options->dry_run && (st = store_begin(conn)) != STORE_OK)
        goto store_failed;
    if ((st = load_snapshot(conn, &now)) != STORE_OK || (st = apply(conn, &plan, now, options, &counts, report)) != STORE_OK)
        goto store_failed;
    if (!options->dry_run && (st = store_commit(conn)) != STORE_OK)
        goto store_failed;
    fprintf(report, "%s: %d created, %d updated, %d deleted, %d unchanged flags; %d evaluators saved, %d deleted; "
                    "%d warning%s%s\n",
            options->dry_run ? "dry run (nothing written)" : "imported", counts.created, counts.updated,
            counts.deleted, counts.unchanged, counts.evaluators_saved, counts.evaluators_deleted, plan.warnings,
            plan.warnings == 1 ? "" : "s", counts.metadata_saved ? "; flag-set metadata updated" : "");
    rc = 0;
    goto out;

store_failed:
    store_rollback(conn);
    fprintf(report, "import failed, nothing was written: %s\n",
            st == STORE_STALE ? "a flag changed while importing; run the import again" : store_conn_error(conn));
out:
    snapshot_release(now);
    store_conn_destroy(conn);
    plan_free(&plan);
    json_decref(file);
    return rc;
}

int flagfile_export(struct store *store, FILE *out, FILE *errors)
{
    struct store_conn *conn = store_conn_create(store, "export");
    struct snapshot *snap = NULL;
    enum store_status st = conn ? load_snapshot(conn, &snap) : STORE_ERROR;
    size_t len = 0;
    char *text = st == STORE_OK ? export_flagd(snap, &len) : NULL;
    int rc = 0;

    if (text == NULL || fwrite(text, 1, len, out) != len || fflush(out) != 0) {
        fprintf(errors, "export failed: %s\n", st != STORE_OK && conn ? store_conn_error(conn)
                                                 : text == NULL ? "out of memory" : strerror(errno));
        rc = 1;
    }
    free(text);
    snapshot_release(snap);
    store_conn_destroy(conn);
    return rc;
}
