/**
 * Unit tests of nf_tables event decoding (`netfilter/monitor.ts`) on events the kernel sent,
 * captured by `tests/fixtures/capture_nft_events.ts` (see its header for how to run it again).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { toNftEvent } from "../../netfilter/monitor.ts";
import { loadDumpMessages } from "./_fixtures.ts";

const events = (name: string) => loadDumpMessages(name).map((m) => toNftEvent(m));

describe("toNftEvent()", () => {
  it("decodes a batch that adds a table, chain, set, elements and rule", () => {
    const got = events("nft-events-add.dump.hex");
    const gen = got.at(-1);
    assert.ok(gen?.type === "generation");
    assert.equal(gen.process, "nft");
    assert.equal(typeof gen.pid, "number");
    const g16 = gen.generation & 0xffff;
    assert.deepEqual(got.slice(0, -1), [
      { type: "table", action: "new", family: 1, table: "nslfx", generation16: g16 },
      { type: "chain", action: "new", family: 1, table: "nslfx", name: "filt", generation16: g16 },
      { type: "set", action: "new", family: 1, table: "nslfx", name: "peers", generation16: g16 },
      // nft sends each element of `add element` in its own message
      {
        type: "element",
        action: "new",
        family: 1,
        table: "nslfx",
        name: "peers",
        count: 1,
        generation16: g16,
      },
      {
        type: "element",
        action: "new",
        family: 1,
        table: "nslfx",
        name: "peers",
        count: 1,
        generation16: g16,
      },
      {
        type: "rule",
        action: "new",
        family: 1,
        table: "nslfx",
        name: "filt",
        handle: 3n,
        generation16: g16,
      },
    ]);
  });

  it("decodes nft flush ruleset as del events ending with the new generation", () => {
    const got = events("nft-events-flush.dump.hex");
    const before = events("nft-events-add.dump.hex").at(-1);
    assert.ok(before?.type === "generation");
    const gen = got.at(-1);
    assert.ok(gen?.type === "generation");
    assert.equal(gen.generation, before.generation + 1);
    assert.deepEqual(
      got.slice(0, -1),
      [
        {
          type: "rule",
          action: "del",
          family: 1,
          table: "nslfx",
          name: "filt",
          handle: 3n,
          generation16: gen.generation & 0xffff,
        },
        {
          type: "set",
          action: "del",
          family: 1,
          table: "nslfx",
          name: "peers",
          generation16: gen.generation & 0xffff,
        },
        {
          type: "chain",
          action: "del",
          family: 1,
          table: "nslfx",
          name: "filt",
          generation16: gen.generation & 0xffff,
        },
        {
          type: "table",
          action: "del",
          family: 1,
          table: "nslfx",
          generation16: gen.generation & 0xffff,
        },
      ],
    );
  });

  it("skips other netfilter subsystems and nf_tables types it does not follow", () => {
    const table = loadDumpMessages("nft-events-add.dump.hex")[0];
    // ctnetlink (subsystem 1) with the same payload
    assert.equal(toNftEvent({ ...table, type: (1 << 8) | 0 }), undefined);
    // NFT_MSG_NEWOBJ (18): not followed
    assert.equal(toNftEvent({ ...table, type: (10 << 8) | 18 }), undefined);
  });
});
