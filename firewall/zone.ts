/**
 * nslink's bridges in firewalld's `nslink` zone, when firewalld runs: without it, firewalld's
 * own forward chain (its default zone's reject) drops container traffic that nslink's table
 * accepts (outbound was rejected in the test; published ports pass firewalld's `ct status dnat
 * accept`). The zone (target `ACCEPT`, as Docker's `docker` zone) is made permanent, and every
 * bridge is bound at runtime and permanently, so both survive `firewall-cmd --reload`. No
 * forwarding policy is added (Docker adds `docker-forwarding`): the traffic tests pass without
 * one, and nslink's own table decides what reaches a container.
 *
 * Without firewalld nothing happens: when the system bus's socket is missing not even a
 * connection is tried; when the bus has no firewalld, one `NameHasOwner` call is made.
 *
 * @example After a network was made
 * ```ts ignore
 * import { firewalldBind } from "./zone.ts";
 * await firewalldBind(["nsl0br"]); // false when firewalld does not run
 * ```
 *
 * @module
 */
import { existsSync } from "node:fs";
import { socketPaths, systemBusAddress } from "../dbus/connection.ts";
import type { NetworkRecord } from "../model/records.ts";
import { Firewalld, NSLINK_ZONE } from "./firewalld.ts";
import { firewallNetwork } from "./firewall.ts";

/**
 * Whether a system bus may be there: some socket path of its address exists (abstract sockets
 * and non-`unix` transports count as maybe). Costs one `stat`.
 *
 * @returns Whether connecting is worth trying.
 */
export function systemBusPresent(): boolean {
  const address = systemBusAddress();
  const paths = socketPaths(address);
  if (paths.length === 0) return address.trim() !== "";
  return paths.some((p) => p.startsWith("\0") || existsSync(p));
}

async function connect(): Promise<Firewalld | undefined> {
  if (!systemBusPresent()) return undefined;
  return await Firewalld.connect();
}

/**
 * The bridges of saved networks (bridge networks only).
 *
 * @param records The networks.
 * @returns Their bridges' names.
 */
export function recordBridges(records: readonly NetworkRecord[]): string[] {
  const out: string[] = [];
  for (const r of records) {
    const n = firewallNetwork(r);
    if (n) out.push(n.bridge);
  }
  return out;
}

/**
 * Puts bridges in firewalld's `nslink` zone (made when missing), at runtime
 * and permanently. Nothing when firewalld does not run.
 *
 * Equivalent to: `firewall-cmd --permanent --new-zone=nslink --set-target=ACCEPT;
 * firewall-cmd [--permanent] --zone=nslink --change-interface=BRIDGE`.
 *
 * @example
 * ```ts ignore
 * await firewalldBind(["nsl0br"]);
 * ```
 * @param bridges The bridges.
 * @returns Whether firewalld runs (and was told).
 */
export async function firewalldBind(bridges: readonly string[]): Promise<boolean> {
  const fw = await connect();
  if (fw === undefined) return false;
  try {
    await fw.ensureZone(NSLINK_ZONE);
    for (const b of bridges) await fw.bindInterface(NSLINK_ZONE, b);
    return true;
  } finally {
    fw.close();
  }
}

/**
 * Takes bridges out of firewalld's `nslink` zone, at runtime and permanently (a network
 * deleted). Nothing when firewalld does not run.
 *
 * @example
 * ```ts ignore
 * await firewalldUnbind(["nsl0br"]);
 * ```
 * @param bridges The bridges.
 * @returns Whether firewalld runs (and was told).
 */
export async function firewalldUnbind(bridges: readonly string[]): Promise<boolean> {
  if (bridges.length === 0) return false;
  const fw = await connect();
  if (fw === undefined) return false;
  try {
    for (const b of bridges) await fw.unbindInterface(NSLINK_ZONE, b);
    return true;
  } finally {
    fw.close();
  }
}

/**
 * {@linkcode firewalldBind} or {@linkcode firewalldUnbind} whose failure is a warning on stderr,
 * not an error: the network works without firewalld's consent except for what firewalld drops,
 * and `nslink network reload` tries again.
 *
 * @example
 * ```ts ignore
 * await tellFirewalld("bind", recordBridges(records));
 * ```
 * @param op Bind or unbind.
 * @param bridges The bridges.
 * @returns Whether firewalld runs and was told.
 */
export async function tellFirewalld(
  op: "bind" | "unbind",
  bridges: readonly string[],
): Promise<boolean> {
  try {
    return await (op === "bind" ? firewalldBind(bridges) : firewalldUnbind(bridges));
  } catch (e) {
    console.warn(
      `nslink: firewalld: cannot ${op} ${bridges.join(", ")} ${op === "bind" ? "to" : "from"} ` +
        `zone "${NSLINK_ZONE}": ${(e as Error).message}` +
        (op === "bind"
          ? "; firewalld may drop their forwarded traffic (nslink network reload tries again)"
          : ""),
    );
    return false;
  }
}

/**
 * Puts every saved bridge network's bridge in firewalld's `nslink` zone (what
 * `repairFirewall()` and `nslink network reload` do); nothing when firewalld does not run.
 * Failures are errors here.
 *
 * @example
 * ```ts ignore
 * await syncFirewalldZone(records); // false without firewalld
 * ```
 * @param records Every saved network.
 * @returns Whether firewalld runs (and was told).
 */
export async function syncFirewalldZone(records: readonly NetworkRecord[]): Promise<boolean> {
  if (!systemBusPresent()) return false;
  return await firewalldBind(recordBridges(records));
}
