/**
 * Simulated overlay hosts for the privileged overlay tests (not a test itself): each host is a
 * network namespace running its own nslink process (`_overlay_host.ts`), driven by one JSON
 * command per line; and the plain hosts-and-etcd setup of the overlay tests ({@linkcode etcdHosts}).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { dirname, join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import $ from "dax-sh";
import { readdirSync, statSync } from "node:fs";
import type { Interface } from "../../mod.ts";
import { exec, ipJson, sleep } from "./_helpers.ts";
import { killAgents, removeStateDir } from "./_agent_helpers.ts";
import { type EtcdCluster, startEtcd } from "./_etcd.ts";
import { nslinkArgv } from "./_cli_helpers.ts";

const WORKER = join(dirname(fileURLToPath(import.meta.url)), "_overlay_host.ts");

/** A worker's answer. */
export interface Reply {
  /** The command's id. */
  id: number;
  /** Whether it succeeded. */
  ok: boolean;
  /** The error's message, when it failed. */
  error?: string;
  /** Other fields of the answer. */
  [k: string]: unknown;
}

/** One simulated host: a namespace with an underlay address, and an nslink process in it. */
export class Host {
  #proc: ChildProcess | undefined;
  #next = 1;
  #waiting = new Map<number, (r: Reply) => void>();
  #buf = "";
  /** What the process wrote to stderr. */
  stderr = "";

  /**
   * @param ns The host's namespace (under /run/netns).
   * @param addr Its underlay address (what it advertises).
   */
  constructor(readonly ns: string, readonly addr: string) {}

  /** Starts the host's nslink process. */
  async start(): Promise<void> {
    const argv = "Bun" in globalThis ? [WORKER] : ["run", "-A", WORKER];
    const p = spawn("nsenter", [`--net=/run/netns/${this.ns}`, process.execPath, ...argv], {
      stdio: ["pipe", "pipe", "pipe"],
    });
    this.#proc = p;
    this.#buf = "";
    p.stderr!.on("data", (d) => (this.stderr += d));
    p.stdout!.on("data", (d) => {
      this.#buf += d;
      let nl;
      while ((nl = this.#buf.indexOf("\n")) >= 0) {
        const line = this.#buf.slice(0, nl);
        this.#buf = this.#buf.slice(nl + 1);
        const r = JSON.parse(line) as Reply;
        this.#waiting.get(r.id)?.(r);
        this.#waiting.delete(r.id);
      }
    });
    await new Promise<void>((resolve, reject) => {
      this.#waiting.set(0, () => resolve());
      p.once(
        "exit",
        (code) => reject(new Error(`host ${this.ns} exited (${code}): ${this.stderr}`)),
      );
    });
  }

  /** Sends a command; rejects with the worker's error message. */
  async call(op: string, fields: Record<string, unknown> = {}): Promise<Reply> {
    const r = await this.try(op, fields);
    if (!r.ok) throw new Error(`host ${this.ns} ${op}: ${r.error}\n${this.stderr}`);
    return r;
  }

  /** Sends a command; resolves with the reply, successful or not. */
  try(op: string, fields: Record<string, unknown> = {}): Promise<Reply> {
    const id = this.#next++;
    const p = this.#proc;
    if (!p) throw new Error(`host ${this.ns} is not running`);
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, resolve);
      p.once("exit", () => reject(new Error(`host ${this.ns} died during ${op}: ${this.stderr}`)));
      p.stdin!.write(JSON.stringify({ id, op, ...fields }) + "\n");
    });
  }

  /**
   * Links containers (the worker makes their namespaces) to a network of this process.
   *
   * @param network The network's name.
   * @param endpoints The containers' names.
   * @param address A static IPv4 address (one container).
   * @returns Their interfaces, by container name.
   */
  async link(
    network: string,
    endpoints: string[],
    address?: string,
  ): Promise<Record<string, Interface>> {
    const r = await this.call("link", {
      name: network,
      endpoints,
      ...(address ? { address } : {}),
    });
    return r.interfaces as Record<string, Interface>;
  }

  /** kill -9 (whatever it is doing). */
  async kill(): Promise<void> {
    const p = this.#proc;
    if (!p) return;
    this.#proc = undefined;
    if (p.exitCode === null && p.signalCode === null) {
      const gone = new Promise((r) => p.once("exit", r));
      p.kill("SIGKILL");
      await gone;
    }
  }

  /** Sends a command without waiting for its answer (to kill the process midway). */
  send(op: string, fields: Record<string, unknown> = {}): void {
    const id = this.#next++;
    this.#proc?.stdin?.write(JSON.stringify({ id, op, ...fields }) + "\n");
  }

  /**
   * Ends the process normally (stdin closed), or kills it after 5 s; then the host's agent (its
   * overlay networks have names, so the library started one) is killed too: a host's teardown.
   */
  async stop(): Promise<void> {
    const p = this.#proc;
    if (!p) return killHostAgents(this.ns);
    this.#proc = undefined;
    const gone = new Promise((r) => p.once("exit", r));
    p.stdin!.end();
    await Promise.race([gone, sleep(5000)]);
    if (p.exitCode === null && p.signalCode === null) {
      p.kill("SIGKILL");
      await gone;
    }
    killHostAgents(this.ns);
  }
}

