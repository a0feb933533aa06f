/**
 * Benchmark orchestrator: per-container network setup/teardown across peers.
 *
 * Must run inside the throw-away namespaces made by `bench/run.sh` (private network namespace
 * acting as "the host", private mount namespace with a tmpfs on /run); it refuses to run
 * otherwise. It creates the bridge once, runs every enabled peer `--reps` times (interleaved:
 * rep 1 of every peer, then rep 2, ...), verifies the first, middle and last container of each
 * run while the peer waits, checks that nothing of the peer is left afterwards, prints one table
 * and writes the same data as JSON. With `--sweep N,N,…` it does that at each container count
 * (IPv6-only workload, fast peers) and draws bench/scaling.svg (`lib/plot.ts`).
 *
 * Usage: deno run -A bench/main.ts [--n 50] [--reps 3] [--peers a,b,c]
 *   [--json bench/out/results.json] [--steps] [--timeout 600] [--ipv6-only] [--label TEXT]
 *   [--sweep 10,30,100,300,1000] [--svg bench/scaling.svg]
 *
 * @module
 */
import { run } from "./lib/spawn.ts";
import { backlogNote, type OmittedPoint, scalingPlot, type SweepPoint } from "./lib/plot.ts";
import type { PeerResult } from "./lib/peer.ts";
import { finishResult, startResult } from "./lib/results.ts";
import {
  BRIDGE,
  GW4,
  GW6,
  ipv4,
  ipv6,
  KEEPER,
  KEEPER_PEER,
  mac,
  MAX_N,
  MAX_N_IPV6,
  MTU,
  nsName,
  PREFIX4,
  PREFIX6,
} from "./lib/workload.ts";

/** Which Go netlink variant a peer is compared with. */
type Variant = "classic" | "fast";

/** A peer known to the orchestrator. */
interface PeerDef {
  /** Name in the table and in `--peers`. */
  name: string;
  /** Short tag used in namespace and interface names (1-5 chars). */
  tag: string;
  /** Go netlink variant used as the reference for this peer. */
  variant: Variant;
  /** Command line without the common `--n N --tag TAG [--steps]` arguments. */
  cmd: string[];
  /** Files that must exist for the peer to run. */
  needs: string[];
  /** Why the peer cannot run, if it cannot. */
  disabled?: string;
  /** Runs only when named in `--peers` (not in a run of every peer). */
  optIn?: boolean;
}

/** Per-peer outcome across all reps. */
interface PeerOutcome {
  peer: string;
  variant: Variant;
  status: "ok" | "failed" | "skipped" | "disabled";
  reason?: string;
  runs: PeerResult[];
  /** Notes such as lingering interfaces after teardown. */
  warnings: string[];
  /** What the verifier saw, per rep (run). */
  verification: (VerifyReport & { rep: number })[];
  setupMsPerContainer?: number;
  /** Teardown until the kernel has removed everything (host veths gone). */
  teardownMsPerContainer?: number;
  /** Teardown until the peer's last delete call returned (before any wait for the kernel). */
  teardownCallsMsPerContainer?: number;
  /** Per-step medians, ms per container. */
  stepsMsPerContainer?: Record<string, number>;
  teardownCallsVsGo?: number;
  rssKb?: number;
  setupVsIpBatch?: number;
  teardownVsIpBatch?: number;
  goReference?: string;
  setupVsGo?: number;
  teardownVsGo?: number;
  /** CPU time of the setup (user + system, every thread of the peer), ms per container. */
  setupCpuMsPerContainer?: number;
  setupCpuVsGo?: number;
}

/** Parsed command line. */
interface Options {
  n: number;
  reps: number;
  peers: string[] | null;
  json: string;
  steps: boolean;
  timeoutS: number;
  /** Leave IPv4 out of the workload (the scaling sweep; fast peers only). */
  ipv6Only: boolean;
  /** Container counts for the scaling sweep (`--sweep 10,30,…`); none for a normal run. */
  sweep: number[];
  /** Where the sweep writes its SVG plot. */
  svg: string;
  /** What the run is for, recorded in the result file (default: `NSLBENCH_LABEL`). */
  label?: string;
}

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const DENO = Deno.execPath();
const BUN = `${ROOT}/node_modules/.bin/bun`;
const PY = "/usr/bin/python3";
const GONL = `${ROOT}/bench/.build/gonl`;
const NSLINK_PEER = `${ROOT}/bench/peers/nslink.ts`;
const NSLINK_MISSING = "nslink peer not yet implemented";
/** Marker created by run.sh inside the private tmpfs on /run. */
const PRIVATE_MARKER = "/run/nslbench/.private";

