/**
 * The nslink CNI plugin: ADD, DEL, CHECK, GC and STATUS over the library's `Network`, called by
 * {@linkcode runCni} with everything it needs as arguments.
 *
 * - ADD opens the network named by the configuration, creating it on first use (and marking it
 *   as made by CNI), then links the container on the fast path: the veth's container end is
 *   created inside `CNI_NETNS`, already named `CNI_IFNAME`. An earlier ADD for the same
 *   attachment that crashed or was never deleted is cleaned up first, so ADD recovers.
 * - DEL unlinks the attachment (its veth pair, addresses and published ports) and succeeds
 *   when the container, its namespace or the network is already gone. A network ADD created is
 *   removed with its last attachment, as netavark does; one made with `nslink network create`
 *   stays.
 * An ADD killed midway leaves an intent record that the next ADD (or DEL, or `nslink gc`) of that
 * attachment finishes or undoes (the library's crash-safe `link`).
 * - CHECK compares the kernel with what ADD made: interface, MAC, addresses, default routes,
 *   host end on the bridge.
 * - GC unlinks attachments made through CNI that are not in `cni.dev/valid-attachments`.
 *
 * An attachment (container id + interface name) is the network endpoint
 * `cni-<first 12 characters of the id>-<hash of id and interface>`.
 *
 * @module
 */
import { echoedHostEndMac, hostEndName, shortHash } from "../drivers/bridge.ts";
import { hostRtnl } from "../model/host.ts";
import { Namespace } from "../network/namespace.ts";
import { type LinkOptions, type Network, newNetwork, openNetwork } from "../network/network.ts";
import { configDirFor, Definitions } from "../network/definitions.ts";
import { StateStore } from "../network/state.ts";
import { StaleNetworkError } from "../network/store.ts";
import { whenDeleteCommitted } from "../network/lifecycle.ts";
import { allocate, createPool } from "../model/ipam.ts";
import { dnatEntries } from "../firewall/firewall.ts";
import { missingEntries, tablePresent } from "../firewall/verify.ts";
import { checkIP } from "../net/validate.ts";
import {
  describeBinding,
  normalizeIP,
  parsePortSpecs,
  type PortBinding,
} from "../netfilter/ports.ts";
import { NetNs } from "../netns/netns.ts";
import { Rtnl } from "../rtnl/handle.ts";
import { connectIn } from "../network/connect.ts";
import type { Interface } from "../model/interface.ts";
import type { PortSpec as NetPortSpec } from "../netfilter/ports.ts";

/** A port mapping as the plugin reads it: every field given. */
type PortSpec = Required<NetPortSpec>;
import { parseConf } from "./config.ts";
import { CNI_ERR, CniError } from "./errors.ts";
import { mergeResults } from "./result.ts";
import type { CniPlugin } from "./skel.ts";
import type { CniArgs, CniNetConf, CniResult } from "./types.ts";

/** State kind marking networks that ADD created (removed with their last attachment). */
const AUTO = "cni-networks";

/** The definitions that go with a state directory (where the mark survives a reboot). */
function definitionsOf(store: StateStore): Definitions {
  return new Definitions(configDirFor(store.dir));
}

/**
 * The network endpoint name of a CNI attachment.
 *
 * @example
 * ```ts
 * import { endpointName } from "./plugin.ts";
 * endpointName("3f4a5b6c7d8e9f00aa", "eth0"); // "cni-3f4a5b6c7d8e-" + 8 hex digits
 * ```
 * @param containerId `CNI_CONTAINERID`.
 * @param ifname `CNI_IFNAME`.
 * @returns The endpoint name.
 */
export function endpointName(containerId: string, ifname: string): string {
  const id = containerId.replace(/[^A-Za-z0-9_.-]/g, "").slice(0, 12);
  return `cni-${id}-${shortHash(`${containerId}/${ifname}`)}`;
}

