/**
 * An agent started on demand whose state directory is removed (a test's temporary directory, a
 * wiped `/run/nslink`) exits by itself: nobody can reach it or need it any more. (One outlived a
 * test run whose cleanup removed the directory before the networks.)
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import { newNetwork } from "../../mod.ts";
import { agentPid, killAgents } from "./_agent_helpers.ts";
import { SKIP_ROOT, withCleanup } from "./_helpers.ts";
import { setUpNetworkTestFile, tempStateDir, waitFor } from "./_network_helpers.ts";

const { prefix: P } = setUpNetworkTestFile();
const stateDirs: string[] = [];

after(() => {
  for (const d of stateDirs) killAgents(d);
});

describe("the host agent and its state directory", () => {
  it(
    "exits when its state directory is removed",
    { skip: SKIP_ROOT, timeout: 60_000 },
    async () => {
      await withCleanup(async (c) => {
        const stateDir = tempStateDir();
        stateDirs.push(stateDir);
        c.link(`${P}br`);
        await newNetwork("bridge", `${P}n`, {
          stateDir,
          bridgeName: `${P}br`,
          subnet: "198.51.100.0/28",
        });
        const pid = agentPid(stateDir);
        assert.ok(pid, "the network started the agent");
        rmSync(stateDir, { recursive: true, force: true });
        const gone = await waitFor(() => {
          try {
            const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
            return /^[ZX]/.test(stat.slice(stat.lastIndexOf(")") + 2)); // a zombie has exited
          } catch {
            return true;
          }
        }, 10_000);
        assert.ok(gone, `agent ${pid} still runs after its state directory was removed`);
      });
    },
  );
});
