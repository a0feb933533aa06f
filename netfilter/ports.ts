/**
 * Published ports as users write them (Docker's `-p`): validation, host-port ranges, `hostPort: 0`
 * picked from the kernel's ephemeral range, and conflicts with ports already published on any
 * nslink network, refused with the holder's name.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { parseIP } from "../net/ip.ts";
import type { Protocol } from "./ruleset.ts";

/**
 * One published port, as {@linkcode Network.ports} reports it: chosen host ports filled in.
 * `hostIP` is `""` for every host address.
 */
export interface PortBinding {
  /** `tcp` (default), `udp` or `sctp`. */
  protocol: Protocol;
  /** A host address, or `""`: every host address (IPv4, and IPv6 when the network has it). */
  hostIP: string;
  /** The host port. */
  hostPort: number;
  /** The container's port. */
  port: number;
}

/**
 * A port to publish, as given to `link(…, { ports })` and `publish()`. Ranges are strings:
 * `{ hostPort: "8000-8010", port: "80-90" }` maps one to one; `{ hostPort: "8000-8010", port: 80 }`
 * takes the first free host port of the range. `hostPort` 0 or absent: a free ephemeral port.
 */
export interface PortSpec {
  /** `tcp` (default), `udp` or `sctp`. */
  protocol?: string;
  /** A host address; empty or absent for all. */
  hostIP?: string;
  /** The host port, a range `"8000-8010"`, or 0 / absent for a free one. */
  hostPort?: number | string;
  /** The container's port, or a range `"80-90"`. */
  port: number | string;
}

/** Who holds a published port (for conflict errors). */
export interface PortHolder {
  /** The network. */
  network: string;
  /** The endpoint. */
  endpoint: string;
  /** The binding. */
  binding: PortBinding;
}

const PROTOS: readonly Protocol[] = ["tcp", "udp", "sctp"];

function range(v: unknown, what: string, zeroOk: boolean): [number, number] {
  if (typeof v === "number") {
    if (Number.isInteger(v) && v >= (zeroOk ? 0 : 1) && v <= 65535) return [v, v];
  } else if (typeof v === "string") {
    const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(v.trim());
    if (m) {
      const a = Number(m[1]);
      const b = m[2] === undefined ? a : Number(m[2]);
      if (a >= (zeroOk ? 0 : 1) && b <= 65535 && a <= b && (a !== 0 || b === 0)) return [a, b];
    }
  }
  throw new TypeError(
    `Invalid ${what} ${JSON.stringify(v)}: a port (1-65535) or a range "8000-8010"${
      zeroOk ? ", or 0 for a free port" : ""
    }`,
  );
}

/** A spec checked and split into what must be chosen. */
export interface ParsedSpec {
  /** Protocol. */
  protocol: Protocol;
  /** Host address or `""`. */
  hostIP: string;
  /** Host port range; `[0, 0]` for an ephemeral port. */
  host: [number, number];
  /** Container port range. */
  container: [number, number];
}

/**
 * Checks port specs (types, ranges, protocols, addresses), before anything is touched.
 *
 * @example
 * ```ts
 * import { parsePortSpecs } from "./ports.ts";
 * parsePortSpecs([{ hostPort: "8000-8001", port: "80-81" }])[0].host; // [8000, 8001]
 * ```
 * @param specs What the user gave.
 * @returns The checked specs.
 */
