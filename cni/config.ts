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
 * `network` defaults to the configuration's `name`.
 *
 * The reference `bridge` plugin's keys are accepted with their meaning, so a bridge-plugin
 * configuration works with `"type": "nslink"`: `bridge`, `mtu`, `ipMasq` (masquerade),
 * `isGateway`/`isDefaultGateway`/`hairpinMode` (`true`: what nslink always does), and `ipam` of
 * type `host-local` (`subnet`/`gateway`/`rangeStart`/`rangeEnd`, or `ranges` with one range per
 * family, and default `routes`). What nslink cannot do is refused with code 2 ("unsupported
 * field") naming the key: another `ipam` type, `isGateway: false`, `promiscMode: true`, `vlan`,
 * several ranges of one family, other routes, … Keys nslink does not know at all are ignored, as
 * plugins do. docs/cni.md has the table.
 *
 * `"driver": "macvlan"` or `"ipvlan"` (default `bridge`) puts containers on the LAN of `master`
 * (the host interface, as the reference macvlan/ipvlan plugins name it) in `mode`, with nslink's
 * IPAM: `subnet`/`gateway` (the LAN's router), `subnetIPv6`/`gatewayIPv6`, `ipRange`, and
 * `hostAccess` (a shim so the host reaches its containers).
 *
 * `"driver": "overlay"` joins (or creates) a network across hosts: `"store": "etcd://HOST:PORT"`,
 * `"advertise": "ADDR"` (this host's underlay address) and, for TLS and auth, `storeCa`,
 * `storeCert`, `storeKey`, `storeUser`, `storePassword`; `ttl` (seconds, the host's lease).
 *
 * @module
 */
import { CNI_ERR, CniError } from "./errors.ts";
import type { CniNetConf } from "./types.ts";

/** The plugin's own fields, checked. */
export interface NslinkConf {
  /** The nslink network's name. */
  network: string;
  /** The driver: `bridge` (default), `macvlan`, `ipvlan` or `overlay`. */
  driver: string;
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
/** The LAN drivers' fields, as the reference macvlan/ipvlan plugins name them. */
const LAN_FIELDS: [string, string][] = [["master", "parent"], ["mode", "mode"], [
  "ipRange",
  "ipRange",
]];
const DRIVERS = ["bridge", "macvlan", "ipvlan", "overlay"];

function unsupported(field: string, value: unknown, why: string): CniError {
  return new CniError(
    CNI_ERR.UNSUPPORTED_FIELD,
    `Unsupported field "${field}" ${JSON.stringify(value)} in the nslink configuration: ${why}`,
  );
}

/**
 * The reference bridge plugin's keys that nslink does not implement, with the value that means
 * "off" there (accepted, as it changes nothing); any other value is refused with code 2.
 */
const BRIDGE_OFF: Record<string, unknown> = {
  promiscMode: false,
  forceAddress: false,
  vlan: 0,
  vlanTrunk: undefined,
  preserveDefaultVlan: true,
  macspoofchk: false,
  enabledad: false,
  disableContainerInterface: false,
  portIsolation: false,
};

/** Bridge-plugin switches nslink always has on: `true` is accepted, `false` refused. */
const ALWAYS_ON: Record<string, string> = {
  isGateway: "nslink's bridge always holds the subnet's gateway address",
  isDefaultGateway: "nslink always routes the container's default route via the gateway",
  hairpinMode: "nslink always turns hairpin mode on for the container's bridge port",
};

/** The network options one `host-local` range gives. */
function rangeOptions(
  range: Record<string, unknown>,
  where: string,
): { family: 4 | 6; subnet: string; gateway?: string; range?: string } {
  if (range === null || typeof range !== "object" || Array.isArray(range)) {
    throw invalid(where, range, "an object with a subnet");
  }
  for (const key of Object.keys(range)) {
    if (!["subnet", "gateway", "rangeStart", "rangeEnd"].includes(key)) {
      throw unsupported(
        `${where}.${key}`,
        range[key],
        "host-local range keys are subnet, gateway, rangeStart, rangeEnd",
      );
    }
  }
  const str = (key: string) => {
    const v = range[key];
    if (v === undefined || v === "") return undefined;
    if (typeof v !== "string") throw invalid(`${where}.${key}`, v, "a string");
    return v;
  };
  const subnet = str("subnet");
  if (subnet === undefined) throw invalid(`${where}.subnet`, range.subnet, "a CIDR");
  const family = subnet.includes(":") ? 6 : 4;
  const gateway = str("gateway");
  const start = str("rangeStart");
  const end = str("rangeEnd");
  return {
    family,
    subnet,
    ...(gateway ? { gateway } : {}),
    ...(start || end ? { range: `${start ?? ""}-${end ?? ""}` } : {}),
  };
}

/** Maps an `ipam` block of type `host-local` to network options, refusing what nslink lacks. */
function ipamOptions(ipam: unknown): Record<string, unknown> {
  if (ipam === null || typeof ipam !== "object" || Array.isArray(ipam)) {
    throw invalid("ipam", ipam, "an object");
  }
  const conf = ipam as Record<string, unknown>;
  if (conf.type !== "host-local") {
    throw unsupported(
      "ipam.type",
      conf.type,
      `nslink allocates addresses itself, as host-local does: only "host-local" is accepted`,
    );
  }
  const ranges: ReturnType<typeof rangeOptions>[] = [];
  for (const key of Object.keys(conf)) {
    const v = conf[key];
    switch (key) {
      case "type":
      case "dataDir": // host-local's own store; nslink keeps its addresses in its state directory
      case "subnet":
      case "gateway":
      case "rangeStart":
      case "rangeEnd":
        break;
      case "ranges": {
        if (!Array.isArray(v)) throw invalid("ipam.ranges", v, "a list of range sets");
        v.forEach((set: unknown, i: number) => {
          if (!Array.isArray(set) || set.length === 0) {
            throw invalid(`ipam.ranges[${i}]`, set, "a non-empty list of ranges");
          }
          if (set.length > 1) {
            throw unsupported(
              `ipam.ranges[${i}]`,
              set,
              "one range per set (one subnet per family)",
            );
          }
          ranges.push(rangeOptions(set[0], `ipam.ranges[${i}][0]`));
        });
        break;
      }
      case "routes": {
        if (!Array.isArray(v)) throw invalid("ipam.routes", v, "a list of routes");
        for (const r of v as { dst?: unknown; gw?: unknown }[]) {
          if (r?.gw !== undefined || (r?.dst !== "0.0.0.0/0" && r?.dst !== "::/0")) {
            throw unsupported(
              "ipam.routes",
              r,
              "only default routes (0.0.0.0/0, ::/0) via the gateway, which nslink always adds",
            );
          }
        }
        break;
      }
      default:
        throw unsupported(`ipam.${key}`, v, "not a host-local key nslink implements");
    }
  }
  if (conf.subnet !== undefined) {
    if (ranges.length > 0) {
      throw invalid("ipam.subnet", conf.subnet, "either ipam.subnet or ipam.ranges, not both");
    }
    ranges.push(rangeOptions(
      {
        subnet: conf.subnet,
        gateway: conf.gateway,
        rangeStart: conf.rangeStart,
        rangeEnd: conf.rangeEnd,
      },
      "ipam",
    ));
  } else {
    for (const key of ["gateway", "rangeStart", "rangeEnd"]) {
      if (conf[key] !== undefined) throw invalid(`ipam.${key}`, conf[key], "ipam.subnet beside it");
    }
  }
  const out: Record<string, unknown> = {};
  for (const r of ranges) {
    const six = r.family === 6 ? "IPv6" : "";
    if (out[`subnet${six}`] !== undefined) {
      throw unsupported("ipam.ranges", r.subnet, `a second IPv${r.family} subnet (one per family)`);
    }
    out[`subnet${six}`] = r.subnet;
    if (r.gateway) out[`gateway${six}`] = r.gateway;
    if (r.range) out[`ipRange${six}`] = r.range;
  }
  if (ranges.length > 0 && !ranges.some((r) => r.family === 4)) out.enableIPv4 = false;
  return out;
}

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
  const lan = driver === "macvlan" || driver === "ipvlan";
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
  // `"dnsEnabled": false`: no container names on a network the plugin makes (netavark's
  // `dns_enabled`); names are on by default.
  if (conf.dnsEnabled !== undefined) {
    if (typeof conf.dnsEnabled !== "boolean") {
      throw invalid("dnsEnabled", conf.dnsEnabled, "true or false");
    }
    networkOptions.dns = conf.dnsEnabled;
  }
  // The reference bridge plugin's keys.
  if (conf.ipMasq !== undefined) {
    if (typeof conf.ipMasq !== "boolean") throw invalid("ipMasq", conf.ipMasq, "true or false");
    if (conf.masquerade !== undefined && conf.masquerade !== conf.ipMasq) {
      throw invalid("ipMasq", conf.ipMasq, `the same as "masquerade" (${conf.masquerade})`);
    }
    networkOptions.masquerade = conf.ipMasq;
  }
  for (const [key, why] of Object.entries(ALWAYS_ON)) {
    const v = conf[key];
    if (v === undefined || v === true) continue;
    if (typeof v !== "boolean") throw invalid(key, v, "true or false");
    throw unsupported(key, v, why);
  }
  for (const [key, off] of Object.entries(BRIDGE_OFF)) {
    const v = conf[key];
    if (v === undefined || v === off) continue;
    throw unsupported(key, v, "a bridge-plugin feature nslink does not implement");
  }
  if (conf.ipMasqBackend !== undefined && conf.ipMasqBackend !== "nftables") {
    throw unsupported("ipMasqBackend", conf.ipMasqBackend, "nslink masquerades with nftables only");
  }
  if (conf.ipam !== undefined) {
    const fromIpam = ipamOptions(conf.ipam);
    for (const key of ["subnet", "gateway", "subnetIPv6", "gatewayIPv6"]) {
      if (networkOptions[key] !== undefined && fromIpam[key] !== undefined) {
        throw invalid(key, conf[key], `either "${key}" or an ipam block, not both`);
      }
    }
    Object.assign(networkOptions, fromIpam);
  }
  if (conf.mtu !== undefined) {
    if (typeof conf.mtu !== "number" || !Number.isInteger(conf.mtu)) {
      throw invalid("mtu", conf.mtu, "an integer");
    }
    networkOptions.mtu = conf.mtu;
  }
  // The host's lease in an overlay network, in seconds (the host's agent keeps it alive).
  if (conf.ttl !== undefined) {
    if (driver !== "overlay") throw invalid("ttl", conf.ttl, `only with "driver": "overlay"`);
    if (typeof conf.ttl !== "number" || !Number.isInteger(conf.ttl) || conf.ttl < 1) {
      throw invalid("ttl", conf.ttl, "a whole number of seconds");
    }
    networkOptions.ttl = conf.ttl;
  }
  const dir = conf.stateDir ?? stateDir;
  if (dir !== undefined && typeof dir !== "string") throw invalid("stateDir", dir, "a path");
  return { network, driver, networkOptions, ...(dir ? { stateDir: dir } : {}) };
}
