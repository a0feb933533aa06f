/**
 * Where networks meet DNS: the calls into the host agent (see `agent_hook.ts`) at the points
 * where a DNS-enabled network needs it, and the `/etc/netns/NAME/resolv.conf` of namespaces
 * named in `/run/netns` (iproute2's convention: `ip netns exec NAME …` bind-mounts it over
 * `/etc/resolv.conf`), naming the networks' gateways and the search domain `dns.nslink`.
 *
 * @module
 */
import { mkdirSync, readFileSync, renameSync, rmdirSync, rmSync, writeFileSync } from "node:fs";
import process from "node:process";
import { basename, dirname, join } from "node:path";
import type { NetworkRecord } from "../model/records.ts";
import { hostAgent } from "./agent_hook.ts";

/** Where iproute2 keeps per-namespace files. */
const NETNS_ETC = "/etc/netns";
const NETNS_RUN = "/run/netns";
const MARK = "# nslink: the DNS of this namespace's networks; removed when nslink deletes it";

function dnsOn(config: Readonly<Record<string, unknown>>): boolean {
  return config.dns === true;
}

/**
 * Whether a network needs the host agent: it serves the names of DNS-enabled networks, and
 * keeps this host's lease and watcher in every overlay network (with or without names).
 */
function agentOn(config: Readonly<Record<string, unknown>>, type: string | undefined): boolean {
  return dnsOn(config) || type === "overlay";
}

function gateways(record: Pick<NetworkRecord, "pools">): string[] {
  return [record.pools.v4?.gateway, record.pools.v6?.gateway].filter((g): g is string => !!g);
}

/**
 * The resolv.conf path iproute2 uses for a namespace mounted in `/run/netns`.
 *
 * @example
 * ```ts
 * import { netnsResolvConf } from "./dns_hooks.ts";
 * netnsResolvConf("/run/netns/c1"); // "/etc/netns/c1/resolv.conf"
 * netnsResolvConf("/tmp/ns"); // undefined
 * ```
 * @param nsPath The namespace's path.
 * @returns The file's path, or `undefined` for a namespace elsewhere.
 */
export function netnsResolvConf(nsPath: string | undefined): string | undefined {
  if (!nsPath || dirname(nsPath) !== NETNS_RUN) return undefined;
  return join(NETNS_ETC, basename(nsPath), "resolv.conf");
}

function writeResolvConf(nsPath: string, record: NetworkRecord): void {
  const file = netnsResolvConf(nsPath);
  if (!file) return;
  let servers: string[] = [];
  try {
    const old = readFileSync(file, "utf8");
    // Another's file is left alone.
    if (!old.startsWith(MARK)) return;
    servers = [...old.matchAll(/^nameserver\s+(\S+)/gm)].map((m) => m[1]);
  } catch { /* none yet */ }
  for (const g of gateways(record)) if (!servers.includes(g)) servers.push(g);
  mkdirSync(dirname(file), { recursive: true });
  const text = [MARK, ...servers.slice(0, 3).map((s) => `nameserver ${s}`), "search dns.nslink", ""]
    .join("\n");
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, text);
  try {
    // rename(2): a reader sees the old file or the new one.
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Removes the resolv.conf nslink wrote for a namespace in `/run/netns` (and its directory when
 * empty); a file nslink did not write is left alone.
 *
 * @example
 * ```ts ignore
 * removeNetnsResolvConf("/run/netns/c1");
 * ```
 * @param nsPath The namespace's path.
 */
export function removeNetnsResolvConf(nsPath: string): void {
  const file = netnsResolvConf(nsPath);
  if (!file) return;
  try {
    if (!readFileSync(file, "utf8").startsWith(MARK)) return;
  } catch {
    return;
  }
  rmSync(file, { force: true });
  try {
    rmdirSync(dirname(file));
  } catch { /* not empty, or gone */ }
}

/**
 * After `link()`: the agent runs (started again after a `kill -9`), and a namespace in
 * `/run/netns` gets its resolv.conf.
 *
 * @param stateDir The state directory.
 * @param record The network.
 * @param nsPath The namespace linked into, when given.
 */
export async function agentAfterLink(
  stateDir: string,
  record: NetworkRecord,
  nsPath: string | undefined,
): Promise<void> {
  if (!agentOn(record.config, record.type)) return;
  if (nsPath && dnsOn(record.config)) {
    try {
      writeResolvConf(nsPath, record);
    } catch {
      // A read-only /etc: the names are served all the same; only `ip netns exec` misses them.
    }
  }
  await hostAgent()?.ensure(stateDir, { needed: true });
}

/**
 * After `newNetwork`: the agent runs and listens on the new network's gateways before the call
 * returns.
 *
 * @param stateDir The state directory.
 * @param config The network's configuration.
 * @param type The network's type (`overlay` networks need the agent with or without names).
 */
export async function agentAfterCreate(
  stateDir: string,
  config: Readonly<Record<string, unknown>>,
  type?: string,
): Promise<void> {
  if (agentOn(config, type)) await hostAgent()?.ensure(stateDir, { sync: true, needed: true });
}

/**
 * After `openNetwork`: the agent runs (started again after a `kill -9`).
 *
 * @param stateDir The state directory.
 * @param record The network.
 */
export async function agentAfterOpen(stateDir: string, record: NetworkRecord): Promise<void> {
  if (agentOn(record.config, record.type)) await hostAgent()?.ensure(stateDir, { needed: true });
}

/**
 * After a network's deletion: the agent closes its sockets, and exits (waited for) when no
 * network needs it any more.
 *
 * @param stateDir The state directory.
 * @param record The network deleted.
 */
export async function agentAfterDelete(stateDir: string, record: NetworkRecord): Promise<void> {
  if (agentOn(record.config, record.type)) await hostAgent()?.settle(stateDir);
}

/**
 * After `gc()`: the agent runs when a network needs it, and is gone when none does.
 *
 * @param stateDir The state directory.
 */
export async function agentAfterGc(stateDir: string): Promise<void> {
  const a = hostAgent();
  if (!a) return;
  await a.ensure(stateDir, {});
  await a.settle(stateDir);
}
