/**
 * Privileged test of the DNS server with real `dig` queries from container namespaces, inside
 * the throw-away namespace: two bridges (blue: 198.51.100.0/24 and 2001:db8:1::/64; red,
 * internal: 203.0.113.0/26), four containers (web and client on blue, multi on both, redonly on
 * red), the server bound to the gateways, port 53. Upstreams only inside the sandbox: a silent
 * one (never answers), one that answers SERVFAIL, and dnsmasq with an addn-hosts file.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import dgram from "node:dgram";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { decodeMessage, encodeMessage, RCODE } from "../../dns/message.ts";
import { type DnsNetwork, NameTable } from "../../dns/resolver.ts";
import { DnsServer } from "../../dns/server.ts";
import { assertNoLeftovers, Cleanup, exec, ip, isRoot, runId, SKIP_ROOT } from "./_helpers.ts";

const P = runId();
const BLUE_GW = "198.51.100.1";
const BLUE_GW6 = "2001:db8:1::1";
const RED_GW = "203.0.113.1";
const SILENT = 5391;
const FAILING = 5392;
const DNSMASQ = 5393;

const ns = (n: string) => `${P}${n}`;

const blue: DnsNetwork = {
  name: "blue",
  subnets: ["198.51.100.0/24", "2001:db8:1::/64"],
  upstreams: [`127.0.0.1#${SILENT}`, `127.0.0.1#${FAILING}`, `127.0.0.1#${DNSMASQ}`],
  containers: [
    { name: "web", aliases: ["www", "api"], ipv4: ["198.51.100.2"], ipv6: ["2001:db8:1::2"] },
    { name: "client", ipv4: ["198.51.100.3"], ipv6: ["2001:db8:1::3"] },
    { id: "m", name: "multi", ipv4: ["198.51.100.4"] },
    ...Array.from({ length: 100 }, (_, i) => ({ name: "big", ipv4: [`198.51.100.${100 + i}`] })),
  ],
};
const red: DnsNetwork = {
  name: "red",
  subnets: ["203.0.113.0/26"],
  internal: true,
  containers: [
    { name: "redonly", ipv4: ["203.0.113.2"] },
    { id: "m", name: "multi", ipv4: ["203.0.113.4"] },
  ],
};

const cleanup = new Cleanup();
let server: DnsServer | undefined;
let dnsmasq: ChildProcess | undefined;
const sockets: dgram.Socket[] = [];

interface Dig {
  status: string;
  flags: string[];
  answers: string[];
  raw: string;
}

async function dig(container: string, args: string[], server = BLUE_GW): Promise<Dig> {
  const r = await exec([
    "ip",
    "netns",
    "exec",
    ns(container),
    "dig",
    `@${server}`,
    "+tries=1",
    "+timeout=5",
    "+nocookie",
    ...args,
  ]);
  assert.equal(r.code, 0, `dig ${args.join(" ")}: ${r.stdout}${r.stderr}`);
  const status = /status: (\w+)/.exec(r.stdout)?.[1] ?? "";
  const flags = (/;; flags: ([^;]*);/.exec(r.stdout)?.[1] ?? "").trim().split(/\s+/);
  const section = /;; ANSWER SECTION:\n([\s\S]*?)\n\n/.exec(r.stdout)?.[1] ?? "";
  const answers = section.split("\n").filter((l) => l.trim() !== "").map((l) => {
    const f = l.split(/\s+/);
    return `${f[0]} ${f[3]} ${f[4]}`;
  });
  return { status, flags, answers, raw: r.stdout };
}

async function must(args: string[]): Promise<void> {
  const r = await ip(args);
  assert.equal(r.code, 0, `ip ${args.join(" ")}: ${r.stderr}`);
}

/** A container namespace with one veth per network: [bridge, addresses…]. */
async function container(name: string, ports: [string, string[]][]): Promise<void> {
  cleanup.netns(ns(name));
  await must(["netns", "add", ns(name)]);
  await must(["-n", ns(name), "link", "set", "lo", "up"]);
  let i = 0;
  for (const [bridge, addrs] of ports) {
    const host = `${P}${name}${i}`;
    cleanup.link(host);
    await must(["link", "add", host, "type", "veth", "peer", "name", `eth${i}`, "netns", ns(name)]);
    await must(["link", "set", host, "master", bridge, "up"]);
    for (const a of addrs) {
      await must([
        "-n",
        ns(name),
        "addr",
        "add",
        a,
        "dev",
        `eth${i}`,
        ...(a.includes(":") ? ["nodad"] : []),
      ]);
    }
    await must(["-n", ns(name), "link", "set", `eth${i}`, "up"]);
    i++;
  }
}

