/*
 * config — environment variables to one immutable struct. See config.h.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_DATABASE_URL "sqlite://./data/togglemaster.db"
#define HIDDEN_PARAMETERS "?(parameters hidden)"

/* ---- the numeric settings --------------------------------------------- */

/* A default of 0 means "computed" (default_text says how). */
struct int_setting {
    const char *name;
    size_t offset;             /* of the int in struct config */
    long min, max, def;
    const char *default_text;  /* for computed defaults, else NULL */
    const char *meaning;
};

#define FIELD(f) offsetof(struct config, f)

static const struct int_setting int_settings[] = {
    {"PORT", FIELD(port), 1, 65535, 5000, NULL, "TCP port to listen on"},
    {"SHUTDOWN_TIMEOUT", FIELD(shutdown_timeout_s), 0, 3600, 10, NULL,
     "seconds in-flight requests get to finish on SIGTERM/SIGINT"},
    {"SHUTDOWN_DRAIN", FIELD(shutdown_drain_s), 0, 3600, 5, NULL,
     "seconds /ready answers 503 on SIGTERM, still serving, before stopping"},
    {"USAGE_FLUSH_INTERVAL", FIELD(usage_flush_interval_s), 1, 86400, 60, NULL,
     "seconds between writes of the evaluation counts to the database"},
    {"EVENTS_MAX_SUBSCRIBERS", FIELD(events_max_subscribers), 0, 100000, 1000, NULL,
     "open change streams (GET /api/v1/events); 503 past it"},
    {"EVENTS_BUFFER_KB", FIELD(events_buffer_kb), 1, 65536, 256, NULL,
     "KiB a change stream may have unwritten before its client is cut off"},
    {"EVENTS_HISTORY", FIELD(events_history), 1, 1000000, 1000, NULL,
     "changes kept for clients reconnecting with Last-Event-ID"},
    {"EVENTS_HEARTBEAT", FIELD(events_heartbeat_s), 1, 3600, 15, NULL,
     "seconds between keep-alive comments on change streams"},
    {"THREADS", FIELD(threads), 1, CONFIG_MAX_THREADS, 0, "cores", "HTTP event-loop threads"},
    {"DB_POOL_SIZE", FIELD(db_pool_size), 1, CONFIG_MAX_POOL_SIZE, 0, "2 x THREADS",
     "database connections, one per store worker (SQLite: 1 writer)"},
    {"DB_CONNECT_TIMEOUT", FIELD(db_connect_timeout_s), 1, 600, 5, NULL,
     "seconds to wait for a database connection"},
    {"DB_STATEMENT_TIMEOUT", FIELD(db_statement_timeout_ms), 1, 3600000, 5000, NULL,
     "milliseconds a statement may run; the client gives up 1 s later"},
    {"RESYNC_INTERVAL", FIELD(resync_interval_s), 1, 86400, 30, NULL,
     "seconds between full reloads of the flags from the database"},
    {"MAX_CONNECTIONS", FIELD(max_connections), 16, 1000000, 10000, NULL,
     "open client connections; past it the longest-idle keep-alive one is closed"},
    {"MAX_CLIENT_CONNECTIONS", FIELD(max_client_connections), 0, 1000000, 1024, NULL,
     "open connections from one client address (503, closed, past it; 0: no limit)"},
    {"KEEPALIVE_TIMEOUT", FIELD(keepalive_timeout_s), 1, 3600, 75, NULL,
     "seconds an idle keep-alive connection stays open"},
    {"HEADER_TIMEOUT", FIELD(header_timeout_s), 1, 600, 10, NULL,
     "seconds a client has to send a request line and headers (408)"},
    {"BODY_TIMEOUT", FIELD(body_timeout_s), 1, 3600, 30, NULL,
     "seconds a client has to send a request body (408)"},
    {"SEND_TIMEOUT", FIELD(send_timeout_s), 1, 3600, 30, NULL,
     "seconds a response may make no progress before the connection closes"},
    {"MAX_HEADER_BYTES", FIELD(max_header_bytes), 1024, 65536, 8192, NULL,
     "bytes of request line plus headers (414/431 above)"},
    {"MAX_BODY_BYTES", FIELD(max_body_bytes), 1, 16777216, 65536, NULL,
     "bytes of request body (413 above)"},
    {"MAX_UNSENT_MB", FIELD(max_unsent_mb), 1, 65536, 256, NULL,
     "MiB of responses waiting on slow clients; past it stalled ones close"},
    {"JSON_MAX_DEPTH", FIELD(json_max_depth), 2, 1000, 128, NULL,
     "nesting of arrays and objects in a request body (400 above)"},
    {"JSON_MAX_ELEMENTS", FIELD(json_max_elements), 1, 10000000, 100000, NULL,
     "values in arrays and objects of a request body (400 above)"},
    {"AUTH_FAILURE_LIMIT", FIELD(auth_failure_limit), 0, 1000000, 20, NULL,
     "failed authentications per address per window before 429 (0: no limit)"},
    {"AUTH_FAILURE_WINDOW", FIELD(auth_failure_window_s), 1, 86400, 60, NULL,
     "seconds of that window; an address over the limit waits as long"},
    {"WRITE_LIMIT", FIELD(write_limit), 0, 100000000, 1200, NULL,
     "changes one API key may make per minute before 429 (0: no limit)"},
    {"KEY_CREATE_LIMIT", FIELD(key_create_limit), 0, 1000000, 60, NULL,
     "API keys one key may create per hour before 429 (0: no limit)"},
};
#define INT_SETTING_COUNT (sizeof int_settings / sizeof int_settings[0])

