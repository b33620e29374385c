/*
 * bench/eval_bench.c: nanoseconds per flag evaluation in isolation, no
 * HTTP: the bench flag (a 3-condition rule and a fractional split, the one
 * bench/run.py serves over OFREP) evaluated for a set of contexts, (a) with
 * the context already parsed, (b) parsing the context's JSON text first, as
 * the OFREP handler does. Prints one JSON line. Usage:
 *   eval_bench FLAG_DOCUMENT_JSON CONTEXTS_FILE [ITERATIONS]
 * (one context per line, {"context": {...}} as OFREP bodies are).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "eval/logic.h"
#include "flag.h"

#define MAX_CONTEXTS 4096

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

int main(int argc, char **argv)
{
    static char *texts[MAX_CONTEXTS];
    static json_t *contexts[MAX_CONTEXTS];
    struct flag_row row = {.name = "bench-eval", .is_enabled = true, .version = 1};
    long iterations = argc > 3 ? atol(argv[3]) : 2000000;
    struct flag_result result;
    struct arena arena;
    struct flag *flag;
    char line[4096];
    FILE *f;
    int n = 0, matches = 0;
    double t0, parsed_ns, with_parse_ns;

    if (argc < 3) {
        fprintf(stderr, "usage: eval_bench FLAG_DOCUMENT_JSON CONTEXTS_FILE [ITERATIONS]\n");
        return 2;
    }
    row.document = argv[1];
    flag = flag_create(&row, NULL);
    f = fopen(argv[2], "r");
    if (flag == NULL || flag->rule == NULL || f == NULL) {
        fprintf(stderr, "eval_bench: bad flag or contexts file\n");
        return 1;
    }
    while (n < MAX_CONTEXTS && fgets(line, sizeof line, f) != NULL) {
        json_t *body = json_loads(line, 0, NULL);
        if (body == NULL)
            continue;
        texts[n] = strdup(line);
        contexts[n++] = json_incref(json_object_get(body, "context"));
        json_decref(body);
    }
    fclose(f);
    arena_init(&arena, LOGIC_ARENA_LIMIT);
    t0 = now_ns();
    for (long i = 0; i < iterations; i++) {
        flag_evaluate(flag, contexts[i % n], 1700000000, &arena, &result);
        matches += result.reason == FLAG_REASON_TARGETING_MATCH;
    }
    parsed_ns = (now_ns() - t0) / (double)iterations;
    t0 = now_ns();
    for (long i = 0; i < iterations / 4; i++) {
        json_t *body = json_loads(texts[i % n], 0, NULL);
        flag_evaluate(flag, json_object_get(body, "context"), 1700000000, &arena, &result);
        json_decref(body);
    }
    with_parse_ns = (now_ns() - t0) / (double)(iterations / 4);
    printf("{\"contexts\":%d,\"iterations\":%ld,\"ns_per_eval\":%.1f,\"ns_per_parse_and_eval\":%.1f,"
           "\"targeting_matches\":%d}\n", n, iterations, parsed_ns, with_parse_ns, matches);
    for (int i = 0; i < n; i++) {
        json_decref(contexts[i]);
        free(texts[i]);
    }
    arena_free(&arena);
    flag_unref(flag);
    return 0;
}
