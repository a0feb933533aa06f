/**
 * `nslink events`: kernel network events (links, addresses, routes) as they happen.
 *
 * @module
 */
import { type Command, FORMAT_OPTION } from "./command.ts";

/** `nslink events`. */
export const eventsCommand: Command = {
  path: ["events"],
  summary: "Print link, address and route events as they happen, until interrupted",
  operands: "",
  min: 0,
  max: 0,
  options: { format: FORMAT_OPTION },
  run() {
    return Promise.reject(
      new Error("events needs the library's event monitor (Rtnl.monitor), which this build lacks"),
    );
  },
};
