// The agent's batched FFI UDP listener (agent/udp.ts) under DnsServer, on loopback only: names
// answered, a burst of queries all answered (batches of recvmmsg/sendmmsg), forwarded answers
// sent later on their own, IPv6, close. Deno only (Bun keeps node:dgram): registered under Deno only.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { decodeMessage, encodeMessage, RCODE } from "../../dns/message.ts";
import { NameTable } from "../../dns/resolver.ts";
import { DnsServer } from "../../dns/server.ts";
import { ffiUdpAvailable, ffiUdpListener } from "../../agent/udp.ts";

const servers: DnsServer[] = [];
const sockets: dgram.Socket[] = [];
after(async () => {
  for (const s of servers) await s.close();
  for (const s of sockets) s.close();
});

const table = new NameTable([{
  name: "lo",
  subnets: ["127.0.0.0/8", "::1/128"],
  containers: Array.from({ length: 50 }, (_, i) => ({
    name: `c${i}`,
    ipv4: [`198.51.100.${i + 2}`],
  })),
}]);

/** Sends queries from one socket and collects the answers by id. */
async function burst(
  port: number,
  names: string[],
  host = "127.0.0.1",
): Promise<Map<number, ReturnType<typeof decodeMessage>>> {
  const s = dgram.createSocket(host.includes(":") ? "udp6" : "udp4");
  sockets.push(s);
  const got = new Map<number, ReturnType<typeof decodeMessage>>();
  const done = new Promise<void>((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`${got.size}/${names.length} answers`)), 5000);
    s.on("message", (m) => {
      const r = decodeMessage(new Uint8Array(m));
      got.set(r.id, r);
      if (got.size === names.length) {
        clearTimeout(timer);
        ok();
      }
    });
  });
  await new Promise<void>((ok) => s.bind(0, host, () => ok()));
  names.forEach((name, id) =>
    s.send(encodeMessage({ id, rd: true, questions: [{ name, type: "A" }] }), port, host)
  );
  await done;
  return got;
}

// Registered where the FFI listener exists only (Deno; Bun keeps node:dgram): a skip under Bun
// would read as something Bun missed.
describe("ffiUdpListener (Deno)", () => {
  if (!ffiUdpAvailable()) return;
  it(
    "answers names, 200 queries sent at once included, over IPv4 and IPv6",
    async () => {
      const server = await DnsServer.start({
        table,
        addresses: ["127.0.0.1", "::1"],
        port: 0,
        udpListener: ffiUdpListener,
      });
      servers.push(server);
      const [v4, v6] = server.ports();
      const names = Array.from({ length: 200 }, (_, i) => `c${i % 50}.dns.nslink`);
      const got = await burst(v4.udp, names);
      for (let i = 0; i < 200; i++) {
        const r = got.get(i)!;
        assert.equal(r.rcode, RCODE.NOERROR);
        assert.deepEqual(r.answers[0].data, { address: `198.51.100.${(i % 50) + 2}` });
      }
      const six = await burst(v6.udp, ["c1.dns.nslink", "nope.dns.nslink"], "::1");
      assert.equal(six.get(0)!.answers.length, 1);
      assert.equal(six.get(1)!.rcode, RCODE.NXDOMAIN);
      await server.close();
    },
  );

  it("sends a forwarded answer when it comes, after its batch", async () => {
    const up = dgram.createSocket("udp4");
    sockets.push(up);
    up.on("message", (m, r) => {
      const q = decodeMessage(new Uint8Array(m));
      setTimeout(() =>
        up.send(
          encodeMessage({
            id: q.id,
            qr: true,
            rd: true,
            ra: true,
            questions: q.questions,
            answers: [{
              name: q.questions[0].name,
              type: "A",
              class: 1,
              ttl: 5,
              data: { address: "203.0.113.7" },
            }],
          }),
          r.port,
          r.address,
        ), 20);
    });
    await new Promise<void>((ok) => up.bind(0, "127.0.0.1", () => ok()));
    const server = await DnsServer.start({
      table,
      addresses: ["127.0.0.1"],
      port: 0,
      upstreams: [`127.0.0.1#${up.address().port}`],
      udpListener: ffiUdpListener,
    });
    servers.push(server);
    const got = await burst(server.ports()[0].udp, ["outside.example", "c3.dns.nslink"]);
    assert.deepEqual(got.get(0)!.answers[0].data, { address: "203.0.113.7" });
    assert.deepEqual(got.get(1)!.answers[0].data, { address: "198.51.100.5" });
    await server.close();
  });
});
