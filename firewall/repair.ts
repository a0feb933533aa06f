/**
 * {@linkcode FirewallRepair}: nslink's firewall repairs itself. A duty for the host's background
 * process: it watches nf_tables change events ({@linkcode NftMonitor}, no polling) and, when
 * someone else removed or damaged nslink's table (`nft flush ruleset`, Debian's
 * `nftables.service` reload, `firewall-cmd --reload`, `nft delete table inet nslink`, a rule or
 * map element deleted by hand) or events were lost (an overrun), re-applies the whole table
 * from the saved state ({@linkcode repairFirewall}: one atomic batch, under the state's lock).
 *
 * Which batches count (each batch ends with its `generation` event, which names the committing
 * process):
 * - batches committed by this process (its own repairs, or a network made in it) never do;
 * - a batch that leaves `table inet nslink` deleted, or deletes its chains, rules or sets
 *   without making the table again in the same batch (nslink's own syncs delete and remake it
 *   in one batch), does;
 * - a batch that deletes map elements (unpublished ports) does only when its process is not one
 *   of nslink's (`deno`, `bun`, `nslink` and this process's own name: see
 *   {@linkcode FirewallRepairOptions.nslinkProcesses});
 * - an overrun always does (what was lost is unknown).
 *
 * Repairs are debounced (a burst of flushes ends in one repair, `debounceMs` after the last, or
 * at most `maxDelayMs` after the first) and never run two at a time; a repair that finds no
 * bridge network saved only makes sure the table is gone.
 *
 * The class has the shape of the agent's duties (`name`, `sync()`, `needed()`, `status()`,
 * `stop()`), so registering it is one line:
 * `registerDuty("firewall", (ctx) => FirewallRepair.start({ stateDir: ctx.stateDir }))`.
 *
 * @example Run it as a duty until aborted
 * ```ts ignore
 * import { FirewallRepair } from "./repair.ts";
 * const ac = new AbortController();
 * const duty = new FirewallRepair({ stateDir: "/run/nslink" });
 * const done = duty.run(ac.signal); // resolves after ac.abort()
 * ```
 *
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import process from "node:process";
import { NFPROTO_INET } from "../netfilter/constants.ts";
import { type NftEvent, NftMonitor } from "../netfilter/monitor.ts";
import { TABLE } from "../netfilter/ruleset.ts";
import { listNetworks, repairFirewall } from "../network/network.ts";

/** Why a repair ran. */
export type RepairReason = "table" | "objects" | "elements" | "overrun" | "start";

/** Options of {@linkcode FirewallRepair}. */
export interface FirewallRepairOptions {
  /** The state directory to repair from (default: nslink's). */
  stateDir?: string;
  /** Quiet time after the last damaging batch before repairing, in ms (default 30). */
  debounceMs?: number;
  /** The longest a repair waits after the first damaging batch of a burst, in ms (default 200). */
  maxDelayMs?: number;
  /**
   * Process names (`NFTA_GEN_PROC_NAME`, the kernel's 15-character `comm`) whose map element
   * deletions are nslink's own unpublishing (default `deno`, `bun`, `nslink` and this process's
   * name).
   */
  nslinkProcesses?: readonly string[];
  /** Repair once when the duty starts (default `true`): a flush while nobody watched. */
  repairAtStart?: boolean;
  /** The repair itself (default: {@linkcode repairFirewall} of `stateDir`). */
  repair?: () => Promise<void>;
  /** Told after each repair (for logs and tests). */
  onRepair?: (info: RepairInfo) => void;
  /** Told when a repair failed; the duty goes on (default: a line on stderr). */
  onError?: (error: unknown) => void;
  /**
   * The monitor's socket: watch the namespace of this fd instead of the calling thread's
   * (`netnsFd`, named `netnsName` in errors), and its receive buffer in bytes (default 1 MiB).
   */
  monitor?: { netnsFd?: number; netnsName?: string; receiveBuffer?: number };
}

/** What {@linkcode FirewallRepairOptions.onRepair} is told. */
export interface RepairInfo {
  /** Why (the first reason of the burst). */
  reason: RepairReason;
  /** How many damaging batches (or overruns) the repair answered. */
  batches: number;
  /** Repairs made so far, this one included. */
  count: number;
}

function ownName(): string {
  try {
    return readFileSync("/proc/self/comm", "utf8").trim();
  } catch {
    return "";
  }
}

/** Whether a pid is this process or one of its threads (the kernel names the committing task). */
function isOwn(pid: number | undefined): boolean {
  if (pid === undefined) return false;
  return pid === process.pid || existsSync(`/proc/self/task/${pid}`);
}

