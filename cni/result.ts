/**
 * Results in the shape of the requested spec version, and the chaining rule: a plugin that gets
 * a `prevResult` passes it on with its own interfaces, IPs and routes appended.
 *
 * @module
 */
import type { CniResult } from "./types.ts";
import { compareVersions } from "./version.ts";

/**
 * Writes a result in a spec version's shape: before 1.0.0 each IP has `version` ("4"/"6");
 * from 1.0.0 it has none; interfaces carry `mtu` only from 1.1.0.
 *
 * @example
 * ```ts
 * import { convertResult } from "./result.ts";
 * convertResult({ cniVersion: "1.0.0", ips: [{ address: "198.51.100.2/24" }] }, "0.4.0").ips;
 * // [{ version: "4", address: "198.51.100.2/24" }]
 * ```
 * @param result A result in any supported version.
 * @param version The version to write.
 * @returns A new result.
 */
export function convertResult(result: CniResult, version: string): CniResult {
  const old = compareVersions(version, "1.0.0") < 0;
  const mtu = compareVersions(version, "1.1.0") >= 0;
  const out: CniResult = { cniVersion: version };
  if (result.interfaces) {
    out.interfaces = result.interfaces.map((i) => {
      const { mtu: m, ...rest } = i;
      return mtu && m !== undefined ? { ...rest, mtu: m } : rest;
    });
  }
  out.ips = (result.ips ?? []).map((ip) => {
    const { version: _v, ...rest } = ip;
    return old ? { version: ip.address.includes(":") ? "6" : "4", ...rest } : rest;
  });
  if (result.routes) out.routes = result.routes.map((r) => ({ ...r }));
  out.dns = { ...(result.dns ?? {}) };
  return out;
}

/**
 * Appends a plugin's own result to the previous plugin's: interfaces after the previous ones
 * (its IPs' `interface` indices shifted to match), then IPs and routes; DNS settings from the
 * previous result are kept, the new ones added.
 *
 * @example
 * ```ts
 * import { mergeResults } from "./result.ts";
 * mergeResults(
 *   { cniVersion: "1.0.0", interfaces: [{ name: "a" }], ips: [] },
 *   { cniVersion: "1.0.0", interfaces: [{ name: "eth0" }], ips: [{ address: "198.51.100.2/24", interface: 0 }] },
 * ).ips; // [{ address: "198.51.100.2/24", interface: 1 }]
 * ```
 * @param prev The previous result (`prevResult`), or `undefined`.
 * @param own This plugin's result.
 * @returns The merged result.
 */
export function mergeResults(prev: CniResult | undefined, own: CniResult): CniResult {
  if (!prev) return own;
  const shift = prev.interfaces?.length ?? 0;
  const dns = { ...(prev.dns ?? {}) };
  for (const [k, v] of Object.entries(own.dns ?? {})) {
    const key = k as keyof typeof dns;
    if (Array.isArray(v)) {
      dns[key] = [...new Set([...(dns[key] as string[] | undefined ?? []), ...v])] as never;
    } else if (dns[key] === undefined) dns[key] = v as never;
  }
  return {
    cniVersion: own.cniVersion,
    interfaces: [...(prev.interfaces ?? []), ...(own.interfaces ?? [])],
    ips: [
      ...(prev.ips ?? []),
      ...(own.ips ?? []).map((ip) =>
        ip.interface === undefined ? ip : { ...ip, interface: ip.interface + shift }
      ),
    ],
    routes: [...(prev.routes ?? []), ...(own.routes ?? [])],
    dns,
  };
}
