// DnsServer's beforeQuery hook (how the agent brings its table up to date before each query), on
// loopback only: the table the hook installs answers the very query that ran it, and a hook that
// throws costs no answer.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import dgram from "node:dgram";
import { decodeMessage, encodeMessage, RCODE } from "../../dns/message.ts";
import { NameTable } from "../../dns/resolver.ts";
import { DnsServer } from "../../dns/server.ts";

const servers: DnsServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

function table(names: string[]): NameTable {
  return new NameTable([{
    name: "lo",
    subnets: ["127.0.0.0/8"],
    internal: true,
    containers: names.map((name, i) => ({ name, ipv4: [`198.51.100.${i + 2}`] })),
  }]);
}

function ask(port: number, name: string): Promise<number> {
  return new Promise((ok, fail) => {
    const s = dgram.createSocket("udp4");
    const timer = setTimeout(() => {
      s.close();
      fail(new Error(`no answer for ${name}`));
    }, 3000);
    s.on("message", (m) => {
      clearTimeout(timer);
      s.close();
      ok(decodeMessage(new Uint8Array(m)).rcode);
    });
    s.send(
      encodeMessage({ id: 7, rd: true, questions: [{ name: `${name}.dns.nslink`, type: "A" }] }),
      port,
      "127.0.0.1",
    );
  });
}

describe("DnsServer beforeQuery", () => {
  it("runs before each query: the table it installs answers that query", async () => {
    const pending: string[][] = [];
    let calls = 0;
    const server: DnsServer = await DnsServer.start({
      table: table([]),
      addresses: ["127.0.0.1"],
      port: 0,
      beforeQuery: () => {
        calls++;
        const next = pending.shift();
        if (next) server.table = table(next);
      },
    });
    servers.push(server);
    const port = server.ports()[0].udp;
    assert.equal(await ask(port, "web"), RCODE.NXDOMAIN);
    pending.push(["web"]);
    assert.equal(await ask(port, "web"), RCODE.NOERROR);
    pending.push([]);
    assert.equal(await ask(port, "web"), RCODE.NXDOMAIN);
    assert.equal(calls, 3);
  });

  it("a hook that throws is counted as an error and the query is answered all the same", async () => {
    const server = await DnsServer.start({
      table: table(["web"]),
      addresses: ["127.0.0.1"],
      port: 0,
      beforeQuery: () => {
        throw new Error("boom");
      },
    });
    servers.push(server);
    assert.equal(await ask(server.ports()[0].udp, "web"), RCODE.NOERROR);
    assert.equal(server.stats.errors, 1);
  });
});
