/**
 * Privileged tests of `nslink` as a CNI plugin, exec'd as a runtime does (environment, config on
 * stdin, result or error JSON on stdout), checked against the kernel with `ip -j`: ADD's result
 * shape, the network made on first ADD and removed with its last DEL, idempotent DEL, ADD after
 * a crashed ADD, CHECK finding what is missing, GC, STATUS, concurrent ADDs, and chaining with
 * the standard `tuning` and `bandwidth` plugins (containernetworking-plugins, /usr/lib/cni).
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { spawn } from "node:child_process";
import process from "node:process";
import { ip, ipJson, type IpLink, ipLink, SKIP_ROOT, sleep, withCleanup } from "./_helpers.ts";
import { setUpNetworkTestFile, tempStateDir, waitFor } from "./_network_helpers.ts";
import { cni, ipJsonAt, nslink, nslinkArgv, nslinkJson, runProcess } from "./_cli_helpers.ts";
import { addNetns, cniConf as conf } from "./_cni_setup.ts";

const { prefix: P } = setUpNetworkTestFile();
const KILL_WORKER = join(dirname(fileURLToPath(import.meta.url)), "_cni_kill_worker.ts");
const HAVE_PLUGINS = existsSync("/usr/lib/cni/tuning") && existsSync("/usr/lib/cni/bandwidth");

interface Result {
  cniVersion: string;
  interfaces: { name: string; mac: string; sandbox?: string; mtu?: number }[];
  ips: { address: string; gateway: string; interface: number; version?: string }[];
  routes: { dst: string; gw: string }[];
  dns: Record<string, unknown>;
}

async function globalAddrs(netns: string, dev: string): Promise<string[]> {
  const [link] = await ipJsonAt<
    { addr_info: { local: string; prefixlen: number; scope: string }[] }[]
  >(
    netns,
    ["addr", "show", "dev", dev],
  );
  return link.addr_info.filter((a) => a.scope === "global").map((a) => `${a.local}/${a.prefixlen}`)
    .sort();
}

function stateFiles(state: string): string[] {
  return readdirSync(state, { recursive: true }).map(String).filter((f) => f.endsWith(".json"))
    .sort();
}

describe("nslink CNI plugin", { skip: SKIP_ROOT }, () => {
  it("ADD creates the network, configures the container and returns the spec's result", async () => {
    const state = tempStateDir();
    const net = `${P}a`;
    await withCleanup(async (c) => {
      c.link(`nsl-${net}`);
      const netns = await addNetns(c, `${P}a1`);
      const env = { containerId: `${P}0123456789abcdef`, netns, stateDir: state };
      const r = await cni("ADD", conf(net), env);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      const res = r.json as unknown as Result;
      assert.deepEqual(Object.keys(res).sort(), [
        "cniVersion",
        "dns",
        "interfaces",
        "ips",
        "routes",
      ]);
      assert.equal(res.cniVersion, "1.0.0");
      const [bridge, hostEnd, inside] = res.interfaces;
      assert.equal(bridge.name, `nsl-${net}`);
      assert.equal(bridge.sandbox, undefined);
      assert.match(hostEnd.name, /^nslh[0-9a-f]{8}$/);
      assert.equal(hostEnd.sandbox, undefined);
      assert.equal(inside.name, "eth0");
      assert.equal(inside.sandbox, netns);
      assert.equal("mtu" in inside, false, "mtu is a 1.1.0 field");
      assert.deepEqual(res.ips, [
        { address: "198.51.100.2/24", gateway: "198.51.100.1", interface: 2 },
        { address: "2001:db8:1::2/64", gateway: "2001:db8:1::1", interface: 2 },
      ]);
      assert.deepEqual(res.routes, [
        { dst: "0.0.0.0/0", gw: "198.51.100.1" },
        { dst: "::/0", gw: "2001:db8:1::1" },
      ]);
      // The kernel: the container's eth0 has that MAC and those addresses and routes; the host
      // end is on the bridge; every MAC in the result is the kernel's.
      const [eth0] = await ipJsonAt<{ address: string; operstate: string }[]>(netns, [
        "link",
        "show",
        "eth0",
      ]);
      assert.equal(eth0.address, inside.mac);
      assert.deepEqual(await globalAddrs(netns, "eth0"), ["198.51.100.2/24", "2001:db8:1::2/64"]);
      const r4 = await ipJsonAt<{ dst: string; gateway?: string }[]>(netns, ["-4", "route"]);
      assert.ok(r4.some((x) => x.dst === "default" && x.gateway === "198.51.100.1"));
      const r6 = await ipJsonAt<{ dst: string; gateway?: string }[]>(netns, ["-6", "route"]);
      assert.ok(r6.some((x) => x.dst === "default" && x.gateway === "2001:db8:1::1"));
      const host = await ipLink(hostEnd.name);
      assert.equal(host?.master, bridge.name);
      assert.equal(host?.address, hostEnd.mac);
      assert.equal((await ipLink(bridge.name))?.address, bridge.mac);
      // The CLI sees the attachment.
      const [info] = await nslinkJson<
        { Containers: Record<string, { IPv4Address: string; Netns: string }> }[]
      >(
        state,
        "network",
        "inspect",
        net,
      );
      const eps = Object.values(info.Containers);
      assert.equal(eps.length, 1);
      assert.equal(eps[0].IPv4Address, "198.51.100.2/24");
      assert.equal(eps[0].Netns, netns);

      const d = await cni("DEL", conf(net), env);
      assert.equal(d.code, 0, d.stdout);
      assert.equal(d.stdout, "");
      assert.equal(await ipLink(hostEnd.name), undefined);
      assert.equal(
        await ipLink(bridge.name),
        undefined,
        "the network ADD made goes with its last DEL",
      );
      assert.deepEqual(stateFiles(state), []);
    });
  });

  it("writes 0.4.0 results with ip versions, 1.1.0 with interface MTUs", async () => {
    const state = tempStateDir();
    const net = `${P}v`;
    await withCleanup(async (c) => {
      c.link(`nsl-${net}`);
      const netns = await addNetns(c, `${P}v1`);
      for (
        const [version, check] of [
          ["0.4.0", (r: Result) => assert.deepEqual(r.ips.map((i) => i.version), ["4", "6"])],
          ["1.1.0", (r: Result) => assert.equal(r.interfaces[2].mtu, 1400)],
        ] as const
      ) {
        const env = {
          containerId: `${P}v${version.replaceAll(".", "")}`,
          netns,
          stateDir: state,
          ifname: `e${version[0]}`,
        };
        const r = await cni("ADD", conf(net, { cniVersion: version, mtu: 1400 }), env);
        assert.equal(r.code, 0, r.stdout);
        assert.equal(r.json?.cniVersion, version);
        check(r.json as unknown as Result);
        assert.equal((await cni("DEL", conf(net, { cniVersion: version }), env)).code, 0);
      }
    });
  });

  it("takes static addresses from runtimeConfig.ips (podman --ip) and CNI_ARGS IP=", async () => {
    const state = tempStateDir();
    const net = `${P}s`;
    await withCleanup(async (c) => {
      c.link(`nsl-${net}`);
      const ns1 = await addNetns(c, `${P}s1`);
      const ns2 = await addNetns(c, `${P}s2`);
      const a = { containerId: `${P}static1`, netns: ns1, stateDir: state };
      const b = {
        containerId: `${P}static2`,
        netns: ns2,
        stateDir: state,
        cniArgs: "IgnoreUnknown=1;IP=198.51.100.77",
      };
      const r1 = await cni(
        "ADD",
        conf(net, { runtimeConfig: { ips: ["198.51.100.66/24", "2001:db8:1::66"] } }),
        a,
      );
      assert.equal(r1.code, 0, r1.stdout);
      assert.deepEqual(await globalAddrs(ns1, "eth0"), ["198.51.100.66/24", "2001:db8:1::66/64"]);
      const r2 = await cni("ADD", conf(net), b);
      assert.equal(r2.code, 0, r2.stdout);
      assert.equal((r2.json as unknown as Result).ips[0].address, "198.51.100.77/24");
      const taken = await cni("ADD", conf(net, { runtimeConfig: { ips: ["198.51.100.66"] } }), {
        ...a,
        containerId: `${P}static3`,
        netns: ns2,
        ifname: "eth1",
      });
      assert.equal(taken.code, 1);
      assert.match(String(taken.json?.msg), /198\.51\.100\.66/);
      assert.equal((await cni("DEL", conf(net), a)).code, 0);
      assert.equal((await cni("DEL", conf(net), b)).code, 0);
      assert.equal(await ipLink(`nsl-${net}`), undefined);
    });
  });

  it("publishes runtimeConfig.portMappings (portMappings capability); DEL unpublishes them", async () => {
    const state = tempStateDir();
    const net = `${P}q`;
    await withCleanup(async (c) => {
      c.link(`nsl-${net}`);
      const netns = await addNetns(c, `${P}q1`);
      const env = { containerId: `${P}ports`, netns, stateDir: state };
      const cf = conf(net, {
        capabilities: { portMappings: true },
        runtimeConfig: {
          portMappings: [
            { hostPort: 8080, containerPort: 80, protocol: "tcp" },
            { hostPort: 5353, containerPort: 53, protocol: "udp", hostIP: "198.51.100.1" },
          ],
        },
      });
      const r = await cni("ADD", cf, env);
      assert.equal(r.code, 0, r.stdout);
      const [info] = await nslinkJson<
        {
          Containers: Record<
            string,
            { Ports: { protocol: string; hostIP: string; hostPort: number; port: number }[] }
          >;
        }[]
      >(state, "network", "inspect", net);
      const ports = Object.values(info.Containers)[0].Ports.map((
        p,
      ) => [p.protocol, p.hostIP, p.hostPort, p.port]);
      assert.deepEqual(ports.sort(), [["tcp", "", 8080, 80], ["udp", "198.51.100.1", 5353, 53]]);
      const rules = await runProcess(["nft", "list", "table", "inet", "nslink"]);
      assert.equal(rules.code, 0, `nft list table: ${rules.stderr}`);
      assert.match(rules.stdout, /8080/);
      // A second container asking for the same host port is refused; nothing of it stays.
      const ns2 = await addNetns(c, `${P}q2`);
      const dup = await cni("ADD", cf, { ...env, containerId: `${P}ports2`, netns: ns2 });
      assert.equal(dup.code, 1);
      assert.match(String(dup.json?.msg), /8080/);
      assert.deepEqual((await ipJsonAt<IpLink[]>(ns2, ["link"])).map((l) => l.ifname), ["lo"]);
      const bad = await cni(
        "ADD",
        conf(net, {
          runtimeConfig: { portMappings: [{ hostPort: 1, containerPort: 2, protocol: "icmp" }] },
        }),
        {
          ...env,
          containerId: `${P}ports3`,
          netns: ns2,
        },
      );
      assert.equal(bad.json?.code, 7);
      assert.equal((await cni("DEL", cf, env)).code, 0);
      const after = await runProcess(["nft", "list", "ruleset"]);
      assert.equal(after.code, 0, `nft list ruleset: ${after.stderr}`);
      assert.doesNotMatch(after.stdout, /8080/);
    });
  });

  it("DEL succeeds when the namespace, the attachment or the network is already gone", async () => {
    const state = tempStateDir();
    const net = `${P}d`;
    await withCleanup(async (c) => {
      c.link(`nsl-${net}`);
      const netns = await addNetns(c, `${P}d1`);
      const env = { containerId: `${P}del1`, netns, stateDir: state };
      // Never added, network unknown: fine.
      assert.equal((await cni("DEL", conf(net), env)).code, 0);
      const r = await cni("ADD", conf(net), env);
      assert.equal(r.code, 0, r.stdout);
      const hostEnd = (r.json as unknown as Result).interfaces[1].name;
      // The namespace goes first (the runtime removed it), then DEL, twice.
      assert.equal((await ip(["netns", "del", `${P}d1`])).code, 0);
      const d1 = await cni("DEL", conf(net), env);
      assert.equal(d1.code, 0, d1.stdout);
      const d2 = await cni("DEL", conf(net), { ...env, netns: "" });
      assert.equal(d2.code, 0, d2.stdout);
      for (let i = 0; i < 100 && await ipLink(hostEnd); i++) await sleep(20);
      assert.equal(await ipLink(hostEnd), undefined);
      assert.equal(await ipLink(`nsl-${net}`), undefined);
      assert.deepEqual(stateFiles(state), []);
    });
  });

  it("recovers: a repeated ADD, and ADDs after ones killed midway, succeed with the same address", async () => {
    const state = tempStateDir();
    const net = `${P}r`;
    await withCleanup(async (c) => {
      c.link(`nsl-${net}`);
      const netns = await addNetns(c, `${P}r1`);
      const env = { containerId: `${P}crash`, netns, stateDir: state };
      const first = await cni("ADD", conf(net), env);
      assert.equal(first.code, 0, first.stdout);
      const again = await cni("ADD", conf(net), env);
      assert.equal(again.code, 0, again.stdout);
      assert.deepEqual(
        (again.json as unknown as Result).ips,
        (first.json as unknown as Result).ips,
      );
      // Killed inside ADD at each step (the worker writes a marker there and waits to be
      // killed: the kill provably lands mid-ADD), then ADD again: always recovers.
      const points = [
        "createEndpoint:after",
        "reserve:after",
        "add:before",
        "add:after",
        "batch:before",
        "batch:after",
        "writeEndpoint:before",
        "writeEndpoint:after",
      ];
      for (const [i, point] of points.entries()) {
        const marker = `${state}.marker-${i}`;
        c.defer(`rm ${marker}`, () => {
          rmSync(marker, { force: true });
          rmSync(`${marker}.tmp`, { force: true });
        });
        const runtime = "Bun" in globalThis ? [process.execPath] : [process.execPath, "run", "-A"];
        const child = spawn(runtime[0], [...runtime.slice(1), KILL_WORKER, point, marker], {
          env: {
            ...Object.fromEntries(
              Object.entries(process.env).filter(([, v]) => v !== undefined),
            ) as Record<string, string>,
            CNI_COMMAND: "ADD",
            CNI_CONTAINERID: env.containerId,
            CNI_NETNS: netns,
            CNI_IFNAME: "eth0",
            CNI_PATH: "/usr/lib/cni",
            NSLINK_STATE_DIR: state,
          },
          stdio: ["pipe", "pipe", "pipe"],
        });
        let out = "";
        child.stdout.on("data", (d) => (out += d));
        child.stderr.on("data", (d) => (out += d));
        let exited = false;
        const closed = new Promise<string | null>((r) =>
          child.on("close", (_code, signal) => {
            exited = true;
            r(signal);
          })
        );
        child.stdin.end(JSON.stringify(conf(net)));
        const atStep = await waitFor(() => existsSync(marker) || exited, 30_000);
        assert.ok(atStep && existsSync(marker), `ADD never reached ${point}: ${out}`);
        child.kill("SIGKILL");
        assert.equal(await closed, "SIGKILL", `${point}: ${out}`);
        assert.equal(readFileSync(marker, "utf8"), point);
        const r = await cni("ADD", conf(net), env);
        assert.equal(r.code, 0, `after a kill at ${point}: ${r.stdout}`);
        assert.deepEqual(await globalAddrs(netns, "eth0"), ["198.51.100.2/24", "2001:db8:1::2/64"]);
      }
      assert.equal((await cni("DEL", conf(net), env)).code, 0);
      assert.deepEqual((await ipJsonAt<IpLink[]>(netns, ["link"])).map((l) => l.ifname), ["lo"]);
      assert.equal(await ipLink(`nsl-${net}`), undefined);
    });
  });

  it("CHECK passes after ADD and reports a missing address, route or interface", async () => {
    const state = tempStateDir();
    const net = `${P}k`;
    await withCleanup(async (c) => {
      c.link(`nsl-${net}`);
      const netns = await addNetns(c, `${P}k1`);
      const env = { containerId: `${P}check`, netns, stateDir: state };
      const r = await cni("ADD", conf(net), env);
      assert.equal(r.code, 0, r.stdout);
      const withPrev = conf(net, { prevResult: r.json });
      const ok = await cni("CHECK", withPrev, env);
      assert.equal(ok.code, 0, ok.stdout);
      assert.equal(ok.stdout, "");
      const nsName = `${P}k1`;
      const breakages: [string[], RegExp][] = [
        [
          ["-n", nsName, "route", "del", "default", "via", "198.51.100.1"],
          /route default via 198\.51\.100\.1 is missing/,
        ],
        [
          ["-n", nsName, "addr", "del", "2001:db8:1::2/64", "dev", "eth0"],
          /address 2001:db8:1::2\/64 is missing/,
        ],
        [["-n", nsName, "link", "del", "eth0"], /interface "eth0" .* is missing/],
      ];
      for (const [cmd, re] of breakages) {
        assert.equal((await ip(cmd)).code, 0);
        const bad = await cni("CHECK", withPrev, env);
        assert.equal(bad.code, 1);
        assert.match(String(bad.json?.msg), re);
        assert.equal(typeof bad.json?.code, "number");
        assert.equal((await cni("ADD", conf(net), env)).code, 0, "ADD repairs it");
        assert.equal((await cni("CHECK", withPrev, env)).code, 0);
      }
      const unknown = await cni("CHECK", withPrev, { ...env, containerId: `${P}other` });
      assert.equal(unknown.json?.code, 3);
      assert.equal((await cni("DEL", conf(net), env)).code, 0);
    });
  });

  it("answers invalid configurations and environments with the spec's codes", async () => {
    const state = tempStateDir();
    const net = `${P}e`;
    await withCleanup(async (c) => {
      c.link(`nsl-${net}`);
      c.link(`nsl-${P}e2`);
      const netns = await addNetns(c, `${P}e1`);
      const env = { containerId: `${P}err`, netns, stateDir: state };
      const cases: [unknown, Partial<typeof env>, number][] = [
        [{ ...conf(net), cniVersion: "0.2.0" }, {}, 1],
        [{ ...conf(net), subnet: "not-a-cidr" }, {}, 7],
        [{ ...conf(net), mtu: "big" }, {}, 7],
        [conf(net), { netns: "" }, 4],
        [conf(net), { containerId: "" }, 4],
      ];
      for (const [cf, e, code] of cases) {
        const r = await cni("ADD", cf, { ...env, ...e });
        assert.equal(r.code, 1, JSON.stringify(cf));
        assert.equal(r.json?.code, code, `${JSON.stringify(cf)}: ${r.stdout}`);
      }
      const missing = await cni("ADD", conf(net), { ...env, netns: `/run/netns/${P}none` });
      assert.equal(missing.code, 1);
      assert.match(String(missing.json?.msg), /CNI_NETNS/);
      // An existing network with another subnet: code 7, the network untouched.
      assert.equal((await cni("ADD", conf(net), env)).code, 0);
      const other = await cni("ADD", conf(net, { subnet: "203.0.113.0/24" }), {
        ...env,
        containerId: `${P}err2`,
      });
      assert.equal(other.json?.code, 7);
      assert.match(String(other.json?.msg), /exists with subnet "198\.51\.100\.0\/24"/);
      // An overlapping new network is refused before anything is made.
      const overlap = await cni("ADD", conf(`${P}e2`, { subnet: "198.51.100.0/25" }), {
        ...env,
        containerId: `${P}err3`,
      });
      assert.equal(overlap.code, 1);
      assert.equal(overlap.json?.code, 7);
      assert.equal(await ipLink(`nsl-${P}e2`), undefined);
      assert.equal((await cni("DEL", conf(net), env)).code, 0);
      assert.deepEqual(stateFiles(state), []);
    });
  });

  it("keeps a network made with `nslink network create` after the last DEL", async () => {
    const state = tempStateDir();
    const net = `${P}m`;
    await withCleanup(async (c) => {
      c.link(`nsl-${net}`);
      const netns = await addNetns(c, `${P}m1`);
      assert.equal(
        (await nslink(state, "network", "create", "--subnet", "203.0.113.0/24", net)).code,
        0,
      );
      const env = { containerId: `${P}manual`, netns, stateDir: state };
      const r = await cni("ADD", { cniVersion: "1.0.0", name: net, type: "nslink" }, env);
      assert.equal(r.code, 0, r.stdout);
      assert.equal((r.json as unknown as Result).ips[0].address, "203.0.113.2/24");
      assert.equal(
        (await cni("DEL", { cniVersion: "1.0.0", name: net, type: "nslink" }, env)).code,
        0,
      );
      assert.ok(await ipLink(`nsl-${net}`));
      assert.equal((await nslink(state, "network", "rm", net)).code, 0);
    });
  });

  it("GC removes attachments not in cni.dev/valid-attachments; STATUS answers", async () => {
    const state = tempStateDir();
    const net = `${P}g`;
    await withCleanup(async (c) => {
      c.link(`nsl-${net}`);
      const ns1 = await addNetns(c, `${P}g1`);
      const ns2 = await addNetns(c, `${P}g2`);
      const cf = conf(net, { cniVersion: "1.1.0" });
      const a = await cni("ADD", cf, { containerId: `${P}keep`, netns: ns1, stateDir: state });
      const b = await cni("ADD", cf, { containerId: `${P}stale`, netns: ns2, stateDir: state });
      assert.equal(a.code + b.code, 0);
      const staleHost = (b.json as unknown as Result).interfaces[1].name;
      const st = await cni("STATUS", cf, { stateDir: state });
      assert.equal(st.code, 0, st.stdout);
      assert.equal(st.stdout, "");
      const gc = await cni(
        "GC",
        { ...cf, "cni.dev/valid-attachments": [{ containerID: `${P}keep`, ifname: "eth0" }] },
        { stateDir: state },
      );
      assert.equal(gc.code, 0, gc.stdout);
      assert.equal(await ipLink(staleHost), undefined);
      assert.deepEqual(await globalAddrs(ns1, "eth0"), ["198.51.100.2/24", "2001:db8:1::2/64"]);
      assert.equal((await ipJsonAt<IpLink[]>(ns2, ["link"])).length, 1);
      // Nothing valid any more: GC removes the rest, and the network ADD made.
      assert.equal(
        (await cni("GC", { ...cf, "cni.dev/valid-attachments": [] }, { stateDir: state })).code,
        0,
      );
      assert.equal(await ipLink(`nsl-${net}`), undefined);
      assert.deepEqual(stateFiles(state), []);
    });
  });

  it("serves concurrent ADDs (the first ones racing to create the network), then concurrent DELs", async () => {
    const state = tempStateDir();
    const net = `${P}p`;
    await withCleanup(async (c) => {
      c.link(`nsl-${net}`);
      const n = 6;
      const paths = [];
      for (let i = 0; i < n; i++) paths.push(await addNetns(c, `${P}p${i}`));
      const adds = await Promise.all(
        paths.map((netns, i) =>
          cni("ADD", conf(net), { containerId: `${P}par${i}`, netns, stateDir: state })
        ),
      );
      for (const r of adds) assert.equal(r.code, 0, r.stdout + r.stderr);
      const v4 = adds.map((r) => (r.json as unknown as Result).ips[0].address);
      assert.equal(new Set(v4).size, n, `distinct addresses: ${v4}`);
      for (let i = 0; i < n; i++) assert.ok((await globalAddrs(paths[i], "eth0")).includes(v4[i]));
      const dels = await Promise.all(
        paths.map((netns, i) =>
          cni("DEL", conf(net), { containerId: `${P}par${i}`, netns, stateDir: state })
        ),
      );
      for (const r of dels) assert.equal(r.code, 0, r.stdout);
      assert.equal(await ipLink(`nsl-${net}`), undefined);
      assert.deepEqual(stateFiles(state), []);
    });
  });

  it("chains with tuning and bandwidth: prevResult passed on, DEL in reverse leaves nothing", {
    skip: !HAVE_PLUGINS && "containernetworking-plugins is not installed (/usr/lib/cni)",
  }, async () => {
    const state = tempStateDir();
    const net = `${P}t`;
    await withCleanup(async (c) => {
      c.link(`nsl-${net}`);
      const netns = await addNetns(c, `${P}t1`);
      const env = { containerId: `${P}chain`, netns, stateDir: state };
      const plugins: [string[], Record<string, unknown>][] = [
        [nslinkArgv(), {
          type: "nslink",
          subnet: "198.51.100.0/24",
          subnetIPv6: "2001:db8:1::/64",
        }],
        [["/usr/lib/cni/tuning"], {
          type: "tuning",
          sysctl: { "net.ipv4.conf.eth0.arp_notify": "1" },
          mtu: 1280,
        }],
        [["/usr/lib/cni/bandwidth"], {
          type: "bandwidth",
          ingressRate: 8000000,
          ingressBurst: 100000,
          egressRate: 8000000,
          egressBurst: 100000,
        }],
      ];
      let prev: Record<string, unknown> | undefined;
      for (const [argv, plugin] of plugins) {
        const r = await cni(
          "ADD",
          { cniVersion: "1.0.0", name: net, ...plugin, ...(prev ? { prevResult: prev } : {}) },
          env,
          argv,
        );
        assert.equal(r.code, 0, `${plugin.type}: ${r.stdout}${r.stderr}`);
        prev = r.json;
      }
      const res = prev as unknown as Result;
      assert.equal(res.interfaces[2].sandbox, netns);
      assert.equal(res.ips[0].address, "198.51.100.2/24");
      // tuning did its part inside, bandwidth on the host end (an ifb for ingress shaping).
      const [eth0] = await ipJsonAt<{ mtu: number }[]>(netns, ["link", "show", "eth0"]);
      assert.equal(eth0.mtu, 1280);
      const sysctl = await runProcess([
        "nsenter",
        `--net=${netns}`,
        "cat",
        "/proc/sys/net/ipv4/conf/eth0/arp_notify",
      ]);
      assert.equal(sysctl.stdout.trim(), "1");
      const tc = await runProcess(["tc", "-j", "qdisc", "show", "dev", res.interfaces[1].name]);
      assert.ok(
        (JSON.parse(tc.stdout) as { kind: string }[]).some((q) => q.kind === "tbf"),
        tc.stdout,
      );
      const ifbs = (await ipJson<IpLink[]>(["link", "show", "type", "ifb"])).filter((l) =>
        l.ifname.startsWith("bwp")
      );
      assert.equal(ifbs.length, 1);
      // CHECK through the chain, then DEL in reverse order with the final result.
      for (const [argv, plugin] of plugins) {
        const r = await cni(
          "CHECK",
          { cniVersion: "1.0.0", name: net, ...plugin, prevResult: prev },
          env,
          argv,
        );
        assert.equal(r.code, 0, `${plugin.type} CHECK: ${r.stdout}`);
      }
      for (const [argv, plugin] of [...plugins].reverse()) {
        const r = await cni(
          "DEL",
          { cniVersion: "1.0.0", name: net, ...plugin, prevResult: prev },
          env,
          argv,
        );
        assert.equal(r.code, 0, `${plugin.type} DEL: ${r.stdout}`);
      }
      assert.equal(
        (await ipJson<IpLink[]>(["link", "show", "type", "ifb"])).filter((l) =>
          l.ifname.startsWith("bwp")
        ).length,
        0,
      );
      assert.equal(await ipLink(res.interfaces[1].name), undefined);
      assert.equal(await ipLink(`nsl-${net}`), undefined);
    });
  });
});
