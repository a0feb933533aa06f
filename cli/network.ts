/**
 * `nslink network …`: Docker's network commands over the library's `Network`: create, ls,
 * inspect, rm, prune, connect, disconnect. A network is named by its name, its id or a unique
 * prefix of its id.
 *
 * @module
 */
import process from "node:process";
import { checkIP } from "../net/validate.ts";
import { parseCidr } from "../net/ip.ts";
import { openNetworkNamespace } from "../network/namespace.ts";
import { connectIn } from "../network/connect.ts";
import {
  type LinkOptions,
  listNetworks,
  type Network,
  newNetwork,
  openNetwork,
} from "../network/network.ts";
import { type Command, type Context, FORMAT_OPTION } from "./command.ts";
import { inspectNetwork } from "./inspect.ts";
import { parsePublish, type PortSpec } from "./publish.ts";
import { resolveNetwork } from "./resolve.ts";
import { formatTable } from "./table.ts";
import { isTemplate, renderTemplate, TemplateError } from "./template.ts";
import { UsageError } from "./usage.ts";

function strings(v: unknown): string[] {
  return Array.isArray(v) ? v as string[] : typeof v === "string" ? [v] : [];
}

function family(cidrOrIp: string, what: string, hint: string): 4 | 6 {
  try {
    return cidrOrIp.includes("/") ? parseCidr(cidrOrIp).family : checkIP(cidrOrIp);
  } catch {
    throw new UsageError(`Invalid ${what} ${JSON.stringify(cidrOrIp)}`, hint);
  }
}

/** Docker's long option names, mapped to the bridge driver's. */
const OPT_ALIASES: Record<string, string> = {
  "com.docker.network.bridge.name": "bridgeName",
  "com.docker.network.driver.mtu": "mtu",
  "com.docker.network.bridge.enable_icc": "icc",
  "com.docker.network.bridge.enable_ip_masquerade": "masquerade",
  bridge: "bridgeName",
};

/**
 * Turns `--opt KEY=VALUE` pairs into driver options: `true`/`false` become booleans, `mtu` a
 * number, Docker's `com.docker.network.*` names the bridge driver's.
 *
 * @example
 * ```ts
 * import { driverOptions } from "./network.ts";
 * driverOptions(["icc=false", "mtu=1400"], "nslink network create --help");
 * // { icc: false, mtu: 1400 }
 * ```
 * @param pairs The values of `--opt`.
 * @param hint Help to point at on a malformed pair.
 * @returns The options.
 */
export function driverOptions(pairs: string[], hint: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const pair of pairs) {
    const eq = pair.indexOf("=");
    if (eq <= 0) {
      throw new UsageError(`Invalid --opt ${JSON.stringify(pair)}: expected KEY=VALUE`, hint);
    }
    const key = OPT_ALIASES[pair.slice(0, eq)] ?? pair.slice(0, eq);
    const raw = pair.slice(eq + 1);
    let value: unknown = raw;
    if (raw === "true" || raw === "false") value = raw === "true";
    else if (key === "mtu") {
      if (!/^\d+$/.test(raw)) {
        throw new UsageError(`Invalid --opt ${JSON.stringify(pair)}: MTU must be a number`, hint);
      }
      value = Number(raw);
    } else if (key === "ttl") {
      // An overlay network's host lease, in seconds.
      if (!/^\d+$/.test(raw)) {
        throw new UsageError(
          `Invalid --opt ${JSON.stringify(pair)}: ttl must be a number of seconds`,
          hint,
        );
      }
      value = Number(raw);
    }
    out[key] = value;
  }
  return out;
}

