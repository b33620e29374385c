#!/bin/bash
# HEALTHCHECK for the ToggleMaster image (installed as
# /usr/local/bin/togglemaster-healthcheck): a real `GET /health` on the
# local listener that succeeds only on HTTP status 200.
#
# Uses bash's /dev/tcp instead of curl so the runtime image needs no extra
# package. Honours PORT (default 5000) and BIND: a wildcard bind is checked
# on loopback, a specific address on that address. Exit 0 healthy, 1 not.
port=${PORT:-5000}
case ${BIND:-0.0.0.0} in
  0.0.0.0) host=127.0.0.1 ;;
  :: | "[::]") host=::1 ;;
  *) host=${BIND#[}; host=${host%]} ;;
esac
exec 3<>"/dev/tcp/$host/$port" || exit 1
printf 'GET /health HTTP/1.0\r\nHost: localhost\r\nConnection: close\r\n\r\n' >&3 || exit 1
IFS= read -r -t 2 status <&3 || exit 1
case $status in
  "HTTP/1."[01]" 200 "*) exit 0 ;;
esac
exit 1
