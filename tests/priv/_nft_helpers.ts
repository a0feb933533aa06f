/**
 * nslink's nf_tables table as tests read it (`nft -j`, independently of the library), and the
 * sysctls a firewall test puts back, and `nft` itself: shared by the tests that damage the table on purpose and
 * watch it come back (`firewall-repair`, `agent-firewall`, `agent-any-network`, `firewall-e2e`).
 *
 * @module
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { type Cleanup, exec } from "./_helpers.ts";

/**
 * A copy of `nft -j` output without its `handle` fields (they change when a table is remade).
 *
 * @param v Parsed `nft -j` output or a part of it.
 * @returns The same, handles left out.
 */
export function stripHandles(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripHandles);
  if (v && typeof v === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (k !== "handle") out[k] = stripHandles(x);
    return out;
  }
  return v;
}

/**
 * nslink's table as `nft -j` lists it, without handles.
 *
 * @returns Its objects, or `undefined` when there is no table.
 */
export async function table(): Promise<unknown> {
  const r = await exec(["nft", "-j", "list", "table", "inet", "nslink"]);
  if (r.code !== 0) return undefined;
  const json = JSON.parse(r.stdout) as { nftables: Record<string, unknown>[] };
  return stripHandles(json.nftables.filter((x) => !("metainfo" in x)));
}

/**
 * Runs `nft` with `args` in the current namespace, failing with its stderr.
 *
 * @param args Its arguments, e.g. `"-j", "list", "ruleset"`.
 * @returns Its stdout.
 *
 * @example
 * ```ts
 * await nft("flush", "ruleset");
 * ```
 */
export async function nft(...args: string[]): Promise<string> {
  const r = await exec(["nft", ...args]);
  if (r.code !== 0) throw new Error(`nft ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

/**
 * How many `inet nslink` tables there are (one, after any number of repairs).
 *
 * @returns The count.
 */
export async function nslinkTables(): Promise<number> {
  const r = await exec(["nft", "-j", "list", "tables"]);
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(r.stdout) as {
    nftables: { table?: { family: string; name: string } }[];
  };
  return json.nftables.filter((x) => x.table?.family === "inet" && x.table.name === "nslink")
    .length;
}

/** The forwarding and bridge-netfilter settings nslink turns on. */
const SYSCTLS = [
  "net/ipv4/ip_forward",
  "net/ipv6/conf/all/forwarding",
  "net/bridge/bridge-nf-call-iptables",
  "net/bridge/bridge-nf-call-ip6tables",
];

/**
 * Puts back, when the test's cleanup runs, the forwarding and bridge-netfilter settings nslink
 * turns on (for later files in the same sandbox).
 *
 * @param c The test's cleanup.
 */
export function keepSysctls(c: Cleanup): void {
  for (const key of SYSCTLS) {
    const path = `/proc/sys/${key}`;
    if (!existsSync(path)) continue;
    const was = readFileSync(path, "utf8").trim();
    c.defer(`restore ${key}`, () => writeFileSync(path, was));
  }
}
