#!/usr/bin/env bash
# Every benchmark suite whose tables docs/benchmarks.md renders, one after the other, then the
# page re-rendered from the newest result files (bench/render.ts --latest). As root:
#
#   bash bench/all.sh [--quick] [--only a,b] [--skip a,b] [--no-render] [--wait-quiet SECONDS]
#
# Suites, in order (about 14 min in all on this 2-core machine, 25 at most; --quick: ~2-5 min, a
# plumbing check whose figures mean nothing):
#   main       bench/main.ts, every peer (per-container setup/teardown)     --n 50 --reps 5
#   steps      bench/main.ts --steps, the nslink fast, spare and floor peers, Go's fast --n 50 --reps 5
#   extras     bench/extras.ts: codec and memory, Deno and Bun                --memory-n 50,500
#   cni        bench/cni.ts: CNI ADD/DEL exec'd per container                 --n 20 --reps 3
#   podman     bench/podman.ts: podman run --rm wall time (dist/nslink)        --n 5 --reps 2
#   ports      bench/ports.ts: port publishing                                --reps 30
#   veth       bench/veth.ts, Deno and Bun                                     --n 100
#   monitor    bench/monitor.ts, Deno and Bun                                  --samples 200
#   teardown   bench/teardown.ts: the fast path's teardown profile, Deno, Bun   --n 50 --rounds 3
#   state-disk bench/state-disk.ts: state on tmpfs and on disk, Deno and Bun   --n 50 --rounds 7
#   etcd       bench/overlay/run_clients.sh: nslink's etcd client against npm etcd3  --n 300
#   overlay    bench/overlay/run.sh: convergence, link() cost, watcher         --n 100 --remote 1000
#   fast200    bench/main.ts, the steps table's peers at 200 containers          --n 200 --reps 5
#   sweep      bench/main.ts --sweep, nslink fast (Deno, Bun) and Go's fast path  10,30,100,300 x 3
#   dns        bench/run-dns.sh: bench/dns.ts and bench/dns-agent.ts (Deno, Bun)  --seconds 5
#   (HOOK for further suites: see "dns" below)
#
# Before each suite the 1-minute load average is read: above 1.0 a warning is printed (the result
# file records the load too, and marks itself `NOT quiet`); `--wait-quiet S` first waits up to S
# seconds for the load to fall to 1.0. A failing suite does not stop the others; the exit status
# says. Afterwards the machine is checked for anything the suites left (scripts/machine-snapshot.sh);
# a leftover fails the run. Every suite writes its result files into bench/results/ (NSLBENCH_LABEL, default
# "bench/all.sh", says what the run was for). Afterwards `bench/render.ts --latest` points every
# table of docs/benchmarks.md at the newest result file of its suite and runtime and renders it;
# commit the new result files with the page (`deno task bench:check` fails on a file that is not
# committed). Figures from a loaded machine are not final: rerun quiet.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$ROOT/node_modules/.bin:$PATH"

QUICK=0 ONLY="" SKIP="" RENDER=1 WAIT_QUIET=0
while [ $# -gt 0 ]; do
  case "$1" in
  --quick) QUICK=1 ;;
  --only) ONLY=",$2," && shift ;;
  --skip) SKIP=",$2," && shift ;;
  --no-render) RENDER=0 ;;
  --wait-quiet) WAIT_QUIET=$2 && shift ;;
  -h | --help) sed -n '2,/^set -euo/{/^#/p}' "$0" && exit 0 ;;
  *) echo "bench/all.sh: unknown option $1" >&2 && exit 2 ;;
  esac
  shift
done
if [ "$(id -u)" != 0 ]; then
  echo "bench/all.sh: must run as root (creates namespaces and interfaces)" >&2
  exit 1
fi
export NSLBENCH_LABEL="${NSLBENCH_LABEL:-bench/all.sh$([ $QUICK = 1 ] && echo ' --quick: plumbing check, small N; not for comparison')}"

# N per suite: full, or --quick.
if [ $QUICK = 1 ]; then
  MAIN=(--n 10 --reps 1) STEPS=(--n 10 --reps 1)
  EXTRAS=(--memory-n 20,60 --codec-warmup 1 --codec-passes 3)
  CNI=(--n 4 --reps 1) PODMAN=(--n 1 --reps 1) PORTS=(--reps 5) VETH=(--n 10) MONITOR=(--samples 30)
  ETCD=(--n 50) OVERLAY=(--n 10 --remote 100) DNS_ARGS=(--seconds 1)
  TEARDOWN=(--n 10 --rounds 1) STATE_DISK=(--n 10 --rounds 2)