/* ---- the true/false settings ------------------------------------------ */

struct bool_setting {
    const char *name;
    size_t offset;             /* of the bool in struct config */
    bool def;
};

static const struct bool_setting bool_settings[] = {
    {"AUTH_REQUIRED", FIELD(auth_required), false},
    {"PUBLIC_EVALUATION", FIELD(public_evaluation), false},
    {"METRICS_PUBLIC", FIELD(metrics_public), false},
    {"METRICS_ENABLED", FIELD(metrics_enabled), true},
};
#define BOOL_SETTING_COUNT (sizeof bool_settings / sizeof bool_settings[0])

/* ---- every other setting ----------------------------------------------- */

/* Read one by one below. With the two tables above this is the list of
 * every variable config reads: tests/unit/test_config.c fails when
 * config_read asks the environment for a name that is not in it, or when
 * --help leaves one out. */
static const char *const word_settings[] = {
    "BIND", "DATABASE_URL", "DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD",
    "LOG_LEVEL", "LOG_FORMAT", "TLS_CERT_FILE", "TLS_KEY_FILE", "ADMIN_TOKEN", "CORS_ORIGINS",
};
#define WORD_SETTING_COUNT (sizeof word_settings / sizeof word_settings[0])

/* ---- reporting problems ------------------------------------------------ */

/* One config_read: where problems go and how many errors there were. */
struct reader {
    config_report_fn *report;
    void *ctx;
    int errors;
};

