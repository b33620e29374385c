/*
 * version — what this binary is, for `togglemaster version` and anything
 * else that reports it (the build info in /metrics).
 *
 * Owns nothing at run time: two string macros the Makefile defines for
 * every object it compiles,
 *   TM_VERSION       the release number, the Makefile's VERSION ("0.2.0");
 *   TM_GIT_REVISION  the commit built, `git rev-parse --short HEAD`
 *                    ("f3e6970"), or "unknown" outside a git checkout.
 * The Makefile rebuilds every object that includes this header when either
 * changes. A release's artifacts (the .deb, the container image) carry the
 * two joined as VERSION+gREVISION ("0.2.0+gf3e6970"): see `make release`.
 * The fallbacks below are for a compiler run outside the Makefile.
 */
#ifndef TM_VERSION_H
#define TM_VERSION_H

#ifndef TM_VERSION
#define TM_VERSION "0.0.0-dev"
#endif
#ifndef TM_GIT_REVISION
#define TM_GIT_REVISION "unknown"
#endif

#endif