/** `openNetwork`'s answer for a network that is not there (it has no class of its own). */
function notFound(e: unknown): boolean {
  return e instanceof Error && e.constructor === Error &&
    /^Network "[^"]*" does not exist/.test(e.message);
}

/**
 * Runs a step that checks values taken from the configuration: a `TypeError` or `RangeError`
 * from it means the configuration is invalid (code 7). Anywhere else such an error is a bug of
 * the plugin, which `toCniError` answers with 999.
 */
async function fromConfig<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    throw asConfigError(e);
  }
}

/** A `TypeError`/`RangeError` of a check of the configuration, as code 7; others as they are. */
function asConfigError(e: unknown): unknown {
  if (e instanceof TypeError || e instanceof RangeError) {
    return new CniError(CNI_ERR.INVALID_NETWORK_CONFIG, e.message, "", { cause: e });
  }
  return e;
}

/**
 * Registers the overlay driver (network/overlay.ts, with its etcd client): loaded only when a
 * network needs it, so that an exec for a bridge or LAN network does not pay for loading it.
 */
async function loadOverlay(): Promise<void> {
  await import("../network/overlay.ts");
}

/** `openNetwork`'s answer for a network whose driver (overlay) is not loaded yet. */
function needsOverlay(e: unknown): boolean {
  return e instanceof TypeError &&
    (/ spans hosts: load network\/overlay\.ts/.test(e.message) ||
      e.message === "No driver for networks in a store is loaded");
}

async function open(network: string, stateDir?: string): Promise<Network | undefined> {
  for (let loaded = false;; loaded = true) {
    try {
      return await openNetwork(network, stateDir ? { stateDir } : {});
    } catch (e) {
      // An overlay network, whatever the configuration says: load its driver and open it again.
      if (!loaded && needsOverlay(e)) {
        await loadOverlay();
        continue;
      }
      // Not there, or deleted while it was being opened.
      if (e instanceof StaleNetworkError || notFound(e)) return undefined;
      throw e;
    }
  }
}

/** The network, created (and marked as made by CNI) when it does not exist yet. */
async function openOrCreate(conf: ReturnType<typeof parseConf>): Promise<Network> {
  const { network, driver, networkOptions, stateDir } = conf;
  if (driver === "overlay") await loadOverlay();
  for (let attempt = 0;; attempt++) {
    const net = await open(network, stateDir);
    if (net) {
      checkSame(net, networkOptions, driver);
      return net;
    }
    try {
      const made = await newNetwork(driver, network, {
        ...networkOptions,
        ...(stateDir ? { stateDir } : {}),
      });
      const store = new StateStore(stateDir);
      store.write(AUTO, network, { id: made.id });
      // Also in the definition: the mark in the state directory does not survive a reboot.
      definitionsOf(store).markMadeByCniAdd(network, made.id);
      return made;
    } catch (e) {
      // Another ADD created it first: open that one.
      if (e instanceof TypeError && /already exists/.test(e.message) && attempt < 3) continue;
      // newNetwork checks the configuration's subnets, gateways, bridge and MTU first.
      throw asConfigError(e);
    }
  }
}

/** An existing network must match what the configuration asks for. */
function checkSame(net: Network, options: Record<string, unknown>, driver = "bridge"): void {
  if (net.type !== driver) {
    throw new CniError(
      CNI_ERR.INVALID_NETWORK_CONFIG,
      `Network "${net.name}" exists as a ${net.type} network; the configuration asks for ${driver}`,
    );
  }
  const have: Record<string, unknown> = {
    subnet: net.subnet,
    subnetIPv6: net.subnetIPv6,
    bridgeName: net.config.bridgeName,
  };
  for (const key of ["subnet", "subnetIPv6", "bridgeName"]) {
    if (options[key] !== undefined && options[key] !== have[key]) {
      throw new CniError(
        CNI_ERR.INVALID_NETWORK_CONFIG,
        `Network "${net.name}" exists with ${key} ${
          JSON.stringify(have[key])
        }; the configuration asks for ${JSON.stringify(options[key])}`,
      );
    }
  }
}

