/**
 * Reads nslink's published ports back from the kernel: which DNAT map elements an endpoint
 * should have are missing or point elsewhere (CNI CHECK, after `nft flush ruleset` or a deleted
 * element). Read-only: one dump per map touched.
 *
 * @module
 */
import { parseIP } from "../net/ip.ts";
import { concat, portBytes } from "../netfilter/expr.ts";
import { type DnatEntry, entryKey, FAMILY, TABLE } from "../netfilter/ruleset.ts";
import { hostNftables, tableMissing } from "./firewall.ts";

function mapName(e: DnatEntry): string {
  return `pub${e.address.includes(":") ? 6 : 4}${e.hostIP !== "" ? "a" : ""}`;
}

function hex(b: Uint8Array | undefined): string {
  return b ? Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("") : "";
}

/**
 * The entries that are not in nslink's maps as they should be (element missing, or its
 * container address and port differ), in the order given. With nslink's table gone, all are.
 *
 * @example
 * ```ts ignore
 * const missing = missingEntries(dnatEntries("198.51.100.2", "", await net.ports("c1")));
 * ```
 * @param entries The entries (see `dnatEntries` in firewall.ts).
 * @returns The missing ones.
 */
export function missingEntries(entries: readonly DnatEntry[]): DnatEntry[] {
  if (entries.length === 0) return [];
  const fw = hostNftables();
  const byMap = new Map<string, Map<string, string>>();
  const out: DnatEntry[] = [];
  for (const e of entries) {
    const name = mapName(e);
    let elements = byMap.get(name);
    if (!elements) {
      elements = new Map();
      try {
        for (const el of fw.elements(FAMILY, TABLE, name)) {
          elements.set(hex(el.key?.value), hex(el.data?.value));
        }
      } catch (err) {
        if (!tableMissing(err)) throw err;
      }
      byMap.set(name, elements);
    }
    const want = hex(concat(parseIP(e.address)!, portBytes(e.port)));
    if (elements.get(hex(entryKey(e))) !== want) out.push(e);
  }
  return out;
}

/**
 * Whether nslink's table (`inet nslink`: masquerade, isolation, published ports) is there.
 *
 * @example
 * ```ts ignore
 * if (!tablePresent()) await repairFirewall();
 * ```
 * @returns Whether it is.
 */
export function tablePresent(): boolean {
  return hostNftables().tables(FAMILY).some((t) => t.name === TABLE);
}
