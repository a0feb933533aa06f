// ensureAgent's liveness check: an agent found running is remembered with its /proc/PID/stat
// open (one pread per later call instead of two file reads); one that exits is noticed at the
// next call, which then starts another. No root: a `sleep` stands in for the agent, and
// NSLINK_AGENT_CMD names a command that never answers, so a start shows as "not answering".
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { ensureAgent } from "../../agent/client.ts";
import { agentPaths } from "../../agent/agent.ts";

const root = mkdtempSync(join(tmpdir(), "nsl-agent-live-"));
after(() => rmSync(root, { recursive: true, force: true }));

/** The process's start time (field 22 of /proc/PID/stat), as the agent writes it. */
function startTime(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19]);
}

describe("ensureAgent liveness", () => {
  it("a remembered agent that exits is noticed at the next call", async () => {
    const stateDir = mkdtempSync(join(root, "state-"));
    const stand = spawn("sleep", ["30"], { stdio: "ignore" });
    const exited = new Promise((r) => stand.on("exit", r));
    const old = process.env.NSLINK_AGENT_CMD;
    // A "start" that never answers (the log goes to agent.log in the state directory).
    process.env.NSLINK_AGENT_CMD = "true";
    try {
      const pid = stand.pid!;
      writeFileSync(agentPaths(stateDir).pid, `${pid} ${startTime(pid)}\n`);
      // Running: nothing to do, twice (the second answered from the kept-open stat file).
      assert.equal(await ensureAgent(stateDir, { needed: true, timeoutMs: 300 }), undefined);
      assert.equal(await ensureAgent(stateDir, { needed: true, timeoutMs: 300 }), undefined);
      stand.kill("SIGKILL");
      await exited;
      // Gone: the next call starts one (which never answers here).
      await assert.rejects(
        ensureAgent(stateDir, { needed: true, timeoutMs: 300 }),
        /not answering/,
      );
      // A pid file naming another process's start time is no agent either.
      writeFileSync(agentPaths(stateDir).pid, `${process.pid} 1\n`);
      await assert.rejects(
        ensureAgent(stateDir, { needed: true, timeoutMs: 300 }),
        /not answering/,
      );
    } finally {
      if (old === undefined) delete process.env.NSLINK_AGENT_CMD;
      else process.env.NSLINK_AGENT_CMD = old;
      stand.kill("SIGKILL");
    }
  });
});
