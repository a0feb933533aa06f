/**
 * Network definitions that survive a reboot, kept apart from runtime state.
 *
 * A network's definition (name, id, driver, the options it was created with, its normalized
 * configuration and its subnets) lives in the configuration directory, `/var/lib/nslink` by
 * default, as `networks/NAME.json`; everything else (the runtime record, endpoints, address and
 * port claims) stays in the state directory under `/run`, which a reboot empties. Runtime
 * records carry the boot id they were written in (`/proc/sys/kernel/random/boot_id`): a record
 * of an earlier boot names kernel objects and processes that no longer exist, and is never
 * believed.
 *
 * Which configuration directory goes with a state directory:
 * the `configDir` option, else `$NSLINK_CONFIG_DIR`, else `/var/lib/nslink` for the default
 * state directory (`/run/nslink`) and `STATEDIR.config` beside any other one (a state directory
 * chosen for a test or a sandbox keeps its definitions next to it, shares them with no other,
 * and never writes `/var/lib`); the directory is removed again with its last definition.
 *
 * @module
 */
import { readFileSync, rmdirSync } from "node:fs";
import type { NetworkRecord } from "../model/records.ts";
import { DEFAULT_STATE_DIR, readEnv, StateStore } from "./state.ts";

/** Where definitions live for the default state directory. */
export const DEFAULT_CONFIG_DIR = "/var/lib/nslink";

const CONFIG_ENV = "NSLINK_CONFIG_DIR";
const BOOT_ENV = "NSLINK_BOOT_ID";
const KIND = "networks";

/** What survives a reboot of a network: enough to make it again, with the same id. */
export interface NetworkDefinition {
  /** Format version. */
  version: 1;
  /** The network's name. */
  name: string;
  /** Its random id (kept: a network made again after a reboot is the same network). */
  id: string;
  /** Driver type. */
  type: string;
  /** When it was first created (ISO 8601). */
  created: string;
  /** The driver options it was created with, as given (`newNetwork`'s, without stateDir). */
  options: Record<string, unknown>;
  /** The driver's normalized configuration. */
  config: Record<string, unknown>;
  /** Subnets and gateways (no allocations). */
  pools: NetworkRecord["pools"];
  /** Its labels (`NetworkOptions.labels`), when it has any. */
  labels?: Record<string, string>;
  /**
   * `true` when CNI ADD made it: the last DEL removes it, also after a reboot (the CNI plugin's
   * mark in the state directory does not survive one).
   */
  madeByCniAdd?: boolean;
}

let procBootId: string | undefined;

/**
 * The id of the running boot: `$NSLINK_BOOT_ID` when set (for tests that simulate a reboot;
 * never set it otherwise), else `/proc/sys/kernel/random/boot_id`.
 *
 * @example
 * ```ts ignore
 * bootId(); // "4b2f0a3e-…"
 * ```
 * @returns The boot id.
 */
export function bootId(): string {
  const env = readEnv(BOOT_ENV);
  if (env) return env;
  procBootId ??= readFileSync("/proc/sys/kernel/random/boot_id", "utf8").trim();
  return procBootId;
}

/**
 * Whether a runtime record (a network's or an endpoint's) was written in an earlier boot.
 * Records of versions that did not note the boot count as current.
 *
 * @example
 * ```ts ignore
 * fromEarlierBoot({ boot: "0b…" }); // true after a reboot
 * ```
 * @param record The record.
 * @returns Whether it is stale.
 */
export function fromEarlierBoot(record: { boot?: string }): boolean {
  return record.boot !== undefined && record.boot !== bootId();
}

/**
 * The configuration directory that goes with a state directory (see the module's text).
 *
 * @example
 * ```ts ignore
 * configDirFor("/run/nslink"); // "/var/lib/nslink"
 * configDirFor("/tmp/st"); // "/tmp/st.config"
 * ```
 * @param stateDir The state directory (resolved).
 * @param configDir The `configDir` option, if given.
 * @returns The directory.
 */
