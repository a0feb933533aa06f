/**
 * Helpers shared by the privileged libnetwork-API tests (`tests/priv/network-*.test.ts`).
 *
 * - Every network gets its own temporary state directory ({@linkcode NetFixture.stateDir}),
 *   removed in the file's `after()`.
 * - The bridge driver names a container's veth pair `nslh<hash>` (host end) and `nslc<hash>`
 *   (container end before the move), which do not carry the run prefix. A fixture snapshots
 *   those names when a test starts, and its cleanup deletes (with iproute2) every such link that
 *   appeared during the test, so a library bug cannot leave one behind; `assertNoVethLeftovers`
 *   checks the same at the end of a file.
 *
 * Run only through `scripts/in-netns.sh` (see `_helpers.ts`).
 *
 * @module
 */
import assert from "node:assert/strict";
import { after, before } from "node:test";
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type Interface,
  type Namespace,
  type Network,
  type NetworkOptions,
  type NetworkRecord,
  newNetwork,
  newNetworkNamespace,
} from "../../mod.ts";
import { killAgents } from "./_agent_helpers.ts";
import {
  assertNoLeftovers,
  type Cleanup,
  exec,
  ip,
  ipAddrs,
  ipJson,
  type IpLink,
  ipLinks,
  ipRoutes,
  isRoot,
  runId,
  sleep,
} from "./_helpers.ts";

/** Names of nslink's per-container veth ends: `nslh` / `nslc` and 8 hex digits. */
export const VETH_RE = /^nsl[hc][0-9a-f]{8}$/;

const stateRoots: string[] = [];

/**
 * A fresh state directory under the system's temp dir; removed by {@linkcode removeStateDirs}.
 *
 * @returns The directory.
 */
export function tempStateDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "nsl-net-"));
  stateRoots.push(dir);
  return dir;
}

/**
 * Removes every state directory made by {@linkcode tempStateDir}, killing first any host agent
 * left serving one (the library starts one for every network), with the definitions directory
 * the library keeps beside it (`DIR.config`: a network a test did not delete leaves its
 * definition there, in the machine's temp dir) and its `/run/nslink.dirs` entry.
 */
export function removeStateDirs(): void {
  for (const dir of stateRoots.splice(0)) {
    killAgents(dir);
    rmSync(dir, { recursive: true, force: true });
    rmSync(`${dir}.config`, { recursive: true, force: true });
    rmSync(`/run/nslink.dirs/${encodeURIComponent(dir)}`, { force: true });
  }
}

/**
 * Names of the links in the current namespace.
 *
 * @returns The names, sorted.
 */
export async function linkNames(): Promise<string[]> {
  return (await ipJson<IpLink[]>(["link", "show"])).map((l) => l.ifname).sort();
}

/**
 * Names of nslink veth ends (`nslh…`/`nslc…`) in the current namespace.
 *
 * @returns The names, sorted.
 */
export async function vethNames(): Promise<string[]> {
  return (await linkNames()).filter((n) => VETH_RE.test(n));
}

/**
 * Registers, on `c`, the deletion of every nslink veth end that appears from now on (with
 * iproute2). Register it first, so that it runs last, after the namespaces are gone.
 *
 * @param c The test's cleanup registry.
 */
export async function cleanupNewVeths(c: Cleanup): Promise<void> {
  const before = new Set(await vethNames());
  c.defer("nslink veth ends made by the test", async () => {
    for (const name of await vethNames()) {
      if (before.has(name)) continue;
      const r = await ip(["link", "del", "dev", name]);
      if (r.code !== 0 && !/Cannot find device|does not exist/.test(r.stderr)) {
        throw new Error(`ip link del ${name}: ${r.stderr.trim()}`);
      }
    }
  });
}

/**
 * Asserts that no nslink veth end is left that was not there when the file started (namespace
 * teardown is asynchronous, so it retries for up to `timeoutMs`).
 *
 * @param before The names present when the file started.
 * @param timeoutMs How long to wait.
 */
export async function assertNoVethLeftovers(
  before: readonly string[],
  timeoutMs = 3000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const extra = async () => (await vethNames()).filter((n) => !before.includes(n));
  let left = await extra();
  while (left.length && Date.now() < deadline) {
    await sleep(50);
    left = await extra();
  }
  assert.deepEqual(left, [], "nslink veth ends left behind");
}

