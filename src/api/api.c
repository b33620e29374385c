/*
 * api — dispatch and the helpers handlers share. See api.h.
 */
#include "api.h"

enum MHD_Result api_handle(struct http_request *req)
{
    enum http_method m = req->route.method;
    bool read = m == METHOD_GET || m == METHOD_HEAD;

    switch (req->route.id) {
    case ROUTE_HEALTH:
        return api_health(req);
    case ROUTE_READY:
        return api_ready(req);
    case ROUTE_FLAGS:
        return read ? api_flags_list(req) : api_flag_create(req);
    case ROUTE_FLAG:
        return read ? api_flag_get(req) : m == METHOD_PUT ? api_flag_update(req) : api_flag_delete(req);
    case ROUTE_NOT_FOUND:
        break;
    }
    return http_respond_error(req, 404, "not found");
}

struct snapshot *api_snapshot_or_503(struct http_request *req, enum MHD_Result *result)
{
    struct snapshot *snap = snapshot_acquire(req->app->snapshots);

    if (snap == NULL)
        *result = http_respond_error(req, 503, "flags are not loaded from the database yet; retry shortly");
    return snap;
}

enum MHD_Result api_submit(struct http_request *req, struct worker_job *job)
{
    http_suspend(req);
    if (workers_submit(req->app->workers, job) != 0)
        job->cancel(job, "server busy: too many requests waiting for the database; retry shortly");
    return MHD_YES;
}
