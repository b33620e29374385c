/*
 * http/request — a request as it arrives: llhttp's callbacks, the rules of
 * RFC 9112 that llhttp leaves to its user, and reading a request (http.h).
 *
 * llhttp (strict, its default) rejects malformed syntax and the smuggling
 * vectors at the byte level. What it leaves to us, checked here when the
 * head is complete:
 *   - Host: exactly once on HTTP/1.1, at most once on HTTP/1.0 (400);
 *   - Transfer-Encoding: only "chunked", once and last (400 otherwise, 501
 *     for codings before it: llhttp accepts "gzip, chunked" and would hand
 *     us a body still compressed);
 *   - obs-fold, which llhttp 8 accepts: 400;
 *   - Expect: "100-continue" is answered, anything else is 417;
 *   - the target: origin-form, or absolute-form (its path is used);
 *   - sizes: the request line and headers within MAX_HEADER_BYTES (414 when
 *     the target alone is over it, 431 otherwise), at most HTTP_MAX_HEADERS
 *     headers, the body within MAX_BODY_BYTES (413) — checked as bytes
 *     arrive, before a declared body is read at all.
 * The head is copied as it arrives into the exchange (llhttp hands it over
 * in pieces that may span reads); header names and values are kept as
 * offsets until the head is complete, then turned into pointers.
 */
#include "internal.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "../text.h"

static struct conn *conn_of(llhttp_t *parser)
{
    return parser->data;
}

static int refuse(struct conn *c, int status, const char *message)
{
    c->error_status = status;
    c->error_message = message;
    return -1;   /* llhttp_execute returns that callback's HPE_CB_* error */
}

static int refuse_too_large(struct conn *c)
{
    snprintf(c->error_text, sizeof c->error_text, "request body larger than %d bytes",
             c->loop->server->settings.max_body_bytes);
    return refuse(c, 413, c->error_text);
}

void request_reset(struct exchange *ex)
{
    memset(&ex->req, 0, sizeof ex->req);
    ex->req.tag = -1;
    ex->content_type = NULL;
    ex->conn = NULL;
    ex->next = NULL;
    ex->stage = STAGE_HEAD;
    ex->started_ns = 0;
    ex->head = ex->head_inline;
    ex->head_len = ex->url_len = 0;
    ex->head_cap = sizeof ex->head_inline;
    ex->headers = ex->headers_inline;
    ex->header_count = 0;
    ex->header_cap = EXCHANGE_INLINE_HEADERS;
    ex->in_value = false;
    ex->host_count = 0;
    strcpy(ex->method_name, "-");
    ex->req.method_name = ex->method_name;
    ex->request_id[0] = '\0';
    ex->keep_alive = ex->http10 = false;
    ex->body = NULL;
    ex->body_cap = 0;
    ex->status = 0;
    ex->extra_len = 0;
    ex->parts = ex->parts_inline;
    ex->part_count = ex->part_at = 0;
    ex->body_bytes = ex->unsent = 0;
    ex->release = NULL;
    ex->release_arg = NULL;
    ex->owned_body = NULL;
    ex->close_after = false;
    ex->stream = NULL;
}

/* ---- the head, piece by piece ------------------------------------------ */

static int append_head(struct conn *c, struct exchange *ex, const char *at, size_t len)
{
    size_t limit = (size_t)c->loop->server->settings.max_header_bytes;

    if (ex->head_len + len > limit)
        return ex->header_count == 0 ? refuse(c, 414, "request target too long")
                                     : refuse(c, 431, "request headers too large");
    if (ex->head_len + len > ex->head_cap) {
        size_t cap = ex->head_cap * 2;
        char *grown;
        while (cap < ex->head_len + len)
            cap *= 2;
        if (cap > limit)
            cap = limit;
        grown = ex->head == ex->head_inline ? malloc(cap) : realloc(ex->head, cap);
        if (grown == NULL)
            return refuse(c, 503, "out of memory");
        if (ex->head == ex->head_inline)
            memcpy(grown, ex->head_inline, ex->head_len);
        ex->head = grown;
        ex->head_cap = cap;
    }
    memcpy(ex->head + ex->head_len, at, len);
    ex->head_len += len;
    return 0;
}

