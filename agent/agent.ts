/**
 * nslink's host background process ("the agent"): one per state directory, holding an exclusive
 * `flock` on `agent.pid` (which says its pid and start time) and answering on the unix socket
 * `agent.sock`, both in the state directory. It runs every registered {@linkcode Duty} (the DNS
 * server of the networks' names, …) in one process.
 *
 * Control protocol: one JSON object per line each way. `{"op":"sync"}` makes every duty catch
 * up with the state (the DNS duty binds the sockets of new networks) and replies once done:
 * `{"ok":true,"pid":…,"exiting":false,"duties":{…}}`; `{"op":"status"}` replies the same
 * without syncing (`requests` counts the requests of {@linkcode AgentOptions.requests} served,
 * `syncs` the duties' syncs by what asked for them);
 * `{"op":"stop"}` stops the agent. Other ops are {@linkcode AgentOptions.requests}: the CNI
 * plugin's hand-off (`cni/handoff.ts`) is one, served only to a peer of the agent's own uid
 * (`SO_PEERCRED`). The socket is the owner's only (mode 0600).
 *
 * Started on demand (by the library, {@linkcode AgentOptions.onDemand}) it exits once no duty
 * has work; run by a service manager (`nslink agent`) it runs until SIGTERM or SIGINT.
 *
 * @module
 */
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import process from "node:process";

/** `node:net`, loaded on first use: a CNI exec that never needs it does not pay for loading it. */
const net = () => process.getBuiltinModule("node:net") as typeof import("node:net");
import { flock, LOCK_EX, LOCK_NB, peerCredentials } from "../ffi/libc.ts";
import { currentOwner } from "../model/owner.ts";
import { type HostAgent, hostAgent, registerHostAgent } from "../network/agent_hook.ts";
import { type Duty, type DutyContext, registeredDuties } from "./duty.ts";

/**
 * The agent's files in a state directory.
 *
 * @example
 * ```ts
 * import { agentPaths } from "./agent.ts";
 * agentPaths("/run/nslink").sock; // "/run/nslink/agent.sock"
 * ```
 * @param stateDir The state directory.
 * @returns The lock and pid file, the control socket, the log.
 */
export function agentPaths(stateDir: string): { pid: string; sock: string; log: string } {
  return {
    pid: join(stateDir, "agent.pid"),
    sock: join(stateDir, "agent.sock"),
    log: join(stateDir, "agent.log"),
  };
}

/** Whether an agent answers on the control socket (`status`, or another request). */
function answers(sock: string, op = "status"): Promise<boolean> {
  return new Promise((ok) => {
    const c = net().createConnection(sock);
    const done = (v: boolean) => {
      c.destroy();
      ok(v);
    };
    c.setTimeout(1000, () => done(false));
    c.on("error", () => done(false));
    c.on("connect", () => c.write(JSON.stringify({ op }) + "\n"));
    c.on("data", (d) => {
      try {
        done((JSON.parse(String(d).split("\n")[0]) as { exiting?: boolean }).exiting !== true);
      } catch {
        done(false);
      }
    });
  });
}

/**
 * A request the agent serves besides its own ops (`nslink agent` adds `cni`, the CNI plugin's
 * hand-off). The agent answers `{"ok":false,"refused":…}` when it is exiting, when the request's
 * `acceptBy` (ms since the epoch) has passed, or when `refuse` says why not; else it answers
 * `{"ok":true,"accepted":true}` at once, runs `run`, and answers what it returns, or what `run`
 * gave `answer` earlier (the rest of its work goes on after the answer; what it returns then is
 * only logged when it differs). It does not stop (on demand, out of work) while a request runs.
 */
export interface AgentRequestHandler {
  /** Why this agent will not serve the request, or `undefined` when it will. */
  refuse(request: Record<string, unknown>): string | undefined;
  /**
   * Serves it; the answer (sent as one line). `answer` sends it before `run` returns (once).
   */
  run(
    request: Record<string, unknown>,
    answer: (v: Record<string, unknown>) => void,
  ): Promise<Record<string, unknown>>;
}

/**
 * The uid of a unix socket connection's peer (`SO_PEERCRED`), read from the connection's file
 * descriptor (`_handle.fd` in Node's API, as Deno and Bun give it); `undefined` when it cannot
 * be read (the socket's mode 0600 still keeps other users out).
 */
function peerOf(c: unknown): number | undefined {
  const fd = (c as { _handle?: { fd?: unknown } })._handle?.fd;
  if (typeof fd !== "number" || fd < 0) return undefined;
  try {
    return peerCredentials(fd).uid;
  } catch {
    return undefined;
  }
}

/** Why an on-demand agent stops by itself. */
const IDLE = "no duty has work";

