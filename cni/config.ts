/**
 * The nslink plugin's configuration fields, checked and turned into network options:
 *
 * ```json
 * { "cniVersion": "1.0.0", "name": "blue", "type": "nslink",
 *   "network": "blue", "subnet": "198.51.100.0/24", "subnetIPv6": "2001:db8:1::/64",
 *   "bridge": "nsl-blue", "masquerade": true, "mtu": 1500,
 *   "capabilities": { "portMappings": true } }
 * ```
 *
 * An overlay network (across hosts) adds `"driver": "overlay"`, `"store": "etcd://HOST:PORT"`,
 * `"advertise": "ADDR"` (this host's underlay address) and, for TLS and auth, `storeCa`,
 * `storeCert`, `storeKey`, `storeUser`, `storePassword`.
 * `network` defaults to the configuration's `name`. Unknown fields are ignored, as plugins do.
 *
 * @module
 */
import { CNI_ERR, CniError } from "./errors.ts";
import type { CniNetConf } from "./types.ts";

/** The plugin's own fields, checked. */
export interface NslinkConf {
  /** The nslink network's name. */
  network: string;
  /** The driver ADD creates the network with: `bridge` (default) or `overlay`. */
  driver: "bridge" | "overlay";
  /** Options for `newNetwork(driver, network, …)` when ADD creates (or joins) it. */
  networkOptions: Record<string, unknown>;
  /** State directory (`stateDir` field, else the environment's, else the default). */
  stateDir?: string;
}

const STRING_FIELDS: [string, string][] = [
  ["subnet", "subnet"],
  ["gateway", "gateway"],
  ["subnetIPv6", "subnetIPv6"],
  ["gatewayIPv6", "gatewayIPv6"],
  ["bridge", "bridgeName"],
  ["store", "store"],
  ["advertise", "advertise"],
  ["storeCa", "storeCa"],
  ["storeCert", "storeCert"],
  ["storeKey", "storeKey"],
  ["storeUser", "storeUser"],
  ["storePassword", "storePassword"],
];
const BOOL_FIELDS = ["masquerade", "internal", "icc"];

function invalid(field: string, value: unknown, want: string): CniError {
  return new CniError(
    CNI_ERR.INVALID_NETWORK_CONFIG,
    `Invalid "${field}" ${JSON.stringify(value)} in the nslink configuration: expected ${want}`,
  );
}

/**
 * Reads the plugin's fields from a configuration.
 *
 * @example
 * ```ts
 * import { parseConf } from "./config.ts";
 * parseConf({ cniVersion: "1.0.0", name: "blue", type: "nslink", subnet: "198.51.100.0/24" });
 * // { network: "blue", driver: "bridge", networkOptions: { subnet: "198.51.100.0/24" } }
 * ```
 * @param conf The configuration from stdin.
 * @param stateDir The state directory from the environment, if any.
 * @returns The checked fields.
 */
export function parseConf(conf: CniNetConf, stateDir?: string): NslinkConf {
  const network = conf.network ?? conf.name;
  if (typeof network !== "string" || !/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(network)) {
    throw invalid(conf.network !== undefined ? "network" : "name", network, "a network name");
  }
  const networkOptions: Record<string, unknown> = {};
  for (const [field, option] of STRING_FIELDS) {
    const v = conf[field];
    if (v === undefined || v === "") continue;
    if (typeof v !== "string") throw invalid(field, v, "a string");
    networkOptions[option] = v;
  }
  for (const field of BOOL_FIELDS) {
    const v = conf[field];
    if (v === undefined) continue;
    if (typeof v !== "boolean") throw invalid(field, v, "true or false");
    networkOptions[field] = v;
  }
  if (conf.mtu !== undefined) {
    if (typeof conf.mtu !== "number" || !Number.isInteger(conf.mtu)) {
      throw invalid("mtu", conf.mtu, "an integer");
    }
    networkOptions.mtu = conf.mtu;
  }
  const driver = conf.driver ?? "bridge";
  if (driver !== "bridge" && driver !== "overlay") {
    throw invalid("driver", driver, `"bridge" or "overlay"`);
  }
  const dir = conf.stateDir ?? stateDir;
  if (dir !== undefined && typeof dir !== "string") throw invalid("stateDir", dir, "a path");
  return { network, driver, networkOptions, ...(dir ? { stateDir: dir } : {}) };
}
