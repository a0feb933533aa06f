/**
 * Starting and asking the agent from the library: {@linkcode ensureAgent} makes sure the state
 * directory's agent runs (spawning it detached when it does not, its output to `agent.log`) and,
 * when asked to, waits until it has caught up with the state (its DNS sockets bound) before
 * returning. Importing this module registers it with the network layer, so `newNetwork`,
 * `openNetwork`, `link` and `gc()` start the agent while any network exists (it repairs the
 * firewall of every network, and serves the names of DNS-enabled ones); `NSLINK_AGENT=off`
 * tells the library never to start it (see {@linkcode agentOff}).
 *
 * The command spawned: `$NSLINK_AGENT_CMD` (words split on spaces, then `agent --on-demand`),
 * else under Deno `Deno.execPath() run -A …/cli/main.ts agent --on-demand`, under Bun
 * `process.execPath …/cli/main.ts agent --on-demand`, in the compiled `dist/nslink`
 * `process.execPath agent --on-demand`; `NSLINK_STATE_DIR` names the state directory.
 * Deno needs `--allow-run` besides what networks need.
 *
 * @module
 */
import { closeSync, openSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { pidAlive } from "../model/owner.ts";
import { close, O_CLOEXEC, O_RDONLY, open, pread } from "../ffi/libc.ts";
import { registerHostAgent } from "../network/agent_hook.ts";
import { agentPaths } from "./agent.ts";

/** `node:net`, loaded on first use: a CNI exec that never needs it does not pay for loading it. */
const net = () => process.getBuiltinModule("node:net") as typeof import("node:net");
/** `node:child_process`, loaded on first use. */
const childProcess = () =>
  process.getBuiltinModule("node:child_process") as typeof import("node:child_process");
/** `fileURLToPath` of `node:url`, loaded on first use. */
const fileURLToPath = (url: string) =>
  (process.getBuiltinModule("node:url") as typeof import("node:url")).fileURLToPath(url);

/** Options of {@linkcode ensureAgent}. */
export interface EnsureAgentOptions {
  /** Wait until the agent has caught up with the state (new networks' sockets bound). */
  sync?: boolean;
  /**
   * Whether a network needs the agent; when left out, the state directory's networks are read
   * to find out.
   */
  needed?: boolean;
  /** Start it when it does not run (default `true`). */
  spawn?: boolean;
  /** How long to wait for a started agent, in ms; default 20 000. */
  timeoutMs?: number;
  /**
   * `false`: start the agent when none serves (none runs, or the one that runs is exiting) and
   * return at once, without waiting for it to answer or sync (a CNI exec: the container's names
   * are served a moment later, the firewall watched; see {@linkcode startAgentsWithoutWaiting}).
   * Default `true`.
   */
  wait?: boolean;
}

/** What the agent replied. */
export interface AgentReply {
  /** The request was understood. */
  ok: boolean;
  /** The agent's pid. */
  pid?: number;
  /** It is stopping (no duty has work). */
  exiting?: boolean;
  /** Each duty's status. */
  duties?: Record<string, Record<string, unknown>>;
  /** How many requests besides its own ops it has served, by op (`cni`: CNI execs' hand-offs). */
  requests?: Record<string, number>;
}

/**
 * The agent this process last found running, with its `/proc/PID/stat` kept open: the open file
 * pins that process, so one `pread` of it tells whether it still runs (once it has exited, the
 * read fails with `ESRCH`, even when its pid has been given to another process meanwhile). This
 * spares `link()` two file reads per call.
 */
let seen: { stateDir: string; pid: number; fd: number } | undefined;
const statBuf = new Uint8Array(1024);
const statText = new TextDecoder();

/** The state field of a `/proc/PID/stat` text, and the rest after it split on spaces. */
function statFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ");
}

function forget(): void {
  if (!seen) return;
  try {
    close(seen.fd);
  } catch { /* closed */ }
  seen = undefined;
}

function running(stateDir: string): number | undefined {
  if (seen?.stateDir === stateDir) {
    try {
      const n = pread(seen.fd, statBuf, 0);
      const state = statFields(statText.decode(statBuf.subarray(0, n)))[0];
      if (state !== "Z" && state !== "X") return seen.pid;
    } catch { /* it exited */ }
    forget();
  }
  let text = "";
  try {
    text = readFileSync(agentPaths(stateDir).pid, "utf8");
  } catch {
    return undefined;
  }
  const [pid, start] = text.trim().split(" ").map(Number);
  if (!pid) return undefined;
  let fd = -1;
  try {
    fd = open(`/proc/${pid}/stat`, O_RDONLY | O_CLOEXEC);
    const rest = statFields(statText.decode(statBuf.subarray(0, pread(fd, statBuf, 0))));
    if (rest[0] === "Z" || rest[0] === "X") return undefined;
    if (start !== 0 && Number(rest[19]) !== start) return undefined;
    forget();
    seen = { stateDir, pid, fd };
    fd = -1;
    return pid;
  } catch {
    return undefined;
  } finally {
    if (fd >= 0) close(fd);
  }
}