/** Deletes a network ADD created once nothing is attached to it. */
async function removeIfAutoAndUnused(net: Network, stateDir?: string): Promise<void> {
  const store = new StateStore(stateDir);
  // After a reboot only the definition remembers that ADD made the network.
  const def = definitionsOf(store).read(net.name);
  const mark = store.read<{ id: string }>(AUTO, net.name) ??
    (def?.madeByCniAdd === true && def.id === net.id ? { id: net.id } : undefined);
  if (!mark) return;
  // A mark naming another id belongs to another network of this name, made again by an ADD
  // beside this DEL: it stays while that network exists (removing it would keep that network for
  // ever), and goes once none of that id does. This network's own mark goes with it, removed
  // only while it still names this id, for the same reason.
  if (mark.id !== net.id) {
    const now = await open(net.name, stateDir);
    if (now?.id !== mark.id) {
      store.removeIf(AUTO, net.name, (m: { id: string }) => m.id === mark.id);
    }
    return;
  }
  const mine = (m: { id: string }) => m.id === net.id;
  try {
    if (await net.deleteIfUnused()) store.removeIf(AUTO, net.name, mine);
  } catch (e) {
    // Deleted meanwhile by another DEL, or deleted and made again by an ADD: not this one.
    if (!(e instanceof StaleNetworkError)) throw e;
  }
}

function portMappings(conf: CniNetConf): PortSpec[] {
  const list = conf.runtimeConfig?.portMappings ?? [];
  if (!Array.isArray(list)) {
    throw new CniError(CNI_ERR.INVALID_NETWORK_CONFIG, "runtimeConfig.portMappings must be a list");
  }
  return list.map((m) => {
    if (typeof m !== "object" || m === null || Array.isArray(m)) {
      throw new CniError(
        CNI_ERR.INVALID_NETWORK_CONFIG,
        `Invalid port mapping ${JSON.stringify(m)}`,
      );
    }
    if (m.protocol !== undefined && typeof m.protocol !== "string") {
      throw new CniError(
        CNI_ERR.INVALID_NETWORK_CONFIG,
        `Unknown port mapping protocol ${JSON.stringify(m.protocol)}`,
      );
    }
    const protocol = (m.protocol ?? "tcp").toLowerCase();
    if (protocol !== "tcp" && protocol !== "udp" && protocol !== "sctp") {
      throw new CniError(
        CNI_ERR.INVALID_NETWORK_CONFIG,
        `Unknown port mapping protocol "${m.protocol}"`,
      );
    }
    if (!Number.isInteger(m.hostPort) || !Number.isInteger(m.containerPort)) {
      throw new CniError(
        CNI_ERR.INVALID_NETWORK_CONFIG,
        `Invalid port mapping ${JSON.stringify(m)}`,
      );
    }
    return { protocol, hostIP: m.hostIP ?? "", hostPort: m.hostPort, port: m.containerPort };
  });
}

/** The configuration's port mappings, checked as `link()` will check them. */
async function checkedPorts(conf: CniNetConf): Promise<PortSpec[]> {
  const ports = portMappings(conf);
  if (ports.length > 0) await fromConfig(() => parsePortSpecs(ports));
  return ports;
}

