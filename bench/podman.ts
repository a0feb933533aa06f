/**
 * A container runtime's whole start and removal, as users see it: the wall time of
 * `podman run --rm --network N IMAGE true` (podman 4.3, CNI backend) with nslink's plugin (the
 * compiled `dist/nslink`) against the same with the reference plugins (`bridge` + `host-local`
 * + `portmap`, the chain podman writes for its own CNI networks), in the same run.
 *
 * Cases, interleaved per round, each run timed until `podman run` returns:
 * - `lone`: nothing else on the network. nslink's ADD creates the network (starting the host
 *   agent without waiting for it) and the DEL removes it; the reference leaves its bridge.
 * - `in use`: another container (started untimed before the round) keeps the network, so
 *   nslink's agent runs and the plugin hands its work to it (cni/handoff.ts).
 * nslink runs both with the hand-off (the default) and with `NSLINK_AGENT=off` (the exec does
 * the work, no agent).
 *
 * Needs root, podman, busybox-static and dist/nslink (`bash scripts/build.sh`); runs inside the
 * throw-away namespace of `scripts/in-netns.sh` (the podman sandbox of tests/priv/_podman.ts
 * mounts over /var/lib/cni there). Writes a result file (bench/lib/results.ts) with every run's
 * time. Usage: bash scripts/in-netns.sh deno run -A bench/podman.ts [--n 5] [--reps 2]
 *
 * @module
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { finishResult, startResult } from "./lib/results.ts";
import { PodmanSandbox } from "../tests/priv/_podman.ts";
import { runProcess } from "../tests/priv/_cli_helpers.ts";

const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const COMPILED = `${ROOT}/dist/nslink`;
const { values } = parseArgs({
  args: process.argv.slice(2),
  options: { n: { type: "string", default: "5" }, reps: { type: "string", default: "2" } },
});
const N = Number(values.n);
const REPS = Number(values.reps);
if (!existsSync(COMPILED)) throw new Error("bench/podman.ts: build dist/nslink first");
const started = startResult("podman", { n: N, reps: REPS }, { runtime: "compiled" });

// The plugin podman runs: the compiled executable (tests/priv/_cli_helpers.ts reads NSLINK_BIN).
process.env.NSLINK_BIN = COMPILED;
const NET = "nslbpod";
const REF = "nslbpodref";
const IMAGE = "localhost/nslbench-bb:1";
const box = new PodmanSandbox({
  tmpPrefix: "nslbench-podman-",
  net: NET,
  image: IMAGE,
  applets: ["sh", "true", "sleep"],
  plugins: (stateDir) => [{ type: "nslink", subnet: "203.0.113.0/24", stateDir }],
});

interface Case {
  name: string;
  net: string;
  env?: Record<string, string>;
  inUse: boolean;
}
const OFF = { NSLINK_AGENT: "off" };
const cases: Case[] = [
  { name: "nslink lone", net: NET, inUse: false },
  { name: "nslink lone no hand-off", net: NET, env: OFF, inUse: false },
  { name: "bridge+host-local+portmap lone", net: REF, inUse: false },
  { name: "nslink in use", net: NET, inUse: true },
  { name: "nslink in use no hand-off", net: NET, env: OFF, inUse: true },
  { name: "bridge+host-local+portmap in use", net: REF, inUse: true },
];

async function podman(env: Record<string, string> | undefined, ...args: string[]) {
  const t = performance.now();
  const r = await runProcess(box.argv(...args), { env: { ...box.env, ...env } });
  const ms = performance.now() - t;
  if (r.code !== 0) throw new Error(`podman ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
  return ms;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

const samples = new Map<string, { rep: number; ms: number[] }[]>();
await box.setUp();
try {
  // The reference network: the chain podman itself writes for a CNI bridge network.
  writeFileSync(
    join(box.work, "cni", `${REF}.conflist`),
    JSON.stringify({
      cniVersion: "1.0.0",
      name: REF,
      plugins: [
        {
          type: "bridge",
          bridge: "nslbref0",
          isGateway: true,
          ipMasq: true,
          hairpinMode: true,
          ipam: {
            type: "host-local",
            dataDir: join(box.work, "host-local"),
            ranges: [[{ subnet: "198.51.100.0/24", gateway: "198.51.100.1" }]],
            routes: [{ dst: "0.0.0.0/0" }],
          },
        },
        { type: "portmap", capabilities: { portMappings: true } },
      ],
    }),
  );
  // Warm-up, untimed: the image's first use, both networks made once.
  for (const net of [NET, REF]) {
    await podman(undefined, "run", "--rm", "--network", net, IMAGE, "true");
  }
  for (let rep = 1; rep <= REPS; rep++) {
    for (const inUse of [false, true]) {
      if (inUse) {
        for (const net of [NET, REF]) {
          await podman(
            undefined,
            "run",
            "-d",
            "--name",
            `keep-${net}`,
            "--network",
            net,
            IMAGE,
            "sleep",
            "600",
          );
        }
      }
      const round = cases.filter((c) => c.inUse === inUse);
      for (let i = 0; i < N; i++) {
        for (const c of round) {
          const ms = await podman(c.env, "run", "--rm", "--network", c.net, IMAGE, "true");
          const reps = samples.get(c.name) ?? [];
          samples.set(c.name, reps);
          let r = reps.find((x) => x.rep === rep);
          if (!r) reps.push(r = { rep, ms: [] });
          r.ms.push(+ms.toFixed(1));
        }
      }
      if (inUse) {
        for (const net of [NET, REF]) {
          await podman(undefined, "rm", "-f", "-t", "0", `keep-${net}`);
        }
      }
    }
  }
} finally {
  await box.stop();
  await box.remove();
}

const ref = (inUse: boolean) =>
  median(
    samples.get(`bridge+host-local+portmap ${inUse ? "in use" : "lone"}`)!.flatMap((r) => r.ms),
  );
const rows = cases.map((c) => {
  const all = samples.get(c.name)!.flatMap((r) => r.ms);
  return {
    case: c.name,
    medianMs: +median(all).toFixed(1),
    vsReference: +(median(all) / ref(c.inUse)).toFixed(2),
  };
});
console.log(
  `\npodman run --rm --network N busybox true, wall ms (medians of ${N} x ${REPS} interleaved rounds)`,
);
for (const r of rows) {
  console.log(`${r.case.padEnd(34)} ${String(r.medianMs).padStart(8)}  ${r.vsReference}x`);
}
const path = finishResult(started, {
  samples: {
    unit: "ms per podman run, wall",
    cases: [...samples].map(([c, reps]) => ({ case: c, reps })),
  },
  summary: rows,
});
if (path) console.error(`wrote ${path}`);
