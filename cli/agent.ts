/**
 * `nslink agent`: the per-host process of overlay networks. It joins each named network (its
 * bridge and VXLAN device on this host, like `openNetwork(name, { store, advertise })`) and runs
 * the host's duty there (`OverlayHost.run`): it keeps the host's lease and
 * registration alive, registers every endpoint of the host again after an outage longer than
 * the TTL (reporting a conflict), and runs the watcher keeping this host's FDB and neighbour
 * entries in step with the store, until it gets SIGINT or SIGTERM; then it stops the watchers
 * and exits 0.
 *
 * @module
 */
import process from "node:process";
import { type Network, openNetwork } from "../network/network.ts";
import { OverlayNetwork } from "../network/overlay.ts";
import type { Command } from "./command.ts";
import { driverOptions } from "./network.ts";
import { UsageError } from "./usage.ts";

const STORE_OPTIONS = ["storeCa", "storeCert", "storeKey", "storeUser", "storePassword", "ttl"];

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
        "Store option: storeCa=PATH, storeCert=PATH, storeKey=PATH (etcd+https://), storeUser=NAME, storePassword=PASSWORD; ttl=SECONDS (the host's lease, default 15)",
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
    if (typeof storeOptions.ttl === "string") {
      if (!/^\d+$/.test(storeOptions.ttl)) {
        throw new UsageError(`Invalid -o ttl=${storeOptions.ttl}: a number of seconds`, hint);
      }
      storeOptions.ttl = Number(storeOptions.ttl);
    }
    const networks: Network[] = [];
    const runs: Promise<void>[] = [];
    const ac = new AbortController();
    const stopped = new Promise<void>((r) => ac.signal.addEventListener("abort", () => r()));
    const onSignal = () => ac.abort();
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    try {
      for (const name of args) {
        const net = await openNetwork(name, { ...storeOptions, store, advertise });
        networks.push(net);
        if (!(net instanceof OverlayNetwork)) {
          throw new Error(`Network "${name}" does not span hosts: the agent has nothing to do`);
        }
        // The host's duty: its lease, its registration and every endpoint's (again after an
        // outage), and the watcher of the other hosts' endpoints.
        let ready!: () => void;
        const watching = new Promise<void>((r) => (ready = r));
        runs.push(net.host.run(ac.signal, {
          watch: () => net.watch(),
          onReady: (w) => {
            io.out(`watching ${name} at revision ${w?.revision ?? 0}\n`);
            ready();
          },
        }));
        // The first snapshot may wait for the store: a signal still stops the agent.
        await Promise.race([watching, stopped]);
      }
      await stopped;
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      ac.abort();
      await Promise.all(runs);
      for (const n of networks) (n as Network & { close?(): void }).close?.();
    }
    io.out("stopped\n");
  },
};
