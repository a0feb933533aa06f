"""Peer `pyroute2`: Debian's python3-pyroute2 (0.7.x), run with /usr/bin/python3.

One process does all N containers, the classic way: pyroute2.netns.create (pyroute2 forks a
helper that unshares and bind-mounts /run/netns/NAME), veth pair created in the host namespace
through one long-lived IPRoute, host end enslaved and up, peer moved into the namespace, then
configured in the namespace: rename to eth0 + MAC + MTU, IPv4 address, IPv6 address (nodad),
lo and eth0 up, default routes.

In-namespace access (--mode):
  netns  (default) a pyroute2 NetNS object per container: pyroute2's documented API for
         namespaces, which forks a proxy process living in the namespace;
  pushns pyroute2.netns.pushns/popns around IPRoute(): the socket is opened inside the
         namespace by the main thread, no proxy process.
Teardown: delete the host veth (removes both ends synchronously), then pyroute2.netns.remove.

Protocol: after setup print {"event":"ready"}, read one line ("ok" = verified), print one JSON
result line. Usage: /usr/bin/python3 bench/peers/pyroute2_peer.py --n 50 --tag pyr [--steps]
[--mode netns|pushns]. Naming and addressing: keep in sync with bench/lib/workload.ts.
"""
import argparse
import json
import sys
import time
from collections import defaultdict
from contextlib import contextmanager

from pyroute2 import IPRoute, NetNS
from pyroute2 import netns as prnetns

BRIDGE = "nslbr0"
GW4 = "198.51.100.1"
GW6 = "2001:db8:bb::1"
MTU = 1500
IFA_F_NODAD = 0x02


def ns_name(tag, i):
    return f"nsl-{tag}-{i}"


def host_veth(tag, i):
    return f"v{tag}{i}"


def tmp_veth(tag, i):
    return f"c{tag}{i}"


def ipv4(i):
    return f"198.51.100.{10 + i}"


def ipv6(i):
    return f"2001:db8:bb::{10 + i}"


def mac(i):
    return "02:42:c6:33:64:%02x" % (10 + i)


class Steps:
    """Per-step wall-time totals, only when enabled."""

    def __init__(self, on):
        self.on = on
        self.totals = defaultdict(float)

    @contextmanager
    def time(self, name):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            if self.on:
                self.totals[name] += (time.perf_counter() - t0) * 1000


def open_ns(mode, name):
    """An rtnetlink object bound to namespace `name`."""
    if mode == "netns":
        return NetNS(name, flags=0)
    prnetns.pushns(name)
    try:
        return IPRoute()
    finally:
        prnetns.popns()


def peak_rss_kb():
    """VmHWM of this process (ru_maxrss would include the spawning parent's pre-exec peak)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--tag", required=True)
    ap.add_argument("--steps", action="store_true")
    ap.add_argument("--mode", choices=["netns", "pushns"], default="netns")
    a = ap.parse_args()
    st = Steps(a.steps)

    t0 = time.perf_counter()
    ipr = IPRoute()
    br = ipr.link_lookup(ifname=BRIDGE)[0]
    for i in range(a.n):
        name, v, c = ns_name(a.tag, i), host_veth(a.tag, i), tmp_veth(a.tag, i)
        with st.time("netns-add"):
            prnetns.create(name)
        with st.time("veth-add"):
            ipr.link("add", ifname=v, kind="veth", peer=c)
        with st.time("host-end"):
            hidx = ipr.link_lookup(ifname=v)[0]
            ipr.link("set", index=hidx, master=br, state="up")
        with st.time("move"):
            cidx = ipr.link_lookup(ifname=c)[0]
            ipr.link("set", index=cidx, net_ns_fd=name)
        with st.time("open-ns"):
            ns = open_ns(a.mode, name)
        try:
            with st.time("configure"):
                idx = ns.link_lookup(ifname=c)[0]
                ns.link("set", index=idx, ifname="eth0", address=mac(i), mtu=MTU)
                ns.addr("add", index=idx, address=ipv4(i), prefixlen=24)
                ns.addr("add", index=idx, address=ipv6(i), prefixlen=64, flags=IFA_F_NODAD)
                ns.link("set", index=ns.link_lookup(ifname="lo")[0], state="up")
                ns.link("set", index=idx, state="up")
                ns.route("add", dst="0.0.0.0/0", gateway=GW4)
                ns.route("add", dst="::/0", gateway=GW6)
        finally:
            with st.time("close-ns"):
                ns.close()
    setup_ms = (time.perf_counter() - t0) * 1000

    print(json.dumps({"event": "ready"}), flush=True)
    answer = sys.stdin.readline().strip()
    verified = answer == "ok"
    if not verified:
        print(f"verification: {answer or 'no answer'}", file=sys.stderr)

    t1 = time.perf_counter()
    for i in range(a.n):
        with st.time("veth-del"):
            ipr.link("del", index=ipr.link_lookup(ifname=host_veth(a.tag, i))[0])
        with st.time("netns-del"):
            prnetns.remove(ns_name(a.tag, i))
    teardown_ms = (time.perf_counter() - t1) * 1000
    ipr.close()

    res = {
        "peer": "pyroute2" if a.mode == "netns" else "pyroute2-pushns",
        "n": a.n,
        "setupMs": round(setup_ms, 3),
        "teardownMs": round(teardown_ms, 3),
        "verified": verified,
        "rssKb": peak_rss_kb(),
    }
    if a.steps:
        res["stepsMs"] = {k: round(v, 3) for k, v in st.totals.items()}
    print(json.dumps(res), flush=True)


if __name__ == "__main__":
    main()