static int on_message_begin(llhttp_t *parser)
{
    struct conn *c = conn_of(parser);
    struct exchange *ex = exchange_take(c->loop);

    if (ex == NULL)
        return refuse(c, 503, "out of memory");
    ex->started_ns = http_now_ns();
    atomic_fetch_add(&c->loop->server->in_flight, 1);
    conn_request_begins(c, ex);
    return 0;
}

static int on_url(llhttp_t *parser, const char *at, size_t len)
{
    struct conn *c = conn_of(parser);
    int rc = append_head(c, c->reading, at, len);

    if (rc == 0)
        c->reading->url_len += len;
    return rc;
}

/* Header names and values are stored as offsets into the head (the head
 * may move as it grows) until on_headers_complete. */
static int on_header_field(llhttp_t *parser, const char *at, size_t len)
{
    struct conn *c = conn_of(parser);
    struct exchange *ex = c->reading;

    if (ex->header_count == 0 || ex->in_value) {
        struct http_header *h;
        if (ex->header_count == HTTP_MAX_HEADERS)
            return refuse(c, 431, "too many request headers");
        if (ex->header_count == ex->header_cap) {
            unsigned cap = ex->header_cap * 2 > HTTP_MAX_HEADERS ? HTTP_MAX_HEADERS : ex->header_cap * 2;
            struct http_header *grown = ex->headers == ex->headers_inline
                                            ? malloc(cap * sizeof *grown)
                                            : realloc(ex->headers, cap * sizeof *grown);
            if (grown == NULL)
                return refuse(c, 503, "out of memory");
            if (ex->headers == ex->headers_inline)
                memcpy(grown, ex->headers_inline, sizeof ex->headers_inline);
            ex->headers = grown;
            ex->header_cap = cap;
        }
        h = &ex->headers[ex->header_count++];
        h->name = (const char *)(uintptr_t)ex->head_len;
        h->name_len = 0;
        h->value = (const char *)(uintptr_t)ex->head_len;
        h->value_len = 0;
        ex->in_value = false;
    }
    ex->headers[ex->header_count - 1].name_len += len;
    return append_head(c, ex, at, len);
}

static int on_header_field_complete(llhttp_t *parser)
{
    struct exchange *ex = conn_of(parser)->reading;
    struct http_header *h = &ex->headers[ex->header_count - 1];

    ex->in_value = true;
    h->value = (const char *)(uintptr_t)ex->head_len;   /* for an empty value */
    return 0;
}

static int on_header_value(llhttp_t *parser, const char *at, size_t len)
{
    struct conn *c = conn_of(parser);
    struct exchange *ex = c->reading;

    unsigned long long start = c->fed_total + (unsigned long long)(at - c->feed_base);
    struct http_header *h = &ex->headers[ex->header_count - 1];

    /* llhttp 8 accepts obs-fold (a value continued on the next line) and
     * hands the continuation over as another piece of the value. A value
     * split by the reads arrives in pieces that touch in the byte stream;
     * a gap between two pieces is a fold. RFC 9112 lets a server reject
     * it, and a proxy in front may read it differently: refuse. */
    if (h->value_len > 0 && start != ex->value_end)
        return refuse(c, 400, "malformed request: obs-fold (a header value continued on the next line)");
    ex->value_end = start + len;

    h->value_len += len;
    return append_head(c, ex, at, len);
}

/* ---- the head, complete -------------------------------------------------- */

static bool token_equals(const char *text, size_t len, const char *word)
{
    return strlen(word) == len && strncasecmp(text, word, len) == 0;
}

static void trim(const char **text, size_t *len)
{
    while (*len > 0 && (**text == ' ' || **text == '\t')) {
        (*text)++;
        (*len)--;
    }
    while (*len > 0 && ((*text)[*len - 1] == ' ' || (*text)[*len - 1] == '\t'))
        (*len)--;
}

/* A Transfer-Encoding value: 0 when it is "chunked" alone; 400 when
 * chunked is missing, not last or repeated (RFC 9112 6.3: the body's
 * length cannot be known); 501 when chunked comes after codings we do not
 * decode (gzip, chunked). */
