/**
 * Network definitions (network/definitions.ts): where they live, the boot id, option equality,
 * and the files themselves (in a temporary directory; no root needed).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import {
  bootId,
  configDirFor,
  DEFAULT_CONFIG_DIR,
  definitionOf,
  Definitions,
  fromEarlierBoot,
  sameOptions,
} from "../../network/definitions.ts";
import type { NetworkRecord } from "../../model/records.ts";

function withEnv(name: string, value: string | undefined, fn: () => void): void {
  const was = process.env[name];
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
  try {
    fn();
  } finally {
    if (was === undefined) delete process.env[name];
    else process.env[name] = was;
  }
}

describe("network definitions", () => {
  it("live in /var/lib/nslink for /run/nslink, beside any other state directory, or where told", () => {
    withEnv("NSLINK_CONFIG_DIR", undefined, () => {
      assert.equal(configDirFor("/run/nslink"), DEFAULT_CONFIG_DIR);
      assert.equal(configDirFor("/run/nslink/"), "/var/lib/nslink");
      assert.equal(configDirFor("/tmp/st"), "/tmp/st.config");
      assert.equal(configDirFor("/tmp/st", "/srv/defs"), "/srv/defs");
      assert.throws(() => configDirFor("/tmp/st", 3), /Option "configDir" must be a directory/);
    });
    withEnv("NSLINK_CONFIG_DIR", "/srv/nslink", () => {
      assert.equal(configDirFor("/run/nslink"), "/srv/nslink");
      assert.equal(configDirFor("/run/nslink", "/x"), "/x");
    });
  });

  it("the boot id comes from the kernel unless NSLINK_BOOT_ID says otherwise", () => {
    withEnv("NSLINK_BOOT_ID", undefined, () => {
      assert.match(bootId(), /^[0-9a-f-]{36}$/);
      assert.equal(fromEarlierBoot({ boot: bootId() }), false);
      assert.equal(fromEarlierBoot({}), false, "records of earlier versions count as current");
    });
    withEnv("NSLINK_BOOT_ID", "test-boot", () => {
      assert.equal(bootId(), "test-boot");
      assert.equal(fromEarlierBoot({ boot: "other" }), true);
    });
  });

  it("options compare by value, not key order", () => {
    assert.ok(sameOptions({ subnet: "198.51.100.0/24", internal: true }, {
      internal: true,
      subnet: "198.51.100.0/24",
    }));
    assert.ok(sameOptions({ a: undefined, b: [1, { c: 2 }] }, { b: [1, { c: 2 }] }));
    assert.ok(!sameOptions({ subnet: "198.51.100.0/24" }, { subnet: "198.51.100.0/25" }));
  });

  it("are written, read and removed by id; the last removal leaves no directory", () => {
    const root = mkdtempSync(join(tmpdir(), "nsl-defs-"));
    try {
      const dir = join(root, "config");
      const defs = new Definitions(dir);
      const record: NetworkRecord = {
        version: 1,
        name: "blue",
        type: "bridge",
        id: "0a1b2c3d4e5f",
        created: "2026-01-01T00:00:00.000Z",
        config: { bridgeName: "nsl-blue" },
        pools: {
          v4: {
            subnet: "198.51.100.0/24",
            gateway: "198.51.100.1",
            allocated: { "198.51.100.2": "c1" },
          },
        },
        endpoints: {},
        boot: "b",
      };
      defs.write(definitionOf(record, { subnet: "198.51.100.0/24" }));
      assert.deepEqual(defs.list(), ["blue"]);
      const def = defs.read("blue")!;
      assert.deepEqual(def.pools.v4?.allocated, {}, "no runtime allocations in a definition");
      assert.deepEqual(def.options, { subnet: "198.51.100.0/24" });
      assert.equal("boot" in def, false);
      assert.equal("labels" in def, false);
      const labelled = { ...record, labels: { team: "web" } } as NetworkRecord;
      assert.deepEqual(definitionOf(labelled, {}).labels, { team: "web" });
      defs.remove("blue", "ffffffffffff");
      assert.deepEqual(defs.list(), ["blue"], "another id's definition stays");
      defs.remove("blue", record.id);
      assert.deepEqual(defs.list(), []);
      assert.equal(existsSync(dir), false);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