async function waitFor(what: string, cond: () => Promise<boolean> | boolean, ms = 10_000) {
  const deadline = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A tiny upstream on 127.0.0.1: silent (never answers) or answering SERVFAIL to everything. */
async function fakeUpstream(port: number, servfail: boolean): Promise<void> {
  const s = dgram.createSocket("udp4");
  sockets.push(s);
  if (servfail) {
    s.on("message", (m, r) => {
      const q = decodeMessage(m);
      s.send(
        encodeMessage({
          id: q.id,
          qr: true,
          rd: q.rd,
          rcode: RCODE.SERVFAIL,
          questions: q.questions,
        }),
        r.port,
        r.address,
      );
    });
  }
  await new Promise<void>((ok) => s.bind(port, "127.0.0.1", () => ok()));
}

/** Sends framed queries on one TCP connection and reads `count` framed answers. */
function tcpQueries(frames: Uint8Array, count: number, host = BLUE_GW): Promise<Uint8Array[]> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ host, port: 53 });
    let buf = new Uint8Array(0);
    const out: Uint8Array[] = [];
    c.on("error", reject);
    c.on("connect", () => c.write(frames));
    c.on("data", (chunk: Uint8Array) => {
      buf = new Uint8Array([...buf, ...chunk]);
      while (buf.length >= 2 && buf.length >= 2 + ((buf[0] << 8) | buf[1])) {
        const len = (buf[0] << 8) | buf[1];
        out.push(buf.slice(2, 2 + len));
        buf = buf.slice(2 + len);
      }
      if (out.length === count) {
        c.destroy();
        resolve(out);
      }
    });
  });
}

function frame(...msgs: Uint8Array[]): Uint8Array {
  const parts: number[] = [];
  for (const m of msgs) parts.push(m.length >> 8, m.length & 0xff, ...m);
  return new Uint8Array(parts);
}

const query = (id: number, name: string) =>
  encodeMessage({ id, rd: true, questions: [{ name, type: "A" }] });

