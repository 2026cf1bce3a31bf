#!/usr/bin/env bash
# What a newcomer does first, checked on a fresh clone: `npm ci` alone must leave a working
# `ssd` command (the `prepare` script builds dist/, scripts/postbuild.js sets its execute bit).
# .ci/run runs this after the test suite. It clones the committed HEAD of this repository into
# a temporary folder, so it checks what a clone gets, not this working tree.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

git clone --quiet "$repo" "$work/clone"
cd "$work/clone"
# gl's native build was already set up by this machine's own install; skip only the apt step
SSD_SKIP_GL_SETUP=1 npm ci --no-audit --no-fund --prefer-offline > "$work/npm-ci.log" 2>&1 || {
  tail -40 "$work/npm-ci.log"; echo "fresh clone: npm ci failed"; exit 1; }

fail() { echo "fresh clone: $*"; exit 1; }

npx --no-install ssd --help > "$work/help.txt" 2>&1 || { cat "$work/help.txt"; fail "'npx ssd --help' exited non-zero"; }
grep -q '^usage: ssd <command>' "$work/help.txt" || fail "'npx ssd --help' printed no usage"

npx --no-install ssd summary --classes 21 > "$work/summary.txt" 2>&1 || { cat "$work/summary.txt"; fail "'npx ssd summary' exited non-zero"; }
grep -q 'total parameters: 26,285,486' "$work/summary.txt" || { cat "$work/summary.txt"; fail "'npx ssd summary --classes 21' did not print 26,285,486 parameters"; }

echo "fresh clone: npm ci, then 'npx ssd --help' and 'npx ssd summary --classes 21' (26,285,486 parameters) work"
