/** Which committed batches the firewall repair duty answers ({@linkcode batchDamage}). */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { batchDamage, FirewallRepair } from "../../firewall/repair.ts";
import type { NftObjectEvent } from "../../netfilter/monitor.ts";

const INET = 1;
const ev = (
  type: NftObjectEvent["type"],
  action: "new" | "del",
  table = "nslink",
  family = INET,
): NftObjectEvent => ({ type, action, family, table, generation16: 1 });
const NFT = { pid: 999_999_999, process: "nft" };
const NAMES = ["deno", "bun", "nslink"];

describe("batchDamage()", () => {
  it("a foreign deletion of nslink's table, chains, rules or sets is damage", () => {
    assert.equal(batchDamage([ev("rule", "del"), ev("table", "del")], NFT, NAMES), "table");
    assert.equal(batchDamage([ev("rule", "del")], NFT, NAMES), "objects");
    assert.equal(batchDamage([ev("chain", "del")], NFT, NAMES), "objects");
    assert.equal(batchDamage([ev("set", "del")], NFT, NAMES), "objects");
    assert.equal(batchDamage([ev("element", "del")], NFT, NAMES), "elements");
  });

  it("a batch that deletes and remakes the table (nslink's sync) is not", () => {
    const sync = [ev("table", "new"), ev("rule", "del"), ev("table", "del"), ev("table", "new")];
    assert.equal(batchDamage([...sync, ev("chain", "new")], NFT, NAMES), undefined);
  });

  it("other tables, families and additions are not", () => {
    assert.equal(batchDamage([ev("table", "del", "filter")], NFT, NAMES), undefined);
    assert.equal(batchDamage([ev("table", "del", "nslink", 2)], NFT, NAMES), undefined);
    assert.equal(batchDamage([ev("element", "new"), ev("rule", "new")], NFT, NAMES), undefined);
  });

  it("nslink processes may delete elements and the table; this process may do anything", () => {
    const deno = { pid: 999_999_999, process: "deno" };
    assert.equal(batchDamage([ev("element", "del")], deno, NAMES), undefined);
    assert.equal(batchDamage([ev("table", "del")], deno, NAMES), undefined);
    assert.equal(batchDamage([ev("rule", "del")], deno, NAMES), "objects");
    const self = { pid: process.pid, process: "nft" };
    assert.equal(batchDamage([ev("rule", "del"), ev("table", "del")], self, NAMES), undefined);
  });
});

describe("FirewallRepair", () => {
  it("refuses bad delays and returns at once for an aborted signal", async () => {
    assert.throws(() => new FirewallRepair({ debounceMs: -1 }), /Invalid debounceMs "-1"/);
    assert.throws(() => new FirewallRepair({ maxDelayMs: 1.5 }), /Invalid maxDelayMs "1.5"/);
    const duty = new FirewallRepair();
    assert.equal(duty.name, "firewall-repair");
    await duty.run(AbortSignal.abort());
    assert.equal(duty.repairs, 0);
  });
});
