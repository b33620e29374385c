/*
 * http/response — answering a request: the response head, error bodies,
 * and http_respond* (http.h), which any thread may call once per request.
 *
 * An answer from another thread is handed to the request's loop (its
 * inbox); the head is rendered there, because it uses the loop's cached
 * Date header.
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../text.h"

static const char fallback_error[] = "{\"error\":\"out of memory\"}";

static const char *status_text(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 412: return "Precondition Failed";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Status";
    }
}

static char *append(char *p, const char *text, size_t len)
{
    memcpy(p, text, len);
    return p + len;
}

#define APPEND_LITERAL(p, text) append((p), (text), sizeof(text) - 1)

static char *append_number(char *p, size_t n)
{
    char digits[24];
    int i = 0;

    do {
        digits[i++] = (char)('0' + n % 10);
        n /= 10;
    } while (n > 0);
    while (i > 0)
        *p++ = digits[--i];
    return p;
}

void response_render_head(struct exchange *ex, bool close)
{
    const struct http_loop *loop = ex->loop;
    bool bodiless = ex->status == 204 || ex->status == 304;
    char *p = ex->response_head;

    p = APPEND_LITERAL(p, "HTTP/1.1 ");
    p = append_number(p, (size_t)ex->status);
    *p++ = ' ';
    p = append(p, status_text(ex->status), strlen(status_text(ex->status)));
    p = APPEND_LITERAL(p, "\r\n");
    p = append(p, loop->date_header, strlen(loop->date_header));
    if (!bodiless) {
        if (ex->content_type == NULL) {
            p = APPEND_LITERAL(p, "Content-Type: application/json\r\n");
        } else {
            p = APPEND_LITERAL(p, "Content-Type: ");
            p = append(p, ex->content_type, strlen(ex->content_type));
            p = APPEND_LITERAL(p, "\r\n");
        }
        if (ex->stream == NULL) {   /* a stream's body ends with the connection */
            p = APPEND_LITERAL(p, "Content-Length: ");
            p = append_number(p, ex->body_bytes);
            p = APPEND_LITERAL(p, "\r\n");
        }
    }
    p = APPEND_LITERAL(p, "X-Content-Type-Options: nosniff\r\n");
    if (ex->request_id[0] != '\0') {
        p = APPEND_LITERAL(p, "X-Request-Id: ");
        p = append(p, ex->request_id, strlen(ex->request_id));
        p = APPEND_LITERAL(p, "\r\n");
    }
    p = append(p, ex->extra, ex->extra_len);
    if (close)
        p = APPEND_LITERAL(p, "Connection: close\r\n");
    else if (ex->http10)
        p = APPEND_LITERAL(p, "Connection: keep-alive\r\n");
    p = APPEND_LITERAL(p, "\r\n");

    ex->parts[0].iov_base = ex->response_head;
    ex->parts[0].iov_len = (size_t)(p - ex->response_head);
    /* HEAD, 204 and 304 send no body; the parts stay held until the end. */
    if (ex->req.method == METHOD_HEAD || bodiless)
        ex->part_count = 1;
    ex->part_at = 0;
    ex->unsent = 0;
    for (size_t i = 0; i < ex->part_count; i++)
        ex->unsent += ex->parts[i].iov_len;
}

char *response_error_body(const char *message, size_t *len)
{
    return text_json_object("error", message, len);
}

void response_release_body(struct exchange *ex)
{
    if (ex->stream != NULL) {
        stream_detach(ex->stream);
        ex->stream = NULL;
    }
    if (ex->release != NULL)
        ex->release(ex->release_arg);
    ex->release = NULL;
    free(ex->owned_body);
    ex->owned_body = NULL;
}

/* Sets the body to `count` parts after the head. 0, or -1 when out of
 * memory for the parts array. */
