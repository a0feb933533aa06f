#!/usr/bin/env bash
# Entry point of the per-container network setup/teardown benchmark (`deno task bench`).
#
#   bash bench/run.sh [--n 50] [--reps 3] [--peers a,b,c] [--json bench/out/results.json] [--steps]
# Then bench/extras.ts (codec, memory), bench/ports.ts (port publishing, issue 9) and
# bench/macvlan.ts (macvlan networks, issue 20) run in the same namespace;
# NSLBENCH_NO_EXTRAS=1 / NSLBENCH_NO_PORTS=1 / NSLBENCH_NO_MACVLAN=1 skip them. Every suite writes a
# result file into bench/results/ (bench/lib/results.ts; NSLBENCH_LABEL says what the run was for),
# from which `deno task bench:render` renders the README's tables.
#
# 1. Installs what the peers need (npm deps, Debian packages) while the network is reachable;
#    a peer whose packages cannot be installed is skipped with the reason (bench/.build/skipped.tsv).
# 2. Builds the Go peer into bench/.build/gonl (offline, Debian's Go packages, GO111MODULE=off).
# 3. Runs bench/main.ts inside a throw-away network namespace (the benchmark's "host") and a
#    private mount namespace with a tmpfs on /run (so /run/netns, CNI and netavark state are
#    private and vanish with the run) and a sysfs of the new network namespace on /sys.
# Must run as root. Nothing is left on the machine afterwards: the script checks it
# (scripts/machine-snapshot.sh) and fails naming what was left. NSLBENCH_PREPARE_ONLY=1 stops
# after steps 1 and 2 and the build of dist/nslink (bench/all.sh does so, then runs each suite).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BUILD=bench/.build
mkdir -p "$BUILD" bench/out
: >"$BUILD/skipped.tsv"

if [ "$(id -u)" != 0 ]; then
  echo "bench/run.sh: must run as root (creates namespaces and interfaces)" >&2
  exit 1
fi

# --- npm (Deno, Bun, typings) ---
if [ ! -x node_modules/.bin/deno ]; then
  npm install --no-audit --no-fund
fi

# --- Debian packages, per peer ---
APT_UPDATED=0
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
# ensure PEERS... -- PKGS...: installs missing packages; on failure records a skip for each peer.
ensure() {
  local peers=() pkgs=() missing=() seen_sep=0 p
  for p in "$@"; do
    if [ "$p" = "--" ]; then seen_sep=1; elif [ $seen_sep = 0 ]; then peers+=("$p"); else pkgs+=("$p"); fi
  done
  for p in "${pkgs[@]}"; do installed "$p" || missing+=("$p"); done
  [ ${#missing[@]} = 0 ] && return 0
  echo "bench: installing ${missing[*]} for ${peers[*]}" >&2
  if [ $APT_UPDATED = 0 ]; then
    apt-get update -q >&2 || true
    APT_UPDATED=1
  fi
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2; then
    for p in "${peers[@]}"; do
      printf '%s\tapt-get install %s failed\n' "$p" "${missing[*]}" >>"$BUILD/skipped.tsv"
      echo "bench: skipping $p: apt-get install ${missing[*]} failed" >&2
    done
  fi
}
ensure ALL -- iproute2 iputils-ping util-linux
if grep -q '^ALL' "$BUILD/skipped.tsv"; then
  echo "bench: iproute2/iputils-ping/util-linux are required by every peer and the verifier" >&2
  exit 1
fi
ensure cni-bridge -- containernetworking-plugins
ensure netavark -- netavark iptables
ensure pyroute2 -- python3-pyroute2
# Port publishing (bench/ports.ts): nft for the one-process peer, iptables for CNI portmap.
ensure ports -- nftables iptables containernetworking-plugins
ensure go-netlink-classic go-netlink-fast -- golang-go golang-github-vishvananda-netlink-dev \
  golang-github-vishvananda-netns-dev

# --- Go peer ---
if ! grep -q '^go-netlink-classic' "$BUILD/skipped.tsv"; then
  if ! GO111MODULE=off GOPATH=/usr/share/gocode GOPROXY=off \
    go build -o "$BUILD/gonl" bench/peers/gonl/main.go; then
    rm -f "$BUILD/gonl"
    for p in go-netlink-classic go-netlink-fast; do
      printf '%s\tgo build of bench/peers/gonl failed\n' "$p" >>"$BUILD/skipped.tsv"
    done
  fi
fi

# --- the nslink executable (bench/cni.ts): bun build --compile works offline ---
bash scripts/build.sh || echo "bench: dist/nslink not built; bench/cni.ts runs without it" >&2

# NSLBENCH_PREPARE_ONLY=1: installs and builds only (bench/all.sh runs each suite itself).
if [ -n "${NSLBENCH_PREPARE_ONLY:-}" ]; then exit 0; fi

# --- the run, in throw-away network + mount namespaces ---
# Afterwards the machine is compared with a snapshot taken now (scripts/machine-snapshot.sh: named
# namespaces, links, /etc/netns, /var/lib/nslink, /run/nslink*, /run/netns, escaped processes):
# anything the run left there is named and fails it.
snap=$(mktemp)
trap 'rm -f "$snap"' EXIT
bash scripts/machine-snapshot.sh >"$snap"
# shellcheck source=bench/lib/sandbox.sh
source bench/lib/sandbox.sh
rc=0
nslbench_sandbox bash -c '
  set -euo pipefail
  # A failing table (a peer failed) does not keep the others from running; the exit status says.
  status=0
  node_modules/.bin/deno run -A bench/main.ts "$@" || status=$?
  if [ -z "${NSLBENCH_NO_EXTRAS:-}" ]; then node_modules/.bin/deno run -A bench/extras.ts || status=$?; fi
  if [ -z "${NSLBENCH_NO_CNI:-}" ]; then node_modules/.bin/deno run -A bench/cni.ts || status=$?; fi
  if [ -z "${NSLBENCH_NO_PORTS:-}" ]; then node_modules/.bin/deno run -A bench/ports.ts || status=$?; fi
  if [ -z "${NSLBENCH_NO_MACVLAN:-}" ]; then node_modules/.bin/deno run -A bench/macvlan.ts || status=$?; fi
  # Processes still in this sandbox (host agents started on demand by named networks) would keep
  # its namespaces alive after it: ended here, as scripts/in-netns.sh does.
  net=$(readlink /proc/self/ns/net)
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    [ "$pid" = "$$" ] && continue
    [ "$(readlink "$p/ns/net" 2>/dev/null)" = "$net" ] || continue
    echo "bench/run.sh: ended a process left in the sandbox: $pid $(tr "\0" " " <"$p/cmdline" 2>/dev/null | cut -c1-160)" >&2
    kill -9 "$pid" 2>/dev/null || true
  done
  exit $status
' nslbench "$@" || rc=$?
if ! bash scripts/machine-snapshot.sh --since "$snap" >&2; then
  echo "bench/run.sh: the run left something on the machine (listed above)" >&2
  [ "$rc" != 0 ] || rc=1
else
  echo "bench/run.sh: nothing left on the machine (scripts/machine-snapshot.sh)" >&2
fi
exit "$rc"