/** Every peer, in table order. */
const PEERS: PeerDef[] = [
  {
    name: "ip",
    tag: "ip",
    variant: "classic",
    needs: ["/usr/sbin/ip"],
    cmd: denoPeer("ip.ts", "--mode", "single"),
  },
  {
    name: "ip-batch",
    tag: "ipb",
    variant: "classic",
    needs: ["/usr/sbin/ip"],
    cmd: denoPeer("ip.ts", "--mode", "batch"),
  },
  {
    name: "cni-bridge",
    tag: "cni",
    variant: "classic",
    needs: ["/usr/lib/cni/bridge", "/usr/lib/cni/host-local", "/usr/lib/cni/loopback"],
    cmd: denoPeer("cni.ts"),
  },
  {
    name: "netavark",
    tag: "nva",
    variant: "classic",
    needs: ["/usr/lib/podman/netavark", "/usr/sbin/iptables"],
    cmd: denoPeer("netavark.ts"),
  },
  {
    name: "pyroute2",
    tag: "pyr",
    variant: "classic",
    needs: [PY, "/usr/lib/python3/dist-packages/pyroute2"],
    cmd: [PY, `${ROOT}/bench/peers/pyroute2_peer.py`, "--mode", "netns"],
  },
  {
    name: "go-netlink-classic",
    tag: "gnc",
    variant: "classic",
    needs: [GONL],
    cmd: [GONL, "-variant", "classic"],
  },
  {
    name: "go-netlink-fast",
    tag: "gnf",
    variant: "fast",
    needs: [GONL],
    cmd: [GONL, "-variant", "fast"],
  },
  ...nslinkPeers(),
];

/** `deno run -A bench/peers/FILE extra...`. */
function denoPeer(file: string, ...extra: string[]): string[] {
  return [DENO, "run", "-A", `${ROOT}/bench/peers/${file}`, ...extra];
}

/**
 * The nslink peers (written by the lead against the library API): one script,
 * bench/peers/nslink.ts, run under Deno and Bun with `--variant seed|fast|floor` (the floor: the
 * fast path's requests through nslink's lower layers only, compared with Go's; spare: the fast
 * variant with the spare-namespace worker started before the timer, only when named in
 * `--peers`). They stay disabled until that file exists.
 */
function nslinkPeers(): PeerDef[] {
  const defs: PeerDef[] = [];
  const tags = { seed: "ns", fast: "nf", spare: "np", floor: "nl" };
  for (const variant of ["seed", "fast", "spare", "floor"] as const) {
    for (const rt of ["deno", "bun"] as const) {
      const cmd = rt === "deno"
        ? [DENO, "run", "-A", NSLINK_PEER, "--variant", variant, "--runtime", rt]
        : [BUN, NSLINK_PEER, "--variant", variant, "--runtime", rt];
      defs.push({
        name: `nslink-${variant}-${rt}`,
        tag: `${tags[variant]}${rt[0]}`,
        variant: variant === "seed" ? "classic" : "fast",
        needs: rt === "bun" ? [NSLINK_PEER, BUN] : [NSLINK_PEER],
        cmd,
        ...(variant === "spare" ? { optIn: true } : {}),
      });
    }
  }
  return defs;
}

function parseOptions(argv: string[]): Options {
  const o: Options = {
    n: 50,
    reps: 3,
    peers: null,
    json: `${ROOT}/bench/out/results.json`,
    steps: false,
    timeoutS: 600,
    ipv6Only: false,
    sweep: [],
    svg: `${ROOT}/bench/scaling.svg`,
  };
  for (let k = 0; k < argv.length; k++) {
    const a = argv[k];
    const next = () => {
      if (k + 1 >= argv.length) throw new Error(`${a} needs a value`);
      return argv[++k];
    };
    if (a === "--n") o.n = Number(next());
    else if (a === "--reps") o.reps = Number(next());
    else if (a === "--peers") o.peers = next().split(",").map((s) => s.trim()).filter(Boolean);
    else if (a === "--json") o.json = next();
    else if (a === "--steps") o.steps = true;
    else if (a === "--timeout") o.timeoutS = Number(next());
    else if (a === "--ipv6-only") o.ipv6Only = true;
    else if (a === "--sweep") o.sweep = next().split(",").map(Number);
    else if (a === "--svg") o.svg = next();
    else if (a === "--label") o.label = next();
    else throw new Error(`unknown argument ${a}`);
  }
  if (o.sweep.length) o.ipv6Only = true;
  const max = o.ipv6Only ? MAX_N_IPV6 : MAX_N;
  for (const n of [o.n, ...o.sweep]) {
    if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`--n/--sweep must be 1..${max}`);
  }
  if (!Number.isInteger(o.reps) || o.reps < 1) throw new Error("--reps must be >= 1");
  if (o.peers) {
    const known = new Set(PEERS.map((p) => p.name));
    for (const p of o.peers) if (!known.has(p)) throw new Error(`unknown peer ${p}`);
  }
  return o;
}

/**
 * Refuses to run unless we are in a fresh private network namespace (only `lo`, and not the
 * namespace run.sh started from, passed as NSLBENCH_OUTER_NETNS) with a private /run.
 */
