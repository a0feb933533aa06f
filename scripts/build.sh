#!/usr/bin/env bash
# Builds dist/nslink: one self-contained executable (Bun's runtime plus the bundled code), which
# runs without Deno, Bun or this checkout beside it, and works offline, and dist/nslink.sha256
# beside it (`sha256sum -c nslink.sha256` in the directory that holds both). `deno compile` is not
# used: it downloads its `denort` runtime on first use, which fails on machines without network
# access.
# Usage: bash scripts/build.sh   (= npm run build = deno task build)
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p dist
# scripts/build.ts: `bun build --compile --minify --bytecode --splitting --format=esm`, through
# Bun's JavaScript API for one plugin:
# --bytecode: the bundle is stored compiled to JavaScriptCore bytecode, so a run does not parse it
# first: `nslink version` starts in ~17 ms instead of ~35 (it needs --format=esm for the top-level
# await). A CNI runtime execs the plugin twice per container, so this is on every ADD and DEL.
# --splitting: the bundle is cut into chunks (all inside the executable) that load when first
# imported: a CNI exec loads the plugin's chunks and never the command line's (cli/main.ts imports
# each path lazily), and a CNI exec handed to the agent loads none.
# The plugin: a Bun executable instantiates every Node built-in that any chunk imports statically
# as it starts, whether the chunk loads or not; the checkout's imports of built-ins are bundled as
# `process.getBuiltinModule` calls made at first use (tests/unit/cni-imports.test.ts).
# jitPolicy 100: JavaScriptCore's JIT held back as the executable starts (a handed-off CNI exec is
# faster without compiling); cli/main.ts sets it back for the agent and `events`, which keep running.
# autoloadDotenv/autoloadBunfig off: the executable reads no `.env` or `bunfig.toml` from the
# directory it is started in (a runtime's, for a CNI exec): looking for them costs every exec
# ~0.4 ms (a walk of the directories up to /), and a `.env` there must not change the plugin's
# variables (tests/priv/cni-compiled-start.test.ts).
./node_modules/.bin/bun scripts/build.ts --outfile dist/nslink >&2
(cd dist && sha256sum nslink >nslink.sha256)
echo "built dist/nslink ($(du -h dist/nslink | cut -f1)): $(./dist/nslink version)" >&2
echo "sha256: $(cut -d' ' -f1 dist/nslink.sha256)" >&2
