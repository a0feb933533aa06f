/**
 * `nslink events`: kernel network events (links, addresses, routes, neighbours) of a namespace
 * as they happen, from the library's event monitor (`Rtnl.monitor`), like `ip monitor`.
 *
 * @module
 */
import { NetNs } from "../netns/netns.ts";
import { Rtnl } from "../rtnl/handle.ts";
import type { MonitorGroup, RtnlEvent } from "../rtnl/monitor.ts";
import { type Command, FORMAT_OPTION } from "./command.ts";
import { UsageError } from "./usage.ts";

const ALL: MonitorGroup[] = ["link", "address", "route", "neighbour"];

/**
 * One event as a line for people, in `ip monitor`'s words.
 *
 * @example
 * ```ts ignore
 * describeEvent({ type: "overrun" }); // "overrun: events were lost, re-read the state"
 * ```
 * @param e The event.
 * @returns The line, without newline.
 */
export function describeEvent(e: RtnlEvent): string {
  switch (e.type) {
    case "link": {
      const l = e.link;
      const parts = [`index ${l.index}`, l.kind ?? "", l.up ? "up" : "down", `mtu ${l.mtu}`];
      if (l.mac) parts.push(l.mac);
      if (l.master !== undefined) parts.push(`master ${l.master}`);
      return `link ${e.action} ${l.name} (${parts.filter(Boolean).join(", ")})`;
    }
    case "address":
      return `address ${e.action} ${e.address.cidr} on index ${e.address.index} (${e.address.scope})`;
    case "route": {
      const r = e.route;
      return `route ${e.action} ${r.dst}${r.gateway ? ` via ${r.gateway}` : ""}${
        r.oif !== undefined ? ` dev index ${r.oif}` : ""
      } table ${r.table}`;
    }
    case "neighbour": {
      const n = e.neighbour;
      return `neighbour ${e.action} ${n.address ?? "?"}${
        n.mac ? ` lladdr ${n.mac}` : ""
      } on index ${n.index} ${n.state}`;
    }
    case "overrun":
      return "overrun: events were lost, re-read the state";
  }
}

/** `nslink events`. */
export const eventsCommand: Command = {
  path: ["events"],
  summary: "Print link, address, route and neighbour events as they happen, until interrupted",
  operands: "",
  min: 0,
  max: 0,
  options: {
    netns: {
      type: "string",
      value: "PATH",
      help: "Watch this namespace (path or /run/netns name)",
    },
    filter: {
      type: "string",
      value: "GROUPS",
      help: "Comma-separated groups: link, address, route, neighbour (default: all)",
    },
    count: { type: "string", value: "N", help: "Stop after N events" },
    format: {
      ...FORMAT_OPTION,
      help: "Output format (json: one object per line)",
      choices: ["lines", "json"],
    },
  },
  notes: `Says on stderr when it is listening; every change after that is printed, in order.
An "overrun" event means the kernel dropped events (the reader fell behind).`,
  async run({ values, io, format, hint }) {
    const groups = typeof values.filter === "string"
      ? values.filter.split(",").map((g) => g.trim()) as MonitorGroup[]
      : ALL;
    for (const g of groups) {
      if (!ALL.includes(g)) {
        throw new UsageError(`Unknown event group "${g}": ${ALL.join(", ")}`, hint);
      }
    }
    let count = Infinity;
    if (typeof values.count === "string") {
      if (!/^[1-9]\d*$/.test(values.count)) {
        throw new UsageError(`Invalid --count ${JSON.stringify(values.count)}`, hint);
      }
      count = Number(values.count);
    }
    const netns = typeof values.netns === "string" ? NetNs.open(values.netns) : undefined;
    try {
      const monitor = Rtnl.monitor({ groups, ...(netns ? { netns } : {}) });
      try {
        io.err(
          `nslink: listening for ${groups.join(", ")} events${
            netns ? ` in ${netns.path}` : ""
          } (Ctrl-C to stop)\n`,
        );
        let seen = 0;
        for await (const event of monitor) {
          io.out(format === "json" ? `${JSON.stringify(event)}\n` : `${describeEvent(event)}\n`);
          if (++seen >= count) break;
        }
      } finally {
        monitor.close();
      }
    } finally {
      netns?.close();
    }
  },
};
