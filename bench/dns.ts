/**
 * A quick DNS benchmark (issue 17's table, first cut): queries per second for container names,
 * and latency at a fixed 1,000 queries/s, for nslink's DNS server on Deno and on Bun against
 * dnsmasq 2.90 (an addn-hosts file) and aardvark-dns 1.4 (Podman's), plus forwarded queries
 * against a local upstream (dnsmasq on 127.0.0.1). Load from dnsperf 2.10 in a container
 * namespace, to the server on its bridge's gateway, 100 names; everything on the same cores.
 *
 * Run inside the throw-away namespace, as root (needs dnsperf: `apt-get install -y dnsperf`):
 *
 * ```sh
 * bash scripts/in-netns.sh bash scripts/deno.sh run -A bench/dns.ts [--seconds 5] [--peers a,b]
 * ```
 *
 * It prints one line per peer and measure; nothing is written. Every object it makes is named
 * `nslbd…` and removed at the end (the namespace goes with the sandbox anyway).
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import process from "node:process";
import $ from "dax-sh";

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const SECONDS = Number(opt("seconds", "5"));
const PEERS = opt("peers", "nslink-deno,nslink-bun,dnsmasq,aardvark-dns").split(",");
const N = 100;
const GW = "198.51.100.1";
const CLIENT = "198.51.100.250";
const UPSTREAM_PORT = 5399;
const BR = "nslbdbr";
const NS = "nslbdc";
const ROOT = new URL("..", import.meta.url).pathname;

const mounts = readFileSync("/proc/self/mountinfo", "utf8");
if (!mounts.includes(" /run ") || !mounts.includes("nslink-run")) {
  console.error("bench/dns.ts: run it inside scripts/in-netns.sh (a throw-away namespace)");
  process.exit(1);
}

const dir = mkdtempSync(`${tmpdir()}/nslbd-`);
const children: ChildProcess[] = [];

async function sh(cmd: string[]): Promise<string> {
  const r = await $`${cmd}`.noThrow().stdout("piped").stderr("piped");
  if (r.code !== 0) throw new Error(`${cmd.join(" ")}: ${r.stderr.trim()}`);
  return r.stdout;
}

async function digOk(name: string, expect: string): Promise<boolean> {
  const r = await $`ip netns exec ${NS} dig @${GW} +tries=1 +timeout=1 +short ${name}`.noThrow()
    .stdout("piped").stderr("piped");
  return r.stdout.trim() === expect;
}

async function waitReady(what: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while (!(await digOk("c7", "198.51.100.17"))) {
    if (Date.now() > deadline) throw new Error(`${what} did not answer within 15 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function start(cmd: string, argv: string[]): ChildProcess {
  const c = spawn(cmd, argv, { stdio: ["ignore", "ignore", "inherit"] });
  children.push(c);
  return c;
}

async function stop(c: ChildProcess): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const gone = new Promise((r) => c.once("exit", r));
  c.kill("SIGTERM");
  await gone;
}

interface Perf {
  qps: number;
  lost: number;
  avgMs: number;
}

async function dnsperf(file: string, extra: string[]): Promise<Perf> {
  const out = await sh([
    "ip",
    "netns",
    "exec",
    NS,
    "dnsperf",
    "-s",
    GW,
    "-d",
    file,
    "-l",
    String(SECONDS),
    ...extra,
  ]);
  const num = (re: RegExp) => Number(re.exec(out)?.[1] ?? NaN);
  return {
    qps: num(/Queries per second:\s+([\d.]+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    avgMs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
  };
}

/** p50/p99 at a fixed rate, from dnsperf -v's per-query latencies. */
async function latency(file: string, qps: number): Promise<{ p50: number; p99: number }> {
  const out = await sh([
    "ip",
    "netns",
    "exec",
    NS,
    "dnsperf",
    "-s",
    GW,
    "-d",
    file,
    "-l",
    String(Math.min(SECONDS, 3)),
    "-Q",
    String(qps),
    "-v",
  ]);
  const lat = out.split("\n").map((l) => /^> \S+ .* ([\d.]+)$/.exec(l)?.[1]).filter((x) =>
    x !== undefined
  ).map((x) => Number(x) * 1000).sort((a, b) => a - b);
  const pct = (p: number) => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))] ?? NaN;
  return { p50: pct(0.5), p99: pct(0.99) };
}

const results: string[] = [];
const report = (line: string) => {
  results.push(line);
  console.log(line);
};

