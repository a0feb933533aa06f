// Command gonl is the Go peer of the nslink benchmark, using vishvananda/netlink and
// vishvananda/netns as packaged by Debian 12 (built offline with GO111MODULE=off).
//
// Usage:
//
//	gonl -variant classic|fast -n 50 -tag gnc [-steps]
//
// classic (how CNI plugins do it): per container, create a named namespace (netns.NewNamed:
// unshare + bind mount at /run/netns/NAME, then switch back), create the veth pair in the host
// namespace, enslave and up the host end, move the peer into the namespace, then switch the OS
// thread into the namespace (netns.Set) and use the package-level netlink functions (a fresh
// netlink socket per call) to rename it to eth0, set MAC and MTU, add addresses (IPv6 nodad),
// bring lo and eth0 up and add the default routes. Teardown: delete the host veth, then the
// namespace (unmount + unlink).
//
// fast: per container, create the named namespace, open one netlink handle in it
// (netlink.NewHandleAt), create the veth from a long-lived host handle with the container end
// created directly in the namespace (PeerNamespace: NsFd, PeerName: eth0, MAC and MTU set at
// creation, host end created up and then enslaved), configure through the namespace handle, close
// it. Teardown: delete all the namespaces (unmount + unlink), then wait until every host-side
// veth has disappeared (the kernel destroys them asynchronously); the wait is inside the timed
// teardown phase.
//
// Protocol: after setup it prints {"event":"ready"} and reads one line from stdin ("ok" means the
// orchestrator verified the last container); at the end it prints one JSON result line.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

const (
	bridge = "nslbr0"
	gw4    = "198.51.100.1"
	gw6    = "2001:db8:bb::1"
	mtu    = 1500
)

// Naming and addressing: keep in sync with bench/lib/workload.ts.
func nsName(tag string, i int) string   { return fmt.Sprintf("nsl-%s-%d", tag, i) }
func hostVeth(tag string, i int) string { return fmt.Sprintf("v%s%d", tag, i) }
func tmpVeth(tag string, i int) string  { return fmt.Sprintf("c%s%d", tag, i) }
func ipv4(i int) string                 { return fmt.Sprintf("198.51.100.%d", 10+i) }
func ipv6(i int) string                 { return fmt.Sprintf("2001:db8:bb::%d", 10+i) }
func mac(i int) net.HardwareAddr {
	// 02:42:c6:33:64:XX for the first 246 containers, then the fifth byte counts on.
	v := 100*256 + 10 + i
	return net.HardwareAddr{0x02, 0x42, 198, 51, byte(v >> 8), byte(v)}
}

// ipv6Only leaves IPv4 out of the workload (the scaling sweep: the IPv4 test ranges hold 2 x 254
// addresses, not 1,000); set by -ipv6only.
var ipv6Only bool

type result struct {
	Peer       string  `json:"peer"`
	N          int     `json:"n"`
	SetupMs    float64 `json:"setupMs"`
	TeardownMs float64 `json:"teardownMs"`
	// TeardownCallsMs: until the last delete returned, before waiting for the kernel.
	TeardownCallsMs float64 `json:"teardownCallsMs"`
	Verified        bool    `json:"verified"`
	RssKb           int64   `json:"rssKb,omitempty"`
	// SetupCpuMs: CPU time of the setup phase (user + system, every thread: RUSAGE_SELF).
	SetupCpuMs float64            `json:"setupCpuMs"`
	StepsMs    map[string]float64 `json:"stepsMs,omitempty"`
}

// steps accumulates per-step wall time when enabled.
type steps struct {
	on     bool
	totals map[string]float64
}

func (s *steps) time(name string, fn func() error) error {
	if !s.on {
		return fn()
	}
	t0 := time.Now()
	err := fn()
	s.totals[name] += float64(time.Since(t0).Microseconds()) / 1000
	return err
}

func must(err error, what string) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "gonl: %s: %v\n", what, err)
		os.Exit(1)
	}
}

func mustAddr(cidr string, flags int) *netlink.Addr {
	a, err := netlink.ParseAddr(cidr)
	must(err, "parse "+cidr)
	a.Flags = flags
	return a
}

func defaultRoute(link netlink.Link, gw string, v6 bool) *netlink.Route {
	_, dst, _ := net.ParseCIDR("0.0.0.0/0")
	if v6 {
		_, dst, _ = net.ParseCIDR("::/0")
	}
	return &netlink.Route{LinkIndex: link.Attrs().Index, Dst: dst, Gw: net.ParseIP(gw)}
}

