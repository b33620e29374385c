# ToggleMaster container image.
#
#   docker build -t togglemaster .
#   docker run --rm -p 5000:5000 togglemaster                    # SQLite in /app/data
#   docker run --rm -p 5000:5000 -e DATABASE_URL=postgres://... togglemaster
#
# Two stages: the build stage compiles with Debian's toolchain and -dev
# packages; the runtime stage is debian:bookworm-slim with only the shared
# libraries the binary links against (libssl3, libjansson4, libsqlite3-0,
# libpq5, libmurmurhash2 and what they pull in) plus ca-certificates, so that
# `sslmode=verify-full` / `require` to a managed PostgreSQL (RDS) works.
# llhttp is compiled into the binary from Debian's node-llhttp sources.
#
# Configuration is only by environment variables (see `togglemaster --help`);
# nothing is baked in but the defaults below. The entrypoint runs
# `togglemaster migrate` before `serve` unless MIGRATE_ON_START=false.
# CI builds this exact file with `buildah bud` (tests/image/run.sh).

FROM debian:bookworm AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        gcc libc6-dev make pkg-config \
        node-llhttp libssl-dev libjansson-dev libsqlite3-dev libpq-dev libmurmurhash-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Makefile ./
COPY src/ src/
# The web console, embedded into the binary at build time.
COPY console/ console/
COPY scripts/embed-console.sh scripts/
# The Makefile takes the git revision the binary reports (`togglemaster
# version`) from `git rev-parse`; the build context has no .git, so pass it
# in: --build-arg REVISION=$(git rev-parse --short HEAD) (make release does).
ARG VERSION=
ARG REVISION=
RUN make -j"$(nproc)" ${VERSION:+VERSION="$VERSION"} ${REVISION:+GIT_REV="$REVISION"} \
 && strip --strip-unneeded build/togglemaster \
 && build/togglemaster version

FROM debian:bookworm-slim
ARG VERSION=
ARG REVISION=
LABEL org.opencontainers.image.title="togglemaster" \
      org.opencontainers.image.description="ToggleMaster feature-flag HTTP service (C; SQLite or PostgreSQL)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"

# Runtime libraries only, and a system user with a fixed UID/GID so that
# volume ownership is predictable across rebuilds and hosts.
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
        libssl3 libjansson4 libsqlite3-0 libpq5 libmurmurhash2 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 togglemaster \
 && useradd --system --uid 10001 --gid 10001 --home-dir /app --no-create-home \
        --shell /usr/sbin/nologin togglemaster \
 && install -d -o 10001 -g 10001 -m 0750 /app /app/data

COPY --from=build /src/build/togglemaster /usr/local/bin/togglemaster
COPY docker/entrypoint.sh /usr/local/bin/docker-entrypoint
COPY docker/healthcheck.sh /usr/local/bin/togglemaster-healthcheck

# The SQLite default (DATABASE_URL unset -> sqlite://./data/togglemaster.db)
# lands in /app/data; mount a volume there to keep it. DATABASE_URL is
# deliberately not set here: it would take precedence over the original
# monolith's DB_HOST/DB_PORT/DB_NAME/DB_USER/DB_PASSWORD variables.
WORKDIR /app
ENV PORT=5000 \
    BIND=0.0.0.0 \
    MIGRATE_ON_START=true
EXPOSE 5000

# Numeric user (it is `togglemaster`): Kubernetes' runAsNonRoot can only
# verify a numeric USER.
USER 10001:10001

# No curl in the image: the check is a real `GET /health` (status 200
# required) over bash's /dev/tcp, which costs no package and no extra attack
# surface. See docker/healthcheck.sh.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD ["/usr/local/bin/togglemaster-healthcheck"]

# togglemaster handles SIGTERM itself (sigwait, also as PID 1): /ready turns
# 503 for SHUTDOWN_DRAIN seconds (default 5) while it still serves, then it
# stops accepting and lets in-flight requests finish for SHUTDOWN_TIMEOUT
# seconds (default 10) before exiting 0; keep `docker stop -t` /
# stop_grace_period above the sum. It starts
# no child processes, so no init (tini) is needed.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/docker-entrypoint"]
CMD ["serve"]
