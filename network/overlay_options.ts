/**
 * The overlay network's options and the values it reads back from its store, checked: what a
 * caller may pass to `newNetwork("overlay", …)`/`openNetwork(…, { store })`, and the decoders of
 * the shared configuration and of endpoint records (a malformed one is an `EtcdError` naming its
 * key). Used by network/overlay.ts.
 *
 * @module
 */
import { checkMtu } from "../net/validate.ts";
import { parseCidr, parseIP } from "../net/ip.ts";
import { createPool } from "../model/ipam.ts";
import {
  type EtcdClientOptions,
  EtcdError,
  type EtcdTlsOptions,
  type KeyValue,
} from "../store/etcd.ts";
import { canonicalAdvertise } from "../drivers/overlay.ts";

/** The configuration every host of an overlay network shares (saved in the store). */
export interface OverlayConfig {
  /** Random id, 12 hex digits, made by the first host. */
  id: string;
  /** The VXLAN network identifier. */
  vni: number;
  /** IPv4 subnet. */
  subnet: string;
  /** IPv4 gateway (on every host's bridge). */
  gateway: string;
  /** IPv6 subnet, or empty. */
  subnetIPv6: string;
  /** IPv6 gateway, or empty. */
  gatewayIPv6: string;
  /** Container MTU when given at creation; 0: underlay MTU − 50 on each host. */
  mtu: number;
  /** ISO creation time. */
  created: string;
}

/** An endpoint as saved in the store. */
export interface OverlayEndpoint {
  /** Endpoint (container) name. */
  name: string;
  /** The host's underlay address (its VTEP). */
  host: string;
  /** The container interface's MAC address. */
  mac: string;
  /** IPv4 address with prefix. */
  address: string;
  /** IPv6 address with prefix, or empty. */
  addressIPv6: string;
  /** Its DNS aliases (`link(…, { aliases })`), when it has any: answered on every host. */
  aliases?: string[];
}

/** Options of an overlay network ({@linkcode newNetwork}`("overlay", …)`). */
export interface OverlayOptions {
  /** IPv4 subnet (required), e.g. `203.0.113.0/24`. */
  subnet?: string;
  /** IPv4 gateway; default the subnet's first address. */
  gateway?: string;
  /** IPv6 subnet, e.g. `2001:db8:20::/64`. */
  subnetIPv6?: string;
  /** IPv6 gateway. */
  gatewayIPv6?: string;
  /** The store: `etcd://HOST:PORT[,HOST:PORT…]`, or `etcd+https://…` for TLS (required). */
  store?: string;
  /**
   * TLS material of an `etcd+https://` store: the CA, this host's client certificate and key,
   * each PEM text or a file path. On the command line: `-o storeCa=PATH -o storeCert=PATH
   * -o storeKey=PATH`.
   */
  storeTls?: EtcdTlsOptions;
  /** The CA of an `etcd+https://` store (PEM text or a file path); same as `storeTls.ca`. */
  storeCa?: string;
  /** This host's client certificate (PEM text or a file path); same as `storeTls.cert`. */
  storeCert?: string;
  /** This host's client key (PEM text or a file path); same as `storeTls.key`. */
  storeKey?: string;
  /** etcd user name (etcd's auth), with `storePassword`. */
  storeUser?: string;
  /** The etcd user's password. */
  storePassword?: string;
  /** This host's underlay address: the VXLAN tunnel endpoint (required). */
  advertise?: string;
  /** Container MTU; default the underlay link's MTU − 50. */
  mtu?: number;
  /** A VNI to use instead of the next free one (4096 and up). */
  vni?: number;
  /** Seconds this host's endpoints outlive this process without keepalives; default 15. */
  ttl?: number;
  /**
   * This host's state directory: the host keeps its own record of the network and of its
   * endpoints there (published ports, crash recovery, `gc()`), as for bridge networks.
   */
  stateDir?: string;
  /** Masquerade this host's containers' traffic leaving the host; default `true`. */
  masquerade?: boolean;
  /** No traffic beyond the overlay, no published ports; default `false`. */
  internal?: boolean;
  /** Containers may talk to each other (on this host's bridge); default `true`. */
  icc?: boolean;
  /** Turn on forwarding in the host namespace; default `false`. */
  ipForward?: boolean;
  /**
   * Containers' names (of every host of the network) are served on this host's gateway
   * addresses, port 53, by nslink's host agent; default `true`.
   */
  dns?: boolean;
  /** The DNS upstreams for other names (`IP` or `IP#PORT`, at most 3); default the host's. */
  dnsServers?: string[];
}

