/**
 * Peers `ip` and `ip-batch`: iproute2 driven from Deno, one process per operation (`--mode single`)
 * or one `ip -batch -` per side per container (`--mode batch`).
 *
 * single, per container (13 processes): `ip netns add`; `ip link add vX type veth peer name cX`;
 * `ip link set vX master nslbr0`; `ip link set vX up`; `ip link set cX netns NS`; then with
 * `ip -n NS`: rename cX to eth0, set MAC and MTU, add the IPv4 address, add the IPv6 address
 * (nodad), `lo` up, `eth0` up, IPv4 default route, IPv6 default route.
 * Teardown: `ip netns del NS`, then `ip link del vX` (tolerating "Cannot find device": the veth
 * goes with the namespace, asynchronously).
 *
 * batch, per container: `ip -batch -` for the host side (netns add, veth add, master+up, move),
 * then `ip -n NS -batch -` for the container side (iproute2 6.1 rejects `-n` inside batch lines).
 * Teardown: one `ip -force -batch -` per container with `link del vX` then `netns del NS`.
 *
 * Usage: deno run -A bench/peers/ip.ts --n 50 --tag ip --mode single|batch [--steps]
 *
 * @module
 */
import {
  awaitVerification,
  emitResult,
  ms,
  parsePeerArgs,
  peakRssKb,
  StepTimer,
} from "../lib/peer.ts";
import { run } from "../lib/spawn.ts";
import {
  BRIDGE,
  GW4,
  GW6,
  hostVeth,
  ipv4,
  ipv6,
  mac,
  MTU,
  nsName,
  PREFIX4,
  PREFIX6,
  tmpVeth,
} from "../lib/workload.ts";

const args = parsePeerArgs(Deno.args);
const mode = args.extra.mode ?? "single";
if (mode !== "single" && mode !== "batch") throw new Error(`--mode must be single or batch`);
const steps = new StepTimer(args.steps);

/** Host-side commands for container i (argument vectors without the leading `ip`). */
function hostCmds(i: number): string[][] {
  const ns = nsName(args.tag, i), v = hostVeth(args.tag, i), c = tmpVeth(args.tag, i);
  return [
    ["netns", "add", ns],
    ["link", "add", v, "type", "veth", "peer", "name", c],
    ["link", "set", v, "master", BRIDGE],
    ["link", "set", v, "up"],
    ["link", "set", c, "netns", ns],
  ];
}

/** Container-side commands for container i, to run with `ip -n NS`. */
function nsCmds(i: number): string[][] {
  const c = tmpVeth(args.tag, i);
  return [
    ["link", "set", c, "name", "eth0"],
    ["link", "set", "eth0", "address", mac(i), "mtu", String(MTU)],
    ["addr", "add", `${ipv4(i)}/${PREFIX4}`, "dev", "eth0"],
    ["addr", "add", `${ipv6(i)}/${PREFIX6}`, "dev", "eth0", "nodad"],
    ["link", "set", "lo", "up"],
    ["link", "set", "eth0", "up"],
    ["route", "add", "default", "via", GW4],
    ["route", "add", "::/0", "via", GW6],
  ];
}

/** A step name for per-step timing: the first two words of the command. */
function stepName(cmd: string[]): string {
  return cmd.slice(0, 2).join("-");
}

async function setupSingle(i: number): Promise<void> {
  for (const cmd of hostCmds(i)) await steps.time(stepName(cmd), () => run("ip", cmd));
  const ns = nsName(args.tag, i);
  for (const cmd of nsCmds(i)) {
    await steps.time("ns:" + stepName(cmd), () => run("ip", ["-n", ns, ...cmd]));
  }
}

async function setupBatch(i: number): Promise<void> {
  const lines = (cmds: string[][]) => cmds.map((c) => c.join(" ")).join("\n") + "\n";
  await steps.time("host-batch", () => run("ip", ["-batch", "-"], { stdin: lines(hostCmds(i)) }));
  await steps.time(
    "ns-batch",
    () => run("ip", ["-n", nsName(args.tag, i), "-batch", "-"], { stdin: lines(nsCmds(i)) }),
  );
}

async function teardownSingle(i: number): Promise<void> {
  await steps.time("netns-del", () => run("ip", ["netns", "del", nsName(args.tag, i)]));
  const r = await steps.time(
    "link-del",
    () => run("ip", ["link", "del", hostVeth(args.tag, i)], { allowFail: true }),
  );
  if (r.code !== 0 && !/Cannot find device/.test(r.stderr)) {
    throw new Error(`ip link del ${hostVeth(args.tag, i)}: ${r.stderr.trim()}`);
  }
}

async function teardownBatch(i: number): Promise<void> {
  const input = `link del ${hostVeth(args.tag, i)}\nnetns del ${nsName(args.tag, i)}\n`;
  await steps.time("teardown-batch", () => run("ip", ["-force", "-batch", "-"], { stdin: input }));
}

const t0 = performance.now();
for (let i = 0; i < args.n; i++) await (mode === "single" ? setupSingle(i) : setupBatch(i));
const setupMs = performance.now() - t0;

const verified = await awaitVerification();

const t1 = performance.now();
for (let i = 0; i < args.n; i++) await (mode === "single" ? teardownSingle(i) : teardownBatch(i));
const teardownMs = performance.now() - t1;

emitResult({
  peer: mode === "single" ? "ip" : "ip-batch",
  n: args.n,
  setupMs: ms(setupMs),
  teardownMs: ms(teardownMs),
  verified,
  rssKb: peakRssKb(),
  stepsMs: steps.result(),
});
