/* Unit tests for config.c: defaults, validation, database selection, every
 * problem reported at once, and what is a setting (the one list, the
 * suggestions for misspelt names, the warnings). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"

/* This getenv() takes the place of the C library's for config.c (the
 * executable's definition is found first): while `recording`, it notes
 * every name asked for, so the test can check that config reads no
 * variable its list of settings does not have. */
extern char **environ;
#define ASKED_MAX 128
static bool recording;
static const char *asked[ASKED_MAX];
static size_t asked_count;

char *getenv(const char *name)
{
    size_t len = strlen(name);
    bool seen = false;

    if (recording) {
        for (size_t i = 0; i < asked_count; i++)
            seen = seen || strcmp(asked[i], name) == 0;
        if (!seen && asked_count < ASKED_MAX)
            asked[asked_count++] = name;   /* config.c's names are static strings */
    }
    for (char **e = environ; e != NULL && *e != NULL; e++)
        if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
            return *e + len + 1;
    return NULL;
}

static const char *vars[] = {"PORT", "BIND", "DATABASE_URL", "LOG_LEVEL", "LOG_FORMAT", "SHUTDOWN_TIMEOUT",
                             "THREADS", "DB_POOL_SIZE", "DB_CONNECT_TIMEOUT", "DB_STATEMENT_TIMEOUT",
                             "RESYNC_INTERVAL", "DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD",
                             "MAX_CONNECTIONS", "KEEPALIVE_TIMEOUT", "HEADER_TIMEOUT", "BODY_TIMEOUT",
                             "SEND_TIMEOUT", "MAX_HEADER_BYTES", "MAX_BODY_BYTES", "MAX_UNSENT_MB",
                             "TLS_CERT_FILE", "TLS_KEY_FILE"};

static void clear_env(void)
{
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
}

/* Loads with one variable set; returns config_load's result. */
static int load_with(const char *name, const char *value, struct config *cfg, char *err)
{
    int rc;
    clear_env();
    if (name != NULL)
        setenv(name, value, 1);
    rc = config_load(cfg, err, 256);
    return rc;
}

/* The display form of a postgres URL: masked password, whatever its shape
 * (the first shape overflowed the masking buffer). */
static void expect_display(const char *url, const char *display)
{
    struct config cfg;
    char err[256];

    CHECK(load_with("DATABASE_URL", url, &cfg, err) == 0);
    if (cfg.database_display != NULL && strcmp(cfg.database_display, display) != 0)
        fprintf(stderr, "display of %s: got %s, want %s\n", url, cfg.database_display, display);
    CHECK(cfg.database_display != NULL && strcmp(cfg.database_display, display) == 0);
    CHECK(cfg.database != NULL && strcmp(cfg.database, url) == 0);
    config_free(&cfg);
}

static void test_masking(void)
{
    expect_display("postgres://db.internal/flags?password=pw", "postgres://db.internal/flags?(parameters hidden)");
    expect_display("postgres://h?password=x", "postgres://h?(parameters hidden)");
    expect_display("postgresql://a:b@h/d?password=x&sslmode=require", "postgresql://a:***@h/d?(parameters hidden)");
    expect_display("postgres://app:s3cret@db:5432/flags", "postgres://app:***@db:5432/flags");
    expect_display("postgres://app:p@ss@db/flags", "postgres://app:***@db/flags");
    expect_display("postgres://app@db/flags?sslmode=require", "postgres://app@db/flags?sslmode=require");
    expect_display("postgres://db/x?user=a@b", "postgres://db/x?user=a@b");
    expect_display("postgres://", "postgres://");
    expect_display("postgres://@", "postgres://@");
    expect_display("postgres://:@/?password", "postgres://:***@/?(parameters hidden)");
}

/* Any variable may be long: configuration is sized from the input (the
 * DB_HOST case overflowed a fixed display buffer). */