static int check_transfer_coding(const char *value, size_t len)
{
    int chunked = 0, others = 0;
    bool last_chunked = false;

    while (len > 0) {
        const char *comma = memchr(value, ',', len);
        size_t item = comma ? (size_t)(comma - value) : len;
        const char *token = value;
        size_t token_len = item;
        trim(&token, &token_len);
        last_chunked = token_equals(token, token_len, "chunked");
        if (last_chunked)
            chunked++;
        else
            others++;
        value += item + (comma != NULL);
        len -= item + (comma != NULL);
    }
    if (chunked != 1 || !last_chunked)
        return 400;
    return others > 0 ? 501 : 0;
}

static bool scheme_is(const char *url, size_t len, const char *scheme)
{
    size_t n = strlen(scheme);
    return len > n && strncasecmp(url, scheme, n) == 0;
}

/* Splits the target into path and query. */
static int parse_target(struct conn *c, struct exchange *ex)
{
    const char *url = ex->head, *end = ex->head + ex->url_len, *path, *mark;
    struct http_request *req = &ex->req;

    if (ex->url_len > 0 && url[0] == '/') {
        path = url;
    } else if (scheme_is(url, ex->url_len, "http://") || scheme_is(url, ex->url_len, "https://")) {
        /* absolute-form: the authority is not ours to judge; the path is */
        path = url + (url[4] == ':' ? 7 : 8);
        while (path < end && *path != '/' && *path != '?' && *path != '#')
            path++;
    } else if (ex->url_len == 1 && url[0] == '*' && req->method == METHOD_OPTIONS) {
        path = url;
    } else {
        return refuse(c, 400, "the request target must be an absolute path or an absolute URL");
    }
    mark = path;
    while (mark < end && *mark != '?' && *mark != '#')
        mark++;
    req->path = path < mark && (*path == '/' || *path == '*') ? path : "/";
    req->path_len = path < mark && (*path == '/' || *path == '*') ? (size_t)(mark - path) : 1;
    if (mark < end && *mark == '?') {
        const char *query_end = ++mark;
        while (query_end < end && *query_end != '#')
            query_end++;
        req->query = mark;
        req->query_len = (size_t)(query_end - mark);
    }
    return 0;
}

static enum http_method method_bit(llhttp_method_t method)
{
    switch (method) {
    case HTTP_GET: return METHOD_GET;
    case HTTP_HEAD: return METHOD_HEAD;
    case HTTP_POST: return METHOD_POST;
    case HTTP_PUT: return METHOD_PUT;
    case HTTP_DELETE: return METHOD_DELETE;
    case HTTP_PATCH: return METHOD_PATCH;
    case HTTP_OPTIONS: return METHOD_OPTIONS;
    default: return METHOD_OTHER;
    }
}

/* xorshift64* per thread, seeded from the kernel: ids need to be unique,
 * not secret. */
static uint64_t next_random(void)
{
    static _Thread_local uint64_t state;

    if (state == 0) {
        if (getrandom(&state, sizeof state, 0) != sizeof state || state == 0)
            state = (uint64_t)http_now_ns() | 1;
    }
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return state * 2685821657736338717ULL;
}

/* Writes 16 lowercase hex digits of v. */
static void hex64(char *out, uint64_t v)
{
    static const char digits[] = "0123456789abcdef";

    for (int i = 15; i >= 0; i--, v >>= 4)
        out[i] = digits[v & 15];
}

void request_ensure_id(struct exchange *ex)
{
    if (ex->request_id[0] == '\0') {
        hex64(ex->request_id, next_random());
        hex64(ex->request_id + 16, next_random());
        ex->request_id[32] = '\0';
        ex->req.request_id = ex->request_id;
    }
}

static void assign_request_id(struct exchange *ex, const struct http_header *incoming)
{
    bool sane = incoming != NULL && incoming->value_len > 0 && incoming->value_len <= HTTP_REQUEST_ID_MAX;

    for (size_t i = 0; sane && i < incoming->value_len; i++)
        sane = incoming->value[i] >= 0x21 && incoming->value[i] <= 0x7e;
    if (sane) {
        memcpy(ex->request_id, incoming->value, incoming->value_len);
        ex->request_id[incoming->value_len] = '\0';
        ex->req.request_id = ex->request_id;
    } else {
        request_ensure_id(ex);
    }
}