else
  MAIN=(--n 50 --reps 5) STEPS=(--n 50 --reps 5)
  EXTRAS=(--memory-n 50,500 --codec-warmup 3 --codec-passes 10)
  CNI=(--n 20 --reps 3) PODMAN=(--n 5 --reps 2) PORTS=(--reps 30) VETH=(--n 100) MONITOR=(--samples 200)
  ETCD=(--n 300) OVERLAY=(--n 100 --remote 1000) DNS_ARGS=(--seconds 5)
  TEARDOWN=(--n 50 --rounds 3) STATE_DISK=(--n 50 --rounds 7)
fi
# The steps table's peers, with Go's fast path for its ratios (and so that render.ts --latest,
# which keeps a table off a run of fewer peers, takes this run for the table); nslink-spare-*: the
# fast path with spare namespaces (startSpareNetns() before the timer), in steps and fast200 only.
FAST_PEERS=go-netlink-fast,nslink-fast-deno,nslink-fast-bun,nslink-spare-deno,nslink-spare-bun,nslink-floor-deno,nslink-floor-bun

log() { printf '[%s] bench/all.sh: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
wanted() {
  [ -n "$ONLY" ] && [[ "$ONLY" != *",$1,"* ]] && return 1
  [ -n "$SKIP" ] && [[ "$SKIP" == *",$1,"* ]] && return 1
  return 0
}
load1() { cut -d' ' -f1 /proc/loadavg; }
above1() { awk -v l="$(load1)" 'BEGIN { exit !(l > 1.0) }'; }
check_load() {
  local waited=0
  while above1 && [ "$waited" -lt "$WAIT_QUIET" ]; do sleep 5 && waited=$((waited + 5)); done
  if above1; then
    log "WARNING: load average $(load1) > 1.0 before suite $1: its figures are not quiet"
  else
    log "load average $(load1) before suite $1"
  fi
}

# The sandbox of bench/run.sh (nslbench_sandbox): a fresh network namespace as the host, a private
# tmpfs on /run, /sys of the new namespace; bench/main.ts checks that it runs in exactly this.
# shellcheck source=bench/lib/sandbox.sh
source bench/lib/sandbox.sh
sandbox() { nslbench_sandbox "$@"; }

both() { # both RUNTIME-INDEPENDENT-SCRIPT ARGS...: the script under Deno, then under Bun
  local s=$1 && shift
  bash scripts/in-netns.sh deno run -A "$s" "$@" && bash scripts/in-netns.sh bun "$s" "$@"
}

# Host agents that a suite's named networks started on demand (`… agent --on-demand` from this
# checkout) outlive the suite's throw-away namespace: those that were not running before the
# suite are ended after it, by pid.
agents() {
  local d
  for d in /proc/[0-9]*; do
    if { tr '\0' ' ' <"$d/cmdline"; } 2>/dev/null | grep -q "^$ROOT/.* agent --on-demand"; then
      echo "${d#/proc/}"
    fi
  done | sort || true
}
end_new_agents() {
  local p
  for p in $(comm -13 <(printf '%s\n' "$@") <(agents)); do
    kill "$p" 2>/dev/null && log "ended host agent $p left by the suite"
  done
}

SUMMARY=() STATUS=0 T0=$SECONDS
suite() { # suite NAME COMMAND...
  local name=$1 t=$SECONDS rc=0 before && shift
  wanted "$name" || return 0
  check_load "$name"
  log "suite $name: $*"
  before=$(agents)
  "$@" || rc=$?
  # shellcheck disable=SC2086
  end_new_agents $before
  SUMMARY+=("$(printf '%-12s %-8s %5ss  load %s' "$name" "$([ $rc = 0 ] && echo ok || echo "FAILED($rc)")" $((SECONDS - t)) "$(load1)")")
  [ $rc = 0 ] || STATUS=1
}
skip() { wanted "$1" && SUMMARY+=("$(printf '%-12s %-8s %s' "$1" skipped "$2")") || true; }

# Installs (npm, apt, etcd-server), the Go peer and dist/nslink, while the network is reachable.
log "preparing (bench/run.sh with NSLBENCH_PREPARE_ONLY=1)"
NSLBENCH_PREPARE_ONLY=1 bash bench/run.sh
command -v etcd >/dev/null || { apt-get update -qq && apt-get install -y -qq etcd-server; }

# The machine after every suite, against a snapshot taken now (scripts/machine-snapshot.sh):
# anything left there (a file in /etc/netns, /var/lib/nslink or /run/nslink*, a named namespace, a
# link, a process that escaped the sandboxes) is named and fails the run.
SNAP=$(mktemp)
trap 'rm -f "$SNAP"' EXIT
bash scripts/machine-snapshot.sh >"$SNAP"

suite main sandbox deno run -A bench/main.ts "${MAIN[@]}"
suite steps sandbox deno run -A bench/main.ts "${STEPS[@]}" --steps --peers "$FAST_PEERS"
suite extras sandbox deno run -A bench/extras.ts "${EXTRAS[@]}"
suite cni sandbox deno run -A bench/cni.ts "${CNI[@]}"
suite podman bash scripts/in-netns.sh deno run -A bench/podman.ts "${PODMAN[@]}"
suite ports sandbox deno run -A bench/ports.ts "${PORTS[@]}"
suite veth both bench/veth.ts "${VETH[@]}"
suite monitor both bench/monitor.ts "${MONITOR[@]}"
suite teardown both bench/teardown.ts "${TEARDOWN[@]}"
suite setup both bench/setup.ts "${TEARDOWN[@]}"
suite state-disk both bench/state-disk.ts "${STATE_DISK[@]}"
suite etcd bash bench/overlay/run_clients.sh "${ETCD[@]}"
suite overlay bash bench/overlay/run.sh "${OVERLAY[@]}"

# --- fast200 and sweep (issue 21): the fast paths at 200 containers per process, and the short
# scaling sweep -------------------------------------------------------------------------------
# fast200: bench/main.ts with the fast, spare and floor peers and Go's fast path at N=200 (the
# workload's addresses 198.51.100.10-209 and 2001:db8:bb::10-209; 200 is its IPv4 limit), in a
# result file of its own: docs/benchmarks.md's N=200 table and README.md's How fast table (beside
# the main table's N=50). About 45 s. --quick: one repetition, about 10 s.
# sweep: bench/main.ts --sweep, the fast peers at 10 to 300 containers per process (IPv6-only
# workload), one result file of 4 sections: docs/benchmarks.md's sweep table, and bench/scaling.svg,
# which bench/render.ts draws from that file (main.ts's own plot goes to bench/out/). About 45 s.
if [ $QUICK = 1 ]; then
  FAST200=(--n 200 --reps 1) SWEEP=(--sweep 10,30 --reps 1)
else
  FAST200=(--n 200 --reps 5) SWEEP=(--sweep 10,30,100,300 --reps 3)
fi
SWEEP_PEERS=nslink-fast-deno,nslink-fast-bun,go-netlink-fast
suite fast200 sandbox deno run -A bench/main.ts "${FAST200[@]}" --peers "$FAST_PEERS" \
  --json bench/out/fast200.json
suite sweep sandbox deno run -A bench/main.ts "${SWEEP[@]}" --peers "$SWEEP_PEERS" \
  --json bench/out/sweep.json --svg bench/out/scaling.svg
# ---------------------------------------------------------------------------------------------

# --- dns and dns-agent (issue 17's suites) -----------------------------------------------------
# bench/run-dns.sh installs dnsperf/dnsmasq/aardvark-dns, runs bench/dns.ts (Deno, nslink on both
# runtimes against dnsmasq and aardvark-dns) and bench/dns-agent.ts (Deno and Bun), each in its own
# throw-away namespace, and writes their result files (its own re-render is redone below).
# HOOK: a further suite that writes result files is one more `suite` line here, with its table
# kind in render.ts and its marker in docs/benchmarks.md.
if [ -f bench/run-dns.sh ]; then
  suite dns bash bench/run-dns.sh "${DNS_ARGS[@]}"
else
  skip dns "bench/run-dns.sh is missing"
fi
# ---------------------------------------------------------------------------------------------

if bash scripts/machine-snapshot.sh --since "$SNAP" >&2; then
  log "nothing left on the machine (scripts/machine-snapshot.sh)"
  SUMMARY+=("$(printf '%-12s %-8s' leftovers none)")
else
  log "the suites left something on the machine (listed above)"
  SUMMARY+=("$(printf '%-12s %-8s' leftovers FAILED)")
  STATUS=1
fi

if [ $RENDER = 1 ]; then
  log "rendering docs/benchmarks.md from the newest result files"
  deno run -A bench/render.ts --latest || STATUS=1
  log "rendering README.md's tables (How fast) from the newest result files"
  deno run -A bench/render.ts --latest --readme README.md || STATUS=1
fi
log "done in $((SECONDS - T0)) s:"
printf '  %s\n' "${SUMMARY[@]}" >&2
git status --short bench/results docs/benchmarks.md README.md >&2 || true
log "commit the new bench/results files with docs/benchmarks.md (deno task bench:check)"
exit $STATUS
