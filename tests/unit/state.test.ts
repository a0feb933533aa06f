import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import {
  DEFAULT_STATE_DIR,
  defaultStateDir,
  LockTimeoutError,
  StateStore,
} from "../../network/state.ts";

const root = mkdtempSync(join(tmpdir(), "nsl-state-"));
after(() => rmSync(root, { recursive: true, force: true }));

let seq = 0;
function freshStore(): StateStore {
  return new StateStore(join(root, `s${seq++}`, "nested"));
}

describe("StateStore files", () => {
  it("writes, reads, lists and removes JSON objects", () => {
    const store = freshStore();
    assert.equal(store.read("networks", "web"), undefined);
    assert.deepEqual(store.list("networks"), []);
    store.write("networks", "web", { subnet: "198.51.100.0/24", n: 1 });
    store.write("networks", "db", [1, 2, 3]);
    store.write("networks", "a.b_c-1", "text");
    assert.deepEqual(store.read("networks", "web"), { subnet: "198.51.100.0/24", n: 1 });
    assert.deepEqual(store.read<number[]>("networks", "db"), [1, 2, 3]);
    assert.deepEqual(store.list("networks"), ["a.b_c-1", "db", "web"]);
    store.write("networks", "web", { subnet: "203.0.113.0/24" });
    assert.deepEqual(store.read("networks", "web"), { subnet: "203.0.113.0/24" });
    store.remove("networks", "web");
    store.remove("networks", "web");
    store.remove("endpoints", "never");
    assert.equal(store.read("networks", "web"), undefined);
    assert.deepEqual(store.list("networks"), ["a.b_c-1", "db"]);
  });

  it("creates the directories private to the owner", () => {
    const store = freshStore();
    store.write("networks", "web", 1);
    assert.equal(statSync(store.dir).mode & 0o777, 0o700);
    assert.equal(statSync(join(store.dir, "networks")).mode & 0o777, 0o700);
    assert.equal(statSync(join(store.dir, "networks", "web.json")).mode & 0o077, 0);
  });

  it("leaves no temporary files and never lists them", () => {
    const store = freshStore();
    for (let i = 0; i < 20; i++) store.write("counters", "c", { i });
    assert.deepEqual(readdirSync(join(store.dir, "counters")), ["c.json"]);
    // A crashed writer's leftover is not state.
    writeFileSync(join(store.dir, "counters", "d.json.tmp-1-abcdef"), "{ half");
    assert.deepEqual(store.list("counters"), ["c"]);
    assert.deepEqual(store.read("counters", "c"), { i: 19 });
    assert.equal(store.read("counters", "d"), undefined);
  });

  it("refuses a value that is not JSON", () => {
    const store = freshStore();
    assert.throws(() => store.write("k", "n", undefined), TypeError);
    assert.throws(() => store.write("k", "n", () => 1), TypeError);
    assert.equal(store.read("k", "n"), undefined);
  });

  it("reports a corrupt state file with its path", () => {
    const store = freshStore();
    store.write("k", "n", 1);
    writeFileSync(join(store.dir, "k", "n.json"), "{ half");
    assert.throws(() => store.read("k", "n"), /not valid JSON/);
  });

  it("refuses invalid kinds and names with a TypeError quoting them", () => {
    const store = freshStore();
    const bad = ["", "..", ".", "a/b", "../x", "a..b", ".lock", "sp ace", "ä", "x".repeat(201)];
    for (const name of bad) {
      for (
        const op of [
          () => store.read("networks", name),
          () => store.write("networks", name, 1),
          () => store.remove("networks", name),
          () => store.read(name, "web"),
          () => store.write(name, "web", 1),
          () => store.list(name),
        ]
      ) {
        assert.throws(op, (err: Error) => {
          assert.ok(err instanceof TypeError, `${JSON.stringify(name)}: ${err}`);
          assert.ok(err.message.includes(`"${name}"`), err.message);
          return true;
        });
      }
    }
    assert.equal(existsSync(join(store.dir, "..", "x.json")), false);
  });
});

describe("StateStore.withLock()", () => {
  it("returns the function's result and creates the lock file", async () => {
    const store = freshStore();
    assert.equal(await store.withLock(() => 42), 42);
    assert.equal(statSync(join(store.dir, ".lock")).mode & 0o077, 0);
    assert.deepEqual(readdirSync(store.dir), [".lock"]);
  });

  it("is re-entrant, also across two stores on the same directory", async () => {
    const store = freshStore();
    const twin = new StateStore(store.dir + "/.");
    let inner: Promise<string> | undefined;
    const got = await store.withLock(() => {
      inner = twin.withLock(() => "deep");
      return "outer";
    });
    assert.equal(got, "outer");
    assert.equal(await inner, "deep");
    // The lock is free again afterwards.
    assert.equal(await twin.withLock(() => 1), 1);
  });

  it("releases the lock when the function throws", async () => {
    const store = freshStore();
    await assert.rejects(
      store.withLock(() => {
        throw new Error("boom");
      }),
      /boom/,
    );
    assert.equal(await store.withLock(() => "again"), "again");
  });

  it("refuses async functions and returned promises", async () => {
    const store = freshStore();
    let ran = false;
    await assert.rejects(
      store.withLock(async () => {
        ran = true;
        await Promise.resolve();
      }),
      TypeError,
    );
    assert.equal(ran, false);
    await assert.rejects(store.withLock(() => Promise.reject(new Error("late"))), TypeError);
    // Still usable afterwards, nothing left held.
    assert.equal(await store.withLock(() => 7), 7);
    await new Promise((r) => setTimeout(r, 10));
  });
});