static int fail(struct reader *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reports an error about variable `name`; returns -1. */
static int fail(struct reader *r, const char *name, const char *fmt, ...)
{
    char line[CONFIG_LINE_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    r->errors++;
    r->report(r->ctx, CONFIG_ERROR, name, line);
    return -1;
}

int config_parse_int(const char *text, long min, long max, long *out)
{
    char *end;
    long value;

    if (text == NULL || *text == '\0')
        return -1;
    errno = 0;
    value = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || value < min || value > max)
        return -1;
    *out = value;
    return 0;
}

/* Values are echoed in errors cut at 40 bytes and with anything but
 * printable ASCII shown as '?', so the message stays one readable line. */
static void quote_value(const char *value, char *out, size_t outlen)
{
    size_t n = 0;

    for (; value[n] != '\0' && n < 40 && n + 1 < outlen; n++)
        out[n] = (value[n] >= 0x20 && value[n] < 0x7f) ? value[n] : '?';
    out[n] = '\0';
}

static void load_int_settings(struct config *cfg, struct reader *r)
{
    for (size_t i = 0; i < INT_SETTING_COUNT; i++) {
        const struct int_setting *s = &int_settings[i];
        const char *text = getenv(s->name);
        int *field = (int *)((char *)cfg + s->offset);
        char shown[48];
        long value;

        if (text == NULL || *text == '\0')
            continue;   /* unset or empty keeps the default */
        if (config_parse_int(text, s->min, s->max, &value) != 0) {
            quote_value(text, shown, sizeof shown);
            fail(r, s->name, "%s: invalid value '%s' (expected an integer from %ld to %ld)", s->name, shown,
                 s->min, s->max);
            continue;
        }
        *field = (int)value;
    }
}

/* ---- the database ------------------------------------------------------ */

/* Appends key='value' to a libpq key/value connection string, quoting as
 * libpq documents: single quotes, with \ and ' escaped by a backslash. The
 * caller sized buf with conninfo_room(). */
static void conninfo_append(char *buf, const char *key, const char *value)
{
    size_t len = strlen(buf);

    if (value == NULL || *value == '\0')
        return;
    len += (size_t)sprintf(buf + len, "%s%s='", len ? " " : "", key);
    for (const char *p = value; *p; p++) {
        if (*p == '\\' || *p == '\'')
            buf[len++] = '\\';
        buf[len++] = *p;
    }
    buf[len++] = '\'';
    buf[len] = '\0';
}

/* The most conninfo_append() can add for key and value. */
static size_t conninfo_room(const char *key, const char *value)
{
    return value ? strlen(key) + 4 + 2 * strlen(value) : 0;
}

/* The original monolith's DB_* variables as a libpq key/value string, and
 * the same without the password for logs. */
static int load_legacy_database(struct config *cfg, const char *db_host, struct reader *r)
{
    const char *port = getenv("DB_PORT"), *name = getenv("DB_NAME"), *user = getenv("DB_USER");
    const char *password = getenv("DB_PASSWORD");
    char shown[48];
    size_t room;
    long port_value;

    if (port == NULL || *port == '\0')
        port = "5432";
    if (config_parse_int(port, 1, 65535, &port_value) != 0) {
        quote_value(port, shown, sizeof shown);
        return fail(r, "DB_PORT", "DB_PORT: invalid port '%s' (expected 1-65535)", shown);
    }
    room = 1 + conninfo_room("host", db_host) + conninfo_room("port", port) +
           conninfo_room("dbname", name) + conninfo_room("user", user);
    cfg->database_display = malloc(room);
    cfg->database = malloc(room + conninfo_room("password", password));
    if (cfg->database == NULL || cfg->database_display == NULL)
        return fail(r, "DB_HOST", "out of memory reading DB_HOST");
    cfg->database[0] = '\0';
    conninfo_append(cfg->database, "host", db_host);
    conninfo_append(cfg->database, "port", port);
    conninfo_append(cfg->database, "dbname", name);
    conninfo_append(cfg->database, "user", user);
    memcpy(cfg->database_display, cfg->database, strlen(cfg->database) + 1);
    conninfo_append(cfg->database, "password", password);
    cfg->store_kind = STORE_KIND_POSTGRES;
    return 0;
}

/* A copy of a postgres:// URL fit for logs: a password in the userinfo
 * becomes "***", and a query string that mentions a password is replaced
 * as a whole. The copy is sized for the longest result. */
static char *mask_url_password(const char *url)
{
    const char *authority = strstr(url, "://") + 3;
    size_t authority_len = strcspn(authority, "/?");
    const char *at = NULL, *rest = authority + authority_len, *query = strchr(rest, '?');
    char *masked = malloc(strlen(url) + sizeof HIDDEN_PARAMETERS + sizeof "***");
    size_t len;

    if (masked == NULL)
        return NULL;
    for (const char *p = authority; p < rest; p++)
        if (*p == '@')
            at = p;     /* the last '@' ends the userinfo */
    len = (size_t)(authority - url);
    memcpy(masked, url, len);
    if (at != NULL) {
        const char *colon = memchr(authority, ':', (size_t)(at - authority));
        size_t user_len = colon ? (size_t)(colon - authority) : (size_t)(at - authority);
        memcpy(masked + len, authority, user_len);
        len += user_len;
        if (colon != NULL) {
            memcpy(masked + len, ":***", 4);
            len += 4;
        }
        authority = at;   /* copy from the '@' on */
    }
    memcpy(masked + len, authority, (size_t)(rest - authority));
    len += (size_t)(rest - authority);
    if (query != NULL && strstr(query, "password") != NULL) {
        memcpy(masked + len, rest, (size_t)(query - rest));
        len += (size_t)(query - rest);
        memcpy(masked + len, HIDDEN_PARAMETERS, sizeof HIDDEN_PARAMETERS);
    } else {
        memcpy(masked + len, rest, strlen(rest) + 1);
    }
    return masked;
}

static int load_database(struct config *cfg, struct reader *r)
{
    const char *url = getenv("DATABASE_URL");
    const char *db_host = getenv("DB_HOST");
    const char *scheme_end;

    if (url != NULL && *url == '\0')
        url = NULL;
    if (url == NULL && db_host != NULL && *db_host != '\0')
        return load_legacy_database(cfg, db_host, r);
    if (url == NULL)
        url = DEFAULT_DATABASE_URL;

    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0) {
        cfg->store_kind = STORE_KIND_POSTGRES;
        cfg->database = strdup(url);
        cfg->database_display = mask_url_password(url);
    } else {
        if (strncmp(url, "sqlite://", 9) == 0) {
            url += 9;
        } else if ((scheme_end = strstr(url, "://")) != NULL) {
            char shown[48];
            size_t scheme_len = (size_t)(scheme_end - url) + 3;
            quote_value(url, shown, scheme_len < sizeof shown ? scheme_len + 1 : sizeof shown);
            return fail(r, "DATABASE_URL",
                        "DATABASE_URL: unsupported scheme in '%s' (use sqlite://PATH, postgres:// or a plain file path)",
                        shown);
        }
        if (*url == '\0')
            return fail(r, "DATABASE_URL", "DATABASE_URL: empty SQLite path");
        cfg->store_kind = STORE_KIND_SQLITE;
        cfg->database = strdup(url);
        cfg->database_display = strdup(url);
    }
    if (cfg->database == NULL || cfg->database_display == NULL)
        return fail(r, "DATABASE_URL", "out of memory reading DATABASE_URL");
    return 0;
}

