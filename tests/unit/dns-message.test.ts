// The DNS codec against captured packets: dig 9.18's queries and dnsmasq 2.90's answers, captured
// inside a throw-away namespace by tests/fixtures/dns/capture.sh. Each decodes to what dig and
// dnsmasq meant, and re-encodes byte for byte (with dnsmasq's whole-name compression).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { DnsDecodeError, DnsEncodeError } from "../../dns/errors.ts";
import {
  decodeHeader,
  decodeMessage,
  ednsOf,
  ednsRecord,
  encodeMessage,
  RCODE,
  type ResourceRecord,
} from "../../dns/message.ts";
import { loadHex } from "./_fixtures.ts";

const DIR = fileURLToPath(new URL("../fixtures/dns/", import.meta.url).href);
const names = readdirSync(DIR).filter((n) => n.endsWith(".hex")).sort();
const load = (n: string) => loadHex(`dns/${n}`);
const msg = (n: string) => decodeMessage(load(n));

describe("DNS codec on captured packets", () => {
  it("has the captured fixtures", () => {
    assert.ok(names.length >= 24, names.join(" "));
  });

  for (const n of names) {
    it(`re-encodes ${n} byte for byte`, () => {
      const bytes = load(n);
      assert.deepEqual(encodeMessage(decodeMessage(bytes), { compression: "whole" }), bytes);
    });
    it(`${n} decodes the same after encoding with full compression`, () => {
      const m = decodeMessage(load(n));
      const again = encodeMessage(m);
      assert.ok(again.length <= load(n).length);
      assert.deepEqual(decodeMessage(again), m);
    });
  }

  it("decodes dig's query: RD and AD set, one question, EDNS 1232 with a cookie", () => {
    const m = msg("a-edns.query.hex");
    assert.equal(m.qr, false);
    assert.equal(m.rd, true);
    assert.equal(m.ad, true);
    assert.deepEqual(m.questions, [{ name: "web.dns.nslink", type: "A", class: 1 }]);
    const e = ednsOf(m);
    assert.equal(e?.udpSize, 1232);
    assert.equal(e?.version, 0);
    assert.equal(e?.options[0].code, 10);
    assert.equal(e?.options[0].data.length, 8);
  });

  it("decodes a query without EDNS, case kept", () => {
    const m = msg("a-noedns.query.hex");
    assert.equal(ednsOf(m), undefined);
    assert.equal(m.questions[0].name, "WEB");
  });

  it("decodes dnsmasq's A, AAAA and PTR answers", () => {
    const a = msg("a-edns.answer.hex");
    assert.equal(a.qr, true);
    assert.equal(a.rcode, RCODE.NOERROR);
    assert.deepEqual(a.answers, [
      { name: "web.dns.nslink", type: "A", class: 1, ttl: 0, data: { address: "198.51.100.2" } },
    ]);
    assert.deepEqual(msg("aaaa.answer.hex").answers[0].data, { address: "2001:db8:1::2" });
    const p4 = msg("ptr4.answer.hex");
    assert.equal(p4.questions[0].name, "2.100.51.198.in-addr.arpa");
    assert.deepEqual(p4.answers[0].data, { target: "web.dns.nslink" });
    const p6 = msg("ptr6.answer.hex");
    assert.equal(p6.questions[0].name, `2.${"0.".repeat(19)}1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa`);
    assert.deepEqual(p6.answers[0].data, { target: "web.dns.nslink" });
  });

  it("decodes a missing family (NOERROR, no answer) and NXDOMAIN", () => {
    const m = msg("aaaa-missing.answer.hex");
    assert.equal(m.rcode, RCODE.NOERROR);
    assert.deepEqual(m.answers, []);
    assert.equal(msg("nxdomain.answer.hex").rcode, RCODE.NXDOMAIN);
  });

  it("decodes CNAME, MX and TXT answers (names compressed by pointer)", () => {
    const c = msg("cname.answer.hex");
    assert.deepEqual(c.answers.map((r) => [r.name, r.type, r.data]), [
      ["alias.dns.nslink", "CNAME", { target: "web.dns.nslink" }],
      ["web.dns.nslink", "A", { address: "198.51.100.2" }],
    ]);
    const mx = msg("mx.answer.hex");
    assert.deepEqual(mx.answers[0].data, { preference: 10, exchange: "web.dns.nslink" });
    assert.deepEqual(mx.additionals.map((r) => r.type), ["A", "AAAA", "OPT"]);
    assert.deepEqual(msg("txt.answer.hex").answers[0].data, { texts: ["v=nslink test", "two"] });
  });

  it("decodes dnsmasq's truncated answer: TC, 30 of 71 addresses within 512 bytes", () => {
    const bytes = load("big-tc.answer.hex");
    const m = decodeMessage(bytes);
    assert.ok(bytes.length <= 512);
    assert.equal(m.tc, true);
    assert.equal(m.answers.length, 30);
    assert.equal(msg("big-edns.answer.hex").answers.length, 71);
  });
});