/** What the network must offer for the static addresses and ports asked for. */
async function checkFits(
  net: Network,
  fixed: { address?: string; addressIPv6?: string },
  ports: PortSpec[],
): Promise<void> {
  for (
    const [address, subnet, gateway, v] of [
      [fixed.address, net.subnet, net.gateway, "IPv4"],
      [fixed.addressIPv6, net.subnetIPv6, net.gatewayIPv6, "IPv6"],
    ] as const
  ) {
    if (address === undefined) continue;
    if (!subnet) {
      throw new CniError(
        CNI_ERR.INVALID_NETWORK_CONFIG,
        `Network "${net.name}" has no ${v} subnet for "${address}"`,
      );
    }
    // Outside the subnet, or its network, gateway or broadcast address (a scratch pool).
    await fromConfig(() => allocate(createPool(subnet, gateway || undefined), "check", address));
  }
  if (ports.length > 0 && net.config.internal === true) {
    throw new CniError(
      CNI_ERR.INVALID_NETWORK_CONFIG,
      `Network "${net.name}" is internal: it publishes no ports`,
    );
  }
  for (const p of ports) {
    if (p.hostIP.includes(":") && !net.subnetIPv6) {
      throw new CniError(
        CNI_ERR.INVALID_NETWORK_CONFIG,
        `Cannot publish on ${p.hostIP}: network "${net.name}" has no IPv6 subnet`,
      );
    }
  }
}

/**
 * Static addresses asked for: `runtimeConfig.ips` (the `ips` capability, e.g. `podman run --ip`)
 * or `CNI_ARGS` `IP=` (comma-separated), with or without a prefix length.
 */
function staticIps(args: CniArgs, conf: CniNetConf): { address?: string; addressIPv6?: string } {
  const list = conf.runtimeConfig?.ips ?? (args.args.IP ? args.args.IP.split(",") : []);
  if (!Array.isArray(list) || list.some((ip) => typeof ip !== "string")) {
    throw new CniError(
      CNI_ERR.INVALID_NETWORK_CONFIG,
      "runtimeConfig.ips must be a list of addresses",
    );
  }
  const out: { address?: string; addressIPv6?: string } = {};
  for (const ip of list) {
    const bare = ip.split("/")[0];
    try {
      checkIP(bare);
    } catch (e) {
      throw asConfigError(e);
    }
    const key = bare.includes(":") ? "addressIPv6" : "address";
    if (out[key] !== undefined) {
      throw new CniError(
        CNI_ERR.INVALID_NETWORK_CONFIG,
        `Two static ${key === "address" ? "IPv4" : "IPv6"} addresses: ${list.join(", ")}`,
      );
    }
    out[key] = bare;
  }
  return out;
}

/**
 * The container's names on the network's DNS: its name (`CNI_ARGS` `K8S_POD_NAME`, how podman
 * passes `--name`) and its aliases (`runtimeConfig.aliases[NETWORK]`, the `aliases` capability:
 * `--network-alias` values and the short id).
 */
function dnsNames(args: CniArgs, conf: CniNetConf): string[] {
  const out: string[] = [];
  const pod = args.args.K8S_POD_NAME;
  if (pod) out.push(pod);
  const byNet = conf.runtimeConfig?.aliases;
  if (byNet !== undefined && (typeof byNet !== "object" || byNet === null)) {
    throw new CniError(CNI_ERR.INVALID_NETWORK_CONFIG, "runtimeConfig.aliases must be an object");
  }
  const list = byNet?.[conf.name] ?? [];
  if (!Array.isArray(list) || list.some((a) => typeof a !== "string")) {
    throw new CniError(
      CNI_ERR.INVALID_NETWORK_CONFIG,
      `runtimeConfig.aliases["${conf.name}"] must be a list of names`,
    );
  }
  for (const a of list) if (!out.includes(a)) out.push(a);
  return out;
}

/**
 * The result's `dns`: the configuration's, with the network's gateways first and `dns.nslink`
 * searched when the network serves names.
 */
function dnsResult(net: Network, conf: CniNetConf): Record<string, unknown> {
  const given = typeof conf.dns === "object" && conf.dns !== null
    ? { ...conf.dns as Record<string, unknown> }
    : {};
  if (net.config.dns !== true) return given;
  const str = (v: unknown) => Array.isArray(v) ? v.map(String) : [];
  const gateways = [net.gateway, net.gatewayIPv6].filter((g) => g);
  return {
    ...given,
    nameservers: [...gateways, ...str(given.nameservers).filter((n) => !gateways.includes(n))],
    search: ["dns.nslink", ...str(given.search).filter((s) => s !== "dns.nslink")],
  };
}

