/*
 * api — the route table, dispatch, and the helpers handlers share. See
 * api.h and routes.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <murmurhash.h>

#include "../buf.h"
#include "../text.h"
#include "api.h"
#include "routes.h"

/* The whole API. GET routes answer HEAD too. */
static const struct api_route routes[] = {
    {{METHOD_GET, "/health"}, api_health, ROLE_PUBLIC, 0},
    {{METHOD_GET, "/ready"}, api_ready, ROLE_PUBLIC, 0},
    {{METHOD_GET, "/flags"}, api_flags_list, ROLE_CLIENT, 0},
    {{METHOD_POST, "/flags"}, api_flag_create, ROLE_EDITOR, API_JSON_BODY},
    {{METHOD_GET, "/flags/{name}"}, api_flag_get, ROLE_CLIENT, 0},
    {{METHOD_PUT, "/flags/{name}"}, api_flag_update, ROLE_EDITOR, API_JSON_BODY},
    {{METHOD_DELETE, "/flags/{name}"}, api_flag_delete, ROLE_EDITOR, 0},
    {{METHOD_GET, "/evaluators"}, api_evaluators_list, ROLE_CLIENT, 0},
    {{METHOD_GET, "/evaluators/{name}"}, api_evaluator_get, ROLE_CLIENT, 0},
    {{METHOD_PUT, "/evaluators/{name}"}, api_evaluator_put, ROLE_EDITOR, API_JSON_BODY},
    {{METHOD_DELETE, "/evaluators/{name}"}, api_evaluator_delete, ROLE_EDITOR, 0},
    {{METHOD_POST, "/ofrep/v1/evaluate/flags/{key}"}, api_ofrep_evaluate, ROLE_CLIENT, API_JSON_BODY},
    {{METHOD_POST, "/ofrep/v1/evaluate/flags"}, api_ofrep_evaluate_all, ROLE_CLIENT, API_JSON_BODY},
    {{METHOD_GET, "/evaluate"}, api_evaluate_get, ROLE_CLIENT, 0},
    {{METHOD_POST, "/evaluate"}, api_evaluate_post, ROLE_CLIENT, API_JSON_BODY},
    {{METHOD_GET, "/flagd.json"}, api_flagd_document, ROLE_CLIENT, 0},
};
#define ROUTE_COUNT (sizeof routes / sizeof routes[0])

/* Decoded path segments of one request; paths longer than this match
 * nothing (404): the longest route path, a flag name of up to
 * FLAG_STORED_NAME_MAX bytes, fits many times over. */
#define PATH_SCRATCH 4096

struct api {
    struct app *app;
    const struct route_spec *specs[ROUTE_COUNT];
};

struct api *api_create(struct app *app)
{
    struct api *api = calloc(1, sizeof *api);

    if (api == NULL)
        return NULL;
    api->app = app;
    for (size_t i = 0; i < ROUTE_COUNT; i++)
        api->specs[i] = &routes[i].spec;
    return api;
}

void api_destroy(struct api *api)
{
    free(api);
}

void api_handle(void *ctx, struct http_request *req)
{
    struct api *api = ctx;
    char scratch[PATH_SCRATCH], message[96];
    struct route_match match;
    struct api_call call;

    router_match(api->specs, ROUTE_COUNT, req->method, req->path, req->path_len, scratch, sizeof scratch, &match);
    if (match.index < 0) {
        if (match.allowed == 0) {
            http_respond_error(req, 404, "not found");
            return;
        }
        router_allow_header(match.allowed, message, sizeof message);
        http_add_header(req, "Allow", message);
        snprintf(message, sizeof message, "method %.24s not allowed", req->method_name);
        http_respond_error(req, 405, message);
        return;
    }
    call.app = api->app;
    call.req = req;
    call.route = &routes[match.index];
    call.match = &match;
    if ((call.route->flags & API_JSON_BODY) && req->body_len > 0 &&
        !http_content_type_is(req, "application/json")) {
        http_respond_error(req, 415, "the request body must be sent as Content-Type: application/json");
        return;
    }
    call.route->handle(&call);
}

/* ---- helpers ------------------------------------------------------------ */

void api_release_snapshot(void *snapshot)
{
    snapshot_release(snapshot);
}

struct snapshot *api_snapshot_or_503(struct api_call *call)
{
    struct snapshot *snap = snapshot_acquire(call->app->snapshots);

    if (snap == NULL)
        http_respond_error(call->req, 503, "flags are not loaded from the database yet; retry shortly");
    return snap;
}

/* A strong ETag over the body: 128 bits of MurmurHash3, as hex. */
static void body_etag(const char *body, size_t len, char out[40])
{
    uint64_t h[2];

    lmmh_x64_128(body, (unsigned int)len, 0, h);
    snprintf(out, 40, "\"%016llx%016llx\"", (unsigned long long)h[0], (unsigned long long)h[1]);
}

bool api_etag_matches(const struct http_request *req, const char *etag)
{
    size_t len, etag_len = strlen(etag);
    const char *value = http_header(req, "If-None-Match", &len);

    if (value == NULL)
        return false;
    if (len == 1 && value[0] == '*')
        return true;
    for (size_t i = 0; i + etag_len <= len; i++)
        if (memcmp(value + i, etag, etag_len) == 0)
            return true;
    return false;
}

/* Answers 304 when the client has this body already, else 200 with it;
 * either way with its ETag. Takes over body. */
void api_respond_with_etag(struct http_request *req, char *body, size_t len)
{
    char etag[40];

    body_etag(body, len, etag);
    http_add_header(req, "ETag", etag);
    if (api_etag_matches(req, etag)) {
        free(body);
        http_respond_empty(req, 304);
        return;
    }
    http_respond_owned(req, 200, body, len);
}

void api_respond_buf(struct http_request *req, int status, struct buf *b)
{
    size_t len;
    char *body = buf_take(b, &len);

    if (body == NULL)
        http_respond_error(req, 500, "internal error: out of memory");
    else
        http_respond_owned(req, status, body, len);
}

static void reply_with(struct api_reply *reply, int status, const char *key, const char *message)
{
    reply->status = status;
    reply->body = text_json_object(key, message, &reply->len);
}

void api_reply_error(struct api_reply *reply, int status, const char *message)
{
    reply_with(reply, status, "error", message);
}

void api_reply_message(struct api_reply *reply, int status, const char *message)
{
    reply_with(reply, status, "message", message);
}

static void answer(struct http_request *req, struct api_reply *reply)
{
    if (reply->body != NULL)
        http_respond_owned(req, reply->status, reply->body, reply->len);
    else if (reply->status == 204)
        http_respond_empty(req, 204);
    else
        http_respond_error(req, 500, "internal error: out of memory");
}

static void job_run(struct worker_job *work, struct store_conn *conn)
{
    struct api_job *job = (struct api_job *)work;
    struct api_reply reply = {0};

    job->run(job, conn, &reply);
    answer(job->req, &reply);
    if (job->cleanup != NULL)
        job->cleanup(job);
    free(job);
}

static void job_cancel(struct worker_job *work, const char *why)
{
    struct api_job *job = (struct api_job *)work;

    http_respond_error(job->req, 503, why);
    if (job->cleanup != NULL)
        job->cleanup(job);
    free(job);
}

void api_defer(struct api_call *call, struct api_job *job)
{
    job->work.run = job_run;
    job->work.cancel = job_cancel;
    job->req = call->req;
    job->app = call->app;
    if (workers_submit(call->app->workers, &job->work) != 0)
        job_cancel(&job->work, "server busy: too many requests waiting for the database; retry shortly");
}
