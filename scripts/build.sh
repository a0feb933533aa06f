#!/usr/bin/env bash
# Builds dist/nslink: one self-contained executable (Bun's runtime plus the bundled code), which
# runs without Deno, Bun or this checkout beside it, and works offline. `deno compile` is not used:
# it downloads its `denort` runtime on first use, which fails on machines without network access.
# Usage: bash scripts/build.sh   (= npm run build = deno task build)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p dist
./node_modules/.bin/bun build --compile --minify cli/main.ts --outfile dist/nslink >&2
echo "built dist/nslink ($(du -h dist/nslink | cut -f1)): $(./dist/nslink version)" >&2
