// Golden nf_tables bytes: nslink's encoders must send what nft 1.0.6 sends for the same ruleset
// and element changes (tests/fixtures/nft/*.hex, captured by tests/fixtures/nft/capture.sh).
// nft numbers its messages from 0, as encodeBatch(…, 0) does; nft's NFTA_SET_USERDATA (its own
// bookkeeping for `nft list`, which the kernel ignores) is stripped from the capture.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { decode } from "../../netlink/codec.ts";
import { NLM_F_EXCL } from "../../netlink/constants.ts";
import { encodeBatch } from "../../netfilter/batch.ts";
import * as C from "../../netfilter/constants.ts";
import {
  ChainMessage,
  RuleMessage,
  SetElemMessage,
  SetMessage,
  TableMessage,
} from "../../netfilter/messages.ts";
import { deleteTableOp, type DnatEntry, elementOps, tableOps } from "../../netfilter/ruleset.ts";
import { hexLines, loadDatagrams, splitMessages } from "./_fixtures.ts";
import { GOLDEN_NETWORKS } from "./_nft.ts";

/** Drops top-level attributes of type `drop` from NEWSET messages and fixes the lengths. */
function stripSetUserdata(batch: Uint8Array): Uint8Array {
  const out: number[] = [];
  const dv = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
  let off = 0;
  while (off < batch.byteLength) {
    const len = dv.getUint32(off, true);
    const type = dv.getUint16(off + 4, true);
    const msg = Array.from(batch.subarray(off, off + len));
    if (type === ((C.NFNL_SUBSYS_NFTABLES << 8) | C.NFT_MSG_NEWSET)) {
      const kept: number[] = msg.slice(0, 20);
      let a = 20;
      while (a < len) {
        const alen = dv.getUint16(off + a, true);
        const atype = dv.getUint16(off + a + 2, true) & 0x3fff;
        const padded = (alen + 3) & ~3;
        if (atype !== C.NFTA_SET_USERDATA) kept.push(...msg.slice(a, a + padded));
        a += padded;
      }
      const l = kept.length;
      kept[0] = l & 0xff;
      kept[1] = (l >> 8) & 0xff;
      kept[2] = 0;
      kept[3] = 0;
      out.push(...kept);
    } else out.push(...msg);
    off += (len + 3) & ~3;
  }
  return new Uint8Array(out);
}

function golden(name: string): Uint8Array {
  const [datagram] = loadDatagrams(`nft/${name}`);
  return datagram;
}

function same(actual: Uint8Array, expected: Uint8Array): void {
  assert.deepEqual(hexLines(actual), hexLines(expected));
}

const WEB4: DnatEntry = {
  protocol: "tcp",
  hostIP: "",
  hostPort: 8080,
  address: "198.51.100.2",
  port: 80,
};
const WEB6A: DnatEntry = {
  protocol: "udp",
  hostIP: "2001:db8:2::1",
  hostPort: 5353,
  address: "2001:db8:1::2",
  port: 53,
};

describe("nf_tables encoders against nft 1.0.6", () => {
  it("the whole table (4 maps, 8 chains, 27 rules) is nft -f ruleset.nft, byte for byte", () => {
    const { bytes } = encodeBatch(tableOps(GOLDEN_NETWORKS), 0);
    same(bytes, stripSetUserdata(golden("ruleset.batch.hex")));
  });

  it("publishing one port is one NEWSETELEM, as nft add element sends it", () => {
    same(encodeBatch(elementOps([WEB4], true), 0).bytes, golden("add-element.batch.hex"));
    same(encodeBatch(elementOps([WEB6A], true), 0).bytes, golden("add-element-6a.batch.hex"));
  });

  it("publish refuses existing elements: the same bytes plus NLM_F_EXCL", () => {
    const expected = golden("add-element.batch.hex").slice();
    expected[20 + 7] |= NLM_F_EXCL >> 8; // the NEWSETELEM's flags, high byte
    same(encodeBatch(elementOps([WEB4], true, true), 0).bytes, expected);
  });

  it("unpublishing is one DELSETELEM; removing the table is one DELTABLE", () => {
    same(encodeBatch(elementOps([WEB4], false), 0).bytes, golden("delete-element.batch.hex"));
    same(encodeBatch([deleteTableOp()], 0).bytes, golden("delete-table.batch.hex"));
  });

  it("decodes nft's own batch back into the values that encode it (round trip)", () => {
    const msgs = splitMessages(stripSetUserdata(golden("ruleset.batch.hex")));
    const ops = tableOps(GOLDEN_NETWORKS);
    assert.equal(msgs.length, ops.length + 2);
    const codecs = {
      [C.NFT_MSG_NEWTABLE]: TableMessage,
      [C.NFT_MSG_NEWCHAIN]: ChainMessage,
      [C.NFT_MSG_NEWSET]: SetMessage,
      [C.NFT_MSG_NEWRULE]: RuleMessage,
      [C.NFT_MSG_NEWSETELEM]: SetElemMessage,
    } as const;
    for (let i = 0; i < ops.length; i++) {
      const m = msgs[i + 1];
      const codec = codecs[(m.type & 0xff) as keyof typeof codecs];
      const value = decode(codec, m.payload);
      const again = encodeBatch([{ ...ops[i], body: value }], 0).parts[0];
      assert.deepEqual(hexLines(again.subarray(16)), hexLines(m.payload), `message ${i + 1}`);
    }
  });
});