/**
 * The verdict on one committed batch's events: the reason it damaged nslink's table, or
 * `undefined`. Exported for tests.
 *
 * @example
 * ```ts ignore
 * batchDamage([{ type: "table", action: "del", family: 1, table: "nslink", generation16: 3 }],
 *   { type: "generation", generation: 3, pid: 42, process: "nft" }, ["deno"]); // "table"
 * ```
 * @param events The batch's object events.
 * @param gen Its generation event.
 * @param nslinkProcesses Process names whose element deletions are nslink's.
 * @returns The reason, or `undefined` when the batch left the table alone or was nslink's.
 */
export function batchDamage(
  events: readonly NftEvent[],
  gen: { pid?: number; process?: string },
  nslinkProcesses: readonly string[],
): RepairReason | undefined {
  if (isOwn(gen.pid)) return undefined;
  let tableState: "new" | "del" | undefined;
  let objects = false;
  let elements = false;
  for (const e of events) {
    if (e.type === "overrun" || e.type === "generation") continue;
    if (e.family !== NFPROTO_INET || e.table !== TABLE) continue;
    if (e.type === "table") {
      tableState = e.action;
      if (e.action === "new") {
        // Made again in this batch: what was deleted before is remade (nslink's sync).
        objects = false;
        elements = false;
      }
    } else if (e.action === "del") {
      if (e.type === "element") elements = true;
      else objects = true;
    }
  }
  if (tableState === "del") {
    // nslink deletes its table itself when its last network goes: a repair then finds no
    // network and leaves it deleted. Only a foreign process's deletion is worth one.
    return nslinkProcesses.includes(gen.process ?? "") ? undefined : "table";
  }
  if (objects) return "objects";
  if (elements && !nslinkProcesses.includes(gen.process ?? "")) return "elements";
  return undefined;
}

/**
 * Keeps nslink's table in place: a duty for the host's background process (see the module
 * doc). Needs `CAP_NET_ADMIN` (the monitor and the repair) and the state directory.
 *
 * @example Register it with a duty runner
 * ```ts ignore
 * const duty = new FirewallRepair();
 * await duty.run(signal); // until signal aborts
 * ```
 */
export class FirewallRepair {
  #options: FirewallRepairOptions;
  #count = 0;
  #last: (RepairInfo & { at: string }) | undefined;
  #ac: AbortController | undefined;
  #done: Promise<void> | undefined;
  #stopped = false;
  #failure: string | undefined;
  #networks = true;

  /**
   * A duty, not running yet.
   *
   * @example
   * ```ts ignore
   * const duty = new FirewallRepair({ stateDir: "/run/nslink", debounceMs: 30 });
   * ```
   * @param options State directory, debounce, callbacks.
   */
  constructor(options: FirewallRepairOptions = {}) {
    for (const k of ["debounceMs", "maxDelayMs"] as const) {
      const v = options[k];
      if (v !== undefined && (!Number.isInteger(v) || v < 0 || v > 60_000)) {
        throw new RangeError(`Invalid ${k} "${v}"`);
      }
    }
    this.#options = options;
  }

  /** The duty's name, for a duty registry. */
  get name(): string {
    return "firewall-repair";
  }

  /** Repairs made so far. */
  get repairs(): number {
    return this.#count;
  }

  /**
   * Makes the duty and starts it in the background (what an agent's duty factory returns).
   *
   * @example
   * ```ts ignore
   * registerDuty("firewall", (ctx) =>
   *   FirewallRepair.start({ stateDir: ctx.stateDir, onError: (e) => ctx.log(String(e)) }));
   * ```
   * @param options As for the constructor.
   * @returns The running duty; {@linkcode FirewallRepair.stop} ends it.
   */
  static start(options: FirewallRepairOptions = {}): FirewallRepair {
    const duty = new FirewallRepair(options);
    duty.#start();
    return duty;
  }

