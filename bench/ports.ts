/**
 * Port publishing benchmark (issue 9), in one run, inside the throw-away namespace made by
 * `bench/run.sh` (which plays the host):
 *
 * 1. publishing one port: nslink `publish()`; one `nft add element` process (into a map of its
 *    own table, of the type of nslink's); the CNI `portmap` plugin (ADD); netavark (setup with
 *    one port mapping minus setup without);
 * 2. a container's setup with one published port: nslink fast path; CNI bridge + portmap;
 *    netavark;
 * 3. nslink's publish cost with 1, 100 and 1,000 ports already published (must stay flat);
 * 4. a new TCP connection through a published port with 1 and with 1,000 ports published.
 *
 * Medians of repeated runs. Prints a table and writes bench/out/ports.json and a result file
 * (bench/lib/results.ts) with every timed run.
 * Usage: deno run -A bench/ports.ts [--reps 30]
 *
 * @module
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { type Network, newNetwork, newNetworkNamespace } from "../mod.ts";
import { finishResult, startResult } from "./lib/results.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const DENO = `${ROOT}/node_modules/.bin/deno`;
const REPS = Number(Deno.args[Deno.args.indexOf("--reps") + 1] || 30);
const CNI = "/usr/lib/cni";
const NETAVARK = "/usr/lib/podman/netavark";
const STATE = "/run/nslbench/ports-state";
const OUT_NS = "pbout";
const HOST = "203.0.113.1";
const SUBNET = "203.0.113.128/26";
const CTR = "203.0.113.130";
/** The `nft` peer's own table (never nslink's: see section 1). */
const PEER_TABLE = "nslbpeer";

if (!existsSync("/run/nslbench/.private")) {
  console.error("bench/ports.ts: run it through bench/run.sh (a throw-away namespace)");
  Deno.exit(1);
}

