/**
 * Where networks meet the host agent: the calls into it (see `agent_hook.ts`) at the points
 * where a network needs it (every network: the agent repairs nslink's firewall while any exists,
 * and serves the names of DNS-enabled ones), and the `/etc/netns/NAME/resolv.conf` of namespaces
 * named in `/run/netns` (iproute2's convention: `ip netns exec NAME …` bind-mounts it over
 * `/etc/resolv.conf`), naming the networks' gateways and the search domain `dns.nslink`.
 *
 * @module
 */
import { mkdirSync } from "node:fs";
import process from "node:process";
import { basename, dirname, join } from "node:path";
import type { NetworkRecord } from "../model/records.ts";
import { hostAgent } from "./agent_hook.ts";
import {
  close,
  O_CLOEXEC,
  O_CREAT,
  O_WRONLY,
  open,
  readTextFileIfExists,
  rename,
  tryPathCall,
  write,
} from "../ffi/libc.ts";

/** Where iproute2 keeps per-namespace files. */
const NETNS_ETC = "/etc/netns";
const NETNS_RUN = "/run/netns";
const NETNS_RUN_SLASH = `${NETNS_RUN}/`;
const MARK = "# nslink: the DNS of this namespace's networks; removed when nslink deletes it";

function dnsOn(config: Readonly<Record<string, unknown>>): boolean {
  return config.dns === true;
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
  // The common case without node:path (this runs on every link): `/run/netns/NAME`.
  if (nsPath?.startsWith(NETNS_RUN_SLASH)) {
    const name = nsPath.slice(NETNS_RUN_SLASH.length);
    if (name !== "" && name !== "." && name !== ".." && !name.includes("/")) {
      return `${NETNS_ETC}/${name}/resolv.conf`;
    }
  }
  if (!nsPath || dirname(nsPath) !== NETNS_RUN) return undefined;
  return join(NETNS_ETC, basename(nsPath), "resolv.conf");
}

const O_TRUNC = 0o1000;
/**
 * The resolv.conf files this process wrote, by namespace path. Removing one of these needs no
 * second look at its contents (open, read, close): the namespace's deletion is then two system
 * calls, `unlink` and `rmdir`.
 */
const written = new Map<string, string>();
const EEXIST = 17;
const ENOENT = 2;
const textEncoder = new TextEncoder();

// Raw system calls (ffi/libc.ts), not node:fs: this runs on every link() into a namespace in
// /run/netns and every delete of one, where the file is usually absent, and a runtime's fs
// call that fails builds an error object (in Deno with a regular expression over its message).
function writeResolvConf(nsPath: string, record: NetworkRecord): void {
  const file = netnsResolvConf(nsPath);
  if (!file) return;
  let servers: string[] = [];
  // The directory first: one made now holds no file to look at (a new namespace's case, one
  // system call fewer per link).
  const dir = file.slice(0, file.lastIndexOf("/")); // file is /etc/netns/NAME/resolv.conf
  const made = tryPathCall("mkdir", dir, 0o755);
  if (made === ENOENT) mkdirSync(dir, { recursive: true });
  else if (made !== 0 && made !== EEXIST) mkdirSync(dir); // throws, naming the errno
  const old = made === EEXIST ? readTextFileIfExists(file) : undefined;
  if (old !== undefined) {
    // Another's file is left alone.
    if (!old.startsWith(MARK)) {
      written.delete(nsPath);
      return;
    }
    servers = [...old.matchAll(/^nameserver\s+(\S+)/gm)].map((m) => m[1]);
  }
  for (const g of gateways(record)) if (!servers.includes(g)) servers.push(g);
  const text = [MARK, ...servers.slice(0, 3).map((s) => `nameserver ${s}`), "search dns.nslink", ""]
    .join("\n");
  const tmp = `${file}.tmp-${process.pid}`;
  const fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644);
  try {
    try {
      write(fd, textEncoder.encode(text), JSON.stringify(tmp));
    } finally {
      close(fd);
    }
    // rename(2): a reader sees the old file or the new one.
    rename(tmp, file);
    written.set(nsPath, file);
  } catch (e) {
    tryPathCall("unlink", tmp);
    throw e;
  }
}

/**
 * Removes the resolv.conf nslink wrote for a namespace in `/run/netns` (and its directory when
 * empty); a file nslink did not write is left alone. One this process wrote is removed without
 * being read again (`unlink`, `rmdir`); another is read first, to see whether it is nslink's.
 *
 * @example
 * ```ts ignore
 * removeNetnsResolvConf("/run/netns/c1");
 * ```
 * @param nsPath The namespace's path.
 */
export function removeNetnsResolvConf(nsPath: string): void {
  const ours = written.get(nsPath);
  if (ours !== undefined) {
    written.delete(nsPath);
    // Gone already (removed by another): its directory is left as it is, as below.
    if (tryPathCall("unlink", ours) === 0) {
      tryPathCall("rmdir", ours.slice(0, ours.lastIndexOf("/")));
    }
    return;
  }
  const file = netnsResolvConf(nsPath);
  if (!file) return;
  let text: string | undefined;
  try {
    text = readTextFileIfExists(file);
  } catch {
    return;
  }
  if (text === undefined || !text.startsWith(MARK)) return;
  tryPathCall("unlink", file);
  // Not empty, or gone: left as it is.
  tryPathCall("rmdir", dirname(file));
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
  if (dnsOn(record.config) && nsPath) {
    try {
      writeResolvConf(nsPath, record);
    } catch {
      // A read-only /etc: the names are served all the same; only `ip netns exec` misses them.
    }
  }
  await hostAgent()?.ensure(stateDir, { needed: true });
}

/**
 * After `newNetwork`: the agent runs (its firewall repair watching) and, for a DNS-enabled
 * network, listens on the new network's gateways before the call returns.
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
  await hostAgent()?.ensure(stateDir, { sync: dnsOn(config) || type === "overlay", needed: true });
}

/**
 * After `openNetwork`: the agent runs (started again after a `kill -9`).
 *
 * @param stateDir The state directory.
 * @param record The network.
 */
export async function agentAfterOpen(stateDir: string, _record: NetworkRecord): Promise<void> {
  await hostAgent()?.ensure(stateDir, { needed: true });
}

/**
 * After a network's deletion: the agent closes its sockets, and exits (waited for) when no
 * network needs it any more.
 *
 * @param stateDir The state directory.
 * @param _record The network deleted.
 */
export async function agentAfterDelete(stateDir: string, _record: NetworkRecord): Promise<void> {
  await hostAgent()?.settle(stateDir);
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
