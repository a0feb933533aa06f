/**
 * The system calls the host agent makes for one handed-off CNI ADD on a network that exists
 * (issue 21), held to a budget: the agent's op `cni` (`cniHandler` of `cni/serve.ts`, the code
 * `nslink agent` runs for it) is called here in-process, as the agent calls it, and nslink's
 * libc calls are counted while it runs. The result is checked against the kernel independently
 * (`ip -j`): the MACs of the bridge, the host end and the container's interface.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { SKIP_ROOT, withCleanup } from "./_helpers.ts";
import { setUpNetworkTestFile, tempStateDir } from "./_network_helpers.ts";
import { ipJsonAt, runProcess } from "./_cli_helpers.ts";
import { addNetns, cniConf } from "./_cni_setup.ts";
import { agentOffForTests, killAgents } from "./_agent_helpers.ts";
import { libcCalls } from "../unit/_libc_calls.ts";
import { cniHandler } from "../../cni/serve.ts";

const { prefix: P } = setUpNetworkTestFile();

/**
 * At most this many libc calls for one ADD on an existing network, from the request to the
 * answer (a netlink round trip is a send and four receives: reply and acknowledgement, each
 * peeked first): the network's record and definition read (6), a repeated ADD's leftover looked
 * for under the shared lock (4), the container's namespace opened and a netlink handle made
 * inside it (11), link()'s state (the lock, releases listed, the intent record, addresses listed
 * and claimed, the record written: 23), the veth created and its host end tagged (8), the
 * namespace's resolv.conf (5), the interface looked up and configured inside (7), the bridge's
 * MAC for the result (5), and the handles closed (2). It was 88: the result also read the
 * endpoint's record back (3 files) and asked the kernel for the container interface's MAC, which
 * link() had just set, and for the host end's, which the kernel had echoed when link() created
 * it; and opening the network read its record twice.
 */
const BUDGET = 68;

interface Iface {
  name: string;
  mac?: string;
  mtu?: number;
  sandbox?: string;
}

describe("CNI ADD system calls in the agent", () => {
  it(`an ADD on an existing network makes at most ${BUDGET} libc calls, with the same result`, {
    skip: SKIP_ROOT,
    timeout: 60_000,
  }, async () => {
    const agentBack = agentOffForTests();
    const stateDir = tempStateDir();
    const network = `${P}n`;
    const handler = cniHandler(stateDir);
    const conf = JSON.stringify(cniConf(network, { bridge: `${P}br` }));
    const request = (command: string, id: string, netns: string) => ({
      op: "cni",
      stateDir,
      env: {
        CNI_COMMAND: command,
        CNI_CONTAINERID: id,
        CNI_NETNS: netns,
        CNI_IFNAME: "eth0",
        CNI_PATH: "/usr/lib/cni",
      },
      stdin: conf,
    });
    const add = async (id: string, netns: string) => {
      const req = request("ADD", id, netns);
      assert.equal(handler.refuse(req), undefined);
      const answer = await handler.run(req, () => {}) as {
        status: number;
        out: string;
        err: string;
      };
      assert.equal(answer.status, 0, answer.out + answer.err);
      return JSON.parse(answer.out) as { interfaces: Iface[]; ips: { address: string }[] };
    };
    try {
      await withCleanup(async (c) => {
        const paths: string[] = [];
        for (let i = 0; i < 3; i++) paths.push(await addNetns(c, `${P}c${i}`));
        c.defer("DEL", async () => {
          for (let i = 0; i < 3; i++) {
            await handler.run(request("DEL", `${P}id${i}`, paths[i]), () => {});
          }
        });
        // The first ADD creates the network; the second is what every ADD after it costs.
        await add(`${P}id0`, paths[0]);
        await add(`${P}id1`, paths[1]);
        let result: Awaited<ReturnType<typeof add>> | undefined;
        const calls = await libcCalls(async () => {
          result = await add(`${P}id2`, paths[2]);
        });
        assert.ok(
          calls.length <= BUDGET,
          `${calls.length} libc calls (budget ${BUDGET}): ${calls.join(" ")}`,
        );

        // The result, seen independently.
        const [bridge, hostEnd, inside] = result!.interfaces;
        const show = async (name: string) => {
          const r = await runProcess(["ip", "-j", "link", "show", name]);
          assert.equal(r.code, 0, r.stderr);
          return (JSON.parse(r.stdout) as { address: string; mtu: number }[])[0];
        };
        assert.equal(bridge.name, `${P}br`);
        assert.equal(bridge.mac, (await show(bridge.name)).address);
        assert.equal(hostEnd.mac, (await show(hostEnd.name)).address);
        const there = await ipJsonAt<{ ifname: string; address: string; mtu: number }[]>(
          paths[2],
          ["link", "show", "eth0"],
        );
        // (CNI 1.0.0 results carry no MTU.)
        assert.deepEqual(inside, { name: "eth0", mac: there[0].address, sandbox: paths[2] });
        assert.equal(result!.ips[0].address, "198.51.100.4/24");
      });
    } finally {
      killAgents(stateDir);
      agentBack();
    }
  });
});
