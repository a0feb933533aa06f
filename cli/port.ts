/**
 * `nslink port CONTAINER`: the ports published for a container, on every network it is
 * connected to, as `docker port` prints them.
 *
 * @module
 */
import { listNetworks, openNetwork } from "../network/network.ts";
import { type Command, FORMAT_OPTION } from "./command.ts";
import type { PortBinding } from "../netfilter/ports.ts";
import { formatBinding } from "./publish.ts";

/** `nslink port`. */
export const portCommand: Command = {
  path: ["port"],
  summary: "List a container's published ports",
  operands: "CONTAINER",
  min: 1,
  max: 1,
  options: { format: FORMAT_OPTION },
  async run({ args, io, format }) {
    const container = args[0];
    const found: (PortBinding & { network: string })[] = [];
    let connected = false;
    for (const name of listNetworks()) {
      const net = await openNetwork(name, { restore: false }); // reads only: makes nothing
      if (!net.endpoints().includes(container)) continue;
      connected = true;
      for (const b of await net.ports(container)) found.push({ network: name, ...b });
    }
    if (!connected) throw new Error(`Container "${container}" is not connected to any network`);
    if (format === "json") return io.out(JSON.stringify(found, null, 2) + "\n");
    for (const b of found) io.out(`${formatBinding(b)}\n`);
  },
};
