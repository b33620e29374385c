/*
 * config — environment variables to one immutable struct. See config.h.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_DATABASE_URL "sqlite://./data/togglemaster.db"

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
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

/* Reads an integer variable; unset or empty keeps the default. */
static int env_int(const char *name, long min, long max, int *out,
                   char *err, size_t errlen)
{
    const char *text = getenv(name);
    long value;

    if (text == NULL || *text == '\0')
        return 0;
    if (config_parse_int(text, min, max, &value) != 0)
        return fail(err, errlen, "%s: invalid value '%.40s' (expected an integer from %ld to %ld)",
                    name, text, min, max);
    *out = (int)value;
    return 0;
}

/* Appends key='value' to a libpq key/value connection string, quoting as
 * libpq documents: single quotes, with \ and ' escaped by a backslash. */
static void conninfo_append(char *buf, size_t buflen, const char *key, const char *value)
{
    size_t len = strlen(buf);

    if (value == NULL || *value == '\0' || len + 1 >= buflen)
        return;
    len += (size_t)snprintf(buf + len, buflen - len, "%s%s='", len ? " " : "", key);
    for (const char *p = value; *p && len + 3 < buflen; p++) {
        if (*p == '\\' || *p == '\'')
            buf[len++] = '\\';
        buf[len++] = *p;
    }
    if (len + 2 <= buflen) {
        buf[len++] = '\'';
        buf[len] = '\0';
    }
}

/* A copy of a postgres URL with the password in its userinfo masked, and any
 * password= parameter dropped, so the target can be logged. */
static char *mask_url_password(const char *url)
{
    const char *scheme_end = strstr(url, "://");
    const char *hostpart = scheme_end + 3;
    const char *slash = strchr(hostpart, '/');
    const char *at = strrchr(hostpart, '@');
    size_t limit = slash ? (size_t)(slash - url) : strlen(url);
    char *masked = malloc(strlen(url) + 8);
    const char *query;

    if (masked == NULL)
        return NULL;
    if (at != NULL && (size_t)(at - url) < limit) {
        const char *colon = memchr(hostpart, ':', (size_t)(at - hostpart));
        if (colon != NULL) {
            size_t head = (size_t)(colon - url) + 1;
            memcpy(masked, url, head);
            strcpy(masked + head, "***");
            strcat(masked, at);
        } else {
            strcpy(masked, url);
        }
    } else {
        strcpy(masked, url);
    }
    query = strchr(masked, '?');
    if (query != NULL && strstr(query, "password") != NULL)
        strcpy(strchr(masked, '?'), "?(parameters hidden)");
    return masked;
}

static int load_database(struct config *cfg, char *err, size_t errlen)
{
    const char *url = getenv("DATABASE_URL");
    const char *db_host = getenv("DB_HOST");

    if (url != NULL && *url == '\0')
        url = NULL;
    if (url == NULL && db_host != NULL && *db_host != '\0') {
        /* The original monolith's variables. */
        char conninfo[2048] = "", display[1024] = "";
        const char *port = getenv("DB_PORT");
        long port_value;

        if (port == NULL || *port == '\0')
            port = "5432";
        if (config_parse_int(port, 1, 65535, &port_value) != 0)
            return fail(err, errlen, "DB_PORT: invalid port '%.40s' (expected 1-65535)", port);
        conninfo_append(conninfo, sizeof conninfo, "host", db_host);
        conninfo_append(conninfo, sizeof conninfo, "port", port);
        conninfo_append(conninfo, sizeof conninfo, "dbname", getenv("DB_NAME"));
        conninfo_append(conninfo, sizeof conninfo, "user", getenv("DB_USER"));
        memcpy(display, conninfo, strlen(conninfo) + 1);
        conninfo_append(conninfo, sizeof conninfo, "password", getenv("DB_PASSWORD"));
        cfg->store_kind = STORE_KIND_POSTGRES;
        cfg->database = strdup(conninfo);
        cfg->database_display = strdup(display);
        return 0;
    }
    if (url == NULL)
        url = DEFAULT_DATABASE_URL;

    if (strncmp(url, "postgres://", 11) == 0 || strncmp(url, "postgresql://", 13) == 0) {
        cfg->store_kind = STORE_KIND_POSTGRES;
        cfg->database = strdup(url);
        cfg->database_display = mask_url_password(url);
        return 0;
    }
    if (strncmp(url, "sqlite://", 9) == 0) {
        url += 9;
    } else if (strstr(url, "://") != NULL) {
        return fail(err, errlen,
                    "DATABASE_URL: unsupported scheme in '%.*s' (use sqlite://PATH, postgres:// or a plain file path)",
                    (int)(strstr(url, "://") - url + 3), url);
    }
    if (*url == '\0')
        return fail(err, errlen, "DATABASE_URL: empty SQLite path");
    cfg->store_kind = STORE_KIND_SQLITE;
    cfg->database = strdup(url);
    cfg->database_display = strdup(url);
    return 0;
}