static void test_long_values(void)
{
    static char big[20000];
    struct config cfg;
    char err[256];

    memset(big, 'h', sizeof big - 1);
    clear_env();
    setenv("DB_HOST", big, 1);
    setenv("DB_NAME", big, 1);
    setenv("DB_USER", big, 1);
    setenv("DB_PASSWORD", "pw'\\", 1);
    CHECK(config_load(&cfg, err, sizeof err) == 0);
    CHECK(cfg.database != NULL && strlen(cfg.database) > 3 * (sizeof big - 1));
    CHECK(cfg.database_display != NULL && strstr(cfg.database_display, "pw") == NULL);
    CHECK(cfg.database != NULL && strstr(cfg.database, "password='pw\\'\\\\'") != NULL);
    config_free(&cfg);
    clear_env();
    CHECK(load_with("DATABASE_URL", big, &cfg, err) == 0 && strlen(cfg.database) == sizeof big - 1);
    config_free(&cfg);
    memcpy(big, "postgres://", 11);
    CHECK(load_with("DATABASE_URL", big, &cfg, err) == 0 && strlen(cfg.database_display) == sizeof big - 1);
    config_free(&cfg);
    memcpy(big, "mysql://", 8);
    CHECK(load_with("DATABASE_URL", big, &cfg, err) == -1 && strncmp(err, "DATABASE_URL:", 13) == 0);
    CHECK(load_with("PORT", big, &cfg, err) == -1 && strlen(err) < 200 && strchr(err, '\n') == NULL);
    CHECK(load_with("BIND", big, &cfg, err) == -1 && strlen(err) < 200);
    CHECK(load_with("LOG_LEVEL", "de\nbug", &cfg, err) == -1 && strchr(err, '\n') == NULL);
}

static void test_transport_limits(void)
{
    struct config cfg;
    char err[256];

    CHECK(load_with(NULL, NULL, &cfg, err) == 0);
    CHECK(cfg.max_connections == 10000 && cfg.max_header_bytes == 8192 && cfg.max_body_bytes == 65536);
    CHECK(cfg.keepalive_timeout_s == 75 && cfg.header_timeout_s == 10 && cfg.tls_cert_file == NULL);
    config_free(&cfg);
    CHECK(load_with("MAX_CONNECTIONS", "5", &cfg, err) == -1 && strncmp(err, "MAX_CONNECTIONS:", 16) == 0);
    CHECK(load_with("MAX_HEADER_BYTES", "100000", &cfg, err) == -1);
    CHECK(load_with("MAX_BODY_BYTES", "1024", &cfg, err) == 0 && cfg.max_body_bytes == 1024);
    config_free(&cfg);
    CHECK(load_with("TLS_CERT_FILE", "/tmp/cert.pem", &cfg, err) == -1 && strncmp(err, "TLS_KEY_FILE:", 13) == 0);
    CHECK(load_with("TLS_KEY_FILE", "/tmp/key.pem", &cfg, err) == -1 && strncmp(err, "TLS_CERT_FILE:", 14) == 0);
    clear_env();
    setenv("TLS_CERT_FILE", "/tmp/cert.pem", 1);
    setenv("TLS_KEY_FILE", "/tmp/key.pem", 1);
    CHECK(config_load(&cfg, err, sizeof err) == 0 && strcmp(cfg.tls_key_file, "/tmp/key.pem") == 0);
    config_free(&cfg);
    clear_env();
    setenv("THREADS", "3", 1);
    CHECK(config_load(&cfg, err, sizeof err) == 0 && cfg.threads == 3 && cfg.db_pool_size == 6);
    config_free(&cfg);
}

/* A config_report_fn that keeps what it is told. */
#define PROBLEMS_MAX 64
struct problems {
    int count;
    enum config_problem kind[PROBLEMS_MAX];
    char name[PROBLEMS_MAX][CONFIG_NAME_MAX + 1];
    char line[PROBLEMS_MAX][CONFIG_LINE_MAX];
};

