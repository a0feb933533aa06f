/**
 * A quick DNS benchmark (issue 17's table, first cut): queries per second for container names,
 * and latency at a fixed 1,000 queries/s, for nslink's DNS server on Deno and on Bun against
 * dnsmasq 2.90 (an addn-hosts file) and aardvark-dns 1.4 (Podman's), plus forwarded queries
 * against a local upstream (dnsmasq on 127.0.0.1). Load from dnsperf 2.10 in a container
 * namespace, to the server on its bridge's gateway, 100 names; everything on the same cores.
 *
 * One command runs it with the agent bench and re-renders docs/benchmarks.md: `bash bench/run-dns.sh`
 * (installs dnsperf, dnsmasq and aardvark-dns if missing, or skips the peer with the reason). By hand,
 * inside the throw-away namespace, as root:
 *
 * ```sh
 * bash scripts/in-netns.sh bash scripts/deno.sh run -A bench/dns.ts [--seconds 5] [--peers a,b] [--no-rt]
 * ```
 *
 * It prints one line per peer and measure and writes a result file (`bench/results/dns-all-…json`,
 * bench/lib/results.ts) with every query's latency at 1,000 queries/s (µs, from `dnsperf -v`), measured
 * twice: as is, and with the server (all its threads) and dnsperf under SCHED_FIFO (`chrt`, skipped
 * with `--no-rt`), which takes waiting for a CPU behind other processes out of the figure.
 * `bench/render.ts` turns it into docs/benchmarks.md's DNS table. A peer whose program is missing is
 * reported as skipped with the reason, never left out silently. The upstream for forwarded names is
 * dnsmasq on 127.0.0.1 port 53; the sandbox's /etc/resolv.conf is bind-mounted to name it (in the
 * sandbox's own mount namespace) so that aardvark-dns, which forwards to the resolv.conf servers,
 * forwards there too. Every object it makes is named `nslbd…` and removed at the end (the
 * namespace goes with the sandbox anyway).
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import process from "node:process";
import $ from "dax-sh";
import { finishResult, startResult } from "./lib/results.ts";

const args = process.argv.slice(2);
const opt = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : def;
};
const SECONDS = Number(opt("seconds", "5"));
const PEERS = opt("peers", "nslink-deno,nslink-bun,dnsmasq,aardvark-dns").split(",");
const N = 100;
const RT = !args.includes("--no-rt");
const GW = "198.51.100.1";
const CLIENT = "198.51.100.250";
const UPSTREAM = "127.0.0.1";
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
  sent: number;
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
    sent: num(/Queries sent:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    avgMs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
  };
}

/** Every query's latency (µs) at a fixed rate, from dnsperf -v, with the count of lost ones. */
async function latency(
  file: string,
  qps: number,
  prefix: string[] = [],
): Promise<{ us: number[]; lost: number; p50: number; p99: number }> {
  const out = await sh([
    ...prefix,
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
  const us = out.split("\n").map((l) => /^> \S+ .* ([\d.]+)$/.exec(l)?.[1]).filter((x) =>
    x !== undefined
  ).map((x) => Math.round(Number(x) * 1e6));
  const lat = [...us].sort((a, b) => a - b);
  const pct = (p: number) =>
    (lat[Math.min(lat.length - 1, Math.ceil(lat.length * p) - 1)] ?? NaN) / 1000;
  return {
    us,
    lost: Number(/Queries lost:\s+(\d+)/.exec(out)?.[1] ?? NaN),
    p50: pct(0.5),
    p99: pct(0.99),
  };
}

/** What one peer measured (a result file's `samples.peers[]`). */
interface PeerRecord {
  peer: string;
  status: "ok" | "skipped" | "failed";
  reason?: string;
  /** dnsperf at full speed on the 100 names. */
  names?: Perf;
  /** dnsperf at 1,000 queries/s: each answered query's latency, µs, in the order answered. */
  latency?: { rate: number; lost: number; us: number[] };
  /** The same, the server and dnsperf under SCHED_FIFO (unless `--no-rt`). */
  latencyRealtime?: { rate: number; lost: number; us: number[] };
  /** dnsperf at full speed on names only the upstream knows. */
  forward?: Perf;
}

/** A started peer: its server's pid and how to stop it. */
interface Running {
  pid: number;
  down: () => Promise<void>;
}

/** The first missing program of a peer, or undefined. */
function missing(paths: string[]): string | undefined {
  return paths.find((p) => !existsSync(p));
}

const records: PeerRecord[] = [];
const resolvConf = `${dir}/resolv.conf`;
const run = startResult("dns", {
  names: N,
  seconds: SECONDS,
  latencyRate: 1000,
  realtime: RT,
  peers: PEERS,
}, {
  runtime: "all",
});

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
  // The local upstream for forwarded names, named by the sandbox's resolv.conf (aardvark-dns
  // reads it; the bind mount lives in the sandbox's mount namespace only).
  writeFileSync(resolvConf, `nameserver ${UPSTREAM}\n`);
  await sh(["mount", "--bind", resolvConf, "/etc/resolv.conf"]);
  start("dnsmasq", [
    "--no-daemon",
    "--no-resolv",
    "--no-hosts",
    `--addn-hosts=${dir}/upstream-hosts`,
    `--listen-address=${UPSTREAM}`,
    "--port=53",
    "--bind-interfaces",
    "--pid-file=",
  ]);

  const AARDVARK = "/usr/lib/podman/aardvark-dns";
  const peers: Record<string, { needs: string[]; up: () => Promise<Running> }> = {
    "nslink-deno": {
      needs: [`${ROOT}node_modules/.bin/deno`],
      up: () => {
        const c = start(`${ROOT}node_modules/.bin/deno`, [
          "run",
          "-A",
          `${ROOT}bench/lib/dns_server.ts`,
          GW,
          String(N),
          UPSTREAM,
        ]);
        return Promise.resolve({ pid: c.pid!, down: () => stop(c) });
      },
    },
    "nslink-bun": {
      needs: [`${ROOT}node_modules/.bin/bun`],
      up: () => {
        const c = start(`${ROOT}node_modules/.bin/bun`, [
          `${ROOT}bench/lib/dns_server.ts`,
          GW,
          String(N),
          UPSTREAM,
        ]);
        return Promise.resolve({ pid: c.pid!, down: () => stop(c) });
      },
    },
    "dnsmasq": {
      needs: ["/usr/sbin/dnsmasq"],
      up: () => {
        const c = start("dnsmasq", [
          "--no-daemon",
          "--no-resolv",
          "--no-hosts",
          `--addn-hosts=${dir}/hosts`,
          `--listen-address=${GW}`,
          "--bind-interfaces",
          "--pid-file=",
          `--server=${UPSTREAM}`,
        ]);
        return Promise.resolve({ pid: c.pid!, down: () => stop(c) });
      },
    },
    "aardvark-dns": {
      needs: [AARDVARK],
      up: async () => {
        const conf = `${dir}/aardvark`;
        rmSync(conf, { recursive: true, force: true });
        await sh(["mkdir", "-p", conf]);
        // As netavark writes it: the gateway, then "ID IPV4 IPV6 NAMES"; upstreams from
        // /etc/resolv.conf (the bind mount above).
        const lines = [GW];
        for (let i = 0; i < N; i++) {
          lines.push(`${i.toString(16).padStart(64, "0")} 198.51.100.${10 + i}  c${i},alias${i}`);
        }
        writeFileSync(`${conf}/bench`, lines.join("\n") + "\n");
        await sh([AARDVARK, "--config", conf, "-p", "53", "run"]);
        const pid = Number(readFileSync(`${conf}/aardvark.pid`, "utf8").trim());
        return {
          pid,
          down: async () => {
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
          },
        };
      },
    },
  };

  const dnsperfMissing = missing(["/usr/bin/dnsperf"]);
  if (dnsperfMissing) {
    throw new Error("dnsperf is not installed (bash bench/run-dns.sh installs it)");
  }
  console.log(`dnsperf 2.10, ${N} names, ${SECONDS} s per run, from a container to ${GW}`);
  for (const name of PEERS) {
    const peer = peers[name];
    if (!peer) throw new Error(`unknown peer "${name}"`);
    const rec: PeerRecord = { peer: name, status: "ok" };
    records.push(rec);
    const absent = missing(peer.needs);
    if (absent) {
      rec.status = "skipped";
      rec.reason = `${absent} is not installed`;
      console.log(`${name.padEnd(13)} skipped: ${rec.reason}`);
      continue;
    }
    let down: (() => Promise<void>) | undefined;
    try {
      const running = await peer.up();
      down = running.down;
      await waitReady(name);
      const max = await dnsperf(`${dir}/names.txt`, []);
      rec.names = max;
      const lat = await latency(`${dir}/names.txt`, 1000);
      rec.latency = { rate: 1000, lost: lat.lost, us: lat.us };
      console.log(
        `${name.padEnd(13)} names:   ${max.qps.toFixed(0).padStart(7)} q/s (lost ${max.lost}, ` +
          `avg ${max.avgMs.toFixed(3)} ms); at 1000 q/s p50 ${lat.p50.toFixed(3)} ms, ` +
          `p99 ${lat.p99.toFixed(3)} ms`,
      );
      if (RT) {
        // The same with the server (every thread) and dnsperf under SCHED_FIFO: no waiting for
        // a CPU behind other processes, so what is left is the server's own time.
        await sh(["chrt", "-a", "-f", "-p", "10", String(running.pid)]);
        try {
          const rt = await latency(`${dir}/names.txt`, 1000, ["chrt", "-f", "10"]);
          rec.latencyRealtime = { rate: 1000, lost: rt.lost, us: rt.us };
          console.log(
            `${name.padEnd(13)} SCHED_FIFO: at 1000 q/s p50 ${rt.p50.toFixed(3)} ms, ` +
              `p99 ${rt.p99.toFixed(3)} ms`,
          );
        } finally {
          await sh(["chrt", "-a", "-o", "-p", "0", String(running.pid)]);
        }
      }
      const fwd = await dnsperf(`${dir}/forward.txt`, []);
      rec.forward = fwd;
      console.log(
        `${name.padEnd(13)} forward: ${fwd.qps.toFixed(0).padStart(7)} q/s (lost ${fwd.lost}, ` +
          `avg ${fwd.avgMs.toFixed(3)} ms)`,
      );
    } catch (e) {
      rec.status = "failed";
      rec.reason = (e as Error).message.split("\n")[0];
      console.log(`${name.padEnd(13)} failed: ${rec.reason}`);
    } finally {
      await down?.();
    }
  }
  const versions: Record<string, string> = { dnsperf: "2.10" };
  for (
    const [k, cmd] of [["dnsmasq", ["dnsmasq", "--version"]], ["aardvark-dns", [
      AARDVARK,
      "--version",
    ]]] as const
  ) {
    const r = await $`${cmd}`.noThrow().stdout("piped").stderr("piped");
    const v = /(\d+\.\d+(?:\.\d+)?)/.exec(r.stdout)?.[1];
    if (v) versions[k] = v;
  }
  const path = finishResult(run, {
    samples: { unit: "latency µs per answered query; qps and avgMs from dnsperf", peers: records },
    versions,
  });
  if (path) console.error(`wrote ${path}`);
} finally {
  for (const c of children) await stop(c);
  await $`umount /etc/resolv.conf`.noThrow().quiet();
  await $`ip netns del ${NS}`.noThrow().quiet();
  await $`ip link del ${BR}`.noThrow().quiet();
  rmSync(dir, { recursive: true, force: true });
}
