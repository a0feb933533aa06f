/**
 * The CNI plugin's hand-off to the host agent: when the state directory's agent runs, an exec'd
 * plugin sends it the request (`CNI_*`, the configuration) over the agent's control socket and
 * only prints the answer, so the exec pays for starting the runtime and one round trip instead of
 * loading the library. This module imports nothing (not even a Node built-in): it is all a
 * handed-off exec loads besides `cli/main.ts`, which imports it statically (a dynamic `import()`
 * costs the exec a turn of module loading). Standard input and output go through the runtime's
 * own primitives ({@linkcode readStdin}, {@linkcode writeAll}), not `node:fs`.
 *
 * Protocol (one JSON object per line): the plugin sends `{"op":"cni","stateDir":…,"env":{…},
 * "stdin":…,"acceptBy":EPOCH_MS}`; the agent answers `{"ok":true,"accepted":true}` before it
 * starts the work, then `{"ok":true,"status":N,"out":…,"err":…,"ms":…}` (`ms`: its own time on
 * the request). An agent that will not do it
 * (exiting, another configuration, an old version that does not know the op) answers `ok:false`,
 * and the plugin does the work itself. Nothing runs twice: the agent accepts only before
 * `acceptBy` (1 s before the plugin stops waiting for the acceptance), and once it has accepted,
 * the plugin waits for the answer; only when the connection closes without one (the agent died
 * midway, as a plugin killed midway) does the plugin run the request itself, which recovers as
 * a runtime's retry does (ADD undoes a dead attempt of the same attachment, DEL is idempotent).
 *
 * @module
 */

/** What the agent answered for a handed-off request: print `out`, exit with `status`. */
export interface HandedOff {
  /** The exit status (0, or 1 after a CNI error printed on `out`). */
  status: number;
  /** Standard output: the result or the CNI error JSON. */
  out: string;
  /** Standard error. */
  err: string;
}

/** The request sent to the agent (the op `cni`). */
export interface CniRequest {
  /** `"cni"`. */
  op: "cni";
  /** The state directory the plugin would use (absolute). */
  stateDir: string;
  /** `CNI_*`, `NSLINK_STATE_DIR`, `NSLINK_CONFIG_DIR` and `NSLINK_BOOT_ID` of the exec. */
  env: Record<string, string>;
  /** The configuration as read on stdin. */
  stdin: string;
  /** The agent accepts only before this time (ms since the epoch). */
  acceptBy: number;
}

/** The commands handed off (VERSION and unknown ones are answered by the exec itself). */
const HANDED = ["ADD", "DEL", "CHECK", "GC", "STATUS"];
/** How long the plugin waits for the agent to accept, in ms. */
const ACCEPT_WAIT_MS = 5000;
/** The agent accepts only until this long before the plugin stops waiting. */
const ACCEPT_MARGIN_MS = 1000;

/**
 * The state directory a CNI request would use: the configuration's `stateDir`, else
 * `NSLINK_STATE_DIR`, else `/run/nslink` (as `cni/config.ts` resolves it); `undefined` when
 * that is not an absolute path or the configuration does not parse (the in-process path reports
 * those).
 *
 * @example
 * ```ts
 * import { requestStateDir } from "./handoff.ts";
 * requestStateDir({}, '{"cniVersion":"1.0.0","name":"n1"}'); // "/run/nslink"
 * ```
 * @param env The exec's environment.
 * @param stdin The configuration text.
 * @returns The state directory, without a trailing `/`.
 */
export function requestStateDir(
  env: Record<string, string | undefined>,
  stdin: string,
): string | undefined {
  let conf: unknown;
  try {
    conf = JSON.parse(stdin);
  } catch {
    return undefined;
  }
  if (conf === null || typeof conf !== "object" || Array.isArray(conf)) return undefined;
  const given = (conf as { stateDir?: unknown }).stateDir;
  if (given !== undefined && typeof given !== "string") return undefined;
  const dir = given || env.NSLINK_STATE_DIR || "/run/nslink";
  if (!dir.startsWith("/") || dir.split("/").includes("..")) return undefined;
  return dir.replace(/\/+$/, "") || undefined;
}

/**
 * The request to send for an exec, or `undefined` when it is not handed off (`NSLINK_AGENT=off`,
 * VERSION, an unknown command, a configuration the in-process path must report on).
 *
 * @example
 * ```ts
 * import { cniRequest } from "./handoff.ts";
 * cniRequest({ CNI_COMMAND: "VERSION" }, ""); // undefined
 * ```
 * @param env The exec's environment.
 * @param stdin The configuration text.
 * @param now The current time (ms since the epoch).
 * @returns The request.
 */