/* The headers the transport itself looks at, found in one pass. */
struct known_headers {
    const struct http_header *request_id, *expect;
    unsigned hosts, transfer_encodings;
    const struct http_header *transfer_encoding;
};

static void find_known_headers(const struct exchange *ex, struct known_headers *known)
{
    memset(known, 0, sizeof *known);
    for (unsigned i = 0; i < ex->header_count; i++) {
        const struct http_header *h = &ex->headers[i];
        switch (h->name_len) {
        case 4:
            known->hosts += token_equals(h->name, h->name_len, "Host");
            break;
        case 6:
            if (token_equals(h->name, h->name_len, "Expect") && known->expect == NULL)
                known->expect = h;
            break;
        case 12:
            if (token_equals(h->name, h->name_len, "X-Request-Id") && known->request_id == NULL)
                known->request_id = h;
            break;
        case 17:
            if (token_equals(h->name, h->name_len, "Transfer-Encoding")) {
                known->transfer_encodings++;
                known->transfer_encoding = h;
            }
            break;
        default:
            break;
        }
    }
}

static int on_headers_complete(llhttp_t *parser)
{
    struct conn *c = conn_of(parser);
    struct exchange *ex = c->reading;
    const struct http_settings *s = &c->loop->server->settings;
    struct http_request *req = &ex->req;
    bool has_body = (parser->flags & F_CHUNKED) || ((parser->flags & F_CONTENT_LENGTH) && parser->content_length > 0);
    const char *method = llhttp_method_name(llhttp_get_method(parser));
    struct known_headers known;
    size_t method_len = strlen(method);

    if (method_len >= sizeof ex->method_name)
        method_len = sizeof ex->method_name - 1;
    memcpy(ex->method_name, method, method_len);
    ex->method_name[method_len] = '\0';
    req->method = method_bit(llhttp_get_method(parser));
    for (unsigned i = 0; i < ex->header_count; i++) {
        struct http_header *h = &ex->headers[i];
        h->name = ex->head + (uintptr_t)h->name;
        h->value = ex->head + (uintptr_t)h->value;
        trim(&h->value, &h->value_len);
    }
    req->headers = ex->headers;
    req->header_count = ex->header_count;
    find_known_headers(ex, &known);
    assign_request_id(ex, known.request_id);

    if (parser->http_major != 1)
        return refuse(c, 505, "HTTP version not supported: use HTTP/1.1 or HTTP/1.0");
    if (known.hosts > 1 || (known.hosts == 0 && parser->http_minor == 1))
        return refuse(c, 400, "a request must carry exactly one Host header");
    if (parse_target(c, ex) != 0)
        return -1;
    if (known.transfer_encodings > 1)   /* chunked applied twice, or codings we do not know */
        return refuse(c, 400, "malformed request: repeated Transfer-Encoding");
    if (known.transfer_encoding != NULL) {
        int status = check_transfer_coding(known.transfer_encoding->value, known.transfer_encoding->value_len);
        if (status == 400)
            return refuse(c, 400, "malformed request: chunked must be the last transfer coding, once");
        if (status == 501)
            return refuse(c, 501, "transfer coding not supported: only chunked is");
    }
    if ((parser->flags & F_CONTENT_LENGTH) && parser->content_length > (uint64_t)s->max_body_bytes)
        return refuse_too_large(c);
    if (parser->http_minor == 1 && known.expect != NULL) {
        if (!token_equals(known.expect->value, known.expect->value_len, "100-continue"))
            return refuse(c, 417, "unsupported expectation: only 100-continue is");
        if (has_body)
            conn_send_continue(c);
    }
    if (has_body) {
        ex->stage = STAGE_BODY;
        conn_set_deadline(c, s->body_timeout_s);
        if (parser->flags & F_CONTENT_LENGTH) {
            ex->body = malloc(parser->content_length);
            if (ex->body == NULL)
                return refuse(c, 503, "out of memory");
            ex->body_cap = parser->content_length;
        }
    }
    return 0;
}

