// The agent's cost per container (issue 21): a change to the state reads the changed record
// only, and the name table is built when a query needs it, not on every refresh. A burst of
// links the agent drains between two queries costs one build (no root needed).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StateNames } from "../../agent/names.ts";

const ID = "0b1c2d3e4f50";

function write(file: string, record: unknown): void {
  mkdirSync(join(file, ".."), { recursive: true });
  writeFileSync(`${file}.tmp-1-c`, JSON.stringify(record));
  renameSync(`${file}.tmp-1-c`, file);
}

function network(dir: string): void {
  write(join(dir, "networks", "cost.json"), {
    version: 1,
    name: "cost",
    type: "bridge",
    id: ID,
    created: "",
    config: { bridgeName: "nsl-cost", dns: true },
    pools: { v4: { subnet: "198.51.100.0/24", gateway: "198.51.100.1", allocated: {} } },
    endpoints: {},
  });
}

function endpoint(dir: string, name: string, n: number): void {
  write(join(dir, `ep.${ID}`, `${name}.json`), {
    interfaces: [{ dstName: "eth0", address: `198.51.100.${n}/24`, gateway: "198.51.100.1" }],
    hostLinks: [],
  });
}

describe("StateNames: cost per change", () => {
  it("builds the table once for a burst of links refreshed one by one", () => {
    const dir = mkdtempSync(join(tmpdir(), "nslcost-"));
    const names = new StateNames(dir);
    try {
      network(dir);
      assert.ok(names.refresh());
      const before = names.table.serial;
      for (let n = 0; n < 50; n++) {
        endpoint(dir, `c${n}`, n + 2);
        assert.ok(names.refresh(), `c${n} seen`);
      }
      const table = names.table;
      assert.equal(table.serial, before + 1, "one build for 50 links");
      assert.equal(names.table, table, "the same table until the next change");
      assert.equal(table.networks[0].containers.length, 50);
      // No change: no build.
      assert.equal(names.refresh(), false);
      assert.equal(names.table, table);
      // One more: the new name is in the next table.
      endpoint(dir, "late", 100);
      assert.ok(names.refresh());
      assert.notEqual(names.table, table);
      assert.ok(names.table.networks[0].containers.some((c) => c.name === "late"));
    } finally {
      void names.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
