/**
 * The agent's overlay duty: this host's part in every overlay network of the agent's state
 * directory, kept by the host's background process so that a process that links and exits
 * (`nslink network connect`, a CNI ADD) leaves a container the other hosts keep reaching. For
 * each overlay network whose record is in the state directory, {@linkcode OverlayHostDuty} runs
 * the host's duty there (`OverlayHost.run`, network/overlay_host.ts): the host's lease (shared
 * with this host's other processes, kept alive every TTL/3), its registration, every endpoint of
 * the host registered again after an outage longer than the TTL (from the store and from the
 * host's own state), and the watcher keeping this host's FDB and neighbour entries in step with
 * the store. Everything comes from the network's local record: the store's URL, `advertise`,
 * `ttl`, and the TLS files and user name (`storeCa`, `storeCert`, `storeKey`, `storeUser`).
 *
 * A store password is never written to the state directory (it is world-readable): an overlay
 * network whose store needs one (its record names `storeUser`) is skipped, with a line in the
 * agent's log and in its status (`skipped`); `nslink agent --store … -o storeUser=… -o
 * storePassword=… NETWORK` under a service manager keeps it (a foreground agent takes over from
 * the one started on demand, and this duty leaves the networks it names to it).
 *
 * Registered under the name `overlay`: every agent runs it; it is {@linkcode Duty.needed} while
 * an overlay network exists, and starts and stops one host duty per network as they come and go
 * (the agent's sync, every tick).
 *
 * @module
 */
import { hostRtnl } from "../model/host.ts";
import type { NetworkRecord } from "../model/records.ts";
import { OverlayHost, overlayKeys, registeredEndpoints } from "../network/overlay_host.ts";
import { storeOptionsOf } from "../network/overlay_options.ts";
import { OverlayWatcher } from "../network/overlay_watcher.ts";
import { FileStore } from "../network/store.ts";
import { openStore } from "../store/store.ts";
import { type Duty, type DutyContext, registerDuty } from "./duty.ts";

/** Overlay networks the foreground `nslink agent NETWORK…` keeps itself (with its own options). */
const foreground = new Set<string>();

/**
 * Leaves overlay networks to the foreground agent's own duty (`nslink agent --store … NETWORK…`,
 * whose options may hold what the state does not, such as a store password).
 *
 * @example
 * ```ts ignore
 * keptInForeground(["ov1"]);
 * ```
 * @param names The networks' names.
 */
export function keptInForeground(names: Iterable<string>): void {
  for (const n of names) foreground.add(n);
}

interface Running {
  key: string;
  host: OverlayHost;
  abort: AbortController;
  done: Promise<void>;
  watching: boolean;
  error?: string;
}

/** The settings of a network's host duty, from its local record, or why there are none. */
function settingsOf(r: NetworkRecord): {
  store: string;
  advertise: string;
  ttl: number;
  vxlan: string;
  subnets: string[];
  options: Record<string, string>;
} {
  const c = r.config as Record<string, unknown>;
  if (typeof c.store !== "string" || typeof c.advertise !== "string") {
    throw new TypeError(`overlay network "${r.name}": its record names no store or advertise`);
  }
  if (typeof c.vxlanName !== "string") {
    throw new TypeError(`overlay network "${r.name}": its record names no VXLAN device`);
  }
  const options: Record<string, string> = {};
  for (const k of ["storeCa", "storeCert", "storeKey", "storeUser"]) {
    if (typeof c[k] === "string") options[k] = c[k] as string;
  }
  const subnets = [r.pools.v4?.subnet, r.pools.v6?.subnet].filter((s): s is string => !!s);
  return {
    store: c.store,
    advertise: c.advertise,
    ttl: typeof c.ttl === "number" && c.ttl > 0 ? c.ttl : 15,
    vxlan: c.vxlanName,
    subnets,
    options,
  };
}

/**
 * This host's part in every overlay network of the state directory; see the module description.
 *
 * @example
 * ```ts ignore
 * const duty = new OverlayHostDuty(ctx);
 * await duty.sync(); // one host duty per overlay network in ctx.stateDir
 * duty.status(); // { networks: { ov1: { watching: true, renewals: 0, conflicts: [] } } }
 * await duty.stop();
 * ```
 */
export class OverlayHostDuty implements Duty {
  /** Its name in logs and status replies. */
  readonly name = "overlay";
  #ctx: DutyContext;
  #files: FileStore;
  #running = new Map<string, Running>();
  #failed = new Map<string, string>();
  /** Networks left to a foreground agent (their store needs a password), with why. */
  #skipped = new Map<string, string>();
  #stopped = false;

  /**
   * Makes the duty (nothing runs before {@linkcode OverlayHostDuty.sync}).
   *
   * @param ctx The agent's context.
   */
  constructor(ctx: DutyContext) {
    this.#ctx = ctx;
    this.#files = new FileStore(ctx.stateDir);
  }

