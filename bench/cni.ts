/**
 * Container network setup and teardown through executables, as a container runtime pays it
 * (process start included): the `nslink` executable as a CNI plugin (compiled `dist/nslink`,
 * and `cli/main.ts` on Deno and on Bun) against the CNI `bridge` plugin (with `host-local`
 * IPAM) and netavark, each exec'd once per container for ADD/setup and once for DEL/teardown.
 * Also the command line's start time on each runtime and compiled.
 *
 * Workload per container: a namespace made beforehand (`ip netns add`, not timed, as a runtime
 * makes it), then one ADD: a veth pair on a bridge, the container end `eth0` with an IPv4 and an
 * IPv6 address and default routes. nslink also brings `lo` up (the others leave that to the
 * `loopback` plugin or the runtime). Rounds are interleaved; medians per container are printed.
 *
 * Two more cases, each against the reference plugins in the same round:
 * - `+port`: one published port per container (`runtimeConfig.portMappings`, host port 20000+i);
 *   the reference is `bridge` then the chained `portmap` plugin (its ADD given bridge's result as
 *   `prevResult`; DEL in reverse order, as libcni runs a chain), both execs timed together.
 * - `fresh`: one container per network, as `podman run` on a network nothing else uses: nslink's
 *   ADD creates the network and its DEL removes it with the last attachment; the reference
 *   `bridge` creates its bridge on ADD (and never removes it: that is done untimed afterwards).
 *   ADD and DEL alternate per container.
 *
 * The hand-off (issue 21): while the state directory's host agent runs, an exec'd nslink plugin
 * sends the request to it and only prints the answer (cni/handoff.ts). `nslink-compiled` and
 * `+port` run with it (the agent runs for their network); `… no hand-off` is the same exec with
 * `NSLINK_AGENT=off` (the exec does all the work). In the fresh case no agent runs before the
 * first ADD of a lone network (`fresh`: ADD in-process, starting the agent; DEL handed off; the
 * agent stays 2 s after a CNI request, so later ADDs are handed off too, and an ADD straight
 * after a DEL that removed a network waits for the removal the agent finishes after answering);
 * `fresh agent-up` keeps another network in the state directory meanwhile (made untimed before
 * the round), so the agent runs and both are handed off.
 *
 * Run by bench/run.sh inside the throw-away namespace (root). Writes bench/out/cni.json and a
 * result file (bench/lib/results.ts) with every exec's time, per peer and round.
 * A/B: `--baseline PATH` adds `baseline`, `baseline fresh` and `baseline fresh agent-up`, the
 * same execs with another build of `nslink` (e.g. one of an older commit), interleaved with the
 * others in every round.
 * Usage: deno run -A bench/cni.ts [--n 20] [--reps 3] [--peers nslink-compiled,cni-bridge,...]
 *   [--baseline /path/to/older/nslink]
 * With `NSLBENCH_CNI_BASE=FILE`, the peer `nslink-compiled base` runs FILE (another build of
 * `dist/nslink`) in the same interleaved rounds, for an A/B comparison.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { finishResult, startResult } from "./lib/results.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const DENO = `${ROOT}/node_modules/.bin/deno`;
const BUN = `${ROOT}/node_modules/.bin/bun`;
const COMPILED = `${ROOT}/dist/nslink`;
const NETAVARK = "/usr/lib/podman/netavark";
const CNI_BIN = "/usr/lib/cni";
const WORK = "/run/nslbench/cni-exec";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    n: { type: "string", default: "20" },
    reps: { type: "string", default: "3" },
    peers: { type: "string", default: "" },
    baseline: { type: "string", default: "" },
  },
});
/** Only these peers (comma-separated names), when given. */
const ONLY = values.peers ? new Set(values.peers.split(",")) : undefined;
const N = Number(values.n);
const REPS = Number(values.reps);
const started = startResult("cni", { n: N, reps: REPS, startupRuns: 10 }, { runtime: "all" });

function exec(argv: string[], input?: string, env?: Record<string, string>): number {
  return execOut(argv, input, env).ms;
}