export const KNOWN = [
  "subnet",
  "gateway",
  "subnetIPv6",
  "gatewayIPv6",
  "store",
  "storeTls",
  "storeCa",
  "storeCert",
  "storeKey",
  "storeUser",
  "storePassword",
  "advertise",
  "mtu",
  "vni",
  "ttl",
  "stateDir",
  "masquerade",
  "internal",
  "icc",
  "ipForward",
  "dns",
  "dnsServers",
];
export const FIRST_VNI = 4096;
export const MAX_VNI = 0xffffff;

function str(options: Record<string, unknown>, key: string): string | undefined {
  const v = options[key];
  if (v === undefined || v === "") return undefined;
  if (typeof v !== "string") {
    throw new TypeError(`Overlay option "${key}" must be a string, got ${JSON.stringify(v)}`);
  }
  return v;
}

function int(options: Record<string, unknown>, key: string, min: number, max: number) {
  const v = options[key];
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new RangeError(
      `Overlay option "${key}" must be an integer from ${min} to ${max}, got ${JSON.stringify(v)}`,
    );
  }
  return v;
}

export interface Parsed {
  name: string;
  storeUrl: string;
  storeOptions: EtcdClientOptions;
  advertise: string;
  ttl: number;
  want: Omit<OverlayConfig, "id" | "created" | "vni"> & { vni?: number };
  /** This host's state directory (its own record of the network). */
  stateDir?: string;
  /** This host's firewall options for the network, as a bridge network's. */
  firewall: { masquerade: boolean; internal: boolean; icc: boolean; ipForward: boolean };
  /** Store options kept in the local record (file paths and the user; never a password). */
  saved: Record<string, string>;
  /** This host's DNS options, kept in its local record. */
  dns: { dns: boolean; dnsServers: string[] };
}

