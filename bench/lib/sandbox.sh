# The benchmarks' sandbox, sourced by bench/run.sh, bench/all.sh and bench/bisect.sh (not run
# itself): `nslbench_sandbox COMMAND [ARGS...]` runs COMMAND, in the current directory, as "the
# host" of a throw-away network namespace and a private mount namespace: a tmpfs on /run (so
# /run/netns, nslink's, CNI's and netavark's state vanish with it), tmpfs on /etc/netns and
# /var/lib/nslink (what nslink writes outside /run, as in scripts/in-netns.sh), and a sysfs of the
# new namespace on /sys. bench/main.ts refuses to run outside exactly this: NSLBENCH_OUTER_NETNS
# names the namespace it started from, /run/nslbench/.private marks the private /run. Root only.
nslbench_sandbox() {
  NSLBENCH_OUTER_NETNS=$(readlink /proc/self/ns/net) unshare --net --mount -- bash -c '
    set -euo pipefail
    mount --make-rprivate /
    mount -t tmpfs -o mode=0755 nslbench-run /run
    for d in /etc/netns /var/lib/nslink; do
      mkdir -p "$d"
      mount -t tmpfs -o mode=0755 nslbench-sandbox "$d"
    done
    mount -t sysfs sysfs /sys
    mkdir -p /run/nslbench /run/netns
    touch /run/nslbench/.private
    exec "$@"
  ' nslbench "$@"
}
