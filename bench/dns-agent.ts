/**
 * Container names end to end, as users get them: a bridge network made with `newNetwork`, 100
 * containers linked with `link()`, names served by nslink's host agent (started on demand).
 * Measures, with dnsperf 2.10 from a container namespace to the gateway: queries per second for
 * container names; average latency at 1,000 queries/s; the first query after `link()` returns
 * (answered, or how many tries it took: nslink's promise is that the first one answers); and
 * queries lost by a steady 2,000 queries/s while 100 containers link and unlink.
 *
 * Run inside the throw-away namespace, as root, under Deno or Bun (the agent runs under the same
 * runtime):
 *
 * ```sh
 * bash scripts/in-netns.sh bash scripts/deno.sh run -A bench/dns-agent.ts [--seconds 5]
 * bash scripts/in-netns.sh node_modules/.bin/bun bench/dns-agent.ts
 * ```
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import process from "node:process";
import $ from "dax-sh";
import { newNetwork, newNetworkNamespace } from "../mod.ts";

const args = process.argv.slice(2);
const i = args.indexOf("--seconds");
const SECONDS = i >= 0 ? Number(args[i + 1]) : 5;
const GW = "198.51.100.1";
const runtime = "Bun" in globalThis ? "bun" : "deno";

if (!readFileSync("/proc/self/mountinfo", "utf8").includes("nslink-run")) {
  console.error("bench/dns-agent.ts: run it inside scripts/in-netns.sh (a throw-away namespace)");
  process.exit(1);
}

const dir = mkdtempSync(`${tmpdir()}/nslbda-`);
const stateDir = `${dir}/state`;
const net = await newNetwork("bridge", "nslbda", {
  stateDir,
  bridgeName: "nslbdab",
  subnet: "198.51.100.0/24",
});
const client = await newNetworkNamespace("/run/netns/nslbdac");

function dnsperf(file: string, extra: string[]): ChildProcess & { out: Promise<string> } {
  const c = spawn("ip", [
    "netns",
    "exec",
    "nslbdac",
    "dnsperf",
    "-s",
    GW,
    "-d",
    file,
    ...extra,
  ], { stdio: ["ignore", "pipe", "inherit"] });
  let text = "";
  c.stdout!.on("data", (d) => (text += d));
  const out = new Promise<string>((r) => c.on("exit", () => r(text)));
  return Object.assign(c, { out });
}
const num = (out: string, re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);

try {
  for (const iface of await net.link("client", { namespace: client })) {
    await client.addInterface(iface);
  }
  for (let n = 0; n < 100; n++) await net.link(`c${n}`);
  writeFileSync(
    `${dir}/names`,
    Array.from({ length: 100 }, (_, n) => `c${n}.dns.nslink A`).join("\n") + "\n",
  );
  const max = await dnsperf(`${dir}/names`, ["-l", String(SECONDS), "-c", "4"]).out;
  const slow = await dnsperf(`${dir}/names`, ["-l", String(SECONDS), "-Q", "1000"]).out;
  console.log(
    `${runtime} agent: names ${num(max, /Queries per second:\s+([\d.]+)/).toFixed(0)} q/s ` +
      `(lost ${num(max, /Queries lost:\s+(\d+)/)}); at 1000 q/s average ` +
      `${(num(slow, /Average Latency \(s\):\s+([\d.]+)/) * 1000).toFixed(3)} ms`,
  );

  // The first query after link() returns: answered at once, every time?
  let first = 0;
  const tries = 20;
  for (let n = 0; n < tries; n++) {
    await net.link(`new${n}`);
    const r =
      await $`ip netns exec nslbdac dig @${GW} +tries=1 +timeout=2 +short new${n}.dns.nslink`
        .noThrow().stdout("piped").stderr("piped");
    if (r.stdout.trim() !== "") first++;
    await net.unlink(`new${n}`);
  }
  console.log(`${runtime} agent: first query after link() answered ${first}/${tries} times`);

  // Steady load on a stable name while 100 containers link and unlink.
  writeFileSync(`${dir}/stable`, "c0.dns.nslink A\n");
  const load = dnsperf(`${dir}/stable`, ["-l", "1000", "-Q", "2000"]);
  const t0 = Date.now();
  for (let n = 0; n < 100; n++) await net.link(`churn${n}`);
  for (let n = 0; n < 100; n++) await net.unlink(`churn${n}`);
  const churnMs = Date.now() - t0;
  load.kill("SIGINT");
  const out = await load.out;
  console.log(
    `${runtime} agent: while 100 link + 100 unlink (${churnMs} ms): ` +
      `${num(out, /Queries sent:\s+(\d+)/)} sent, ${num(out, /Queries lost:\s+(\d+)/)} lost`,
  );
} finally {
  for (let n = 0; n < 100; n++) await net.unlink(`c${n}`).catch(() => {});
  await client.delete();
  await net.unlink("client");
  await net.delete();
  rmSync(dir, { recursive: true, force: true });
}