/** Runs one process; its time in ms and its standard output. */
function execOut(
  argv: string[],
  input?: string,
  env?: Record<string, string>,
): { ms: number; out: string } {
  const t = performance.now();
  const r = spawnSync(argv[0], argv.slice(1), {
    input: input ?? "",
    env: { ...Deno.env.toObject(), ...env },
    encoding: "utf8",
  });
  const dt = performance.now() - t;
  if (r.status !== 0) {
    throw new Error(`${argv.join(" ")} failed (${r.status}): ${r.stdout}${r.stderr}`);
  }
  return { ms: dt, out: r.stdout };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const v4 = (i: number) => `198.51.100.${i + 2}`;
const v6 = (i: number) => `2001:db8:bc::${(i + 2).toString(16)}`;
const ns = (peer: string, i: number) => `nslbc-${peer.replace(/[^a-z0-9]+/g, "-")}-${i}`;

interface Peer {
  name: string;
  available: boolean;
  /** One network per container, ADD and DEL alternating (the `fresh` case). */
  fresh?: boolean;
  add(i: number): number;
  del(i: number): number;
  /** Untimed, before each round. */
  setup?(): void;
  /** Untimed, after each round. */
  cleanup?(): void;
}

/** One published port for container i, as a runtime passes it (`portMappings` capability). */
const portMappings = (i: number) => [{ hostPort: 20000 + i, containerPort: 80, protocol: "tcp" }];

function cniPeer(
  name: string,
  tag: string,
  argv: string[],
  available: boolean,
  opts: {
    ports?: boolean;
    fresh?: boolean;
    env?: Record<string, string>;
    keep?: boolean;
    /** Its own state directory (and so its own agent), e.g. for another build. */
    state?: string;
  } = {},
): Peer {
  const state = opts.state ?? `${WORK}/state`;
  const conf = (i: number) =>
    JSON.stringify({
      cniVersion: "1.0.0",
      name: "nslbcni",
      type: "nslink",
      network: opts.fresh ? `nslbc${tag}${i}` : `nslbc${tag}`,
      bridge: opts.fresh ? `nslbc-${tag}${i}` : `nslbc-${tag}`,
      subnet: "198.51.100.0/24",
      subnetIPv6: "2001:db8:bc::/64",
      stateDir: state,
      ...(opts.ports
        ? {
          capabilities: { portMappings: true },
          runtimeConfig: { portMappings: portMappings(i) },
        }
        : {}),
    });
  const env = (cmd: string, i: number) => ({
    CNI_COMMAND: cmd,
    CNI_CONTAINERID: ns(name, i),
    CNI_NETNS: `/run/netns/${ns(name, i)}`,
    CNI_IFNAME: "eth0",
    CNI_PATH: CNI_BIN,
    ...opts.env,
  });
  // Another network of the state directory, so that its agent runs (`fresh agent-up`).
  const keep = ["network", "create", "--subnet", "203.0.113.0/24", `nslbk${tag}`];
  const stateEnv = { NSLINK_STATE_DIR: state };
  return {
    name,
    available,
    fresh: opts.fresh,
    add: (i) => exec(argv, conf(i), env("ADD", i)),
    del: (i) => exec(argv, conf(i), env("DEL", i)),
    ...(opts.keep
      ? {
        setup: () => void exec([...argv, ...keep], undefined, stateEnv),
        cleanup: () => void exec([...argv, "network", "rm", `nslbk${tag}`], undefined, stateEnv),
      }
      : {}),
  };
}

const bridgeConf = (i: number, fresh = false) =>
  JSON.stringify({
    cniVersion: "1.0.0",
    name: fresh ? `nslbcbr${i}` : "nslbcbr",
    type: "bridge",
    bridge: fresh ? `nslbcf-${i}` : "nslbc-br",
    isGateway: true,
    ipMasq: false,
    ipam: {
      type: "host-local",
      dataDir: `${WORK}/host-local`,
      ranges: [[{ subnet: "198.51.100.0/24" }], [{ subnet: "2001:db8:bc::/64" }]],
      routes: [{ dst: "0.0.0.0/0" }, { dst: "::/0" }],
    },
    runtimeConfig: { ips: [`${v4(i)}/24`, `${v6(i)}/64`] },
  });
const bridgeEnv = (peer: string, cmd: string, i: number) => ({
  CNI_COMMAND: cmd,
  CNI_CONTAINERID: ns(peer, i),
  CNI_NETNS: `/run/netns/${ns(peer, i)}`,
  CNI_IFNAME: "eth0",
  CNI_PATH: CNI_BIN,
});

/** The reference chain bridge (+ host-local) then portmap, with one port per container. */
function bridgePortmapPeer(): Peer {
  const name = "cni-bridge+portmap";
  const results = new Map<number, unknown>();
  const portmapConf = (i: number) =>
    JSON.stringify({
      cniVersion: "1.0.0",
      name: "nslbcbr",
      type: "portmap",
      capabilities: { portMappings: true },
      snat: true,
      runtimeConfig: { portMappings: portMappings(i) },
      prevResult: results.get(i),
    });
  return {
    name,
    available: existsSync(`${CNI_BIN}/bridge`) && existsSync(`${CNI_BIN}/portmap`),
    add: (i) => {
      const b = execOut([`${CNI_BIN}/bridge`], bridgeConf(i), bridgeEnv(name, "ADD", i));
      results.set(i, JSON.parse(b.out));
      return b.ms + exec([`${CNI_BIN}/portmap`], portmapConf(i), bridgeEnv(name, "ADD", i));
    },
    del: (i) =>
      exec([`${CNI_BIN}/portmap`], portmapConf(i), bridgeEnv(name, "DEL", i)) +
      exec([`${CNI_BIN}/bridge`], bridgeConf(i), bridgeEnv(name, "DEL", i)),
  };
}

const netavarkJson = (i: number) =>
  JSON.stringify({
    container_id: (i + 1).toString(16).padStart(64, "0"),
    container_name: ns("netavark", i),
    networks: { nslbcnv: { interface_name: "eth0", static_ips: [v4(i), v6(i)] } },
    network_info: {
      nslbcnv: {
        name: "nslbcnv",
        id: "6e736c6263".padEnd(64, "0"),
        driver: "bridge",
        network_interface: "nslbc-nv",
        subnets: [
          { subnet: "198.51.100.0/24", gateway: "198.51.100.1" },
          { subnet: "2001:db8:bc::/64", gateway: "2001:db8:bc::1" },
        ],
        ipv6_enabled: true,
        internal: false,
        dns_enabled: false,
      },
    },
    port_mappings: [],
  });

/** The exec does all the work itself (no hand-off, no agent started). */
const OFF = { NSLINK_AGENT: "off" };

/**
 * Another compiled nslink to compare with in the same run (`NSLBENCH_CNI_BASE=FILE`, e.g. a build
 * of an older commit): the peer `nslink-compiled base`, the same cases as `nslink-compiled`.
 */
const BASE = Deno.env.get("NSLBENCH_CNI_BASE");

const peers: Peer[] = [
  cniPeer("nslink-compiled", "c", [COMPILED], existsSync(COMPILED)),
  // Its own state directory, so its own agent: a lingering agent of the other build would
  // otherwise serve its hand-offs.
  ...(BASE
    ? [cniPeer("nslink-compiled base", "a", [BASE], existsSync(BASE), {
      state: `${WORK}/state-base`,
    })]
    : []),
  cniPeer("nslink-compiled no hand-off", "o", [COMPILED], existsSync(COMPILED), { env: OFF }),
  cniPeer("nslink-deno", "d", [DENO, "run", "-A", `${ROOT}/cli/main.ts`], true),
  cniPeer("nslink-bun", "b", [BUN, `${ROOT}/cli/main.ts`], true),
  {
    name: "cni-bridge",
    available: existsSync(`${CNI_BIN}/bridge`),
    add: (i) => exec([`${CNI_BIN}/bridge`], bridgeConf(i), bridgeEnv("cni-bridge", "ADD", i)),
    del: (i) => exec([`${CNI_BIN}/bridge`], bridgeConf(i), bridgeEnv("cni-bridge", "DEL", i)),
  },
  cniPeer("nslink-compiled+port", "p", [COMPILED], existsSync(COMPILED), { ports: true }),
  cniPeer("nslink-compiled+port no hand-off", "q", [COMPILED], existsSync(COMPILED), {
    ports: true,
    env: OFF,
  }),
  bridgePortmapPeer(),
  cniPeer("nslink-compiled fresh", "f", [COMPILED], existsSync(COMPILED), { fresh: true }),
  cniPeer("nslink-compiled fresh agent-up", "g", [COMPILED], existsSync(COMPILED), {
    fresh: true,
    keep: true,
  }),
  cniPeer("nslink-compiled fresh no hand-off", "h", [COMPILED], existsSync(COMPILED), {
    fresh: true,
    env: OFF,
  }),
  {
    name: "cni-bridge fresh",
    available: existsSync(`${CNI_BIN}/bridge`),
    fresh: true,
    add: (i) =>
      exec([`${CNI_BIN}/bridge`], bridgeConf(i, true), bridgeEnv("cni-bridge-fresh", "ADD", i)),
    del: (i) =>
      exec([`${CNI_BIN}/bridge`], bridgeConf(i, true), bridgeEnv("cni-bridge-fresh", "DEL", i)),
    cleanup: () => {
      for (let i = 0; i < N; i++) spawnSync("ip", ["link", "del", `nslbcf-${i}`]);
    },
  },
  ...(values.baseline
    ? [
      cniPeer("baseline", "x", [values.baseline], existsSync(values.baseline), {
        state: `${WORK}/state-baseline`,
      }),
      cniPeer("baseline fresh", "y", [values.baseline], existsSync(values.baseline), {
        fresh: true,
        state: `${WORK}/state-baseline`,
      }),
      cniPeer("baseline fresh agent-up", "z", [values.baseline], existsSync(values.baseline), {
        fresh: true,
        keep: true,
        state: `${WORK}/state-baseline`,
      }),
    ]
    : []),
  {
    name: "netavark",
    available: existsSync(NETAVARK),
    add: (i) =>
      exec(
        [NETAVARK, "--config", `${WORK}/netavark`, "setup", `/run/netns/${ns("netavark", i)}`],
        netavarkJson(i),
      ),
    del: (i) =>
      exec(
        [NETAVARK, "--config", `${WORK}/netavark`, "teardown", `/run/netns/${ns("netavark", i)}`],
        netavarkJson(i),
      ),
  },
];

mkdirSync(`${WORK}/netavark`, { recursive: true });
const samples = new Map<string, { add: number[]; del: number[] }>();
/** Per peer, per round: each container's ADD and DEL exec, ms (the result file's samples). */
const perRep = new Map<string, { rep: number; addMs: number[]; delMs: number[] }[]>();
const ipAddr = (netns: string) =>
  spawnSync("ip", ["-n", netns, "-4", "-o", "addr", "show", "eth0"], { encoding: "utf8" }).stdout;
for (let rep = 0; rep < REPS; rep++) {
  for (const p of peers.filter((p) => p.available && (!ONLY || ONLY.has(p.name)))) {
    const s = samples.get(p.name) ?? { add: [], del: [] };
    samples.set(p.name, s);
    const round = { rep: rep + 1, addMs: [] as number[], delMs: [] as number[] };
    perRep.set(p.name, [...(perRep.get(p.name) ?? []), round]);
    for (let i = 0; i < N; i++) exec(["ip", "netns", "add", ns(p.name, i)]);
    p.setup?.();
    if (p.fresh) {
      for (let i = 0; i < N; i++) {
        round.addMs.push(p.add(i));
        // Checked: the container has its IPv4 address.
        const addr = ipAddr(ns(p.name, i));
        if (!/inet 198\.51\.100\.\d+\/24/.test(addr)) {
          throw new Error(`${p.name}: no address: ${addr}`);
        }
        round.delMs.push(p.del(i));
      }
    } else {
      for (let i = 0; i < N; i++) round.addMs.push(p.add(i));
      // Checked: the last container has its IPv4 address.
      const addr = ipAddr(ns(p.name, N - 1));
      if (!/inet 198\.51\.100\.\d+\/24/.test(addr)) {
        throw new Error(`${p.name}: no address: ${addr}`);
      }
      for (let i = 0; i < N; i++) round.delMs.push(p.del(i));
    }
    s.add.push(...round.addMs);
    s.del.push(...round.delMs);
    p.cleanup?.();
    for (let i = 0; i < N; i++) exec(["ip", "netns", "del", ns(p.name, i)]);
  }
}

const base = samples.get("nslink-compiled") ?? samples.get("nslink-bun")!;
const rows = [...samples].map(([name, s]) => ({
  peer: name,
  addMs: +median(s.add).toFixed(2),
  delMs: +median(s.del).toFixed(2),
  addVsNslink: +(median(s.add) / median(base.add)).toFixed(2),
  delVsNslink: +(median(s.del) / median(base.del)).toFixed(2),
}));

const startupSamples: { runtime: string; command: string; ms: number[] }[] = [];
function startup(argv: string[], args: string[], runtime: string): number {
  exec([...argv, ...args], undefined, { NSLINK_STATE_DIR: `${WORK}/cli-state` }); // warm caches
  const t: number[] = [];
  for (let i = 0; i < 10; i++) {
    t.push(exec([...argv, ...args], undefined, { NSLINK_STATE_DIR: `${WORK}/cli-state` }));
  }
  startupSamples.push({ runtime, command: args.join(" "), ms: t.map((x) => +x.toFixed(3)) });
  return +median(t).toFixed(1);
}
const clis: [string, string[]][] = [
  ["deno run -A cli/main.ts", [DENO, "run", "-A", `${ROOT}/cli/main.ts`]],
  ["bun cli/main.ts", [BUN, `${ROOT}/cli/main.ts`]],
  ...(existsSync(COMPILED) ? [["dist/nslink (compiled)", [COMPILED]] as [string, string[]]] : []),
];
const start = clis.map(([name, argv]) => ({
  runtime: name,
  versionMs: startup(argv, ["version"], name),
  networkLsMs: startup(argv, ["network", "ls", "--format", "json"], name),
}));

console.log(
  `\nCNI: one container's ADD and DEL, each an exec of the plugin (process start included); medians of ${N} containers x ${REPS} interleaved rounds`,
);
console.log(`${"peer".padEnd(34)}  ADD ms  DEL ms  ADD vs nslink  DEL vs nslink`);
for (const r of rows) {
  console.log(
    `${r.peer.padEnd(34)}  ${String(r.addMs).padStart(6)}  ${String(r.delMs).padStart(6)}  ${
      `${r.addVsNslink}x`.padStart(13)
    }  ${`${r.delVsNslink}x`.padStart(13)}`,
  );
}
console.log(
  "\nnslink command start time (medians of 10): `version` (no FFI), `network ls` (libc, state)",
);
console.log("runtime                    version ms  network ls ms");
for (const s of start) {
  console.log(
    `${s.runtime.padEnd(25)}  ${String(s.versionMs).padStart(10)}  ${
      String(s.networkLsMs).padStart(13)
    }`,
  );
}
mkdirSync(`${ROOT}/bench/out`, { recursive: true });
writeFileSync(
  `${ROOT}/bench/out/cni.json`,
  JSON.stringify({ n: N, reps: REPS, cni: rows, startup: start }, null, 2) + "\n",
);
const resultPath = finishResult(started, {
  samples: {
    unit: "ms per exec, process start included",
    peers: [...perRep].map(([peer, reps]) => ({
      peer,
      reps: reps.map((r) => ({
        rep: r.rep,
        addMs: r.addMs.map((x) => +x.toFixed(3)),
        delMs: r.delMs.map((x) => +x.toFixed(3)),
      })),
    })),
    startup: startupSamples,
  },
  summary: { cni: rows, startup: start },
});
if (resultPath) console.error(`wrote ${resultPath}`);