/**
 * Polls until `fn` returns true, for up to `timeoutMs`.
 *
 * @param fn The condition.
 * @param timeoutMs The limit.
 * @returns Whether it became true.
 */
export async function waitFor(
  fn: () => Promise<boolean> | boolean,
  timeoutMs = 2000,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (true) {
    if (await fn()) return true;
    if (Date.now() > deadline) return false;
    await sleep(20);
  }
}

/**
 * The saved record of a network, read straight from its state file.
 *
 * @param stateDir The state directory.
 * @param name The network name.
 * @returns The record, or `undefined` when there is no file.
 */
export function readRecord(stateDir: string, name: string): NetworkRecord | undefined {
  const file = stateFile(stateDir, name);
  if (!existsSync(file)) return undefined;
  // Read by hand: the network file, one file per endpoint (ep.ID/ENDPOINT.json), and one
  // claim per reserved address (ip.ID/ADDRESS/ENDPOINT@TOKEN).
  const record = JSON.parse(readFileSync(file, "utf8")) as NetworkRecord;
  const dir = join(stateDir, `ep.${record.id}`);
  for (const f of existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".json")) : []) {
    const ep = JSON.parse(readFileSync(join(dir, f), "utf8")) as NetworkRecord["endpoints"][string];
    record.endpoints[f.slice(0, -".json".length)] = ep;
  }
  const ips = join(stateDir, `ip.${record.id}`);
  for (const a of existsSync(ips) ? readdirSync(ips) : []) {
    const pool = a.includes(":") ? record.pools.v6! : record.pools.v4!;
    // A claim: a directory holding one entry named NAME@TOKEN (earlier: a symbolic link -> NAME).
    const path = join(ips, a);
    const owner = lstatSync(path).isDirectory() ? readdirSync(path)[0] ?? "" : readlinkSync(path);
    pool.allocated[a] = owner.replace(/@.*$/, "");
  }
  return record;
}

/**
 * Every file left under a state directory (recursively), except the lock file and the host
 * agent's `agent.pid`, `agent.sock` and `agent.log`.
 *
 * @param stateDir The state directory.
 * @returns Paths relative to it, sorted.
 */