/**
 * How long a sync asked for while a request runs may wait for the request's end (its answer and
 * the work after it), in ms: a long request does not hold back what the timer or a duty asked.
 */
const DEFER_MAX_MS = 100;

/**
 * What asked for a sync of every duty, as counted in the `status` reply's `syncs`: the agent's
 * start, the timer (`tickMs`), a served request's end, the library in this process (a network
 * made or deleted by a request), a duty, the end of the linger, a `sync` request.
 */
type SyncCause = "start" | "tick" | "request" | "library" | "duty" | "linger" | "control";

/** Options of {@linkcode runAgent}. */
export interface AgentOptions {
  /** The state directory served. */
  stateDir: string;
  /** Exit once no duty has work (an agent the library started). */
  onDemand: boolean;
  /** Duties besides the registered ones (the overlay watchers `nslink agent NETWORK…` keeps). */
  extraDuties?: Duty[];
  /**
   * Whether the duties that modules registered (DNS, firewall repair, overlay) start; default
   * `true`. `false` runs `extraDuties` only: an agent in a process that must not touch the host's
   * names, firewall or `/run` (a unit test of the agent's own loop).
   */
  registeredDuties?: boolean;
  /** Where log lines go; default stderr. */
  log?: (line: string) => void;
  /**
   * How often every duty is synced, in ms; default 1000. A fallback only: the library asks for a
   * sync as a network or container comes and goes, inotify and nf_tables events drive the rest,
   * and each tick costs a read of the state (the idle CPU of issue 21).
   */
  tickMs?: number;
  /** How long to wait for a previous agent's lock, in ms; default 10 000. */
  lockWaitMs?: number;
  /** Called once the control socket answers and the duties have synced once. */
  onReady?: () => void;
  /** Requests served besides `sync`, `status` and `stop`, by op. */
  requests?: Record<string, AgentRequestHandler>;
  /**
   * On demand: how long the agent stays without work after it last answered one of `requests`,
   * in ms; default 2000. A runtime's next container on a network of its own (`podman run` on a
   * fresh network, one after the other) is then handed off to this agent instead of waiting for
   * the exec's own work and starting another agent. An agent that served no such request exits
   * as soon as no duty has work, as before.
   */
  lingerMs?: number;
}

/**
 * Runs the agent until it is stopped (signal, `stop` request) or, when started on demand, no
 * duty has work. Returns `false` at once when another agent holds the state directory.
 *
 * @example
 * ```ts ignore
 * await runAgent({ stateDir: "/run/nslink", onDemand: false });
 * ```
 * @param options The state directory and how to run.
 * @returns `true` after running, `false` when another agent runs.
 */
