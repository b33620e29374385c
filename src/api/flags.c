/*
 * api/flags — the original monolith's routes: POST /flags, GET /flags,
 * GET /flags/<name>, PUT /flags/<name>, plus DELETE /flags/<name>.
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

/* A page: at most `limit` flags after `after`, rendered into a new body. */
static void respond_page(struct api_call *call, struct snapshot *snap, const char *after, size_t after_len,
                         long limit)
{
    struct snapshot_cursor cursor;
    const struct flag *f;
    size_t total = 2, count = 0;
    char *body, *p;

    snapshot_cursor_after(snap, after, after_len, &cursor);
    while (count < (size_t)limit && (f = snapshot_cursor_next(&cursor)) != NULL) {
        total += f->body_len + 1;
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
        memcpy(p, f->body, f->body_len);
        p += f->body_len;
    }
    *p++ = ']';
    snapshot_release(snap);
    http_respond_owned(call->req, 200, body, (size_t)(p - body));
}

void api_flags_list(struct api_call *call)
{
    char limit_text[32], after[FLAG_STORED_NAME_MAX + 1];
    size_t limit_len, after_len = 0;
    int has_limit = http_query_param(call->req, "limit", limit_text, sizeof limit_text, &limit_len);
    int has_after = http_query_param(call->req, "after", after, sizeof after, &after_len);
    long limit = PAGE_LIMIT_MAX;
    struct snapshot *snap;

    if (has_limit < 0 || (has_limit > 0 && config_parse_int(limit_text, 1, PAGE_LIMIT_MAX, &limit) != 0)) {
        http_respond_error(call->req, 400, "'limit' must be an integer from 1 to 10000");
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
    if (has_limit == 0 && has_after == 0)   /* the original's full list */
        respond_whole_list(call, snap);
    else
        respond_page(call, snap, after, after_len, limit);
}

/* The flag name in the path, decoded. */
static const struct route_param *path_name(const struct api_call *call)
{
    return &call->match->params[0];
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
    http_respond_buffer(call->req, 200, flag->body, flag->body_len, api_release_snapshot, snap);
}

/* ---- writes ----------------------------------------------------------- */

enum flag_op { FLAG_CREATE, FLAG_UPDATE, FLAG_DELETE };

struct flag_job {
    struct api_job base;
    enum flag_op op;
    bool is_enabled;
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
    case STORE_UNAVAILABLE:
        log_event(LOG_WARN, "store unavailable",
                  json_pack("{s:s, s:s}", "request_id", job->base.req->request_id,
                            "detail", store_conn_error(conn)));
        /* Usually nothing was written; when the database stopped answering
         * in the middle of a commit, nobody can know. */
        api_reply_error(reply, 503, "database unavailable; the change is not confirmed, retry shortly");
        return;
    default:
        log_event(LOG_ERROR, "store error",
                  json_pack("{s:s, s:s}", "request_id", job->base.req->request_id,
                            "detail", store_conn_error(conn)));
        api_reply_error(reply, 500, "internal error; see the server log for this request id");
        return;
    }
}

static void flag_job_run(struct api_job *base, struct store_conn *conn, struct api_reply *reply)
{
    struct flag_job *job = (struct flag_job *)base;
    struct flag_row row = {.name = job->name, .is_enabled = job->is_enabled};
    char message[FLAG_STORED_NAME_MAX + 64];
    enum store_status st;

    if (job->op == FLAG_CREATE)
        st = catalog_create(base->app, conn, &row, NULL);
    else if (job->op == FLAG_UPDATE)
        st = catalog_update(base->app, conn, &row, NULL);
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

static void submit(struct api_call *call, enum flag_op op, const char *name, size_t len, bool is_enabled)
{
    struct flag_job *job = calloc(1, sizeof *job);

    if (job == NULL) {
        http_respond_error(call->req, 500, "internal error: out of memory");
        return;
    }
    job->base.run = flag_job_run;
    job->op = op;
    job->is_enabled = is_enabled;
    memcpy(job->name, name, len);
    job->name[len] = '\0';
    api_defer(call, &job->base);
}

void api_flag_create(struct api_call *call)
{
    struct flag_create_request in;
    char err[256];

    if (flag_decode_create(call->req->body, call->req->body_len, &in, err, sizeof err) != 0) {
        http_respond_error(call->req, 400, err);
        return;
    }
    submit(call, FLAG_CREATE, in.name, strlen(in.name), in.is_enabled);
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

void api_flag_update(struct api_call *call)
{
    struct flag_update_request in;
    char err[256];

    if (flag_decode_update(call->req->body, call->req->body_len, &in, err, sizeof err) != 0) {
        http_respond_error(call->req, 400, err);
        return;
    }
    if (!path_name_usable(call)) {
        http_respond_error(call->req, 404, "Flag not found");
        return;
    }
    submit(call, FLAG_UPDATE, path_name(call)->value, path_name(call)->len, in.is_enabled);
}

void api_flag_delete(struct api_call *call)
{
    if (!path_name_usable(call)) {
        http_respond_error(call->req, 404, "Flag not found");
        return;
    }
    submit(call, FLAG_DELETE, path_name(call)->value, path_name(call)->len, false);
}