export function parsePortSpecs(specs: unknown): ParsedSpec[] {
  if (!Array.isArray(specs)) {
    throw new TypeError(`Option "ports" must be an array of { hostPort, port, protocol, hostIP }`);
  }
  return specs.map((s) => {
    if (typeof s !== "object" || s === null) {
      throw new TypeError(`Invalid port binding ${JSON.stringify(s)}`);
    }
    const spec = s as Record<string, unknown>;
    for (const k of Object.keys(spec)) {
      if (!["protocol", "hostIP", "hostPort", "port"].includes(k)) {
        throw new TypeError(
          `Unknown port binding field "${k}": known fields are protocol, hostIP, hostPort, port`,
        );
      }
    }
    const protocol = (spec.protocol ?? "tcp") as Protocol;
    if (!PROTOS.includes(protocol)) {
      throw new TypeError(
        `Invalid protocol ${JSON.stringify(spec.protocol)}: "tcp", "udp" or "sctp"`,
      );
    }
    const hostIP = spec.hostIP ?? "";
    if (typeof hostIP !== "string" || (hostIP !== "" && !parseIP(hostIP))) {
      throw new TypeError(`Invalid hostIP ${JSON.stringify(spec.hostIP)}: an IPv4 or IPv6 address`);
    }
    if (spec.port === undefined) throw new TypeError(`Port binding needs "port"`);
    const container = range(spec.port, "port", false);
    const host = range(spec.hostPort ?? 0, "hostPort", true);
    const hn = host[1] - host[0];
    const cn = container[1] - container[0];
    if (cn > 0 && host[0] !== 0 && hn !== cn) {
      throw new TypeError(
        `Port ranges differ in size: hostPort ${JSON.stringify(spec.hostPort)}, port ${
          JSON.stringify(spec.port)
        }`,
      );
    }
    return { protocol, hostIP: normalizeIP(hostIP), host, container };
  });
}

/**
 * An address in canonical text (`2001:db8:2:0::1` → `2001:db8:2::1`); `""` stays `""`.
 *
 * @example
 * ```ts
 * import { normalizeIP } from "./ports.ts";
 * normalizeIP("2001:db8:2:0::1"); // "2001:db8:2::1"
 * ```
 * @param ip The address.
 * @returns The canonical text.
 */
export function normalizeIP(ip: string): string {
  if (ip === "") return "";
  const b = parseIP(ip);
  if (!b) throw new TypeError(`Invalid host address ${JSON.stringify(ip)}`);
  if (b.length === 4) return Array.from(b).join(".");
  // Canonical IPv6 text through the URL parser's compression rules is overkill: use 16-bit groups.
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] << 8) | b[i + 1]).toString(16));
  let best = [-1, 0];
  for (let i = 0; i < 8;) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > best[1] && j - i > 1) best = [i, j - i];
    i = j;
  }
  if (best[0] < 0) return groups.join(":");
  const head = groups.slice(0, best[0]).join(":");
  const tail = groups.slice(best[0] + best[1]).join(":");
  return `${head}::${tail}`;
}

/** Whether two bindings claim the same host socket (same protocol, port, overlapping address). */
export function clash(a: PortBinding, b: PortBinding): boolean {
  if (a.protocol !== b.protocol || a.hostPort !== b.hostPort) return false;
  return overlap(a.hostIP, b.hostIP);
}

/** Whether an address is `0.0.0.0` or `::`: every host address of its family. */
export function unspecified(ip: string): boolean {
  return ip === "0.0.0.0" || ip === "::";
}

/**
 * Whether two host addresses of bindings overlap: `""` covers everything, `0.0.0.0` / `::`
 * every address of their family, otherwise only the same address.
 *
 * @example
 * ```ts
 * import { overlap } from "./ports.ts";
 * overlap("0.0.0.0", "203.0.113.1"); // true
 * overlap("::", "203.0.113.1"); // false
 * ```
 * @param a One address (or `""`).
 * @param b The other.
 * @returns Whether they overlap.
 */
export function overlap(a: string, b: string): boolean {
  if (a === "" || b === "" || a === b) return true;
  const v6 = (x: string) => x.includes(":");
  if (v6(a) !== v6(b)) return false;
  return unspecified(a) || unspecified(b);
}

/**
 * The kernel's ephemeral port range (`net.ipv4.ip_local_port_range`) of the calling thread's
 * namespace.
 *
 * @returns `[low, high]`.
 */
export function ephemeralRange(): [number, number] {
  try {
    const [lo, hi] = readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(
      /\s+/,
    ).map(Number);
    if (lo > 0 && hi >= lo) return [lo, hi];
  } catch { /* fall back to the kernel default */ }
  return [32768, 60999];
}

/**
 * Ports bound by sockets of the calling thread's namespace (`/proc/net/{tcp,udp}{,6}`), by
 * protocol: a free port for `hostPort: 0` must not be one a host process already uses.
 *
 * @returns Ports in use, keyed `tcp`/`udp`.
 */
