#!/usr/bin/env bash
# The DNS benchmarks in one command (issue 17): nslink's DNS server on Deno and Bun against
# dnsmasq and aardvark-dns (bench/dns.ts), then names end to end through the host agent on each
# runtime (bench/dns-agent.ts), each inside its own throw-away namespace (scripts/in-netns.sh);
# every run writes a result file in bench/results/, and docs/benchmarks.md's DNS tables are then
# pointed at the new files and re-rendered (bench/render.ts). About 2 minutes.
#
# Usage (root): bash bench/run-dns.sh [--seconds 5]        (or: deno task bench:dns)
#   NSLBENCH_LABEL="quiet machine, final figures" says what the run was for.
#
# Installs dnsperf, dnsmasq-base and aardvark-dns when missing (apt, before entering the
# namespace: nothing can be downloaded inside); a peer whose package cannot be installed is
# reported as skipped with the reason by bench/dns.ts, never left out silently.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ]; then
  echo "bench/run-dns.sh: must run as root (namespaces, interfaces, port 53)" >&2
  exit 1
fi
SECONDS_ARG=(--seconds 5)
if [ "${1:-}" = "--seconds" ]; then SECONDS_ARG=(--seconds "$2"); fi

if [ ! -x node_modules/.bin/deno ] || [ ! -x node_modules/.bin/bun ]; then
  npm ci --no-audit --no-fund --prefer-offline
fi
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
missing=()
for p in dnsperf dnsmasq-base aardvark-dns; do installed "$p" || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench/run-dns.sh: installing ${missing[*]}" >&2
  apt-get update -q >&2 || true
  for p in "${missing[@]}"; do
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$p" >&2 ||
      echo "bench/run-dns.sh: apt-get install $p failed (its peer is reported as skipped)" >&2
  done
fi
if ! command -v dnsperf >/dev/null; then
  echo "bench/run-dns.sh: dnsperf is required (the load generator of every row)" >&2
  exit 1
fi

DENO=node_modules/.bin/deno
BUN=node_modules/.bin/bun
start=$(date -u +%Y%m%dT%H%M%SZ)
bash scripts/in-netns.sh "$DENO" run -A bench/dns.ts "${SECONDS_ARG[@]}"
bash scripts/in-netns.sh "$DENO" run -A bench/dns-agent.ts "${SECONDS_ARG[@]}"
bash scripts/in-netns.sh "$BUN" bench/dns-agent.ts "${SECONDS_ARG[@]}"

# The newest files of this run, into the markers of docs/benchmarks.md, then render.
newest() {
  local f
  f=$(ls -1 "bench/results/$1"-*.json 2>/dev/null | sort | tail -n 1)
  if [ -z "$f" ] || [[ "$(basename "$f")" < "$1-$start" ]]; then
    echo "bench/run-dns.sh: no new $1 result file" >&2
    exit 1
  fi
  echo "$f"
}
DNS=$(newest dns-all)
AGENT_DENO=$(newest dns-agent-deno)
AGENT_BUN=$(newest dns-agent-bun)
sed -i -E \
  -e "s#^<!-- BENCH:TABLE dns bench/results/[^ ]+ -->#<!-- BENCH:TABLE dns $DNS -->#" \
  -e "s#^<!-- BENCH:TABLE dns-agent bench/results/[^ ]+ bench/results/[^ ]+ -->#<!-- BENCH:TABLE dns-agent $AGENT_DENO $AGENT_BUN -->#" \
  docs/benchmarks.md
"$DENO" run -A bench/render.ts
echo "bench/run-dns.sh: wrote $DNS $AGENT_DENO $AGENT_BUN; docs/benchmarks.md re-rendered" >&2
echo "  commit them: git add bench/results/ docs/benchmarks.md" >&2
