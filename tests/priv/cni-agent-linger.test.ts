/**
 * Privileged tests of the on-demand host agent's linger (`AgentOptions.lingerMs`, set here with
 * `NSLINK_AGENT_LINGER_MS` in the plugin's environment, which the agent it starts inherits):
 * after answering a CNI request, an agent whose last network went stays a while, so that the
 * next container on a network of its own (`podman run` on a fresh network, one after the other)
 * is handed off to it instead of being served in-process while another agent starts; then it
 * exits. Proven by the agent's pid and its own count of the requests it served (`status`).
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ip, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import { setUpNetworkTestFile, tempStateDir, waitFor } from "./_network_helpers.ts";
import { deletesFinished, nslinkArgv, runProcess } from "./_cli_helpers.ts";
import { agentPid } from "./_agent_helpers.ts";
import { askAgent } from "../../agent/client.ts";

const { prefix: P } = setUpNetworkTestFile();

/** One exec of the plugin, its agent lingering `linger` ms. */
async function exec(
  command: string,
  net: string,
  id: string,
  netns: string,
  stateDir: string,
  linger: number,
) {
  const r = await runProcess(nslinkArgv(), {
    env: {
      CNI_COMMAND: command,
      CNI_CONTAINERID: id,
      CNI_NETNS: netns,
      CNI_IFNAME: "eth0",
      CNI_PATH: "/usr/lib/cni",
      NSLINK_STATE_DIR: stateDir,
      NSLINK_AGENT_LINGER_MS: String(linger),
    },
    input: JSON.stringify({
      cniVersion: "1.0.0",
      name: net,
      type: "nslink",
      subnet: "198.51.100.0/24",
      subnetIPv6: "2001:db8:1::/64",
    }),
  });
  assert.equal(r.code, 0, `${command} ${net}: ${r.stdout}${r.stderr}`);
  if (command === "DEL") await deletesFinished(stateDir);
}

async function addNetns(c: { netns(n: string): void }, name: string): Promise<string> {
  c.netns(name);
  const r = await ip(["netns", "add", name]);
  assert.equal(r.code, 0, r.stderr);
  return `/run/netns/${name}`;
}

/** The agent's pid and how many CNI requests it served; `undefined` when none answers. */
async function agentStatus(stateDir: string): Promise<{ pid: number; cni: number } | undefined> {
  try {
    const r = await askAgent(stateDir, "status", 2000);
    if (r.exiting) return undefined;
    return { pid: r.pid as number, cni: r.requests?.cni ?? 0 };
  } catch {
    return undefined;
  }
}

describe("on-demand agent lingering after CNI requests", { skip: SKIP_ROOT }, () => {
  it("serves the next fresh network's ADD and DEL after its last network went, then exits", {
    timeout: 120_000,
  }, async () => {
    const state = tempStateDir();
    await withCleanup(async (c) => {
      const nets = [`${P}l0`, `${P}l1`, `${P}l2`];
      const spaces: string[] = [];
      for (const [i, n] of nets.entries()) {
        c.link(`nsl-${n}`);
        spaces.push(await addNetns(c, `${P}l${i}`));
      }
      // The first ADD makes the network and starts the agent; the DEL is handed off to it.
      await exec("ADD", nets[0], `${P}l0`, spaces[0], state, 30_000);
      assert.ok(await waitFor(async () => (await agentStatus(state)) !== undefined, 10_000));
      const first = (await agentStatus(state))!;
      await exec("DEL", nets[0], `${P}l0`, spaces[0], state, 30_000);
      // No network left: the agent stays (after a sync, which stops an agent out of work).
      await askAgent(state, "sync", 5000);
      const after0 = await agentStatus(state);
      assert.equal(after0?.pid, first.pid, "the agent exited with its last network");
      assert.equal(after0?.cni, first.cni + 1, "the DEL was not handed off");
      // The next container on a network of its own: handed off to the same agent.
      await exec("ADD", nets[1], `${P}l1`, spaces[1], state, 30_000);
      await exec("DEL", nets[1], `${P}l1`, spaces[1], state, 30_000);
      await askAgent(state, "sync", 5000);
      const after1 = await agentStatus(state);
      assert.deepEqual(after1, { pid: first.pid, cni: first.cni + 3 });
    });
  });

  it("exits once the linger is over with no network", { timeout: 120_000 }, async () => {
    const state = tempStateDir();
    await withCleanup(async (c) => {
      const net = `${P}m`;
      c.link(`nsl-${net}`);
      const netns = await addNetns(c, `${P}m0`);
      await exec("ADD", net, `${P}m0`, netns, state, 200);
      assert.ok(await waitFor(async () => (await agentStatus(state)) !== undefined, 10_000));
      await exec("DEL", net, `${P}m0`, netns, state, 200);
      assert.ok(await waitFor(() => agentPid(state) === undefined, 10_000), "the agent stays");
    });
  });
});
