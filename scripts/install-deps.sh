#!/usr/bin/env bash
# Installs what ToggleMaster needs to build, run and test on Debian 12.
# This is the one list of Debian packages the project depends on; `make run`,
# `make test` and `make bench` call it. When everything is present it only
# runs dpkg-query once and exits, so it is cheap to call every time.
#
#   scripts/install-deps.sh              build + run + test packages
#   scripts/install-deps.sh GROUP...     also the packages of each GROUP:
#     bench     benchmark tools            image   container image build
#     deb       Debian package build/check vpc     network-namespace VPC replica
set -euo pipefail

# Build and run: compiler, llhttp's C sources (Node.js's HTTP parser),
# OpenSSL (TLS), JSON, SQLite, libpq, and MurmurHash3 (flagd's fractional
# bucketing hashes with it).
BUILD_PACKAGES=(gcc make pkg-config node-llhttp libssl-dev libjansson-dev libsqlite3-dev libpq-dev
                libmurmurhash-dev)
# Test: second compiler and sanitizer runtimes, a real PostgreSQL server,
# the API test runner (Debian's python3), the smoke script's tools, valgrind,
# Graphviz (diagrams are checked against their sources), systemd-analyze
# (the deploy drop-in is verified), the openssl command (a throwaway CA for
# the TLS tests), HAProxy (the rolling-restart drill puts two instances
# behind it, health-checking /ready), Node.js/npm for the OpenAPI linter and
# the HCL parser, Prometheus (promtool checks /metrics; a real server
# scrapes it), and Chromium (tests/browser drives the web console in it
# through playwright-core, headless).
TEST_PACKAGES=(clang libclang-rt-14-dev postgresql python3 curl jq valgrind util-linux procps
               graphviz systemd openssl haproxy prometheus chromium)
# Benchmarks: load generator, the nginx ceiling, chart drawing.
BENCH_PACKAGES=(wrk nginx-light gnuplot-nox)
# Container image: a Debian base from debootstrap, built with buildah (no
# Docker engine needed); docker-compose validates the Compose file offline.
IMAGE_PACKAGES=(buildah debootstrap docker-compose python3-yaml)
# Debian package: build, lint, verify the unit, install in a chroot.
DEB_PACKAGES=(dpkg-dev fakeroot lintian systemd debootstrap)
# VPC replica: namespaces, veth, nftables security groups (its ha shape,
# tests/vpc/ha_drills.py, also uses haproxy, openssl and postgresql above).
VPC_PACKAGES=(iproute2 nftables)

wanted=("${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}")
for group in "$@"; do
  case $group in
    bench) wanted+=("${BENCH_PACKAGES[@]}") ;;
    image) wanted+=("${IMAGE_PACKAGES[@]}") ;;
    deb) wanted+=("${DEB_PACKAGES[@]}") ;;
    vpc) wanted+=("${VPC_PACKAGES[@]}") ;;
    *) echo "install-deps: unknown group '$group'" >&2; exit 2 ;;
  esac
done
# Node.js may come from Debian's nodejs package or be preinstalled; only ask
# apt for it when no node/npm is on PATH.
command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 || wanted+=(nodejs npm)

missing=()
installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${wanted[@]}" 2>/dev/null || true)
for p in "${wanted[@]}"; do
  grep -q "^$p ii" <<<"$installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
