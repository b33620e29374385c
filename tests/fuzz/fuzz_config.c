/* libFuzzer target: configuration loading. The input is split at NUL bytes
 * into values for every variable config_load() reads, in the order of
 * `names` below; a missing field leaves its variable unset. Whatever the
 * values, config_load() must return 0 or -1 with a one-line message and
 * never overflow (under ASan+UBSan); config_read() reports the same as
 * one-line problems. The whole input is also one environment entry for
 * config_check_names() (names near the settings: the edit distance).
 * Masking passwords is checked with known inputs in
 * tests/unit/test_config.c. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static const char *const names[] = {
    "DATABASE_URL", "DB_HOST", "DB_PORT", "DB_NAME", "DB_USER", "DB_PASSWORD",
    "PORT", "BIND", "LOG_LEVEL", "LOG_FORMAT", "SHUTDOWN_TIMEOUT", "THREADS",
    "DB_POOL_SIZE", "DB_CONNECT_TIMEOUT", "DB_STATEMENT_TIMEOUT", "RESYNC_INTERVAL",
    "MAX_CONNECTIONS", "KEEPALIVE_TIMEOUT", "HEADER_TIMEOUT", "BODY_TIMEOUT", "SEND_TIMEOUT",
    "MAX_HEADER_BYTES", "MAX_BODY_BYTES", "MAX_UNSENT_MB", "TLS_CERT_FILE", "TLS_KEY_FILE",
};
#define NAME_COUNT (sizeof names / sizeof names[0])

static void one_line(void *ctx, enum config_problem kind, const char *name, const char *line)
{
    (void)ctx;
    (void)kind;
    if (strchr(line, '\n') != NULL || strlen(line) >= CONFIG_LINE_MAX || strlen(name) > CONFIG_NAME_MAX)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    struct config cfg;
    char err[256];
    size_t field = 0, start = 0;

    if (copy == NULL)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    for (size_t i = 0; i < NAME_COUNT; i++)
        unsetenv(names[i]);
    for (size_t i = 0; i <= size && field < NAME_COUNT; i++) {
        if (i == size || copy[i] == '\0') {
            setenv(names[field++], copy + start, 1);
            start = i + 1;
        }
    }
    {
        char *env[] = {copy, NULL};
        config_check_names(env, one_line, NULL);
    }
    if (config_read(&cfg, one_line, NULL) == 0)
        config_free(&cfg);
    if (config_load(&cfg, err, sizeof err) == 0) {
        if (cfg.database_display == NULL || cfg.database == NULL)
            abort();
        config_free(&cfg);
    } else if (memchr(err, '\n', strnlen(err, sizeof err)) != NULL) {
        abort();   /* the error is one line */
    }
    free(copy);
    return 0;
}
