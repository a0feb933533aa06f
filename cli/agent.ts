/**
 * `nslink agent`: nslink's host background process in the foreground, for a service manager
 * (`contrib/nslink-agent.service`). One per state directory; it repairs the firewall of every
 * network, serves the names of every DNS-enabled one (see `agent/`) and, given overlay networks (`--store`, `--advertise`,
 * `NETWORK…`), keeps this host's FDB and neighbour entries in step with the store: one more duty
 * of the same process. Runs until SIGINT or SIGTERM, then exits 0. The library starts the same
 * process on demand (`--on-demand`: it exits once no network needs it).
 *
 * @module
 */
import process from "node:process";
import { runAgent } from "../agent/agent.ts";
import { cniHandler } from "../cni/serve.ts";
import type { Duty } from "../agent/duty.ts";
import "../agent/dns.ts";
import "../agent/firewall.ts";
import { keptInForeground } from "../agent/overlay.ts";
import { type Network, openNetwork } from "../network/network.ts";
import { OverlayNetwork } from "../network/overlay.ts";
import { hostAgent, registerHostAgent } from "../network/agent_hook.ts";
import { defaultStateDir } from "../network/state.ts";
import type { Command } from "./command.ts";
import { driverOptions } from "./network.ts";
import { UsageError } from "./usage.ts";

const STORE_OPTIONS = ["storeCa", "storeCert", "storeKey", "storeUser", "storePassword", "ttl"];

/**
 * The overlay networks of `nslink agent --store … NETWORK…`, as one duty of the agent: for each,
 * the host's duty there (`OverlayHost.run`): the host's lease and registration, every endpoint
 * of the host registered again after an outage longer than the TTL (a conflict reported), and
 * the watcher keeping this host's FDB and neighbour entries in step with the store.
 */
class OverlayDuty implements Duty {
  // The registered duty `overlay` (agent/overlay.ts) keeps the state's other overlay networks.
  readonly name = "overlay-foreground";
  readonly networks: Network[] = [];
  readonly runs: Promise<void>[] = [];
  readonly abort = new AbortController();
  sync(): Promise<void> {
    return Promise.resolve();
  }
  needed(): boolean {
    return this.runs.length > 0;
  }
  status(): Record<string, unknown> {
    return {
      networks: this.networks.map((n) => n.name),
      conflicts: this.networks.flatMap((n) => n instanceof OverlayNetwork ? n.host.conflicts : []),
    };
  }
  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.all(this.runs.splice(0));
    for (const n of this.networks.splice(0)) (n as Network & { close?(): void }).close?.();
  }
}

/** `nslink agent`. */
export const agentCommand: Command = {
  path: ["agent"],
  summary: "Run nslink's host agent: container names (DNS), overlay entries (FDB, neighbours)",
  operands: "[NETWORK...]",
  min: 0,
  max: Infinity,
  options: {
    store: {
      type: "string",
      value: "URL",
      help: "With overlay NETWORKs: the store, etcd://HOST:PORT[,HOST:PORT...]",
    },
    advertise: {
      type: "string",
      value: "ADDR",
      help: "With overlay NETWORKs: this host's underlay address, its VXLAN tunnel endpoint",
    },
    opt: {
      type: "string",
      short: "o",
      value: "KEY=VALUE",
      multiple: true,
      help:
        "Store option: storeCa=PATH, storeCert=PATH, storeKey=PATH (etcd+https://), storeUser=NAME, storePassword=PASSWORD; ttl=SECONDS (the host's lease, default 15)",
    },
    "on-demand": {
      type: "boolean",
      help: "Exit once no network needs the agent (how the library starts it)",
    },
  },
  notes: "Examples:\n  nslink agent\n" +
    "  nslink agent --store etcd://198.51.100.1:2379 --advertise 198.51.100.11 ov1\n" +
    "Runs until interrupted (SIGINT or SIGTERM). One agent per state directory " +
    "(/run/nslink or $NSLINK_STATE_DIR); its log is agent.log there when the library starts it.",
  async run({ values, args, io, hint }) {
    const store = values.store;
    const advertise = values.advertise;
    const overlay = new OverlayDuty();
    if (args.length > 0 || store !== undefined || advertise !== undefined) {
      if (typeof store !== "string") throw new UsageError("agent needs --store", hint);
      if (typeof advertise !== "string") throw new UsageError("agent needs --advertise", hint);
      if (args.length === 0) throw new UsageError("agent --store needs a NETWORK", hint);
    }
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
    let stop!: () => void;
    const stopped = new Promise<void>((r) => (stop = r));
    const onSignal = () => stop();
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
    // This process is the host's agent: opening its overlay networks (DNS-enabled by default)
    // must not start an on-demand agent that it would only have to take over from.
    // The overlay networks named here are this command's own duty (with its options), not the
    // registered overlay duty's (which keeps every other overlay network of the state).
    keptInForeground(args);
    const library = hostAgent();
    registerHostAgent({ ensure: () => Promise.resolve(), settle: () => Promise.resolve() });
    try {
      for (const name of args) {
        const net = await openNetwork(name, { ...storeOptions, store, advertise });
        overlay.networks.push(net);
        if (!(net instanceof OverlayNetwork)) {
          throw new Error(`Network "${name}" does not span hosts: give overlay networks only`);
        }
        let ready!: () => void;
        const watching = new Promise<void>((r) => (ready = r));
        overlay.runs.push(net.host.run(overlay.abort.signal, {
          watch: () => net.watch(),
          onReady: (w) => {
            io.out(`watching ${name} at revision ${w?.revision ?? 0}\n`);
            ready();
          },
        }));
        // The first snapshot may wait for the store: a signal still stops the agent.
        await Promise.race([watching, stopped]);
      }
    } catch (e) {
      await overlay.stop();
      throw e;
    } finally {
      if (library) registerHostAgent(library);
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
    let interrupted = false;
    void stopped.then(() => (interrupted = true));
    await Promise.resolve();
    if (interrupted) {
      await overlay.stop();
      io.out("stopped\n");
      return;
    }
    const ran = await runAgent({
      stateDir: defaultStateDir(),
      onDemand: values["on-demand"] === true,
      extraDuties: args.length ? [overlay] : [],
      // The CNI plugin's hand-off (cni/handoff.ts): an exec'd plugin asks this agent to do its work.
      requests: { cni: cniHandler(defaultStateDir()) },
      // How long an on-demand agent stays after its last CNI request (tests set it).
      ...(Number(process.env.NSLINK_AGENT_LINGER_MS) >= 0 && process.env.NSLINK_AGENT_LINGER_MS
        ? { lingerMs: Number(process.env.NSLINK_AGENT_LINGER_MS) }
        : {}),
      log: (line) => io.err(`${new Date().toISOString()} ${line}\n`),
    });
    await overlay.stop();
    if (ran) io.out("stopped\n");
  },
};
