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
 * `network` defaults to the configuration's `name`. Unknown fields are ignored, as plugins do.
 *
 * `"driver": "macvlan"` or `"ipvlan"` (default `bridge`) puts containers on the LAN of `master`
 * (the host interface, as the reference macvlan/ipvlan plugins name it) in `mode`, with nslink's
 * IPAM: `subnet`/`gateway` (the LAN's router), `subnetIPv6`/`gatewayIPv6`, `ipRange`, and
 * `hostAccess` (a shim so the host reaches its containers).
 *
 * @module
 */
import { CNI_ERR, CniError } from "./errors.ts";
import type { CniNetConf } from "./types.ts";

/** The plugin's own fields, checked. */
export interface NslinkConf {
  /** The nslink network's name. */
  network: string;
  /** The driver: `bridge` (default), `macvlan` or `ipvlan`. */
  driver: string;
  /** Options for `newNetwork(driver, network, …)` when ADD creates it. */
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
];
const BOOL_FIELDS = ["masquerade", "internal", "icc"];
/** The LAN drivers' fields, as the reference macvlan/ipvlan plugins name them. */
const LAN_FIELDS: [string, string][] = [["master", "parent"], ["mode", "mode"], [
  "ipRange",
  "ipRange",
]];
const DRIVERS = ["bridge", "macvlan", "ipvlan"];

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
  const driver = conf.driver ?? "bridge";
  if (typeof driver !== "string" || !DRIVERS.includes(driver)) {
    throw invalid("driver", driver, DRIVERS.join(", "));
  }
  const networkOptions: Record<string, unknown> = {};
  const lan = driver !== "bridge";
  for (const [field, option] of [...STRING_FIELDS, ...(lan ? LAN_FIELDS : [])]) {
    const v = conf[field];
    if (v === undefined || v === "") continue;
    if (typeof v !== "string") throw invalid(field, v, "a string");
    networkOptions[option] = v;
  }
  for (const field of lan ? [...BOOL_FIELDS, "hostAccess"] : BOOL_FIELDS) {
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
  const dir = conf.stateDir ?? stateDir;
  if (dir !== undefined && typeof dir !== "string") throw invalid("stateDir", dir, "a path");
  return { network, driver, networkOptions, ...(dir ? { stateDir: dir } : {}) };
}
