#!/usr/bin/env bash
# Runs this checkout's benchmark harness (bench/, with its CPU-time columns) against the library
# code of other commits, to find which commit changed the fast path's cost (issue 21):
#
#   bash bench/bisect.sh [--n 50] [--reps 3] [--peers nslink-fast-deno,go-netlink-fast] COMMIT...
#
# For each COMMIT: a throw-away detached worktree in a temporary directory (its own
# `npm ci --prefer-offline`), this checkout's bench/ copied over the commit's own, then bench/main.ts
# in the same sandbox as bench/run.sh (network + mount namespace, tmpfs on /run, /etc/netns and
# /var/lib/nslink); last, this checkout itself. Prints one line per tree: the setup's wall-time and
# CPU-time ratios against go-netlink-fast in the same run. Worktrees are removed at the end, also on
# failure. Needs root and bench/.build/gonl (bash bench/run.sh builds it; NSLBENCH_PREPARE_ONLY=1
# stops after the build). NSLINK_AGENT is passed through (e.g. off, to compare without the agent).
# A commit whose library lacks what the current peer imports fails to run and says so; use its
# own harness then (`bash bench/run.sh` inside its worktree).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
N=50
REPS=3
PEERS=nslink-fast-deno,go-netlink-fast
COMMITS=()
while [ $# -gt 0 ]; do
  case "$1" in
    --n) N=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --peers) PEERS=$2; shift 2 ;;
    *) COMMITS+=("$1"); shift ;;
  esac
done
if [ "$(id -u)" != 0 ]; then
  echo "bench/bisect.sh: must run as root" >&2
  exit 1
fi
if [ ! -x bench/.build/gonl ]; then
  echo "bench/bisect.sh: bench/.build/gonl missing: NSLBENCH_PREPARE_ONLY=1 bash bench/run.sh" >&2
  exit 1
fi
BASE=$(mktemp -d /tmp/nslink-bisect.XXXXXX)
made=()
cleanup() {
  for w in "${made[@]}"; do git -C "$ROOT" worktree remove --force "$w" >/dev/null 2>&1 || true; done
  git -C "$ROOT" worktree prune
  rm -rf "$BASE"
}
trap cleanup EXIT

# shellcheck source=bench/lib/sandbox.sh
source bench/lib/sandbox.sh
# One run of TREE's bench/main.ts in the sandbox; prints the summary rows of the peers.
run_tree() {
  (cd "$1" && NSLBENCH_NO_RESULTS=1 nslbench_sandbox \
    node_modules/.bin/deno run -A bench/main.ts --n "$N" --reps "$REPS" --peers "$PEERS" 2>&1)
}

# The table's rows: peer, setup wall ms, wall ratio, CPU ms, CPU ratio.
summary() {
  awk '$1 ~ /^(nslink|go)-/ && $2 ~ /^[0-9.]+$/ {
    printf "  %-18s setup %s ms (%s Go), cpu %s ms (%s Go)\n", $1, $2, $7, $(NF-1), $NF
  }'
}

for c in "${COMMITS[@]}"; do
  sha=$(git rev-parse --short "$c^{commit}")
  w=$BASE/$sha
  git worktree add --detach "$w" "$sha" >/dev/null
  made+=("$w")
  (cd "$w" && npm ci --prefer-offline --no-audit --no-fund >/dev/null 2>&1)
  rm -rf "$w/bench"
  tar -C "$ROOT" --exclude=bench/out --exclude=bench/results -cf - bench | tar -C "$w" -xf -
  echo "$sha $(git log -1 --format=%s "$sha" | cut -c1-70)"
  out=$(run_tree "$w") || true
  rows=$(printf '%s\n' "$out" | summary)
  if [ -n "$rows" ]; then printf '%s\n' "$rows"; else printf '%s\n' "$out" | tail -3 | sed 's/^/  failed: /'; fi
done
echo "$(git rev-parse --short HEAD) (this checkout$(git diff --quiet || echo ', with changes'))"
run_tree "$ROOT" | summary
