// The system calls of the file store's teardown steps (issue 21): a container's teardown pays
// for every one of them, on the same two cores as the kernel's own work.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileStore } from "../../network/store.ts";
import type { NetworkRecord } from "../../model/records.ts";
import { libcCalls } from "./_libc_calls.ts";

const root = mkdtempSync(join(tmpdir(), "nsl-teardown-calls-"));
after(() => rmSync(root, { recursive: true, force: true }));

function network(): { store: FileStore; record: NetworkRecord } {
  const store = new FileStore(mkdtempSync(join(root, "s")));
  const record = {
    version: 1,
    name: "n1",
    type: "bridge",
    id: "0a1b2c3d4e5f",
    created: new Date(0).toISOString(),
    config: {},
    pools: {},
    endpoints: {},
  } as NetworkRecord;
  assert.equal(store.createNetwork(record), true);
  return { store, record };
}

describe("file store teardown", () => {
  it("drops a releasing mark with readlink and unlink only", async () => {
    const { store, record } = network();
    store.markReleasing(record, "c1", 1764380000000);
    assert.deepEqual(store.releasing(record), ["c1"]);
    const calls = await libcCalls(() => store.unmarkReleasing(record, "c1"));
    assert.deepEqual(calls, ["readlink", "unlink"]);
    assert.deepEqual(store.releasing(record), []);
    // No mark: one look.
    assert.deepEqual(await libcCalls(() => store.unmarkReleasing(record, "c1")), ["readlink"]);
  });

  it("still frees an address claim only for its owner", () => {
    const { store, record } = network();
    assert.equal(store.reserve(record, "198.51.100.2", "c1@0a"), true);
    assert.equal(store.release(record, "198.51.100.2", "c2@0b"), false);
    assert.equal(store.holder(record, "198.51.100.2"), "c1@0a");
    assert.equal(store.release(record, "198.51.100.2", "c1@0a"), true);
    assert.deepEqual(store.reserved(record), []);
  });
});