  #start(): void {
    if (this.#done || this.#stopped) return;
    const ac = new AbortController();
    this.#ac = ac;
    this.#failure = undefined;
    this.#done = this.run(ac.signal).catch((e) => {
      // The monitor failed: say so; the next sync() starts it again.
      this.#failure = (e as Error).message;
      (this.#options.onError ?? ((x: unknown) => console.error(`nslink: ${x}`)))(e);
    }).finally(() => {
      if (this.#ac === ac) {
        this.#ac = undefined;
        this.#done = undefined;
      }
    });
  }

  /**
   * Brings the duty in step (an agent calls it at start, on request and every tick): notes
   * whether any network is saved ({@linkcode FirewallRepair.needed}) and starts the monitor
   * again if it failed. Repairs nothing itself: the events do.
   *
   * @example
   * ```ts ignore
   * await duty.sync();
   * ```
   */
  async sync(): Promise<void> {
    this.#networks = (await listNetworks({ stateDir: this.#options.stateDir })).length > 0;
    this.#start();
  }

  /**
   * Whether there is a firewall to keep: some network was saved at the last
   * {@linkcode FirewallRepair.sync} (`true` before the first).
   *
   * @returns Whether the duty has work.
   */
  needed(): boolean {
    return this.#networks;
  }

  /**
   * What the duty is doing, for status replies.
   *
   * @example
   * ```ts ignore
   * duty.status(); // { running: true, repairs: 2, last: { reason: "table", … } }
   * ```
   * @returns Whether it runs, its repairs, the last one, the monitor's failure if any.
   */
  status(): Record<string, unknown> {
    return {
      running: this.#done !== undefined,
      repairs: this.#count,
      ...(this.#last ? { last: this.#last } : {}),
      ...(this.#failure !== undefined ? { error: this.#failure } : {}),
    };
  }

  /**
   * Stops a duty started with {@linkcode FirewallRepair.start} (a repair in progress ends
   * first); safe to call twice.
   *
   * @example
   * ```ts ignore
   * await duty.stop();
   * ```
   */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#ac?.abort();
    await this.#done;
  }

  /**
   * Watches and repairs until `signal` aborts; resolves then (after a repair in progress ends).
   * Throws only when the monitor cannot be opened or fails; failed repairs are reported through
   * `onError` and the duty goes on.
   *
   * @example
   * ```ts ignore
   * const ac = new AbortController();
   * const done = new FirewallRepair().run(ac.signal);
   * ac.abort();
   * await done;
   * ```
   * @param signal Stops the duty.
   */
  async run(signal: AbortSignal): Promise<void> {
    if (signal.aborted) return;
    const o = this.#options;
    const debounceMs = o.debounceMs ?? 30;
    const maxDelayMs = Math.max(o.maxDelayMs ?? 200, debounceMs);
    const names = o.nslinkProcesses ?? ["deno", "bun", "nslink", ownName()].filter((s) => s);
    const repair = o.repair ?? (() => repairFirewall({ stateDir: o.stateDir }));
    const onError = o.onError ??
      ((e: unknown) => console.error(`nslink: firewall repair failed: ${(e as Error).message}`));

    // Under Bun the monitor polls: a quiet table is read every 128 ms at most (not every 8),
    // well within the repair's promise of 1 s, and at once again after each event.
    const monitor = NftMonitor.open({ receiveBuffer: 1 << 20, idleWaitMs: 128, ...o.monitor });
    const onAbort = () => monitor.close();
    signal.addEventListener("abort", onAbort, { once: true });

    let pending: { reason: RepairReason; batches: number; first: number } | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let running: Promise<void> | undefined;

    const fire = async (): Promise<void> => {
      timer = undefined;
      if (running || !pending) return;
      const job = pending;
      pending = undefined;
      running = (async () => {
        try {
          await repair();
          this.#count++;
          const info = { reason: job.reason, batches: job.batches, count: this.#count };
          this.#last = { ...info, at: new Date().toISOString() };
          o.onRepair?.(info);
        } catch (e) {
          onError(e);
        }
      })();
      await running;
      running = undefined;
      // Damage seen while repairing: repair again (the events of the repair itself are ours).
      if (pending && !signal.aborted) schedule();
    };
    const schedule = () => {
      if (!pending || running) return;
      if (timer !== undefined) clearTimeout(timer);
      const wait = Math.max(0, Math.min(debounceMs, pending.first + maxDelayMs - Date.now()));
      timer = setTimeout(fire, wait);
    };
    const damaged = (reason: RepairReason) => {
      if (pending) pending.batches++;
      else pending = { reason, batches: 1, first: Date.now() };
      schedule();
    };

    try {
      if (o.repairAtStart ?? true) {
        pending = { reason: "start", batches: 0, first: Date.now() };
        await fire();
      }
      let batch: NftEvent[] = [];
      for await (const e of monitor) {
        if (e.type === "overrun") {
          batch = [];
          damaged("overrun");
        } else if (e.type === "generation") {
          const reason = batchDamage(batch, e, names);
          batch = [];
          if (reason) damaged(reason);
        } else batch.push(e);
      }
    } finally {
      signal.removeEventListener("abort", onAbort);
      monitor.close();
      if (timer !== undefined) clearTimeout(timer);
      if (running) await running;
    }
  }
}
