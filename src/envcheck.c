/*
 * envcheck — `togglemaster check-config` and serve's start-up warnings.
 * See envcheck.h.
 */
#include "envcheck.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "http/http.h"
#include "log.h"

extern char **environ;

/* Paths are echoed cut at this many bytes, made printable. */
#define SHOWN_PATH_MAX 200

struct tally {
    int errors, warnings;
};

static void print_problem(void *ctx, enum config_problem kind, const char *name, const char *line)
{
    struct tally *t = ctx;

    (void)name;
    if (kind == CONFIG_ERROR)
        t->errors++;
    else
        t->warnings++;
    fprintf(stderr, "%s: %s\n", kind == CONFIG_ERROR ? "error" : "warning", line);
}

static void error(struct tally *t, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void error(struct tally *t, const char *name, const char *fmt, ...)
{
    char line[CONFIG_LINE_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    print_problem(t, CONFIG_ERROR, name, line);
}

/* A path as it may appear in a one-line message. */
static const char *shown(const char *path, char *buf, size_t buflen)
{
    size_t n = 0;

    for (; path[n] != '\0' && n < SHOWN_PATH_MAX && n + 1 < buflen; n++)
        buf[n] = (path[n] >= 0x20 && path[n] < 0x7f) ? path[n] : '?';
    buf[n] = '\0';
    return buf;
}

/* A file serve will read: it opens, as this user, and is a regular file. */
static bool readable(struct tally *t, const char *name, const char *path)
{
    char buf[SHOWN_PATH_MAX + 1];
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);

    if (fd < 0) {
        error(t, name, "%s: cannot read '%s' (%s)", name, shown(path, buf, sizeof buf), strerror(errno));
        return false;
    }
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        error(t, name, "%s: '%s' is not a regular file", name, shown(path, buf, sizeof buf));
        close(fd);
        return false;
    }
    close(fd);
    return true;
}

/* TLS: both files readable, then loaded and matched as serve does. */
static void check_tls(struct tally *t, const struct config *cfg)
{
    char err[CONFIG_LINE_MAX];
    bool cert_ok, key_ok;

    if (cfg->tls_cert_file == NULL)
        return;
    cert_ok = readable(t, "TLS_CERT_FILE", cfg->tls_cert_file);
    key_ok = readable(t, "TLS_KEY_FILE", cfg->tls_key_file);
    if (cert_ok && key_ok && http_tls_check(cfg->tls_cert_file, cfg->tls_key_file, err, sizeof err) != 0)
        error(t, strncmp(err, "TLS_KEY_FILE", 12) == 0 ? "TLS_KEY_FILE" : "TLS_CERT_FILE", "%s", err);
}

/* SQLite opens (or creates) the file and writes its -wal and -shm files
 * beside it: the directory must exist and be writable by this user, and an
 * existing file readable and writable. Neither serve nor migrate creates
 * the directory. */
static void check_sqlite(struct tally *t, const char *path)
{
    char dir[PATH_MAX], buf[SHOWN_PATH_MAX + 1];
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash == NULL ? 0 : slash == path ? 1 : (size_t)(slash - path);
    struct stat st;

    if (dir_len >= sizeof dir) {
        error(t, "DATABASE_URL", "DATABASE_URL: the SQLite path is too long");
        return;
    }
    if (slash == NULL) {
        strcpy(dir, ".");
    } else {
        memcpy(dir, path, dir_len);
        dir[dir_len] = '\0';
    }
    if (stat(dir, &st) != 0) {
        error(t, "DATABASE_URL", "DATABASE_URL: the SQLite database's directory '%s' is not there (%s)",
              shown(dir, buf, sizeof buf), strerror(errno));
    } else if (!S_ISDIR(st.st_mode)) {
        error(t, "DATABASE_URL", "DATABASE_URL: '%s', where the SQLite database should be, is not a directory",
              shown(dir, buf, sizeof buf));
    } else if (access(dir, W_OK | X_OK) != 0) {
        error(t, "DATABASE_URL", "DATABASE_URL: this user (uid %d) cannot write the SQLite database's directory '%s'",
              (int)geteuid(), shown(dir, buf, sizeof buf));
    } else if (stat(path, &st) == 0 && (!S_ISREG(st.st_mode) || access(path, R_OK | W_OK) != 0)) {
        error(t, "DATABASE_URL", "DATABASE_URL: this user (uid %d) cannot read and write the SQLite database '%s'",
              (int)geteuid(), shown(path, buf, sizeof buf));
    }
}

int envcheck_run(int argc, char **argv)
{
    struct tally t = {0};
    struct config cfg;
    bool loaded;

    if (argc > 2) {
        fprintf(stderr, "togglemaster: %s: unexpected argument '%s' (try: togglemaster --help)\n", argv[1], argv[2]);
        return 2;
    }
    loaded = config_read(&cfg, print_problem, &t) == 0;
    config_check_names(environ, print_problem, &t);
    if (loaded) {
        check_tls(&t, &cfg);
        if (cfg.store_kind == STORE_KIND_SQLITE)
            check_sqlite(&t, cfg.database);
    }
    if (t.errors == 0 && t.warnings > 0)
        printf("configuration ok (%d warning%s): ", t.warnings, t.warnings == 1 ? "" : "s");
    else if (t.errors == 0)
        printf("configuration ok: ");
    if (t.errors == 0)
        printf("%s %s (not contacted), %s on %s%s%s:%d\n",
               cfg.store_kind == STORE_KIND_POSTGRES ? "postgres" : "sqlite", cfg.database_display,
               cfg.tls_cert_file != NULL ? "https" : "http", strchr(cfg.bind, ':') ? "[" : "", cfg.bind,
               strchr(cfg.bind, ':') ? "]" : "", cfg.port);
    if (loaded)
        config_free(&cfg);
    return t.errors == 0 ? 0 : 2;
}

static void log_problem(void *ctx, enum config_problem kind, const char *name, const char *line)
{
    (void)ctx;
    log_event(kind == CONFIG_ERROR ? LOG_ERROR : LOG_WARN, line, json_pack("{s:s}", "variable", name));
}

void envcheck_log_warnings(void)
{
    config_check_names(environ, log_problem, NULL);
}