/* ---- the rest ---------------------------------------------------------- */

/* BIND, LOG_LEVEL and LOG_FORMAT, each checked whatever the others hold. */
static void load_words(struct config *cfg, struct reader *r)
{
    unsigned char addr[sizeof(struct in6_addr)];
    const char *text;
    char shown[48];

    text = getenv("BIND");
    if (text != NULL && *text != '\0') {
        if (strlen(text) >= sizeof cfg->bind ||
            (inet_pton(AF_INET, text, addr) != 1 && inet_pton(AF_INET6, text, addr) != 1)) {
            quote_value(text, shown, sizeof shown);
            fail(r, "BIND", "BIND: invalid address '%s' (expected an IPv4 or IPv6 literal)", shown);
        } else {
            strcpy(cfg->bind, text);
        }
    }

    text = getenv("LOG_LEVEL");
    if (text != NULL && *text != '\0') {
        if (strcmp(text, "debug") == 0) cfg->log_level = LOG_DEBUG;
        else if (strcmp(text, "info") == 0) cfg->log_level = LOG_INFO;
        else if (strcmp(text, "warn") == 0) cfg->log_level = LOG_WARN;
        else if (strcmp(text, "error") == 0) cfg->log_level = LOG_ERROR;
        else {
            quote_value(text, shown, sizeof shown);
            fail(r, "LOG_LEVEL", "LOG_LEVEL: invalid value '%s' (expected debug, info, warn or error)", shown);
        }
    }

    text = getenv("LOG_FORMAT");
    if (text != NULL && *text != '\0') {
        if (strcmp(text, "json") == 0) cfg->log_format = LOG_FORMAT_JSON;
        else if (strcmp(text, "text") == 0) cfg->log_format = LOG_FORMAT_TEXT;
        else {
            quote_value(text, shown, sizeof shown);
            fail(r, "LOG_FORMAT", "LOG_FORMAT: invalid value '%s' (expected json or text)", shown);
        }
    }
}

static int load_tls(struct config *cfg, struct reader *r)
{
    const char *cert = getenv("TLS_CERT_FILE"), *key = getenv("TLS_KEY_FILE");
    bool have_cert = cert != NULL && *cert != '\0', have_key = key != NULL && *key != '\0';

    if (have_cert != have_key)
        return fail(r, have_cert ? "TLS_KEY_FILE" : "TLS_CERT_FILE",
                    "%s: set both TLS_CERT_FILE and TLS_KEY_FILE, or neither",
                    have_cert ? "TLS_KEY_FILE" : "TLS_CERT_FILE");
    if (!have_cert)
        return 0;
    cfg->tls_cert_file = strdup(cert);
    cfg->tls_key_file = strdup(key);
    if (cfg->tls_cert_file == NULL || cfg->tls_key_file == NULL)
        return fail(r, "TLS_CERT_FILE", "out of memory reading TLS_CERT_FILE");
    return 0;
}