export function socketPorts(): Record<Protocol, Set<number>> {
  const out: Record<Protocol, Set<number>> = { tcp: new Set(), udp: new Set(), sctp: new Set() };
  for (const [proto, files] of [["tcp", ["tcp", "tcp6"]], ["udp", ["udp", "udp6"]]] as const) {
    for (const f of files) {
      let text = "";
      try {
        text = readFileSync(`/proc/net/${f}`, "utf8");
      } catch {
        continue;
      }
      for (const line of text.split("\n").slice(1)) {
        const local = line.trim().split(/\s+/)[1];
        if (!local) continue;
        out[proto].add(parseInt(local.slice(local.lastIndexOf(":") + 1), 16));
      }
    }
  }
  return out;
}

/**
 * Turns checked specs into bindings: ranges expanded, free ports chosen, conflicts refused.
 *
 * @example
 * ```ts ignore
 * resolvePorts(parsePortSpecs([{ hostPort: 0, port: 443 }]), held, [32768, 60999], socketPorts());
 * ```
 * @param specs The checked specs.
 * @param held Ports already published on nslink networks, and by whom.
 * @param ephemeral The range to pick free ports from.
 * @param inUse Ports bound by host sockets.
 * @returns The bindings, in order.
 */
export function resolvePorts(
  specs: readonly ParsedSpec[],
  held: readonly PortHolder[],
  ephemeral: [number, number],
  inUse: Record<Protocol, Set<number>>,
): PortBinding[] {
  const out: PortBinding[] = [];
  const taken = (b: PortBinding) =>
    held.find((h) => clash(h.binding, b)) ??
      out.map((x) => ({ network: "", endpoint: "", binding: x })).find((h) => clash(h.binding, b));
  const free = (b: PortBinding) => !taken(b) && !inUse[b.protocol].has(b.hostPort);
  for (const s of specs) {
    const count = s.container[1] - s.container[0] + 1;
    const one = (hostPort: number, port: number) => ({
      protocol: s.protocol,
      hostIP: s.hostIP,
      hostPort,
      port,
    });
    if (s.host[0] === 0) {
      // Ephemeral ports, one per container port.
      const [lo, hi] = ephemeral;
      const span = hi - lo + 1;
      let at = Math.floor(Math.random() * span);
      for (let i = 0; i < count; i++) {
        let found: PortBinding | undefined;
        for (let tries = 0; tries < span; tries++, at = (at + 1) % span) {
          const b = one(lo + at, s.container[0] + i);
          if (free(b)) {
            found = b;
            break;
          }
        }
        if (!found) {
          throw new RangeError(
            `No free ${s.protocol} host port in ${lo}-${hi} for port ${s.container[0] + i}`,
          );
        }
        out.push(found);
      }
    } else if (count === 1 && s.host[1] > s.host[0]) {
      // A host range for one container port: the first free one.
      let found: PortBinding | undefined;
      for (let p = s.host[0]; p <= s.host[1] && !found; p++) {
        const b = one(p, s.container[0]);
        if (free(b)) found = b;
      }
      if (!found) {
        const b = one(s.host[0], s.container[0]);
        throw conflict(b, taken(b), `${s.host[0]}-${s.host[1]}`);
      }
      out.push(found);
    } else {
      for (let i = 0; i < count; i++) {
        const b = one(s.host[0] + i, s.container[0] + i);
        const holder = taken(b);
        if (holder) throw conflict(b, holder);
        out.push(b);
      }
    }
  }
  return out;
}

/**
 * Formats a binding as `tcp 203.0.113.1:8080 -> 80` (`*` for every address).
 *
 * @param b The binding.
 * @returns The text.
 */
export function describeBinding(b: PortBinding): string {
  const host = b.hostIP === "" ? "*" : b.hostIP.includes(":") ? `[${b.hostIP}]` : b.hostIP;
  // (0.0.0.0 and [::] print as themselves: every address of one family.)
  return `${b.protocol} ${host}:${b.hostPort}`;
}

function conflict(b: PortBinding, holder: PortHolder | undefined, range?: string): Error {
  const what = range ? `${b.protocol} ${b.hostIP || "*"}:${range}` : describeBinding(b);
  if (!holder) return new Error(`Port ${what} is not available: every port of the range is in use`);
  const by = holder.network
    ? `endpoint "${holder.endpoint}" of network "${holder.network}"`
    : "an earlier binding of the same request";
  return new Error(
    `Port ${what} is already published by ${by} (${
      describeBinding(holder.binding)
    } -> ${holder.binding.port})`,
  );
}
