/**
 * A watch's `cancel()` settles while events are still flowing (store/etcd.ts), on both runtimes:
 * under Deno, aborting the streamed `/v3/watch` fetch left the body reader pending, so `cancel()`
 * (and with it an overlay host's `delete()`) never returned. Real etcd 3.4 inside the throw-away
 * namespace.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { EtcdClient } from "../../store/etcd.ts";
import { isRoot, runId, SKIP_ROOT, sleep } from "./_helpers.ts";
import { type EtcdCluster, startEtcd } from "./_etcd.ts";

const P = runId();
let etcd: EtcdCluster | undefined;

before(async () => {
  if (!isRoot) return;
  etcd = await startEtcd(["127.0.0.1"], { clientPort: 23794, peerPort: 23804 });
});

after(async () => {
  await etcd?.stop();
});

/** Whether `p` settles within `ms` (a bound on a hang, not a speed claim). */
async function settles(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([p.then(() => true, () => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

describe("etcd watch cancel", { skip: SKIP_ROOT, timeout: 120_000 }, () => {
  it("cancel() settles with hundreds of events flowing, and after the stream went idle", async () => {
    const client = new EtcdClient(etcd!.url);
    for (let round = 0; round < 6; round++) {
      const k = `/${P}/r${round}/`;
      const start = await client.put(`${k}first`, "0");
      let seen = 0;
      const w = client.watch(k, start, { events: (e) => (seen += e.length), compacted: () => {} });
      // Several hundred writes, 8 at a time, while the watch streams them.
      let writing = true;
      const writer = (async () => {
        for (let i = 0; writing && i < 600; i += 8) {
          await Promise.all(
            Array.from({ length: 8 }, (_, j) => client.put(`${k}${i + j}`, "x".repeat(200))),
          );
        }
      })();
      // Cancel mid-stream (odd rounds) or once the stream caught up and sits idle (even rounds).
      const want = round % 2 ? 100 : 601;
      const end = Date.now() + 30_000;
      while (seen < want && Date.now() < end) await sleep(5);
      if (round % 2 === 0) await writer;
      assert.ok(seen >= want, `round ${round}: the watch saw ${seen} events, want ${want}`);
      const ok = await settles(w.cancel(), 5000);
      writing = false;
      await writer;
      assert.ok(ok, `round ${round}: cancel() did not settle within 5 s (saw ${seen} events)`);
    }
  });
});