static void keep(void *ctx, enum config_problem kind, const char *name, const char *line)
{
    struct problems *p = ctx;

    if (p->count < PROBLEMS_MAX) {
        p->kind[p->count] = kind;
        snprintf(p->name[p->count], sizeof p->name[0], "%s", name);
        snprintf(p->line[p->count], sizeof p->line[0], "%s", line);
    }
    p->count++;
}

/* config_read goes on after a bad value: each is reported, in order. */
static void test_every_error_reported(void)
{
    static const char *const bad[][2] = {
        {"PORT", "abc"}, {"THREADS", "0"}, {"BIND", "localhost"}, {"LOG_LEVEL", "loud"},
        {"TLS_CERT_FILE", "/tmp/cert.pem"}, {"AUTH_REQUIRED", "maybe"}, {"METRICS_ENABLED", "2"},
        {"ADMIN_TOKEN", "tok3n"}, {"DATABASE_URL", "mysql://x"},
    };
    const size_t n = sizeof bad / sizeof bad[0];
    struct problems *p = calloc(1, sizeof *p);
    struct config cfg;
    char err[256];

    clear_env();
    for (size_t i = 0; i < n; i++)
        setenv(bad[i][0], bad[i][1], 1);
    CHECK(p != NULL && config_read(&cfg, keep, p) == (int)n && p->count == (int)n);
    for (size_t i = 0; p != NULL && i < n && i < (size_t)p->count; i++) {
        const char *want = strcmp(bad[i][0], "TLS_CERT_FILE") == 0 ? "TLS_KEY_FILE" : bad[i][0];
        CHECK(p->kind[i] == CONFIG_ERROR && strcmp(p->name[i], want) == 0);
        CHECK(strncmp(p->line[i], want, strlen(want)) == 0 && strchr(p->line[i], '\n') == NULL);
        CHECK(strcmp(want, "ADMIN_TOKEN") != 0 || strstr(p->line[i], "tok3n") == NULL);  /* a secret */
    }
    /* config_load, for serve: the first of them, as before. */
    CHECK(config_load(&cfg, err, sizeof err) == -1 && strncmp(err, "PORT: invalid value 'abc'", 25) == 0);
    clear_env();
    unsetenv("AUTH_REQUIRED");
    unsetenv("METRICS_ENABLED");
    unsetenv("ADMIN_TOKEN");
    free(p);
}

/* True when `name` is in `text` as a whole word. */
static bool has_word(const char *text, const char *name)
{
    size_t len = strlen(name);

    for (const char *p = text; (p = strstr(p, name)) != NULL; p++) {
        bool start = p == text || !(p[-1] == '_' || (p[-1] >= 'A' && p[-1] <= 'Z'));
        bool end = !(p[len] == '_' || (p[len] >= 'A' && p[len] <= 'Z'));
        if (start && end)
            return true;
    }
    return false;
}

/* The one list: every variable config_read asks for is a setting, every
 * setting is asked for and documented in --help, and every variable --help
 * documents is a setting. */