export function parseOptions(
  name: string,
  options: Record<string, unknown>,
  creating: boolean,
): Parsed {
  for (const key of Object.keys(options)) {
    if (!KNOWN.includes(key)) {
      throw new TypeError(`Unknown overlay option "${key}": known options are ${KNOWN.join(", ")}`);
    }
  }
  const storeUrl = str(options, "store");
  if (storeUrl === undefined) {
    throw new TypeError(
      `Network "${name}" (overlay) needs "store" (etcd://HOST:PORT[,HOST:PORT…])`,
    );
  }
  const storeOptions = storeOptionsOf(options);
  const advertise = str(options, "advertise");
  if (advertise === undefined) {
    throw new TypeError(
      `Network "${name}" (overlay) needs "advertise" (this host's underlay address)`,
    );
  }
  let canonical: string;
  try {
    canonical = canonicalAdvertise(advertise);
  } catch {
    throw new TypeError(`Overlay option "advertise" must be an IP address, got "${advertise}"`);
  }
  const subnet = str(options, "subnet");
  if (creating && subnet === undefined) {
    throw new TypeError(`Network "${name}" (overlay) needs "subnet" (IPv4)`);
  }
  const subnetIPv6 = str(options, "subnetIPv6");
  const gateway = str(options, "gateway");
  const gatewayIPv6 = str(options, "gatewayIPv6");
  if (subnet !== undefined && parseCidr(subnet).family !== 4) {
    throw new TypeError(`Overlay option "subnet" must be IPv4, got "${subnet}"`);
  }
  if (subnetIPv6 !== undefined && parseCidr(subnetIPv6).family !== 6) {
    throw new TypeError(`Overlay option "subnetIPv6" must be IPv6, got "${subnetIPv6}"`);
  }
  if (gatewayIPv6 !== undefined && subnetIPv6 === undefined) {
    throw new TypeError(`Overlay option "gatewayIPv6" ("${gatewayIPv6}") needs "subnetIPv6"`);
  }
  const v4 = subnet === undefined ? undefined : createPool(subnet, gateway);
  const v6 = subnetIPv6 === undefined ? undefined : createPool(subnetIPv6, gatewayIPv6);
  const mtu = options.mtu === undefined ? 0 : checkMtu(options.mtu as number);
  const vni = int(options, "vni", 1, MAX_VNI);
  const ttl = int(options, "ttl", 1, 3600) ?? 15;
  const bool = (key: string, fallback: boolean) => {
    const v = options[key];
    if (v === undefined) return fallback;
    if (typeof v !== "boolean") {
      throw new TypeError(
        `Overlay option "${key}" must be true or false, got ${JSON.stringify(v)}`,
      );
    }
    return v;
  };
  const saved: Record<string, string> = {};
  for (const k of ["storeCa", "storeCert", "storeKey", "storeUser"]) {
    const v = str(options, k);
    if (v !== undefined && !v.includes("-----BEGIN")) saved[k] = v;
  }
  const stateDir = str(options, "stateDir");
  return {
    name,
    storeUrl,
    storeOptions,
    advertise: canonical,
    ttl,
    ...(stateDir !== undefined ? { stateDir } : {}),
    firewall: {
      masquerade: bool("masquerade", true),
      internal: bool("internal", false),
      icc: bool("icc", true),
      // Not turned on for overlay networks unless asked: their traffic between hosts is VXLAN.
      ipForward: bool("ipForward", false),
    },
    saved,
    dns: { dns: bool("dns", true), dnsServers: dnsServers(options.dnsServers) },
    want: {
      subnet: v4?.subnet ?? "",
      gateway: v4?.gateway ?? "",
      subnetIPv6: v6?.subnet ?? "",
      gatewayIPv6: v6?.gateway ?? "",
      mtu,
      ...(vni !== undefined ? { vni } : {}),
    },
  };
}

