/**
 * Per-container setup and teardown on a macvlan network (issue 20): nslink's library (the fast
 * path: the macvlan made directly inside the container's namespace, addresses from its
 * crash-safe IPAM, default routes to the LAN's router), on Deno and on Bun, against the CNI
 * `macvlan` plugin with `host-local` IPAM (an exec per ADD/DEL, as a runtime pays it; nslink's
 * own executable as a CNI plugin with `"driver": "macvlan"` beside it), and against iproute2
 * doing the same kernel work with `ip -batch` (one process for every `link add … netns NS type
 * macvlan mode bridge`, then one `ip -n NS -batch` per container for its address, `up` and
 * default route: the floor of what a shell script pays; teardown one `ip -n NS link del`).
 *
 * Workload per container: a namespace made beforehand (not timed; for the CNI peers with
 * `accept_dad=0`, since the reference plugins otherwise wait ~1.5 s for IPv6 duplicate address
 * detection, which nslink skips with `nodad`), then eth0 (macvlan, bridge
 * mode, on the parent `nslbm-up`, a veth that is up) with an IPv4 and an IPv6 address and both
 * default routes. Teardown: the link removed (the namespace deleted afterwards, not timed).
 * Medians per container over `--reps` rounds of `--n` containers; ratios against nslink on Deno.
 *
 * Run inside the throw-away namespace as root:
 * `bash scripts/in-netns.sh node_modules/.bin/deno run -A bench/macvlan.ts [--n 50] [--reps 3]`.
 * Writes bench/out/macvlan.json.
 *
 * @module
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import process from "node:process";
import { parseArgs } from "node:util";
import { newNetwork, newNetworkNamespace } from "../mod.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const BUN = `${ROOT}/node_modules/.bin/bun`;
const CNI_BIN = "/usr/lib/cni";
const WORK = "/run/nslbench/macvlan";
const PARENT = "nslbm-up";
const ROUTER = "198.51.100.254";
const ROUTER6 = "2001:db8:bd::fe";

const { values } = parseArgs({
  args: process.argv.slice(2),
  options: {
    n: { type: "string", default: "50" },
    reps: { type: "string", default: "3" },
    "lib-only": { type: "boolean", default: false },
  },
});
const N = Number(values.n);
const REPS = Number(values.reps);

function run(argv: string[], input?: string, env?: Record<string, string>): number {
  const t = performance.now();
  const r = spawnSync(argv[0], argv.slice(1), {
    input: input ?? "",
    env: { ...process.env, ...env },
    encoding: "utf8",
  });
  const dt = performance.now() - t;
  if (r.status !== 0) {
    throw new Error(`${argv.join(" ")} failed (${r.status}): ${r.stdout}${r.stderr}`);
  }
  return dt;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const ns = (peer: string, i: number) => `nslbm-${peer}-${i}`;
const v4 = (i: number) => `198.51.100.${i + 2}`;
const v6 = (i: number) => `2001:db8:bd::${(i + 2).toString(16)}`;

interface Samples {
  add: number[];
  del: number[];
}

/** The library on the fast path, in this process: per container link + addInterface, unlink. */
async function library(): Promise<Samples> {
  const s: Samples = { add: [], del: [] };
  for (let rep = 0; rep < REPS; rep++) {
    const stateDir = `${WORK}/lib-state`;
    rmSync(stateDir, { recursive: true, force: true });
    const net = await newNetwork("macvlan", "nslbm", {
      stateDir,
      parent: PARENT,
      subnet: "198.51.100.0/24",
      gateway: ROUTER,
      subnetIPv6: "2001:db8:bd::/64",
      gatewayIPv6: ROUTER6,
    });
    const spaces = [];
    for (let i = 0; i < N; i++) {
      spaces.push(await newNetworkNamespace(`/run/netns/${ns("lib", i)}`));
    }
    for (let i = 0; i < N; i++) {
      const t = performance.now();
      const [iface] = await net.link(`c${i}`, { namespace: spaces[i] });
      await spaces[i].addInterface(iface);
      s.add.push(performance.now() - t);
    }
    for (let i = 0; i < N; i++) {
      const t = performance.now();
      await net.unlink(`c${i}`);
      s.del.push(performance.now() - t);
    }
    for (const sp of spaces) await sp.delete();
    await net.delete();
  }
  return s;
}

if (values["lib-only"]) {
  const s = await library();
  console.log(JSON.stringify(s));
  process.exit(0);
}

function cniPeer(name: string, argv: string[], conf: (i: number) => string): Samples {
  const s: Samples = { add: [], del: [] };
  const env = (cmd: string, i: number) => ({
    CNI_COMMAND: cmd,
    CNI_CONTAINERID: ns(name, i),
    CNI_NETNS: `/run/netns/${ns(name, i)}`,
    CNI_IFNAME: "eth0",
    CNI_PATH: CNI_BIN,
  });
  for (let rep = 0; rep < REPS; rep++) {
    for (let i = 0; i < N; i++) {
      run(["ip", "netns", "add", ns(name, i)]);
      // No duplicate address detection, as nslink adds its addresses (nodad): the reference
      // plugins wait for IPv6 addresses to leave the tentative state (~1.5 s) otherwise.
      run([
        "ip",
        "netns",
        "exec",
        ns(name, i),
        "sysctl",
        "-qw",
        "net.ipv6.conf.default.accept_dad=0",
      ]);
    }
    for (let i = 0; i < N; i++) s.add.push(run(argv, conf(i), env("ADD", i)));
    check(name);
    for (let i = 0; i < N; i++) s.del.push(run(argv, conf(i), env("DEL", i)));
    for (let i = 0; i < N; i++) run(["ip", "netns", "del", ns(name, i)]);
  }
  return s;
}