export function cniRequest(
  env: Record<string, string | undefined>,
  stdin: string,
  now = Date.now(),
): CniRequest | undefined {
  if (env.NSLINK_AGENT === "off" || !HANDED.includes(env.CNI_COMMAND ?? "")) return undefined;
  const stateDir = requestStateDir(env, stdin);
  if (!stateDir) return undefined;
  const sent: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) {
    if (
      v !== undefined &&
      (k.startsWith("CNI_") || k === "NSLINK_STATE_DIR" || k === "NSLINK_CONFIG_DIR" ||
        k === "NSLINK_BOOT_ID")
    ) sent[k] = v;
  }
  return {
    op: "cni",
    stateDir,
    env: sent,
    stdin,
    acceptBy: now + ACCEPT_WAIT_MS - ACCEPT_MARGIN_MS,
  };
}

/** One line-based exchange over a unix socket, by whichever runtime runs this. */
interface Line {
  /** Resolves with each line the peer sends; `undefined` once the connection closed. */
  next(timeoutMs?: number): Promise<string | undefined>;
  close(): void;
}

/** What of Bun's own API the exec uses (typed here: this module imports nothing). */
interface BunIo {
  stdin: { text(): Promise<string> };
  stdout: unknown;
  stderr: unknown;
  write(dest: unknown, data: Uint8Array): Promise<number>;
}
/** What of Deno's own API the exec uses. */
interface DenoIo {
  stdin: { read(p: Uint8Array): Promise<number | null> };
  stdout: { writeSync(p: Uint8Array): number };
  stderr: { writeSync(p: Uint8Array): number };
}

/**
 * All of standard input as text, read with the runtime's own primitives (`Bun.stdin`,
 * `Deno.stdin`): on Bun, loading `node:fs` for it would cost a handed-off exec about 1 ms, more
 * than the rest of its JavaScript.
 *
 * @example
 * ```ts ignore
 * const conf = await readStdin();
 * ```
 * @returns The text.
 */
export async function readStdin(): Promise<string> {
  const g = globalThis as { Bun?: BunIo; Deno?: DenoIo };
  if (g.Bun) return await g.Bun.stdin.text();
  if (!g.Deno) throw new Error("read stdin: neither Bun nor Deno");
  const parts: Uint8Array[] = [];
  for (;;) {
    const buf = new Uint8Array(65536);
    const n = await g.Deno.stdin.read(buf);
    if (n === null) break;
    parts.push(buf.subarray(0, n));
  }
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    all.set(p, off);
    off += p.length;
  }
  return new TextDecoder().decode(all);
}

/**
 * Writes all of `text` to standard output (1) or error (2) with the runtime's own primitives,
 * looping over short writes; resolves once written, so `process.exit` right after loses nothing.
 *
 * @example
 * ```ts ignore
 * await writeAll(1, answer.out);
 * ```
 * @param fd 1 or 2.
 * @param text The text.
 */
export async function writeAll(fd: 1 | 2, text: string): Promise<void> {
  const g = globalThis as { Bun?: BunIo; Deno?: DenoIo };
  let bytes = new TextEncoder().encode(text);
  if (g.Bun) {
    const dest = fd === 1 ? g.Bun.stdout : g.Bun.stderr;
    while (bytes.length > 0) bytes = bytes.subarray(await g.Bun.write(dest, bytes));
  } else if (g.Deno) {
    const dest = fd === 1 ? g.Deno.stdout : g.Deno.stderr;
    while (bytes.length > 0) bytes = bytes.subarray(dest.writeSync(bytes));
  } else throw new Error(`write fd ${fd}: neither Bun nor Deno`);
}

interface BunSocket {
  write(data: string | Uint8Array): number;
  end(): void;
}
interface BunLike {
  connect(options: {
    unix: string;
    socket: {
      open?(s: BunSocket): void;
      data?(s: BunSocket, d: Uint8Array): void;
      drain?(s: BunSocket): void;
      close?(s: BunSocket): void;
      error?(s: BunSocket, e: Error): void;
    };
  }): Promise<BunSocket>;
}
interface DenoConn {
  write(p: Uint8Array): Promise<number>;
  read(p: Uint8Array): Promise<number | null>;
  close(): void;
}
interface DenoLike {
  connect(options: { transport: "unix"; path: string }): Promise<DenoConn>;
}

