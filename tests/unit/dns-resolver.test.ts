// The resolver core's rules, one test each: names, aliases and NAME.dns.nslink, PTR for IPv4 and
// IPv6, case, the missing family, NXDOMAIN inside dns.nslink, scope by source address, internal
// networks, forwarding, FORMERR/NOTIMP/BADVERS, truncation.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  decodeMessage,
  type DnsMessage,
  type DnsMessageInput,
  ednsOf,
  ednsRecord,
  encodeMessage,
  type QuestionType,
  RCODE,
} from "../../dns/message.ts";
import {
  type DnsNetwork,
  failureResponse,
  NameTable,
  type Resolution,
  resolve,
  reverseName,
} from "../../dns/resolver.ts";

const blue: DnsNetwork = {
  name: "blue",
  subnets: ["198.51.100.0/24", "2001:db8:1::/64"],
  upstreams: ["203.0.113.53", "203.0.113.54#5353"],
  containers: [
    { name: "web", aliases: ["www", "API"], ipv4: ["198.51.100.2"], ipv6: ["2001:db8:1::2"] },
    { name: "v4only", ipv4: ["198.51.100.3"] },
    { name: "both", ipv4: ["198.51.100.4"] },
  ],
};
const red: DnsNetwork = {
  name: "red",
  subnets: ["203.0.113.0/26"],
  containers: [
    { name: "db", ipv4: ["203.0.113.2"] },
    { name: "both", ipv4: ["203.0.113.4"] },
  ],
};
const secret: DnsNetwork = {
  name: "secret",
  subnets: ["203.0.113.64/26"],
  internal: true,
  upstreams: ["203.0.113.53"],
  containers: [{ name: "vault", ipv4: ["203.0.113.66"] }],
};
const table = new NameTable([blue, red, secret]);

const FROM_BLUE = "198.51.100.3";
const FROM_RED = "203.0.113.2";

function ask(
  name: string,
  type: QuestionType = "A",
  source = FROM_BLUE,
  extra: Partial<DnsMessageInput> = {},
  transport: "udp" | "tcp" = "udp",
): Resolution {
  const q = encodeMessage({ id: 0x1234, rd: true, questions: [{ name, type }], ...extra });
  return resolve(table, q, { source, transport });
}

function answer(r: Resolution): DnsMessage & { bytes: Uint8Array } {
  assert.equal(r.action, "answer", JSON.stringify(r));
  if (r.action !== "answer") throw new Error("unreachable");
  const m = decodeMessage(r.response);
  assert.equal(m.id, 0x1234);
  assert.equal(m.qr, true);
  assert.equal(m.rd, true);
  return { ...m, bytes: r.response };
}

const datas = (m: DnsMessage) => m.answers.map((r) => [r.name, r.type, r.data]);

describe("resolver: names", () => {
  it("answers A and AAAA for a name, an alias and NAME.dns.nslink, authoritative, TTL 0", () => {
    for (const n of ["web", "www", "api", "web.dns.nslink", "www.dns.nslink"]) {
      const a = answer(ask(n, "A"));
      assert.equal(a.rcode, RCODE.NOERROR);
      assert.equal(a.aa, true);
      assert.deepEqual(datas(a), [[n, "A", { address: "198.51.100.2" }]]);
      assert.equal(a.answers[0].ttl, 0);
      assert.deepEqual(datas(answer(ask(n, "AAAA"))), [[n, "AAAA", { address: "2001:db8:1::2" }]]);
    }
  });

  it("is case-insensitive and keeps the question's spelling in the answer", () => {
    const a = answer(ask("WeB.DNS.nsLINK"));
    assert.deepEqual(datas(a), [["WeB.DNS.nsLINK", "A", { address: "198.51.100.2" }]]);
    assert.equal(a.questions[0].name, "WeB.DNS.nsLINK");
  });

  it("gives NOERROR and no answer for a name without the asked family or type", () => {
    for (const t of ["AAAA", "MX", "TXT", "CNAME"] as const) {
      const a = answer(ask("v4only", t));
      assert.equal(a.rcode, RCODE.NOERROR, t);
      assert.deepEqual(a.answers, []);
    }
  });

  it("answers ANY with every address", () => {
    assert.deepEqual(datas(answer(ask("web", "ANY"))).map((d) => d[1]), ["A", "AAAA"]);
  });

  it("gives NXDOMAIN with the zone's SOA for an unknown name inside dns.nslink, never forwarding", () => {
    const a = answer(ask("nothere.dns.nslink"));
    assert.equal(a.rcode, RCODE.NXDOMAIN);
    assert.equal(a.aa, true);
    assert.deepEqual(a.authorities.map((r) => [r.name, r.type]), [["dns.nslink", "SOA"]]);
  });

  it("answers the zone apex: SOA, NODATA otherwise", () => {
    assert.deepEqual(answer(ask("dns.nslink", "SOA")).answers.map((r) => r.type), ["SOA"]);
    const a = answer(ask("dns.nslink", "A"));
    assert.equal(a.rcode, RCODE.NOERROR);
    assert.deepEqual(a.answers, []);
  });
});