static void test_settings_are_one_list(void)
{
    char *help = NULL, *line, *save = NULL;
    size_t help_len = 0, settings = 0;
    FILE *out = open_memstream(&help, &help_len);
    struct problems *p = calloc(1, sizeof *p);
    struct config cfg;
    const char *s;

    CHECK(out != NULL && p != NULL);
    if (out == NULL || p == NULL)
        return;
    config_print_help(out);
    fclose(out);
    clear_env();
    asked_count = 0;
    recording = true;
    CHECK(config_read(&cfg, keep, p) == 0);
    config_free(&cfg);
    setenv("DB_HOST", "db", 1);        /* the DB_* are read only then */
    CHECK(config_read(&cfg, keep, p) == 0);
    config_free(&cfg);
    recording = false;
    clear_env();
    for (size_t i = 0; i < asked_count; i++) {
        if (!config_is_setting(asked[i]))
            fprintf(stderr, "config reads %s, which is not in its list of settings\n", asked[i]);
        CHECK(config_is_setting(asked[i]));
    }
    for (size_t i = 0; (s = config_setting_name(i)) != NULL; i++, settings++) {
        bool read = false;
        for (size_t j = 0; j < asked_count; j++)
            read = read || strcmp(asked[j], s) == 0;
        if (!read || !has_word(help, s))
            fprintf(stderr, "setting %s: %s\n", s, read ? "not in --help" : "never read");
        CHECK(read && has_word(help, s));
    }
    CHECK(settings == asked_count && settings >= 40);
    /* --help's table: lines that start with two spaces and a capital. */
    for (line = strtok_r(help, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
        char name[CONFIG_NAME_MAX + 1];
        size_t n = 0;

        if (strncmp(line, "  ", 2) != 0 || line[2] < 'A' || line[2] > 'Z')
            continue;
        for (const char *c = line + 2;; c++) {   /* "  DB_HOST, DB_PORT, ..." */
            if (*c == '_' || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')) {
                if (n < CONFIG_NAME_MAX)
                    name[n++] = *c;
                continue;
            }
            name[n] = '\0';
            if (n > 1) {
                if (!config_is_setting(name))
                    fprintf(stderr, "--help documents %s, which is not a setting\n", name);
                CHECK(config_is_setting(name));
            }
            n = 0;
            if (*c != ',' || c[1] != ' ')
                break;
            c++;
        }
    }
    free(help);
    free(p);
}

static void expect_suggestion(const char *name, const char *want)
{
    const char *got = config_suggest(name);

    if (!(want == NULL ? got == NULL : got != NULL && strcmp(got, want) == 0))
        fprintf(stderr, "config_suggest(%s): got %s, want %s\n", name, got ? got : "NULL", want ? want : "NULL");
    CHECK(want == NULL ? got == NULL : got != NULL && strcmp(got, want) == 0);
}

static void test_suggestions(void)
{
    static const char *const never[] = {
        /* what shells, systemd, containers, CI and make put in the environment */
        "PATH", "HOME", "PWD", "OLDPWD", "LANG", "LANGUAGE", "LC_ALL", "TERM", "SHELL", "USER", "LOGNAME",
        "HOSTNAME", "HOST", "TZ", "TMPDIR", "SHLVL", "MAIL", "EDITOR", "PAGER", "DISPLAY", "COLUMNS", "LINES",
        "MAKEFLAGS", "MAKELEVEL", "MFLAGS", "INVOCATION_ID", "JOURNAL_STREAM", "NOTIFY_SOCKET", "LISTEN_FDS",
        "LISTEN_PID", "STATE_DIRECTORY", "RUNTIME_DIRECTORY", "CREDENTIALS_DIRECTORY", "HTTP_PROXY",
        "HTTPS_PROXY", "NO_PROXY", "http_proxy", "no_proxy", "SSH_AUTH_SOCK", "SSH_CONNECTION", "SUDO_USER",
        "SUDO_UID", "SUDO_GID", "SUDO_COMMAND", "DEBIAN_FRONTEND", "ASAN_OPTIONS", "UBSAN_OPTIONS",
        "MIGRATE_ON_START", "POSTGRES_USER", "POSTGRES_DB", "POSTGRES_PASSWORD", "KUBERNETES_SERVICE_HOST",
        "KUBERNETES_PORT", "XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS", "PYTHONPATH", "VIRTUAL_ENV",
        "NODE_ENV", "GOPATH", "CI", "GITHUB_TOKEN", "TERM_PROGRAM", "COLORTERM", "LS_COLORS", "LESS", "_",
        "PORTS_DIR", "BINDIR", "HOSTTYPE", "OSTYPE", "MACHTYPE", "USERNAME", "DB", "PGPORT",
    };

    expect_suggestion("DB_HOTS", "DB_HOST");        /* letters swapped */
    expect_suggestion("DB_HOSTS", "DB_HOST");
    expect_suggestion("DBHOST", "DB_HOST");
    expect_suggestion("db_host", "DB_HOST");        /* case */
    expect_suggestion("DB_PASWORD", "DB_PASSWORD");
    expect_suggestion("PROT", "PORT");
    expect_suggestion("PORTT", "PORT");
    expect_suggestion("port", "PORT");
    expect_suggestion("LOGLEVEL", "LOG_LEVEL");
    expect_suggestion("LOG_LEVLE", "LOG_LEVEL");
    expect_suggestion("THREAD", "THREADS");
    expect_suggestion("ADMIN_TOKENS", "ADMIN_TOKEN");
    expect_suggestion("TLS_CERTFILE", "TLS_CERT_FILE");
    expect_suggestion("DATABASEURL", "DATABASE_URL");
    expect_suggestion("TOGGLEMASTER_PORT", "PORT");
    expect_suggestion("TOGGLEMASTER_DB_HOTS", "DB_HOST");
    expect_suggestion("DB_SCHEMA", NULL);
    expect_suggestion("PRT", NULL);                 /* under 4 letters */
    expect_suggestion("BINS", "BIND");
    expect_suggestion("HOST", NULL);                /* two from PORT, which allows one */
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++)
        expect_suggestion(never[i], NULL);
}