/** Splits received text into lines and hands them to waiting readers. */
class Lines {
  #buf = "";
  #lines: (string | undefined)[] = [];
  #waiting: ((l: string | undefined) => void) | undefined;
  #closed = false;
  #dec = new TextDecoder();
  push(bytes: Uint8Array): void {
    this.#buf += this.#dec.decode(bytes, { stream: true });
    let nl: number;
    while ((nl = this.#buf.indexOf("\n")) >= 0) {
      this.#emit(this.#buf.slice(0, nl));
      this.#buf = this.#buf.slice(nl + 1);
    }
  }
  end(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#emit(undefined);
  }
  #emit(l: string | undefined): void {
    const w = this.#waiting;
    this.#waiting = undefined;
    if (w) w(l);
    else this.#lines.push(l);
  }
  next(timeoutMs?: number): Promise<string | undefined> {
    if (this.#lines.length > 0) return Promise.resolve(this.#lines.shift());
    if (this.#closed) return Promise.resolve(undefined);
    return new Promise((ok) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      this.#waiting = (l) => {
        if (timer !== undefined) clearTimeout(timer);
        ok(l);
      };
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.#waiting = undefined;
          ok(undefined);
        }, timeoutMs);
      }
    });
  }
}

async function connectBun(bun: BunLike, path: string, text: string): Promise<Line> {
  const lines = new Lines();
  let rest = new TextEncoder().encode(text);
  const flush = (s: BunSocket) => {
    if (rest.length > 0) rest = rest.subarray(s.write(rest));
  };
  const sock = await bun.connect({
    unix: path,
    socket: {
      open: flush,
      drain: flush,
      data: (_s, d) => lines.push(d),
      close: () => lines.end(),
      error: () => lines.end(),
    },
  });
  return { next: (t) => lines.next(t), close: () => sock.end() };
}

async function connectDeno(deno: DenoLike, path: string, text: string): Promise<Line> {
  const conn = await deno.connect({ transport: "unix", path });
  const lines = new Lines();
  const bytes = new TextEncoder().encode(text);
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    try {
      conn.close();
    } catch { /* closed */ }
  };
  void (async () => {
    try {
      for (let off = 0; off < bytes.length;) off += await conn.write(bytes.subarray(off));
      const buf = new Uint8Array(65536);
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) break;
        lines.push(buf.subarray(0, n));
      }
    } catch { /* reset, or closed here */ }
    lines.end();
    close();
  })();
  return { next: (t) => lines.next(t), close };
}

/**
 * Hands a CNI request to the state directory's agent and returns its answer; `undefined` when
 * the exec must do the work itself: no agent answers (no socket, a stale one, one that is
 * exiting or does not know the request), or it died after accepting (see the module doc).
 * Never throws.
 *
 * @example
 * ```ts ignore
 * const r = await handOff(process.env, readFileSync(0, "utf8"));
 * if (r) { writeAll(1, r.out); process.exit(r.status); }
 * ```
 * @param env The exec's environment (`CNI_*`, `NSLINK_*`).
 * @param stdin The configuration text.
 * @returns The answer, or `undefined`.
 */
export async function handOff(
  env: Record<string, string | undefined>,
  stdin: string,
): Promise<HandedOff | undefined> {
  const request = cniRequest(env, stdin);
  if (!request) return undefined;
  const path = `${request.stateDir}/agent.sock`;
  const text = JSON.stringify(request) + "\n";
  const g = globalThis as { Bun?: BunLike; Deno?: DenoLike };
  let line: Line;
  try {
    if (g.Bun) line = await connectBun(g.Bun, path, text);
    else if (g.Deno) line = await connectDeno(g.Deno, path, text);
    else return undefined;
  } catch {
    return undefined; // ENOENT, ECONNREFUSED (a stale socket): no agent
  }
  try {
    const first = await line.next(ACCEPT_WAIT_MS);
    if (first === undefined || !(JSON.parse(first) as { accepted?: boolean }).accepted) {
      return undefined;
    }
    // Accepted: the agent runs it. Wait for the answer however long it takes (the state lock
    // may be busy); a closed connection means the agent died midway.
    const answer = await line.next();
    if (answer === undefined) return undefined;
    const r = JSON.parse(answer) as Partial<HandedOff> & { ok?: boolean };
    if (r.ok !== true || typeof r.status !== "number" || typeof r.out !== "string") {
      return undefined;
    }
    return { status: r.status, out: r.out, err: typeof r.err === "string" ? r.err : "" };
  } catch {
    return undefined;
  } finally {
    line.close();
  }
}