try {
  // The "host": a bridge with the gateway; one container namespace for dnsperf.
  await sh(["ip", "link", "add", BR, "type", "bridge"]);
  await sh(["ip", "addr", "add", `${GW}/24`, "dev", BR]);
  await sh(["ip", "link", "set", BR, "up"]);
  await sh(["ip", "netns", "add", NS]);
  await sh(["ip", "link", "add", "nslbdv", "type", "veth", "peer", "name", "eth0", "netns", NS]);
  await sh(["ip", "link", "set", "nslbdv", "master", BR, "up"]);
  await sh(["ip", "-n", NS, "addr", "add", `${CLIENT}/24`, "dev", "eth0"]);
  await sh(["ip", "-n", NS, "link", "set", "eth0", "up"]);
  await sh(["ip", "-n", NS, "link", "set", "lo", "up"]);

  const names = Array.from({ length: N }, (_, i) => `c${i} A`).join("\n") + "\n";
  writeFileSync(`${dir}/names.txt`, names);
  writeFileSync(
    `${dir}/forward.txt`,
    Array.from({ length: N }, (_, i) => `f${i}.example A`).join("\n") + "\n",
  );
  writeFileSync(
    `${dir}/hosts`,
    Array.from({ length: N }, (_, i) => `198.51.100.${10 + i} c${i} alias${i}`).join("\n") + "\n",
  );
  writeFileSync(
    `${dir}/upstream-hosts`,
    Array.from({ length: N }, (_, i) => `203.0.113.${10 + i} f${i}.example`).join("\n") + "\n",
  );
  // The local upstream for forwarded names.
  start("dnsmasq", [
    "--no-daemon",
    "--no-resolv",
    "--no-hosts",
    `--addn-hosts=${dir}/upstream-hosts`,
    "--listen-address=127.0.0.1",
    `--port=${UPSTREAM_PORT}`,
    "--bind-interfaces",
    "--pid-file=",
  ]);

  const peers: Record<string, () => Promise<() => Promise<void>>> = {
    "nslink-deno": () => {
      const c = start(`${ROOT}node_modules/.bin/deno`, [
        "run",
        "-A",
        `${ROOT}bench/lib/dns_server.ts`,
        GW,
        String(N),
      ]);
      return Promise.resolve(() => stop(c));
    },
    "nslink-bun": () => {
      const c = start(`${ROOT}node_modules/.bin/bun`, [
        `${ROOT}bench/lib/dns_server.ts`,
        GW,
        String(N),
      ]);
      return Promise.resolve(() => stop(c));
    },
    "dnsmasq": () => {
      const c = start("dnsmasq", [
        "--no-daemon",
        "--no-resolv",
        "--no-hosts",
        `--addn-hosts=${dir}/hosts`,
        `--listen-address=${GW}`,
        "--bind-interfaces",
        "--pid-file=",
        `--server=127.0.0.1#${UPSTREAM_PORT}`,
      ]);
      return Promise.resolve(() => stop(c));
    },
    "aardvark-dns": async () => {
      const conf = `${dir}/aardvark`;
      rmSync(conf, { recursive: true, force: true });
      await sh(["mkdir", "-p", conf]);
      // As netavark writes it: the gateway (and upstreams), then "ID IPV4 IPV6 NAMES".
      const lines = [`${GW} 127.0.0.1`];
      for (let i = 0; i < N; i++) {
        lines.push(`${i.toString(16).padStart(64, "0")} 198.51.100.${10 + i}  c${i},alias${i}`);
      }
      writeFileSync(`${conf}/bench`, lines.join("\n") + "\n");
      await sh(["/usr/lib/podman/aardvark-dns", "--config", conf, "-p", "53", "run"]);
      return async () => {
        const pid = Number(readFileSync(`${conf}/aardvark.pid`, "utf8").trim());
        if (pid > 0) process.kill(pid, "SIGTERM");
        const deadline = Date.now() + 5000;
        while (Date.now() < deadline) {
          try {
            process.kill(pid, 0);
          } catch {
            return;
          }
          await new Promise((r) => setTimeout(r, 20));
        }
      };
    },
  };

  console.log(`dnsperf 2.10, ${N} names, ${SECONDS} s per run, from a container to ${GW}`);
  for (const name of PEERS) {
    const up = peers[name];
    if (!up) throw new Error(`unknown peer "${name}"`);
    let down: (() => Promise<void>) | undefined;
    try {
      down = await up();
      await waitReady(name);
      const max = await dnsperf(`${dir}/names.txt`, []);
      const lat = await latency(`${dir}/names.txt`, 1000);
      report(
        `${name.padEnd(13)} names:   ${max.qps.toFixed(0).padStart(7)} q/s (lost ${max.lost}, ` +
          `avg ${max.avgMs.toFixed(3)} ms); at 1000 q/s p50 ${lat.p50.toFixed(3)} ms, ` +
          `p99 ${lat.p99.toFixed(3)} ms`,
      );
      if (name !== "aardvark-dns") {
        const fwd = await dnsperf(`${dir}/forward.txt`, []);
        report(
          `${name.padEnd(13)} forward: ${fwd.qps.toFixed(0).padStart(7)} q/s (lost ${fwd.lost}, ` +
            `avg ${fwd.avgMs.toFixed(3)} ms)`,
        );
      }
    } catch (e) {
      report(`${name.padEnd(13)} failed: ${(e as Error).message.split("\n")[0]}`);
    } finally {
      await down?.();
    }
  }
} finally {
  for (const c of children) await stop(c);
  await $`ip netns del ${NS}`.noThrow().quiet();
  await $`ip link del ${BR}`.noThrow().quiet();
  rmSync(dir, { recursive: true, force: true });
}