async function add(args: CniArgs, conf: CniNetConf): Promise<CniResult> {
  const parsed = parseConf(conf, args.stateDir);
  const ports = await checkedPorts(conf);
  const fixed = staticIps(args, conf);
  const endpoint = endpointName(args.containerId, args.ifname);
  for (let attempt = 0;; attempt++) {
    const net = await openOrCreate(parsed);
    try {
      await checkFits(net, fixed, ports);
      // A repeated ADD of this attachment, or one that was killed midway: start again from
      // nothing (unlink undoes a dead attempt's intent record and its links).
      await net.unlink(endpoint);
      // hairpinMode: true, as the configuration says.
      const options: LinkOptions = { dstName: args.ifname, hairpin: true, ...fixed };
      if (ports.length > 0) options.ports = ports;
      const names = dnsNames(args, conf);
      if (names.length > 0) options.aliases = names;
      let ns: Namespace;
      try {
        // Not openNetworkNamespace: it would dump the links, addresses and routes inside to
        // describe them, which ADD does not need.
        ns = Namespace.fromNetNs(NetNs.open(args.netns), false);
      } catch (e) {
        throw new CniError(CNI_ERR.INTERNAL, `Opening CNI_NETNS: ${(e as Error).message}`, "", {
          cause: e,
        });
      }
      try {
        const [iface] = await connectIn(net, endpoint, ns, options);
        return mergeResults(conf.prevResult, resultOf(net, endpoint, iface, ns, args, conf));
      } finally {
        ns.close();
      }
    } catch (e) {
      // The network was removed by a concurrent DEL of its last attachment (the object held
      // here is stale): make it again.
      if (e instanceof StaleNetworkError && attempt < 3) continue;
      try {
        await removeIfAutoAndUnused(net, parsed.stateDir);
      } catch { /* report the first error */ }
      throw e;
    }
  }
}

function resultOf(
  net: Network,
  endpoint: string,
  iface: Interface,
  ns: Namespace,
  args: CniArgs,
  conf: CniNetConf,
): CniResult {
  // A macvlan/ipvlan container has no host-side interface: its link sits on the LAN's parent.
  const lan = net.type !== "bridge";
  // The container end was created with the MAC and MTU link() chose (no lookup inside the
  // namespace); only a MAC the kernel chose (no address to derive one from) is asked for.
  const inside = lan || !iface.macAddress
    ? ns.rtnl().link.get(iface.dstName)
    : { mac: iface.macAddress, mtu: iface.mtu };
  const container = {
    name: iface.dstName,
    mac: inside.mac ?? "",
    mtu: inside.mtu,
    sandbox: args.netns,
  };
  const host = hostRtnl();
  const bridgeName = String(net.config.bridgeName ?? "");
  // The host end: its name as link() wrote it in the endpoint's record (not read back), its MAC
  // as the kernel echoed it when link() created it (asked for only when it was not).
  const hostEnd = lan ? "" : hostEndName(net.id, endpoint);
  const at = lan ? 0 : 2;
  const result: CniResult = {
    cniVersion: conf.cniVersion,
    interfaces: lan ? [container] : [
      { name: bridgeName, mac: host.link.find(bridgeName)?.mac ?? "" },
      { name: hostEnd, mac: echoedHostEndMac(hostEnd) ?? host.link.find(hostEnd)?.mac ?? "" },
      container,
    ],
    ips: [],
    routes: [],
    dns: dnsResult(net, conf),
  };
  if (iface.address) {
    result.ips!.push({
      address: iface.address,
      ...(iface.gateway ? { gateway: iface.gateway } : {}),
      interface: at,
    });
    if (iface.gateway) result.routes!.push({ dst: "0.0.0.0/0", gw: iface.gateway });
  }
  if (iface.addressIPv6) {
    result.ips!.push({
      address: iface.addressIPv6,
      ...(iface.gatewayIPv6 ? { gateway: iface.gatewayIPv6 } : {}),
      interface: at,
    });
    if (iface.gatewayIPv6) result.routes!.push({ dst: "::/0", gw: iface.gatewayIPv6 });
  }
  return result;
}

