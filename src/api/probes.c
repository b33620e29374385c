/*
 * api/probes — GET /health (the process is alive and serving HTTP) and
 * GET /ready (this instance can do its job: flags loaded, the database
 * reachable and its schema at the version this build needs).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "routes.h"

static const char health_body[] = "{\"status\":\"ok\"}";
/* "auth" says whether API keys are checked: "off" is the original's open
 * service, which an operator should know about. */
static const char ready_auth_on[] = "{\"status\":\"ready\",\"auth\":\"on\"}";
static const char ready_auth_off[] = "{\"status\":\"ready\",\"auth\":\"off\"}";

void api_health(struct api_call *call)
{
    http_respond_buffer(call->req, 200, health_body, sizeof health_body - 1, NULL, NULL);
}

static void ready_job_run(struct api_job *job, struct store_conn *conn, struct api_reply *reply)
{
    int version, latest = store_latest_version(job->app->store);
    enum store_status st = store_schema_version(conn, &version);
    char message[STORE_ERROR_MAX + 64];

    if (st != STORE_OK) {
        snprintf(message, sizeof message, "database unreachable: %s", store_conn_error(conn));
        api_reply_error(reply, 503, message);
    } else if (version < latest) {
        snprintf(message, sizeof message,
                 "database schema is at version %d, this build needs %d: run 'togglemaster migrate'",
                 version, latest);
        api_reply_error(reply, 503, message);
    } else {
        struct snapshot *snap = snapshot_acquire(job->app->snapshots);
        const char *body = snap != NULL && api_auth_on(job->app, snap) ? ready_auth_on : ready_auth_off;
        snapshot_release(snap);
        reply->status = 200;
        reply->body = strdup(body);
        reply->len = strlen(body);
    }
}

void api_ready(struct api_call *call)
{
    struct snapshot *snap;
    struct api_job *job;

    if (atomic_load(&call->app->draining)) {
        http_respond_error(call->req, 503, "shutting down: draining before stop; requests are still served");
        return;
    }
    snap = snapshot_acquire(call->app->snapshots);
    if (snap == NULL) {
        http_respond_error(call->req, 503, "flags are not loaded from the database yet");
        return;
    }
    snapshot_release(snap);
    job = calloc(1, sizeof *job);
    if (job == NULL) {
        http_respond_error(call->req, 500, "internal error: out of memory");
        return;
    }
    job->run = ready_job_run;
    api_defer(call, job);
}
