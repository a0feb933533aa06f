/**
 * Unit tests of the host agent's syncs around a request it serves (`agent/agent.ts`, run in this
 * process with a counting duty and a request that waits for the test): the timer's syncs wait
 * for the request's end instead of running in its middle, and run once it ends.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createConnection } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { agentPaths, type AgentRequestHandler, runAgent } from "../../agent/agent.ts";
import type { Duty } from "../../agent/duty.ts";

/** Sends one line on the agent's socket; resolves with the first `lines` lines answered. */
function request(sock: string, line: string, lines: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const c = createConnection(sock);
    let got = "";
    c.setEncoding("utf8");
    c.on("error", reject);
    c.on("connect", () => c.write(line + "\n"));
    c.on("data", (d: string) => {
      got += d;
      const all = got.split("\n").filter((l) => l !== "");
      if (all.length >= lines) {
        c.destroy();
        resolve(all);
      }
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("the host agent's syncs around a request", () => {
  it("the timer's syncs wait for the request's end, then run", async () => {
    const dir = mkdtempSync(join(tmpdir(), "nsl-agentsync-"));
    let syncs = 0;
    const duty: Duty = {
      name: "count",
      sync: () => {
        syncs++;
        return Promise.resolve();
      },
      needed: () => true,
      status: () => ({ syncs }),
      stop: () => Promise.resolve(),
    };
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow: AgentRequestHandler = {
      refuse: () => undefined,
      run: async (_request, answer) => {
        answer({ ok: true });
        await gate;
        return { ok: true };
      },
    };
    let ready!: () => void;
    const started = new Promise<void>((r) => (ready = r));
    const running = runAgent({
      stateDir: dir,
      onDemand: false,
      extraDuties: [duty],
      // Only the counting duty: the registered ones (firewall repair, DNS) would work on this
      // machine's own namespace and /run (a unit test runs outside any throw-away namespace).
      registeredDuties: false,
      requests: { slow },
      tickMs: 5,
      onReady: () => ready(),
      log: () => {},
    });
    try {
      await started;
      const sock = agentPaths(dir).sock;
      // Accepted, then answered early; the request goes on until released.
      const from = performance.now();
      const answers = await request(sock, JSON.stringify({ op: "slow" }), 2);
      assert.deepEqual(answers.map((l) => JSON.parse(l)), [{ ok: true, accepted: true }, {
        ok: true,
      }]);
      const status = JSON.parse((await request(sock, JSON.stringify({ op: "status" }), 1))[0]);
      assert.deepEqual(Object.keys(status.duties), ["count"], "a duty besides the test's ran");
      const during = syncs;
      // Ten of the timer's periods: before, each ran a sync in the request's middle. Now none,
      // but one per longest wait (0.1 s) since the request began, when the machine is slow.
      await sleep(50);
      const waits = Math.floor((performance.now() - from) / 100);
      assert.ok(syncs - during <= waits, `${syncs - during} syncs ran in the request's middle`);
      const held = syncs;
      release();
      for (let i = 0; i < 200 && syncs === held; i++) await sleep(5);
      assert.ok(syncs > held, "no sync after the request");
    } finally {
      await request(agentPaths(dir).sock, JSON.stringify({ op: "stop" }), 1).catch(() => {});
      await running;
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
