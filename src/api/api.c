/*
 * api — the route table, dispatch, and the helpers handlers share. See
 * api.h and routes.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <murmurhash.h>

#include "../buf.h"
#include "../log.h"
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
    {{METHOD_GET, "/flags/{name}/history"}, api_flag_history, ROLE_EDITOR, 0},
    {{METHOD_GET, "/api/v1/keys"}, api_keys_list, ROLE_ADMIN, 0},
    {{METHOD_POST, "/api/v1/keys"}, api_key_create, ROLE_ADMIN, API_JSON_BODY},
    {{METHOD_DELETE, "/api/v1/keys/{id}"}, api_key_revoke, ROLE_ADMIN, 0},
    {{METHOD_GET, "/api/v1/audit"}, api_audit_list, ROLE_ADMIN, 0},
    {{METHOD_GET, "/metrics"}, api_metrics, ROLE_CLIENT, API_METRICS},
    {{METHOD_GET, "/flags/{name}/usage"}, api_flag_usage, ROLE_EDITOR, 0},
    {{METHOD_GET, "/insights/stale"}, api_stale_flags, ROLE_EDITOR, 0},
    {{METHOD_GET, "/api/v1/whoami"}, api_whoami, ROLE_CLIENT, 0},
    {{METHOD_GET, "/api/v1/events"}, api_events, ROLE_CLIENT, 0},
    {{METHOD_GET, "/"}, api_console_page, ROLE_PUBLIC, API_STATIC},
    {{METHOD_GET, "/assets/{file}"}, api_console_asset, ROLE_PUBLIC, API_STATIC},
};
#define ROUTE_COUNT (sizeof routes / sizeof routes[0])

/* Decoded path segments of one request; paths longer than this match
 * nothing (404): the longest route path, a flag name of up to
 * FLAG_STORED_NAME_MAX bytes, fits many times over. */
#define PATH_SCRATCH 4096

#define NOT_LOADED "flags are not loaded from the database yet; retry shortly"
/* Every 503 the API answers is for a moment (no flags yet, the database
 * away, the queue full): Retry-After tells well-behaved clients to wait a
 * second rather than retry at once, which in a database outage would
 * otherwise be thousands of requests a second. */
#define RETRY_AFTER_S "1"

static void respond_503(struct http_request *req, const char *message)
{
    http_add_header(req, "Retry-After", RETRY_AFTER_S);
    http_respond_error(req, 503, message);
}

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

static const struct {
    unsigned bit;
    const char *name;
} methods[] = {{METHOD_GET, "GET"}, {METHOD_POST, "POST"}, {METHOD_PUT, "PUT"}, {METHOD_DELETE, "DELETE"}};

size_t api_metrics_routes(struct metrics_route *out, size_t max)
{
    size_t n = ROUTE_COUNT < max ? ROUTE_COUNT : max;

    for (size_t i = 0; i < n; i++) {
        out[i].pattern = routes[i].spec.pattern;
        out[i].method = "";
        for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++)
            if (routes[i].spec.methods & methods[m].bit) {
                out[i].method = methods[m].name;
                break;
            }
    }
    return n;
}

void api_request_done(void *ctx, const struct http_request *req, int status, long long duration_ns)
{
    struct api *api = ctx;

    if (api->app->counting)
        metrics_request(&api->app->metrics, req->tag, status, duration_ns);
}

void api_print_routes(FILE *out)
{
    for (size_t i = 0; i < ROUTE_COUNT; i++) {
        json_t *list = json_array();
        for (size_t m = 0; m < sizeof methods / sizeof methods[0]; m++)
            if (routes[i].spec.methods & methods[m].bit)
                json_array_append_new(list, json_string(methods[m].name));
        json_t *line = json_pack("{s:o, s:s, s:s, s:b}", "methods", list, "pattern", routes[i].spec.pattern, "role",
                                 auth_role_name(routes[i].role), "json_body",
                                 (routes[i].flags & API_JSON_BODY) != 0);
        json_dumpf(line, out, JSON_COMPACT);
        fputc('\n', out);
        json_decref(line);
    }
}

/* ---- access ----------------------------------------------------------------- */

bool api_auth_on(const struct app *app, const struct snapshot *snap)
{
    return app->has_admin_token || atomic_load(&app->keys_seen) || snap->keyring->count > 0;
}

static long long monotonic_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void set_identity(struct api_identity *who, const char *id, const char *name, enum auth_role role)
{
    size_t id_len = strlen(id), name_len = strlen(name);

    /* Both fit: ids are at most AUTH_KEY_ID_LEN, labels AUTH_NAME_MAX. */
    memcpy(who->id, id, id_len < sizeof who->id ? id_len + 1 : sizeof who->id);
    who->id[sizeof who->id - 1] = '\0';
    memcpy(who->name, name, name_len < sizeof who->name ? name_len + 1 : sizeof who->name);
    who->name[sizeof who->name - 1] = '\0';
    who->role = role;
}

