#!/usr/bin/env bash
# Runs a command as "the host" of a throw-away network namespace, with its own mount namespace
# and a fresh tmpfs on /run, so that links, routes, named namespaces (/run/netns), nslink's
# state (/run/nslink) and every mount the command makes vanish with it, even after a crash.
# /etc/netns (where nslink writes a named namespace's resolv.conf, as `ip netns exec` reads it)
# gets a tmpfs too: the machine's /etc is never written (the empty directory is made if missing).
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
  mkdir -p /etc/netns
  mount -t tmpfs -o mode=0755 nslink-etc-netns /etc/netns
  ip link set lo up
  exec "$@"
' in-netns "$@"