  /** The overlay networks of the state directory, ready, by name. */
  #overlays(): Map<string, NetworkRecord> {
    const out = new Map<string, NetworkRecord>();
    let names: string[];
    try {
      names = this.#files.networks();
    } catch {
      return out; // the state directory is gone
    }
    for (const name of names) {
      try {
        const r = this.#files.readNetwork(name);
        if (r?.type === "overlay" && (r.state ?? "ready") === "ready") out.set(name, r);
      } catch { /* being written or removed: next tick */ }
    }
    return out;
  }

  /** Starts a host duty for each new overlay network, stops those of gone ones. */
  async sync(): Promise<void> {
    if (this.#stopped) return;
    const want = new Map<string, { key: string; record: NetworkRecord }>();
    for (const [name, r] of this.#overlays()) {
      if (foreground.has(name)) continue;
      want.set(name, { key: JSON.stringify([r.id, r.config, r.pools]), record: r });
    }
    for (const [name, run] of [...this.#running]) {
      if (want.get(name)?.key === run.key) continue;
      this.#running.delete(name);
      await this.#halt(run);
    }
    for (const name of [...this.#failed.keys()]) if (!want.has(name)) this.#failed.delete(name);
    for (const name of [...this.#skipped.keys()]) if (!want.has(name)) this.#skipped.delete(name);
    for (const [name, { key, record }] of want) {
      if (this.#running.has(name)) continue;
      if (typeof (record.config as Record<string, unknown>).storeUser === "string") {
        // The password is not in the state: `nslink agent … -o storePassword=…` keeps it.
        const msg = `overlay: network "${name}": its store needs a password, which the state ` +
          `does not keep: run nslink agent --store URL --advertise ADDR -o storeUser=NAME ` +
          `-o storePassword=PASSWORD ${name}`;
        if (!this.#skipped.has(name)) this.#ctx.log(msg);
        this.#skipped.set(name, msg);
        continue;
      }
      try {
        this.#running.set(name, this.#start(key, record));
        this.#failed.delete(name);
      } catch (e) {
        const msg = `overlay: network "${name}": ${(e as Error).message}`;
        if (this.#failed.get(name) !== msg) this.#ctx.log(msg);
        this.#failed.set(name, msg);
      }
    }
  }

  #start(key: string, record: NetworkRecord): Running {
    const s = settingsOf(record);
    const store = openStore(s.store, storeOptionsOf(s.options));
    const files = this.#files;
    const name = record.name;
    const host = new OverlayHost({
      store,
      network: name,
      advertise: s.advertise,
      ttl: s.ttl,
      local: () => registeredEndpoints(files, name, record.id, s.advertise),
      // The host left the network (its record gone here): its lease is not taken again.
      member: () => files.readNetwork(name)?.id === record.id,
      onConflict: (c) =>
        this.#ctx.log(
          `overlay: network "${c.network}": endpoint "${c.endpoint}" could not be registered again: "${c.key}" is held by ${
            JSON.stringify(c.holder)
          }`,
        ),
    });
    const abort = new AbortController();
    const keys = overlayKeys(name);
    const run: Running = { key, host, abort, done: Promise.resolve(), watching: false };
    run.done = host.run(abort.signal, {
      watch: () =>
        new OverlayWatcher({
          store,
          prefix: keys.endpoints,
          hosts: keys.hosts,
          config: keys.config,
          subnets: s.subnets,
          self: s.advertise,
          vxlan: s.vxlan,
          rtnl: hostRtnl(),
          onReject: (k, why) => this.#ctx.log(`overlay: endpoint "${k}" skipped: ${why}`),
        }),
      onReady: () => {
        run.watching = true;
        this.#ctx.log(`overlay: keeping network "${name}" (lease, registration, watcher)`);
      },
    }).catch((e) => {
      run.error = (e as Error).message;
      this.#ctx.log(`overlay: network "${name}": ${run.error}`);
    });
    return run;
  }

  async #halt(run: Running): Promise<void> {
    run.abort.abort();
    await run.done;
    await run.host.stop();
  }

  /** Whether an overlay network exists in the state directory. */
  needed(): boolean {
    return this.#running.size > 0 || this.#failed.size > 0;
  }

  /** The networks kept: watching, renewals after a lost lease, conflicts, errors. */
  status(): Record<string, unknown> {
    return {
      networks: Object.fromEntries(
        [...this.#running].map(([n, r]) => [n, {
          watching: r.watching,
          renewals: r.host.renewals,
          conflicts: r.host.conflicts,
          ...(r.error ? { error: r.error } : {}),
        }]),
      ),
      failed: Object.fromEntries(this.#failed),
      skipped: Object.fromEntries(this.#skipped),
    };
  }

  /** Stops every host duty (their leases are left to expire). */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const run of this.#running.values()) await this.#halt(run);
    this.#running.clear();
  }
}

registerDuty("overlay", (ctx) => new OverlayHostDuty(ctx));
