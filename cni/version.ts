/**
 * CNI spec versions: which ones the plugin speaks, how they compare, and what changes in the
 * result between them (before 1.0.0 every IP carries `version`; 1.1.0 adds `mtu` to interfaces).
 *
 * @module
 */

/** The spec versions the plugin accepts in a configuration's `cniVersion`. */
export const SUPPORTED_VERSIONS: string[] = ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/** The newest spec version implemented. */
export const CURRENT_VERSION = "1.1.0";

/**
 * Compares two `MAJOR.MINOR.PATCH` versions.
 *
 * @example
 * ```ts
 * import { compareVersions } from "./version.ts";
 * compareVersions("0.4.0", "1.0.0"); // -1
 * ```
 * @param a A version.
 * @param b Another.
 * @returns -1, 0 or 1.
 */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(".").map(Number);
  const pb = b.split(".").map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}
