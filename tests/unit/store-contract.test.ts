import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FileStore, LocalStore } from "../../network/store.ts";
import { storeContract } from "./_store_contract.ts";

const root = mkdtempSync(join(tmpdir(), "nsl-contract-"));
after(() => rmSync(root, { recursive: true, force: true }));
let seq = 0;

describe("Store contract: the file store (LocalStore)", () => {
  storeContract(() => new LocalStore(join(root, `s${seq++}`)));

  it("generation() sees a write by another store object at once (no wait)", () => {
    const dir = join(root, `s${seq++}`);
    const reader = new LocalStore(dir);
    const writer = new FileStore(dir);
    const n = {
      version: 1 as const,
      name: "now",
      type: "bridge",
      id: "0e0e0e0e0e01",
      created: "2026-12-07T00:00:00.000Z",
      config: {},
      pools: {},
      endpoints: {},
    };
    writer.createNetwork(n);
    const g = reader.generation();
    assert.equal(reader.generation(), g, "nothing changed");
    writer.createEndpoint(n, "c1", { interfaces: [], hostLinks: [] });
    assert.ok(reader.generation() > g, "the change is visible synchronously");
  });
});
