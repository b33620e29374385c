/*
 * api/flags — the original monolith's routes: POST /flags, GET /flags,
 * GET /flags/<name>, PUT /flags/<name>, plus DELETE /flags/<name>.
 *
 * Reads answer from the snapshot's pre-rendered bodies without copying: the
 * response holds a snapshot reference until it is sent. Writes run on a
 * store worker: under the flag name's lock, commit to the store, then apply
 * the committed row to the snapshot, so the next read on this instance sees
 * the write (read-your-writes) and writes to one name land in commit order.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../flag.h"
#include "../log.h"
#include "api.h"

/* Longest path name worth looking up: 100 characters of UTF-8 from a row
 * the original monolith wrote (it did not restrict names). */
#define LOOKUP_NAME_MAX (4 * FLAG_NAME_MAX)
#define PAGE_LIMIT_MAX 10000

static void release_snapshot(void *snap)
{
    snapshot_release(snap);
}

/* ---- reads ------------------------------------------------------------ */

/* Renders flags [from, from+count) of snap as a JSON array. */
static char *render_page(const struct snapshot *snap, size_t from, size_t count, size_t *len)
{
    size_t total = 2;
    char *body, *p;

    for (size_t i = from; i < from + count; i++)
        total += snap->flags[i]->body_len + 1;
    body = malloc(total);
    if (body == NULL)
        return NULL;
    p = body;
    *p++ = '[';
    for (size_t i = from; i < from + count; i++) {
        if (i > from)
            *p++ = ',';
        memcpy(p, snap->flags[i]->body, snap->flags[i]->body_len);
        p += snap->flags[i]->body_len;
    }
    *p++ = ']';
    *len = (size_t)(p - body);
    return body;
}

enum MHD_Result api_flags_list(struct http_request *req)
{
    const char *limit_text = http_query(req, "limit");
    const char *after = http_query(req, "after");
    long limit = PAGE_LIMIT_MAX;
    size_t from = 0, count, len;
    enum MHD_Result result;
    struct snapshot *snap;
    char *body;

    if (limit_text != NULL && config_parse_int(limit_text, 1, PAGE_LIMIT_MAX, &limit) != 0)
        return http_respond_error(req, 400, "'limit' must be an integer from 1 to 10000");
    snap = api_snapshot_or_503(req, &result);
    if (snap == NULL)
        return result;
    if (limit_text == NULL && after == NULL)   /* the original's full list */
        return http_respond_buffer(req, 200, snap->list_body, snap->list_len, release_snapshot, snap);

    if (after != NULL)
        from = snapshot_position_after(snap, after, strlen(after));
    count = snap->count - from;
    if (limit_text != NULL && count > (size_t)limit)
        count = (size_t)limit;
    body = render_page(snap, from, count, &len);
    snapshot_release(snap);
    if (body == NULL)
        return http_respond_error(req, 500, "out of memory");
    return http_respond_owned(req, 200, body, len);
}

enum MHD_Result api_flag_get(struct http_request *req)
{
    enum MHD_Result result;
    struct snapshot *snap = api_snapshot_or_503(req, &result);
    const struct snapshot_flag *flag;

    if (snap == NULL)
        return result;
    flag = snapshot_find(snap, req->route.param, req->route.param_len);
    if (flag == NULL) {
        snapshot_release(snap);
        return http_respond_error(req, 404, "Flag not found");
    }
    return http_respond_buffer(req, 200, flag->body, flag->body_len, release_snapshot, snap);
}

/* ---- writes ----------------------------------------------------------- */

enum flag_op { FLAG_CREATE, FLAG_UPDATE, FLAG_DELETE };

struct flag_job {
    struct worker_job base;
    struct http_request *req;
    enum flag_op op;
    bool is_enabled;
    char name[LOOKUP_NAME_MAX + 1];
};

static void finish(struct flag_job *job)
{
    http_resume(job->req);
    free(job);
}

static void flag_job_cancel(struct worker_job *base, const char *why)
{
    struct flag_job *job = (struct flag_job *)base;
    http_reply_error(&job->req->reply, 503, why);
    finish(job);
}