/** The last container has its IPv4 address and its default route. */
function check(name: string): void {
  const out = spawnSync("ip", ["-n", ns(name, N - 1), "-4", "-o", "addr", "show", "eth0"], {
    encoding: "utf8",
  }).stdout;
  if (!/inet 198\.51\.100\.\d+\/24/.test(out)) throw new Error(`${name}: no address: ${out}`);
}

const cniMacvlanConf = (i: number) =>
  JSON.stringify({
    cniVersion: "1.0.0",
    name: "nslbmcni",
    type: "macvlan",
    master: PARENT,
    mode: "bridge",
    ipam: {
      type: "host-local",
      dataDir: `${WORK}/host-local`,
      ranges: [[{ subnet: "198.51.100.0/24", gateway: ROUTER }], [{
        subnet: "2001:db8:bd::/64",
        gateway: ROUTER6,
      }]],
      routes: [{ dst: "0.0.0.0/0" }, { dst: "::/0" }],
    },
    runtimeConfig: { ips: [`${v4(i)}/24`, `${v6(i)}/64`] },
  });

const nslinkConf = () =>
  JSON.stringify({
    cniVersion: "1.0.0",
    name: "nslbmexe",
    type: "nslink",
    driver: "macvlan",
    master: PARENT,
    mode: "bridge",
    subnet: "198.51.100.0/24",
    gateway: ROUTER,
    subnetIPv6: "2001:db8:bd::/64",
    gatewayIPv6: ROUTER6,
    stateDir: `${WORK}/exe-state`,
  });

/** iproute2: one `ip -batch` for every link, one `ip -n NS -batch` per container's setup. */
function ipBatch(): Samples {
  const s: Samples = { add: [], del: [] };
  for (let rep = 0; rep < REPS; rep++) {
    for (let i = 0; i < N; i++) run(["ip", "netns", "add", ns("ip", i)]);
    const links = Array.from(
      { length: N },
      (_, i) => `link add link ${PARENT} name eth0 netns ${ns("ip", i)} type macvlan mode bridge`,
    ).join("\n");
    let total = run(["ip", "-batch", "-"], links + "\n");
    for (let i = 0; i < N; i++) {
      total += run(
        ["ip", "-n", ns("ip", i), "-batch", "-"],
        [
          "link set lo up",
          "link set eth0 up",
          `addr add ${v4(i)}/24 dev eth0`,
          `addr add ${v6(i)}/64 dev eth0 nodad`,
          `route add default via ${ROUTER}`,
          `route add default via ${ROUTER6}`,
        ].join("\n") + "\n",
      );
    }
    check("ip");
    s.add.push(...Array(N).fill(total / N));
    // (ip -batch takes no -n per line: one `ip -n NS link del eth0` per container.)
    for (let i = 0; i < N; i++) s.del.push(run(["ip", "-n", ns("ip", i), "link", "del", "eth0"]));
    for (let i = 0; i < N; i++) run(["ip", "netns", "del", ns("ip", i)]);
  }
  return s;
}

mkdirSync(WORK, { recursive: true });
mkdirSync("/run/netns", { recursive: true });
spawnSync("ip", ["link", "del", PARENT]);
run(["ip", "link", "add", PARENT, "type", "veth", "peer", "name", "nslbm-peer"]);
run(["ip", "link", "set", "nslbm-peer", "up"]);
run(["ip", "link", "set", PARENT, "up"]);
const results = new Map<string, Samples>();
try {
  results.set("nslink-lib-deno", await library());
  const bun = spawnSync(BUN, [
    `${ROOT}/bench/macvlan.ts`,
    "--lib-only",
    "--n",
    `${N}`,
    "--reps",
    `${REPS}`,
  ], {
    encoding: "utf8",
  });
  if (bun.status === 0) {
    results.set("nslink-lib-bun", JSON.parse(bun.stdout.trim().split("\n").pop()!));
  } else console.error(`bun: ${bun.stderr}`);
  results.set("ip-batch", ipBatch());
  results.set("cni-macvlan+host-local", cniPeer("cni", [`${CNI_BIN}/macvlan`], cniMacvlanConf));
  results.set(
    "nslink-cni-bun",
    cniPeer("exe", [BUN, `${ROOT}/cli/main.ts`], nslinkConf),
  );
} finally {
  spawnSync("ip", ["link", "del", PARENT]);
}

const base = results.get("nslink-lib-deno")!;
const rows = [...results].map(([peer, s]) => ({
  peer,
  setupMs: +median(s.add).toFixed(3),
  teardownMs: +median(s.del).toFixed(3),
  setupVsLib: +(median(s.add) / median(base.add)).toFixed(2),
  teardownVsLib: +(median(s.del) / median(base.del)).toFixed(2),
}));
console.log(
  `\nmacvlan: one container's setup and teardown; medians of ${N} containers x ${REPS} rounds; ratios against nslink's library on Deno`,
);
console.log("peer                      setup ms  teardown ms  setup vs lib  teardown vs lib");
for (const r of rows) {
  console.log(
    `${r.peer.padEnd(24)}  ${String(r.setupMs).padStart(8)}  ${
      String(r.teardownMs).padStart(11)
    }  ${`${r.setupVsLib}x`.padStart(12)}  ${`${r.teardownVsLib}x`.padStart(15)}`,
  );
}
mkdirSync(`${ROOT}/bench/out`, { recursive: true });
writeFileSync(
  `${ROOT}/bench/out/macvlan.json`,
  JSON.stringify({ n: N, reps: REPS, rows }, null, 2) + "\n",
);