static void test_name_warnings(void)
{
    static char *env[] = {
        "PATH=/usr/bin", "HOME=/root", "PWD=/", "LANG=C.UTF-8", "TERM=xterm", "PORT=5000",
        "DB_HOTS=db", "DB_SCHEMA=public", "TOGGLEMASTER_FOO=1", "PGPASSWORD=secret", "SSL_CERT_FILE=/ca.pem",
        "DB_SERVICE_HOST=10.0.0.5", "DB_SERVICE_PORT=5432", "DB_PORT_5432_TCP=tcp://10.0.0.5:5432",
        "DB_PORT_5432_TCP_ADDR=10.0.0.5", "TOGGLEMASTER_PORT=tcp://10.0.0.9:5000",
        "TOGGLEMASTER_SERVICE_PORT_HTTP=5000", "DB_PASWORD=hunter2", "DB_\x1b[31m=x", "NOEQUALS", "=x",
        NULL,
    };
    struct problems *p = calloc(1, sizeof *p);

    CHECK(p != NULL);
    if (p == NULL)
        return;
    CHECK(config_check_names(env, keep, p) == 5 && p->count == 5);
    CHECK(strcmp(p->name[0], "DB_HOTS") == 0 && p->kind[0] == CONFIG_WARNING &&
          strcmp(p->line[0], "DB_HOTS is not a ToggleMaster setting; did you mean DB_HOST?") == 0);
    CHECK(strcmp(p->name[1], "DB_SCHEMA") == 0 && strstr(p->line[1], "not a ToggleMaster setting") != NULL);
    CHECK(strcmp(p->name[2], "TOGGLEMASTER_FOO") == 0 && strstr(p->line[2], "TOGGLEMASTER_ prefix") != NULL);
    CHECK(strcmp(p->name[3], "DB_PASWORD") == 0 && strstr(p->line[3], "did you mean DB_PASSWORD?") != NULL &&
          strstr(p->line[3], "hunter2") == NULL);  /* values are never shown */
    CHECK(strcmp(p->name[4], "DB_?[31m") == 0 && strchr(p->line[4], 0x1b) == NULL);
    CHECK(config_check_names(NULL, keep, p) == 0);
    free(p);
}

