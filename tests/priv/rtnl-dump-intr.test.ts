/**
 * Privileged test of interrupted dumps (`NLM_F_DUMP_INTR`): while a 2,000-link dump is being
 * read, another process adds and deletes a link in the same namespace. The kernel flags such a
 * dump; the socket runs it again, and reports it (`DumpInterruptedError`, carrying the last
 * replies) only when every attempt was interrupted.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { DumpInterruptedError, type NetNs, Rtnl } from "../../mod.ts";
import {
  assertNoLeftovers,
  type Cleanup,
  ip,
  isRoot,
  runId,
  SKIP_ROOT,
  sleep,
  withCleanup,
} from "./_helpers.ts";

const P = runId();
const PAIRS = 1000;

after(async () => {
  if (isRoot) await assertNoLeftovers(P);
});

/** A namespace holding PAIRS veth pairs v0/w0 … (made with one `ip -batch`), cleaned up by `c`. */
async function populatedNamespace(c: Cleanup, nsName: string): Promise<[NetNs, string]> {
  const ns = c.namespace(nsName);
  const lines = Array.from({ length: PAIRS }, (_, i) => `link add v${i} type veth peer name w${i}`);
  const r = await ip(["-n", nsName, "-batch", "-"], lines.join("\n") + "\n");
  assert.equal(r.code, 0, r.stderr);
  return [ns, nsName];
}

/**
 * Dumps links while `script` churns links in `nsName`: for at least `ms`, and on until a dump
 * was interrupted (the kernel's flag is a matter of timing) — with `untilError`, until a dump
 * failed on every attempt — or 20 s (60 s with `untilError`: on a loaded machine the churn is
 * slower and a dump interrupted on all of its attempts is rarer) have passed.
 */
async function dumpWhileChurning(
  ns: NetNs,
  nsName: string,
  script: string,
  ms: number,
  untilError = false,
  dumpRetries?: number,
) {
  const limit = untilError ? 60_000 : 20_000;
  const churn = spawn("ip", ["netns", "exec", nsName, "bash", "-c", script], { stdio: "ignore" });
  const result = { dumps: 0, complete: 0, restarts: 0, errors: [] as unknown[] };
  try {
    using rt = Rtnl.open({ netns: ns });
    if (dumpRetries !== undefined) rt.socket.dumpRetries = dumpRetries;
    const t0 = performance.now();
    for (;;) {
      const elapsed = performance.now() - t0;
      const seen = untilError ? result.errors.length > 0 : rt.socket.dumpRestarts > 0;
      if (elapsed >= limit || (elapsed >= ms && seen)) break;
      try {
        const names = new Set(rt.link.list().map((l) => l.name));
        result.dumps++;
        let all = true;
        for (let i = 0; i < PAIRS && all; i++) all = names.has(`v${i}`) && names.has(`w${i}`);
        if (all) result.complete++;
      } catch (e) {
        result.errors.push(e);
      }
      await sleep(1); // let the event loop run between synchronous dumps
    }
    result.restarts = rt.socket.dumpRestarts;
  } finally {
    churn.kill("SIGKILL");
    await new Promise((r) => churn.once("exit", r));
  }
  return result;
}

describe("Rtnl: interrupted dumps", () => {
  it("a dump interrupted by a concurrent change is run again and comes back complete", {
    skip: SKIP_ROOT,
    timeout: 120_000,
  }, async () => {
    await withCleanup(async (c) => {
      const [ns, nsName] = await populatedNamespace(c, `${P}intr`);
      // A change every ~0.2 s: some dumps are interrupted, their second run is not.
      const res = await dumpWhileChurning(
        ns,
        nsName,
        `while true; do ip link add ${P}z0 type veth peer name ${P}z1; sleep 0.2; ip link del ${P}z0; sleep 0.2; done`,
        4000,
      );
      assert.ok(res.dumps > 5, `only ${res.dumps} dumps ran`);
      assert.ok(
        res.restarts > 0,
        `no dump was interrupted in ${res.dumps} dumps; the test proves nothing`,
      );
      assert.deepEqual(res.errors, []);
      assert.equal(res.complete, res.dumps, "every dump lists all 2,000 veth ends");
    });
  });

  it("when every attempt is interrupted, DumpInterruptedError reports it with the last replies", {
    skip: SKIP_ROOT,
    timeout: 120_000,
  }, async () => {
    await withCleanup(async (c) => {
      const [ns, nsName] = await populatedNamespace(c, `${P}intr2`);
      // Constant churn, and one retry (two attempts) instead of the default five: six
      // interrupted attempts in a row are too rare to provoke reliably, two are not.
      const res = await dumpWhileChurning(
        ns,
        nsName,
        `while true; do ip link add ${P}z0 type veth peer name ${P}z1; ip link del ${P}z0; done`,
        1000,
        true,
        1,
      );
      assert.ok(res.restarts > 0, "constant churn interrupted no dump");
      // Without a dump that failed on every attempt, the checks below would check nothing.
      assert.ok(
        res.errors.length > 0,
        `no dump was interrupted on all its attempts in ${res.dumps + res.errors.length} dumps`,
      );
      for (const e of res.errors) {
        assert.ok(e instanceof DumpInterruptedError, String(e));
        assert.equal(e.code, "EINTR");
        assert.match(
          e.message,
          /^RTM_GETLINK links: EINTR \(Interrupted system call\): dump interrupted .* on all 2 attempts/,
        );
        assert.ok(e.messages.length > 2 * PAIRS, "the last attempt's replies come with the error");
      }
    });
  });
});