async function del(args: CniArgs, conf: CniNetConf): Promise<void> {
  const parsed = parseConf(conf, args.stateDir);
  const endpoint = endpointName(args.containerId, args.ifname);
  for (let attempt = 0;; attempt++) {
    const net = await open(parsed.network, parsed.stateDir);
    if (!net) return; // the network is gone, and its bridge took every veth with it
    try {
      await net.unlink(endpoint);
    } catch (e) {
      // Deleted (perhaps made again) since it was opened: look again.
      if (e instanceof StaleNetworkError && attempt < 3) continue;
      throw e;
    }
    const committed = args.committed;
    if (committed && net.type === "bridge") {
      // Its own interfaces are gone: answered once the network's delete is committed.
      await whenDeleteCommitted(committed, () => removeIfAutoAndUnused(net, parsed.stateDir));
    } else await removeIfAutoAndUnused(net, parsed.stateDir);
    return;
  }
}

async function check(args: CniArgs, conf: CniNetConf): Promise<void> {
  const parsed = parseConf(conf, args.stateDir);
  const net = await open(parsed.network, parsed.stateDir);
  if (!net) {
    throw new CniError(CNI_ERR.INTERNAL, `CHECK: network "${parsed.network}" does not exist`);
  }
  const endpoint = endpointName(args.containerId, args.ifname);
  const ep = net.endpoint(endpoint);
  if (!ep) {
    throw new CniError(
      CNI_ERR.UNKNOWN_CONTAINER,
      `CHECK: container "${args.containerId}" (${args.ifname}) is not attached to network "${net.name}"`,
    );
  }
  const iface = ep.interfaces[0];
  const where = `"${args.ifname}" in ${JSON.stringify(args.netns)}`;
  using netns = NetNs.open(args.netns);
  using rt = Rtnl.open({ netns });
  const link = rt.link.find(args.ifname);
  if (!link) throw new CniError(CNI_ERR.INTERNAL, `CHECK: interface ${where} is missing`);
  if (iface.macAddress && link.mac !== iface.macAddress) {
    throw new CniError(
      CNI_ERR.INTERNAL,
      `CHECK: ${where} has MAC ${link.mac}, expected ${iface.macAddress}`,
    );
  }
  if (!link.up) throw new CniError(CNI_ERR.INTERNAL, `CHECK: ${where} is down`);
  const have = new Set(rt.addr.list({ dev: link.index }).map((a) => a.cidr));
  for (const cidr of [iface.address, iface.addressIPv6]) {
    if (cidr && !have.has(cidr)) {
      throw new CniError(CNI_ERR.INTERNAL, `CHECK: address ${cidr} is missing on ${where}`);
    }
  }
  const routes = rt.route.list().filter((r) => r.dst === "default");
  for (const [gateway, family] of [[iface.gateway, 4], [iface.gatewayIPv6, 6]] as const) {
    if (gateway && !routes.some((r) => r.family === family && r.gateway === gateway)) {
      throw new CniError(
        CNI_ERR.INTERNAL,
        `CHECK: route default via ${gateway} is missing in ${JSON.stringify(args.netns)}`,
      );
    }
  }
  for (const ip of conf.prevResult?.ips ?? []) {
    const target = ip.interface === undefined
      ? undefined
      : conf.prevResult?.interfaces?.[ip.interface];
    if (target?.sandbox === args.netns && target.name === args.ifname && !have.has(ip.address)) {
      throw new CniError(
        CNI_ERR.INTERNAL,
        `CHECK: address ${ip.address} of prevResult is missing on ${where}`,
      );
    }
  }
  if (net.type !== "bridge") return; // macvlan/ipvlan: nothing on the host
  const host = hostRtnl();
  const hostEnd = host.link.find(ep.hostLinks[0] ?? "");
  const bridge = host.link.find(String(net.config.bridgeName ?? ""));
  if (!hostEnd || !bridge || hostEnd.master !== bridge.index) {
    throw new CniError(
      CNI_ERR.INTERNAL,
      `CHECK: host end "${ep.hostLinks[0]}" is not on bridge "${net.config.bridgeName}"`,
    );
  }
  await checkFirewall(net, endpoint, iface, conf);
}

