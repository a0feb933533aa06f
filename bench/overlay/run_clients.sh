#!/usr/bin/env bash
# Runs bench/overlay/etcd_clients.ts on Deno and on Bun against one etcd started inside a
# throw-away network namespace. Installs the npm `etcd3` package (the gRPC alternative, not a
# dependency of nslink) into a temporary directory first, while the network is reachable.
# Usage (root): bash bench/overlay/run_clients.sh [--n 300]
set -euo pipefail
cd "$(dirname "$0")/../.."
export PATH="$PWD/node_modules/.bin:$PATH"
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && npm init -y >/dev/null && npm install --no-audit --no-fund etcd3@1.1.2 >/dev/null 2>&1) ||
  echo "could not install etcd3: comparing nslink's client only" >&2
E3="$TMP/node_modules/etcd3/lib/index.js"
[ -f "$E3" ] || E3=""
exec unshare --net -- bash -c '
  set -e
  ip link set lo up
  D=$(mktemp -d)
  etcd --data-dir "$D" --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --log-level error >/dev/null 2>&1 &
  P=$!
  trap "kill $P; wait $P 2>/dev/null || true; rm -rf $D" EXIT
  for i in $(seq 100); do curl -sf -X POST http://127.0.0.1:2379/v3/kv/range -d "{\"key\":\"AA==\"}" >/dev/null 2>&1 && break; sleep 0.1; done
  E3ARGS=()
  [ -n "$0" ] && E3ARGS=(--etcd3 "$0")
  deno run -A bench/overlay/etcd_clients.ts "${E3ARGS[@]}" "$@"
  bun bench/overlay/etcd_clients.ts "${E3ARGS[@]}" "$@"
' "$E3" "$@"
