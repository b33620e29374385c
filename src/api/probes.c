/*
 * api/probes — GET /health (the process is alive and serving HTTP) and
 * GET /ready (this instance can do its job: flags loaded, the database
 * reachable and its schema at the version this build needs).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../log.h"
#include "api.h"

static const char health_body[] = "{\"status\":\"ok\"}";

static void no_release(void *cls)
{
    (void)cls;
}

enum MHD_Result api_health(struct http_request *req)
{
    return http_respond_buffer(req, 200, health_body, sizeof health_body - 1, no_release, NULL);
}

struct ready_job {
    struct worker_job base;
    struct http_request *req;
};

static void ready_job_cancel(struct worker_job *base, const char *why)
{
    struct ready_job *job = (struct ready_job *)base;
    http_reply_error(&job->req->reply, 503, why);
    http_resume(job->req);
    free(job);
}

static void ready_job_run(struct worker_job *base, struct store_conn *conn)
{
    struct ready_job *job = (struct ready_job *)base;
    struct http_reply *reply = &job->req->reply;
    int version, latest = store_latest_version(job->req->app->store);
    enum store_status st = store_schema_version(conn, &version);
    char message[256];

    if (st != STORE_OK) {
        snprintf(message, sizeof message, "database unreachable: %s", store_conn_error(conn));
        http_reply_error(reply, 503, message);
    } else if (version < latest) {
        snprintf(message, sizeof message,
                 "database schema is at version %d, this build needs %d: run 'togglemaster migrate'",
                 version, latest);
        http_reply_error(reply, 503, message);
    } else {
        reply->status = 200;
        reply->body = strdup("{\"status\":\"ready\"}");
        reply->len = reply->body ? sizeof "{\"status\":\"ready\"}" - 1 : 0;
    }
    http_resume(job->req);
    free(job);
}

enum MHD_Result api_ready(struct http_request *req)
{
    struct snapshot *snap = snapshot_acquire(req->app->snapshots);
    struct ready_job *job;

    if (snap == NULL)
        return http_respond_error(req, 503, "flags are not loaded from the database yet");
    snapshot_release(snap);
    job = calloc(1, sizeof *job);
    if (job == NULL)
        return http_respond_error(req, 500, "out of memory");
    job->base.run = ready_job_run;
    job->base.cancel = ready_job_cancel;
    job->req = req;
    return api_submit(req, &job->base);
}
