/*
 * config — the process configuration.
 *
 * Owns: reading every setting from the environment (twelve-factor: no config
 * files, no flags), validating it, and the `--help` text that lists each
 * setting with its default and range. The result is one immutable struct,
 * built once in main() and passed by const pointer to the modules that need
 * it; nothing reads getenv() anywhere else.
 *
 * Every numeric limit lives in the table in config.c (name, default, range,
 * meaning), from which both loading and `--help` are made, so a limit cannot
 * be documented differently from how it is enforced.
 *
 * Also owns what is a setting: the names config.c reads are one list
 * (config_setting_name), and a name in the environment that is not one of
 * them but looks like it (DB_HOTS, or any TOGGLEMASTER_* or DB_*) is
 * reported as a warning with the closest setting (config_check_names).
 * config_read reports every bad value, not only the first, for
 * `togglemaster check-config` (envcheck.c).
 */
#ifndef TM_CONFIG_H
#define TM_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Hard limits, documented in --help and the README. */
#define AUTH_TOKEN_MIN_BYTES 16
#define CONFIG_MAX_THREADS 256
#define CONFIG_MAX_POOL_SIZE 256

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };
enum log_format { LOG_FORMAT_JSON = 0, LOG_FORMAT_TEXT };
enum store_kind { STORE_KIND_SQLITE = 0, STORE_KIND_POSTGRES };

struct config {
    int port;                  /* PORT */
    char bind[64];             /* BIND: an IPv4 or IPv6 literal */
    enum store_kind store_kind;
    /* For SQLite: a filesystem path. For PostgreSQL: a libpq connection
     * string (URL or key=value) that may hold a password: never log it, use
     * database_display instead. */
    char *database;
    char *database_display;    /* same target with any password masked */
    enum log_level log_level;  /* LOG_LEVEL */
    enum log_format log_format;/* LOG_FORMAT */
    int shutdown_timeout_s;    /* SHUTDOWN_TIMEOUT */
    int shutdown_drain_s;      /* SHUTDOWN_DRAIN: /ready 503 before stopping */
    int usage_flush_interval_s;/* USAGE_FLUSH_INTERVAL */
    int events_max_subscribers;/* EVENTS_MAX_SUBSCRIBERS: open SSE streams */
    int events_buffer_kb;      /* EVENTS_BUFFER_KB: unwritten bytes per stream */
    int events_history;        /* EVENTS_HISTORY: events kept for Last-Event-ID */
    int events_heartbeat_s;    /* EVENTS_HEARTBEAT */
    int threads;               /* THREADS: HTTP event-loop threads */
    int db_pool_size;          /* DB_POOL_SIZE: store connections/workers */
    int db_connect_timeout_s;  /* DB_CONNECT_TIMEOUT */
    int db_statement_timeout_ms; /* DB_STATEMENT_TIMEOUT */
    int resync_interval_s;     /* RESYNC_INTERVAL */

    /* HTTP transport limits (see src/http/http.h for what each bounds). */
    int max_connections;       /* MAX_CONNECTIONS */
    int max_client_connections;/* MAX_CLIENT_CONNECTIONS */
    int keepalive_timeout_s;   /* KEEPALIVE_TIMEOUT */
    int header_timeout_s;      /* HEADER_TIMEOUT */
    int body_timeout_s;        /* BODY_TIMEOUT */
    int send_timeout_s;        /* SEND_TIMEOUT */
    int max_header_bytes;      /* MAX_HEADER_BYTES */
    int max_body_bytes;        /* MAX_BODY_BYTES */
    int max_unsent_mb;         /* MAX_UNSENT_MB */
    char *tls_cert_file;       /* TLS_CERT_FILE, NULL: plain HTTP */
    char *tls_key_file;        /* TLS_KEY_FILE */
    /* Access (auth.h). admin_token may be a secret: never log it. */
    char *admin_token;         /* ADMIN_TOKEN, NULL: unset */
    bool auth_required;        /* AUTH_REQUIRED: refuse to start without a key */
    bool public_evaluation;    /* PUBLIC_EVALUATION: reads and evaluations need no key */
    bool metrics_public;       /* METRICS_PUBLIC: /metrics needs no key */
    bool metrics_enabled;      /* METRICS_ENABLED: count requests and evaluations */
    int json_max_depth;        /* JSON_MAX_DEPTH */
    int json_max_elements;     /* JSON_MAX_ELEMENTS */
    int auth_failure_limit;    /* AUTH_FAILURE_LIMIT */
    int auth_failure_window_s; /* AUTH_FAILURE_WINDOW */
    int write_limit;           /* WRITE_LIMIT: writes per key per minute */
    int key_create_limit;      /* KEY_CREATE_LIMIT: keys one key makes per hour */
    char *cors_origins;        /* CORS_ORIGINS: comma-separated origins, NULL: none */
};

/* One problem found in the environment: kind, the variable it is about and
 * one line of text (no newline) that starts with or names that variable.
 * A value is quoted only when it is not a secret, cut and made printable. */
enum config_problem { CONFIG_ERROR, CONFIG_WARNING };
typedef void config_report_fn(void *ctx, enum config_problem kind, const char *name, const char *line);

/* Lines passed to a config_report_fn are at most this long (cut beyond). */
#define CONFIG_LINE_MAX 512
/* Names longer than this are never compared with the settings' names
 * (bounds the cost of the edit distance; no setting is near so long). */
#define CONFIG_NAME_MAX 128

/* Reads the environment into *cfg, reporting every bad value through
 * report (in the order config_load checks them). Returns the number of
 * errors: 0 and a cfg to config_free(), or more and nothing to free. */
int config_read(struct config *cfg, config_report_fn *report, void *ctx);

/* Reads the environment into *cfg. On a bad value returns -1 and writes one
 * line naming the variable into err (the first bad value, as serve reports
 * it; nothing to free then). */
int config_load(struct config *cfg, char *err, size_t errlen);
void config_free(struct config *cfg);
void config_print_help(FILE *out);

/* The settings: the name of the i-th variable config reads, NULL past the
 * last. Numeric ones first, in --help's order. */
const char *config_setting_name(size_t i);
bool config_is_setting(const char *name);

/* The setting a misspelt name was meant to be, or NULL: the closest one by
 * edit distance (case ignored, a swap of two neighbouring letters is one
 * edit) within 1 edit for settings shorter than 6 letters and 2 for longer
 * ones; names under 4 letters never match. A TOGGLEMASTER_ prefix is
 * looked through (TOGGLEMASTER_PORT: PORT). */
const char *config_suggest(const char *name);

/* Warns about every NAME=value in env (an environ-style array) whose name
 * is not a setting but looks like one: near a setting (config_suggest), or
 * starting with TOGGLEMASTER_ or DB_. Other software's variables are left
 * alone: libpq's PG*, OpenSSL's SSL_CERT_FILE and SSL_CERT_DIR, and the
 * service links Kubernetes adds (DB_SERVICE_HOST, DB_PORT_5432_TCP ...).
 * Values are never quoted. Returns the number of warnings. */
int config_check_names(char *const *env, config_report_fn *report, void *ctx);

/* Parses a decimal integer in [min,max]; the whole string must be used. */
int config_parse_int(const char *text, long min, long max, long *out);

#endif