/* The key id a credential names, for logs: only when it has the shape of
 * one of our keys (never any part of the secret). */
static void credential_id(const char *credential, size_t len, char out[AUTH_KEY_ID_LEN + 1])
{
    out[0] = '\0';
    if (credential != NULL && len == AUTH_KEY_LEN && memcmp(credential, AUTH_KEY_PREFIX, 3) == 0 &&
        auth_id_valid(credential + 3, AUTH_KEY_ID_LEN)) {
        memcpy(out, credential + 3, AUTH_KEY_ID_LEN);
        out[AUTH_KEY_ID_LEN] = '\0';
    }
}

static void log_refusal(const struct http_request *req, int status, const char *why, const char *key_id)
{
    log_event(LOG_WARN, status == 403 ? "request refused: role" : "request refused: authentication",
              json_pack("{s:i, s:s, s:s, s:s, s:s, s:s}", "status", status, "reason", why, "request_id",
                        req->request_id ? req->request_id : "", "peer", req->peer ? req->peer : "",
                        "key_id", key_id, "method", req->method_name));
}

#define TOO_MANY_FAILURES "too many failed authentications from this address; retry later"

static void respond_401(struct http_request *req, const char *message)
{
    http_add_header(req, "WWW-Authenticate", "Bearer realm=\"togglemaster\"");
    http_respond_error(req, 401, message);
}

static void respond_429(struct http_request *req, int wait_s, const char *message)
{
    char seconds[16];

    snprintf(seconds, sizeof seconds, "%d", wait_s);
    http_add_header(req, "Retry-After", seconds);
    http_respond_error(req, 429, message);
}

/* Answers 401, or 429 once the address has failed too often. */
static void refuse_credential(struct api_call *call, const char *message, const char *key_id)
{
    struct http_request *req = call->req;
    int wait_s = guard_count(&call->app->auth_guard, req->peer, monotonic_ms());

    log_refusal(req, wait_s > 0 ? 429 : 401, message, key_id);
    if (wait_s > 0)
        respond_429(req, wait_s, TOO_MANY_FAILURES);
    else
        respond_401(req, message);
}

/* Decides who the caller is and whether the route lets them in; answers
 * the request and returns false when not. Costs no I/O: the keys are in
 * the snapshot. */
static bool authorize(struct api_call *call)
{
    struct http_request *req = call->req;
    struct app *app = call->app;
    enum auth_role needed = call->route->role;
    const char *authorization, *api_key, *credential = NULL;
    size_t authorization_len = 0, api_key_len = 0, credential_len = 0;
    const struct auth_key *key = NULL;
    char key_id[AUTH_KEY_ID_LEN + 1], message[160];
    struct snapshot *snap;
    int bearer, header, wait_s;
    enum auth_outcome outcome;

    if (needed == ROLE_PUBLIC || ((call->route->flags & API_METRICS) && app->cfg->metrics_public)) {
        set_identity(&call->who, "anonymous", "anonymous", ROLE_PUBLIC);
        return true;
    }
    if (!app->has_admin_token && !atomic_load(&app->keys_seen)) {
        /* Open, like the original: anyone may do anything. Until the
         * first load nobody knows whether keys exist: 503. */
        if (snapshot_cell_generation(app->snapshots) == 0) {
            respond_503(req, NOT_LOADED);
            return false;
        }
        set_identity(&call->who, "anonymous", "anonymous (authentication off)", ROLE_ADMIN);
        return true;
    }
    if ((snap = api_snapshot_or_503(call)) == NULL)
        return false;
    authorization = http_header(req, "Authorization", &authorization_len);
    api_key = http_header(req, "X-API-Key", &api_key_len);
    bearer = auth_parse_bearer(authorization, authorization_len, &credential, &credential_len);
    if (bearer <= 0)
        header = auth_parse_api_key(api_key, api_key_len, &credential, &credential_len);
    else
        header = 0;
    if (bearer == 0 && header == 0) {
        snapshot_release(snap);
        if (app->cfg->public_evaluation && needed == ROLE_CLIENT) {
            set_identity(&call->who, "anonymous", "anonymous (PUBLIC_EVALUATION)", ROLE_CLIENT);
            return true;
        }
        log_refusal(req, 401, "no credential", "");
        respond_401(req, "authentication required: send Authorization: Bearer <key> or X-API-Key: <key>");
        return false;
    }
    credential_id(bearer > 0 || header > 0 ? credential : NULL, credential_len, key_id);
    if ((wait_s = guard_refused(&app->auth_guard, req->peer, monotonic_ms())) > 0) {
        snapshot_release(snap);
        log_refusal(req, 429, "address refused after failed authentications", key_id);
        respond_429(req, wait_s, TOO_MANY_FAILURES);
        return false;
    }
    if (bearer < 0 || (bearer == 0 && header < 0)) {
        snapshot_release(snap);
        refuse_credential(call, bearer < 0 ? "malformed Authorization header: expected Bearer <key>"
                                           : "malformed X-API-Key header", key_id);
        return false;
    }
    outcome = auth_check(snap->keyring, app->has_admin_token ? app->admin_token_hash : NULL, credential,
                         credential_len, &key);
    if (outcome != AUTH_OK) {
        snapshot_release(snap);
        refuse_credential(call, outcome == AUTH_REVOKED ? "this API key is revoked" : "invalid API key", key_id);
        return false;
    }
    set_identity(&call->who, key->id, key->name, key->role);
    snapshot_release(snap);
    if (call->who.role < needed) {
        snprintf(message, sizeof message, "this key's role (%s) may not do this; it needs %s",
                 auth_role_name(call->who.role), auth_role_name(needed));
        log_refusal(req, 403, message, call->who.id);
        http_respond_error(req, 403, message);
        return false;
    }
    return true;
}