describe("DNS codec rules", () => {
  const answer = (i: number): ResourceRecord & { type: "A" } => ({
    name: "big.dns.nslink",
    type: "A",
    class: 1,
    ttl: 0,
    data: { address: `198.51.100.${i}` },
  });

  it("encodeMessage() truncates to maxSize: TC, whole answers, OPT kept", () => {
    const answers = Array.from({ length: 71 }, (_, i) => answer(i + 10));
    const full = {
      id: 9,
      qr: true,
      questions: [{ name: "big.dns.nslink", type: "A" as const }],
      answers,
      authorities: [answer(1)],
      additionals: [answer(2), ednsRecord({ udpSize: 1232 })],
    };
    const bytes = encodeMessage(full, { maxSize: 512 });
    assert.ok(bytes.length <= 512 && bytes.length > 400, String(bytes.length));
    const m = decodeMessage(bytes);
    assert.equal(m.tc, true);
    assert.deepEqual(m.answers, answers.slice(0, m.answers.length));
    assert.deepEqual(m.authorities, []);
    assert.deepEqual(m.additionals.map((r) => r.type), ["OPT"]);
    assert.equal(decodeMessage(encodeMessage(full, { maxSize: 4096 })).tc, false);
  });

  it('compression "all" points at suffixes, "none" at nothing', () => {
    const m = {
      id: 1,
      questions: [{ name: "web.dns.nslink", type: "A" as const }],
      answers: [{
        name: "www.dns.nslink",
        type: "CNAME" as const,
        class: 1,
        ttl: 0,
        data: { target: "api.dns.nslink" },
      }],
    };
    const all = encodeMessage(m);
    const none = encodeMessage(m, { compression: "none" });
    assert.ok(all.length < none.length);
    assert.deepEqual(decodeMessage(all).answers, decodeMessage(none).answers);
    // SRV's target is never compressed (RFC 2782).
    const srv = encodeMessage({
      id: 1,
      questions: [{ name: "web.dns.nslink", type: "SRV" }],
      answers: [{
        name: "web.dns.nslink",
        type: "SRV",
        class: 1,
        ttl: 0,
        data: { priority: 1, weight: 2, port: 53, target: "web.dns.nslink" },
      }],
    });
    assert.deepEqual(decodeMessage(srv).answers[0].data, {
      priority: 1,
      weight: 2,
      port: 53,
      target: "web.dns.nslink",
    });
    assert.equal(srv.length, 12 + 20 + 2 + 10 + 6 + 16);
  });

  it("keeps unknown types as raw bytes and odd labels escaped", () => {
    const rr: ResourceRecord = {
      name: "a\\.b\\092c\\000.x",
      type: 65,
      class: 1,
      ttl: 5,
      data: new Uint8Array([1, 2, 3]),
    };
    const m = decodeMessage(
      encodeMessage({ id: 3, answers: [rr], questions: [{ name: "q", type: 65 }] }),
    );
    assert.deepEqual(m.answers, [{ ...rr, name: "a\\.b\\\\c\\000.x" }]);
    assert.deepEqual(m.questions, [{ name: "q", type: 65, class: 1 }]);
    assert.equal(
      decodeMessage(encodeMessage({ id: 1, questions: [{ name: "WeB.", type: "ANY" }] }))
        .questions[0].name,
      "WeB",
    );
  });

  it("ednsRecord() and ednsOf() carry version, DO and the extended RCODE", () => {
    const e = ednsOf(decodeMessage(encodeMessage({
      id: 1,
      additionals: [ednsRecord({ udpSize: 4096, version: 1, dnssecOk: true, extendedRcode: 1 })],
    })));
    assert.deepEqual(e, {
      udpSize: 4096,
      version: 1,
      dnssecOk: true,
      extendedRcode: 1,
      options: [],
    });
  });

  it("decodeMessage() rejects every truncation of every fixture with DnsDecodeError", () => {
    for (const n of names) {
      const bytes = load(n);
      for (let len = 0; len < bytes.length; len++) {
        assert.throws(() => decodeMessage(bytes.subarray(0, len)), (e: unknown) => {
          assert.ok(e instanceof DnsDecodeError, `${n}[0..${len}]: ${e}`);
          assert.ok(e.offset >= 0 && e.offset <= len, `${n}[0..${len}]: offset ${e.offset}`);
          return true;
        });
      }
    }
  });

  it("decodeMessage() rejects pointer loops and forward pointers, with the offset", () => {
    const header = [0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    const self = new Uint8Array([...header, 0xc0, 12, 0, 1, 0, 1]);
    assert.throws(
      () => decodeMessage(self),
      (e: unknown) => e instanceof DnsDecodeError && e.offset === 12,
    );
    const forward = new Uint8Array([...header, 0xc0, 14, 0, 0, 1, 0, 1]);
    assert.throws(() => decodeMessage(forward), /does not point backwards/);
    // Two names pointing at each other: the first at the second is forward, so refused.
    const mutual = new Uint8Array([...header, 1, 0x61, 0xc0, 17, 0, 1, 0, 1, 0xc0, 12]);
    assert.throws(() => decodeMessage(mutual), DnsDecodeError);
    const label = new Uint8Array([...header, 0x40, 0, 0, 1, 0, 1]);
    assert.throws(() => decodeMessage(label), /label type 0x40/);
    const trailing = new Uint8Array([...header, 0, 0, 1, 0, 1, 9]);
    assert.throws(() => decodeMessage(trailing), /1 bytes after the last record/);
    assert.throws(() => decodeHeader(new Uint8Array(11)), DnsDecodeError);
  });

  it("decodeMessage() rejects a name over 255 bytes made of pointers", () => {
    // 5 names of 60-byte labels, each pointing at the one before: the last one is 305 bytes.
    const b: number[] = [0, 1, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0];
    let prev = -1;
    for (let i = 0; i < 5; i++) {
      const at = b.length;
      b.push(60, ...new Array(60).fill(0x61));
      if (prev < 0) b.push(0);
      else b.push(0xc0 | (prev >> 8), prev & 0xff);
      b.push(0, 1, 0, 1);
      prev = at;
    }
    assert.throws(() => decodeMessage(new Uint8Array(b)), /longer than 255/);
  });

  it("a record's fields must fill its data exactly", () => {
    const bytes = encodeMessage({ id: 1, answers: [answer(3)] });
    bytes[bytes.length - 5] = 5; // RDLENGTH 4 -> 5
    const longer = new Uint8Array([...bytes, 0]);
    assert.throws(() => decodeMessage(longer), /A record data of 5 bytes holds 4/);
  });

  it("encodeMessage() names what it cannot encode", () => {
    assert.throws(
      () => encodeMessage({ id: 1, questions: [{ name: "x".repeat(64), type: "A" }] }),
      DnsEncodeError,
    );
    assert.throws(
      () => encodeMessage({ id: 1, questions: [{ name: "a..b", type: "A" }] }),
      /empty label/,
    );
    assert.throws(
      () =>
        encodeMessage({
          id: 1,
          questions: [{ name: Array(50).fill("abcde").join("."), type: "A" }],
        }),
      /at most 255/,
    );
    assert.throws(
      () => encodeMessage({ id: 1, answers: [{ ...answer(1), data: { address: "198.51.100" } }] }),
      /IPv4 address: "198.51.100" does not parse/,
    );
    assert.throws(() => encodeMessage({ id: 70000 }), /message ID/);
  });
});
