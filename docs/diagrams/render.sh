#!/usr/bin/env bash
# Renders every docs/diagrams/*.dot to an SVG beside it (committed, so
# GitHub shows them). Each SVG records the SHA-256 of the source it was
# rendered from, so freshness can be checked without depending on the exact
# Graphviz version or fonts (which move coordinates in the output).
#
#   docs/diagrams/render.sh          render (needs Graphviz: apt-get install graphviz)
#   docs/diagrams/render.sh --check  each .dot parses and its .svg was rendered from it;
#                                    prints ok/FAIL lines, exit 1 on any failure
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

check=0
[ "${1:-}" = --check ] && check=1
if ! command -v dot >/dev/null 2>&1; then
  echo "FAIL - diagrams: Graphviz 'dot' not found (apt-get install graphviz; scripts/install-deps.sh lists it)"
  exit 1
fi

status=0
for src in *.dot; do
  svg=${src%.dot}.svg
  sum=$(sha256sum "$src" | cut -d' ' -f1)
  stamp="<!-- rendered from docs/diagrams/$src sha256:$sum by docs/diagrams/render.sh -->"
  if [ $check -eq 1 ]; then
    if ! err=$(dot -Tsvg "$src" 2>&1 >/dev/null) || [ -n "$err" ]; then
      echo "FAIL - diagram $src renders without warnings: $err"; status=1
    else
      echo "ok - diagram $src renders without warnings"
    fi
    if [ -f "$svg" ] && grep -qxF "$stamp" "$svg"; then
      echo "ok - diagram $svg is rendered from the current $src"
    else
      echo "FAIL - diagram $svg is rendered from the current $src: run docs/diagrams/render.sh"; status=1
    fi
    continue
  fi
  dot -Tsvg "$src" | sed "1a\\
$stamp" > "$svg.tmp"
  mv "$svg.tmp" "$svg"
  echo "render.sh: $svg"
done
exit $status
