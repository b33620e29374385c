#!/bin/sh
# Container entrypoint for ToggleMaster (installed as
# /usr/local/bin/docker-entrypoint).
#
#   serve (default)  run `togglemaster migrate` first unless MIGRATE_ON_START
#                    is false/0/no/off; a failed migration exits with its
#                    code and the server is not started. Then exec the
#                    server, so it replaces this shell (same PID, PID 1 in a
#                    container) and receives SIGTERM directly.
#   migrate, init-db, check-config, keys, import, export, routes, version,
#   help, -h, --help, or any other -option
#                    passed to togglemaster unchanged (one-off admin
#                    commands: `docker compose run --rm app keys list`).
#   anything else    executed as given (e.g. `docker run -it IMAGE sh`).
set -eu

[ "$#" -gt 0 ] || set -- serve

case $1 in
  serve)
    case ${MIGRATE_ON_START:-true} in
      false | FALSE | False | 0 | no | NO | off | OFF) ;;
      *) togglemaster migrate || exit $? ;;
    esac
    exec togglemaster "$@"
    ;;
  migrate | init-db | check-config | keys | import | export | routes | version | help | -*)
    exec togglemaster "$@"
    ;;
  *)
    exec "$@"
    ;;
esac
