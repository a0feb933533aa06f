/**
 * Starts real etcd (Debian's `etcd-server`, 3.4) for the privileged tests, inside the test's
 * throw-away namespace: one member or a cluster, each on its own address, with a data directory
 * under a fresh temporary directory. `stop()` kills every member and removes the data; a member
 * can be killed (SIGKILL) and started again on its data directory.
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";

/** One member. */
export interface EtcdMember {
  /** Its name, e.g. `m1`. */
  readonly name: string;
  /** Its client URL, e.g. `http://198.51.100.1:2379`. */
  readonly clientUrl: string;
  /** Whether its process runs. */
  readonly running: boolean;
  /** Kills it with SIGKILL and waits for the process to end. */
  kill(): Promise<void>;
  /** Starts it again on its data directory. */
  start(): Promise<void>;
}

/** A running cluster. */
export interface EtcdCluster {
  /** `etcd://A:2379,B:2379,…`. */
  readonly url: string;
  /** The members. */
  readonly members: EtcdMember[];
  /** Kills every member and removes every data directory. */
  stop(): Promise<void>;
}

function waitExit(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => p.once("exit", () => resolve()));
}

async function healthy(clientUrl: string, deadline: number): Promise<void> {
  let last = "";
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`${clientUrl}/v3/kv/range`, {
        method: "POST",
        body: JSON.stringify({ key: btoa("/health") }),
        signal: AbortSignal.timeout(1000),
      });
      if (r.ok) {
        await r.body?.cancel();
        return;
      }
      last = `HTTP ${r.status}`;
      await r.body?.cancel();
    } catch (e) {
      last = String(e);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`etcd at ${clientUrl} did not become ready: ${last}`);
}

/**
 * Starts an etcd cluster with one member per address (the addresses must exist on a local
 * interface), and waits until every member answers.
 *
 * @param addresses The members' IPv4 addresses, e.g. `["127.0.0.1"]`.
 * @param options `port` base (client port; peer port is +1); `env` for the processes.
 * @returns The cluster.
 */
export async function startEtcd(
  addresses: string[],
  options: { clientPort?: number; peerPort?: number } = {},
): Promise<EtcdCluster> {
  const clientPort = options.clientPort ?? 2379;
  const peerPort = options.peerPort ?? 2380;
  const root = mkdtempSync(join(tmpdir(), "nslink-etcd-"));
  const initialCluster = addresses.map((a, i) => `m${i + 1}=http://${a}:${peerPort}`).join(",");
  const token = `nslink-${Math.random().toString(16).slice(2)}`;
  const members: (EtcdMember & { proc?: ChildProcess })[] = addresses.map((addr, i) => {
    const name = `m${i + 1}`;
    const dataDir = join(root, name);
    const clientUrl = `http://${addr}:${clientPort}`;
    const m = {
      name,
      clientUrl,
      proc: undefined as ChildProcess | undefined,
      get running() {
        return m.proc !== undefined && m.proc.exitCode === null && m.proc.signalCode === null;
      },
      kill: async () => {
        const p = m.proc;
        if (!p) return;
        if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
        await waitExit(p);
        m.proc = undefined;
      },
      start: () => {
        if (m.running) return Promise.resolve();
        const p = spawn("etcd", [
          "--name",
          name,
          "--data-dir",
          dataDir,
          "--listen-client-urls",
          clientUrl,
          "--advertise-client-urls",
          clientUrl,
          "--listen-peer-urls",
          `http://${addr}:${peerPort}`,
          "--initial-advertise-peer-urls",
          `http://${addr}:${peerPort}`,
          "--initial-cluster",
          initialCluster,
          "--initial-cluster-token",
          token,
          "--initial-cluster-state",
          "new",
          "--heartbeat-interval",
          "50",
          "--election-timeout",
          "500",
          "--log-level",
          "error",
        ], { stdio: ["ignore", "ignore", "pipe"] });
        p.stderr?.on("data", () => {});
        m.proc = p;
        return Promise.resolve();
      },
    };
    return m;
  });
  const stop = async () => {
    process.off("exit", onExit);
    await Promise.all(members.map((m) => m.kill()));
    rmSync(root, { recursive: true, force: true });
  };
  // A test process that ends without stop() (a crash, a failed before()) takes etcd with it.
  const onExit = () => {
    for (const m of members) if (m.running) m.proc?.kill("SIGKILL");
    rmSync(root, { recursive: true, force: true });
  };
  process.on("exit", onExit);
  try {
    await Promise.all(members.map((m) => m.start()));
    const deadline = Date.now() + 15_000;
    await Promise.all(members.map((m) => healthy(m.clientUrl, deadline)));
  } catch (e) {
    await stop();
    throw e;
  }
  return {
    url: `etcd://${addresses.map((a) => `${a}:${clientPort}`).join(",")}`,
    members,
    stop,
  };
}
