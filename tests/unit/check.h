/*
 * check — the unit tests' tiny harness: CHECK() records a pass or a failure
 * (with file, line and the failed expression) and CHECK_DONE() prints the
 * closing "<suite>: N passed, N failed" line and returns the exit status.
 */
#ifndef TM_CHECK_H
#define TM_CHECK_H

#include <stdio.h>

static int check_passed, check_failed;

#define CHECK(expr)                                                              \
    do {                                                                         \
        if (expr) {                                                              \
            check_passed++;                                                      \
        } else {                                                                 \
            check_failed++;                                                      \
            fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #expr);      \
        }                                                                        \
    } while (0)

#define CHECK_DONE(suite)                                                        \
    (printf("%s: %d passed, %d failed\n", suite, check_passed, check_failed),    \
     check_failed == 0 ? 0 : 1)

#endif