export function stateFiles(stateDir: string): string[] {
  if (!existsSync(stateDir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(stateDir, { recursive: true, withFileTypes: true })) {
    if (e.isDirectory()) continue;
    const rel = join(e.parentPath ?? (e as unknown as { path: string }).path, e.name)
      .slice(stateDir.length + 1);
    if (rel !== ".lock" && !/^agent\.(pid|sock|log)$/.test(rel)) out.push(rel);
  }
  return out.sort();
}

/**
 * The path of a network's state file.
 *
 * @param stateDir The state directory.
 * @param name The network name.
 * @returns The path.
 */
export function stateFile(stateDir: string, name: string): string {
  return join(stateDir, "networks", `${name}.json`);
}

/**
 * The bare namespace name `ip -n` takes for a path under `/run/netns`.
 *
 * @param path The namespace path.
 * @returns The name.
 */
export function nsName(path: string): string {
  assert.ok(path.startsWith("/run/netns/"), `not a /run/netns path: ${path}`);
  return path.slice("/run/netns/".length);
}

/**
 * Pings once from inside a namespace (`nsenter --net=PATH ping -c1 -W2 ADDRESS`).
 *
 * @param path The namespace path.
 * @param address The address (no prefix).
 * @param wait Seconds to wait for the reply.
 * @returns The exit code and output.
 */
export function ping(
  path: string,
  address: string,
  wait = 2,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return exec(["nsenter", `--net=${path}`, "ping", "-c1", `-W${wait}`, address]);
}

/**
 * Asserts that a ping got no answer while ping itself worked: exit code 1 (sent, no reply) or 2
 * with "unreachable" (no route out). Anything else (nsenter or ping failing, a bad address) is
 * the probe breaking, not the path being closed, and fails too.
 *
 * @param r What {@linkcode ping} (or `exec` of ping) returned.
 * @param what Which path, for the message.
 */
export function assertNoPingReply(
  r: { code: number; stdout: string; stderr: string },
  what: string,
): void {
  assert.notEqual(r.code, 0, `${what}: answered\n${r.stdout}`);
  assert.ok(
    r.code === 1 || (r.code === 2 && /unreachable/i.test(r.stderr + r.stdout)),
    `${what}: ping itself failed (exit ${r.code}): ${r.stderr}${r.stdout}`,
  );
}

/**
 * Asserts that a ping from a namespace to an address gets its answer.
 *
 * @param path The namespace path.
 * @param address The address, with or without prefix.
 */
export async function assertPing(path: string, address: string): Promise<void> {
  const to = address.split("/")[0];
  const r = await ping(path, to);
  assert.equal(r.code, 0, `ping ${to} from ${path}: ${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /1 received/);
}

/**
 * The address without its prefix.
 *
 * @param cidr An address with `/prefix`.
 * @returns The address.
 */
export function bare(cidr: string): string {
  return cidr.split("/")[0];
}

/**
 * Asserts, with `ip -j`, that an interface is configured inside a namespace as `iface` says:
 * name, MAC, MTU, both addresses (IPv6 not tentative), up, `lo` up, and — when `routes` — the
 * default routes via the gateways.
 *
 * @param path The namespace path (under `/run/netns`).
 * @param iface The interface as added.
 * @param routes Whether this interface should carry the default routes.
 */
export async function assertConfigured(
  path: string,
  iface: Interface,
  routes = true,
): Promise<void> {
  const n = nsName(path);
  const links = await ipLinks(n);
  const link = links.find((l) => l.ifname === iface.dstName);
  assert.ok(link, `${iface.dstName} missing in ${path}: ${links.map((l) => l.ifname)}`);
  assert.equal(link.address, iface.macAddress);
  assert.equal(link.mtu, iface.mtu);
  assert.ok(link.flags.includes("UP"), `${iface.dstName} not up: ${link.flags}`);
  assert.equal(link.linkinfo?.info_kind, "veth");
  const lo = links.find((l) => l.ifname === "lo");
  assert.ok(lo?.flags.includes("UP"), "lo is not up");
  const addrs = await ipAddrs(iface.dstName, n);
  const v4 = addrs.filter((a) => a.family === "inet").map((a) => `${a.local}/${a.prefixlen}`);
  assert.deepEqual(v4, iface.address ? [iface.address] : []);
  const v6 = addrs.filter((a) => a.family === "inet6" && a.scope === "global");
  assert.deepEqual(
    v6.map((a) => `${a.local}/${a.prefixlen}`),
    iface.addressIPv6 ? [iface.addressIPv6] : [],
  );
  for (const a of v6) {
    assert.ok(!a.tentative, `${a.local} is tentative`);
    assert.ok(!a.dadfailed, `${a.local} failed DAD`);
  }
  if (!routes) return;
  const r4 = (await ipRoutes(4, n)).filter((r) => r.dst === "default");
  assert.deepEqual(
    r4.map((r) => [r.gateway, r.dev]),
    iface.gateway ? [[iface.gateway, iface.dstName]] : [],
  );
  const r6 = (await ipRoutes(6, n)).filter((r) => r.dst === "default");
  assert.deepEqual(
    r6.map((r) => [r.gateway, r.dev]),
    iface.gatewayIPv6 ? [[iface.gatewayIPv6, iface.dstName]] : [],
  );
}

/**
 * Names of the links in a namespace.
 *
 * @param path The namespace path.
 * @returns The names, sorted.
 */
export async function nsLinkNames(path: string): Promise<string[]> {
  return (await ipLinks(nsName(path))).map((l) => l.ifname).sort();
}

/**
 * Every global address in the sandbox's namespaces (the host's, and each named one whose name
 * starts with `prefix`), with where it is: an address at more than one place is a duplicate.
 *
 * @param prefix The file's run prefix.
 * @returns Address -> `NAMESPACE/IFNAME` places (`host/…` for the host's).
 *
 * @example
 * ```ts
 * const dup = [...await liveAddresses(P)].filter(([, at]) => at.length > 1);
 * ```
 */
export async function liveAddresses(prefix: string): Promise<Map<string, string[]>> {
  const where = new Map<string, string[]>();
  const add = (
    ns: string,
    list: { ifname: string; addr_info: { local: string; scope: string }[] }[],
  ) => {
    for (const l of list) {
      for (const a of l.addr_info) {
        if (a.scope !== "global") continue;
        where.set(a.local, [...(where.get(a.local) ?? []), `${ns}/${l.ifname}`]);
      }
    }
  };
  add("host", await ipJson(["addr", "show"]));
  for (const n of existsSync("/run/netns") ? readdirSync("/run/netns") : []) {
    if (!n.startsWith(prefix)) continue;
    try {
      add(n, await ipJson(["-n", n, "addr", "show"]));
    } catch {
      // Removed (or half made) meanwhile: nothing live there.
    }
  }
  return where;
}

/**
 * The host links enslaved to a bridge.
 *
 * @param bridge The bridge's name.
 * @returns The links.
 */
export async function bridgePorts(bridge: string): Promise<IpLink[]> {
  return (await ipLinks()).filter((l) => l.master === bridge);
}

/**
 * Registers the hooks every network test file needs, and returns the file's run prefix: the
 * nslink veth ends present at the start are remembered, and at the end nothing named with the
 * prefix, no new veth end and no temporary state directory may be left.
 *
 * @returns `prefix` for every kernel object the file makes, and `vethsAtStart()`: the nslink veth
 * ends present when the file started.
 */
export function setUpNetworkTestFile(): { prefix: string; vethsAtStart: () => string[] } {
  const prefix = runId();
  let vethsAtStart: string[] = [];
  before(async () => {
    if (isRoot) vethsAtStart = await vethNames();
  });
  after(async () => {
    try {
      if (isRoot) {
        await assertNoLeftovers(prefix);
        await assertNoVethLeftovers(vethsAtStart);
      }
    } finally {
      removeStateDirs();
    }
  });
  return { prefix, vethsAtStart: () => vethsAtStart };
}

/**
 * A bridge network for one test: its own temporary state directory, the bridge registered with
 * `c` (removed even if nslink fails to), and the network deleted by `c` at the end.
 *
 * @param c The test's cleanup registry.
 * @param name The network's name (with the file's prefix).
 * @param bridgeName The bridge's name (with the file's prefix).
 * @param options More bridge options (subnets, mtu, …).
 * @returns The network and its state directory.
 */
export async function bridgeNetwork(
  c: Cleanup,
  name: string,
  bridgeName: string,
  options: NetworkOptions = {},
): Promise<{ network: Network; stateDir: string }> {
  const stateDir = tempStateDir();
  c.link(bridgeName);
  const network = await newNetwork("bridge", name, { stateDir, bridgeName, ...options });
  c.defer("network.delete()", () => network.delete());
  return { network, stateDir };
}

/**
 * A container for one test: a namespace `/run/netns/PREFIX+NAME` linked to `net` as `name` and
 * configured (the seed path: `link`, then `addInterface`); `c` unlinks it and deletes the
 * namespace at the end.
 *
 * @param c The test's cleanup registry.
 * @param net The network.
 * @param prefix The file's run prefix.
 * @param name The endpoint's name.
 * @param options More `link` options (ports, addresses, …).
 * @returns The namespace and its name under /run/netns.
 *
 * @example
 * ```ts
 * const { netns } = await linkedContainer(c, net, P, "c1", { ports: [{ hostPort: 8080, port: 80 }] });
 * ```
 */
export async function linkedContainer(
  c: Cleanup,
  net: Network,
  prefix: string,
  name: string,
  options: Record<string, unknown> = {},
): Promise<{ ns: Namespace; netns: string }> {
  const ns = await namespaceAt(c, `/run/netns/${prefix}${name}`);
  const ifaces = await net.link(name, { namespace: ns, ...options });
  c.defer(`unlink ${name}`, () => net.unlink(name));
  for (const i of ifaces) await ns.addInterface(i);
  return { ns, netns: nsName(ns.path) };
}

/**
 * A new namespace at `path` for one test, registered with `c` and deleted by it at the end.
 *
 * @param c The test's cleanup registry.
 * @param path Where to mount it.
 * @returns The namespace.
 */
export async function namespaceAt(c: Cleanup, path: string): Promise<Namespace> {
  c.netns(path);
  const ns = await newNetworkNamespace(path);
  c.defer("ns.delete()", () => ns.delete());
  return ns;
}