static void reply_failure(struct flag_job *job, enum store_status st, struct store_conn *conn)
{
    struct http_reply *reply = &job->req->reply;
    char message[LOOKUP_NAME_MAX + 64];

    switch (st) {
    case STORE_NOT_FOUND:
        http_reply_error(reply, 404, "Flag not found");
        return;
    case STORE_CONFLICT:
        snprintf(message, sizeof message, "Flag '%s' already exists", job->name);
        http_reply_error(reply, 409, message);
        return;
    case STORE_UNAVAILABLE:
        log_event(LOG_WARN, "store unavailable",
                  json_pack("{s:s, s:s}", "request_id", job->req->request_id,
                            "detail", store_conn_error(conn)));
        http_reply_error(reply, 503, "database unavailable; the change was not saved, retry shortly");
        return;
    default:
        log_event(LOG_ERROR, "store error",
                  json_pack("{s:s, s:s}", "request_id", job->req->request_id,
                            "detail", store_conn_error(conn)));
        http_reply_error(reply, 500, "internal error; see the server log for this request id");
        return;
    }
}

static void flag_job_run(struct worker_job *base, struct store_conn *conn)
{
    struct flag_job *job = (struct flag_job *)base;
    struct app *app = job->req->app;
    pthread_mutex_t *name_lock = app_name_lock(app, job->name);
    struct snapshot_change change = {.kind = SNAPSHOT_UPSERT, .name = job->name};
    struct store_flag row = {0};
    enum store_status st;
    char message[LOOKUP_NAME_MAX + 64];

    pthread_mutex_lock(name_lock);
    if (job->op == FLAG_CREATE)
        st = store_flag_create(conn, job->name, job->is_enabled, &row);
    else if (job->op == FLAG_UPDATE)
        st = store_flag_set_enabled(conn, job->name, job->is_enabled, &row);
    else
        st = store_flag_delete(conn, job->name);
    if (st == STORE_OK) {
        if (job->op == FLAG_DELETE)
            change.kind = SNAPSHOT_DELETE;
        change.id = row.id;
        change.is_enabled = row.is_enabled;
        if (snapshot_apply(app->snapshots, &change) != 0)
            log_msg(LOG_ERROR, "out of memory updating the snapshot for '%s'; the next resync repairs it",
                    job->name);
    }
    pthread_mutex_unlock(name_lock);

    if (st != STORE_OK) {
        reply_failure(job, st, conn);
    } else if (job->op == FLAG_CREATE) {
        snprintf(message, sizeof message, "Flag '%s' created successfully", job->name);
        http_reply_message(&job->req->reply, 201, message);
    } else if (job->op == FLAG_UPDATE) {
        snprintf(message, sizeof message, "Flag '%s' updated", job->name);
        http_reply_message(&job->req->reply, 200, message);
    } else {
        job->req->reply.status = 204;
    }
    finish(job);
}

static enum MHD_Result submit(struct http_request *req, enum flag_op op, const char *name, bool is_enabled)
{
    struct flag_job *job = calloc(1, sizeof *job);

    if (job == NULL)
        return http_respond_error(req, 500, "out of memory");
    job->base.run = flag_job_run;
    job->base.cancel = flag_job_cancel;
    job->req = req;
    job->op = op;
    job->is_enabled = is_enabled;
    snprintf(job->name, sizeof job->name, "%s", name);
    return api_submit(req, &job->base);
}

enum MHD_Result api_flag_create(struct http_request *req)
{
    struct flag_create_request in;
    char err[256];

    if (flag_decode_create(req->body, req->body_len, &in, err, sizeof err) != 0)
        return http_respond_error(req, 400, err);
    return submit(req, FLAG_CREATE, in.name, in.is_enabled);
}

/* A path name that can name an existing flag. Names that break today's rule
 * but exist (rows the original monolith wrote) stay reachable; any other
 * name that breaks it is simply not found, without asking the database. */
static bool path_name_usable(struct http_request *req)
{
    const char *name = req->route.param;
    size_t len = req->route.param_len;
    struct snapshot *snap;
    bool known;

    if (len > LOOKUP_NAME_MAX)
        return false;
    if (flag_name_valid(name, len))
        return true;
    snap = snapshot_acquire(req->app->snapshots);
    known = snap != NULL && snapshot_find(snap, name, len) != NULL;
    snapshot_release(snap);
    return known;
}

enum MHD_Result api_flag_update(struct http_request *req)
{
    struct flag_update_request in;
    char err[256];

    if (flag_decode_update(req->body, req->body_len, &in, err, sizeof err) != 0)
        return http_respond_error(req, 400, err);
    if (!path_name_usable(req))
        return http_respond_error(req, 404, "Flag not found");
    return submit(req, FLAG_UPDATE, req->route.param, in.is_enabled);
}

enum MHD_Result api_flag_delete(struct http_request *req)
{
    if (!path_name_usable(req))
        return http_respond_error(req, 404, "Flag not found");
    return submit(req, FLAG_DELETE, req->route.param, false);
}
