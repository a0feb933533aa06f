import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { createPool, type Pool } from "../../model/ipam.ts";
import { LockTimeoutError, StateStore } from "../../network/state.ts";
import { newNetwork } from "../../mod.ts";

const WORKER = join(dirname(fileURLToPath(import.meta.url)), "_state_worker.ts");
const roots: string[] = [];
after(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

function tempDir(): string {
  const root = mkdtempSync(join(tmpdir(), "nsl-state-lock-"));
  roots.push(root);
  return root;
}

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Starts a worker process of this same runtime (`deno run -A` or `bun`). */
function startWorker(dir: string, mode: string, id: string, count: number): Promise<Result> {
  const args = [WORKER, dir, mode, id, String(count)];
  const argv = "Bun" in globalThis ? args : ["run", "-A", ...args];
  const child = spawn(process.execPath, argv, { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** Runs two workers at once: both wait at a barrier until both are ready. */
async function runPair(dir: string, mode: string, count: number): Promise<Result[]> {
  const running = [startWorker(dir, mode, "1", count), startWorker(dir, mode, "2", count)];
  const deadline = Date.now() + 30_000;
  while (!existsSync(join(dir, "ready-1")) || !existsSync(join(dir, "ready-2"))) {
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 5));
  }
  writeFileSync(join(dir, "go"), "");
  const results = await Promise.all(running);
  for (const r of results) assert.equal(r.code, 0, `worker failed:\n${r.stderr}`);
  return results;
}

describe("StateStore.withLock() across processes", { timeout: 120_000 }, () => {
  it("keeps 2 × 200 read-increment-write cycles from losing an update", {
    timeout: 60_000,
  }, async () => {
    const dir = tempDir();
    await runPair(dir, "counter", 200);
    assert.equal(new StateStore(dir).read<number>("counters", "n"), 400);
  });

  it("gives 40 distinct addresses to 2 processes × 20 allocations from one pool", {
    timeout: 60_000,
  }, async () => {
    const dir = tempDir();
    const store = new StateStore(dir);
    store.write("pools", "shared", createPool("198.51.100.0/24"));
    const results = await runPair(dir, "allocate", 20);
    const got = results.flatMap((r) => JSON.parse(r.stdout.trim().split("\n").at(-1)!) as string[]);
    assert.equal(got.length, 40);
    assert.equal(new Set(got).size, 40);
    const pool = store.read<Pool>("pools", "shared")!;
    assert.equal(Object.keys(pool.allocated).length, 40);
    assert.deepEqual(
      got.map((a) => a.replace("/24", "")).sort(),
      Object.keys(pool.allocated).sort(),
    );
    // The lowest-free rule holds across processes: exactly .2 to .41.
    const hosts = got.map((a) => Number(a.split("/")[0].split(".")[3])).sort((x, y) => x - y);
    assert.deepEqual(hosts, Array.from({ length: 40 }, (_, i) => i + 2));
    const owners = new Set(Object.values(pool.allocated));
    assert.equal(owners.size, 40);
  });

  it("a hung holder: the waiter's event loop runs, and the timeout names the holder's pid", {
    timeout: 60_000,
  }, async () => {
    const dir = tempDir();
    const holder = startWorker(dir, "hold", "h", 3000);
    const deadline = Date.now() + 30_000;
    while (!existsSync(join(dir, "holding-h")) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    const pid = Number(readFileSync(join(dir, "holding-h"), "utf8"));
    assert.ok(pid > 0);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const started = Date.now();
    try {
      // The library's own calls wait the same way: newNetwork needs the exclusive lock.
      await assert.rejects(
        newNetwork("null", "nsl-lock-test", { stateDir: dir, lockTimeoutMs: 300 }),
        (e: unknown) => {
          assert.ok(e instanceof LockTimeoutError, String(e));
          assert.deepEqual(e.holders, [pid]);
          assert.match(e.message, new RegExp(`still held by pid ${pid} after 300 ms`));
          return true;
        },
      );
      await assert.rejects(
        new StateStore(dir).lock({ shared: true, timeoutMs: 200 }),
        new RegExp(`held by pid ${pid}`),
      );
    } finally {
      clearInterval(timer);
    }
    const waited = Date.now() - started;
    assert.ok(waited >= 450, `gave up after ${waited} ms`);
    assert.ok(ticks >= 20, `the event loop was blocked: ${ticks} timer ticks in ${waited} ms`);
    // Once the holder is gone, the lock is free (the kernel drops a dead process's flock).
    assert.equal((await holder).code, 0);
    const lock = await new StateStore(dir).lock({ timeoutMs: 1000 });
    lock.release();
  });
});