/**
 * CHECK's firewall part: nslink's table is there, the ports the runtime asked for are the
 * endpoint's, and each of its published ports has its DNAT map element.
 */
async function checkFirewall(
  net: Network,
  endpoint: string,
  iface: { address?: string; addressIPv6?: string },
  conf: CniNetConf,
): Promise<void> {
  const repair = "(nslink gc or repairFirewall() restores it)";
  if (!tablePresent()) {
    throw new CniError(CNI_ERR.INTERNAL, `CHECK: nslink's nf_tables table is missing ${repair}`);
  }
  const held = await net.ports(endpoint);
  const same = (a: string, b: string) => normalizeIP(a || "") === normalizeIP(b || "");
  for (const p of portMappings(conf)) {
    if (p.hostPort === 0) continue;
    const found = held.some((h) =>
      h.protocol === p.protocol && h.hostPort === p.hostPort && h.port === p.port &&
      same(h.hostIP, p.hostIP)
    );
    if (!found) {
      throw new CniError(
        CNI_ERR.INTERNAL,
        `CHECK: port mapping ${describeBinding(p as PortBinding)} is not published for container` +
          ` "${endpoint}"`,
      );
    }
  }
  const missing = missingEntries(dnatEntries(iface.address, iface.addressIPv6, held));
  if (missing.length > 0) {
    const e = missing[0];
    throw new CniError(
      CNI_ERR.INTERNAL,
      `CHECK: published port ${e.protocol} ${
        e.hostIP || "*"
      }:${e.hostPort} -> ${e.address}:${e.port}` +
        ` has no entry in nslink's nf_tables maps ${repair}`,
    );
  }
}

async function gc(args: CniArgs, conf: CniNetConf): Promise<void> {
  const parsed = parseConf(conf, args.stateDir);
  const net = await open(parsed.network, parsed.stateDir);
  if (!net) return;
  const valid = conf["cni.dev/valid-attachments"] ?? [];
  if (!Array.isArray(valid)) {
    throw new CniError(
      CNI_ERR.INVALID_NETWORK_CONFIG,
      `"cni.dev/valid-attachments" must be a list`,
    );
  }
  const keep = new Set(valid.map((a) => endpointName(String(a.containerID), String(a.ifname))));
  for (const endpoint of net.endpoints()) {
    if (endpoint.startsWith("cni-") && !keep.has(endpoint)) {
      await net.unlink(endpoint);
    }
  }
  await removeIfAutoAndUnused(net, parsed.stateDir);
}

/**
 * STATUS: whether ADD could work now. It never waits for other operations (a node is marked
 * NotReady on a failed STATUS): the state lock's file must open (one non-blocking try, whose
 * answer does not matter: a busy lock is not a broken one), the state be readable and netlink
 * open.
 */
function status(args: CniArgs, conf: CniNetConf): Promise<void> {
  try {
    const parsed = parseConf(conf, args.stateDir);
    const store = new StateStore(parsed.stateDir);
    store.tryLock({ shared: true })?.release();
    store.list(AUTO);
    Rtnl.open().close();
  } catch (e) {
    if (e instanceof CniError) throw e;
    throw new CniError(
      CNI_ERR.PLUGIN_NOT_AVAILABLE,
      `nslink cannot work here: ${(e as Error).message}`,
    );
  }
  return Promise.resolve();
}

/** The nslink plugin. */
export const nslinkPlugin: CniPlugin = { add, del, check, gc, status };