function sh(cmd: string, args: string[], input?: string, env?: Record<string, string>): string {
  const r = spawnSync(cmd, args, {
    input,
    encoding: "utf8",
    env: env ? { ...Deno.env.toObject(), ...env } : undefined,
  });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr || r.stdout}`);
  return r.stdout;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

/** A peer's measurement, or why it could not be made (a missing tool, a failing plugin). */
async function peer(
  what: string,
  f: () => Promise<number> | number,
): Promise<number | string> {
  try {
    return await f();
  } catch (e) {
    const why = `skipped: ${(e as Error).message.split("\n")[0].slice(0, 120)}`;
    console.error(`bench/ports.ts: ${what} ${why}`);
    return why;
  }
}

/** Every timed run, ms, by the figure it makes (the result file's samples). */
const raw: Record<string, number[]> = {};

async function timeIt(
  key: string,
  reps: number,
  fn: (i: number) => unknown,
  after?: (i: number) => unknown,
) {
  const times: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn(i);
    times.push(performance.now() - t0);
    if (after) await after(i);
  }
  raw[key] = times.map((x) => Math.round(x * 1000) / 1000);
  return median(times);
}

const results: Record<string, number | string> = {};
const started = startResult("ports", { reps: REPS, connections: 300 });

// --- topology: the outside client, and one nslink network with a container ---
sh("ip", ["netns", "add", OUT_NS]);
sh("ip", ["link", "add", "pbx", "type", "veth", "peer", "name", "eth0", "netns", OUT_NS]);
sh("ip", ["addr", "add", `${HOST}/26`, "dev", "pbx"]);
sh("ip", ["link", "set", "pbx", "up"]);
sh("ip", ["-n", OUT_NS, "addr", "add", "203.0.113.2/26", "dev", "eth0"]);
sh("ip", ["-n", OUT_NS, "link", "set", "eth0", "up"]);
sh("ip", ["-n", OUT_NS, "link", "set", "lo", "up"]);

const net: Network = await newNetwork("bridge", "pb", {
  stateDir: STATE,
  bridgeName: "nslpb0",
  subnet: SUBNET,
});
const ns0 = await newNetworkNamespace("/run/netns/pbc0");
for (const i of await net.link("c0", { namespace: ns0, address: CTR })) await ns0.addInterface(i);
const server: ChildProcess = spawn(
  "ip",
  ["netns", "exec", "pbc0", DENO, "run", "-A", `${ROOT}/bench/lib/tcp.ts`, "serve", "80"],
  { stdio: ["ignore", "pipe", "inherit"] },
);
await new Promise<void>((resolve) => server.stdout!.once("data", () => resolve()));

// 1. publishing one port
results.publishNslinkMs = await timeIt(
  "publishNslinkMs",
  REPS,
  (i) => net.publish("c0", [{ hostPort: 20000 + i, port: 80 }]),
  (i) => net.unpublish("c0", [{ hostPort: 20000 + i }]),
);
// The `nft` process peer edits a map of the same type as nslink's `pub4` in a table of its own:
// an element of nslink's table deleted by a process that is not nslink's is a foreign edit, which
// the host agent's firewall repair reverts by re-applying the saved state (removing the element
// the next run just added: "No such file" once the runs outlast the repair's 200 ms bound).
const PEER_MAP = "type inet_proto . inet_service : ipv4_addr . inet_service;";
sh("nft", ["-f", "-"], `table inet ${PEER_TABLE} { map pub4 { ${PEER_MAP} }; }\n`);
try {
  results.publishNftProcessMs = await timeIt(
    "publishNftProcessMs",
    REPS,
    (i) =>
      sh("nft", [
        "add",
        "element",
        "inet",
        PEER_TABLE,
        "pub4",
        `{ tcp . ${21000 + i} : ${CTR} . 80 }`,
      ]),
    (i) => sh("nft", ["delete", "element", "inet", PEER_TABLE, "pub4", `{ tcp . ${21000 + i} }`]),
  );
} finally {
  sh("nft", ["delete", "table", "inet", PEER_TABLE]);
}
const cniEnv = (cmd: string, id: string) => ({
  CNI_COMMAND: cmd,
  CNI_CONTAINERID: id,
  CNI_NETNS: "/run/netns/pbc0",
  CNI_IFNAME: "eth0",
  CNI_PATH: CNI,
});
const portmapConf = (hostPort: number, ip = CTR) =>
  JSON.stringify({
    cniVersion: "1.0.0",
    name: "pbcni",
    type: "portmap",
    capabilities: { portMappings: true },
    runtimeConfig: { portMappings: [{ hostPort, containerPort: 80, protocol: "tcp" }] },
    prevResult: {
      cniVersion: "1.0.0",
      interfaces: [{ name: "eth0", sandbox: "/run/netns/pbc0" }],
      ips: [{ address: `${ip}/26`, interface: 0 }],
    },
  });
results.publishCniPortmapMs = await peer("CNI portmap", () =>
  timeIt(
    "publishCniPortmapMs",
    REPS,
    (i) => sh(`${CNI}/portmap`, [], portmapConf(22000 + i), cniEnv("ADD", `pm${i}`)),
    (i) => sh(`${CNI}/portmap`, [], portmapConf(22000 + i), cniEnv("DEL", `pm${i}`)),
  ));

// netavark: a whole setup with and without one port mapping (it has no "publish" of its own).
const navDir = "/run/nslbench/netavark-ports";
mkdirSync(navDir, { recursive: true });
const navJson = (ns: string, ports: number[]) =>
  JSON.stringify({
    container_id: ns.padEnd(64, "0").replace(/[^0-9a-f]/g, "a"),
    container_name: ns,
    networks: { pbnav: { interface_name: "eth0", static_ips: ["203.0.113.200"] } },
    network_info: {
      pbnav: {
        name: "pbnav",
        id: "7062".padEnd(64, "0"),
        driver: "bridge",
        network_interface: "nslpbnv",
        subnets: [{ subnet: "203.0.113.192/27", gateway: "203.0.113.193" }],
        ipv6_enabled: false,
        internal: false,
        dns_enabled: false,
      },
    },
    port_mappings: ports.map((p) => ({
      host_ip: "",
      container_port: 80,
      host_port: p,
      range: 1,
      protocol: "tcp",
    })),
  });
const navRun = (cmd: "setup" | "teardown", ns: string, ports: number[]) =>
  sh(NETAVARK, ["--config", navDir, cmd, `/run/netns/${ns}`], navJson(ns, ports));
spawnSync("ip", ["netns", "add", "pbnv"]);
// Interleaved pairs (without, then with one port mapping) so that drift cancels out.
const navPairs = await peer("netavark", () => {
  const without: number[] = [];
  const withPort: number[] = [];
  for (let i = 0; i < REPS; i++) {
    for (const [ports, into] of [[[], without], [[23000], withPort]] as const) {
      const t0 = performance.now();
      navRun("setup", "pbnv", [...ports]);
      into.push(performance.now() - t0);
      navRun("teardown", "pbnv", [...ports]);
    }
  }
  raw.setupNetavarkWithoutPortMs = without.map((x) => Math.round(x * 1000) / 1000);
  raw.setupNetavarkMs = withPort.map((x) => Math.round(x * 1000) / 1000);
  results.setupNetavarkMs = median(withPort);
  return median(withPort.map((w, i) => w - without[i]));
});
spawnSync("ip", ["netns", "del", "pbnv"]);
results.publishNetavarkMs = navPairs;
if (typeof navPairs === "string") results.setupNetavarkMs = navPairs;

// 2. a container's setup with one published port
results.setupNslinkMs = await timeIt("setupNslinkMs", REPS, async (i) => {
  const ns = await newNetworkNamespace(`/run/netns/pbs${i}`);
  for (
    const f of await net.link(`s${i}`, {
      namespace: ns,
      ports: [{ hostPort: 24000 + i, port: 80 }],
    })
  ) {
    await ns.addInterface(f);
  }
}, async (i) => {
  sh("ip", ["netns", "del", `pbs${i}`]);
  await net.unlink(`s${i}`);
});
{
  const bridgeConf = JSON.stringify({
    cniVersion: "1.0.0",
    name: "pbcni",
    type: "bridge",
    bridge: "nslpbcni",
    isGateway: true,
    ipMasq: false,
    ipam: {
      type: "host-local",
      dataDir: "/run/nslbench/ports-cni-ipam",
      ranges: [[{ subnet: "203.0.113.64/27", gateway: "203.0.113.65" }]],
    },
  });
  results.setupCniMs = await peer("CNI bridge + portmap", () =>
    timeIt("setupCniMs", REPS, (i) => {
      sh("ip", ["netns", "add", `pbcn${i}`]);
      const env = { ...cniEnv("ADD", `cn${i}`), CNI_NETNS: `/run/netns/pbcn${i}` };
      const prev = JSON.parse(sh(`${CNI}/bridge`, [], bridgeConf, env));
      const conf = JSON.parse(portmapConf(25000 + i, prev.ips[0].address.split("/")[0]));
      conf.prevResult = prev;
      sh(`${CNI}/portmap`, [], JSON.stringify(conf), env);
    }, (i) => {
      const env = { ...cniEnv("DEL", `cn${i}`), CNI_NETNS: `/run/netns/pbcn${i}` };
      sh(`${CNI}/portmap`, [], portmapConf(25000 + i), env);
      sh(`${CNI}/bridge`, [], bridgeConf, env);
      sh("ip", ["netns", "del", `pbcn${i}`]);
    }));
  spawnSync("ip", ["link", "del", "nslpbcni"]);
}

// 3. publish cost with 1, 100 and 1,000 ports already published; 4. TCP connection latency
const connect = (port: number) =>
  JSON.parse(
    sh("ip", [
      "netns",
      "exec",
      OUT_NS,
      DENO,
      "run",
      "-A",
      `${ROOT}/bench/lib/tcp.ts`,
      "connect",
      HOST,
      String(port),
      "300",
    ]).trim().split("\n").at(-1)!,
  ) as { meanMs: number; medianMs: number };
await net.publish("c0", [{ hostPort: 8080, port: 80 }]);
/** What each connect loop reported (its mean and median over 300 connections). */
const connects: Record<string, { meanMs: number; medianMs: number }> = {};
// The other ports belong to another container, as on a host running many.
const ns1 = await newNetworkNamespace("/run/netns/pbc1");
for (const i of await net.link("c1", { namespace: ns1 })) await ns1.addInterface(i);
let published = 1;
for (const n of [1, 100, 1000]) {
  if (n > published) {
    await net.publish("c1", [{
      hostPort: `${30000 + published}-${30000 + n - 1}`,
      port: `1-${n - published}`,
    }]);
    published = n;
  }
  results[`publishAt${n}Ms`] = await timeIt(
    `publishAt${n}Ms`,
    REPS,
    (i) => net.publish("c0", [{ hostPort: 40000 + i, port: 80 }]),
    (i) => net.unpublish("c0", [{ hostPort: 40000 + i }]),
  );
  if (n === 1 || n === 1000) {
    const c = connect(8080);
    connects[`connectAt${n}`] = c;
    results[`connectAt${n}Ms`] = c.medianMs;
  }
}

// --- teardown ---
server.kill("SIGKILL");
await ns0.delete();
await ns1.delete();
await net.unlink("c0");
await net.unlink("c1");
await net.delete();
sh("ip", ["netns", "del", OUT_NS]);
const left = sh("nft", ["list", "ruleset"]).split("\n").filter((l) => l.includes("nslink"));
if (left.length) console.error(`bench/ports.ts: nslink rules left: ${left.join(" ")}`);

const f = (v: number | string) => (typeof v === "number" ? v.toFixed(3) : v);
const ratio = (a: number | string, b: number | string) =>
  typeof a === "number" && typeof b === "number" && b > 0 ? `${(a / b).toFixed(1)}x` : "-";
console.log("\nport publishing (median of", REPS, "runs, ms)");
console.log("publish one port        nslink", f(results.publishNslinkMs));
for (
  const [name, key] of [
    ["  nft add element (1 process)", "publishNftProcessMs"],
    ["  CNI portmap ADD", "publishCniPortmapMs"],
    ["  netavark (setup +1 port)", "publishNetavarkMs"],
  ]
) {
  console.log(
    name.padEnd(32),
    f(results[key]),
    ratio(results[key], results.publishNslinkMs),
    "of nslink",
  );
}
console.log("setup with one port     nslink", f(results.setupNslinkMs));
console.log(
  "  CNI bridge + portmap".padEnd(32),
  f(results.setupCniMs),
  ratio(results.setupCniMs, results.setupNslinkMs),
);
console.log(
  "  netavark".padEnd(32),
  f(results.setupNetavarkMs),
  ratio(results.setupNetavarkMs, results.setupNslinkMs),
);
console.log(
  "publish at 1/100/1000 ports",
  f(results.publishAt1Ms),
  f(results.publishAt100Ms),
  f(results.publishAt1000Ms),
  `(1000 vs 1: ${ratio(results.publishAt1000Ms, results.publishAt1Ms)})`,
);
console.log(
  "new TCP connection at 1/1000 ports",
  f(results.connectAt1Ms),
  f(results.connectAt1000Ms),
  `(${ratio(results.connectAt1000Ms, results.connectAt1Ms)})`,
);
mkdirSync(`${ROOT}/bench/out`, { recursive: true });
writeFileSync(`${ROOT}/bench/out/ports.json`, JSON.stringify(results, null, 2) + "\n");
const resultPath = finishResult(started, {
  samples: {
    unit: "ms per timed run; connect: the loop's own mean and median over its connections",
    runs: raw,
    connect: connects,
  },
  summary: results,
});
if (resultPath) console.error(`wrote ${resultPath}`);