/* Writes and key creations per key (WRITE_LIMIT, KEY_CREATE_LIMIT): what
 * one leaked or runaway key can do in a minute. Open mode (anonymous) is
 * not limited, as the original was not. Answers 429 and returns false when
 * over. */
static bool within_rates(struct api_call *call)
{
    struct app *app = call->app;
    long long now = monotonic_ms();
    int wait_s = 0;

    if (!(call->req->method & (METHOD_POST | METHOD_PUT | METHOD_DELETE)) || call->route->role < ROLE_EDITOR ||
        strcmp(call->who.id, "anonymous") == 0)
        return true;
    if (call->route->handle == api_key_create)
        wait_s = guard_count(&app->key_guard, call->who.id, now);
    if (wait_s == 0)
        wait_s = guard_count(&app->write_guard, call->who.id, now);
    if (wait_s == 0)
        return true;
    log_refusal(call->req, 429, "write rate of this key", call->who.id);
    respond_429(call->req, wait_s, call->route->handle == api_key_create
                                       ? "this key has created too many keys; retry later (KEY_CREATE_LIMIT)"
                                       : "this key has made too many changes; retry later (WRITE_LIMIT)");
    return false;
}

/* ---- CORS ---------------------------------------------------------------------- */

/* Whether origin[0..len) is in CORS_ORIGINS (exactly, or "*" allows any). */
static bool origin_allowed(const char *allowed, const char *origin, size_t len)
{
    const char *p = allowed;

    while (p != NULL && *p != '\0') {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        while (n > 0 && (*p == ' ' || *p == '\t')) {
            p++;
            n--;
        }
        while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if ((n == 1 && *p == '*') || (n == len && memcmp(p, origin, len) == 0))
            return true;
        p = end ? end + 1 : NULL;
    }
    return false;
}

#define CORS_ALLOW_HEADERS "Authorization, Content-Type, X-API-Key, If-Match, If-None-Match, X-Request-Id"
#define CORS_EXPOSE_HEADERS "ETag, Retry-After, X-Request-Id"

/* Adds the CORS headers for an allowed Origin; returns whether it was one.
 * The origin sent back is the request's own, and only when it is listed:
 * nothing is reflected that the operator did not allow. */
static bool cors_headers(struct api *api, struct http_request *req)
{
    size_t len;
    const char *origin = http_header(req, "Origin", &len);
    char value[256];

    if (origin == NULL || api->app->cfg->cors_origins == NULL || len >= sizeof value ||
        !origin_allowed(api->app->cfg->cors_origins, origin, len))
        return false;
    memcpy(value, origin, len);
    value[len] = '\0';
    http_add_header(req, "Access-Control-Allow-Origin", value);
    http_add_header(req, "Vary", "Origin");
    http_add_header(req, "Access-Control-Expose-Headers", CORS_EXPOSE_HEADERS);
    return true;
}

/* OPTIONS with Access-Control-Request-Method: a browser's preflight. */
static bool answer_preflight(struct api *api, struct http_request *req, const struct route_match *match)
{
    size_t len;
    char allow[96];

    if (req->method != METHOD_OPTIONS || http_header(req, "Access-Control-Request-Method", &len) == NULL)
        return false;
    if (match->allowed == 0) {
        http_respond_error(req, 404, "not found");
    } else if (!cors_headers(api, req)) {
        http_respond_error(req, 403, "this origin may not call the API (CORS_ORIGINS)");
    } else {
        router_allow_header(match->allowed, allow, sizeof allow);
        http_add_header(req, "Access-Control-Allow-Methods", allow);
        http_add_header(req, "Access-Control-Allow-Headers", CORS_ALLOW_HEADERS);
        http_add_header(req, "Access-Control-Max-Age", "600");
        http_respond_empty(req, 204);
    }
    return true;
}