// newNamed creates a named namespace and returns to the original one; the OS thread is locked.
func newNamed(origin netns.NsHandle, name string) netns.NsHandle {
	ns, err := netns.NewNamed(name)
	must(err, "netns "+name)
	must(netns.Set(origin), "return to host netns")
	return ns
}

func setupClassic(st *steps, origin netns.NsHandle, br netlink.Link, tag string, i int) {
	var ns netns.NsHandle
	st.time("netns-add", func() error { ns = newNamed(origin, nsName(tag, i)); return nil })
	defer ns.Close()
	h, c := hostVeth(tag, i), tmpVeth(tag, i)
	must(st.time("veth-add", func() error {
		return netlink.LinkAdd(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: h}, PeerName: c})
	}), "veth add")
	must(st.time("host-end", func() error {
		host, err := netlink.LinkByName(h)
		if err != nil {
			return err
		}
		if err := netlink.LinkSetMaster(host, br); err != nil {
			return err
		}
		return netlink.LinkSetUp(host)
	}), "host end")
	must(st.time("move", func() error {
		peer, err := netlink.LinkByName(c)
		if err != nil {
			return err
		}
		return netlink.LinkSetNsFd(peer, int(ns))
	}), "move")
	must(netns.Set(ns), "enter ns")
	must(st.time("configure", func() error {
		l, err := netlink.LinkByName(c)
		if err != nil {
			return err
		}
		if err := netlink.LinkSetName(l, "eth0"); err != nil {
			return err
		}
		if err := netlink.LinkSetHardwareAddr(l, mac(i)); err != nil {
			return err
		}
		if err := netlink.LinkSetMTU(l, mtu); err != nil {
			return err
		}
		if err := netlink.AddrAdd(l, mustAddr(ipv4(i)+"/24", 0)); err != nil {
			return err
		}
		if err := netlink.AddrAdd(l, mustAddr(ipv6(i)+"/64", unix.IFA_F_NODAD)); err != nil {
			return err
		}
		lo, err := netlink.LinkByName("lo")
		if err != nil {
			return err
		}
		if err := netlink.LinkSetUp(lo); err != nil {
			return err
		}
		if err := netlink.LinkSetUp(l); err != nil {
			return err
		}
		if err := netlink.RouteAdd(defaultRoute(l, gw4, false)); err != nil {
			return err
		}
		return netlink.RouteAdd(defaultRoute(l, gw6, true))
	}), "configure")
	must(netns.Set(origin), "leave ns")
}

func setupFast(st *steps, origin netns.NsHandle, host *netlink.Handle, br netlink.Link, tag string, i int) {
	var ns netns.NsHandle
	st.time("netns-add", func() error { ns = newNamed(origin, nsName(tag, i)); return nil })
	defer ns.Close()
	var nh *netlink.Handle
	must(st.time("handle-at", func() (err error) { nh, err = netlink.NewHandleAt(ns); return }), "handle")
	defer nh.Delete()
	must(st.time("veth-add", func() error {
		return host.LinkAdd(&netlink.Veth{
			LinkAttrs: netlink.LinkAttrs{
				Name: hostVeth(tag, i), MTU: mtu, MasterIndex: br.Attrs().Index, Flags: net.FlagUp,
			},
			PeerName:         "eth0",
			PeerHardwareAddr: mac(i),
			PeerNamespace:    netlink.NsFd(ns),
		})
	}), "veth add")
	must(st.time("configure", func() error {
		l, err := nh.LinkByName("eth0")
		if err != nil {
			return err
		}
		if !ipv6Only {
			if err := nh.AddrAdd(l, mustAddr(ipv4(i)+"/24", 0)); err != nil {
				return err
			}
		}
		if err := nh.AddrAdd(l, mustAddr(ipv6(i)+"/64", unix.IFA_F_NODAD)); err != nil {
			return err
		}
		lo, err := nh.LinkByName("lo")
		if err != nil {
			return err
		}
		if err := nh.LinkSetUp(lo); err != nil {
			return err
		}
		if err := nh.LinkSetUp(l); err != nil {
			return err
		}
		if !ipv6Only {
			if err := nh.RouteAdd(defaultRoute(l, gw4, false)); err != nil {
				return err
			}
		}
		return nh.RouteAdd(defaultRoute(l, gw6, true))
	}), "configure")
}