describe("DNS server with dig from containers", { skip: SKIP_ROOT }, () => {
  before(async () => {
    if (!isRoot) return;
    for (
      const [b, addrs] of [[`${P}b1`, [`${BLUE_GW}/24`, `${BLUE_GW6}/64`]], [`${P}b2`, [
        `${RED_GW}/26`,
      ]]] as const
    ) {
      cleanup.link(b);
      await must(["link", "add", b, "type", "bridge"]);
      for (const a of addrs) {
        await must(["addr", "add", a, "dev", b, ...(a.includes(":") ? ["nodad"] : [])]);
      }
      await must(["link", "set", b, "up"]);
    }
    await container("web", [[`${P}b1`, ["198.51.100.2/24", "2001:db8:1::2/64"]]]);
    await container("client", [[`${P}b1`, ["198.51.100.3/24", "2001:db8:1::3/64"]]]);
    await container("multi", [[`${P}b1`, ["198.51.100.4/24"]], [`${P}b2`, ["203.0.113.4/26"]]]);
    await container("redonly", [[`${P}b2`, ["203.0.113.2/26"]]]);

    await fakeUpstream(SILENT, false);
    await fakeUpstream(FAILING, true);
    const dir = mkdtempSync(`${tmpdir()}/${P}-dnsmasq-`);
    cleanup.defer("dnsmasq files", () => rmSync(dir, { recursive: true, force: true }));
    writeFileSync(`${dir}/hosts`, "203.0.113.80 outside.example\n");
    dnsmasq = spawn("dnsmasq", [
      "--no-daemon",
      "--no-resolv",
      "--no-hosts",
      `--addn-hosts=${dir}/hosts`,
      "--listen-address=127.0.0.1",
      `--port=${DNSMASQ}`,
      "--bind-interfaces",
      "--pid-file=",
    ], { stdio: "ignore" });
    const child = dnsmasq;
    cleanup.defer("dnsmasq", () => {
      child.kill("SIGTERM");
    });
    await waitFor("dnsmasq", async () => {
      const r = await exec([
        "dig",
        "@127.0.0.1",
        "-p",
        String(DNSMASQ),
        "+tries=1",
        "+timeout=1",
        "+short",
        "outside.example",
      ]);
      return r.stdout.trim() === "203.0.113.80";
    });

    server = await DnsServer.start({
      table: new NameTable([blue, red]),
      addresses: [BLUE_GW, BLUE_GW6, RED_GW],
      tcpIdleMs: 1000,
    });
    cleanup.defer("DNS server", () => server?.close());
    // Every container reaches its gateway.
    for (const c of ["web", "client", "multi"]) {
      await waitFor(
        `${c} -> gateway`,
        async () =>
          (await exec(["ip", "netns", "exec", ns(c), "ping", "-c1", "-W1", BLUE_GW])).code === 0,
      );
    }
  });

  after(async () => {
    for (const s of sockets) s.close();
    await cleanup.run();
    if (isRoot) await assertNoLeftovers(P);
  });

  it("answers A and AAAA for a name, its aliases and NAME.dns.nslink", async () => {
    for (const n of ["web", "www", "api", "web.dns.nslink", "API.DNS.NSLINK"]) {
      const a = await dig("client", [n, "A"]);
      assert.equal(a.status, "NOERROR", a.raw);
      assert.deepEqual(a.answers, [`${n}. A 198.51.100.2`]);
      assert.ok(a.flags.includes("aa"), a.raw);
      assert.deepEqual((await dig("client", [n, "AAAA"])).answers, [`${n}. AAAA 2001:db8:1::2`]);
    }
  });

  it("answers over IPv6, to the IPv6 gateway", async () => {
    assert.deepEqual((await dig("client", ["web", "A"], BLUE_GW6)).answers, [
      "web. A 198.51.100.2",
    ]);
  });

  it("answers PTR for IPv4 and IPv6 addresses with every name", async () => {
    const names = ["web.dns.nslink.", "www.dns.nslink.", "api.dns.nslink."];
    for (const addr of ["198.51.100.2", "2001:db8:1::2"]) {
      const a = await dig("client", ["-x", addr]);
      assert.deepEqual(a.answers.map((l) => l.split(" ")[2]), names, a.raw);
    }
  });

  it("NOERROR and no answer for a name without the asked family; NXDOMAIN inside dns.nslink", async () => {
    const a = await dig("client", ["multi", "AAAA"]);
    assert.equal(a.status, "NOERROR");
    assert.deepEqual(a.answers, []);
    assert.equal((await dig("client", ["nothere.dns.nslink"])).status, "NXDOMAIN");
  });

  it("scopes answers by the asking container's networks", async () => {
    // multi is on blue and red: it resolves names of both.
    assert.deepEqual((await dig("multi", ["redonly"], RED_GW)).answers, ["redonly. A 203.0.113.2"]);
    assert.deepEqual((await dig("multi", ["web"], RED_GW)).answers, ["web. A 198.51.100.2"]);
    // redonly is on red (internal) only: web does not exist for it, and nothing is forwarded.
    assert.equal((await dig("redonly", ["web.dns.nslink"], RED_GW)).status, "NXDOMAIN");
    assert.equal((await dig("redonly", ["web"], RED_GW)).status, "NXDOMAIN");
    assert.equal((await dig("redonly", ["outside.example"], RED_GW)).status, "NXDOMAIN");
    // client is on blue only: redonly.dns.nslink does not exist for it.
    assert.equal((await dig("client", ["redonly.dns.nslink"])).status, "NXDOMAIN");
  });

  it("forwards other names past a silent and a failing upstream, over UDP and TCP", async () => {
    const before = server!.stats.forwarded;
    const u = await dig("client", ["outside.example"]);
    assert.deepEqual(u.answers, ["outside.example. A 203.0.113.80"], u.raw);
    const t = await dig("client", ["+tcp", "outside.example"]);
    assert.deepEqual(t.answers, ["outside.example. A 203.0.113.80"], t.raw);
    assert.equal(server!.stats.forwarded, before + 2);
  });

  it("truncates a large UDP answer with TC; TCP carries all of it", async () => {
    const u = await dig("client", ["+noedns", "+ignore", "big"]);
    assert.ok(u.flags.includes("tc"), u.raw);
    assert.ok(u.answers.length > 0 && u.answers.length < 100);
    const t = await dig("client", ["+tcp", "big"]);
    assert.equal(t.answers.length, 100);
  });

  it("takes several queries on one TCP connection", async () => {
    const answers = await tcpQueries(frame(query(1, "web"), query(2, "www"), query(3, "api")), 3);
    assert.deepEqual(answers.map((b) => decodeMessage(b).id).sort(), [1, 2, 3]);
    for (const b of answers) assert.equal(decodeMessage(b).answers.length, 1);
  });

  it("a slow or malformed TCP client stalls nobody; idle connections are closed", async () => {
    // A client that sends half a length prefix and waits.
    const slow = net.connect({ host: BLUE_GW, port: 53 });
    const slowClosed = new Promise<void>((r) => slow.on("close", () => r()));
    slow.on("error", () => {});
    await new Promise<void>((r) => slow.on("connect", () => r()));
    slow.write(new Uint8Array([0]));
    // A client that sends a 5-byte frame: closed at once.
    const bad = net.connect({ host: BLUE_GW, port: 53 });
    const badClosed = new Promise<void>((r) => bad.on("close", () => r()));
    bad.on("error", () => {});
    bad.on("connect", () => bad.write(new Uint8Array([0, 5, 1, 2, 3, 4, 5])));
    await badClosed;
    // Others are answered meanwhile, over TCP and UDP.
    assert.deepEqual((await dig("client", ["+tcp", "web"])).answers, ["web. A 198.51.100.2"]);
    assert.deepEqual((await dig("web", ["www"])).answers, ["www. A 198.51.100.2"]);
    await slowClosed; // tcpIdleMs: 1000
  });

  it("swaps the table without dropping a query: new names answer at once, old ones go", async () => {
    const c = dgram.createSocket("udp4");
    await new Promise<void>((ok) => c.bind(0, BLUE_GW, () => ok()));
    const pending = new Map<number, (b: Uint8Array) => void>();
    c.on("message", (m) => pending.get((m[0] << 8) | m[1])?.(new Uint8Array(m)));
    const ask = (id: number, name: string) =>
      new Promise<Uint8Array>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no answer to ${id}`)), 5000);
        pending.set(id, (b) => {
          clearTimeout(t);
          resolve(b);
        });
        c.send(query(id, name), 53, BLUE_GW);
      });
    const original = server!.table;
    try {
      const withNew = new NameTable([{
        ...blue,
        containers: [...blue.containers, { name: "newbie", ipv4: ["198.51.100.50"] }],
      }, red]);
      // 200 queries in flight while the table changes under them 200 times.
      const all: Promise<Uint8Array>[] = [];
      for (let i = 0; i < 200; i++) {
        server!.table = i % 2 ? withNew : original;
        all.push(ask(1000 + i, "web"));
      }
      for (const b of await Promise.all(all)) assert.equal(decodeMessage(b).answers.length, 1);
      server!.table = withNew;
      assert.deepEqual((await dig("client", ["newbie"])).answers, ["newbie. A 198.51.100.50"]);
      server!.table = original;
      assert.equal((await dig("client", ["newbie.dns.nslink"])).status, "NXDOMAIN");
    } finally {
      server!.table = original;
      c.close();
    }
  });

  it("answers FORMERR to a malformed query and keeps serving", async () => {
    const c = dgram.createSocket("udp4");
    try {
      await new Promise<void>((ok) => c.bind(0, BLUE_GW, () => ok()));
      const got = new Promise<Uint8Array>((r) => c.once("message", (m) => r(new Uint8Array(m))));
      const q = query(77, "web");
      c.send(q.subarray(0, q.length - 3), 53, BLUE_GW);
      const a = decodeMessage(await got);
      assert.equal(a.id, 77);
      assert.equal(a.rcode, RCODE.FORMERR);
    } finally {
      c.close();
    }
    assert.deepEqual((await dig("client", ["web"])).answers, ["web. A 198.51.100.2"]);
  });

  it("closes every socket", async () => {
    const ports = server!.ports();
    assert.equal(ports.length, 3);
    await server!.close();
    const r = await exec(["ss", "-Huln", "sport", "=", ":53"]);
    assert.equal(r.stdout.trim(), "", r.stdout);
    const t = await exec(["ss", "-Htln", "sport", "=", ":53"]);
    assert.equal(t.stdout.trim(), "", t.stdout);
  });
});
