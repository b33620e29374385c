/*
 * api/flags — the original monolith's routes: POST /flags, GET /flags,
 * GET /flags/<name>, PUT /flags/<name>, plus DELETE /flags/<name>, over
 * flag documents (flagdoc.h): POST takes a whole document, PUT any part of
 * one (with If-Match: <version> for an update that must not overwrite a
 * change it has not seen).
 *
 * Reads answer from the snapshot's pre-rendered JSON without copying: the
 * response holds a snapshot reference until it is sent. Writes run on a
 * store worker through the catalog (commit, then publish to the snapshot,
 * under the name's lock), so the next read on this instance sees the write
 * (read-your-writes).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../catalog.h"
#include "../flag.h"
#include "../flagdoc.h"
#include "../log.h"
#include "routes.h"

/* The most flags one page holds: `limit` may not ask for more, and a page
 * that names only `after` gets this many. */
#define PAGE_LIMIT_MAX 10000
/* List parts kept on the stack: one per hundred-odd flags, plus two. */
#define LIST_PARTS_ON_STACK 64

/* ---- reads ------------------------------------------------------------ */

/* The whole list: the snapshot's leaves, sent as they are. */
static void respond_whole_list(struct api_call *call, struct snapshot *snap)
{
    struct iovec on_stack[LIST_PARTS_ON_STACK], *parts = on_stack;
    size_t count = snapshot_list_part_count(snap);

    if (count > LIST_PARTS_ON_STACK && (parts = malloc(count * sizeof *parts)) == NULL) {
        snapshot_release(snap);
        http_respond_error(call->req, 500, "internal error: out of memory");
        return;
    }
    snapshot_list_parts(snap, parts);
    http_respond_parts(call->req, 200, parts, count, api_release_snapshot, snap);   /* copies parts */
    if (parts != on_stack)
        free(parts);
}

/* A flag's whole document as GET /flags/<name> answers it: its
 * pre-rendered body with "last_evaluated_at" (usage.h: as of the last usage
 * flush, on any instance; null when never) put before its closing brace,
 * from the snapshot's usage view: nothing is formatted or allocated. Fills
 * parts (two at most) and returns how many. */
static size_t document_parts(const struct snapshot *snap, const struct flag *f, struct iovec parts[2])
{
    size_t tail_len;
    const char *tail;

    if (f->body_len < 2 || f->body[f->body_len - 1] != '}') {
        parts[0] = (struct iovec){(void *)f->body, f->body_len};
        return 1;
    }
    tail = usage_view_json_tail(snap->usage, f->name, f->name_len, &tail_len);
    parts[0] = (struct iovec){(void *)f->body, f->body_len - 1};
    parts[1] = (struct iovec){(void *)tail, tail_len};
    return 2;
}

/* What a page shows of flag f: its summary, or (full) its whole document.
 * Writes it at p when p is not NULL; returns its length. */
static size_t page_entry(const struct snapshot *snap, const struct flag *f, bool full, char *p)
{
    struct iovec parts[2] = {{(void *)f->summary, f->summary_len}};
    size_t count = full ? document_parts(snap, f, parts) : 1, len = 0;

    for (size_t i = 0; i < count; i++) {
        if (p != NULL)
            memcpy(p + len, parts[i].iov_base, parts[i].iov_len);
        len += parts[i].iov_len;
    }
    return len;
}

/* A page: at most `limit` flags after `after`, rendered into a new body. */
static void respond_page(struct api_call *call, struct snapshot *snap, const char *after, size_t after_len,
                         long limit, bool full)
{
    struct snapshot_cursor cursor;
    const struct flag *f;
    size_t total = 2, count = 0;
    char *body, *p;

    snapshot_cursor_after(snap, after, after_len, &cursor);
    while (count < (size_t)limit && (f = snapshot_cursor_next(&cursor)) != NULL) {
        total += page_entry(snap, f, full, NULL) + 1;
        count++;
    }
    body = malloc(total);
    if (body == NULL) {
        snapshot_release(snap);
        http_respond_error(call->req, 500, "internal error: out of memory");
        return;
    }
    p = body;
    *p++ = '[';
    snapshot_cursor_after(snap, after, after_len, &cursor);
    for (size_t i = 0; i < count && (f = snapshot_cursor_next(&cursor)) != NULL; i++) {
        if (i > 0)
            *p++ = ',';
        p += page_entry(snap, f, full, p);
    }
    *p++ = ']';
    snapshot_release(snap);
    http_respond_owned(call->req, 200, body, (size_t)(p - body));
}