/* Each setting of bool_settings: "true"/"false" (also 1/0, yes/no), unset
 * or empty: the default. */
static void load_bools(struct config *cfg, struct reader *r)
{
    for (size_t i = 0; i < BOOL_SETTING_COUNT; i++) {
        const struct bool_setting *s = &bool_settings[i];
        const char *text = getenv(s->name);
        bool *field = (bool *)((char *)cfg + s->offset);
        char shown[64];

        *field = s->def;
        if (text == NULL || *text == '\0')
            continue;
        if (strcmp(text, "true") == 0 || strcmp(text, "1") == 0 || strcmp(text, "yes") == 0) {
            *field = true;
        } else if (strcmp(text, "false") == 0 || strcmp(text, "0") == 0 || strcmp(text, "no") == 0) {
            *field = false;
        } else {
            quote_value(text, shown, sizeof shown);
            fail(r, s->name, "%s: invalid value '%s' (expected true or false)", s->name, shown);
        }
    }
}

static int load_access(struct config *cfg, struct reader *r)
{
    const char *token = getenv("ADMIN_TOKEN"), *origins = getenv("CORS_ORIGINS");

    load_bools(cfg, r);
    if (token != NULL && *token != '\0') {
        /* The value is a secret: the message never quotes it. */
        if (strlen(token) < AUTH_TOKEN_MIN_BYTES)
            return fail(r, "ADMIN_TOKEN",
                        "ADMIN_TOKEN: too short (at least %d bytes; 32 random bytes recommended)",
                        AUTH_TOKEN_MIN_BYTES);
        for (const char *p = token; *p != '\0'; p++)
            if ((unsigned char)*p <= 0x20 || *p == 0x7f)
                return fail(r, "ADMIN_TOKEN", "ADMIN_TOKEN: must not hold blanks or control characters");
        if ((cfg->admin_token = strdup(token)) == NULL)
            return fail(r, "ADMIN_TOKEN", "out of memory reading ADMIN_TOKEN");
    }
    if (origins != NULL && *origins != '\0' && (cfg->cors_origins = strdup(origins)) == NULL)
        return fail(r, "CORS_ORIGINS", "out of memory reading CORS_ORIGINS");
    return 0;
}

int config_read(struct config *cfg, config_report_fn *report, void *ctx)
{
    struct reader r = {.report = report, .ctx = ctx};
    long cores = sysconf(_SC_NPROCESSORS_ONLN);

    memset(cfg, 0, sizeof *cfg);
    strcpy(cfg->bind, "0.0.0.0");
    cfg->log_level = LOG_INFO;
    cfg->log_format = LOG_FORMAT_JSON;
    for (size_t i = 0; i < INT_SETTING_COUNT; i++)
        *(int *)((char *)cfg + int_settings[i].offset) = (int)int_settings[i].def;
    /* Computed defaults; DB_POOL_SIZE follows THREADS unless set itself. */
    cfg->threads = cores < 1 ? 1 : cores > CONFIG_MAX_THREADS ? CONFIG_MAX_THREADS : (int)cores;
    if (getenv("THREADS") != NULL && config_parse_int(getenv("THREADS"), 1, CONFIG_MAX_THREADS, &cores) == 0)
        cfg->threads = (int)cores;
    cfg->db_pool_size = 2 * cfg->threads > CONFIG_MAX_POOL_SIZE ? CONFIG_MAX_POOL_SIZE : 2 * cfg->threads;

    /* Every part is read whatever the parts before found, so that one run
     * reports every bad value. */
    load_int_settings(cfg, &r);
    load_words(cfg, &r);
    load_tls(cfg, &r);
    load_access(cfg, &r);
    load_database(cfg, &r);
    if (r.errors > 0)
        config_free(cfg);
    return r.errors;
}

/* config_load's reporter: keeps the first error. */
struct first_error {
    char *err;
    size_t errlen;
    bool found;
};

