#!/usr/bin/env bash
# What nslink's tests and benchmarks could leave on the machine itself (outside their throw-away
# namespaces), one line per object, sorted, so that two snapshots compare with diff:
#   - the machine's named network namespaces, links and nsfs mounts;
#   - the contents of /etc/netns, /var/lib/nslink, /run/nslink*, /run/nslink.dirs, /run/netns and
#     /var/run/netns (nslink's state, per-namespace resolv.conf files, network definitions);
#   - the tests' and benches' temporary files in the machine's /tmp (/tmp/nsl*, names only);
#   - processes of ours that escaped into the machine's network or mount namespace (a host agent,
#     etcd, dnsmasq, aardvark-dns, firewalld, the nslink executable), and any process anywhere whose
#     command line names this checkout (a host agent outliving its sandbox keeps it alive).
# The sandboxes (scripts/in-netns.sh, bench/run.sh, bench/all.sh) mount tmpfs on those directories
# and end what was left in them, so after a run nothing new may show here.
#
#   bash scripts/machine-snapshot.sh >BEFORE          # a snapshot
#   bash scripts/machine-snapshot.sh --since BEFORE   # exit 1 naming what is new since BEFORE
#
# Run it in the machine's own namespaces (not inside a sandbox).
set -uo pipefail
export LC_ALL=C
ROOT=$(cd "$(dirname "$0")/.." && pwd)

ppid() { # ppid PID: its parent (the stat fields after the command name, which may hold spaces)
  local st
  st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  st=${st##*) }
  echo "${st#* }" | cut -d' ' -f1
}

mine() { # mine PID: whether PID is this script or runs under it (its own subshells)
  local p=$1 n=0
  while [ -n "$p" ] && [ "$p" -gt 1 ] && [ $n -lt 64 ]; do
    [ "$p" = "$$" ] && return 0
    p=$(ppid "$p") || return 1
    n=$((n + 1))
  done
  return 1
}

snapshot() {
  ip netns list 2>/dev/null | awk '{print "named namespace: " $1}'
  ip -o link show 2>/dev/null | awk -F': ' '{sub(/@.*/, "", $2); print "link: " $2}'
  echo "nsfs mounts: $(grep -c ' nsfs ' /proc/self/mountinfo)"
  local d
  for d in /etc/netns /var/lib/nslink /run/nslink /run/nslink-* /run/nslink.* /run/netns /var/run/netns; do
    [ -e "$d" ] || continue
    # /run/netns's entries are the named namespaces (listed above with their mounts); a file under
    # them is still worth naming. -xdev: never descend into a namespace's nsfs mount.
    find "$d" -mindepth 1 -xdev 2>/dev/null | sed 's/^/file: /'
    case $d in /run/nslink-* | /run/nslink.* | /run/nslink) echo "file: $d" ;; esac
  done
  # Temporary files of tests and benches in the machine's /tmp (state directories `nsl-net-*` and
  # their definitions `nsl-net-*.config`, etcd data `nslink-etcd-*`, …): top-level names only.
  for d in /tmp/nsl*; do [ -e "$d" ] && echo "temp: $d"; done
  # Processes: ours, by name, in the machine's network or mount namespace; or naming this checkout.
  local net mnt self p pid n m comm cmd ancestors=" "
  net=$(readlink /proc/self/ns/net)
  mnt=$(readlink /proc/self/ns/mnt)
  self=$$
  while [ -n "$self" ] && [ "$self" != 0 ]; do
    ancestors+="$self "
    self=$(ppid "$self") || break
  done
  for p in /proc/[0-9]*; do
    pid=${p#/proc/}
    [[ "$ancestors" == *" $pid "* ]] && continue
    mine "$pid" && continue
    cmd=$({ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null) || continue
    [ -n "$cmd" ] || continue
    comm=$(cat "$p/comm" 2>/dev/null) || continue
    n=$(readlink "$p/ns/net" 2>/dev/null) || continue
    m=$(readlink "$p/ns/mnt" 2>/dev/null) || continue
    if [[ "$cmd" == *"$ROOT/"* ]] ||
      { { [ "$n" = "$net" ] || [ "$m" = "$mnt" ]; } &&
        { [[ "$comm" =~ ^(etcd|dnsmasq|aardvark-dns|firewalld|nslink)$ ]] ||
          [[ "$cmd" =~ (cli/main\.ts|nslink)\ agent ]]; }; }; then
      echo "process: $pid $(cut -c1-160 <<<"$cmd")"
    fi
  done
}

if [ "${1:-}" = --since ]; then
  before=$2
  now=$(snapshot | sort)
  new=$(comm -13 "$before" <(echo "$now"))
  gone=$(comm -23 "$before" <(echo "$now") | grep -vE '^(process|temp): ' || true)
  if [ -z "$new" ] && [ -z "$gone" ]; then exit 0; fi
  [ -n "$new" ] && echo "Left behind on the machine (new since the run started):" && sed 's/^/  + /' <<<"$new"
  [ -n "$gone" ] && echo "Removed from the machine during the run:" && sed 's/^/  - /' <<<"$gone"
  exit 1
fi
snapshot | sort