void api_flags_list(struct api_call *call)
{
    char limit_text[32], after[FLAG_STORED_NAME_MAX + 1], view[16];
    size_t limit_len, after_len = 0, view_len;
    int has_limit = http_query_param(call->req, "limit", limit_text, sizeof limit_text, &limit_len);
    int has_after = http_query_param(call->req, "after", after, sizeof after, &after_len);
    int has_view = http_query_param(call->req, "view", view, sizeof view, &view_len);
    bool full = has_view > 0 && strcmp(view, "full") == 0;
    long limit = PAGE_LIMIT_MAX;
    struct snapshot *snap;

    if (has_limit < 0 || (has_limit > 0 && config_parse_int(limit_text, 1, PAGE_LIMIT_MAX, &limit) != 0)) {
        http_respond_error(call->req, 400, "'limit' must be an integer from 1 to 10000");
        return;
    }
    if (has_view != 0 && !full && !(has_view > 0 && strcmp(view, "summary") == 0)) {
        http_respond_error(call->req, 400, "'view' must be 'summary' (name and state) or 'full' (whole documents)");
        return;
    }
    if (has_after < 0) {
        /* Longer than any name: nothing sorts after it that it could name. */
        http_respond_error(call->req, 400, "'after' is longer than any flag name");
        return;
    }
    snap = api_snapshot_or_503(call);
    if (snap == NULL)
        return;
    if (has_limit == 0 && has_after == 0 && !full)   /* the original's full list */
        respond_whole_list(call, snap);
    else
        respond_page(call, snap, after, after_len, limit, full);
}

/* The flag name in the path, decoded. */
static const struct route_param *path_name(const struct api_call *call)
{
    return &call->match->params[0];
}

/* The flag's document (document_parts), pointing into the snapshot, which
 * the response holds until it is written. The "last_evaluated_at" field is
 * not part of the ETag, which is the flag's version (If-Match on PUT). */
static void respond_flag_with_usage(struct http_request *req, struct snapshot *snap, const struct flag *flag)
{
    struct iovec parts[2];
    size_t count = document_parts(snap, flag, parts);

    http_respond_parts(req, 200, parts, count, api_release_snapshot, snap);
}

void api_flag_get(struct api_call *call)
{
    struct snapshot *snap = api_snapshot_or_503(call);
    const struct flag *flag;

    if (snap == NULL)
        return;
    flag = snapshot_find(snap, path_name(call)->value, path_name(call)->len);
    if (flag == NULL) {
        snapshot_release(snap);
        http_respond_error(call->req, 404, "Flag not found");
        return;
    }
    /* The version, for If-Match on the next PUT (and If-None-Match). */
    http_add_header(call->req, "ETag", flag->etag);
    if (api_etag_matches(call->req, flag->etag)) {
        snapshot_release(snap);
        http_respond_empty(call->req, 304);
        return;
    }
    respond_flag_with_usage(call->req, snap, flag);
}

/* ---- writes ----------------------------------------------------------- */

enum flag_op { FLAG_CREATE, FLAG_UPDATE, FLAG_DELETE };

struct flag_job {
    struct api_job base;
    enum flag_op op;
    struct flagdoc_change change;   /* update: what to change (create: unused) */
    int64_t if_match;               /* update: 0, or the version the client saw */
    bool is_enabled;                /* create */
    char *document;                 /* create: the stored document, or NULL; update: made by change_flag */
    char error[FLAGDOC_MESSAGE_MAX];   /* update: why the change was refused */
    char name[FLAG_STORED_NAME_MAX + 1];
};

