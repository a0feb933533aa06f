/**
 * Helper process for state-lock.test.ts (not a test itself). Usage:
 *   _state_worker.ts DIR MODE ID COUNT
 * MODE "counter": COUNT times, under the lock, read counters/n, add one, write it back.
 * MODE "allocate": COUNT times, under the lock, read pools/shared, allocate(), write it back;
 * prints the addresses it got as a JSON array.
 * Before starting it creates DIR/ready-ID and waits for DIR/go, so both workers overlap.
 * MODE "counter-unlocked" does the counter without the lock (to show that the test can fail).
 * MODE "hold": takes the lock, creates DIR/holding-ID, and sleeps COUNT ms holding it
 * (synchronously: the whole process is stuck, as a hung holder would be); no barrier.
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { allocate, type Pool } from "../../model/ipam.ts";
import { StateStore } from "../../network/state.ts";

const [dir, mode, id, countText] = process.argv.slice(2);
const count = Number(countText);
const store = new StateStore(dir);

if (mode === "hold") {
  const lock = await store.lock();
  writeFileSync(join(dir, `holding-${id}`), String(process.pid));
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, count);
  lock.release();
  process.exit(0);
}

writeFileSync(join(dir, `ready-${id}`), "");
const waitUntil = Date.now() + 30_000;
while (!existsSync(join(dir, "go"))) {
  if (Date.now() > waitUntil) throw new Error(`Worker "${id}" never got the go signal`);
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
}

const got: string[] = [];
for (let i = 0; i < count; i++) {
  if (mode === "counter") {
    await store.withLock(() => {
      const n = store.read<number>("counters", "n") ?? 0;
      store.write("counters", "n", n + 1);
    });
  } else if (mode === "counter-unlocked") {
    const n = store.read<number>("counters", "n") ?? 0;
    store.write("counters", "n", n + 1);
  } else if (mode === "allocate") {
    await store.withLock(() => {
      const pool = store.read<Pool>("pools", "shared");
      if (!pool) throw new Error("No pool to allocate from");
      got.push(allocate(pool, `w${id}-${i}`));
      store.write("pools", "shared", pool);
    });
  } else {
    throw new Error(`Unknown mode "${mode}"`);
  }
}
console.log(JSON.stringify(got));
