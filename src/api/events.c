/*
 * api/events — GET /api/v1/events: the change journal (events.h) as a
 * Server-Sent Events stream over the transport's streams (http.h).
 *
 * Access is that of reads (a client key). Bounds: EVENTS_MAX_SUBSCRIBERS
 * streams at once (503 with Retry-After past it); each may have
 * EVENTS_BUFFER_KB waiting unwritten before it is cut off (a client that
 * stopped reading; it reconnects with Last-Event-ID and gets what it
 * missed, or a "reset"); a client that is gone is found by the next event
 * or heartbeat. Streams end when the server drains; clients reconnect to
 * another instance, whose run id differs: they get "reset" and read
 * everything again.
 */
#include "../events.h"
#include "routes.h"

static int sink_send(void *ctx, const char *data, size_t len)
{
    return http_stream_send(ctx, data, len);
}

static void sink_close(void *ctx)
{
    http_stream_close(ctx);
}

void api_events(struct api_call *call)
{
    struct http_request *req = call->req;
    struct events *ev = call->app->events;
    const char *last_id;
    size_t last_len = 0;
    struct http_stream *stream;
    struct events_sink sink;
    int slot;

    http_set_content_type(req, "text/event-stream; charset=utf-8");
    if (req->method == METHOD_HEAD) {
        http_respond_buffer(req, 200, "", 0, NULL, NULL);
        return;
    }
    if (ev == NULL || (slot = events_reserve(ev)) < 0) {
        http_set_content_type(req, "application/json");
        http_add_header(req, "Retry-After", "5");
        http_respond_error(req, 503, "too many event streams are open (EVENTS_MAX_SUBSCRIBERS); retry later");
        return;
    }
    last_id = http_header(req, "Last-Event-ID", &last_len);
    /* Proxies that buffer (nginx) must pass each event on at once. */
    http_add_header(req, "X-Accel-Buffering", "no");
    stream = http_stream_open(req, 200, (size_t)call->app->cfg->events_buffer_kb * 1024);
    if (stream == NULL) {
        events_unreserve(ev, slot);
        return;
    }
    sink.send = sink_send;
    sink.close = sink_close;
    sink.ctx = stream;
    if (events_attach(ev, slot, &sink, last_id, last_len) != 0)
        http_stream_close(stream);
}