void api_handle(void *ctx, struct http_request *req)
{
    struct api *api = ctx;
    char scratch[PATH_SCRATCH], message[96];
    struct route_match match;
    struct api_call call;

    router_match(api->specs, ROUTE_COUNT, req->method, req->path, req->path_len, scratch, sizeof scratch, &match);
    req->tag = match.index;
    /* Answers change with every write: reads revalidate (their ETags make
     * that cheap), nothing else is kept. */
    if (match.index < 0 || !(routes[match.index].flags & API_STATIC))
        http_add_header(req, "Cache-Control",
                        match.index >= 0 && (req->method & (METHOD_GET | METHOD_HEAD)) ? "no-cache" : "no-store");
    if (answer_preflight(api, req, &match))
        return;
    cors_headers(api, req);
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
    if (!authorize(&call) || !within_rates(&call))
        return;
    if ((call.route->flags & API_JSON_BODY) && req->body_len > 0) {
        int depth;
        size_t elements;
        if (!http_content_type_is(req, "application/json")) {
            http_respond_error(req, 415, "the request body must be sent as Content-Type: application/json");
            return;
        }
        /* Before any parser sees it: the shape alone can cost memory and
         * stack, whatever the body means. */
        text_json_shape(req->body, req->body_len, &depth, &elements);
        if (depth > api->app->cfg->json_max_depth || elements > (size_t)api->app->cfg->json_max_elements) {
            snprintf(message, sizeof message, "the JSON body nests deeper than %d or holds more than %d values",
                     api->app->cfg->json_max_depth, api->app->cfg->json_max_elements);
            http_respond_error(req, 400, message);
            return;
        }
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
        respond_503(call->req, NOT_LOADED);
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

void api_reply_json(struct api_reply *reply, int status, json_t *json)
{
    reply->body = json != NULL ? json_dumps(json, JSON_COMPACT) : NULL;
    json_decref(json);
    reply->status = status;
    reply->len = reply->body ? strlen(reply->body) : 0;
}

void api_reply_error(struct api_reply *reply, int status, const char *message)
{
    reply_with(reply, status, "error", message);
}

void api_reply_message(struct api_reply *reply, int status, const char *message)
{
    reply_with(reply, status, "message", message);
}

void api_reply_store_failure(struct api_job *job, struct store_conn *conn, enum store_status st,
                             struct api_reply *reply)
{
    json_t *fields = json_pack("{s:s, s:s}", "request_id", job->req->request_id, "detail", store_conn_error(conn));

    metrics_db_error(&job->app->metrics, st == STORE_UNAVAILABLE ? METRICS_DB_UNAVAILABLE : METRICS_DB_ERROR);
    if (st == STORE_UNAVAILABLE) {
        log_event(LOG_WARN, "store unavailable", fields);
        /* Usually nothing was written; when the database stopped answering
         * in the middle of a commit, nobody can know. */
        http_add_header(job->req, "Retry-After", RETRY_AFTER_S);
        api_reply_error(reply, 503, "database unavailable; the change is not confirmed, retry shortly");
    } else {
        log_event(LOG_ERROR, "store error", fields);
        api_reply_error(reply, 500, "internal error; see the server log for this request id");
    }
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
    struct store_actor actor = {job->who.id, job->who.name, job->req->request_id};

    store_conn_set_actor(conn, &actor);
    job->run(job, conn, &reply);
    store_conn_set_actor(conn, NULL);
    answer(job->req, &reply);
    if (job->cleanup != NULL)
        job->cleanup(job);
    free(job);
}

static void job_cancel(struct worker_job *work, const char *why)
{
    struct api_job *job = (struct api_job *)work;

    respond_503(job->req, why);
    if (job->cleanup != NULL)
        job->cleanup(job);
    free(job);
}

void *api_job_alloc(struct api_call *call, size_t size,
                    void (*run)(struct api_job *, struct store_conn *, struct api_reply *),
                    void (*cleanup)(struct api_job *))
{
    struct api_job *job = calloc(1, size);

    if (job == NULL) {
        http_respond_error(call->req, 500, "internal error: out of memory");
        return NULL;
    }
    job->run = run;
    job->cleanup = cleanup;
    return job;
}

void api_defer(struct api_call *call, struct api_job *job)
{
    job->work.run = job_run;
    job->work.cancel = job_cancel;
    job->req = call->req;
    job->app = call->app;
    job->who = call->who;
    if (workers_submit(call->app->workers, &job->work) != 0)
        job_cancel(&job->work, "server busy: too many requests waiting for the database; retry shortly");
}