static void keep_first_error(void *ctx, enum config_problem kind, const char *name, const char *line)
{
    struct first_error *first = ctx;

    (void)name;
    if (kind != CONFIG_ERROR || first->found)
        return;
    snprintf(first->err, first->errlen, "%s", line);
    first->found = true;
}

int config_load(struct config *cfg, char *err, size_t errlen)
{
    struct first_error first = {.err = err, .errlen = errlen};

    return config_read(cfg, keep_first_error, &first) == 0 ? 0 : -1;
}

void config_free(struct config *cfg)
{
    free(cfg->database);
    free(cfg->database_display);
    free(cfg->tls_cert_file);
    free(cfg->tls_key_file);
    free(cfg->cors_origins);
    if (cfg->admin_token != NULL) {
        explicit_bzero(cfg->admin_token, strlen(cfg->admin_token));
        free(cfg->admin_token);
    }
    cfg->database = cfg->database_display = cfg->tls_cert_file = cfg->tls_key_file = NULL;
    cfg->cors_origins = cfg->admin_token = NULL;
}

/* ---- what is a setting ------------------------------------------------- */

#define SETTING_PREFIX "TOGGLEMASTER_"
/* Names shorter than this are never taken for a misspelt setting. */
#define SUGGEST_MIN_LEN 4

const char *config_setting_name(size_t i)
{
    if (i < INT_SETTING_COUNT)
        return int_settings[i].name;
    i -= INT_SETTING_COUNT;
    if (i < BOOL_SETTING_COUNT)
        return bool_settings[i].name;
    i -= BOOL_SETTING_COUNT;
    return i < WORD_SETTING_COUNT ? word_settings[i] : NULL;
}

bool config_is_setting(const char *name)
{
    const char *s;

    for (size_t i = 0; (s = config_setting_name(i)) != NULL; i++)
        if (strcmp(s, name) == 0)
            return true;
    return false;
}

static bool starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t len = strlen(s), n = strlen(suffix);
    return len >= n && strcmp(s + len - n, suffix) == 0;
}

/* The edit distance of a and b (each at most CONFIG_NAME_MAX bytes) where
 * an edit is an insertion, a deletion, a substitution or a swap of two
 * neighbouring letters (optimal string alignment), case ignored; limit + 1
 * as soon as it is known to exceed limit. O(la x lb), three rows of
 * CONFIG_NAME_MAX on the stack. */
static size_t edit_distance(const char *a, size_t la, const char *b, size_t lb, size_t limit)
{
    size_t rows[3][CONFIG_NAME_MAX + 1];
    size_t *before = rows[0], *prev = rows[1], *cur = rows[2], *spare;

    if ((la > lb ? la - lb : lb - la) > limit)
        return limit + 1;
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        int ca = toupper((unsigned char)a[i - 1]);
        size_t row_min = cur[0] = i;

        for (size_t j = 1; j <= lb; j++) {
            int cb = toupper((unsigned char)b[j - 1]);
            size_t d = prev[j - 1] + (ca != cb);

            if (prev[j] + 1 < d)
                d = prev[j] + 1;
            if (cur[j - 1] + 1 < d)
                d = cur[j - 1] + 1;
            if (i > 1 && j > 1 && ca == toupper((unsigned char)b[j - 2]) &&
                toupper((unsigned char)a[i - 2]) == cb && before[j - 2] + 1 < d)
                d = before[j - 2] + 1;
            cur[j] = d;
            if (d < row_min)
                row_min = d;
        }
        /* Every alignment passes through this row or (by a swap) the one
         * before it, whose minimum is at most this one's plus one. */
        if (row_min > limit)
            return limit + 1;
        spare = before;
        before = prev;
        prev = cur;
        cur = spare;
    }
    return prev[lb] > limit ? limit + 1 : prev[lb];
}

const char *config_suggest(const char *name)
{
    size_t len = strlen(name), best_distance = SIZE_MAX;
    const char *best = NULL, *s;

    if (starts_with(name, SETTING_PREFIX))
        return config_suggest(name + strlen(SETTING_PREFIX));
    if (len < SUGGEST_MIN_LEN || len > CONFIG_NAME_MAX)
        return NULL;
    for (size_t i = 0; (s = config_setting_name(i)) != NULL; i++) {
        size_t s_len = strlen(s), limit = s_len < 6 ? 1 : 2;
        size_t d = edit_distance(name, len, s, s_len, limit);

        if (d <= limit && d < best_distance) {
            best = s;
            best_distance = d;
        }
    }
    return best;
}

