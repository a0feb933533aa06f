#!/usr/bin/env bash
# Installs what nslink's tests need on a fresh Debian machine that has only Node.js, npm and
# iproute2: the apt packages below (as root, only those missing), then Deno, Bun, dax and the
# typings pinned by package-lock.json (`npm ci`). `npm run setup` and .ci/run both call it, so a
# newcomer's `npm test` runs what CI runs.
# Usage: sudo npm run setup   (= bash scripts/setup.sh; SETUP_SKIP_NPM=1 skips `npm ci`)
set -euo pipefail
cd "$(dirname "$0")/.."

# Tools the tests and the demo call: ping (iputils-ping), nsenter/unshare (util-linux),
# nft (nftables) and conntrack; etcd (etcd-server) for the overlay driver's store, started by
# the tests inside their namespace.
missing=()
command -v ip >/dev/null || missing+=(iproute2)
command -v ping >/dev/null || missing+=(iputils-ping)
command -v unshare >/dev/null || missing+=(util-linux)
command -v nsenter >/dev/null || missing+=(util-linux)
# nf_tables tests read rules back with nft, and conntrack entries with conntrack.
command -v nft >/dev/null || missing+=(nftables)
command -v conntrack >/dev/null || missing+=(conntrack)
# The CLI, CNI and podman tests: podman 4.3 with its CNI backend, a busybox for its image, the
# standard CNI plugins (tuning, bandwidth) to chain with, tc to read bandwidth's qdiscs back.
command -v podman >/dev/null || missing+=(podman)
[ -x /bin/busybox ] || missing+=(busybox-static)
[ -x /usr/lib/cni/tuning ] || missing+=(containernetworking-plugins)
command -v tc >/dev/null || missing+=(iproute2)
command -v etcd >/dev/null || missing+=(etcd-server)
# firewalld's D-Bus API: firewalld and a dbus-daemon, both started by the tests inside their
# namespace only (installing starts nothing where PID 1 is not systemd).
command -v firewalld >/dev/null || missing+=(firewalld)
command -v dbus-daemon >/dev/null || missing+=(dbus)
# DNS: dig (bind9-dnsutils) queries nslink's server in the tests, dnsmasq (dnsmasq-base) is their
# fake upstream; openssl makes the CA and certificates of the etcd TLS tests.
command -v dig >/dev/null || missing+=(bind9-dnsutils)
command -v dnsmasq >/dev/null || missing+=(dnsmasq-base)
command -v openssl >/dev/null || missing+=(openssl)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: needs root to install ${missing[*]}: sudo npm run setup" >&2
    exit 1
  fi
  echo "setup: apt-get install ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # firewalld must never run on the machine itself (it would firewall it): where PID 1 is
  # systemd, installing it would start it. A policy-rc.d that refuses every start (Debian's
  # mechanism) keeps it stopped while installing, and it is disabled for later boots.
  policy=
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    policy=1
  fi
  apt-get install -y -qq "${missing[@]}"
  [ -z "$policy" ] || rm -f /usr/sbin/policy-rc.d
  if [ -d /run/systemd/system ] && command -v firewalld >/dev/null; then
    systemctl disable firewalld >/dev/null 2>&1 || true
  fi
else
  echo "setup: every apt package the tests need is installed" >&2
fi

# Deno, Bun, dax and the typings, pinned by package-lock.json.
if [ "${SETUP_SKIP_NPM:-}" != 1 ]; then npm ci --no-audit --no-fund; fi