const create: Command = {
  path: ["network", "create"],
  summary: "Create a network (a Linux bridge with its own subnets)",
  operands: "NAME",
  min: 1,
  max: 1,
  options: {
    driver: {
      type: "string",
      short: "d",
      value: "DRIVER",
      help:
        "Driver: bridge (default), macvlan, ipvlan, null, host, or overlay (with -o store=URL -o advertise=ADDR)",
    },
    subnet: {
      type: "string",
      value: "CIDR",
      multiple: true,
      help: "Subnet, IPv4 or (with --ipv6) IPv6",
    },
    gateway: {
      type: "string",
      value: "IP",
      multiple: true,
      help: "Gateway of the subnet of its family",
    },
    "ip-range": {
      type: "string",
      value: "CIDR",
      multiple: true,
      help: "Hand out automatic addresses only from this part of the subnet of its family",
    },
    ipv6: {
      type: "boolean",
      help: "Enable IPv6: the IPv6 --subnet, else a free /64 from $NSLINK_IPV6_POOL",
    },
    ipv4: {
      type: "boolean",
      help: "--ipv4=false: a network without IPv4 (needs --ipv6)",
    },
    internal: { type: "boolean", help: "No traffic beyond the bridge, no published ports" },
    "disable-dns": {
      type: "boolean",
      help: "No container names on this network (served on its gateways by default)",
    },
    dns: {
      type: "string",
      value: "IP",
      multiple: true,
      help: "DNS upstream for other names (IP or IP#PORT, up to 3; default: the host's)",
    },
    label: {
      type: "string",
      value: "KEY=VALUE",
      multiple: true,
      help: "A label, saved with the network (network ls --filter label=KEY)",
    },
    opt: {
      type: "string",
      short: "o",
      value: "KEY=VALUE",
      multiple: true,
      help: "Driver option: icc=false, masquerade=false, mtu=N, bridge=NAME, poolIPv6=CIDR,…; " +
        "macvlan/ipvlan: parent=IFACE, macvlan_mode=MODE, ipvlan_mode=MODE, hostAccess=true; " +
        "overlay: store=etcd://HOST:PORT, advertise=ADDR, storeCa=PATH, …",
    },
  },
  notes: `Prints the new network's id. Without --subnet, a free /24 is picked from 10.89.0.0/16;
with --ipv6 and no IPv6 --subnet, a free /64 from the IPv6 pool: -o poolIPv6=CIDR[,CIDR…] or
$NSLINK_IPV6_POOL (there is no built-in IPv6 pool: use your ULA or global prefix).
A macvlan or ipvlan network puts containers on the LAN of -o parent=IFACE (IFACE.VLAN makes the
802.1q sub-interface): give the LAN's --subnet and its router as --gateway.

Examples:
  nslink network create --subnet 198.51.100.0/24 --ipv6 --subnet 2001:db8:1::/64 blue
  nslink network create --subnet 198.51.100.0/24 --ip-range 198.51.100.128/25 --label env=dev red
  NSLINK_IPV6_POOL=2001:db8:100::/56 nslink network create --ipv6 --ipv4=false v6only
  nslink network create --subnet 203.0.113.0/24 --dns 203.0.113.53 dnsnet
  nslink network create -d macvlan -o parent=eth1 -o macvlan_mode=bridge \\
    --subnet 198.51.100.0/24 --gateway 198.51.100.254 --ip-range 198.51.100.128/25 lan`,
  async run({ values, args, io, hint }) {
    const options: Record<string, unknown> = driverOptions(strings(values.opt), hint);
    if (typeof options.poolIPv6 === "string") {
      options.poolIPv6 = options.poolIPv6.split(",").map((p) => p.trim()).filter(Boolean);
    }
    const subnets = strings(values.subnet);
    const gateways = strings(values.gateway);
    for (const s of subnets) {
      if (!s.includes("/")) {
        throw new UsageError(`Invalid subnet ${JSON.stringify(s)}: expected CIDR`, hint);
      }
      const key = family(s, "subnet", hint) === 4 ? "subnet" : "subnetIPv6";
      if (options[key] !== undefined) {
        throw new UsageError(
          `Two IPv${key === "subnet" ? 4 : 6} subnets: one of each family`,
          hint,
        );
      }
      options[key] = s;
    }
    for (const g of gateways) {
      const key = family(g, "gateway", hint) === 4 ? "gateway" : "gatewayIPv6";
      if (options[key] !== undefined) throw new UsageError(`Two gateways of one family`, hint);
      options[key] = g;
    }
    for (const r of strings(values["ip-range"])) {
      if (!r.includes("/")) {
        throw new UsageError(`Invalid --ip-range ${JSON.stringify(r)}: expected CIDR`, hint);
      }
      const key = family(r, "--ip-range", hint) === 4 ? "ipRange" : "ipRangeIPv6";
      if (options[key] !== undefined) throw new UsageError(`Two --ip-range of one family`, hint);
      options[key] = r;
    }
    if (options.subnetIPv6 !== undefined && values.ipv6 !== true) {
      throw new UsageError(`An IPv6 --subnet needs --ipv6`, hint);
    }
    if (values.ipv4 === false) {
      if (values.ipv6 !== true) throw new UsageError(`--ipv4=false needs --ipv6`, hint);
      options.enableIPv4 = false;
    }
    if (values.ipv6 === true && options.subnetIPv6 === undefined) {
      options.enableIPv6 = true;
      if (options.poolIPv6 === undefined) {
        const env = process.env.NSLINK_IPV6_POOL;
        if (!env) {
          throw new UsageError(
            `--ipv6 needs an IPv6 --subnet or an IPv6 pool: set NSLINK_IPV6_POOL=CIDR ` +
              `(e.g. a /48 of your ULA prefix) or give -o poolIPv6=CIDR`,
            hint,
          );
        }
        options.poolIPv6 = env.split(",").map((p) => p.trim()).filter(Boolean);
      }
    }
    const labels: Record<string, string> = {};
    for (const l of strings(values.label)) {
      const eq = l.indexOf("=");
      // Docker: `--label k` is the label k with an empty value.
      if (eq === 0 || l === "") {
        throw new UsageError(`Invalid --label ${JSON.stringify(l)}: expected KEY=VALUE`, hint);
      }
      labels[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? "" : l.slice(eq + 1);
    }
    if (Object.keys(labels).length > 0) options.labels = labels;
    if (values.internal === true) options.internal = true;
    if (values["disable-dns"] === true) options.dns = false;
    const upstreams = strings(values.dns);
    if (upstreams.length > 0) {
      if (values["disable-dns"] === true) {
        throw new UsageError(`--dns and --disable-dns do not go together`, hint);
      }
      options.dnsServers = upstreams;
    }
    const type = typeof values.driver === "string" ? values.driver : "bridge";
    const net = await newNetwork(type, args[0], options);
    io.out(`${net.id}\n`);
  },
};

/** One network as `network ls` shows it, with Docker's field names for `--format`. */
export interface NetworkRow {
  /** Random id (`{{.ID}}` in a template, as Docker's, finds it too). */
  Id: string;
  /** Name. */
  Name: string;
  /** Driver type. */
  Driver: string;
  /** Always `local`. */
  Scope: string;
  /** Whether it has an IPv6 subnet. */
  IPv6: boolean;
  /** No traffic beyond the bridge. */
  Internal: boolean;
  /** Labels as `k=v,k2=v2` (Docker's form). */
  Labels: string;
  /** IPv4 subnet, or empty. */
  Subnet: string;
  /** IPv6 subnet, or empty. */
  SubnetIPv6: string;
  /** How many containers are connected. */
  Containers: number;
  /** ISO 8601 creation time. */
  CreatedAt: string;
}

function labelsOf(net: Network): Record<string, string> {
  return net.labels ?? {};
}

function rowOf(n: Network): NetworkRow {
  return {
    Id: n.id,
    Name: n.name,
    Driver: n.type,
    Scope: "local",
    IPv6: n.subnetIPv6 !== "",
    Internal: n.config.internal === true,
    Labels: Object.entries(labelsOf(n)).map(([k, v]) => `${k}=${v}`).join(","),
    Subnet: n.subnet,
    SubnetIPv6: n.subnetIPv6,
    Containers: n.endpoints().length,
    CreatedAt: n.created,
  };
}

const FILTER_KEYS = ["name", "id", "driver", "label", "scope", "type"];

/**
 * Parses `--filter KEY=VALUE` values into a predicate over networks, with Docker's semantics:
 * values of one key are ORed, different keys ANDed; `name` and `id` match a substring (id: a
 * prefix), `driver` exactly, `label` a key (`label=k`) or a key and value (`label=k=v`), `type`
 * `custom` (every nslink network) or `builtin` (none).
 *
 * @example
 * ```ts ignore
 * const keep = networkFilter(["driver=bridge", "name=blue", "name=red"], hint);
 * keep(net); // a bridge network named like blue or red
 * ```
 * @param filters The values of `--filter`.
 * @param hint Help to point at on a malformed filter.
 * @returns The predicate.
 */
export function networkFilter(filters: string[], hint: string): (n: Network) => boolean {
  const byKey = new Map<string, string[]>();
  for (const f of filters) {
    const eq = f.indexOf("=");
    const key = eq > 0 ? f.slice(0, eq) : "";
    if (!FILTER_KEYS.includes(key)) {
      throw new UsageError(
        `Invalid --filter ${JSON.stringify(f)}: expected KEY=VALUE with KEY one of ${
          FILTER_KEYS.join(", ")
        }`,
        hint,
      );
    }
    const value = f.slice(eq + 1);
    if (key === "type" && value !== "custom" && value !== "builtin") {
      throw new UsageError(
        `Invalid --filter ${JSON.stringify(f)}: type is custom or builtin`,
        hint,
      );
    }
    byKey.set(key, [...byKey.get(key) ?? [], value]);
  }
  const test = (key: string, v: string, n: Network): boolean => {
    switch (key) {
      case "name":
        return n.name.includes(v);
      case "id":
        return n.id.startsWith(v);
      case "driver":
        return n.type === v;
      case "scope":
        return v === "local";
      case "type":
        return v === "custom";
      default: { // label
        const labels = labelsOf(n);
        const eq = v.indexOf("=");
        return eq < 0 ? v in labels : labels[v.slice(0, eq)] === v.slice(eq + 1);
      }
    }
  };
  return (n) => [...byKey].every(([key, values]) => values.some((v) => test(key, v, n)));
}

/**
 * Writes values as `--format` asks: a Go template (see `template.ts`), JSON, or else nothing is
 * written and `false` is returned (the caller's table).
 *
 * @param format The value of `--format`, if any.
 * @param values What to show.
 * @param io Where to write.
 * @param hint Help to point at on a bad template.
 * @returns Whether it wrote.
 */
function writeFormatted(
  format: unknown,
  values: unknown[],
  io: Context["io"],
  hint: string,
): boolean {
  if (typeof format !== "string" || format === "table") return false;
  if (format === "json") {
    io.out(JSON.stringify(values, null, 2) + "\n");
    return true;
  }
  let text: string;
  try {
    text = renderTemplate(format, values);
  } catch (e) {
    if (e instanceof TemplateError) throw new UsageError(e.message, hint);
    throw e;
  }
  io.out(text);
  return true;
}

/** Refuses a template that cannot be parsed before any work is done. */
function checkTemplate(format: unknown, hint: string): void {
  if (typeof format !== "string" || !isTemplate(format)) return;
  try {
    renderTemplate(format, []);
  } catch (e) {
    if (e instanceof TemplateError) throw new UsageError(e.message, hint);
    throw e;
  }
}

async function openAll(): Promise<Network[]> {
  const nets: Network[] = [];
  for (const name of listNetworks()) {
    try {
      // Listing makes nothing: a network defined but not made since a reboot is only read.
      nets.push(await openNetwork(name, { restore: false }));
    } catch (e) {
      // Removed (or being removed) since it was listed: not there any more.
      if (!/does not exist/.test((e as Error).message)) throw e;
    }
  }
  return nets;
}

const ls: Command = {
  path: ["network", "ls"],
  summary: "List networks",
  operands: "",
  min: 0,
  max: 0,
  options: {
    quiet: { type: "boolean", short: "q", help: "Only the network ids" },
    filter: {
      type: "string",
      short: "f",
      value: "KEY=VALUE",
      multiple: true,
      help: "Only networks that match: name=, id=, driver=, label=K or label=K=V, type=custom",
    },
    "no-trunc": { type: "boolean", help: "Accepted for Docker's sake: ids are never cut" },
    format: { ...FORMAT_OPTION, template: true },
  },
  notes: `Filters of one key are ORed, of different keys ANDed (as Docker's).
Template fields: .ID (or .Id) .Name .Driver .Scope .IPv6 .Internal .Labels .Subnet .SubnetIPv6
.Containers .CreatedAt, and {{json .}}.

Examples:
  nslink network ls -q --filter driver=bridge
  nslink network ls --format '{{.Name}}'
  nslink network ls --format 'table {{.Name}}\\t{{.Driver}}'`,
  async run({ values, io, hint }) {
    const keep = networkFilter(strings(values.filter), hint);
    checkTemplate(values.format, hint);
    const nets = (await openAll()).filter(keep);
    if (values.quiet === true) return io.out(nets.map((n) => `${n.id}\n`).join(""));
    const rows = nets.map(rowOf);
    if (writeFormatted(values.format, rows, io, hint)) return;
    io.out(formatTable(
      ["NETWORK ID", "NAME", "DRIVER", "SUBNET", "IPV6 SUBNET", "CONTAINERS"],
      rows.map((r) => [r.Id, r.Name, r.Driver, r.Subnet, r.SubnetIPv6, String(r.Containers)]),
    ));
  },
};

const inspect: Command = {
  path: ["network", "inspect"],
  summary: "Show networks in detail, as JSON: configuration, containers, addresses, ports",
  operands: "NETWORK...",
  min: 1,
  max: Infinity,
  options: { format: { ...FORMAT_OPTION, choices: ["json"], template: true } },
  notes: `NETWORK is a name, an id or a unique id prefix.
Template fields are the JSON's: {{.Name}}, {{.Id}} (or {{.ID}}), {{.Driver}}, {{.IPAM.Config}},
{{json .Containers}}, …

Example:
  nslink network inspect --format '{{.Name}} {{.Id}}' blue`,
  async run({ values, args, io, hint }) {
    checkTemplate(values.format, hint);
    const out = [];
    for (const ref of args) {
      out.push(await inspectNetwork(await resolveNetwork(ref, { restore: false })));
    }
    if (typeof values.format === "string" && values.format !== "json") {
      writeFormatted(values.format, out, io, hint);
      return;
    }
    io.out(JSON.stringify(out, null, 2) + "\n");
  },
};

const prune: Command = {
  path: ["network", "prune"],
  summary: "Remove every network that no container is connected to",
  operands: "",
  min: 0,
  max: 0,
  options: {
    force: { type: "boolean", short: "f", help: "Do not ask for confirmation" },
    filter: {
      type: "string",
      value: "KEY=VALUE",
      multiple: true,
      help: "Only networks that match (as network ls --filter)",
    },
  },
  notes: `Prints the names of the networks removed. Without -f, asks first (and refuses when
there is no terminal to ask on).`,
  async run({ values, io, hint }) {
    const keep = networkFilter(strings(values.filter), hint);
    if (values.force !== true) {
      const ask = (globalThis as { prompt?: (q: string) => string | null }).prompt;
      const tty = process.stdin.isTTY;
      if (!ask || tty !== true) {
        throw new UsageError(`"nslink network prune" asks before removing: give -f to skip`, hint);
      }
      const answer = ask(
        "WARNING! This will remove all networks not used by at least one container.\n" +
          "Are you sure you want to continue? [y/N]",
      );
      if (!/^y(es)?$/i.test(answer?.trim() ?? "")) return;
    }
    const removed: string[] = [];
    for (const net of (await openAll()).filter(keep)) {
      if (net.endpoints().length > 0) continue;
      if (await net.deleteIfUnused()) removed.push(net.name);
    }
    if (removed.length > 0) io.out(`Deleted Networks:\n${removed.map((n) => `${n}\n`).join("")}`);
  },
};

const rm: Command = {
  path: ["network", "rm"],
  summary: "Remove networks that no container is connected to",
  operands: "NETWORK...",
  min: 1,
  max: Infinity,
  options: {
    force: { type: "boolean", short: "f", help: "Do not fail when a network does not exist" },
  },
  async run({ values, args, io }) {
    let status = 0;
    for (const name of args) {
      try {
        // After a reboot, a network not made since is removed without being made.
        const net = await resolveNetwork(name, { restore: false });
        if (!await net.deleteIfUnused()) {
          throw new Error(
            `Network "${name}" has connected containers (${
              net.endpoints().join(", ")
            }): disconnect them first`,
          );
        }
        io.out(`${name}\n`);
      } catch (e) {
        if (values.force === true && /does not exist/.test(String((e as Error).message))) continue;
        io.err(`nslink: ${(e as Error).message}\n`);
        status = 1;
      }
    }
    return status;
  },
};

/**
 * The namespace `--netns PATH` or `--pid PID` names.
 *
 * @param values Parsed options.
 * @param hint Help to point at.
 * @returns The namespace path.
 */
export function namespaceOption(values: Context["values"], hint: string): string {
  const { netns, pid } = values;
  if ((netns === undefined) === (pid === undefined)) {
    throw new UsageError(
      `Give the container's namespace: --netns PATH or --pid PID (one of them)`,
      hint,
    );
  }
  if (typeof pid === "string") {
    if (!/^[1-9]\d*$/.test(pid)) throw new UsageError(`Invalid --pid ${JSON.stringify(pid)}`, hint);
    return `/proc/${pid}/ns/net`;
  }
  return netns as string;
}

const connect: Command = {
  path: ["network", "connect"],
  summary: "Connect a container (a network namespace) to a network",
  operands: "NETWORK CONTAINER",
  min: 2,
  max: 2,
  options: {
    netns: {
      type: "string",
      value: "PATH",
      help: "The container's namespace (path or /run/netns name)",
    },
    pid: { type: "string", value: "PID", help: "The namespace of this process (/proc/PID/ns/net)" },
    ip: { type: "string", value: "IP", help: "Static IPv4 address" },
    ip6: { type: "string", value: "IP", help: "Static IPv6 address" },
    publish: {
      type: "string",
      short: "p",
      value: "[HOSTIP:]HOSTPORT:PORT[/PROTO]",
      multiple: true,
      help: "Publish a container port on the host",
    },
    alias: {
      type: "string",
      value: "NAME",
      multiple: true,
      help: "One more DNS name of the container on this network",
    },
  },
  notes: `CONTAINER names the endpoint in the network (nslink network disconnect takes it).
The interface is created directly inside the namespace (eth0, eth1, …), with its addresses,
MAC, MTU and default routes via the network's gateways.

Example:
  nslink netns add c1
  nslink network connect blue c1 --netns c1 -p 8080:80`,
  async run({ values, args, io, hint }) {
    const [network, container] = args;
    const path = namespaceOption(values, hint);
    const ports: PortSpec[] = [];
    for (const p of strings(values.publish)) {
      try {
        ports.push(parsePublish(p));
      } catch (e) {
        throw new UsageError((e as Error).message, hint);
      }
    }
    for (const [opt, fam] of [["ip", 4], ["ip6", 6]] as const) {
      const v = values[opt];
      if (typeof v === "string" && (v.includes("/") || family(v, `--${opt}`, hint) !== fam)) {
        throw new UsageError(
          `Invalid --${opt} ${JSON.stringify(v)}: an IPv${fam} address without prefix`,
          hint,
        );
      }
    }
    const net = await resolveNetwork(network);
    const options: LinkOptions = {};
    if (typeof values.ip === "string") options.address = values.ip;
    if (typeof values.ip6 === "string") options.addressIPv6 = values.ip6;
    if (ports.length > 0) options.ports = ports;
    const aliases = strings(values.alias);
    if (aliases.length > 0) options.aliases = aliases;
    const ns = await openNetworkNamespace(path);
    try {
      await connectIn(net, container, ns, options);
    } finally {
      ns.close();
    }
    io.out("");
  },
};

export { connectIn };

const disconnect: Command = {
  path: ["network", "disconnect"],
  summary: "Disconnect a container from a network (its interface and addresses go)",
  operands: "NETWORK CONTAINER",
  min: 2,
  max: 2,
  options: {},
  async run({ args }) {
    const [network, container] = args;
    const net = await resolveNetwork(network);
    if (!net.endpoints().includes(container)) {
      throw new Error(`Container "${container}" is not connected to network "${network}"`);
    }
    await net.unlink(container);
  },
};

/** The `network` commands. */
export const networkCommands: Command[] = [create, ls, inspect, rm, prune, connect, disconnect];