/** Upstreams written `IP` or `IP#PORT` (dnsmasq's spelling), at most 3. */
function dnsServers(value: unknown): string[] {
  if (value === undefined) return [];
  const bad = () =>
    new TypeError(
      `Overlay option "dnsServers" must be a list of at most 3 addresses (IP or IP#PORT), got ${
        JSON.stringify(value)
      }`,
    );
  if (!Array.isArray(value) || value.length > 3) throw bad();
  return value.map((v) => {
    const m = typeof v === "string" ? /^(.+?)(?:#(\d{1,5}))?$/.exec(v) : null;
    if (!m || !parseIP(m[1]) || (m[2] !== undefined && (+m[2] < 1 || +m[2] > 65535))) throw bad();
    return v as string;
  });
}

/** The store's TLS and auth options, from `storeTls` or the flat `storeCa`/`storeCert`/`storeKey`. */
export function storeOptionsOf(options: Record<string, unknown>): EtcdClientOptions {
  const out: EtcdClientOptions = {};
  const tls: EtcdTlsOptions = {};
  const given = options.storeTls;
  if (given !== undefined) {
    if (typeof given !== "object" || given === null || Array.isArray(given)) {
      throw new TypeError(`Overlay option "storeTls" must be an object { ca, cert, key }`);
    }
    const t = given as Record<string, unknown>;
    for (const k of Object.keys(t)) {
      if (k !== "ca" && k !== "cert" && k !== "key") {
        throw new TypeError(`Unknown "storeTls" field "${k}": known fields are ca, cert, key`);
      }
      const v = str(t, k);
      if (v !== undefined) tls[k] = v;
    }
  }
  for (
    const [flat, k] of [["storeCa", "ca"], ["storeCert", "cert"], ["storeKey", "key"]] as const
  ) {
    const v = str(options, flat);
    if (v !== undefined) tls[k] = v;
  }
  if (Object.keys(tls).length > 0) out.tls = tls;
  const user = str(options, "storeUser");
  const password = str(options, "storePassword");
  if (user !== undefined) out.username = user;
  if (password !== undefined) out.password = password;
  return out;
}

/** An endpoint record from the store, checked; a malformed one is an EtcdError naming its key. */
export function endpointOf(store: string, kv: KeyValue): OverlayEndpoint {
  const fail = (why: string) =>
    new EtcdError(store, `read "${kv.key}"`, `malformed endpoint: ${why}`, { malformed: true });
  let o: unknown;
  try {
    o = JSON.parse(kv.value);
  } catch {
    throw fail("not JSON");
  }
  if (typeof o !== "object" || o === null || Array.isArray(o)) throw fail("not a JSON object");
  const ep = o as Record<string, unknown>;
  for (const k of ["name", "host", "mac", "address"]) {
    if (typeof ep[k] !== "string") throw fail(`"${k}" is not a string`);
  }
  if (ep.addressIPv6 !== undefined && typeof ep.addressIPv6 !== "string") {
    throw fail(`"addressIPv6" is not a string`);
  }
  if (
    ep.aliases !== undefined &&
    (!Array.isArray(ep.aliases) || ep.aliases.some((a) => typeof a !== "string"))
  ) {
    throw fail(`"aliases" is not a list of strings`);
  }
  // Field order as written by link(): unlink compares the whole value.
  return {
    name: ep.name as string,
    host: ep.host as string,
    mac: ep.mac as string,
    address: ep.address as string,
    addressIPv6: (ep.addressIPv6 as string | undefined) ?? "",
    ...(Array.isArray(ep.aliases) ? { aliases: [...ep.aliases as string[]] } : {}),
  };
}

/** The saved configuration, checked; a malformed one is an EtcdError naming its key. */
export function configOf(store: string, kv: KeyValue): OverlayConfig {
  const fail = (why: string) =>
    new EtcdError(store, `read "${kv.key}"`, `malformed network configuration: ${why}`, {
      malformed: true,
    });
  let o: unknown;
  try {
    o = JSON.parse(kv.value);
  } catch {
    throw fail("not JSON");
  }
  if (typeof o !== "object" || o === null || Array.isArray(o)) throw fail("not a JSON object");
  const c = o as Record<string, unknown>;
  for (const k of ["id", "subnet", "gateway", "subnetIPv6", "gatewayIPv6", "created"]) {
    if (typeof c[k] !== "string") throw fail(`"${k}" is not a string`);
  }
  if (!Number.isInteger(c.vni) || (c.vni as number) < 1 || (c.vni as number) > MAX_VNI) {
    throw fail(`"vni" is not a VNI`);
  }
  if (!Number.isInteger(c.mtu) || (c.mtu as number) < 0) throw fail(`"mtu" is not an MTU`);
  try {
    parseCidr(c.subnet as string);
    if (c.subnetIPv6) parseCidr(c.subnetIPv6 as string);
  } catch (e) {
    throw fail((e as Error).message);
  }
  return c as unknown as OverlayConfig;
}

/** Explains how a requested configuration differs from the saved one, or `undefined`. */
export function conflict(
  saved: OverlayConfig,
  want: Parsed["want"],
  explicit: Record<string, unknown>,
): string | undefined {
  const diffs: string[] = [];
  const check = (key: keyof OverlayConfig, given: unknown) => {
    if (given !== undefined && given !== saved[key]) {
      diffs.push(`${key} ${JSON.stringify(given)} (the network has ${JSON.stringify(saved[key])})`);
    }
  };
  if (explicit.subnet !== undefined) check("subnet", want.subnet);
  if (explicit.gateway !== undefined) check("gateway", want.gateway);
  if (explicit.subnetIPv6 !== undefined) check("subnetIPv6", want.subnetIPv6);
  if (explicit.gatewayIPv6 !== undefined) check("gatewayIPv6", want.gatewayIPv6);
  if (explicit.subnet !== undefined && explicit.subnetIPv6 === undefined && saved.subnetIPv6) {
    diffs.push(`no subnetIPv6 (the network has ${JSON.stringify(saved.subnetIPv6)})`);
  }
  if (explicit.mtu !== undefined) check("mtu", want.mtu);
  if (explicit.vni !== undefined) check("vni", want.vni);
  return diffs.length ? diffs.join(", ") : undefined;
}