describe("resolver: PTR", () => {
  it("answers PTR for an IPv4 address with every name of its container", () => {
    const q = reverseName("198.51.100.2");
    assert.equal(q, "2.100.51.198.in-addr.arpa");
    assert.deepEqual(datas(answer(ask(q, "PTR"))), [
      [q, "PTR", { target: "web.dns.nslink" }],
      [q, "PTR", { target: "www.dns.nslink" }],
      [q, "PTR", { target: "API.dns.nslink" }],
    ]);
  });

  it("answers PTR for an IPv6 address, nibbles in any case", () => {
    const q = reverseName("2001:db8:1::2").toUpperCase();
    assert.deepEqual(datas(answer(ask(q, "PTR")))[0], [q, "PTR", { target: "web.dns.nslink" }]);
  });

  it("gives NXDOMAIN for an unknown address inside a network's subnet", () => {
    assert.equal(answer(ask(reverseName("198.51.100.99"), "PTR")).rcode, RCODE.NXDOMAIN);
    assert.equal(answer(ask(reverseName("2001:db8:1::99"), "PTR")).rcode, RCODE.NXDOMAIN);
  });

  it("forwards a reverse name outside every network", () => {
    assert.equal(ask(reverseName("203.0.113.200"), "PTR").action, "forward");
  });

  it("gives NOERROR without answers for another type on a container's reverse name", () => {
    const a = answer(ask(reverseName("198.51.100.2"), "A"));
    assert.equal(a.rcode, RCODE.NOERROR);
    assert.deepEqual(a.answers, []);
  });
});

describe("resolver: scope", () => {
  it("answers from the networks of the container that asks", () => {
    assert.equal(ask("db", "A", FROM_BLUE).action, "forward"); // db is only on red
    assert.deepEqual(datas(answer(ask("db", "A", FROM_RED))), [["db", "A", {
      address: "203.0.113.2",
    }]]);
    assert.equal(answer(ask("db.dns.nslink", "A", FROM_BLUE)).rcode, RCODE.NXDOMAIN);
    assert.equal(answer(ask(reverseName("203.0.113.2"), "PTR", FROM_BLUE)).answers.length, 0);
  });

  it("a container on two networks resolves names of both, from either address", () => {
    const t = new NameTable([
      {
        ...blue,
        containers: [...blue.containers, { id: "c9", name: "multi", ipv4: ["198.51.100.9"] }],
      },
      {
        ...red,
        containers: [...red.containers, { id: "c9", name: "multi", ipv4: ["203.0.113.9"] }],
      },
    ]);
    for (const source of ["198.51.100.9", "203.0.113.9"]) {
      assert.deepEqual(t.scope(source).map((n) => n.name), ["blue", "red"]);
      const q = (name: string) =>
        answer(
          resolve(t, encodeMessage({ id: 0x1234, rd: true, questions: [{ name, type: "A" }] }), {
            source,
            transport: "udp",
          }),
        );
      assert.deepEqual(datas(q("db")), [["db", "A", { address: "203.0.113.2" }]]);
      assert.deepEqual(datas(q("web")), [["web", "A", { address: "198.51.100.2" }]]);
      assert.deepEqual(datas(q("multi")).map((d) => d[2]), [{ address: "198.51.100.9" }, {
        address: "203.0.113.9",
      }]);
    }
    // Another container named the same on red only, with another id, sees red only.
    const t2 = new NameTable([
      { ...blue, containers: [...blue.containers, { id: "a", name: "x", ipv4: ["198.51.100.9"] }] },
      { ...red, containers: [...red.containers, { id: "b", name: "x", ipv4: ["203.0.113.9"] }] },
    ]);
    assert.deepEqual(t2.scope("203.0.113.9").map((n) => n.name), ["red"]);
  });

  it("a source that is no container's address is scoped by subnet (the gateway, a newcomer)", () => {
    assert.deepEqual(datas(answer(ask("web", "A", "198.51.100.1"))), [["web", "A", {
      address: "198.51.100.2",
    }]]);
    assert.deepEqual(datas(answer(ask("web", "A", "::ffff:198.51.100.77"))).length, 1);
  });

  it("refuses a source on no network", () => {
    assert.equal(answer(ask("web", "A", "203.0.113.200")).rcode, RCODE.REFUSED);
  });
});

