// The DNS server's forwarding rules and limits, on loopback only (no root, no namespace): fake
// upstreams in this process on 127.0.0.1 (silent, SERVFAIL, REFUSED, a wrong ID, a wrong question,
// a good answer), the server on 127.0.0.1 with a free port. No query leaves the process's host
// loopback. The same server against real dig and dnsmasq is tests/priv/dns-server.test.ts.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import dgram from "node:dgram";
import net from "node:net";
import { decodeMessage, type DnsMessage, encodeMessage, RCODE } from "../../dns/message.ts";
import { NameTable } from "../../dns/resolver.ts";
import { DnsServer, parseResolvConf, parseUpstream } from "../../dns/server.ts";

type Behaviour = "silent" | "servfail" | "refused" | "wrong-id" | "wrong-question" | "answer";

interface Fake {
  port: number;
  queries: number;
  close(): void;
}

const fakes: Fake[] = [];
const servers: DnsServer[] = [];

after(async () => {
  for (const f of fakes) f.close();
  for (const s of servers) await s.close();
});

async function upstream(behaviour: Behaviour): Promise<Fake> {
  const s = dgram.createSocket("udp4");
  const fake: Fake = { port: 0, queries: 0, close: () => s.close() };
  s.on("message", (m, r) => {
    fake.queries++;
    const q = decodeMessage(new Uint8Array(m));
    const reply = (over: Partial<DnsMessage>) =>
      s.send(
        encodeMessage({ id: q.id, qr: true, rd: q.rd, ra: true, questions: q.questions, ...over }),
        r.port,
        r.address,
      );
    switch (behaviour) {
      case "silent":
        return;
      case "servfail":
        return reply({ rcode: RCODE.SERVFAIL });
      case "refused":
        return reply({ rcode: RCODE.REFUSED });
      case "wrong-id":
        return reply({ id: (q.id + 1) & 0xffff });
      case "wrong-question":
        return reply({ questions: [{ name: "other.example", type: "A", class: 1 }] });
      case "answer":
        return reply({
          answers: [{
            name: q.questions[0].name,
            type: "A",
            class: 1,
            ttl: 60,
            data: { address: "203.0.113.80" },
          }],
        });
    }
  });
  await new Promise<void>((ok) => s.bind(0, "127.0.0.1", () => ok()));
  fake.port = s.address().port;
  fakes.push(fake);
  return fake;
}

const table = (upstreams: string[], internal = false) =>
  new NameTable([{
    name: "lo",
    subnets: ["127.0.0.0/8"],
    internal,
    upstreams,
    containers: [{ name: "web", ipv4: ["127.0.0.2"] }],
  }]);

async function server(upstreams: Fake[], extra: { maxInFlight?: number; internal?: boolean } = {}) {
  const s = await DnsServer.start({
    addresses: ["127.0.0.1"],
    port: 0,
    table: table(upstreams.map((u) => `127.0.0.1#${u.port}`), extra.internal),
    upstreamTimeoutMs: 300,
    maxInFlight: extra.maxInFlight,
    tcpIdleMs: 300,
  });
  servers.push(s);
  return s;
}

let nextId = 100;

