// The agent's FFI sockets to upstreams (agent/udp.ts, ffiUpstreamSocket) under DnsServer, on
// loopback only: fake upstreams in this process on 127.0.0.1 (silent, SERVFAIL, an answer from
// another port, good answers), the server on 127.0.0.1 with a free port. Forwarded queries take
// these sockets whenever the server's UDP listeners are the FFI ones (the agent under Deno).
// Deno only (Bun keeps node:dgram): registered under Deno only.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { readdirSync } from "node:fs";
import { decodeMessage, type DnsMessage, encodeMessage, RCODE } from "../../dns/message.ts";
import { NameTable } from "../../dns/resolver.ts";
import { DnsServer } from "../../dns/server.ts";
import { ffiUdpAvailable, ffiUdpListener, ffiUpstreamSocket } from "../../agent/udp.ts";

type Behaviour = "silent" | "servfail" | "other-port" | "answer";

interface Fake {
  port: number;
  queries: number;
  close(): void;
}

const fakes: Fake[] = [];
const servers: DnsServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
  for (const f of fakes) f.close();
});

async function upstream(behaviour: Behaviour): Promise<Fake> {
  const s = dgram.createSocket("udp4");
  const other = dgram.createSocket("udp4");
  const fake: Fake = {
    port: 0,
    queries: 0,
    close: () => {
      s.close();
      other.close();
    },
  };
  s.on("message", (m, r) => {
    fake.queries++;
    const q = decodeMessage(new Uint8Array(m));
    const answer = encodeMessage({
      id: q.id,
      qr: true,
      rd: q.rd,
      ra: true,
      questions: q.questions,
      ...(behaviour === "servfail" ? { rcode: RCODE.SERVFAIL } : {
        answers: [{
          name: q.questions[0].name,
          type: "A",
          class: 1,
          ttl: 60,
          data: { address: "203.0.113.80" },
        }],
      }),
    });
    if (behaviour === "silent") return;
    // A forger that knows the ID but answers from another port: never taken.
    (behaviour === "other-port" ? other : s).send(answer, r.port, r.address);
  });
  await new Promise<void>((ok) => s.bind(0, "127.0.0.1", () => ok()));
  await new Promise<void>((ok) => other.bind(0, "127.0.0.1", () => ok()));
  fake.port = s.address().port;
  fakes.push(fake);
  return fake;
}

async function server(upstreams: Fake[], viaListener = false): Promise<DnsServer> {
  const s = await DnsServer.start({
    addresses: ["127.0.0.1"],
    port: 0,
    table: new NameTable([{
      name: "lo",
      subnets: ["127.0.0.0/8"],
      upstreams: upstreams.map((u) => `127.0.0.1#${u.port}`),
      containers: [{ name: "web", ipv4: ["127.0.0.2"] }],
    }]),
    upstreamTimeoutMs: 300,
    // Either named, or brought along by the FFI listener (as the agent does).
    ...(viaListener ? { udpListener: ffiUdpListener } : { upstreamSocket: ffiUpstreamSocket }),
  });
  servers.push(s);
  return s;
}

/** Sends queries from one socket; the answers by id (missing ones after `ms`). */
async function burst(port: number, names: string[], ms = 5000): Promise<Map<number, DnsMessage>> {
  const c = dgram.createSocket("udp4");
  const got = new Map<number, DnsMessage>();
  try {
    const done = new Promise<void>((ok) => {
      const timer = setTimeout(ok, ms);
      c.on("message", (m) => {
        const r = decodeMessage(new Uint8Array(m));
        got.set(r.id, r);
        if (got.size === names.length) {
          clearTimeout(timer);
          ok();
        }
      });
    });
    await new Promise<void>((ok) => c.bind(0, "127.0.0.1", () => ok()));
    names.forEach((name, id) =>
      c.send(encodeMessage({ id, rd: true, questions: [{ name, type: "A" }] }), port, "127.0.0.1")
    );
    await done;
    return got;
  } finally {
    c.close();
  }
}

const openFds = () => readdirSync("/proc/self/fd").length;

describe("ffiUpstreamSocket (Deno)", () => {
  if (!ffiUdpAvailable()) return;

  it("forwards past a silent upstream to the next, before the client's timeout", async () => {
    const silent = await upstream("silent");
    const good = await upstream("answer");
    const s = await server([silent, good]);
    const m = (await burst(s.ports()[0].udp, ["example.org"])).get(0);
    assert.equal(m?.rcode, RCODE.NOERROR);
    assert.deepEqual(m?.answers.map((r) => r.data), [{ address: "203.0.113.80" }]);
    assert.equal(silent.queries, 1);
    assert.equal(s.stats.forwarded, 1);
  });

  it("takes SERVFAIL as a failure (the next upstream) and never an answer from another port", async () => {
    const failing = await upstream("servfail");
    const forger = await upstream("other-port");
    const good = await upstream("answer");
    const s = await server([failing, forger, good]);
    const m = (await burst(s.ports()[0].udp, ["example.org"])).get(0);
    assert.equal(m?.rcode, RCODE.NOERROR);
    assert.deepEqual(m?.answers.map((r) => r.data), [{ address: "203.0.113.80" }]);
    assert.deepEqual([failing.queries, forger.queries, good.queries], [1, 1, 1]);
    // Only the forger's answer came from another port: SERVFAIL from the first was taken at once.
    const alone = await server([forger]);
    const r = (await burst(alone.ports()[0].udp, ["example.org"])).get(0);
    assert.equal(r?.rcode, RCODE.SERVFAIL);
  });

  it("matches 200 concurrent forwarded answers to their clients, through the FFI listener", async () => {
    const good = await upstream("answer");
    const s = await server([good], true);
    const names = Array.from({ length: 200 }, (_, i) => `n${i}.example`);
    const got = await burst(s.ports()[0].udp, names);
    assert.equal(got.size, 200);
    for (const [id, m] of got) {
      assert.equal(m.rcode, RCODE.NOERROR);
      assert.equal(m.questions[0].name, names[id]);
    }
    assert.equal(good.queries, 200);
  });

  it("closes every upstream socket when the server closes", async () => {
    const good = await upstream("answer");
    const before = openFds();
    const s = await server([good]);
    const got = await burst(s.ports()[0].udp, Array.from({ length: 64 }, (_, i) => `x${i}.a`));
    assert.equal(got.size, 64);
    assert.ok(openFds() > before);
    await s.close();
    const deadline = Date.now() + 3000;
    while (openFds() > before && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(openFds() <= before, `${openFds()} fds open, ${before} before`);
  });
});