export function configDirFor(stateDir: string, configDir?: unknown): string {
  if (configDir !== undefined) {
    if (typeof configDir !== "string" || configDir === "") {
      throw new TypeError(
        `Option "configDir" must be a directory path, got ${JSON.stringify(configDir)}`,
      );
    }
    return configDir;
  }
  const env = readEnv(CONFIG_ENV);
  if (env) return env;
  const dir = stateDir.replace(/\/+$/, "");
  return dir === DEFAULT_STATE_DIR ? DEFAULT_CONFIG_DIR : `${dir}.config`;
}

/**
 * The network definitions of a configuration directory: written atomically (a complete
 * temporary file renamed into place), so a crash leaves the old definition or the new one.
 *
 * @example
 * ```ts ignore
 * const defs = new Definitions("/var/lib/nslink");
 * defs.list(); // ["blue"]
 * defs.read("blue")?.pools.v4?.subnet; // "198.51.100.0/24"
 * ```
 */
export class Definitions {
  /** The configuration directory. */
  readonly dir: string;
  #files: StateStore;

  /**
   * Opens a configuration directory (made on first write).
   *
   * @param dir The directory.
   */
  constructor(dir: string) {
    this.dir = dir;
    this.#files = new StateStore(dir);
  }

  /** The defined networks' names, sorted. @returns The names. */
  list(): string[] {
    return this.#files.list(KIND);
  }

  /** A network's definition. @param name The name. @returns It, or `undefined`. */
  read(name: string): NetworkDefinition | undefined {
    return this.#files.read<NetworkDefinition>(KIND, name);
  }

  /** Writes (or replaces) a network's definition. @param def The definition. */
  write(def: NetworkDefinition): void {
    this.#files.write(KIND, def.name, def);
  }

  /**
   * Marks a network's definition as made by CNI ADD, if it is still the one of that id.
   *
   * @param name The name.
   * @param id The id.
   * @returns Whether it was marked.
   */
  markMadeByCniAdd(name: string, id: string): boolean {
    const def = this.read(name);
    if (def?.id !== id) return false;
    if (!def.madeByCniAdd) this.write({ ...def, madeByCniAdd: true });
    return true;
  }

  /**
   * Removes a network's definition if it is still the one of that id (a network re-created
   * under the same name meanwhile keeps its own).
   *
   * @param name The name.
   * @param id The id.
   */
  remove(name: string, id: string): void {
    if (this.read(name)?.id !== id) return;
    this.#files.remove(KIND, name);
    if (this.#files.entries(KIND).length > 0) return;
    // The last one: leave no empty directories behind (a test's configuration directory).
    for (const d of [`${this.dir}/${KIND}`, this.dir]) {
      try {
        rmdirSync(d);
      } catch { /* not empty (a lock, another writer), a mount point, or gone */ }
    }
  }
}

/**
 * A network's definition from its runtime record.
 *
 * @example
 * ```ts ignore
 * definitionOf(record, { subnet: "198.51.100.0/24" }).id === record.id; // true
 * ```
 * @param record The runtime record.
 * @param options The driver options it was created with.
 * @returns The definition.
 */
export function definitionOf(
  record: NetworkRecord,
  options: Record<string, unknown>,
): NetworkDefinition {
  const pools: NetworkRecord["pools"] = {};
  if (record.pools.v4) pools.v4 = { ...record.pools.v4, allocated: {} };
  if (record.pools.v6) pools.v6 = { ...record.pools.v6, allocated: {} };
  const labels = (record as { labels?: Record<string, string> }).labels;
  return {
    version: 1,
    name: record.name,
    id: record.id,
    type: record.type,
    created: record.created,
    options: structuredClone(options),
    config: structuredClone(record.config),
    pools,
    ...(labels && Object.keys(labels).length > 0 ? { labels: { ...labels } } : {}),
  };
}

/**
 * Whether two option sets are the same (key order aside): `newNetwork` with a defined network's
 * name and the options it was defined with makes it again rather than failing, as Podman does.
 *
 * @example
 * ```ts ignore
 * sameOptions({ a: 1, b: 2 }, { b: 2, a: 1 }); // true
 * ```
 * @param a One set.
 * @param b The other.
 * @returns Whether they are equal.
 */
export function sameOptions(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  return canonical(a) === canonical(b);
}

function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(",")}]`;
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>;
    return `{${
      Object.keys(o).filter((k) => o[k] !== undefined).sort()
        .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(",")
    }}`;
  }
  return JSON.stringify(v);
}