// waitHostVethsGone polls until no link named v<tag><digits> is left in the host namespace.
func waitHostVethsGone(host *netlink.Handle, tag string) {
	prefix := "v" + tag
	deadline := time.Now().Add(30 * time.Second)
	for {
		links, err := host.LinkList()
		must(err, "link list")
		left := 0
		for _, l := range links {
			name := l.Attrs().Name
			if strings.HasPrefix(name, prefix) && strings.Trim(name[len(prefix):], "0123456789") == "" {
				left++
			}
		}
		if left == 0 {
			return
		}
		if time.Now().After(deadline) {
			must(fmt.Errorf("%d host veths still present", left), "teardown wait")
		}
		time.Sleep(time.Millisecond)
	}
}

// cpuMs is the process's CPU time so far (user + system, every thread), in milliseconds.
func cpuMs() float64 {
	var ru unix.Rusage
	must(unix.Getrusage(unix.RUSAGE_SELF, &ru), "getrusage")
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e6
}

// peakRssKb reads VmHWM from /proc/self/status (getrusage's ru_maxrss is not used: Linux carries
// the spawning parent's high-water mark across fork+execve into it).
func peakRssKb() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmHWM:") {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(line[6:]), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}

func main() {
	variant := flag.String("variant", "classic", "classic or fast")
	n := flag.Int("n", 50, "number of containers")
	tag := flag.String("tag", "", "peer tag used in names")
	stepsOn := flag.Bool("steps", false, "report per-step totals")
	flag.BoolVar(&ipv6Only, "ipv6only", false, "leave IPv4 out (fast variant only)")
	flag.Parse()
	if *variant != "classic" && *variant != "fast" {
		must(fmt.Errorf("bad -variant %q", *variant), "args")
	}
	maxN := 200
	if ipv6Only {
		maxN = 1000
	}
	if *tag == "" || *n < 1 || *n > maxN || (ipv6Only && *variant != "fast") {
		must(fmt.Errorf("need -tag and 1 <= -n <= %d (-ipv6only: fast only)", maxN), "args")
	}
	st := &steps{on: *stepsOn, totals: map[string]float64{}}

	// Every namespace switch happens on this one locked OS thread.
	runtime.LockOSThread()
	origin, err := netns.Get()
	must(err, "get host netns")
	host, err := netlink.NewHandle()
	must(err, "host handle")
	br, err := host.LinkByName(bridge)
	must(err, "bridge")

	t0 := time.Now()
	cpu0 := cpuMs()
	for i := 0; i < *n; i++ {
		if *variant == "classic" {
			setupClassic(st, origin, br, *tag, i)
		} else {
			setupFast(st, origin, host, br, *tag, i)
		}
	}
	setupMs := float64(time.Since(t0).Microseconds()) / 1000
	setupCpuMs := cpuMs() - cpu0

	fmt.Println(`{"event":"ready"}`)
	line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	verified := strings.TrimSpace(line) == "ok"
	if !verified {
		fmt.Fprintf(os.Stderr, "verification: %s\n", strings.TrimSpace(line))
	}

	t1 := time.Now()
	callsMs := 0.0
	if *variant == "classic" {
		for i := 0; i < *n; i++ {
			must(st.time("veth-del", func() error {
				l, err := netlink.LinkByName(hostVeth(*tag, i))
				if err != nil {
					return err
				}
				return netlink.LinkDel(l)
			}), "veth del")
			must(st.time("netns-del", func() error { return netns.DeleteNamed(nsName(*tag, i)) }), "netns del")
		}
	} else {
		for i := 0; i < *n; i++ {
			must(st.time("netns-del", func() error { return netns.DeleteNamed(nsName(*tag, i)) }), "netns del")
		}
		callsMs = float64(time.Since(t1).Microseconds()) / 1000
		st.time("wait-veths-gone", func() error { waitHostVethsGone(host, *tag); return nil })
	}
	teardownMs := float64(time.Since(t1).Microseconds()) / 1000
	if callsMs == 0 {
		callsMs = teardownMs
	}

	res := result{
		Peer: "go-netlink-" + *variant, N: *n, SetupMs: setupMs, TeardownMs: teardownMs,
		TeardownCallsMs: callsMs, SetupCpuMs: setupCpuMs,
		Verified: verified, RssKb: peakRssKb(),
	}
	if st.on {
		res.StepsMs = st.totals
	}
	out, _ := json.Marshal(res)
	fmt.Println(string(out))
}