describe("StateStore.lock()", () => {
  it("shared holders coexist; an exclusive one waits, then times out naming this pid", async () => {
    const store = freshStore();
    const a = store.tryLock({ shared: true });
    const b = store.tryLock({ shared: true });
    assert.ok(a && b, "two shared locks at once");
    assert.equal(store.tryLock(), undefined);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const started = Date.now();
    try {
      await assert.rejects(store.lock({ timeoutMs: 150 }), (e: unknown) => {
        assert.ok(e instanceof LockTimeoutError, String(e));
        assert.deepEqual(e.holders, [process.pid]);
        assert.match(e.message, new RegExp(`held by pid ${process.pid} after 150 ms`));
        assert.equal(e.path, join(store.dir, ".lock"));
        return true;
      });
    } finally {
      clearInterval(timer);
    }
    assert.ok(Date.now() - started >= 140, "gave up too early");
    assert.ok(ticks >= 5, `the event loop was blocked while waiting (${ticks} timer ticks)`);
    a.release();
    a.release(); // twice is fine
    const waiting = store.lock({ timeoutMs: 2000 });
    setTimeout(() => b.release(), 30);
    const got = await waiting;
    assert.equal(store.tryLock({ shared: true }), undefined);
    got.release();
    store.tryLock()?.release();
  });

  it("refuses a bad timeout", async () => {
    const store = freshStore();
    for (const t of [-1, Number.NaN, "5" as unknown as number]) {
      await assert.rejects(store.lock({ timeoutMs: t }), TypeError);
    }
  });
});

describe("StateStore.create() and claims", () => {
  it("creates exclusively, leaves no temporary file, and claims once", () => {
    const store = freshStore();
    assert.equal(store.create("eps", "c1", { n: 1 }), true);
    assert.equal(store.create("eps", "c1", { n: 2 }), false);
    assert.deepEqual(store.read("eps", "c1"), { n: 1 });
    assert.deepEqual(readdirSync(join(store.dir, "eps")), ["c1.json"]);
    assert.throws(
      () => store.create("missing", "c1", 1, { mkdir: false }),
      (e: Error & { code?: string }) => e.code === "ENOENT",
    );
    store.makeKind("ips");
    assert.equal(store.claim("ips", "198.51.100.2", "c1"), true);
    assert.equal(store.claim("ips", "198.51.100.2", "c2"), false);
    assert.equal(store.claim("ips", "2001:db8::2", "c2"), true);
    assert.equal(store.claimant("ips", "198.51.100.2"), "c1");
    assert.equal(store.claimant("ips", "198.51.100.3"), undefined);
    assert.deepEqual(store.claims("ips").sort(), ["198.51.100.2", "2001:db8::2"]);
    assert.equal(store.unclaim("ips", "198.51.100.2", "c2"), false);
    assert.equal(store.unclaim("ips", "198.51.100.2", "c1"), true);
    assert.deepEqual(store.claims("ips"), ["2001:db8::2"]);
    assert.throws(() => store.claim("ips", "../x", "c1"), TypeError);
    assert.throws(() => store.claim("ips", "198.51.100.9", "a/b"), TypeError);
  });
});

describe("defaultStateDir()", () => {
  it("is /run/nslink unless NSLINK_STATE_DIR says otherwise", () => {
    const saved = process.env.NSLINK_STATE_DIR;
    try {
      delete process.env.NSLINK_STATE_DIR;
      assert.equal(DEFAULT_STATE_DIR, "/run/nslink");
      assert.equal(defaultStateDir(), "/run/nslink");
      assert.equal(new StateStore().dir, "/run/nslink");
      process.env.NSLINK_STATE_DIR = join(root, "from-env");
      assert.equal(defaultStateDir(), join(root, "from-env"));
      assert.equal(new StateStore().dir, join(root, "from-env"));
      process.env.NSLINK_STATE_DIR = "";
      assert.equal(defaultStateDir(), "/run/nslink");
    } finally {
      if (saved === undefined) delete process.env.NSLINK_STATE_DIR;
      else process.env.NSLINK_STATE_DIR = saved;
    }
  });
});
