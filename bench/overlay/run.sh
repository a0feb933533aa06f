#!/usr/bin/env bash
# The overlay benchmark on Deno and Bun (see bench/overlay/main.ts), each run inside a
# throw-away network + mount namespace (scripts/in-netns.sh). Needs root and etcd-server.
# Usage: bash bench/overlay/run.sh [--n 100] [--remote 1000]
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/node_modules/.bin:$PATH"
# The simulated hosts run their own watchers and keep their own leases: no host agent besides
# (an on-demand agent would run a second watcher on host A's VXLAN device, whose removals and
# additions of the same entries the bench would count mid-way).
export NSLINK_AGENT=off
command -v etcd >/dev/null || { apt-get update -qq && apt-get install -y -qq etcd-server; }
mkdir -p bench/out
for rt in deno bun; do
  bash scripts/in-netns.sh deno run -A bench/overlay/main.ts --runtime "$rt" --json "bench/out/overlay-$rt.json" "$@"
done
