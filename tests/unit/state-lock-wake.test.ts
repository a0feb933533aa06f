/**
 * A process waiting for the state lock that it holds itself elsewhere (the host agent serving an
 * ADD while its own removal of a network holds the lock) gets it as soon as the holder releases
 * it, not at the end of its back-off sleep (up to 50 ms). Ordering only: the waiter holds the
 * lock by the next turn of the event loop after the release.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StateStore } from "../../network/state.ts";

const root = mkdtempSync(join(tmpdir(), "nsl-lock-wake-"));
after(() => rmSync(root, { recursive: true, force: true }));

const turn = () => new Promise((r) => setTimeout(r, 0));

describe("StateStore.lock() in one process", () => {
  it("is taken by a waiter right after this process releases it", async () => {
    const dir = join(root, "s");
    const holder = new StateStore(dir).tryLock();
    assert.ok(holder, "the lock is free at first");
    let held: { release(): void } | undefined;
    const waiting = new StateStore(dir).lock({ timeoutMs: 10_000 }).then((l) => (held = l));
    const got = () => held;
    // Let the waiter back off to its longest sleeps (1, 2, 4, … 50 ms).
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(got(), undefined, "taken while held");
    holder.release();
    await turn();
    const now = got();
    assert.ok(now, "the waiter still sleeps after the release");
    now.release();
    await waiting;
  });

  it("of two exclusive waiters, one gets it at once, the other once that one releases it", async () => {
    const dir = join(root, "t");
    const holder = new StateStore(dir).tryLock();
    assert.ok(holder);
    const order: string[] = [];
    const a = new StateStore(dir).lock({ timeoutMs: 10_000 }).then((l) => {
      order.push("a");
      return l;
    });
    const b = new StateStore(dir).lock({ timeoutMs: 10_000 }).then((l) => {
      order.push("b");
      return l;
    });
    await new Promise((r) => setTimeout(r, 200));
    holder.release();
    await turn();
    assert.equal(order.length, 1, `one of two exclusive waiters: ${order}`);
    const first = await (order[0] === "a" ? a : b);
    first.release();
    await turn();
    assert.equal(order.length, 2);
    (await (order[0] === "a" ? b : a)).release();
  });
});