async function waitFor(cond: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error("timed out");
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Sends one query over UDP and waits for its answer (or `undefined` after `ms`). */
async function ask(s: DnsServer, name: string, ms = 3000): Promise<DnsMessage | undefined> {
  const c = dgram.createSocket("udp4");
  const id = nextId++;
  try {
    await new Promise<void>((ok) => c.bind(0, "127.0.0.1", () => ok()));
    const got = new Promise<DnsMessage | undefined>((resolve) => {
      const t = setTimeout(() => resolve(undefined), ms);
      c.on("message", (m) => {
        clearTimeout(t);
        resolve(decodeMessage(new Uint8Array(m)));
      });
    });
    c.send(
      encodeMessage({ id, rd: true, questions: [{ name, type: "A" }] }),
      s.ports()[0].udp,
      "127.0.0.1",
    );
    const m = await got;
    if (m) assert.equal(m.id, id);
    return m;
  } finally {
    c.close();
  }
}

describe("DNS server forwarding (loopback)", () => {
  it("forwards past a silent upstream to the next, before the client's timeout", async () => {
    const silent = await upstream("silent");
    const good = await upstream("answer");
    const s = await server([silent, good]);
    const m = await ask(s, "example.org");
    assert.equal(m?.rcode, RCODE.NOERROR);
    assert.deepEqual(m?.answers.map((r) => r.data), [{ address: "203.0.113.80" }]);
    assert.equal(silent.queries, 1);
    assert.equal(s.stats.forwarded, 1);
  });

  it("takes SERVFAIL, REFUSED, a wrong ID or a wrong question as a failure: the next one", async () => {
    for (const bad of ["servfail", "refused", "wrong-id", "wrong-question"] as const) {
      const b = await upstream(bad);
      const good = await upstream("answer");
      const s = await server([b, good]);
      const m = await ask(s, "Example.ORG");
      assert.equal(m?.rcode, RCODE.NOERROR, bad);
      assert.equal(m?.questions[0].name, "Example.ORG");
      assert.equal(b.queries, 1, bad);
    }
  });

  it("tries at most 3 upstreams, then answers SERVFAIL", async () => {
    const ups = [
      await upstream("servfail"),
      await upstream("refused"),
      await upstream("silent"),
      await upstream("answer"),
    ];
    const s = await server(ups);
    const m = await ask(s, "example.org");
    assert.equal(m?.rcode, RCODE.SERVFAIL);
    assert.deepEqual(ups.map((u) => u.queries), [1, 1, 1, 0]);
    assert.equal(s.stats.failed, 1);
  });

  it("matches 200 concurrent forwarded answers to their clients", async () => {
    const good = await upstream("answer");
    const s = await server([good]);
    const names = Array.from({ length: 200 }, (_, i) => `n${i}.example`);
    const answers = await Promise.all(names.map((n) => ask(s, n)));
    assert.deepEqual(answers.map((m) => m?.questions[0].name), names);
    assert.ok(answers.every((m) => m?.answers.length === 1));
    assert.equal(good.queries, 200);
  });

  it("forwards nothing from an internal network: NXDOMAIN", async () => {
    const good = await upstream("answer");
    const s = await server([good], { internal: true });
    assert.equal((await ask(s, "example.org"))?.rcode, RCODE.NXDOMAIN);
    assert.equal((await ask(s, "web"))?.answers.length, 1);
    assert.equal(good.queries, 0);
  });

  it("drops queries over the in-flight cap", async () => {
    const silent = await upstream("silent");
    const s = await server([silent], { maxInFlight: 2 });
    const answers = await Promise.all([
      ask(s, "a.example"),
      ask(s, "b.example"),
      ask(s, "c.example", 1000),
    ]);
    const rcodes = answers.map((m) => m?.rcode);
    assert.equal(rcodes.filter((r) => r === RCODE.SERVFAIL).length, 2, String(rcodes));
    assert.equal(rcodes.filter((r) => r === undefined).length, 1, String(rcodes));
    assert.equal(s.stats.dropped, 1);
    assert.equal(s.inFlight, 0);
    // Answers from the table never wait for the cap.
    assert.equal((await ask(s, "web"))?.answers.length, 1);
  });

  it("swapping the table changes answers at once", async () => {
    const s = await server([]);
    assert.equal((await ask(s, "web"))?.answers.length, 1);
    s.table = new NameTable([{ name: "lo", subnets: ["127.0.0.0/8"], containers: [] }]);
    assert.equal((await ask(s, "web.dns.nslink"))?.rcode, RCODE.NXDOMAIN);
  });
});

describe("DNS server sockets (loopback)", () => {
  it("closes an idle TCP connection, and a frame too short to be a message", async () => {
    const s = await server([]);
    const port = s.ports()[0].tcp;
    for (const send of [new Uint8Array(0), new Uint8Array([0, 3, 1, 2, 3])]) {
      const c = net.connect({ host: "127.0.0.1", port });
      c.on("error", () => {});
      const closed = new Promise<void>((r) => c.on("close", () => r()));
      c.on("connect", () => c.write(send));
      await closed;
    }
  });

  it("closes a TCP client that trickles one frame for longer than the idle time", async () => {
    // Each byte resets an idle timer, so only a deadline on the frame itself ends this client
    // (a slowloris would otherwise hold its connection slot for as long as it likes).
    const s = await server([]);
    const q = encodeMessage({ id: 5, questions: [{ name: "web", type: "A" }] });
    const framed = new Uint8Array([q.length >> 8, q.length & 0xff, ...q]);
    const c = net.connect({ host: "127.0.0.1", port: s.ports()[0].tcp });
    c.on("error", () => {});
    let closed = false;
    let answered = false;
    c.on("close", () => closed = true);
    c.on("data", () => answered = true);
    await new Promise<void>((r) => c.on("connect", () => r()));
    for (let i = 0; i < framed.length && !closed; i++) {
      c.write(framed.subarray(i, i + 1));
      await new Promise((r) => setTimeout(r, 100)); // 100 ms per byte: ~3.5 s for the frame
    }
    assert.equal(answered, false);
    assert.equal(closed, true, "the trickling client was still connected when its frame completed");
  });

  it("closing with a forwarded query in flight throws nothing", async () => {
    const silent = await upstream("silent");
    const s = await server([silent]);
    const pending = ask(s, "example.org", 500);
    await waitFor(() => silent.queries === 1);
    await s.close();
    assert.equal(await pending, undefined);
    await waitFor(() => s.inFlight === 0);
    // Whatever the server did after close(), it did not throw (an unhandled rejection would
    // fail this file on both runtimes).
    await new Promise((r) => setTimeout(r, 50));
  });

  it("close() is safe twice; listen() after close() is refused", async () => {
    const s = await server([]);
    await s.close();
    await s.close();
    await assert.rejects(s.listen("127.0.0.1"), /the server is closed/);
    assert.deepEqual(s.ports(), []);
  });

  it("names the address and the error when it cannot bind", async () => {
    const a = await server([]);
    await assert.rejects(
      DnsServer.start({ addresses: ["127.0.0.1"], port: a.ports()[0].udp, table: table([]) }),
      /DNS server: bind "127\.0\.0\.1" port \d+: EADDRINUSE/,
    );
  });
});

describe("DNS server configuration", () => {
  it("parseUpstream() takes IP, IP#PORT and [IPv6]:PORT", () => {
    assert.deepEqual(parseUpstream("203.0.113.53"), { address: "203.0.113.53", port: 53 });
    assert.deepEqual(parseUpstream("203.0.113.53#5353"), { address: "203.0.113.53", port: 5353 });
    assert.deepEqual(parseUpstream("2001:db8::53"), { address: "2001:db8::53", port: 53 });
    assert.deepEqual(parseUpstream("[2001:db8::53]:5353"), { address: "2001:db8::53", port: 5353 });
    assert.throws(() => parseUpstream("dns.example"), /Invalid DNS upstream "dns.example"/);
    assert.throws(() => parseUpstream("203.0.113.53#0"), TypeError);
    assert.deepEqual(parseUpstream("fe80::1%eth0"), { address: "fe80::1%eth0", port: 53 });
  });

  it("parseResolvConf() reads at most 3 nameservers, in order", () => {
    const text = [
      "# comment",
      "search example",
      "nameserver 127.0.0.53",
      "nameserver fe80::1%eth0",
      "nameserver not-an-ip",
      "nameserver 203.0.113.53",
      "nameserver 203.0.113.54",
      "options edns0",
    ].join("\n");
    assert.deepEqual(parseResolvConf(text), ["127.0.0.53", "fe80::1%eth0", "203.0.113.53"]);
  });
});