int config_load(struct config *cfg, char *err, size_t errlen)
{
    const char *text;
    long cores = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned char addr[sizeof(struct in6_addr)];

    memset(cfg, 0, sizeof *cfg);
    cfg->port = 5000;
    strcpy(cfg->bind, "0.0.0.0");
    cfg->log_level = LOG_INFO;
    cfg->log_format = LOG_FORMAT_JSON;
    cfg->shutdown_timeout_s = 10;
    cfg->threads = cores < 1 ? 1 : cores > CONFIG_MAX_THREADS ? CONFIG_MAX_THREADS : (int)cores;
    cfg->db_connect_timeout_s = 5;
    cfg->db_statement_timeout_ms = 5000;
    cfg->resync_interval_s = 30;

    if (env_int("PORT", 1, 65535, &cfg->port, err, errlen) != 0)
        return -1;

    text = getenv("BIND");
    if (text != NULL && *text != '\0') {
        if (strlen(text) >= sizeof cfg->bind ||
            (inet_pton(AF_INET, text, addr) != 1 && inet_pton(AF_INET6, text, addr) != 1))
            return fail(err, errlen, "BIND: invalid address '%.64s' (expected an IPv4 or IPv6 literal)", text);
        strcpy(cfg->bind, text);
    }

    text = getenv("LOG_LEVEL");
    if (text != NULL && *text != '\0') {
        if (strcmp(text, "debug") == 0) cfg->log_level = LOG_DEBUG;
        else if (strcmp(text, "info") == 0) cfg->log_level = LOG_INFO;
        else if (strcmp(text, "warn") == 0) cfg->log_level = LOG_WARN;
        else if (strcmp(text, "error") == 0) cfg->log_level = LOG_ERROR;
        else return fail(err, errlen, "LOG_LEVEL: invalid value '%.40s' (expected debug, info, warn or error)", text);
    }

    text = getenv("LOG_FORMAT");
    if (text != NULL && *text != '\0') {
        if (strcmp(text, "json") == 0) cfg->log_format = LOG_FORMAT_JSON;
        else if (strcmp(text, "text") == 0) cfg->log_format = LOG_FORMAT_TEXT;
        else return fail(err, errlen, "LOG_FORMAT: invalid value '%.40s' (expected json or text)", text);
    }

    if (env_int("SHUTDOWN_TIMEOUT", 0, 3600, &cfg->shutdown_timeout_s, err, errlen) != 0 ||
        env_int("THREADS", 1, CONFIG_MAX_THREADS, &cfg->threads, err, errlen) != 0)
        return -1;
    cfg->db_pool_size = 2 * cfg->threads;
    if (cfg->db_pool_size > CONFIG_MAX_POOL_SIZE)
        cfg->db_pool_size = CONFIG_MAX_POOL_SIZE;
    if (env_int("DB_POOL_SIZE", 1, CONFIG_MAX_POOL_SIZE, &cfg->db_pool_size, err, errlen) != 0 ||
        env_int("DB_CONNECT_TIMEOUT", 1, 600, &cfg->db_connect_timeout_s, err, errlen) != 0 ||
        env_int("DB_STATEMENT_TIMEOUT", 1, 3600000, &cfg->db_statement_timeout_ms, err, errlen) != 0 ||
        env_int("RESYNC_INTERVAL", 1, 86400, &cfg->resync_interval_s, err, errlen) != 0)
        return -1;

    if (load_database(cfg, err, errlen) != 0)
        return -1;
    if (cfg->database == NULL || cfg->database_display == NULL) {
        config_free(cfg);
        return fail(err, errlen, "out of memory reading DATABASE_URL");
    }
    return 0;
}

void config_free(struct config *cfg)
{
    free(cfg->database);
    free(cfg->database_display);
    cfg->database = cfg->database_display = NULL;
}

void config_print_help(FILE *out)
{
    fprintf(out,
"Usage: togglemaster [COMMAND]\n"
"\n"
"ToggleMaster: a feature-flag service. Switch features on and off in\n"
"production without a deploy.\n"
"\n"
"Commands:\n"
"  serve      serve the HTTP API (default)\n"
"  migrate    apply pending database migrations (idempotent)\n"
"  init-db    alias of migrate, as in the original monolith\n"
"  version    print the version\n"
"  help       print this text (also -h, --help)\n"
"\n"
"Configuration comes only from the environment:\n"
"  PORT                 TCP port to listen on (1-65535)          default 5000\n"
"  BIND                 address to listen on (IPv4/IPv6 literal) default 0.0.0.0\n"
"  DATABASE_URL         storage: sqlite://PATH, a plain PATH, or\n"
"                       postgres://user:pass@host:5432/db?sslmode=require\n"
"                                                   default " DEFAULT_DATABASE_URL "\n"
"  DB_HOST, DB_PORT, DB_NAME, DB_USER, DB_PASSWORD\n"
"                       the original monolith's PostgreSQL settings, used\n"
"                       only when DATABASE_URL is unset and DB_HOST is set\n"
"                       (DB_PORT default 5432). libpq's own PG* variables\n"
"                       (PGSSLMODE, PGPASSWORD, ...) fill anything left unset.\n"
"                       Precedence: DATABASE_URL, then DB_*, then SQLite.\n"
"  LOG_LEVEL            debug, info, warn or error               default info\n"
"  LOG_FORMAT           json (one object per line) or text       default json\n"
"  SHUTDOWN_TIMEOUT     seconds to let requests finish on SIGTERM\n"
"                       (0-3600)                                 default 10\n"
"  THREADS              HTTP worker threads (1-%d)              default cores\n"
"  DB_POOL_SIZE         database connections, one per store worker\n"
"                       (1-%d; SQLite always uses 1 writer)     default 2 x THREADS\n"
"  DB_CONNECT_TIMEOUT   seconds to wait for a database connection default 5\n"
"  DB_STATEMENT_TIMEOUT milliseconds a statement may run         default 5000\n"
"  RESYNC_INTERVAL      seconds between full reloads of the flag\n"
"                       snapshot from the database               default 30\n"
"\n"
"Limits: request bodies up to %d bytes (413 above); flag names are 1-100\n"
"characters of A-Z a-z 0-9 . _ : - starting with a letter or digit.\n"
"\n"
"Exit codes: 0 success, 1 runtime failure, 2 invalid configuration or usage.\n",
            CONFIG_MAX_THREADS, CONFIG_MAX_POOL_SIZE, CONFIG_MAX_BODY_BYTES);
}
