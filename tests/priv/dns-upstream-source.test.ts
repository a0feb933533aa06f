/**
 * Forwarded DNS answers are taken only from the upstream's own address and port. Inside the
 * throw-away namespace: a veth pair made by the test holds 198.51.100.1 (the server), .53 (the
 * upstream) and .54; the fake upstream on 198.51.100.53 answers each query 100 ms late, and two
 * forgers that know the query's id and the server's source port answer it at once, from
 * 198.51.100.54 on the upstream's port and from 198.51.100.53 on another port. The client must
 * get the upstream's answer, never a forged one. For each kind of upstream socket the runtime
 * has: `node:dgram` (DnsServer's default, both runtimes) and nslink's FFI sockets (the agent's
 * under Deno).
 *
 * Before the fix, under Deno, `node:dgram`'s `connect()` filtered nothing (Deno emulates it):
 * the first forged answer was taken. Bun's `connect()` is the kernel's, which drops them.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { decodeMessage, encodeMessage } from "../../dns/message.ts";
import { NameTable } from "../../dns/resolver.ts";
import { DnsServer, type UpstreamSocketFactory } from "../../dns/server.ts";
import { ffiUdpAvailable, ffiUpstreamSocket } from "../../agent/udp.ts";
import { assertNoLeftovers, Cleanup, ip, isRoot, runId, SKIP_ROOT } from "./_helpers.ts";

const P = runId();
const SERVER = "198.51.100.1";
const UPSTREAM = "198.51.100.53";
const FORGER = "198.51.100.54";
const REAL = "203.0.113.80";
const FORGED = "203.0.113.66";

const c = new Cleanup();
const sockets: dgram.Socket[] = [];
let upstreamPort = 0;
let queries = 0;

function udp(): dgram.Socket {
  const s = dgram.createSocket("udp4");
  sockets.push(s);
  return s;
}

function bind(s: dgram.Socket, port: number, address: string): Promise<number> {
  return new Promise((ok) => s.bind(port, address, () => ok(s.address().port)));
}

/** An answer to `query` with one A record. */
function answer(query: Uint8Array, address: string): Uint8Array {
  const q = decodeMessage(query);
  return encodeMessage({
    id: q.id,
    qr: true,
    rd: q.rd,
    ra: true,
    questions: q.questions,
    answers: [{ name: q.questions[0].name, type: "A", class: 1, ttl: 60, data: { address } }],
  });
}

before(async () => {
  if (!isRoot) return;
  c.link(`${P}u0`);
  for (
    const args of [
      ["link", "add", `${P}u0`, "type", "veth", "peer", "name", `${P}u1`],
      ["addr", "add", `${SERVER}/32`, "dev", `${P}u0`],
      ["addr", "add", `${UPSTREAM}/32`, "dev", `${P}u0`],
      ["addr", "add", `${FORGER}/32`, "dev", `${P}u0`],
      ["link", "set", `${P}u0`, "up"],
      ["link", "set", `${P}u1`, "up"],
    ]
  ) {
    const r = await ip(args);
    assert.equal(r.code, 0, `ip ${args.join(" ")}: ${r.stderr}`);
  }
  const upstream = udp();
  upstreamPort = await bind(upstream, 0, UPSTREAM);
  const otherAddress = udp();
  await bind(otherAddress, upstreamPort, FORGER);
  const otherPort = udp();
  await bind(otherPort, 0, UPSTREAM);
  upstream.on("message", (m, r) => {
    queries++;
    const q = new Uint8Array(m);
    // The forgers know the id and the port: only their source gives them away.
    otherAddress.send(answer(q, FORGED), r.port, r.address);
    otherPort.send(answer(q, FORGED), r.port, r.address);
    setTimeout(() => upstream.send(answer(q, REAL), r.port, r.address), 100);
  });
});

after(async () => {
  for (const s of sockets) s.close();
  await c.run();
  if (isRoot) await assertNoLeftovers(P);
});

/** One query to the server; the addresses in its answer. */
async function lookup(port: number, name: string): Promise<string[]> {
  const client = udp();
  await bind(client, 0, SERVER);
  const got = new Promise<Uint8Array>((ok) => client.once("message", (m) => ok(new Uint8Array(m))));
  client.send(encodeMessage({ id: 7, rd: true, questions: [{ name, type: "A" }] }), port, SERVER);
  const m = decodeMessage(await got);
  return m.answers.map((a) => (a.data as { address: string }).address);
}

const kinds: [string, UpstreamSocketFactory | undefined][] = [
  ["node:dgram (the default)", undefined],
];
if (ffiUdpAvailable()) kinds.push(["nslink's FFI sockets", ffiUpstreamSocket]);

describe("DNS forwarding: answers only from the upstream's address and port", () => {
  for (const [kind, upstreamSocket] of kinds) {
    it(`${kind}: forged answers from another address or port are ignored`, {
      skip: SKIP_ROOT,
      timeout: 20_000,
    }, async () => {
      const server = await DnsServer.start({
        addresses: [SERVER],
        port: 0,
        table: new NameTable([{
          name: "n",
          subnets: ["198.51.100.0/24"],
          upstreams: [`${UPSTREAM}#${upstreamPort}`],
          containers: [],
        }]),
        upstreamTimeoutMs: 2000,
        ...(upstreamSocket ? { upstreamSocket } : {}),
      });
      try {
        const before = queries;
        for (let i = 0; i < 5; i++) {
          assert.deepEqual(await lookup(server.ports()[0].udp, `q${i}.example.org`), [REAL]);
        }
        assert.equal(queries - before, 5);
      } finally {
        await server.close();
      }
    });
  }
});
