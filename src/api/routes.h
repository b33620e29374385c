/*
 * api/routes — what handlers share: the call they receive, the route
 * table's entry, and the helpers for answering. Private to src/api/.
 */
#ifndef TM_API_ROUTES_H
#define TM_API_ROUTES_H

#include <jansson.h>

#include "../app.h"
#include "../auth.h"
#include "../http/http.h"
#include "../router.h"
#include "../workers.h"

/* Who is calling: the key that authenticated the request, or, with
 * authentication off (or PUBLIC_EVALUATION on a read), "anonymous". */
struct api_identity {
    char id[AUTH_KEY_ID_LEN + 1 > sizeof "anonymous" ? AUTH_KEY_ID_LEN + 1 : sizeof "anonymous"];
    char name[AUTH_NAME_MAX + 1];
    enum auth_role role;
};

/* API_JSON_BODY: a body, when there is one, must be application/json (415
 * otherwise), so that a web page cannot make a browser send one with a
 * "simple" cross-origin request. */
#define API_JSON_BODY (1u << 0)
/* GET /metrics: public when METRICS_PUBLIC is set. */
#define API_METRICS (1u << 1)
/* The console's files: the handler sets its own Cache-Control (hashed
 * names are immutable). */
#define API_STATIC (1u << 2)

struct api_call;
typedef void (*api_handler_fn)(struct api_call *call);

struct api_route {
    struct route_spec spec;    /* methods and pattern */
    api_handler_fn handle;
    enum auth_role role;       /* the least role that may call it */
    unsigned flags;
};

struct api_call {
    struct app *app;
    struct http_request *req;
    const struct api_route *route;
    const struct route_match *match;   /* the path's parameters, decoded */
    struct api_identity who;
};

void api_flags_list(struct api_call *call);
void api_flag_get(struct api_call *call);
void api_flag_create(struct api_call *call);
void api_flag_update(struct api_call *call);
void api_flag_delete(struct api_call *call);
void api_evaluators_list(struct api_call *call);
void api_evaluator_get(struct api_call *call);
void api_evaluator_put(struct api_call *call);
void api_evaluator_delete(struct api_call *call);
void api_ofrep_evaluate(struct api_call *call);
void api_ofrep_evaluate_all(struct api_call *call);
void api_evaluate_get(struct api_call *call);
void api_evaluate_post(struct api_call *call);
void api_flagd_document(struct api_call *call);
void api_health(struct api_call *call);
void api_ready(struct api_call *call);
void api_keys_list(struct api_call *call);
void api_key_create(struct api_call *call);
void api_key_revoke(struct api_call *call);
void api_audit_list(struct api_call *call);
void api_flag_history(struct api_call *call);
void api_metrics(struct api_call *call);
void api_flag_usage(struct api_call *call);
void api_stale_flags(struct api_call *call);
void api_whoami(struct api_call *call);
void api_events(struct api_call *call);
void api_console_page(struct api_call *call);
void api_console_asset(struct api_call *call);

/* Whether authentication is on: ADMIN_TOKEN is set or a key exists
 * (revoked ones count, so that revoking the last key never opens the
 * service). */
bool api_auth_on(const struct app *app, const struct snapshot *snap);

/* ---- helpers ------------------------------------------------------------ */

/* A counted reference to the current snapshot, or NULL after answering 503
 * because none is loaded yet. */
struct snapshot *api_snapshot_or_503(struct api_call *call);
/* Releases a snapshot: the release callback of responses that point into it. */
void api_release_snapshot(void *snapshot);

struct buf;
/* Answers status with the bytes of b (500 when building it ran out of
 * memory). */
void api_respond_buf(struct http_request *req, int status, struct buf *b);
/* Whether If-None-Match lists etag (or is "*"). */
bool api_etag_matches(const struct http_request *req, const char *etag);
/* Answers 200 with body and an ETag over its bytes, or 304 (no body) when
 * If-None-Match holds that ETag. Takes over body. */
void api_respond_with_etag(struct http_request *req, char *body, size_t len);

/* An answer made on a store worker. body is malloc'd JSON, or NULL for no
 * body (204). */
struct api_reply {
    int status;
    char *body;
    size_t len;
};
void api_reply_error(struct api_reply *reply, int status, const char *message);
/* status with json as its body (taken over; NULL or unprintable: 500). */
void api_reply_json(struct api_reply *reply, int status, json_t *json);
void api_reply_message(struct api_reply *reply, int status, const char *message);
struct api_job;
/* 503 for STORE_UNAVAILABLE, 500 for anything else, logged with the
 * request id and the store's message (which the answer does not show). */
void api_reply_store_failure(struct api_job *job, struct store_conn *conn, enum store_status st,
                             struct api_reply *reply);

/* Work for a store worker. Callers malloc a struct that begins with this,
 * set run (and cleanup, for what the job owns), and hand it to api_defer(),
 * which answers the request with the reply run fills in (or 503 when the
 * job cannot run: the queue is full or the service is stopping), calls
 * cleanup either way, and frees the job. */
struct api_job {
    struct worker_job work;
    struct http_request *req;
    struct app *app;
    struct api_identity who;   /* the caller: the actor of the job's writes */
    void (*run)(struct api_job *job, struct store_conn *conn, struct api_reply *reply);
    void (*cleanup)(struct api_job *job);   /* or NULL */
};
void api_defer(struct api_call *call, struct api_job *job);
/* A zeroed job of `size` bytes (a struct that begins with struct api_job)
 * with run and cleanup set, or NULL after answering 500. */
void *api_job_alloc(struct api_call *call, size_t size,
                    void (*run)(struct api_job *, struct store_conn *, struct api_reply *),
                    void (*cleanup)(struct api_job *));

#endif
