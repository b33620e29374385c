/*
 * eval/flagd — flagd's own JsonLogic operators: fractional, sem_ver,
 * starts_with, ends_with.
 *
 * Owns: what each returns for its evaluated arguments, as flagd's Go
 * evaluator (core/pkg/evaluator) defines it: any argument it cannot use
 * makes the operator return null (flagd logs and returns nil), never an
 * error. Also the bucketing hash, MurmurHash3 x86 32-bit with seed 0 from
 * Debian's libmurmurhash, and semantic version parsing and ordering. Pure.
 */
#ifndef TM_EVAL_FLAGD_H
#define TM_EVAL_FLAGD_H

#include <stddef.h>
#include <stdint.h>

#include "value.h"

/* The bucketing hash of s[0..len). */
uint32_t flagd_hash(const char *s, size_t len);
/* (hash x total_weight) >> 32: where a hash lands in [0, total_weight). */
uint32_t flagd_bucket(uint32_t hash, uint32_t total_weight);

/* args are the operator's evaluated arguments. */
struct jv flagd_starts_with(const struct jv *args, size_t argc);
struct jv flagd_ends_with(const struct jv *args, size_t argc);
struct jv flagd_sem_ver(struct arena *a, const struct jv *args, size_t argc);
/* targeting_key: the context's targetingKey (JV_UNDEFINED when absent);
 * flag_key: the flag being evaluated. */
struct jv flagd_fractional(struct arena *a, const struct jv *args, size_t argc, const struct jv *targeting_key,
                           const char *flag_key, size_t flag_key_len);

/* Semantic versions, as flagd reads them: an optional "v" or "V", then
 * MAJOR[.MINOR[.PATCH[-PRERELEASE][+BUILD]]] (a shorthand without PATCH
 * takes no pre-release or build). -1, 0 or 1 into *cmp as a sorts before,
 * with or after b; -2 when either is not a version. The major and minor
 * parts alone compare when `parts` is 1 or 2 (for ^ and ~), 0: all. */
int flagd_semver_compare(const char *a, size_t alen, const char *b, size_t blen, int parts);

#endif