/**
 * Kills the host agents a simulated host's nslink processes started (overlay networks have
 * names by default): those of the state directory `_overlay_host.ts` gives the host.
 *
 * @param ns The host's namespace (under /run/netns).
 */
export function killHostAgents(ns: string): void {
  let ino: number;
  try {
    ino = statSync(`/run/netns/${ns}`).ino;
  } catch {
    return;
  }
  killAgents(`/run/nslink-host-${ino}`);
}

/**
 * Removes a simulated host's state directory (its networks' records; their kernel objects go
 * with the host's namespace) after killing its agents: a test's last cleanup of a host, before
 * its namespace is deleted (the directory is named after it).
 *
 * @param ns The host's namespace (under /run/netns).
 */
export function removeHostState(ns: string): void {
  let ino: number;
  try {
    ino = statSync(`/run/netns/${ns}`).ino;
  } catch {
    return;
  }
  removeStateDir(`/run/nslink-host-${ino}`);
}

/** Runs a command, failing with its stderr. */
export async function cmd(argv: string[]): Promise<void> {
  const r = await exec(argv);
  if (r.code !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
}

/**
 * Connects a namespace to a bridge of the sandbox: a veth pair, the sandbox end `hostSide` on
 * `bridge`, the other end `dev` in `ns`; both up.
 */
export async function plug(bridge: string, hostSide: string, ns: string, dev: string) {
  await cmd(["ip", "link", "add", hostSide, "type", "veth", "peer", "name", dev, "netns", ns]);
  await cmd(["ip", "link", "set", hostSide, "master", bridge, "up"]);
  await cmd(["ip", "-n", ns, "link", "set", dev, "up"]);
}

/** A namespace's name: given, or a host's. */
type NsOf = string | { ns: string };
const nsOf = (h: NsOf): string => typeof h === "string" ? h : h.ns;

/** A host's FDB entries with a remote destination on `nslvx<VNI>`. */
export async function fdb(h: NsOf, vni: number): Promise<{ mac: string; dst?: string }[]> {
  const r = await $`bridge -n ${nsOf(h)} -j fdb show dev nslvx${vni}`.stdout("piped");
  const t = r.stdout.trim();
  return (t === "" ? [] : JSON.parse(t) as { mac: string; dst?: string }[]).filter((e) => e.dst);
}

/** A host's neighbour entries on `nslvx<VNI>`. */
export function neigh(h: NsOf, vni: number): Promise<{ dst: string; lladdr?: string }[]> {
  return ipJson(["-n", nsOf(h), "neigh", "show", "dev", `nslvx${vni}`]);
}

/** One ping from a namespace; whether it was answered. */
export async function ping(fromNs: string, to: string): Promise<boolean> {
  const r = await exec(["ip", "netns", "exec", fromNs, "ping", "-c1", "-W1", to]);
  return r.code === 0;
}

/** Waits for a condition (a deadline, not a speed target). */
export async function until(what: string, fn: () => Promise<boolean>, ms = 5000): Promise<number> {
  const t0 = Date.now();
  while (!(await fn())) {
    if (Date.now() - t0 > ms) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
  return Date.now() - t0;
}

/** A foreground `nslink agent` in a host's namespace: see {@linkcode startAgent}. */
export interface ForegroundAgent {
  /** Its pid. */
  readonly pid: number | undefined;
  /** What it has written to stdout so far. */
  readonly out: string;
  /** What it has written to stderr so far. */
  readonly err: string;
  /** Its exit status and signal, once it has ended. */
  readonly exited: Promise<[number | null, string | null]>;
  /**
   * Waits until `fn` holds (a deadline, not a speed target); the error names what the agent
   * wrote so far.
   */
  ready(what: string, fn: () => boolean | Promise<boolean>, ms: number): Promise<void>;
  /** Sends it SIGTERM and waits for its exit. */
  stop(): Promise<[number | null, string | null]>;
}

/**
 * Starts `nslink agent ARGS…` in a namespace with its own state directory, as a service manager
 * runs it (in the foreground, until SIGTERM).
 *
 * @param ns The namespace (under /run/netns): a simulated host's.
 * @param stateDir `NSLINK_STATE_DIR` for it.
 * @param args What follows `agent`: `--store URL --advertise ADDRESS [-o ttl=N] NETWORK…`.
 * @returns The running agent.
 */
export function startAgent(ns: string, stateDir: string, args: string[]): ForegroundAgent {
  const p = spawn("nsenter", [`--net=/run/netns/${ns}`, ...nslinkArgv(), "agent", ...args], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NSLINK_STATE_DIR: stateDir },
  });
  let out = "";
  let err = "";
  p.stdout!.on("data", (d) => (out += d));
  p.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<[number | null, string | null]>((r) =>
    p.once("exit", (code, signal) => r([code, signal]))
  );
  return {
    pid: p.pid,
    get out() {
      return out;
    },
    get err() {
      return err;
    },
    exited,
    async ready(what, fn, ms) {
      await until(what, async () => await fn(), ms).catch((e) => {
        throw new Error(`${e.message}: ${out} ${err}`);
      });
    },
    stop() {
      p.kill("SIGTERM");
      return exited;
    },
  };
}

