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
  # The command runs as a child, not exec'"'"'d: when it ends, every process still in this sandbox
  # (its network or mount namespace) is killed, so nothing it started outlives it: host agents
  # started on demand, a crashed test'"'"'s etcd or dnsmasq, the simulated hosts'"'"' processes. They
  # would keep the sandbox'"'"'s namespaces, tmpfs and kernel objects alive.
  "$@" <&0 &
  child=$!
  trap "kill -TERM $child 2>/dev/null" TERM INT HUP
  rc=0
  wait "$child" || rc=$?
  # wait returns early when a trapped signal arrives: wait for the command itself to end.
  while kill -0 "$child" 2>/dev/null; do wait "$child" || rc=$?; done
  # State directories with bridge networks still listed (the firewall table of nslink serves them
  # all): a test that leaves one behind fails the run here (its networks deleted, or the directory
  # and its /run/nslink.dirs entry removed, is what a test owes).
  for e in /run/nslink.dirs/*; do
    [ -e "$e" ] || continue
    n=${e##*/}
    d=$(printf "%b" "${n//%/\\x}")
    if [ -d "$d" ]; then
      echo "in-netns.sh: FAILED: a state directory with bridge networks was left in the sandbox: $d" >&2
      [ "$rc" != 0 ] || rc=1
    fi
  done
  net=$(readlink /proc/self/ns/net)
  mnt=$(readlink /proc/self/ns/mnt)
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    [ "$pid" = "$$" ] && continue
    n=$(readlink "$p/ns/net" 2>/dev/null) || continue
    m=$(readlink "$p/ns/mnt" 2>/dev/null) || continue
    if [ "$n" = "$net" ] || [ "$m" = "$mnt" ]; then
      echo "in-netns.sh: ended a process left in the sandbox: $pid $(tr "\0" " " <"$p/cmdline" 2>/dev/null | cut -c1-160)" >&2
      kill -9 "$pid" 2>/dev/null || true
    fi
  done
  exit "$rc"
' in-netns "$@"