describe("resolver: forwarding", () => {
  it("forwards other names, single-label ones too, to the scope's upstreams in order", () => {
    for (const n of ["example.org", "unknownhost"]) {
      const r = ask(n);
      assert.equal(r.action, "forward");
      if (r.action === "forward") {
        assert.deepEqual(r.upstreams, ["203.0.113.53", "203.0.113.54#5353"]);
        assert.equal(r.query.questions[0].name, n);
      }
    }
  });

  it("leaves the upstreams to the server's defaults when the networks name none", () => {
    const r = ask("example.org", "A", FROM_RED);
    assert.equal(r.action, "forward");
    if (r.action === "forward") assert.deepEqual(r.upstreams, []);
  });

  it("takes at most 3 upstreams, without repeats", () => {
    const t = new NameTable([
      { ...blue, upstreams: ["203.0.113.1", "203.0.113.2"] },
      {
        ...red,
        subnets: ["198.51.100.0/24"],
        upstreams: ["203.0.113.2", "203.0.113.3", "203.0.113.4"],
      },
    ]);
    const r = resolve(
      t,
      encodeMessage({ id: 1, questions: [{ name: "example.org", type: "A" }] }),
      {
        source: "198.51.100.50",
        transport: "udp",
      },
    );
    assert.equal(r.action, "forward");
    if (r.action === "forward") {
      assert.deepEqual(r.upstreams, ["203.0.113.1", "203.0.113.2", "203.0.113.3"]);
    }
  });

  it("an internal network resolves its names and answers NXDOMAIN for the rest", () => {
    const from = "203.0.113.66";
    assert.deepEqual(datas(answer(ask("vault", "A", from))), [["vault", "A", {
      address: "203.0.113.66",
    }]]);
    assert.equal(answer(ask("example.org", "A", from)).rcode, RCODE.NXDOMAIN);
    assert.equal(answer(ask(reverseName("203.0.113.200"), "PTR", from)).rcode, RCODE.NXDOMAIN);
  });

  it("failureResponse() answers SERVFAIL with the question and ID", () => {
    const q = decodeMessage(
      encodeMessage({ id: 0x1234, rd: true, questions: [{ name: "example.org", type: "A" }] }),
    );
    const m = decodeMessage(failureResponse(q, RCODE.SERVFAIL));
    assert.equal(m.rcode, RCODE.SERVFAIL);
    assert.equal(m.id, 0x1234);
    assert.deepEqual(m.questions, q.questions);
  });
});

describe("resolver: bad input", () => {
  it("answers FORMERR with the query's ID to a malformed query", () => {
    const q = encodeMessage({ id: 0x1234, rd: true, questions: [{ name: "web", type: "A" }] });
    const cut = q.slice(0, q.length - 2);
    const a = answer(resolve(table, cut, { source: FROM_BLUE, transport: "udp" }));
    assert.equal(a.rcode, RCODE.FORMERR);
  });

  it("answers FORMERR to zero or two questions, or answers in a query", () => {
    assert.equal(answer(ask("web", "A", FROM_BLUE, { questions: [] })).rcode, RCODE.FORMERR);
    const two = [{ name: "web", type: "A" as const }, { name: "www", type: "A" as const }];
    assert.equal(answer(ask("web", "A", FROM_BLUE, { questions: two })).rcode, RCODE.FORMERR);
    const answers = [{
      name: "x",
      type: "A" as const,
      class: 1,
      ttl: 0,
      data: { address: "198.51.100.1" },
    }];
    assert.equal(answer(ask("web", "A", FROM_BLUE, { answers })).rcode, RCODE.FORMERR);
    const opts = [ednsRecord({}), ednsRecord({})];
    assert.equal(answer(ask("web", "A", FROM_BLUE, { additionals: opts })).rcode, RCODE.FORMERR);
  });

  it("drops what is shorter than a header, and responses", () => {
    assert.equal(
      resolve(table, new Uint8Array(11), { source: FROM_BLUE, transport: "udp" }).action,
      "drop",
    );
    assert.equal(ask("web", "A", FROM_BLUE, { qr: true }).action, "drop");
  });

  it("answers NOTIMP to other opcodes and BADVERS to EDNS versions above 0", () => {
    assert.equal(answer(ask("web", "A", FROM_BLUE, { opcode: 2 })).rcode, RCODE.NOTIMP);
    const a = answer(ask("web", "A", FROM_BLUE, { additionals: [ednsRecord({ version: 1 })] }));
    assert.equal(a.rcode, 0);
    assert.equal(ednsOf(a)?.extendedRcode, 1); // BADVERS = 16
  });
});