static void reply_failure(struct flag_job *job, enum store_status st, struct store_conn *conn,
                          struct api_reply *reply)
{
    char message[FLAG_STORED_NAME_MAX + 64];

    switch (st) {
    case STORE_NOT_FOUND:
        api_reply_error(reply, 404, "Flag not found");
        return;
    case STORE_CONFLICT:
        snprintf(message, sizeof message, "Flag '%s' already exists", job->name);
        api_reply_error(reply, 409, message);
        return;
    case STORE_STALE:
        api_reply_error(reply, 412, "the flag has changed since the version in If-Match; GET it and retry");
        return;
    case STORE_INVALID:
        api_reply_error(reply, 400, job->error);
        return;
    default:
        /* 503 (the database away) or 500, logged and counted. */
        api_reply_store_failure(&job->base, conn, st, reply);
        return;
    }
}

/* catalog_change_fn: the update's new row from the flag as it is now. */
static int change_flag(void *ctx, const struct flag *current, const struct flagset *set, struct flag_row *row)
{
    struct flag_job *job = ctx;
    char warning[8];
    json_t *doc;

    row->is_enabled = job->change.has_enabled ? job->change.is_enabled : current->is_enabled;
    row->document = NULL;   /* only the state: the document stays */
    if (!flagdoc_change_has_members(&job->change))
        return 0;
    doc = flagdoc_build(current->doc, &job->change, set, true, job->error, sizeof job->error, warning,
                        sizeof warning);
    if (doc == NULL)
        return -1;
    free(job->document);
    job->document = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    if (job->document == NULL) {
        snprintf(job->error, sizeof job->error, "out of memory");
        return -1;
    }
    row->document = job->document;
    return 0;
}

static void flag_job_run(struct api_job *base, struct store_conn *conn, struct api_reply *reply)
{
    struct flag_job *job = (struct flag_job *)base;
    struct flag_row row = {.name = job->name, .is_enabled = job->is_enabled, .document = job->document};
    char message[FLAG_STORED_NAME_MAX + 64];
    enum store_status st;

    if (job->op == FLAG_CREATE)
        st = catalog_create(base->app, conn, &row, NULL);
    else if (job->op == FLAG_UPDATE)
        st = catalog_update(base->app, conn, job->name, job->if_match, change_flag, job, NULL);
    else
        st = catalog_delete(base->app, conn, job->name);

    if (st != STORE_OK) {
        reply_failure(job, st, conn, reply);
    } else if (job->op == FLAG_CREATE) {
        snprintf(message, sizeof message, "Flag '%s' created successfully", job->name);
        api_reply_message(reply, 201, message);
    } else if (job->op == FLAG_UPDATE) {
        snprintf(message, sizeof message, "Flag '%s' updated", job->name);
        api_reply_message(reply, 200, message);
    } else {
        reply->status = 204;
    }
}

static void flag_job_cleanup(struct api_job *base)
{
    struct flag_job *job = (struct flag_job *)base;

    flagdoc_change_clear(&job->change);
    free(job->document);
}

static struct flag_job *new_job(struct api_call *call, enum flag_op op, const char *name, size_t len)
{
    struct flag_job *job = calloc(1, sizeof *job);

    if (job == NULL) {
        http_respond_error(call->req, 500, "internal error: out of memory");
        return NULL;
    }
    job->base.run = flag_job_run;
    job->base.cleanup = flag_job_cleanup;
    job->op = op;
    memcpy(job->name, name, len);
    job->name[len] = '\0';
    return job;
}

