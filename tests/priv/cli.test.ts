/**
 * Privileged tests of the `nslink` command, end to end: each command run as a process (on the
 * runtime running the tests, or the compiled `dist/nslink` with `NSLINK_BIN`), checked against
 * the kernel with `ip -j` and against `nslink … --format json`, including bad input, after which
 * nothing may be left half-made.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import {
  ip,
  ipAddrs,
  ipJson,
  type IpLink,
  ipLink,
  ipNetnsNames,
  ipRoutes,
  SKIP_ROOT,
  sleep,
  withCleanup,
} from "./_helpers.ts";
import {
  assertPing,
  bridgePorts,
  setUpNetworkTestFile,
  tempStateDir,
  waitFor,
} from "./_network_helpers.ts";
import { httpGet, ipJsonAt, nslink, nslinkArgv, nslinkJson, runProcess } from "./_cli_helpers.ts";

const { prefix: P } = setUpNetworkTestFile();

interface Inspect {
  Name: string;
  Id: string;
  Driver: string;
  EnableIPv6: boolean;
  IPAM: { Config: { Subnet: string; Gateway: string }[] };
  Containers: Record<string, {
    Name: string;
    Netns: string;
    Interface: string;
    HostInterface: string;
    MacAddress: string;
    IPv4Address: string;
    IPv6Address: string;
    Ports: unknown[];
  }>;
  Options: { bridgeName: string; mtu: number };
}

function oneLineError(r: { stderr: string }): void {
  assert.equal(r.stderr.trimEnd().split("\n").length, 1, r.stderr);
  assert.match(r.stderr, /^nslink: \S/);
}

describe("nslink network", { skip: SKIP_ROOT }, () => {
  it("create, ls, inspect and rm a dual-stack network, matching the kernel", async () => {
    const state = tempStateDir();
    const name = `${P}n1`;
    await withCleanup(async (c) => {
      c.link(`nsl-${name}`);
      const created = await nslink(
        state,
        "network",
        "create",
        "--subnet",
        "198.51.100.0/24",
        "--gateway",
        "198.51.100.254",
        "--ipv6",
        "--subnet",
        "2001:db8:1::/64",
        "-o",
        "mtu=1400",
        name,
      );
      assert.equal(created.code, 0, created.stderr);
      const id = created.stdout.trim();
      assert.match(id, /^[0-9a-f]{12}$/);
      const bridge = await ipLink(`nsl-${name}`);
      assert.ok(bridge, "bridge exists");
      assert.equal(bridge.linkinfo?.info_kind, "bridge");
      assert.equal(bridge.mtu, 1400);
      const addrs = (await ipAddrs(`nsl-${name}`)).map((a) => `${a.local}/${a.prefixlen}`);
      assert.ok(addrs.includes("198.51.100.254/24"), String(addrs));
      assert.ok(addrs.includes("2001:db8:1::1/64"), String(addrs));

      const ls = await nslinkJson<
        { Name: string; Id: string; Subnet: string; SubnetIPv6: string; Containers: number }[]
      >(
        state,
        "network",
        "ls",
      );
      assert.deepEqual(ls.map((n) => [n.Name, n.Id, n.Subnet, n.SubnetIPv6, n.Containers]), [
        [name, id, "198.51.100.0/24", "2001:db8:1::/64", 0],
      ]);
      const table = await nslink(state, "network", "ls");
      assert.match(
        table.stdout,
        /^NETWORK ID\s+NAME\s+DRIVER\s+SUBNET\s+IPV6 SUBNET\s+CONTAINERS$/m,
      );
      assert.match(
        table.stdout,
        new RegExp(`^${id}\\s+${name}\\s+bridge\\s+198\\.51\\.100\\.0/24`, "m"),
      );

      const [info] = await nslinkJson<Inspect[]>(state, "network", "inspect", name);
      assert.equal(info.Name, name);
      assert.equal(info.Id, id);
      assert.equal(info.Driver, "bridge");
      assert.equal(info.EnableIPv6, true);
      assert.deepEqual(info.IPAM.Config, [
        { Subnet: "198.51.100.0/24", Gateway: "198.51.100.254" },
        { Subnet: "2001:db8:1::/64", Gateway: "2001:db8:1::1" },
      ]);
      assert.equal(info.Options.bridgeName, `nsl-${name}`);
      assert.deepEqual(info.Containers, {});

      const rm = await nslink(state, "network", "rm", name);
      assert.equal(rm.code, 0, rm.stderr);
      assert.equal(rm.stdout, `${name}\n`);
      assert.equal(await ipLink(`nsl-${name}`), undefined);
      assert.deepEqual(await nslinkJson(state, "network", "ls"), []);
    });
  });

  it("connects containers by --netns and --pid, pinging over IPv4 and IPv6; disconnect removes them", async () => {
    const state = tempStateDir();
    const name = `${P}n2`;
    const ns1 = `${P}c1`;
    await withCleanup(async (c) => {
      c.link(`nsl-${name}`);
      c.netns(ns1);
      // A process in a namespace of its own, for --pid.
      const sleeper = spawn("unshare", ["--net", "sleep", "60"], { stdio: "ignore" });
      c.defer("sleeper", () => void sleeper.kill("SIGKILL"));
      const pid = String(sleeper.pid);
      assert.equal(
        (await nslink(
          state,
          "network",
          "create",
          "--subnet",
          "203.0.113.0/24",
          "--ipv6",
          "--subnet",
          "2001:db8:2::/64",
          name,
        )).code,
        0,
      );
      const add = await nslink(state, "netns", "add", ns1);
      assert.equal(add.code, 0, add.stderr);
      assert.equal(add.stdout, `/run/netns/${ns1}\n`);
      assert.ok((await ipNetnsNames()).includes(ns1));

      const r1 = await nslink(state, "network", "connect", name, "c1", "--netns", ns1);
      assert.equal(r1.code, 0, r1.stderr);
      // Wait until the sleeper is inside its own namespace.
      const own = readlinkSync("/proc/self/ns/net");
      for (let i = 0; i < 100 && readlinkSync(`/proc/${pid}/ns/net`) === own; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const r2 = await nslink(
        state,
        "network",
        "connect",
        name,
        "c2",
        "--pid",
        pid,
        "--ip",
        "203.0.113.77",
        "--ip6",
        "2001:db8:2::77",
      );
      assert.equal(r2.code, 0, r2.stderr);

      const [info] = await nslinkJson<Inspect[]>(state, "network", "inspect", name);
      const { c1, c2 } = info.Containers;
      assert.equal(c1.Netns, `/run/netns/${ns1}`);
      assert.equal(c2.Netns, `/proc/${pid}/ns/net`);
      assert.equal(c2.IPv4Address, "203.0.113.77/24");
      assert.equal(c2.IPv6Address, "2001:db8:2::77/64");
      // The kernel agrees with inspect, inside each namespace.
      for (const ep of [c1, c2]) {
        const inside = await ipJsonAt<
          {
            ifname: string;
            address: string;
            addr_info: { local: string; prefixlen: number; scope: string }[];
          }[]
        >(ep.Netns, ["addr", "show", "dev", ep.Interface]);
        assert.equal(inside[0].ifname, "eth0");
        assert.equal(inside[0].address, ep.MacAddress);
        const have = inside[0].addr_info.filter((a) => a.scope === "global").map((a) =>
          `${a.local}/${a.prefixlen}`
        );
        assert.deepEqual(have.sort(), [ep.IPv4Address, ep.IPv6Address].sort());
        const host = await ipLink(ep.HostInterface);
        assert.ok(host?.master === `nsl-${name}`, `host end ${ep.HostInterface} on the bridge`);
      }
      const routes = await ipRoutes(4, ns1);
      assert.ok(routes.some((r) => r.dst === "default" && r.gateway === "203.0.113.1"));
      await assertPing(`/run/netns/${ns1}`, "203.0.113.77");
      await assertPing(`/run/netns/${ns1}`, "2001:db8:2::77");

      const ls = await nslinkJson<{ name: string; networks: string[] }[]>(state, "netns", "ls");
      assert.deepEqual(ls.find((n) => n.name === ns1)?.networks, [`${name}/c1`]);

      // rm refuses a network in use, and changes nothing.
      const busy = await nslink(state, "network", "rm", name);
      assert.equal(busy.code, 1);
      oneLineError(busy);
      assert.match(busy.stderr, /has connected containers \(c1, c2\)/);
      assert.ok(await ipLink(`nsl-${name}`));

      for (const ep of ["c1", "c2"]) {
        const d = await nslink(state, "network", "disconnect", name, ep);
        assert.equal(d.code, 0, d.stderr);
      }
      assert.equal(
        (await ipJson<unknown[]>(["-n", ns1, "link", "show", "eth0"]).catch(() => [])).length,
        0,
      );
      assert.equal(await ipLink(c1.HostInterface), undefined);
      assert.equal(await ipLink(c2.HostInterface), undefined);
      const again = await nslink(state, "network", "disconnect", name, "c1");
      assert.equal(again.code, 1);
      assert.match(again.stderr, /"c1" is not connected to network/);
      assert.equal((await nslink(state, "netns", "rm", ns1)).code, 0);
      assert.ok(!(await ipNetnsNames()).includes(ns1));
      assert.equal((await nslink(state, "network", "rm", name)).code, 0);
    });
  });

  it("fails cleanly on bad input: one line, exit 1 (2 for usage), nothing half-made", async () => {
    const state = tempStateDir();
    const name = `${P}n3`;
    const ns = `${P}c3`;
    await withCleanup(async (c) => {
      c.link(`nsl-${name}`);
      c.link(`nsl-${P}n4`);
      c.netns(ns);
      assert.equal(
        (await nslink(state, "network", "create", "--subnet", "198.51.100.0/24", name)).code,
        0,
      );
      assert.equal((await nslink(state, "netns", "add", ns)).code, 0);
      const links = async () =>
        (await ipJson<IpLink[]>(["link", "show"])).map((l) => l.ifname).sort();
      const linksBefore = await links();
      const files = () =>
        readdirSync(state, { recursive: true }).map(String).filter((f) => f.endsWith(".json"))
          .sort();
      const filesBefore = files();

      const cases: [string[], number, RegExp][] = [
        [["network", "inspect", "nope"], 1, /Network "nope" does not exist/],
        [["network", "connect", "nope", "x", "--netns", ns], 1, /Network "nope" does not exist/],
        [
          ["network", "create", "--subnet", "198.51.100.128/25", `${P}n4`],
          1,
          /overlaps "198\.51\.100\.0\/24"/,
        ],
        [["network", "create", name], 1, /already exists/],
        [
          [
            "network",
            "create",
            "--subnet",
            "198.51.100.0/24",
            "--gateway",
            "203.0.113.1",
            `${P}n4`,
          ],
          1,
          /./,
        ],
        [["network", "create", "-d", "overlay", `${P}n4`], 1, /overlay/],
        [["network", "connect", name, "x", "--netns", `/run/netns/${P}missing`], 1, /missing/],
        [
          ["network", "connect", name, "x", "--netns", ns, "--ip", "203.0.113.9"],
          1,
          /203\.0\.113\.9/,
        ],
        [
          ["network", "connect", name, "x", "--netns", ns, "-p", "80:80:80:80"],
          2,
          /Invalid port mapping/,
        ],
        [["network", "connect", name, "bad name!", "--netns", ns], 1, /Invalid endpoint name/],
        [["network", "disconnect", name, "ghost"], 1, /not connected/],
        [["network", "rm", "nope"], 1, /does not exist/],
        [["netns", "add", ns], 1, /exists/],
        [["netns", "rm", `${P}missing`], 1, /no such namespace/],
        [["port", "ghost"], 1, /not connected to any network/],
      ];
      for (const [argv, code, re] of cases) {
        const r = await nslink(state, ...argv);
        assert.equal(r.code, code, `${argv.join(" ")}: ${r.stderr}`);
        oneLineError(r);
        assert.match(r.stderr, re, argv.join(" "));
        assert.equal(r.stdout, "", argv.join(" "));
      }
      assert.equal((await nslink(state, "network", "rm", "-f", "nope")).code, 0);
      // A connect that fails half-way (the address is taken) leaves no veth and no endpoint.
      assert.equal(
        (await nslink(
          state,
          "network",
          "connect",
          name,
          "a",
          "--netns",
          ns,
          "--ip",
          "198.51.100.9",
        )).code,
        0,
      );
      const dup = await nslink(
        state,
        "network",
        "connect",
        name,
        "b",
        "--netns",
        ns,
        "--ip",
        "198.51.100.9",
      );
      assert.equal(dup.code, 1);
      oneLineError(dup);
      const [info] = await nslinkJson<Inspect[]>(state, "network", "inspect", name);
      assert.deepEqual(Object.keys(info.Containers), ["a"]);
      assert.equal((await nslink(state, "network", "disconnect", name, "a")).code, 0);
      assert.deepEqual(await links(), linksBefore);
      assert.deepEqual(files(), filesBefore);
      assert.equal((await nslink(state, "netns", "rm", ns)).code, 0);
      assert.equal((await nslink(state, "network", "rm", name)).code, 0);
      assert.ok(!existsSync(`/run/netns/${ns}`));
    });
  });
});

describe("nslink published ports", { skip: SKIP_ROOT }, () => {
  it("-p makes a container's server reachable from outside through the host; port, inspect, conflicts, disconnect", async () => {
    const state = tempStateDir();
    const name = `${P}n7`;
    const ns = `${P}c7`;
    const out = `${P}o7`;
    const www = mkdtempSync(join(tmpdir(), "nsl-www-"));
    writeFileSync(join(www, "index.html"), "hello-nslink\n");
    await withCleanup(async (c) => {
      c.defer("www", () => rmSync(www, { recursive: true, force: true }));
      c.link(`nsl-${name}`);
      c.link(`${P}oh`);
      c.netns(ns);
      c.netns(out);
      // The outside: a client namespace joined to the host by a veth.
      for (
        const cmd of [
          ["netns", "add", out],
          ["link", "add", `${P}oh`, "type", "veth", "peer", "name", "eth0", "netns", out],
          ["addr", "add", "203.0.113.1/24", "dev", `${P}oh`],
          ["link", "set", `${P}oh`, "up"],
          ["-n", out, "addr", "add", "203.0.113.2/24", "dev", "eth0"],
          ["-n", out, "link", "set", "eth0", "up"],
          ["-n", out, "link", "set", "lo", "up"],
          ["-n", out, "route", "add", "default", "via", "203.0.113.1"],
        ]
      ) assert.equal((await ip(cmd)).code, 0, cmd.join(" "));
      assert.equal(
        (await nslink(state, "network", "create", "--subnet", "198.51.100.0/24", name)).code,
        0,
      );
      assert.equal((await nslink(state, "netns", "add", ns)).code, 0);
      const r = await nslink(
        state,
        "network",
        "connect",
        name,
        "web",
        "--netns",
        ns,
        "-p",
        "8080:80",
        "-p",
        "5353:53/udp",
      );
      assert.equal(r.code, 0, r.stderr);
      const server = spawn("ip", [
        "netns",
        "exec",
        ns,
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        www,
      ], {
        stdio: "ignore",
      });
      c.defer("httpd", () => void server.kill("SIGKILL"));
      let body: string | undefined;
      for (let i = 0; i < 40 && body === undefined; i++) {
        body = await httpGet(out, "http://203.0.113.1:8080/");
        if (body === undefined) await sleep(50);
      }
      assert.equal(body, "hello-nslink\n");

      const port = await nslink(state, "port", "web");
      assert.equal(port.code, 0, port.stderr);
      assert.deepEqual(port.stdout.trim().split("\n").sort(), [
        "53/udp -> 0.0.0.0:5353",
        "80/tcp -> 0.0.0.0:8080",
      ]);
      const pj = await nslinkJson<
        { network: string; protocol: string; hostPort: number; port: number }[]
      >(state, "port", "web");
      assert.deepEqual(pj.map((b) => [b.network, b.protocol, b.hostPort, b.port]).sort(), [
        [name, "tcp", 8080, 80],
        [name, "udp", 5353, 53],
      ]);
      const [info] = await nslinkJson<Inspect[]>(state, "network", "inspect", name);
      assert.equal(info.Containers.web.Ports.length, 2);

      // The same host port again: refused, naming the holder; nothing half-made.
      const dup = await nslink(
        state,
        "network",
        "connect",
        name,
        "web2",
        "--netns",
        ns,
        "-p",
        "8080:80",
      );
      assert.equal(dup.code, 1);
      oneLineError(dup);
      assert.match(dup.stderr, /8080/);
      assert.match(dup.stderr, /web/);
      const [after] = await nslinkJson<Inspect[]>(state, "network", "inspect", name);
      assert.deepEqual(Object.keys(after.Containers), ["web"]);

      assert.equal((await nslink(state, "network", "disconnect", name, "web")).code, 0);
      const gone = await httpGet(out, "http://203.0.113.1:8080/", 1000);
      assert.equal(gone, undefined, "port still reachable after disconnect");
      assert.equal((await nslink(state, "netns", "rm", ns)).code, 0);
      assert.equal((await nslink(state, "network", "rm", name)).code, 0);
      const rules = await runProcess(["nft", "list", "ruleset"]);
      assert.equal(rules.code, 0, `nft list ruleset: ${rules.stderr}`);
      assert.doesNotMatch(
        rules.stdout,
        /table inet nslink/,
        "nslink's table outlived its last network",
      );
    });
  });

  it("--internal and -o icc=false/masquerade=false reach the network's configuration", async () => {
    const state = tempStateDir();
    const ns = `${P}c8`;
    await withCleanup(async (c) => {
      c.link(`nsl-${P}n8`);
      c.link(`nsl-${P}n9`);
      c.netns(ns);
      assert.equal(
        (await nslink(
          state,
          "network",
          "create",
          "--internal",
          "--subnet",
          "198.51.100.0/24",
          `${P}n8`,
        )).code,
        0,
      );
      const made = await nslink(
        state,
        "network",
        "create",
        "-o",
        "icc=false",
        "-o",
        "masquerade=false",
        "--subnet",
        "203.0.113.0/24",
        `${P}n9`,
      );
      assert.equal(made.code, 0, made.stderr);
      const [internal, quiet] = await nslinkJson<
        (Inspect & { Internal: boolean; Options: Record<string, unknown> })[]
      >(
        state,
        "network",
        "inspect",
        `${P}n8`,
        `${P}n9`,
      );
      assert.equal(internal.Internal, true);
      assert.equal(quiet.Options.icc, false);
      assert.equal(quiet.Options.masquerade, false);
      assert.equal((await nslink(state, "netns", "add", ns)).code, 0);
      const refused = await nslink(
        state,
        "network",
        "connect",
        `${P}n8`,
        "x",
        "--netns",
        ns,
        "-p",
        "8081:80",
      );
      assert.equal(refused.code, 1);
      oneLineError(refused);
      assert.equal((await nslink(state, "netns", "rm", ns)).code, 0);
      assert.equal((await nslink(state, "network", "rm", `${P}n8`, `${P}n9`)).code, 0);
    });
  });
});

describe("nslink gc", { skip: SKIP_ROOT }, () => {
  it("reports with --dry-run, then removes, an endpoint whose namespace was deleted without disconnect", async () => {
    const state = tempStateDir();
    const name = `${P}n6`;
    const ns = `${P}c6`;
    await withCleanup(async (c) => {
      c.link(`nsl-${name}`);
      c.netns(ns);
      assert.equal(
        (await nslink(state, "network", "create", "--subnet", "203.0.113.0/24", name)).code,
        0,
      );
      assert.equal((await nslink(state, "netns", "add", ns)).code, 0);
      assert.equal(
        (await nslink(state, "network", "connect", name, "lost", "--netns", ns)).code,
        0,
      );
      // The container dies without a disconnect: its namespace goes, the record stays.
      assert.equal((await nslink(state, "netns", "rm", ns)).code, 0);
      // The kernel removes the namespace's veth pair asynchronously: wait until it has.
      assert.ok(
        await waitFor(async () => (await bridgePorts(`nsl-${name}`)).length === 0, 10_000),
        "the dead container's veth is still on the bridge after 10 s",
      );
      const dry = await nslinkJson<{ dryRun: boolean; endpoints: string[] }>(
        state,
        "gc",
        "--dry-run",
      );
      assert.equal(dry.dryRun, true);
      assert.equal(dry.endpoints.length, 1, JSON.stringify(dry));
      assert.match(dry.endpoints[0], new RegExp(`^${name}/lost`));
      const still = await nslinkJson<Inspect[]>(state, "network", "inspect", name);
      assert.deepEqual(Object.keys(still[0].Containers), ["lost"]);
      const done = await nslink(state, "gc");
      assert.equal(done.code, 0, done.stderr);
      assert.match(done.stdout, new RegExp(`removed endpoint: ${name}/lost`));
      const [after] = await nslinkJson<Inspect[]>(state, "network", "inspect", name);
      assert.deepEqual(after.Containers, {});
      assert.equal((await nslink(state, "gc")).stdout, "nothing to collect\n");
      assert.equal((await nslink(state, "network", "rm", name)).code, 0);
    });
  });
});

describe("nslink events", { skip: SKIP_ROOT }, () => {
  it("prints link and address events as they happen, in order, as lines or JSON", async () => {
    const br = `${P}ev`;
    for (const format of ["table", "json"]) {
      await withCleanup(async (c) => {
        c.link(br);
        const argv = nslinkArgv();
        const child = spawn(argv[0], [
          ...argv.slice(1),
          "events",
          "--filter",
          "link,address",
          ...(format === "json" ? ["--format", "json"] : []),
        ], { stdio: ["ignore", "pipe", "pipe"] });
        const closed = new Promise((r) => child.on("close", r));
        c.defer("events process", async () => {
          child.kill("SIGKILL");
          await closed;
        });
        let out = "";
        let err = "";
        child.stdout.setEncoding("utf8");
        child.stderr.setEncoding("utf8");
        child.stdout.on("data", (d: string) => (out += d));
        child.stderr.on("data", (d: string) => (err += d));
        for (let i = 0; i < 500 && !/listening/.test(err); i++) await sleep(10);
        assert.match(err, /^nslink: listening for link, address events/);
        for (
          const cmd of [
            ["link", "add", br, "type", "bridge"],
            ["addr", "add", "198.51.100.9/24", "dev", br],
            ["link", "del", br],
          ]
        ) {
          assert.equal((await ip(cmd)).code, 0);
        }
        const done = () =>
          format === "json"
            ? out.split("\n").some((l) => l.includes('"del"') && l.includes(`"${br}"`))
            : new RegExp(`^link del ${br} `, "m").test(out);
        for (let i = 0; i < 500 && !done(); i++) await sleep(10);
        if (format === "json") {
          const events = out.trim().split("\n").map((l) => JSON.parse(l)).filter((e) =>
            e.link?.name === br || e.address?.cidr === "198.51.100.9/24"
          );
          const kinds = events.map((e) => `${e.type} ${e.action}`);
          assert.equal(kinds[0], "link new");
          assert.ok(kinds.indexOf("address new") > 0, kinds.join(", "));
          assert.equal(kinds.at(-1), "link del");
        } else {
          const lines = out.split("\n");
          const first = lines.findIndex((l) => l.startsWith(`link new ${br} `));
          const addr = lines.findIndex((l) => l.startsWith("address new 198.51.100.9/24 on index"));
          const gone = lines.findIndex((l) => l.startsWith(`link del ${br} `));
          assert.ok(first >= 0 && addr > first && gone > addr, out);
          assert.match(lines[first], /\(index \d+, bridge, down, mtu 1500/);
        }
      });
    }
  });

  it("stops after --count events; refuses unknown groups (exit 2)", async () => {
    const br = `${P}ec`;
    await withCleanup(async (c) => {
      c.link(br);
      const argv = nslinkArgv();
      const child = spawn(
        argv[0],
        [...argv.slice(1), "events", "--filter", "link", "--count", "1"],
        {
          stdio: ["ignore", "pipe", "pipe"],
        },
      );
      const closed = new Promise<number>((r) => child.on("close", (code) => r(code ?? -1)));
      c.defer("events process", () => void child.kill("SIGKILL"));
      let err = "";
      child.stderr.setEncoding("utf8");
      child.stderr.on("data", (d: string) => (err += d));
      for (let i = 0; i < 500 && !/listening/.test(err); i++) await sleep(10);
      assert.equal((await ip(["link", "add", br, "type", "bridge"])).code, 0);
      assert.equal(await closed, 0);
      const bad = await nslink("/nonexistent", "events", "--filter", "link,frobs");
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /Unknown event group "frobs"/);
    });
  });
});

describe("nslink port and version", { skip: SKIP_ROOT }, () => {
  it("port lists nothing for a container without published ports", async () => {
    const state = tempStateDir();
    const name = `${P}n5`;
    const ns = `${P}c5`;
    await withCleanup(async (c) => {
      c.link(`nsl-${name}`);
      c.netns(ns);
      await nslink(state, "network", "create", "--subnet", "203.0.113.0/24", name);
      await nslink(state, "netns", "add", ns);
      assert.equal((await nslink(state, "network", "connect", name, "web", "--netns", ns)).code, 0);
      const r = await nslink(state, "port", "web");
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout, "");
      assert.deepEqual(await nslinkJson(state, "port", "web"), []);
      await nslink(state, "network", "disconnect", name, "web");
      await nslink(state, "netns", "rm", ns);
      await nslink(state, "network", "rm", name);
    });
  });

  it("version runs without a state directory", async () => {
    const r = await nslink("/nonexistent", "version");
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^nslink \d/);
  });

  // Registered only with NSLINK_BIN (the compiled dist/nslink), which scripts/test-all.sh sets for
  // its compiled suite: not a skip in the others, where there is no compiled file to test.
  if (process.env.NSLINK_BIN) {
    it("the compiled file runs alone: copied elsewhere, no Deno, Bun or checkout on PATH", async () => {
      const dir = mkdtempSync(join(tmpdir(), "nsl-bin-"));
      try {
        const bin = join(dir, "nslink");
        copyFileSync(process.env.NSLINK_BIN!, bin);
        chmodSync(bin, 0o755);
        const env = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", NSLINK_STATE_DIR: join(dir, "state") };
        const v = await runProcess([bin, "version"], { env });
        assert.equal(v.code, 0, v.stderr);
        assert.match(v.stdout, /\(bun [\d.]+, compiled\)/);
        const ls = await runProcess([bin, "network", "ls", "--format", "json"], { env });
        assert.equal(ls.code, 0, ls.stderr);
        assert.deepEqual(JSON.parse(ls.stdout), []);
        const cniv = await runProcess([bin], { env: { ...env, CNI_COMMAND: "VERSION" } });
        assert.equal(JSON.parse(cniv.stdout).cniVersion, "1.1.0");
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