int main(void)
{
    struct config cfg;
    char err[256];

    CHECK(load_with(NULL, NULL, &cfg, err) == 0);
    CHECK(cfg.port == 5000 && strcmp(cfg.bind, "0.0.0.0") == 0);
    CHECK(cfg.store_kind == STORE_KIND_SQLITE && strcmp(cfg.database, "./data/togglemaster.db") == 0);
    CHECK(cfg.log_level == LOG_INFO && cfg.log_format == LOG_FORMAT_JSON && cfg.shutdown_timeout_s == 10);
    CHECK(cfg.threads >= 1 && cfg.db_pool_size == 2 * cfg.threads);
    config_free(&cfg);

    CHECK(load_with("PORT", "8080", &cfg, err) == 0 && cfg.port == 8080);
    config_free(&cfg);
    CHECK(load_with("PORT", "abc", &cfg, err) == -1 && strncmp(err, "PORT:", 5) == 0);
    CHECK(load_with("PORT", "70000", &cfg, err) == -1 && strncmp(err, "PORT:", 5) == 0);
    CHECK(load_with("PORT", "80x", &cfg, err) == -1);
    CHECK(load_with("THREADS", "0", &cfg, err) == -1 && strncmp(err, "THREADS:", 8) == 0);
    CHECK(load_with("BIND", "localhost", &cfg, err) == -1 && strncmp(err, "BIND:", 5) == 0);
    CHECK(load_with("BIND", "::1", &cfg, err) == 0 && strcmp(cfg.bind, "::1") == 0);
    config_free(&cfg);
    CHECK(load_with("LOG_LEVEL", "loud", &cfg, err) == -1 && strncmp(err, "LOG_LEVEL:", 10) == 0);
    CHECK(load_with("LOG_FORMAT", "xml", &cfg, err) == -1 && strncmp(err, "LOG_FORMAT:", 11) == 0);
    CHECK(load_with("SHUTDOWN_TIMEOUT", "-1", &cfg, err) == -1);

    CHECK(load_with("DATABASE_URL", "mysql://x", &cfg, err) == -1 && strncmp(err, "DATABASE_URL:", 13) == 0);
    CHECK(load_with("DATABASE_URL", "/tmp/x.db", &cfg, err) == 0 && cfg.store_kind == STORE_KIND_SQLITE &&
          strcmp(cfg.database, "/tmp/x.db") == 0);
    config_free(&cfg);
    CHECK(load_with("DATABASE_URL", "sqlite:///var/lib/tm.db", &cfg, err) == 0 &&
          strcmp(cfg.database, "/var/lib/tm.db") == 0);
    config_free(&cfg);
    CHECK(load_with("DATABASE_URL", "postgres://app:s3cret@db:5432/flags?sslmode=require", &cfg, err) == 0);
    CHECK(cfg.store_kind == STORE_KIND_POSTGRES && strstr(cfg.database, "s3cret") != NULL);
    CHECK(strstr(cfg.database_display, "s3cret") == NULL && strstr(cfg.database_display, "db:5432") != NULL);
    config_free(&cfg);

    /* The original's variables, used when DATABASE_URL is unset. */
    clear_env();
    setenv("DB_HOST", "db.internal", 1);
    setenv("DB_NAME", "togglemaster", 1);
    setenv("DB_USER", "app", 1);
    setenv("DB_PASSWORD", "it's\\secret", 1);
    CHECK(config_load(&cfg, err, sizeof err) == 0 && cfg.store_kind == STORE_KIND_POSTGRES);
    CHECK(strstr(cfg.database, "host='db.internal'") != NULL && strstr(cfg.database, "port='5432'") != NULL);
    CHECK(strstr(cfg.database, "password='it\\'s\\\\secret'") != NULL);
    CHECK(strstr(cfg.database_display, "secret") == NULL);
    config_free(&cfg);
    /* DATABASE_URL wins over DB_*. */
    setenv("DATABASE_URL", "sqlite://./x.db", 1);
    CHECK(config_load(&cfg, err, sizeof err) == 0 && cfg.store_kind == STORE_KIND_SQLITE);
    config_free(&cfg);
    unsetenv("DATABASE_URL");
    setenv("DB_PORT", "five", 1);
    CHECK(config_load(&cfg, err, sizeof err) == -1 && strncmp(err, "DB_PORT:", 8) == 0);
    clear_env();

    test_masking();
    test_long_values();
    test_transport_limits();
    test_every_error_reported();
    test_settings_are_one_list();
    test_suggestions();
    test_name_warnings();
    clear_env();
    return CHECK_DONE("unit[config]");
}