void api_flag_create(struct api_call *call)
{
    struct flagdoc_change in;
    struct snapshot *snap;
    struct flag_job *job;
    char err[FLAGDOC_MESSAGE_MAX];
    json_t *doc = NULL;

    if (flagdoc_decode_create(call->req->body, call->req->body_len, &in, err, sizeof err) != 0) {
        http_respond_error(call->req, 400, err);
        return;
    }
    /* A document is checked against the evaluators its rule may name. */
    if (flagdoc_change_has_members(&in)) {
        if ((snap = api_snapshot_or_503(call)) == NULL) {
            flagdoc_change_clear(&in);
            return;
        }
        doc = flagdoc_build(NULL, &in, snap->flagset, true, err, sizeof err, NULL, 0);
        snapshot_release(snap);
        if (doc == NULL) {
            flagdoc_change_clear(&in);
            http_respond_error(call->req, 400, err);
            return;
        }
    }
    job = new_job(call, FLAG_CREATE, in.name, strlen(in.name));
    if (job != NULL) {
        job->is_enabled = in.has_enabled && in.is_enabled;
        /* The original's shape (no members) is stored as it always was:
         * no document. */
        job->document = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
        if (doc != NULL && job->document == NULL) {
            free(job);
            http_respond_error(call->req, 500, "internal error: out of memory");
        } else {
            api_defer(call, &job->base);
        }
    }
    json_decref(doc);
    flagdoc_change_clear(&in);
}

/* A path name that can name an existing flag. Names that break today's rule
 * but exist (rows the original monolith wrote) stay reachable; any other
 * name that breaks it is simply not found, without asking the database. */
static bool path_name_usable(struct api_call *call)
{
    const struct route_param *name = path_name(call);
    struct snapshot *snap;
    bool known;

    if (name->len > FLAG_STORED_NAME_MAX)
        return false;
    if (flag_name_valid(name->value, name->len))
        return true;
    snap = snapshot_acquire(call->app->snapshots);
    known = snap != NULL && snapshot_find(snap, name->value, name->len) != NULL;
    snapshot_release(snap);
    return known;
}

/* If-Match: a version, as GET's ETag gives it ("3", or 3, or W/"3"), or
 * "*" (any). 0 when absent or "*", -1 when unreadable. */
static int64_t if_match_version(const struct http_request *req)
{
    size_t len;
    const char *value = http_header(req, "If-Match", &len);
    char text[24];
    long long version;
    char *end;

    if (value == NULL || (len == 1 && value[0] == '*'))
        return 0;
    if (len >= 2 && value[0] == 'W' && value[1] == '/') {
        value += 2;
        len -= 2;
    }
    if (len >= 2 && value[0] == '"' && value[len - 1] == '"') {
        value++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof text)
        return -1;
    memcpy(text, value, len);
    text[len] = '\0';
    version = strtoll(text, &end, 10);
    return *end == '\0' && text[0] >= '0' && text[0] <= '9' && version > 0 ? version : -1;
}

void api_flag_update(struct api_call *call)
{
    struct flagdoc_change in;
    struct flag_job *job;
    int64_t if_match = if_match_version(call->req);
    char err[FLAGDOC_MESSAGE_MAX];

    if (if_match < 0) {
        http_respond_error(call->req, 400, "If-Match must be a flag version as its ETag gives it, or *");
        return;
    }
    if (flagdoc_decode_update(call->req->body, call->req->body_len, &in, err, sizeof err) != 0) {
        http_respond_error(call->req, 400, err);
        return;
    }
    if (!path_name_usable(call)) {
        flagdoc_change_clear(&in);
        http_respond_error(call->req, 404, "Flag not found");
        return;
    }
    job = new_job(call, FLAG_UPDATE, path_name(call)->value, path_name(call)->len);
    if (job == NULL) {
        flagdoc_change_clear(&in);
        return;
    }
    job->change = in;
    job->if_match = if_match;
    api_defer(call, &job->base);
}

void api_flag_delete(struct api_call *call)
{
    struct flag_job *job;

    if (!path_name_usable(call)) {
        http_respond_error(call->req, 404, "Flag not found");
        return;
    }
    job = new_job(call, FLAG_DELETE, path_name(call)->value, path_name(call)->len);
    if (job != NULL)
        api_defer(call, &job->base);
}
