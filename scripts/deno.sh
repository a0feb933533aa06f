#!/usr/bin/env bash
# Runs the real Deno executable with the given arguments. deno.json's tasks call Deno through
# this script: when Deno came from npm (`npm ci`, as the README's quick start installs it), the
# task runner resolves a bare `deno` to node_modules/.bin/deno, a native binary, and runs it as a
# JavaScript file ("SyntaxError: Invalid or unexpected token"). A process started from bash finds
# the binary and executes it natively.
# Order: the checkout's node_modules/.bin/deno (the version package-lock.json pins), then
# $DENO_EXEC_PATH, then the first `deno` on PATH.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
if [ -x "$root/node_modules/.bin/deno" ]; then
  exec "$root/node_modules/.bin/deno" "$@"
fi
if [ -n "${DENO_EXEC_PATH:-}" ] && [ -x "$DENO_EXEC_PATH" ]; then
  exec "$DENO_EXEC_PATH" "$@"
fi
if command -v deno >/dev/null; then
  exec deno "$@"
fi
echo "scripts/deno.sh: no deno found: run \`npm ci\` (installs it under node_modules/.bin) or install Deno" >&2
exit 127
