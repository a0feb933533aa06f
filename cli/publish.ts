/**
 * Docker's `-p` syntax for published ports, as `nslink network connect -p` and the CNI plugin's
 * `portMappings` take it: `[HOSTIP:][HOSTPORT:]PORT[/PROTO]`, with port ranges
 * (`8000-8010:80-90`) and an IPv6 host address in brackets (`[2001:db8::1]:8080:80`). A missing
 * or `0` host port lets nslink pick a free one.
 *
 * @module
 */
import { checkIP } from "../net/validate.ts";

/** A port to publish, in the shape `Network.link(name, { ports })` takes. */
export interface PortSpec {
  /** `tcp` (default), `udp` or `sctp`. */
  protocol: "tcp" | "udp" | "sctp";
  /** The host address to publish on; empty: every host address. */
  hostIP: string;
  /** The host port (0: pick one), or a range `"8000-8010"`. */
  hostPort: number | string;
  /** The container port, or a range `"80-90"`. */
  port: number | string;
}

function portOrRange(text: string, what: string, spec: string): number | string {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(text);
  if (!m) throw new TypeError(`Invalid ${what} "${text}" in "${spec}"`);
  const a = Number(m[1]);
  const b = m[2] === undefined ? a : Number(m[2]);
  if (a > 65535 || b > 65535 || b < a || (what === "container port" && a === 0)) {
    throw new TypeError(`Invalid ${what} "${text}" in "${spec}": 1 to 65535, low-high`);
  }
  return m[2] === undefined ? a : `${a}-${b}`;
}

function span(p: number | string): number {
  if (typeof p === "number") return 1;
  const [a, b] = p.split("-").map(Number);
  return b - a + 1;
}

/**
 * Parses one `-p` value. Throws `TypeError` naming what is wrong.
 *
 * @example
 * ```ts
 * import { parsePublish } from "./publish.ts";
 * parsePublish("8080:80");
 * // { protocol: "tcp", hostIP: "", hostPort: 8080, port: 80 }
 * parsePublish("203.0.113.1:5353:53/udp");
 * // { protocol: "udp", hostIP: "203.0.113.1", hostPort: 5353, port: 53 }
 * ```
 * @param spec The value, e.g. `127.0.0.1:8080:80/tcp`.
 * @returns The port spec.
 */
export function parsePublish(spec: string): PortSpec {
  let rest = spec;
  let protocol: PortSpec["protocol"] = "tcp";
  const slash = rest.lastIndexOf("/");
  if (slash >= 0) {
    const p = rest.slice(slash + 1);
    if (p !== "tcp" && p !== "udp" && p !== "sctp") {
      throw new TypeError(`Invalid protocol "${p}" in "${spec}": tcp, udp or sctp`);
    }
    protocol = p;
    rest = rest.slice(0, slash);
  }
  let hostIP = "";
  if (rest.startsWith("[")) {
    const end = rest.indexOf("]:");
    if (end < 0) throw new TypeError(`Invalid host address in "${spec}": expected [IPv6]:PORT`);
    hostIP = rest.slice(1, end);
    rest = rest.slice(end + 2);
    if (checkOrNull(hostIP) !== 6) throw new TypeError(`Invalid IPv6 host address in "${spec}"`);
  }
  const parts = rest.split(":");
  if (
    parts.length > 3 || (hostIP && parts.length > 2) ||
    parts.some((p, i) => p === "" && i === parts.length - 1)
  ) {
    throw new TypeError(
      `Invalid port mapping "${spec}": expected [HOSTIP:][HOSTPORT:]PORT[/PROTO]`,
    );
  }
  if (parts.length === 3) {
    hostIP = parts.shift()!;
    if (checkOrNull(hostIP) !== 4) {
      throw new TypeError(`Invalid host address "${hostIP}" in "${spec}" (IPv6 goes in brackets)`);
    }
  }
  const port = portOrRange(parts[parts.length - 1], "container port", spec);
  const hostText = parts.length === 2 ? parts[0] : "";
  const hostPort = hostText === "" ? 0 : portOrRange(hostText, "host port", spec);
  // A host range for one container port takes the first free host port (Docker's rule).
  if (hostPort !== 0 && span(port) > 1 && span(hostPort) !== span(port)) {
    throw new TypeError(`Port ranges of different sizes in "${spec}"`);
  }
  return { protocol, hostIP, hostPort, port };
}

function checkOrNull(ip: string): 4 | 6 | null {
  try {
    return checkIP(ip);
  } catch {
    return null;
  }
}

/**
 * Formats a published port as `docker port` prints it: `80/tcp -> 0.0.0.0:8080`.
 *
 * @example
 * ```ts
 * import { formatBinding } from "./publish.ts";
 * formatBinding({ protocol: "tcp", hostIP: "", hostPort: 8080, port: 80 }); // "80/tcp -> 0.0.0.0:8080"
 * ```
 * @param b The binding.
 * @returns One line, without newline.
 */
export function formatBinding(b: PortSpec): string {
  const host = b.hostIP === "" ? "0.0.0.0" : b.hostIP.includes(":") ? `[${b.hostIP}]` : b.hostIP;
  return `${b.port}/${b.protocol} -> ${host}:${b.hostPort}`;
}