export async function runAgent(options: AgentOptions): Promise<boolean> {
  const { stateDir } = options;
  const paths = agentPaths(stateDir);
  const log = options.log ??
    ((line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`));
  mkdirSync(stateDir, { recursive: true });
  const fd = openSync(paths.pid, "a+");
  const deadline = Date.now() + (options.lockWaitMs ?? 10_000);
  while (!flock(fd, LOCK_EX | LOCK_NB, JSON.stringify(paths.pid))) {
    // Another agent holds it: one that is exiting (wait for it), or one that serves (two
    // callers started one each at the same moment): then this one is not needed.
    if (Date.now() > deadline) {
      closeSync(fd);
      log(`agent: another agent holds ${paths.pid}`);
      return false;
    }
    if (await answers(paths.sock)) {
      if (options.onDemand) {
        closeSync(fd);
        log(`agent: another agent serves ${stateDir}`);
        return false;
      }
      // Run by a service manager: the one the library started hands over (it stops, this one
      // takes the lock and serves the same state).
      log(`agent: taking over from the agent started on demand`);
      await answers(paths.sock, "stop");
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const me = currentOwner();
  writeFileSync(paths.pid, `${me.pid} ${me.start}\n`);
  let stopping = false;
  let ready = false;
  let done!: () => void;
  const finished = new Promise<void>((r) => (done = r));
  let syncQueued = false;
  /** Syncs run, by what asked for them (`status` shows them). */
  const syncs: Record<SyncCause, number> = {
    start: 0,
    tick: 0,
    request: 0,
    library: 0,
    duty: 0,
    linger: 0,
    control: 0,
  };
  /** Requests of `options.requests` accepted and not answered yet. */
  let inflight = 0;
  /** When the last of them finished (its work after the answer included); 0: none yet. */
  let lastRequestAt = 0;
  let lingerTimer: ReturnType<typeof setTimeout> | undefined;
  /** Out of work: stops, or (a request served lately) looks again once the linger is over. */
  const idle = () => {
    const left = lastRequestAt === 0 ? 0 : lastRequestAt + (options.lingerMs ?? 2000) - Date.now();
    if (left <= 0) return void stop(IDLE);
    if (lingerTimer) return;
    lingerTimer = setTimeout(() => {
      lingerTimer = undefined;
      queueSync("linger");
    }, left);
  };
  const served: Record<string, number> = {};
  const duties: Duty[] = [...(options.extraDuties ?? [])];
  const server = net().createServer();
  let tick: ReturnType<typeof setInterval> | undefined;

  const ctx: DutyContext = {
    stateDir,
    log,
    requestSync: () => queueSync("duty"),
  };
  /** A sync asked for while a request ran: it runs once none runs (or after DEFER_MAX_MS). */
  let deferred: SyncCause | undefined;
  let deferTimer: ReturnType<typeof setTimeout> | undefined;
  const runDeferred = () => {
    if (deferTimer) clearTimeout(deferTimer);
    deferTimer = undefined;
    const cause = deferred;
    deferred = undefined;
    if (cause) queueSync(cause, true);
  };
  const queueSync = (cause: SyncCause, now = false) => {
    if (stopping) return;
    // Not in the middle of a request (its system calls and event-loop turns are the caller's
    // wait): after its answer.
    if (inflight > 0 && !now) {
      deferred ??= cause;
      deferTimer ??= setTimeout(runDeferred, DEFER_MAX_MS);
      return;
    }
    if (syncQueued) return;
    syncQueued = true;
    setTimeout(() => {
      syncQueued = false;
      void syncAll(cause);
    }, 0);
  };
  let syncing: Promise<void> = Promise.resolve();
  const syncAll = (cause: SyncCause): Promise<void> => {
    syncing = syncing.then(async () => {
      if (stopping) return;
      syncs[cause]++;
      // Started on demand and its state directory removed (a test's temporary one, a wiped
      // /run/nslink): nobody can reach or need it any more.
      if (options.onDemand && !existsSync(paths.pid)) {
        void stop("its state directory was removed");
        return;
      }
      for (const d of duties) {
        try {
          await d.sync();
        } catch (e) {
          log(`agent: duty ${d.name}: ${(e as Error).message}`);
        }
      }
      if (ready && options.onDemand && inflight === 0 && !duties.some((d) => d.needed())) {
        idle();
      }
    });
    return syncing;
  };
  const status = () => ({
    ok: true,
    pid: me.pid,
    exiting: stopping,
    duties: Object.fromEntries(duties.map((d) => [d.name, d.status()])),
    requests: { ...served },
    syncs: { ...syncs },
  });
  const stop = async (why: string): Promise<void> => {
    if (stopping) return;
    stopping = true;
    log(`agent: stopping (${why})`);
    // Marked at once: a library call that must not wait (a CNI exec) starts a successor.
    try {
      writeFileSync(paths.pid, `${me.pid} ${me.start} exiting\n`);
    } catch { /* the state directory is gone */ }
    if (tick) clearInterval(tick);
    if (lingerTimer) clearTimeout(lingerTimer);
    if (deferTimer) clearTimeout(deferTimer);
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(paths.sock, { force: true });
    for (const d of duties) {
      try {
        await d.stop();
      } catch (e) {
        log(`agent: stopping duty ${d.name}: ${(e as Error).message}`);
      }
    }
    // The file stays (a later agent locks the same inode); empty means nobody runs.
    try {
      writeFileSync(paths.pid, "");
    } catch { /* the state directory is gone */ }
    closeSync(fd);
    // A network made while this agent was stopping (a CNI ADD that did not wait for it): its
    // successor, which takes the lock released above.
    if (options.onDemand && why === IDLE && existsSync(paths.pid)) {
      try {
        const { anyNetwork, ensureAgent } = await import("./client.ts");
        if (anyNetwork(stateDir)) await ensureAgent(stateDir, { needed: true, wait: false });
      } catch (e) {
        log(`agent: starting a successor: ${(e as Error).message}`);
      }
    }
    done();
  };
  // Library calls made here (a CNI request's ADD or DEL) reach this agent directly, not through
  // its own socket: a sync is this process's (a new network's names are served when ADD
  // answers), and a network gone is seen at the next sync (the agent stops once no duty has work
  // and no request runs, after answering).
  const library: HostAgent | undefined = hostAgent();
  const same = (dir: string) => dir.replace(/\/+$/, "") === stateDir.replace(/\/+$/, "");
  registerHostAgent({
    ensure: async (dir, o) => {
      if (!same(dir)) return library?.ensure(dir, o);
      if (o.sync && !stopping) await syncAll("library");
      // A network made by a request while no duty had work (the agent lingering): the duties
      // take it up after the answer. Otherwise nothing changed for them (a container on an
      // existing network: names are read at each query).
      else if (o.needed && !duties.some((d) => d.needed())) queueSync("library");
    },
    // A network gone: the duties catch up after the answer (the caller, a CNI DEL, need not
    // wait for the DNS sockets to close).
    settle: (dir) => {
      if (!same(dir)) return library?.settle(dir) ?? Promise.resolve();
      queueSync("library");
      return Promise.resolve();
    },
  });
  const serve = (
    handler: AgentRequestHandler,
    op: string,
    line: string,
    reply: (v: unknown) => void,
  ) => {
    let request: Record<string, unknown>;
    try {
      request = JSON.parse(line);
    } catch {
      return reply({ ok: false, refused: "not JSON" });
    }
    const late = typeof request.acceptBy === "number" && Date.now() > request.acceptBy;
    const why = stopping ? "exiting" : late ? "too late" : handler.refuse(request);
    if (why !== undefined) return reply({ ok: false, refused: why });
    inflight++;
    served[op] = (served[op] ?? 0) + 1;
    reply({ ok: true, accepted: true });
    // An answer without its timing (`ms`), to compare the final outcome with an early answer.
    const outcome = (v: Record<string, unknown>) => JSON.stringify({ ...v, ms: undefined });
    let early: string | undefined;
    const answer = (v: Record<string, unknown>) => {
      if (early !== undefined) return;
      early = outcome(v);
      reply(v);
    };
    const last = (v: Record<string, unknown>) => {
      if (early === undefined) return reply(v);
      // Answered already: the work after the answer went otherwise (gc() finishes it).
      if (outcome(v) !== early) log(`agent: ${op} after its answer: ${JSON.stringify(v)}`);
    };
    void handler.run(request, answer).then(
      (v) => last(v),
      (e) => last({ ok: false, error: (e as Error).message }),
    ).finally(() => {
      inflight--;
      lastRequestAt = Date.now();
      if (inflight > 0) return;
      // A request on an existing network changes nothing the duties hold: no sync, only the
      // exit decision; one asked for meanwhile (a network deleted, the timer) runs now.
      if (deferred) runDeferred();
      else if (ready && options.onDemand && !duties.some((d) => d.needed())) idle();
    });
  };
  const onSignal = () => void stop("signal");
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);

  server.on("connection", (c) => {
    let buffered = "";
    const peer = peerOf(c);
    c.on("error", () => {});
    c.setEncoding("utf8");
    c.on("data", (chunk: string) => {
      buffered += chunk;
      let nl: number;
      while ((nl = buffered.indexOf("\n")) >= 0) {
        const line = buffered.slice(0, nl);
        buffered = buffered.slice(nl + 1);
        let op = "";
        try {
          op = String((JSON.parse(line) as { op?: unknown }).op ?? "");
        } catch { /* answered below */ }
        const reply = (v: unknown) => {
          if (!c.destroyed) c.write(JSON.stringify(v) + "\n");
        };
        if (op === "sync") void syncAll("control").then(() => reply(status()));
        else if (op === "status") reply(status());
        else if (options.requests && Object.hasOwn(options.requests, op)) {
          // Run as this agent: only for its own user (root), whatever the socket's mode.
          if (peer !== undefined && peer !== process.getuid?.()) {
            reply({ ok: false, refused: `peer uid ${peer}` });
          } else serve(options.requests[op], op, line, reply);
        } else if (op === "stop") {
          reply({ ...status(), exiting: true });
          void stop("stop request");
        } else reply({ ok: false, error: `unknown request ${JSON.stringify(line.slice(0, 80))}` });
      }
    });
  });

  try {
    for (const [name, factory] of options.registeredDuties === false ? [] : registeredDuties()) {
      try {
        duties.push(await factory(ctx));
      } catch (e) {
        log(`agent: duty ${name} failed to start: ${(e as Error).message}`);
      }
    }
    await syncAll("start");
    rmSync(paths.sock, { force: true });
    await new Promise<void>((ok, fail) => {
      server.once("error", fail);
      server.listen(paths.sock, () => {
        server.off("error", fail);
        ok();
      });
    });
    // Only root (the owner) may ask: a CNI request runs as the agent.
    chmodSync(paths.sock, 0o600);
    log(`agent: pid ${me.pid} serving ${stateDir} (${duties.map((d) => d.name).join(", ")})`);
    ready = true;
    options.onReady?.();
    tick = setInterval(
      () => inflight > 0 ? queueSync("tick") : void syncAll("tick"),
      options.tickMs ?? 1000,
    );
    // An on-demand agent started for nothing (the network went meanwhile) stops at once.
    if (options.onDemand && !duties.some((d) => d.needed())) void stop(IDLE);
  } catch (e) {
    log(`agent: ${(e as Error).message}`);
    await stop("failed to start");
  }
  await finished;
  registerHostAgent(library ?? { ensure: async () => {}, settle: async () => {} });
  process.off("SIGTERM", onSignal);
  process.off("SIGINT", onSignal);
  return true;
}
