/**
 * `nslink netns …`: named network namespaces under `/run/netns`, as `ip netns` makes them.
 *
 * @module
 */
import { NetNs, netnsPath } from "../netns/netns.ts";
import { newNetworkNamespace } from "../network/namespace.ts";
import { removeNetnsResolvConf } from "../network/dns_hooks.ts";
import { listNetworks, openNetwork } from "../network/network.ts";
import { type Command, FORMAT_OPTION } from "./command.ts";
import { formatTable } from "./table.ts";

const add: Command = {
  path: ["netns", "add"],
  summary: "Create a network namespace at /run/netns/NAME (or at a PATH), with lo up",
  operands: "NAME",
  min: 1,
  max: 1,
  options: {},
  async run({ args, io }) {
    const ns = await newNetworkNamespace(args[0]);
    ns.close();
    io.out(`${ns.path}\n`);
  },
};

const ls: Command = {
  path: ["netns", "ls"],
  summary: "List the namespaces under /run/netns and the networks each is connected to",
  operands: "",
  min: 0,
  max: 0,
  options: { format: FORMAT_OPTION },
  async run({ io, format }) {
    const attached = new Map<string, string[]>();
    for (const name of listNetworks()) {
      const net = await openNetwork(name, { restore: false }); // reads only: makes nothing
      for (const ep of net.endpoints()) {
        const path = net.endpoint(ep)?.namespace;
        if (path) attached.set(path, [...attached.get(path) ?? [], `${name}/${ep}`]);
      }
    }
    const rows = NetNs.list().map((name) => ({
      name,
      path: netnsPath(name),
      networks: attached.get(netnsPath(name)) ?? [],
    }));
    if (format === "json") return io.out(JSON.stringify(rows, null, 2) + "\n");
    io.out(formatTable(
      ["NAME", "PATH", "NETWORK/CONTAINER"],
      rows.map((r) => [r.name, r.path, r.networks.join(", ")]),
    ));
  },
};

const rm: Command = {
  path: ["netns", "rm"],
  summary: "Remove network namespaces (their interfaces go with them)",
  operands: "NAME...",
  min: 1,
  max: Infinity,
  options: {},
  run({ args, io }) {
    let status = 0;
    for (const name of args) {
      try {
        NetNs.remove(name);
        removeNetnsResolvConf(netnsPath(name));
      } catch (e) {
        io.err(`nslink: ${(e as Error).message}\n`);
        status = 1;
      }
    }
    return Promise.resolve(status);
  },
};

/** The `netns` commands. */
export const netnsCommands: Command[] = [add, ls, rm];