/* "_PORT_<digits>_<TCP|UDP|SCTP>" then nothing, _ADDR, _PORT or _PROTO. */
static bool service_link_port(const char *p)
{
    static const char *const protocols[] = {"_TCP", "_UDP", "_SCTP"};

    for (; (p = strstr(p, "_PORT_")) != NULL; p++) {
        const char *q = p + 6;

        if (!isdigit((unsigned char)*q))
            continue;
        while (isdigit((unsigned char)*q))
            q++;
        for (size_t i = 0; i < 3; i++) {
            if (!starts_with(q, protocols[i]))
                continue;
            q += strlen(protocols[i]);
            if (*q == '\0' || strcmp(q, "_ADDR") == 0 || strcmp(q, "_PORT") == 0 || strcmp(q, "_PROTO") == 0)
                return true;
        }
    }
    return false;
}

/* Names that other software sets or reads in the same environment and that
 * could look like ours: libpq's PG* (which the service honours), OpenSSL's
 * SSL_CERT_FILE and SSL_CERT_DIR (two edits from TLS_CERT_FILE), and the
 * variables Kubernetes adds for every Service in the namespace (a Service
 * named db gives DB_SERVICE_HOST, DB_PORT_5432_TCP_ADDR ...). */
static bool other_software(const char *name, const char *value)
{
    return starts_with(name, "PG") || strcmp(name, "SSL_CERT_FILE") == 0 || strcmp(name, "SSL_CERT_DIR") == 0 ||
           ends_with(name, "_SERVICE_HOST") || ends_with(name, "_SERVICE_PORT") ||
           strstr(name, "_SERVICE_PORT_") != NULL || service_link_port(name) ||
           (ends_with(name, "_PORT") &&
            (starts_with(value, "tcp://") || starts_with(value, "udp://") || starts_with(value, "sctp://")));
}

int config_check_names(char *const *env, config_report_fn *report, void *ctx)
{
    int warnings = 0;

    for (; env != NULL && *env != NULL; env++) {
        const char *entry = *env, *eq = strchr(entry, '='), *suggestion;
        char name[CONFIG_NAME_MAX + 1], line[CONFIG_LINE_MAX];
        size_t len = eq != NULL ? (size_t)(eq - entry) : 0;

        if (len == 0 || len > CONFIG_NAME_MAX)
            continue;
        memcpy(name, entry, len);
        name[len] = '\0';
        if (config_is_setting(name) || other_software(name, eq + 1))
            continue;
        suggestion = config_suggest(name);
        if (suggestion == NULL && !starts_with(name, SETTING_PREFIX) && !starts_with(name, "DB_"))
            continue;
        /* Names, unlike values, are shown: made printable, they hold no secret. */
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)name[i] < 0x20 || (unsigned char)name[i] >= 0x7f)
                name[i] = '?';
        if (suggestion != NULL)
            snprintf(line, sizeof line, "%s is not a ToggleMaster setting; did you mean %s?", name, suggestion);
        else if (starts_with(name, SETTING_PREFIX))
            snprintf(line, sizeof line,
                     "%s is not a ToggleMaster setting (settings have no " SETTING_PREFIX
                     " prefix; see togglemaster --help)", name);
        else
            snprintf(line, sizeof line,
                     "%s is not a ToggleMaster setting (the DB_* ones are in togglemaster --help)", name);
        report(ctx, CONFIG_WARNING, name, line);
        warnings++;
    }
    return warnings;
}