/**
 * Whether any saved network of a state directory is ready: while one is, the agent has work
 * (its firewall repair, and the names of DNS-enabled networks).
 *
 * @example
 * ```ts ignore
 * anyNetwork("/run/nslink"); // true
 * ```
 * @param stateDir The state directory.
 * @returns `true` when the agent has a network to keep.
 */
export function anyNetwork(stateDir: string): boolean {
  let files: string[];
  try {
    files = readdirSync(join(stateDir, "networks"));
  } catch {
    return false;
  }
  return files.some((f) => {
    if (!f.endsWith(".json")) return false;
    try {
      const r = JSON.parse(readFileSync(join(stateDir, "networks", f), "utf8"));
      return (r.state ?? "ready") === "ready";
    } catch {
      return false;
    }
  });
}

/**
 * Whether the library is told never to start the agent on demand: `NSLINK_AGENT=off` (a host
 * that runs `nslink agent` under a service manager, or a test that watches the firewall stay
 * damaged).
 *
 * @example
 * ```ts ignore
 * agentOff(); // false
 * ```
 * @returns `true` when `$NSLINK_AGENT` is `off`.
 */
export function agentOff(): boolean {
  return process.env.NSLINK_AGENT === "off";
}

/**
 * Sends one request to the agent and reads its reply.
 *
 * @example
 * ```ts ignore
 * await askAgent("/run/nslink", "status"); // { ok: true, pid: 4242, duties: {...} }
 * ```
 * @param stateDir The state directory.
 * @param op `sync`, `status` or `stop`.
 * @param timeoutMs How long to wait for the reply.
 * @returns The reply.
 * @throws {Error} With the socket's `code` (`ENOENT`, `ECONNREFUSED`, `EPIPE`, `ECONNRESET`) when
 *   nothing answers.
 */
export function askAgent(stateDir: string, op: string, timeoutMs = 20_000): Promise<AgentReply> {
  return new Promise((ok, fail) => {
    const c = net().createConnection(agentPaths(stateDir).sock);
    let buffered = "";
    const timer = setTimeout(() => {
      c.destroy();
      fail(Object.assign(new Error(`agent ${op}: no reply within ${timeoutMs} ms`), {
        code: "ETIMEDOUT",
      }));
    }, timeoutMs);
    c.setEncoding("utf8");
    c.on("connect", () => c.write(JSON.stringify({ op }) + "\n"));
    c.on("data", (d: string) => {
      buffered += d;
      const nl = buffered.indexOf("\n");
      if (nl < 0) return;
      clearTimeout(timer);
      c.destroy();
      try {
        ok(JSON.parse(buffered.slice(0, nl)) as AgentReply);
      } catch (e) {
        fail(e);
      }
    });
    c.on("error", (e) => {
      clearTimeout(timer);
      fail(e);
    });
    c.on("close", () => {
      clearTimeout(timer);
      fail(Object.assign(new Error(`agent ${op}: connection closed`), { code: "ECONNRESET" }));
    });
  });
}

/**
 * The command that starts an agent on demand (see the module doc).
 *
 * @example
 * ```ts ignore
 * agentCommandLine(); // ["/usr/bin/deno", "run", "-A", "/src/nslink/cli/main.ts", "agent", "--on-demand"]
 * ```
 * @returns The program and its arguments.
 */
export function agentCommandLine(): string[] {
  const override = process.env.NSLINK_AGENT_CMD;
  const tail = ["agent", "--on-demand"];
  if (override) return [...override.trim().split(/\s+/), ...tail];
  const main = new URL("../cli/main.ts", import.meta.url);
  const deno = (globalThis as { Deno?: { execPath(): string } }).Deno;
  if (deno) return [deno.execPath(), "run", "-A", fileURLToPath(main.href), ...tail];
  // In a compiled executable the sources live in Bun's virtual file system.
  if (main.href.includes("$bunfs") || main.href.includes("%24bunfs")) {
    return [process.execPath, ...tail];
  }
  return [process.execPath, fileURLToPath(main.href), ...tail];
}

function spawnAgent(stateDir: string): void {
  const [cmd, ...args] = agentCommandLine();
  const log = openSync(agentPaths(stateDir).log, "a");
  // A CNI plugin's variables would make the agent a plugin call (cli/main.ts reads CNI_COMMAND).
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (v !== undefined && !k.startsWith("CNI_")) env[k] = v;
  }
  env.NSLINK_STATE_DIR = stateDir;
  try {
    const child = childProcess().spawn(cmd, args, {
      detached: true,
      stdio: ["ignore", log, log],
      cwd: "/",
      env,
    });
    child.on("error", () => {});
    child.unref();
  } finally {
    closeSync(log);
  }
}