describe("resolver: sizes", () => {
  const many = new NameTable([{
    name: "big",
    subnets: ["198.51.100.0/24"],
    containers: Array.from(
      { length: 100 },
      (_, i) => ({ name: "big", ipv4: [`198.51.100.${i + 10}`] }),
    ),
  }]);
  const q = (additionals: DnsMessageInput["additionals"], transport: "udp" | "tcp") =>
    answer(
      resolve(
        many,
        encodeMessage({
          id: 0x1234,
          rd: true,
          questions: [{ name: "big", type: "A" }],
          additionals,
        }),
        {
          source: "198.51.100.10",
          transport,
        },
      ),
    );

  it("truncates a UDP answer over 512 bytes without EDNS, with TC", () => {
    const a = q([], "udp");
    assert.ok(a.bytes.length <= 512);
    assert.equal(a.tc, true);
    assert.ok(a.answers.length > 0 && a.answers.length < 100);
  });

  it("allows the client's EDNS size over UDP, and echoes OPT with the server's size", () => {
    const a = q([ednsRecord({ udpSize: 4096 })], "udp");
    assert.equal(a.tc, false);
    assert.equal(a.answers.length, 100);
    assert.equal(ednsOf(a)?.udpSize, 1232);
    const small = q([ednsRecord({ udpSize: 600 })], "udp");
    assert.ok(small.tc && small.bytes.length <= 600);
  });

  it("never truncates over TCP", () => {
    const a = q([], "tcp");
    assert.equal(a.tc, false);
    assert.equal(a.answers.length, 100);
  });
});

describe("resolver: fast path", () => {
  it("answers byte for byte as the general path, for every common query shape", () => {
    const names = ["web", "WWW", "Api.Dns.Nslink", "v4only", "both", "db", "nothere", "dns.nslink"];
    const sources = [FROM_BLUE, FROM_RED, "198.51.100.1", "203.0.113.200", "203.0.113.66"];
    let fast = 0;
    for (const name of names) {
      for (const type of ["A", "AAAA", "MX"] as const) {
        for (
          const additionals of [[], [ednsRecord({ udpSize: 1232 })], [
            ednsRecord({ udpSize: 100, dnssecOk: true }),
          ]]
        ) {
          for (const rd of [true, false]) {
            for (const cd of [true, false]) {
              const q = encodeMessage({
                id: 0xbeef,
                rd,
                cd,
                questions: [{ name, type }],
                additionals,
              });
              for (const source of sources) {
                for (const transport of ["udp", "tcp"] as const) {
                  const a = resolve(table, q, { source, transport });
                  const b = resolve(table, q, { source, transport }, { fastPath: false });
                  assert.deepEqual(a, b, `${name} ${type} from ${source} over ${transport}`);
                  if (a.action === "answer" && decodeMessage(a.response).answers.length) fast++;
                }
              }
            }
          }
        }
      }
    }
    assert.ok(fast > 100, String(fast));
  });

  it("the fast path leaves truncation to the general path", () => {
    const many = new NameTable([{
      name: "big",
      subnets: ["198.51.100.0/24"],
      containers: Array.from(
        { length: 100 },
        (_, i) => ({ name: "big", ipv4: [`198.51.100.${i + 10}`] }),
      ),
    }]);
    const q = encodeMessage({ id: 1, questions: [{ name: "big", type: "A" }] });
    const from = { source: "198.51.100.10", transport: "udp" } as const;
    assert.deepEqual(resolve(many, q, from), resolve(many, q, from, { fastPath: false }));
  });
});