static int set_parts(struct exchange *ex, const struct iovec *parts, size_t count)
{
    if (count + 1 > EXCHANGE_INLINE_PARTS) {
        ex->parts = malloc((count + 1) * sizeof *ex->parts);
        if (ex->parts == NULL) {
            ex->parts = ex->parts_inline;
            return -1;
        }
    }
    ex->body_bytes = 0;
    for (size_t i = 0; i < count; i++) {
        ex->parts[i + 1] = parts[i];
        ex->body_bytes += parts[i].iov_len;
    }
    ex->part_count = count + 1;
    return 0;
}

/* An error body that cannot fail: the message, or "out of memory". */
static void set_error_body(struct exchange *ex, int status, const char *message)
{
    size_t len;
    char *body = response_error_body(message, &len);
    struct iovec part;

    ex->status = status;
    if (body != NULL) {
        ex->owned_body = body;
        part.iov_base = body;
        part.iov_len = len;
    } else {
        ex->status = 500;
        part.iov_base = (void *)fallback_error;
        part.iov_len = sizeof fallback_error - 1;
    }
    set_parts(ex, &part, 1);
}

void response_set_error(struct exchange *ex, int status, const char *message)
{
    response_release_body(ex);
    ex->extra_len = 0;
    ex->close_after = true;
    set_error_body(ex, status, message);
}

/* Hands the answered exchange to its loop. */
static void deliver(struct exchange *ex)
{
    if (http_current_loop == ex->loop && ex->conn != NULL)
        conn_answered(ex);
    else
        loop_post_answer(ex->loop, ex);
}

/* ---- http.h ------------------------------------------------------------------ */

int http_add_header(struct http_request *req, const char *name, const char *value)
{
    struct exchange *ex = (struct exchange *)req;
    size_t name_len = strlen(name), value_len = strlen(value);

    if (strpbrk(name, "\r\n:") != NULL || strpbrk(value, "\r\n") != NULL ||
        ex->extra_len + name_len + value_len + 4 > sizeof ex->extra)
        return -1;
    memcpy(ex->extra + ex->extra_len, name, name_len);
    ex->extra_len += name_len;
    memcpy(ex->extra + ex->extra_len, ": ", 2);
    ex->extra_len += 2;
    memcpy(ex->extra + ex->extra_len, value, value_len);
    ex->extra_len += value_len;
    memcpy(ex->extra + ex->extra_len, "\r\n", 2);
    ex->extra_len += 2;
    return 0;
}

void http_set_content_type(struct http_request *req, const char *content_type)
{
    if (strlen(content_type) <= HTTP_CONTENT_TYPE_MAX && strpbrk(content_type, "\r\n") == NULL)
        ((struct exchange *)req)->content_type = content_type;
}

void http_respond_parts(struct http_request *req, int status, const struct iovec *parts, size_t count,
                        void (*release)(void *), void *release_arg)
{
    struct exchange *ex = (struct exchange *)req;

    ex->status = status;
    ex->release = release;
    ex->release_arg = release_arg;
    if (set_parts(ex, parts, count) != 0) {
        response_release_body(ex);
        set_error_body(ex, 500, "out of memory");
    }
    deliver(ex);
}

void http_respond_buffer(struct http_request *req, int status, const void *body, size_t len,
                         void (*release)(void *), void *release_arg)
{
    struct iovec part = {.iov_base = (void *)body, .iov_len = len};

    http_respond_parts(req, status, &part, 1, release, release_arg);
}

void http_respond_owned(struct http_request *req, int status, char *body, size_t len)
{
    struct exchange *ex = (struct exchange *)req;
    struct iovec part = {.iov_base = body, .iov_len = len};

    ex->status = status;
    ex->owned_body = body;
    set_parts(ex, &part, 1);   /* one part fits inline */
    deliver(ex);
}

void http_respond_error(struct http_request *req, int status, const char *message)
{
    struct exchange *ex = (struct exchange *)req;

    set_error_body(ex, status, message);
    deliver(ex);
}

void http_respond_empty(struct http_request *req, int status)
{
    struct exchange *ex = (struct exchange *)req;

    ex->status = status;
    set_parts(ex, NULL, 0);
    deliver(ex);
}