/**
 * Whether an agent runs for the state directory and is not exiting: its `agent.pid` names a
 * live process and is not marked `exiting` (the agent marks it as it starts to stop).
 */
function serving(stateDir: string): boolean {
  let text = "";
  try {
    text = readFileSync(agentPaths(stateDir).pid, "utf8");
  } catch {
    return false;
  }
  if (text.includes("exiting")) return false;
  return running(stateDir) !== undefined;
}

/**
 * Makes this process's library calls start the agent without waiting for it
 * ({@linkcode EnsureAgentOptions.wait} `false`), and not wait for it to exit after a network
 * went: for a CNI exec, which does one request and exits (ADD on a network it creates does not
 * wait for the agent's start; the last DEL does not wait for its exit). An agent that finds a
 * network left as it exits starts its successor.
 *
 * @example
 * ```ts ignore
 * startAgentsWithoutWaiting();
 * ```
 */
export function startAgentsWithoutWaiting(): void {
  registerHostAgent({
    ensure: (stateDir, o) => ensureAgent(stateDir, { ...o, wait: false }).then(() => {}),
    // The agent sees the network go (inotify) and exits by itself when it has no more work.
    settle: () => Promise.resolve(),
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const NO_AGENT = new Set(["ENOENT", "ECONNREFUSED", "ECONNRESET", "EPIPE"]);

/**
 * Makes sure the agent of a state directory runs when a network needs it, starting it when it
 * does not (also after `kill -9`); with `sync`, waits until it has caught up with the state.
 * Does nothing under `NSLINK_AGENT=off`.
 *
 * @example
 * ```ts ignore
 * await ensureAgent("/run/nslink", { sync: true }); // names of every network served
 * ```
 * @param stateDir The state directory.
 * @param options See {@linkcode EnsureAgentOptions}.
 * @returns The agent's last reply; `undefined` when none was needed or asked.
 * @throws {Error} When a started agent does not answer in time (its log says why).
 */
export async function ensureAgent(
  stateDir: string,
  options: EnsureAgentOptions = {},
): Promise<AgentReply | undefined> {
  if (agentOff()) return undefined;
  if (options.wait === false) {
    if (serving(stateDir) || !(options.needed ?? anyNetwork(stateDir))) return undefined;
    spawnAgent(stateDir);
    return undefined;
  }
  const alive = running(stateDir) !== undefined;
  if (alive && !options.sync) return undefined;
  if (!alive && !(options.needed ?? anyNetwork(stateDir))) return undefined;
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  let spawned = false;
  for (;;) {
    try {
      const reply = await askAgent(stateDir, "sync", Math.max(1, deadline - Date.now()));
      // An agent on its way out (no work when it looked) is replaced by a new one.
      if (!reply.exiting || !anyNetwork(stateDir)) return reply;
    } catch (e) {
      const code = (e as { code?: string }).code;
      // Nothing answers: no socket, nobody listening, or an agent that died (kill -9) while this
      // request was being sent (EPIPE) or read (ECONNRESET).
      if (!NO_AGENT.has(code ?? "")) throw e;
    }
    if (options.spawn === false) return undefined;
    if (!spawned && running(stateDir) === undefined) {
      spawnAgent(stateDir);
      spawned = true;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `agent of ${JSON.stringify(stateDir)}: not answering on ${
          JSON.stringify(agentPaths(stateDir).sock)
        } (see ${agentPaths(stateDir).log})`,
      );
    }
    // A previous agent still exiting holds the lock; the one spawned waits for it. A connect
    // attempt costs microseconds, and a CNI ADD that created a network waits here for the agent
    // it started: ask again soon.
    await sleep(spawned ? 4 : 50);
  }
}

/**
 * After a network went: has a running agent catch up, and waits until it has exited when it
 * has no more work, so that nothing of it is left when the call returns.
 *
 * @example
 * ```ts ignore
 * await settleAgent("/run/nslink");
 * ```
 * @param stateDir The state directory.
 */
export async function settleAgent(stateDir: string): Promise<void> {
  const pid = running(stateDir);
  if (pid === undefined) return;
  let reply: AgentReply;
  try {
    reply = await askAgent(stateDir, "sync", 5000);
  } catch {
    return;
  }
  if (!reply.exiting) return;
  const deadline = Date.now() + 5000;
  // A CNI DEL of a network's last container waits here: look often (a /proc read each time).
  while (pidAlive(pid) && Date.now() < deadline) await sleep(2);
}

registerHostAgent({
  ensure: (stateDir, o) => ensureAgent(stateDir, o).then(() => {}),
  settle: settleAgent,
});