static int on_body(llhttp_t *parser, const char *at, size_t len)
{
    struct conn *c = conn_of(parser);
    struct exchange *ex = c->reading;
    size_t limit = (size_t)c->loop->server->settings.max_body_bytes;

    if (ex->req.body_len + len > limit)
        return refuse_too_large(c);
    if (ex->req.body_len + len > ex->body_cap) {   /* chunked: grow */
        size_t cap = ex->body_cap ? ex->body_cap * 2 : 1024;
        char *grown;
        while (cap < ex->req.body_len + len)
            cap *= 2;
        if (cap > limit)
            cap = limit;
        grown = realloc(ex->body, cap);
        if (grown == NULL)
            return refuse(c, 503, "out of memory");
        ex->body = grown;
        ex->body_cap = cap;
    }
    memcpy(ex->body + ex->req.body_len, at, len);
    ex->req.body_len += len;
    return 0;
}

static int on_message_complete(llhttp_t *parser)
{
    struct conn *c = conn_of(parser);
    struct exchange *ex = c->reading;

    ex->req.body = ex->body;
    /* No protocol upgrades: such a request is answered, then the
     * connection closes. */
    ex->keep_alive = llhttp_should_keep_alive(parser) && !parser->upgrade;
    ex->http10 = parser->http_minor == 0;
    return conn_dispatch(c);
}

const llhttp_settings_t request_parser_settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- errors ------------------------------------------------------------------- */

