/**
 * `nslink network …`: Docker's network commands over the library's `Network`: create, ls,
 * inspect, rm, connect, disconnect.
 *
 * @module
 */
import { checkIP } from "../net/validate.ts";
import { parseCidr } from "../net/ip.ts";
import { openNetworkNamespace } from "../network/namespace.ts";
import { connectIn } from "../network/connect.ts";
import { type LinkOptions, listNetworks, newNetwork, openNetwork } from "../network/network.ts";
import { type Command, type Context, FORMAT_OPTION } from "./command.ts";
import { inspectNetwork } from "./inspect.ts";
import { parsePublish, type PortSpec } from "./publish.ts";
import { formatTable } from "./table.ts";
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
        "Driver: bridge (default), null, host, or overlay (with -o store=URL -o advertise=ADDR)",
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
    ipv6: { type: "boolean", help: "Enable IPv6 (needs an IPv6 --subnet)" },
    internal: { type: "boolean", help: "No traffic beyond the bridge, no published ports" },
    opt: {
      type: "string",
      short: "o",
      value: "KEY=VALUE",
      multiple: true,
      help:
        "Driver option: icc=false, masquerade=false, mtu=N, bridge=NAME; overlay: store=etcd://HOST:PORT, advertise=ADDR, storeCa=PATH, …",
    },
  },
  notes: `Prints the new network's id. Without --subnet, a free /24 is picked from 10.89.0.0/16.

Example:
  nslink network create --subnet 198.51.100.0/24 --ipv6 --subnet 2001:db8:1::/64 blue`,
  async run({ values, args, io, hint }) {
    const options: Record<string, unknown> = driverOptions(strings(values.opt), hint);
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
    if (options.subnetIPv6 !== undefined && values.ipv6 !== true) {
      throw new UsageError(`An IPv6 --subnet needs --ipv6`, hint);
    }
    if (values.ipv6 === true && options.subnetIPv6 === undefined) {
      throw new UsageError(`--ipv6 needs an IPv6 --subnet (e.g. 2001:db8:1::/64)`, hint);
    }
    if (values.internal === true) options.internal = true;
    const type = typeof values.driver === "string" ? values.driver : "bridge";
    const net = await newNetwork(type, args[0], options);
    io.out(`${net.id}\n`);
  },
};

const ls: Command = {
  path: ["network", "ls"],
  summary: "List networks",
  operands: "",
  min: 0,
  max: 0,
  options: { format: FORMAT_OPTION },
  async run({ io, format }) {
    // Listing makes nothing: a network defined but not made since a reboot is shown as defined.
    const nets = await Promise.all(listNetworks().map((n) => openNetwork(n, { restore: false })));
    const rows = nets.map((n) => ({
      Name: n.name,
      Id: n.id,
      Driver: n.type,
      Subnet: n.subnet,
      SubnetIPv6: n.subnetIPv6,
      Containers: n.endpoints().length,
    }));
    if (format === "json") return io.out(JSON.stringify(rows, null, 2) + "\n");
    io.out(formatTable(
      ["NETWORK ID", "NAME", "DRIVER", "SUBNET", "IPV6 SUBNET", "CONTAINERS"],
      rows.map((r) => [r.Id, r.Name, r.Driver, r.Subnet, r.SubnetIPv6, String(r.Containers)]),
    ));
  },
};

const inspect: Command = {
  path: ["network", "inspect"],
  summary: "Show networks in detail, as JSON: configuration, containers, addresses, ports",
  operands: "NAME...",
  min: 1,
  max: Infinity,
  options: { format: { ...FORMAT_OPTION, help: "Output format: json (the default here)" } },
  async run({ args, io }) {
    const out = [];
    for (const name of args) {
      out.push(await inspectNetwork(await openNetwork(name, { restore: false })));
    }
    io.out(JSON.stringify(out, null, 2) + "\n");
  },
};

const rm: Command = {
  path: ["network", "rm"],
  summary: "Remove networks that no container is connected to",
  operands: "NAME...",
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
        const net = await openNetwork(name, { restore: false });
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
    const net = await openNetwork(network);
    const options: LinkOptions = {};
    if (typeof values.ip === "string") options.address = values.ip;
    if (typeof values.ip6 === "string") options.addressIPv6 = values.ip6;
    if (ports.length > 0) options.ports = ports;
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
    const net = await openNetwork(network);
    if (!net.endpoints().includes(container)) {
      throw new Error(`Container "${container}" is not connected to network "${network}"`);
    }
    await net.unlink(container);
  },
};

/** The `network` commands. */
export const networkCommands: Command[] = [create, ls, inspect, rm, connect, disconnect];
