// Decoders on what the kernel sent nft: the dump of `nft list table inet nslink` and the error
// of `nft create element` on an existing element (tests/fixtures/nft/*.hex).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { be64, bei32, decode, encode, list, u32 } from "../../netlink/codec.ts";
import { NLMSG_DONE, NLMSG_ERROR } from "../../netlink/constants.ts";
import { NetlinkError } from "../../netlink/errors.ts";
import { attributeAt, batchErrors, encodeBatch, NftError } from "../../netfilter/batch.ts";
import * as C from "../../netfilter/constants.ts";
import {
  ChainMessage,
  GenMessage,
  RuleMessage,
  SetElemMessage,
  SetMessage,
  TableMessage,
} from "../../netfilter/messages.ts";
import { elementOps, tableOps } from "../../netfilter/ruleset.ts";
import { loadDatagrams, loadDumpMessages, splitMessages } from "./_fixtures.ts";
import { GOLDEN_NETWORKS } from "./_nft.ts";

const T = (t: number) => (C.NFNL_SUBSYS_NFTABLES << 8) | t;

describe("nf_tables dump decoders (nft list table inet nslink)", () => {
  const msgs = loadDumpMessages("nft/list-table.dump.hex");
  const of = (t: number) => msgs.filter((m) => m.type === T(t));

  it("decodes the generation, the table and its chains", () => {
    const [gen] = of(C.NFT_MSG_NEWGEN).map((m) => decode(GenMessage, m.payload));
    assert.equal(typeof gen.id, "number");
    assert.equal(gen.procName, "nft");
    const [table] = of(C.NFT_MSG_NEWTABLE).map((m) => decode(TableMessage, m.payload));
    assert.equal(table.family, C.NFPROTO_INET);
    assert.equal(table.name, "nslink");
    assert.equal(typeof table.handle, "bigint");
    const chains = of(C.NFT_MSG_NEWCHAIN).map((m) => decode(ChainMessage, m.payload));
    assert.deepEqual(chains.map((c) => c.name), [
      "raw",
      "prerouting",
      "output",
      "postrouting",
      "forward",
      "input",
      "in-nsl-web",
      "in-nsl-iso",
    ]);
    const raw = chains[0];
    assert.deepEqual(raw.hook, { hooknum: C.NF_INET_PRE_ROUTING, priority: -300 });
    assert.equal(raw.type, "filter");
    assert.equal(raw.policy, C.NF_ACCEPT);
    assert.equal(chains[6].hook, undefined);
  });

  it("decodes rules into the expressions nslink encodes", () => {
    const rules = of(C.NFT_MSG_NEWRULE).map((m) => decode(RuleMessage, m.payload));
    assert.equal(rules.length, 27);
    const ours = tableOps(GOLDEN_NETWORKS).filter((o) => o.type === C.NFT_MSG_NEWRULE);
    for (let i = 0; i < rules.length; i++) {
      const mine = ours[i].body as { chain: string; expressions: unknown[] };
      assert.equal(rules[i].chain, mine.chain);
      assert.equal(typeof rules[i].handle, "bigint");
      assert.deepEqual(
        rules[i].expressions?.map((e) => e.name),
        mine.expressions.map((e) => (e as { name: string }).name),
      );
    }
    // rules[1] is the internal network's return in prerouting; the DNAT rules follow.
    const lookup = rules[2].expressions?.find((e) => e.name === "lookup");
    assert.deepEqual(lookup?.data, { sreg: 1, dreg: 1, set: "pub4a", flags: 0 });
  });

  it("decodes the maps and their elements", () => {
    const sets = of(C.NFT_MSG_NEWSET).map((m) => decode(SetMessage, m.payload));
    assert.deepEqual(sets.map((s) => [s.name, s.keyLen, s.dataLen, s.flags! & C.NFT_SET_MAP]), [
      ["pub4", 8, 8, C.NFT_SET_MAP],
      ["pub4a", 12, 8, C.NFT_SET_MAP],
      ["pub6", 8, 20, C.NFT_SET_MAP],
      ["pub6a", 24, 20, C.NFT_SET_MAP],
    ]);
    const elems = of(C.NFT_MSG_NEWSETELEM).map((m) => decode(SetElemMessage, m.payload));
    const pub4 = elems.find((e) => e.set === "pub4" && e.elements?.length);
    assert.deepEqual(
      Array.from(pub4!.elements![0].key!.value!),
      [6, 0, 0, 0, 0x1f, 0x90, 0, 0],
    );
    assert.deepEqual(
      Array.from(pub4!.elements![0].data!.value!),
      [198, 51, 100, 2, 0, 80, 0, 0],
    );
    assert.ok(msgs.some((m) => m.type === NLMSG_DONE));
  });
});

describe("nf_tables errors", () => {
  it("names the message, the object, the errno and the attribute the kernel's offset points at", () => {
    const replies = loadDatagrams("nft/create-element-eexist.reply.hex").flatMap(splitMessages);
    const err = replies.find((m) => m.type === NLMSG_ERROR)!;
    const ops = elementOps(
      [{
        protocol: "tcp",
        hostIP: "",
        hostPort: 8080,
        address: "198.51.100.2",
        port: 80,
      }],
      true,
      true,
    );
    const { parts } = encodeBatch(ops, 0);
    const errors = batchErrors(ops, parts, 0, [{ ...err }]);
    assert.equal(errors.length, 1);
    const e = errors[0];
    assert.ok(e instanceof NftError && e instanceof NetlinkError);
    assert.equal(e.op, "NFT_MSG_NEWSETELEM");
    assert.equal(e.code, "EEXIST");
    assert.equal(e.extackOffset, 56);
    assert.equal(e.attribute, "elements[0]");
    assert.equal(
      e.message,
      "NFT_MSG_NEWSETELEM map inet nslink pub4 element tcp *:8080: EEXIST (File exists): (at offset 56: elements[0])",
    );
  });

  it("a stale generation id is reported against BATCH_BEGIN", () => {
    const payload = new Uint8Array(4 + 20);
    new DataView(payload.buffer).setInt32(0, -85, true);
    const [e] = batchErrors([], [], 7, [{ type: NLMSG_ERROR, flags: 0, seq: 7, payload }]);
    assert.equal(e.op, "NFNL_MSG_BATCH_BEGIN");
    assert.equal(e.code, "ERESTART");
  });

  it("attributeAt walks nests and lists", () => {
    const ops = tableOps(GOLDEN_NETWORKS);
    const { parts } = encodeBatch(ops, 0);
    const rule = ops.findIndex((o) => o.type === C.NFT_MSG_NEWRULE);
    assert.equal(attributeAt(ops[rule].codec, parts[rule], 20), "table");
    assert.equal(attributeAt(ops[rule].codec, parts[rule], 40), "expressions");
    assert.match(attributeAt(ops[rule].codec, parts[rule], 48) ?? "", /^expressions\[0\]/);
  });
});

describe("codec additions for nf_tables", () => {
  it("big-endian s32 and u64, and repeated-attribute lists, round trip", () => {
    assert.deepEqual(Array.from(encode(bei32, -100)), [0xff, 0xff, 0xff, 0x9c]);
    assert.equal(decode(bei32, encode(bei32, -300)), -300);
    assert.deepEqual(Array.from(encode(be64, 5n)), [0, 0, 0, 0, 0, 0, 0, 5]);
    const L = list(1, u32);
    assert.deepEqual(decode(L, encode(L, [1, 2, 3])), [1, 2, 3]);
    assert.deepEqual(decode(L, new Uint8Array(0)), []);
  });
});
