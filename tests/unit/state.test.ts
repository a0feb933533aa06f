import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { DEFAULT_STATE_DIR, defaultStateDir, StateStore } from "../../network/state.ts";

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
  it("returns the function's result and creates the lock file", () => {
    const store = freshStore();
    assert.equal(store.withLock(() => 42), 42);
    assert.equal(statSync(join(store.dir, ".lock")).mode & 0o077, 0);
    assert.deepEqual(readdirSync(store.dir), [".lock"]);
  });

  it("is re-entrant, also across two stores on the same directory", () => {
    const store = freshStore();
    const twin = new StateStore(store.dir + "/.");
    const got = store.withLock(() =>
      store.withLock(() => twin.withLock(() => store.withLock(() => "deep")))
    );
    assert.equal(got, "deep");
    // The lock is free again afterwards.
    assert.equal(twin.withLock(() => 1), 1);
  });

  it("releases the lock when the function throws", () => {
    const store = freshStore();
    assert.throws(() =>
      store.withLock(() =>
        store.withLock(() => {
          throw new Error("boom");
        })
      ), /boom/);
    assert.equal(store.withLock(() => "again"), "again");
  });

  it("refuses async functions and returned promises", async () => {
    const store = freshStore();
    let ran = false;
    assert.throws(
      () =>
        store.withLock(async () => {
          ran = true;
          await Promise.resolve();
        }),
      TypeError,
    );
    assert.equal(ran, false);
    assert.throws(() => store.withLock(() => Promise.reject(new Error("late"))), TypeError);
    assert.throws(() => store.withLock(() => store.withLock(() => Promise.resolve(1))), TypeError);
    // Still usable afterwards, nothing left held.
    assert.equal(store.withLock(() => 7), 7);
    await new Promise((r) => setTimeout(r, 10));
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
