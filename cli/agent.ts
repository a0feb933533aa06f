/**
 * `nslink agent`: the per-host process of overlay networks. It joins each named network (its
 * bridge and VXLAN device on this host, like `openNetwork(name, { store, advertise })`) and runs
 * its watcher, keeping this host's FDB and neighbour entries in step with the store, until it
 * gets SIGINT or SIGTERM; then it stops the watchers and exits 0. Containers linked by other
 * processes on this host keep their own leases.
 *
 * @module
 */
import process from "node:process";
import { type Network, type NetworkWatcher, openNetwork } from "../network/network.ts";
import "../network/overlay.ts";
import type { Command } from "./command.ts";
import { driverOptions } from "./network.ts";
import { UsageError } from "./usage.ts";

const STORE_OPTIONS = ["storeCa", "storeCert", "storeKey", "storeUser", "storePassword"];

/** `nslink agent`. */
export const agentCommand: Command = {
  path: ["agent"],
  summary: "Keep this host's overlay entries (FDB, neighbours) in step with the store",
  operands: "NETWORK...",
  min: 1,
  max: Infinity,
  options: {
    store: {
      type: "string",
      value: "URL",
      help: "The store: etcd://HOST:PORT[,HOST:PORT...] (required)",
    },
    advertise: {
      type: "string",
      value: "ADDR",
      help: "This host's underlay address, its VXLAN tunnel endpoint (required)",
    },
    opt: {
      type: "string",
      short: "o",
      value: "KEY=VALUE",
      multiple: true,
      help:
        "Store option: storeCa=PATH, storeCert=PATH, storeKey=PATH (etcd+https://), storeUser=NAME, storePassword=PASSWORD",
    },
  },
  notes:
    "Example:\n  nslink agent --store etcd://198.51.100.1:2379 --advertise 198.51.100.11 ov1\n" +
    "Runs until interrupted (SIGINT or SIGTERM).",
  async run({ values, args, io, hint }) {
    const store = values.store;
    const advertise = values.advertise;
    if (typeof store !== "string") throw new UsageError("agent needs --store", hint);
    if (typeof advertise !== "string") throw new UsageError("agent needs --advertise", hint);
    const pairs = Array.isArray(values.opt) ? values.opt.map(String) : [];
    const storeOptions = driverOptions(pairs, hint);
    for (const key of Object.keys(storeOptions)) {
      if (!STORE_OPTIONS.includes(key)) {
        throw new UsageError(
          `Unknown agent option "${key}": known options are ${STORE_OPTIONS.join(", ")}`,
          hint,
        );
      }
    }
    const networks: Network[] = [];
    const watchers: NetworkWatcher[] = [];
    let stop!: () => void;
    const stopped = new Promise<void>((r) => (stop = r));
    const onSignal = () => stop();
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    try {
      for (const name of args) {
        const net = await openNetwork(name, { ...storeOptions, store, advertise });
        networks.push(net);
        const w = net.watch();
        watchers.push(w);
        // The first snapshot may wait for the store: a signal still stops the agent.
        await Promise.race([w.ready, stopped]);
        io.out(`watching ${name} at revision ${w.revision}\n`);
      }
      await stopped;
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      for (const w of watchers) await w.stop();
      for (const n of networks) (n as Network & { close?(): void }).close?.();
    }
    io.out("stopped\n");
  },
};
