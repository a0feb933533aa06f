#!/usr/bin/env bash
# Runs a command as "the host" of a throw-away network namespace, with its own mount namespace
# and a fresh tmpfs on /run, so that links, routes, named namespaces (/run/netns), nslink's
# state (/run/nslink), /etc/netns, /var/lib/nslink and every mount the command makes vanish with
# it, even after a crash.
# The machine's own links and routes are never visible to the command.
# Usage: scripts/in-netns.sh COMMAND [ARGS...]   (as root)
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
  echo "in-netns.sh: privileged tests need root (network and mount namespaces)" >&2
  exit 1
fi
exec unshare --net --mount --propagation private -- bash -c '
  set -e
  mount -t tmpfs -o mode=0755 nslink-run /run
  # What nslink writes outside /run goes on tmpfs too, never on the machine: per-namespace
  # resolv.conf files (/etc/netns, iproute2'"'"'s convention) and network definitions
  # (/var/lib/nslink). The empty mount points are made once on the machine if missing.
  for d in /etc/netns /var/lib/nslink; do
    mkdir -p "$d"
    mount -t tmpfs -o mode=0755 nslink-sandbox "$d"
  done
  ip link set lo up
  exec "$@"
' in-netns "$@"