async function assertSandboxed(): Promise<void> {
  const own = Deno.readLinkSync("/proc/thread-self/ns/net");
  const outer = Deno.env.get("NSLBENCH_OUTER_NETNS");
  if (!outer || outer === own) {
    throw new Error("refusing to run in the machine's network namespace: use bash bench/run.sh");
  }
  const links = JSON.parse((await run("ip", ["-j", "link", "show"])).stdout) as {
    ifname: string;
  }[];
  const names = links.map((l) => l.ifname);
  if (names.length !== 1 || names[0] !== "lo") {
    throw new Error(`refusing to run: this network namespace is not fresh (${names.join(" ")})`);
  }
  try {
    Deno.statSync(PRIVATE_MARKER);
  } catch {
    throw new Error(`no ${PRIVATE_MARKER}: /run is not the private tmpfs; use bash bench/run.sh`);
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Skip reasons recorded by run.sh (`peer<TAB>reason` lines). */
function readSkips(): Map<string, string> {
  const skips = new Map<string, string>();
  const file = `${ROOT}/bench/.build/skipped.tsv`;
  if (!exists(file)) return skips;
  for (const line of Deno.readTextFileSync(file).split("\n")) {
    const [peer, ...reason] = line.split("\t");
    if (peer) skips.set(peer, reason.join(" "));
  }
  return skips;
}

const ip = (...args: string[]) => run("ip", args);

async function createBridge(): Promise<void> {
  await ip("link", "set", "lo", "up");
  await ip("link", "add", BRIDGE, "type", "bridge");
  await ip("addr", "add", `${GW4}/${PREFIX4}`, "dev", BRIDGE);
  await ip("addr", "add", `${GW6}/${PREFIX6}`, "dev", BRIDGE, "nodad");
  await ip("link", "set", BRIDGE, "up");
  await ip("link", "add", KEEPER, "type", "veth", "peer", "name", KEEPER_PEER);
  await ip("link", "set", KEEPER, "master", BRIDGE, "up");
}

async function removeBridge(): Promise<void> {
  await run("ip", ["link", "del", KEEPER], { allowFail: true });
  await run("ip", ["link", "del", BRIDGE], { allowFail: true });
}

/** Shape of the parts of `ip -j addr` output the verifier reads. */
interface IpAddrJson {
  ifname: string;
  flags: string[];
  mtu: number;
  address?: string;
  addr_info: { family: string; local: string; prefixlen: number }[];
}

/** Shape of the parts of `ip -j route` output the verifier reads. */
interface IpRouteJson {
  dst: string;
  gateway?: string;
  dev?: string;
}

/** What the verifier saw besides pass/fail, per run (in the JSON and, when notable, the notes). */
interface VerifyReport {
  /** Containers whose configuration was checked with `ip -j`. */
  checked: number[];
  /** Packets dropped machine-wide by full per-CPU input backlogs during the (timed) setup. */
  setupBacklogDrops: number;
  /** The same from "ready" until the pings were answered. */
  backlogDrops: number;
  /** Echo requests each gateway ping sent until the first reply (one entry per ping). */
  pingTransmits: number[];
  /** How long each gateway ping took until its first reply, ms. */
  pingMs: number[];
  /** Times the kernel's (machine-wide) IPv6 neighbour table was full, setup and verification. */
  neighTableFulls: number;
}

/** Kernel counters read when a peer starts, to report what its setup and verification saw. */
interface Counters {
  drops: number;
  fulls: number;
}

/** Deadline of one gateway ping (echo requests every 200 ms until the first reply), seconds. */
const PING_DEADLINE_S = 10;

/**
 * Sum over CPUs of the second column of /proc/net/softnet_stat: packets dropped because a CPU's
 * input backlog (net.core.netdev_max_backlog, machine-wide) was full. Every veth delivery goes
 * through that backlog. Machine-wide, so other users of the machine count too.
 */
function backlogDrops(): number {
  let sum = 0;
  for (const line of Deno.readTextFileSync("/proc/net/softnet_stat").trim().split("\n")) {
    sum += parseInt(line.trim().split(/\s+/)[1], 16);
  }
  return sum;
}

/**
 * The IPv6 neighbour table's table_fulls counter (summed over CPUs). The table is one for the
 * whole machine and its statistics file exists only in the initial namespace's /proc/net/stat,
 * read here through /proc/1 (read only). NaN if unreadable.
 */
function neighTableFulls(): number {
  try {
    const rows = Deno.readTextFileSync("/proc/1/net/stat/ndisc_cache").trim().split("\n");
    const col = rows[0].trim().split(/\s+/).indexOf("table_fulls");
    return rows.slice(1).reduce((a, r) => a + parseInt(r.trim().split(/\s+/)[col], 16), 0);
  } catch {
    return NaN;
  }
}

/** Checks container i's configuration with `ip -j`; returns the problems found. */
async function checkConfig(tag: string, i: number, v4: boolean): Promise<string[]> {
  const ns = nsName(tag, i);
  const problems: string[] = [];
  const links = JSON.parse(
    (await run("ip", ["-j", "-n", ns, "addr", "show"])).stdout,
  ) as IpAddrJson[];
  const eth0 = links.find((l) => l.ifname === "eth0");
  const lo = links.find((l) => l.ifname === "lo");
  if (!eth0) return [`no eth0 in ${ns}`];
  const p = (msg: string) => problems.push(`${ns}: ${msg}`);
  if (!lo?.flags.includes("UP")) p("lo not up");
  if (!eth0.flags.includes("UP")) p("eth0 not up");
  if (eth0.mtu !== MTU) p(`eth0 mtu ${eth0.mtu}`);
  if (v4 && eth0.address !== mac(i)) p(`eth0 mac ${eth0.address} != ${mac(i)}`);
  const has = (family: string, local: string, len: number) =>
    eth0.addr_info.some((a) => a.family === family && a.local === local && a.prefixlen === len);
  if (v4 && !has("inet", ipv4(i), PREFIX4)) p(`missing ${ipv4(i)}/${PREFIX4}`);
  if (!has("inet6", ipv6(i), PREFIX6)) p(`missing ${ipv6(i)}/${PREFIX6}`);
  for (const [fam, gw] of v4 ? [["-4", GW4], ["-6", GW6]] : [["-6", GW6]]) {
    const routes = JSON.parse(
      (await run("ip", ["-j", "-n", ns, fam, "route", "show", "default"])).stdout,
    ) as IpRouteJson[];
    if (!routes.some((r) => r.gateway === gw && r.dev === "eth0")) {
      p(`no default route via ${gw}`);
    }
  }
  return problems;
}

/**
 * Verifies a peer's n containers after setup (untimed; the peer waits): the configuration of the
 * first, middle and last container with `ip -j`, then a ping to each gateway from the first and
 * the last container, which passes on the first reply within {@link PING_DEADLINE_S} seconds
 * (one echo request every 200 ms; the kernel retransmits its neighbour solicitations too).
 *
 * Why a deadline and not one echo with a 1 s timeout: every container's link-local multicast
 * (DAD, MLD reports, router solicitations, the latter repeated with back-off for minutes) is
 * flooded by the bridge to every port (no MLD querier), so N containers cost about N x N veth
 * deliveries, all through the per-CPU input backlogs (net.core.netdev_max_backlog, machine-wide,
 * 1,000 packets). Near 1,000 containers those overflow again and again, and a lone echo or
 * neighbour solicitation is dropped with the rest, for every peer alike (see bench/README.md).
 */
async function verify(
  tag: string,
  n: number,
  v4: boolean,
  atStart: Counters,
): Promise<{ failure: string | null; report: VerifyReport }> {
  const dropsAtReady = backlogDrops();
  const checked = [...new Set([0, n >> 1, n - 1])];
  const problems: string[] = [];
  for (const i of checked) problems.push(...await checkConfig(tag, i, v4));
  const pingTransmits: number[] = [], pingMs: number[] = [];
  for (const i of [...new Set([0, n - 1])]) {
    for (const [fam, gw] of v4 ? [["-4", GW4], ["-6", GW6]] : [["-6", GW6]]) {
      const ns = nsName(tag, i);
      const t0 = performance.now();
      const r = await run("ip", [
        "netns",
        "exec",
        ns,
        "ping",
        fam,
        "-c1",
        "-i0.2",
        `-w${PING_DEADLINE_S}`,
        gw,
      ], { allowFail: true });
      pingMs.push(Math.round(performance.now() - t0));
      const sent = Number(/(\d+) packets transmitted/.exec(r.stdout)?.[1] ?? NaN);
      pingTransmits.push(sent);
      if (r.code !== 0) {
        problems.push(`${ns}: no reply from ${gw} in ${PING_DEADLINE_S} s (${sent} echo requests)`);
      }
    }
  }
  const report: VerifyReport = {
    checked,
    setupBacklogDrops: dropsAtReady - atStart.drops,
    backlogDrops: backlogDrops() - dropsAtReady,
    pingTransmits,
    pingMs,
    neighTableFulls: neighTableFulls() - atStart.fulls,
  };
  return { failure: problems.length ? problems.join("; ") : null, report };
}

/** A note for the table when the run saw dropped packets, echo retries or a full table. */
function verifyNote(rep: number, v: VerifyReport): string | null {
  const retried = v.pingTransmits.some((k) => k !== 1);
  if (!v.setupBacklogDrops && !v.backlogDrops && !retried && !v.neighTableFulls) return null;
  return `rep ${rep}: kernel backlog drops (machine-wide) ${v.setupBacklogDrops} during setup, ` +
    `${v.backlogDrops} during verification; gateway pings answered after ` +
    v.pingTransmits.map((k, j) => `${k} echo (${v.pingMs[j]} ms)`).join(", ") +
    `; IPv6 neighbour table full ${v.neighTableFulls} times`;
}

/** What the peer left behind in the host namespace: netns names and non-keeper veths. */
async function leftovers(): Promise<{ netns: string[]; veths: string[] }> {
  const netns: string[] = [];
  if (exists("/run/netns")) { for (const e of Deno.readDirSync("/run/netns")) netns.push(e.name); }
  const links = JSON.parse((await run("ip", ["-j", "link", "show", "type", "veth"])).stdout) as {
    ifname: string;
  }[];
  const veths = links.map((l) => l.ifname).filter((n) => n !== KEEPER && n !== KEEPER_PEER);
  return { netns, veths };
}

/** Removes whatever is left (after a failure), so the next peer starts clean. */
async function cleanup(left: { netns: string[]; veths: string[] }): Promise<void> {
  for (const v of left.veths) await run("ip", ["link", "del", v], { allowFail: true });
  for (const n of left.netns) await run("ip", ["netns", "del", n], { allowFail: true });
}

/** Splits a byte stream into text lines. */
async function* lines(stream: ReadableStream<Uint8Array>): AsyncGenerator<string> {
  const dec = new TextDecoder();
  let buf = "";
  for await (const chunk of stream) {
    buf += dec.decode(chunk, { stream: true });
    let nl;
    while ((nl = buf.indexOf("\n")) >= 0) {
      yield buf.slice(0, nl);
      buf = buf.slice(nl + 1);
    }
  }
  if (buf) yield buf;
}

/** One run of one peer; throws with a reason on any failure. */
async function runPeer(
  def: PeerDef,
  o: Options,
  rep: number,
  out: PeerOutcome,
): Promise<PeerResult> {
  const args = [...def.cmd.slice(1), "--n", String(o.n), "--tag", def.tag];
  if (o.steps) args.push("--steps");
  if (o.ipv6Only) args.push(...(def.cmd[0] === GONL ? ["--ipv6only=true"] : ["--ipv6-only", "1"]));
  // Go's flag package accepts the double-dash spelling too.
  const child = new Deno.Command(def.cmd[0], {
    args,
    cwd: ROOT,
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const timer = setTimeout(() => {
    console.error(`!! ${def.name}: timeout after ${o.timeoutS}s, killing`);
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  }, o.timeoutS * 1000);
  const writer = child.stdin.getWriter();
  let result: PeerResult | null = null;
  let verifyFailure: string | null = null;
  let sawReady = false;
  const atStart: Counters = { drops: backlogDrops(), fulls: neighTableFulls() };
  try {
    for await (const line of lines(child.stdout)) {
      const t = line.trim();
      if (!t.startsWith("{")) {
        if (t) console.error(`[${def.name}] ${t}`);
        continue;
      }
      let msg: Partial<PeerResult> & { event?: string };
      try {
        msg = JSON.parse(t);
      } catch {
        console.error(`[${def.name}] ${t}`);
        continue;
      }
      if (msg.event === "ready") {
        sawReady = true;
        const v = await verify(def.tag, o.n, !o.ipv6Only, atStart).catch((e: Error) => ({
          failure: e.message,
          report: null,
        }));
        verifyFailure = v.failure;
        if (v.report) {
          out.verification.push({ rep, ...v.report });
          const note = verifyNote(rep, v.report);
          if (note) out.warnings.push(note);
        }
        await writer.write(
          new TextEncoder().encode(verifyFailure ? `failed: ${verifyFailure}\n` : "ok\n"),
        );
        await writer.close().catch(() => {});
      } else if (typeof msg.setupMs === "number") {
        result = msg as PeerResult;
      }
    }
  } finally {
    clearTimeout(timer);
    await writer.close().catch(() => {});
  }
  const status = await child.status;
  const errors: string[] = [];
  if (!status.success) {
    errors.push(`exited with code ${status.code}${status.signal ? ` (${status.signal})` : ""}`);
  }
  if (!sawReady) errors.push("never signalled ready");
  if (verifyFailure) errors.push(`verification failed: ${verifyFailure}`);
  if (!result) errors.push("printed no result line");
  else if (!result.verified && !verifyFailure) errors.push("peer reports verified=false");
  else if (result.n !== o.n) errors.push(`peer reports n=${result.n}`);

  // Nothing of this peer may be left; give asynchronous kernel cleanup a short grace period.
  const t0 = performance.now();
  let left = await leftovers();
  while ((left.netns.length || left.veths.length) && performance.now() - t0 < 2000) {
    await new Promise((r) => setTimeout(r, 10));
    left = await leftovers();
  }
  if (left.netns.length || left.veths.length) {
    const some = (xs: string[]) =>
      `${xs.length} [${xs.slice(0, 3).join(" ")}${xs.length > 3 ? " …" : ""}]`;
    const msg = `LEFT BEHIND after teardown: netns ${some(left.netns)}, veth ${some(left.veths)}`;
    console.error(`!! ${def.name}: ${msg} (removing them)`);
    await cleanup(left);
    errors.push(msg);
  } else {
    const waited = performance.now() - t0;
    if (waited > 50) {
      out.warnings.push(`objects lingered ${waited.toFixed(0)} ms after teardown ended`);
    }
  }
  if (errors.length || !result) throw new Error(errors.join("; "));
  return result;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;

/** Fills in medians and ratios. */
function summarize(outcomes: PeerOutcome[], n: number): void {
  for (const o of outcomes) {
    if (o.status !== "ok" || !o.runs.length) continue;
    o.setupMsPerContainer = round3(median(o.runs.map((r) => r.setupMs / n)));
    o.teardownMsPerContainer = round3(median(o.runs.map((r) => r.teardownMs / n)));
    o.teardownCallsMsPerContainer = round3(
      median(o.runs.map((r) => (r.teardownCallsMs ?? r.teardownMs) / n)),
    );
    const stepNames = new Set(o.runs.flatMap((r) => Object.keys(r.stepsMs ?? {})));
    if (stepNames.size) {
      o.stepsMsPerContainer = {};
      for (const k of stepNames) {
        o.stepsMsPerContainer[k] = round3(median(o.runs.map((r) => (r.stepsMs?.[k] ?? 0) / n)));
      }
    }
    const rss = o.runs.map((r) => r.rssKb).filter((x): x is number => typeof x === "number");
    if (rss.length) o.rssKb = median(rss);
    const cpu = o.runs.map((r) => r.setupCpuMs).filter((x): x is number => typeof x === "number");
    if (cpu.length) o.setupCpuMsPerContainer = round3(median(cpu) / n);
  }
  const find = (name: string) => outcomes.find((o) => o.peer === name && o.status === "ok");
  const ratio = (a?: number, b?: number) =>
    a !== undefined && b !== undefined && b > 0 ? Math.round((a / b) * 100) / 100 : undefined;
  const ipb = find("ip-batch");
  for (const o of outcomes) {
    o.setupVsIpBatch = ratio(o.setupMsPerContainer, ipb?.setupMsPerContainer);
    o.teardownVsIpBatch = ratio(o.teardownMsPerContainer, ipb?.teardownMsPerContainer);
    o.goReference = `go-netlink-${o.variant}`;
    const go = find(o.goReference);
    o.setupVsGo = ratio(o.setupMsPerContainer, go?.setupMsPerContainer);
    o.teardownVsGo = ratio(o.teardownMsPerContainer, go?.teardownMsPerContainer);
    o.teardownCallsVsGo = ratio(o.teardownCallsMsPerContainer, go?.teardownCallsMsPerContainer);
    o.setupCpuVsGo = ratio(o.setupCpuMsPerContainer, go?.setupCpuMsPerContainer);
  }
}

function table(outcomes: PeerOutcome[], o: Options): string {
  const head = [
    "peer",
    "setup ms/ctr",
    "teardown calls ms/ctr",
    "teardown kernel-done ms/ctr",
    "setup vs ip-batch",
    "teardown vs ip-batch",
    "setup vs go",
    "calls vs go",
    "kernel-done vs go",
    "go ref",
    "setup cpu ms/ctr",
    "cpu vs go",
  ];
  const x = (v?: number) => (v === undefined ? "-" : `${v.toFixed(2)}x`);
  const f = (v?: number) => (v === undefined ? "-" : v.toFixed(3));
  const rows: string[][] = [];
  const notes: string[] = [];
  for (const p of outcomes) {
    if (p.status === "ok") {
      rows.push([
        p.peer,
        f(p.setupMsPerContainer),
        f(p.teardownCallsMsPerContainer),
        f(p.teardownMsPerContainer),
        x(p.setupVsIpBatch),
        x(p.teardownVsIpBatch),
        x(p.setupVsGo),
        x(p.teardownCallsVsGo),
        x(p.teardownVsGo),
        p.variant,
        f(p.setupCpuMsPerContainer),
        x(p.setupCpuVsGo),
      ]);
    } else {
      rows.push([p.peer, p.status.toUpperCase(), ...head.slice(2).map(() => "")]);
      notes.push(`${p.peer}: ${p.status.toUpperCase()}: ${p.reason}`);
    }
    for (const w of p.warnings) notes.push(`${p.peer}: note: ${w}`);
  }
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const fmt = (r: string[]) =>
    r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join("  ")
      .trimEnd();
  const steps = outcomes.filter((p) => p.stepsMsPerContainer).map((p) =>
    `${p.peer}: ` +
    Object.entries(p.stepsMsPerContainer!).map(([k, v]) => `${k} ${v.toFixed(3)}`).join(", ")
  );
  return [
    `N=${o.n} containers per run, ${o.reps} reps interleaved; medians over reps, ms per container` +
    (o.ipv6Only ? " (IPv6-only workload)" : ""),
    "teardown: 'calls' = until the last delete returned; 'kernel-done' = until no host veth is left",
    fmt(head),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...rows.map(fmt),
    ...(steps.length ? ["", "per-step medians, ms per container:", ...steps] : []),
    ...(notes.length ? ["", ...notes] : []),
  ].join("\n");
}

/** Versions of the tools involved, for the JSON (all offline look-ups). */
async function versions(): Promise<Record<string, string>> {
  const v: Record<string, string> = { deno: Deno.version.deno, kernel: Deno.osRelease() };
  const q = async (key: string, cmd: string, args: string[]) => {
    const r = await run(cmd, args, { allowFail: true }).catch(() => null);
    if (r && r.code === 0) v[key] = (r.stdout + r.stderr).trim().split("\n")[0];
  };
  await q("iproute2", "ip", ["-V"]);
  await q("python3", PY, ["--version"]);
  await q("go", "go", ["version"]);
  if (exists(BUN)) await q("bun", BUN, ["--version"]);
  const pkgs = [
    "containernetworking-plugins",
    "netavark",
    "python3-pyroute2",
    "golang-github-vishvananda-netlink-dev",
    "golang-github-vishvananda-netns-dev",
    "iptables",
  ];
  const r = await run("dpkg-query", ["-W", "-f", "${Package} ${Version}\n", ...pkgs], {
    allowFail: true,
  });
  for (const line of r.stdout.trim().split("\n")) {
    const [name, ver] = line.split(" ");
    if (name && ver) v[name] = ver;
  }
  return v;
}

/** Runs every selected peer `o.reps` times (interleaved) at `o.n` containers. */
async function runAll(o: Options, selected: PeerDef[], skips: Map<string, string>) {
  const outcomes: PeerOutcome[] = selected.map((p) => {
    const missing = p.needs.find((f) => !exists(f));
    let reason = skips.get(p.name) ?? p.disabled;
    if (!reason && missing) {
      reason = missing === NSLINK_PEER ? NSLINK_MISSING : `missing ${missing}`;
    }
    // Placeholders and deliberately disabled peers are "disabled"; install/build failures "skipped".
    const disabled = reason !== undefined && (reason === NSLINK_MISSING || reason === p.disabled);
    return {
      peer: p.name,
      variant: p.variant,
      status: reason === undefined ? "ok" : disabled ? "disabled" : "skipped",
      reason,
      runs: [],
      warnings: [],
      verification: [],
    };
  });
  for (const out of outcomes) {
    if (out.status !== "ok") console.error(`-- ${out.peer}: ${out.status}: ${out.reason}`);
  }
  for (let rep = 1; rep <= o.reps; rep++) {
    for (const [k, def] of selected.entries()) {
      const out = outcomes[k];
      if (out.status !== "ok") continue;
      try {
        await kernelQuiet();
        const r = await runPeer(def, o, rep, out);
        out.runs.push(r);
        console.error(
          `N=${o.n} rep ${rep} ${def.name}: setup ${(r.setupMs / o.n).toFixed(3)} ms/ctr, ` +
            `teardown calls ${((r.teardownCallsMs ?? r.teardownMs) / o.n).toFixed(3)}, ` +
            `kernel done ${(r.teardownMs / o.n).toFixed(3)} ms/ctr` +
            (r.setupCpuMs !== undefined ? `, setup cpu ${(r.setupCpuMs / o.n).toFixed(3)}` : "") +
            (r.spareStartMs !== undefined
              ? `, spare worker start ${r.spareStartMs.toFixed(1)} ms (untimed), ` +
                `no spare ready ${r.spareMisses}/${o.n}`
              : ""),
        );
      } catch (e) {
        out.status = "failed";
        out.reason = `rep ${rep}: ${(e as Error).message}`;
        console.error(`!! ${def.name} FAILED: ${out.reason}`);
        await cleanup(await leftovers());
      }
    }
  }
  summarize(outcomes, o.n);
  return outcomes;
}

/** Live `struct net` objects (the `net_namespace` slab), or `undefined` when unreadable. */
async function liveNamespaces(): Promise<number | undefined> {
  try {
    const line = (await Deno.readTextFile("/proc/slabinfo")).split("\n")
      .find((l) => l.startsWith("net_namespace "));
    return line ? Number(line.split(/\s+/)[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Waits until the kernel has finished freeing the namespaces of the run before (its netns
 * clean-up runs in a kernel worker long after the veths are gone and would otherwise compete
 * with the next peer for the two CPUs and for RCU): until the count of live namespaces has not
 * changed for 300 ms, 15 s at most. Interleaved peers then each start on a quiet kernel.
 */
async function kernelQuiet(): Promise<void> {
  const start = performance.now();
  let last = await liveNamespaces();
  if (last === undefined) {
    await new Promise((r) => setTimeout(r, 1000));
    return;
  }
  let stableSince = performance.now();
  while (performance.now() - start < 15_000) {
    await new Promise((r) => setTimeout(r, 50));
    const now = await liveNamespaces();
    if (now !== last) {
      last = now;
      stableSince = performance.now();
    } else if (performance.now() - stableSince >= 300) return;
  }
}

/** The sweep's SVG: the passing points, the failed ones as omitted, what the verifier saw. */
function sweepPlot(
  sections: { n: number; outcomes: PeerOutcome[] }[],
  date: string,
  reps: number,
  versions: Record<string, string>,
): string {
  const series = new Map<string, SweepPoint[]>();
  const omitted: OmittedPoint[] = [];
  const notes: string[] = [];
  for (const { n, outcomes } of sections) {
    for (const p of outcomes) {
      if (p.status === "failed") omitted.push({ peer: p.peer, n, reason: p.reason ?? "" });
      if (p.status !== "ok" || p.setupMsPerContainer === undefined) continue;
      const list = series.get(p.peer) ?? [];
      list.push({
        n,
        setup: p.setupMsPerContainer,
        calls: p.teardownCallsMsPerContainer ?? p.teardownMsPerContainer!,
        done: p.teardownMsPerContainer!,
      });
      series.set(p.peer, list);
    }
    const v = outcomes.flatMap((p) => p.verification);
    const note = backlogNote(n, v);
    if (note) notes.push(note);
  }
  notes.unshift(
    "Every drawn point passed verification (untimed, between setup and teardown): addresses, routes, " +
      "links up and MTU of the first, middle and last container, and a ping to the gateway from " +
      "the first and the last; see bench/README.md.",
  );
  return scalingPlot(series, {
    date,
    reps,
    kernel: versions.kernel,
    cpus: navigator.hardwareConcurrency,
    notes,
  }, omitted);
}

async function main(): Promise<number> {
  const o = parseOptions(Deno.args);
  await assertSandboxed();
  const skips = readSkips();
  let selected = PEERS.filter((p) => o.peers ? o.peers.includes(p.name) : !p.optIn);
  if (o.ipv6Only) selected = selected.filter((p) => p.variant === "fast");

  const before = await leftovers();
  if (before.netns.length || before.veths.length) {
    throw new Error(`host namespace not clean at start: ${JSON.stringify(before)}`);
  }
  const started = startResult("main", {
    n: o.n,
    reps: o.reps,
    peers: selected.map((p) => p.name),
    steps: o.steps,
    timeoutS: o.timeoutS,
    ipv6Only: o.ipv6Only,
    sweep: o.sweep,
  }, { runtime: "all", label: o.label });
  await createBridge();
  const sections: { n: number; outcomes: PeerOutcome[] }[] = [];
  try {
    for (const n of o.sweep.length ? o.sweep : [o.n]) {
      sections.push({ n, outcomes: await runAll({ ...o, n }, selected, skips) });
    }
  } finally {
    await removeBridge();
  }
  for (const { n, outcomes } of sections) console.log(table(outcomes, { ...o, n }) + "\n");
  const failedRuns = sections.flatMap((x) => x.outcomes).filter((x) => x.status === "failed");
  const report = {
    date: new Date().toISOString(),
    n: o.n,
    reps: o.reps,
    unit: "ms per container (median over reps)",
    versions: await versions(),
    ...(o.sweep.length
      ? { sweep: sections.map(({ n, outcomes }) => ({ n, peers: outcomes })) }
      : { peers: sections[0].outcomes }),
  };
  await Deno.mkdir(o.json.replace(/\/[^/]*$/, "") || ".", { recursive: true });
  await Deno.writeTextFile(o.json, JSON.stringify(report, null, 2) + "\n");
  console.error(`wrote ${o.json}`);
  // The traceable record (bench/results/): raw per-peer, per-rep phase totals, from which
  // bench/render.ts computes the README's tables.
  const resultPath = finishResult(started, {
    samples: {
      unit: "ms per phase, totals for n containers (divide by n)",
      sections: sections.map(({ n, outcomes }) => ({
        n,
        peers: outcomes.map((p) => ({
          peer: p.peer,
          variant: p.variant,
          status: p.status,
          ...(p.reason === undefined ? {} : { reason: p.reason }),
          runs: p.runs.map((r, k) => ({ rep: k + 1, ...r })),
          warnings: p.warnings,
          verification: p.verification,
        })),
      })),
    },
    versions: report.versions,
  });
  if (resultPath) console.error(`wrote ${resultPath}`);
  if (o.sweep.length) {
    await Deno.writeTextFile(o.svg, sweepPlot(sections, report.date, o.reps, report.versions));
    console.error(`wrote ${o.svg}`);
  }
  const after = await leftovers();
  if (after.netns.length || after.veths.length) {
    console.error(`!! left behind at the end: ${JSON.stringify(after)}`);
    return 1;
  }
  return failedRuns.length ? 1 : 0;
}

Deno.exit(await main());