static bool is_tchar(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* Whether the line the parser stopped in starts with a well-formed method
 * token followed by a space: then the method is unknown (501), not
 * garbage (400). */
static bool unknown_method(const char *data, size_t len, const char *stop)
{
    const char *line = stop < data || stop > data + len ? data : stop, *p;

    while (line > data && line[-1] != '\n')
        line--;
    for (p = line; p < data + len && is_tchar((unsigned char)*p); p++)
        ;
    return p > line && p < data + len && *p == ' ';
}

int request_error_status(const struct conn *c, llhttp_errno_t err, const char *data, size_t len,
                         const char **message)
{
    static _Thread_local char reason[160];

    if (c->error_status != 0) {   /* one of our callbacks refused (HPE_CB_*) */
        *message = c->error_message;
        return c->error_status;
    }
    switch (err) {
    case HPE_INVALID_VERSION:
        *message = "HTTP version not supported: use HTTP/1.1 or HTTP/1.0";
        return 505;
    case HPE_INVALID_METHOD:
        if (unknown_method(data, len, llhttp_get_error_pos(&c->parser))) {
            *message = "method not implemented";
            return 501;
        }
        break;
    case HPE_UNEXPECTED_CONTENT_LENGTH:
        *message = "malformed request: Content-Length together with Transfer-Encoding";
        return 400;
    default:
        break;
    }
    snprintf(reason, sizeof reason, "malformed request: %s", llhttp_get_error_reason(&c->parser));
    *message = reason;
    return 400;
}

/* ---- reading a request (http.h) --------------------------------------------- */

const char *http_header(const struct http_request *req, const char *name, size_t *len)
{
    size_t name_len = strlen(name);

    for (unsigned i = 0; i < req->header_count; i++) {
        const struct http_header *h = &req->headers[i];
        if (h->name_len == name_len && strncasecmp(h->name, name, name_len) == 0) {
            if (len != NULL)
                *len = h->value_len;
            return h->value;
        }
    }
    return NULL;
}

bool http_content_type_is(const struct http_request *req, const char *media_type)
{
    size_t len;
    const char *value = http_header(req, "Content-Type", &len), *semicolon;

    if (value == NULL)
        return false;
    semicolon = memchr(value, ';', len);
    if (semicolon != NULL)
        len = (size_t)(semicolon - value);
    trim(&value, &len);
    return token_equals(value, len, media_type);
}

/* A weight ("q=0.5") that is zero: "0", "0.", "0.0" ... "0.000". */
static bool weight_is_zero(const char *text, size_t len)
{
    if (len == 0 || text[0] != '0')
        return false;
    for (size_t i = 1; i < len; i++)
        if ((i == 1 && text[i] != '.') || (i > 1 && text[i] != '0'))
            return false;
    return true;
}

bool http_accepts_encoding(const struct http_request *req, const char *coding)
{
    size_t len;
    const char *value = http_header(req, "Accept-Encoding", &len), *end;
    int named = -1, star = -1;   /* -1 not listed, 0 refused, 1 accepted */

    if (value == NULL)
        return false;
    for (end = value + len; value < end;) {
        const char *comma = memchr(value, ',', (size_t)(end - value)), *item = value, *params;
        size_t item_len = (size_t)((comma ? comma : end) - value), token_len;
        bool accepted = true;

        value = comma ? comma + 1 : end;
        params = memchr(item, ';', item_len);
        token_len = params ? (size_t)(params - item) : item_len;
        /* Parameters: only the weight matters; "q=0" refuses. */
        while (params != NULL) {
            const char *param = params + 1, *next;
            size_t param_len;
            next = memchr(param, ';', (size_t)(item + item_len - param));
            param_len = (size_t)((next ? next : item + item_len) - param);
            trim(&param, &param_len);
            if (param_len >= 2 && (param[0] == 'q' || param[0] == 'Q') && param[1] == '=') {
                const char *weight = param + 2;
                size_t weight_len = param_len - 2;
                trim(&weight, &weight_len);
                accepted = !weight_is_zero(weight, weight_len);
            }
            params = next;
        }
        trim(&item, &token_len);
        if (token_equals(item, token_len, coding) ||
            (strcmp(coding, "gzip") == 0 && token_equals(item, token_len, "x-gzip")))
            named = accepted;
        else if (token_equals(item, token_len, "*"))
            star = accepted;
    }
    return named >= 0 ? named == 1 : star == 1;
}

int http_query_param(const struct http_request *req, const char *key, char *buf, size_t buflen, size_t *len)
{
    const char *p = req->query, *end = req->query ? req->query + req->query_len : NULL;
    size_t key_len = strlen(key);

    while (p != NULL && p < end) {
        const char *pair_end = memchr(p, '&', (size_t)(end - p)), *eq;
        char name[64];
        if (pair_end == NULL)
            pair_end = end;
        eq = memchr(p, '=', (size_t)(pair_end - p));
        if (eq == NULL)
            eq = pair_end;
        if ((size_t)(eq - p) < sizeof name && text_percent_decode(p, (size_t)(eq - p), name) == key_len &&
            memcmp(name, key, key_len) == 0) {
            const char *value = eq < pair_end ? eq + 1 : pair_end;
            size_t raw = (size_t)(pair_end - value);
            if (raw >= buflen)
                return -1;
            *len = text_percent_decode(value, raw, buf);
            return 1;
        }
        p = pair_end + 1;
    }
    return 0;
}

int http_query_next(const struct http_request *req, size_t *pos, char *name, size_t name_cap, size_t *name_len,
                    char *value, size_t value_cap, size_t *value_len)
{
    const char *p, *end, *pair_end, *eq;

    for (;;) {
        if (req->query == NULL || *pos >= req->query_len)
            return 0;
        p = req->query + *pos;
        end = req->query + req->query_len;
        pair_end = memchr(p, '&', (size_t)(end - p));
        if (pair_end == NULL)
            pair_end = end;
        *pos = (size_t)(pair_end - req->query) + 1;
        if (pair_end > p)
            break;   /* empty pairs ("a=1&&b=2") are skipped */
    }
    eq = memchr(p, '=', (size_t)(pair_end - p));
    if (eq == NULL)
        eq = pair_end;
    if ((size_t)(eq - p) >= name_cap || (size_t)(pair_end - (eq < pair_end ? eq + 1 : pair_end)) >= value_cap)
        return -1;
    *name_len = text_percent_decode(p, (size_t)(eq - p), name);
    *value_len = text_percent_decode(eq < pair_end ? eq + 1 : pair_end,
                                     (size_t)(pair_end - (eq < pair_end ? eq + 1 : pair_end)), value);
    return 1;
}
