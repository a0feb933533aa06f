/**
 * The setup shared by the tests of the host agent's firewall repair (agent-firewall.test.ts,
 * agent-any-network.test.ts; not a test itself): the sandbox's own resolv.conf for the agent's
 * upstreams, a state directory per test whose agents die with it, an outside namespace to
 * connect from, and a container `c1` serving a published port 8080.
 *
 * @module
 */
import { after, before } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Network } from "../../mod.ts";
import { killAgents } from "./_agent_helpers.ts";
import { type Cleanup, exec, isRoot } from "./_helpers.ts";
import { keepSysctls, table } from "./_nft_helpers.ts";
import { cleanupNewVeths, namespaceAt, nsName, tempStateDir } from "./_network_helpers.ts";
import { HOST4, OUT4, outside, server, settled } from "./_traffic.ts";

const stateDirs: string[] = [];
const mounted: string[] = [];

/**
 * Registers the file's before()/after(): the agent reads the host's resolv.conf for upstreams,
 * so the sandbox gets one of its own (bind-mounted on /etc/resolv.conf, unmounted after); after
 * the file, the agents of every state directory {@linkcode agentTestHost} made are killed.
 *
 * @example
 * ```ts ignore
 * setUpAgentFirewallTestFile();
 * ```
 */
export function setUpAgentFirewallTestFile(): void {
  before(async () => {
    if (!isRoot) return;
    mkdirSync("/etc/netns", { recursive: true });
    const rc = join(tempStateDir(), "resolv.conf");
    writeFileSync(rc, "nameserver 127.0.0.1\n");
    assert.equal((await exec(["mount", "--bind", rc, "/etc/resolv.conf"])).code, 0);
    mounted.push("/etc/resolv.conf");
  });
  after(async () => {
    for (const d of stateDirs) killAgents(d);
    for (const m of mounted.splice(0).reverse()) await exec(["umount", "-l", m]);
  });
}

/**
 * One test's host: veths and sysctls it changes put back, a fresh state directory (its agents
 * killed by the cleanup), and the outside namespace `out` linked by `hostLink`.
 *
 * @example
 * ```ts ignore
 * const stateDir = await agentTestHost(c, `${P}o`, `${P}x`);
 * ```
 * @returns The state directory.
 */
export async function agentTestHost(c: Cleanup, out: string, hostLink: string): Promise<string> {
  await cleanupNewVeths(c);
  keepSysctls(c);
  const stateDir = tempStateDir();
  stateDirs.push(stateDir);
  c.defer("kill agents", () => killAgents(stateDir));
  await outside(c, out, hostLink);
  return stateDir;
}

/**
 * Links container `c1` (namespace `nsPath`) to `net` with host port 8080 published to its port
 * 80, serves it, and waits until `out` reaches it through the port.
 *
 * @example
 * ```ts ignore
 * const { ok, before } = await servePublishedC1(c, net, `/run/netns/${P}c1`, `${P}o`);
 * ```
 * @returns The answer `out` gets, and nslink's table as it is then.
 */
export async function servePublishedC1(
  c: Cleanup,
  net: Network,
  nsPath: string,
  out: string,
): Promise<{ ok: string; before: unknown }> {
  const ns = await namespaceAt(c, nsPath);
  for (const i of await net.link("c1", { namespace: ns, ports: [{ hostPort: 8080, port: 80 }] })) {
    await ns.addInterface(i);
  }
  c.defer("unlink c1", () => net.unlink("c1"));
  await server(c, nsName(ns.path), "c1");
  const ok = `c1 from=${OUT4}`;
  assert.equal(await settled(ok, [out, "tcp", HOST4, 8080]), ok);
  const before = await table();
  assert.ok(before !== undefined);
  return { ok, before };
}