/** An address without its prefix. */
export const bare = (cidr: string): string => cidr.split("/")[0];

/** Simulated hosts on one management bridge with an etcd on it: see {@linkcode etcdHosts}. */
export interface EtcdHosts {
  /**
   * The hosts: namespace, underlay IPv4 address (198.51.100.11, .12, …) and, with
   * {@linkcode EtcdHostsOptions.ipv6Underlay}, IPv6 address (2001:db8:10::11, ::12, …).
   */
  hosts: { n: number; ns: string; v4: string; v6: string }[];
  /** The etcd's client URL (on 198.51.100.1), once {@linkcode EtcdHosts.setUp} has run. */
  url(): string;
  /**
   * Starts a host process in host `i`'s namespace, advertising its IPv4 (management) or IPv6
   * (underlay) address (stopped by {@linkcode EtcdHosts.tearDown}).
   */
  host(i: number, family?: 4 | 6): Promise<Host>;
  /** Makes the bridges, the hosts' namespaces and the etcd. */
  setUp(): Promise<void>;
  /** Stops the host processes, removes their state, the etcd, the namespaces and the bridges. */
  tearDown(): Promise<void>;
}

/** Options of {@linkcode etcdHosts}. */
export interface EtcdHostsOptions {
  /**
   * A second bridge `${P}u` that carries only IPv6 (2001:db8:10::/64, no IPv4 at all), plugged
   * into every host as `u0`: VXLAN over an IPv6 underlay.
   */
  ipv6Underlay?: boolean;
}

/**
 * The setup of the overlay tests that need only plain hosts: a management bridge `${P}m`
 * holding 198.51.100.1 (where one etcd listens) and `count` hosts as namespaces `${P}h1…`
 * plugged into it at 198.51.100.11, .12, …; with `ipv6Underlay`, an IPv6-only underlay too.
 *
 * @param P The run's prefix.
 * @param count How many hosts.
 * @param opts See {@linkcode EtcdHostsOptions}.
 */
export function etcdHosts(P: string, count: number, opts: EtcdHostsOptions = {}): EtcdHosts {
  const MGMT = `${P}m`;
  const UNDER6 = `${P}u`;
  const hosts = Array.from({ length: count }, (_, i) => ({
    n: i + 1,
    ns: `${P}h${i + 1}`,
    v4: `198.51.100.${11 + i}`,
    v6: `2001:db8:10::${11 + i}`,
  }));
  const running: Host[] = [];
  let etcd: EtcdCluster | undefined;
  return {
    hosts,
    url: () => etcd!.url,
    async host(i, family = 4) {
      const h = new Host(hosts[i].ns, family === 4 ? hosts[i].v4 : hosts[i].v6);
      await h.start();
      running.push(h);
      return h;
    },
    async setUp() {
      await cmd(["ip", "link", "add", MGMT, "type", "bridge"]);
      await cmd(["ip", "link", "set", MGMT, "up"]);
      await cmd(["ip", "addr", "add", "198.51.100.1/24", "dev", MGMT]);
      if (opts.ipv6Underlay) {
        await cmd(["ip", "link", "add", UNDER6, "type", "bridge"]);
        await cmd(["ip", "link", "set", UNDER6, "up"]);
      }
      for (const h of hosts) {
        await cmd(["ip", "netns", "add", h.ns]);
        await cmd(["ip", "-n", h.ns, "link", "set", "lo", "up"]);
        await plug(MGMT, `${P}m${h.n}`, h.ns, "m0");
        await cmd(["ip", "-n", h.ns, "addr", "add", `${h.v4}/24`, "dev", "m0"]);
        if (opts.ipv6Underlay) {
          await plug(UNDER6, `${P}u${h.n}`, h.ns, "u0");
          await cmd(["ip", "-n", h.ns, "addr", "add", `${h.v6}/64`, "dev", "u0", "nodad"]);
        }
      }
      etcd = await startEtcd(["198.51.100.1"]);
    },
    async tearDown() {
      for (const h of running) await h.stop();
      // The agents the hosts' overlay networks started (one per host's state directory), and
      // the directories (the networks' kernel objects go with the hosts' namespaces below).
      for (const h of hosts) removeHostState(h.ns);
      await etcd?.stop();
      for (const name of readdirSync("/run/netns").filter((n) => n.startsWith(P))) {
        await exec(["ip", "netns", "del", name]);
      }
      await exec(["ip", "link", "del", MGMT]);
      if (opts.ipv6Underlay) await exec(["ip", "link", "del", UNDER6]);
    },
  };
}