void config_print_help(FILE *out)
{
    fputs("Usage: togglemaster [COMMAND]\n"
          "\n"
          "ToggleMaster: a feature-flag service. Switch features on and off in\n"
          "production without a deploy.\n"
          "\n"
          "Commands:\n"
          "  serve      serve the HTTP API (default)\n"
          "  migrate    apply pending database migrations (idempotent)\n"
          "  init-db    alias of migrate, as in the original monolith\n"
          "  keys create --role admin|editor|client --name LABEL\n"
          "             make an API key; prints it once (only its hash is stored)\n"
          "  keys list  list the keys: id, name, role, created, revoked\n"
          "  keys revoke ID\n"
          "             revoke a key at once on every instance\n"
          "  import FILE [--dry-run] [--prune]\n"
          "             load a flagd flag file (flags, $evaluators, metadata) in one\n"
          "             transaction and report what changed; --prune also deletes\n"
          "             flags and evaluators the file does not have; FILE - is stdin\n"
          "  export [FILE]\n"
          "             write every flag as one flagd flag file (stdout by default)\n"
          "  routes     print the route table (method, path, least role) as JSON lines\n"
          "  check-config\n"
          "             check the environment as serve reads it: one line per problem,\n"
          "             warnings for unknown or misspelt names (DB_HOTS), exit 2 on\n"
          "             any error; the database is not contacted (migrate, /ready do)\n"
          "  version    print the version and the git revision it was built from\n"
          "  help       print this text (also -h, --help)\n"
          "\n"
          "Configuration comes only from the environment:\n"
          "  BIND                 address to listen on (IPv4/IPv6 literal; :: serves both)\n"
          "                                                   default 0.0.0.0\n"
          "  DATABASE_URL         storage: sqlite://PATH, a plain PATH, or\n"
          "                       postgres://user:pass@host:5432/db?sslmode=require\n"
          "                                                   default " DEFAULT_DATABASE_URL "\n"
          "  DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD\n"
          "                       the original monolith's PostgreSQL settings, used\n"
          "                       only when DATABASE_URL is unset and DB_HOST is set\n"
          "                       (DB_PORT default 5432). libpq's own PG* variables\n"
          "                       (PGSSLMODE, PGPASSWORD, ...) fill anything left unset.\n"
          "                       Precedence: DATABASE_URL, then DB_*, then SQLite.\n"
          "  LOG_LEVEL            debug, info, warn or error      default info\n"
          "  LOG_FORMAT           json (one object per line) or text\n"
          "                                                   default json\n"
          "  TLS_CERT_FILE, TLS_KEY_FILE\n"
          "                       PEM certificate chain and key: serve HTTPS (TLS 1.2+)\n"
          "                       on PORT; both re-read on SIGHUP    default unset\n"
          "  ADMIN_TOKEN          a secret that acts as an admin API key (at least 16\n"
          "                       bytes, no blanks; never logged)      default unset\n"
          "  AUTH_REQUIRED        true: refuse to start (exit 2) without ADMIN_TOKEN or\n"
          "                       an active API key                    default false\n"
          "  PUBLIC_EVALUATION    true: reading flags and evaluating need no key\n"
          "                                                   default false\n"
          "  METRICS_PUBLIC       true: GET /metrics needs no key       default false\n"
          "  METRICS_ENABLED      false: count nothing; /metrics answers 404 and no\n"
          "                       evaluation counts are kept (usage, stale flags)\n"
          "                                                   default true\n"
          "  CORS_ORIGINS         browser origins allowed to call the API, comma-\n"
          "                       separated (e.g. https://app.example.com), or *\n"
          "                                                   default unset (none)\n",
          out);
    for (size_t i = 0; i < INT_SETTING_COUNT; i++) {
        const struct int_setting *s = &int_settings[i];
        char range[48], def[32];
        snprintf(range, sizeof range, "%ld-%ld", s->min, s->max);
        if (s->default_text != NULL)
            snprintf(def, sizeof def, "%s", s->default_text);
        else
            snprintf(def, sizeof def, "%ld", s->def);
        fprintf(out, "  %-20s %s\n%23s(%s)%*sdefault %s\n", s->name, s->meaning, "", range,
                (int)(27 - (strlen(range) < 27 ? strlen(range) : 27)), "", def);
    }
    fputs("\n"
          "Flag names are 1-100 characters of A-Z a-z 0-9 . _ : - starting with a\n"
          "letter or digit.\n"
          "\n"
          "Authentication is off until ADMIN_TOKEN is set or a key is created (the\n"
          "service then says so in /ready). From then on every route but /health and\n"
          "/ready needs Authorization: Bearer KEY or X-API-Key: KEY; see\n"
          "docs/security.md.\n"
          "\n"
          "Signals: SIGTERM or SIGINT stop gracefully; SIGHUP re-reads the TLS files\n"
          "and reloads every flag from the database (after an import into SQLite).\n"
          "Exit codes: 0 success, 1 runtime failure, 2 invalid configuration or usage.\n",
          out);
}
