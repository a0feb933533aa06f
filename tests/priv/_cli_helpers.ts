/**
 * Helpers for the privileged tests of the `nslink` executable (tests/priv/cli*.test.ts,
 * cni*.test.ts, podman.test.ts): how to start it, run it with arguments, environment and stdin,
 * and call it as a CNI plugin.
 *
 * The executable under test is, by default, `cli/main.ts` on the runtime running the tests
 * (`deno run -A` under `deno test`, `bun` under `bun test`). With `NSLINK_BIN` set (test-all.sh
 * sets it to `dist/nslink` for a third pass), it is that compiled file.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { chmodSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { pidAlive } from "../../model/owner.ts";

/** The checkout's root. */
export const ROOT: string = new URL("../../", import.meta.url).pathname.replace(/\/$/, "");

/** Which runtime runs the tests. */
export const RUNTIME: "deno" | "bun" = "Bun" in globalThis ? "bun" : "deno";

/**
 * The argv that starts `nslink` (before its own arguments).
 *
 * @returns The command and its leading arguments.
 */
export function nslinkArgv(): string[] {
  const bin = process.env.NSLINK_BIN;
  if (bin) return [bin];
  return RUNTIME === "deno"
    ? [process.execPath, "run", "-A", `${ROOT}/cli/main.ts`]
    : [process.execPath, `${ROOT}/cli/main.ts`];
}

/** What a run of the executable gave. */
export interface RunResult {
  /** Exit status. */
  code: number;
  /** Standard output. */
  stdout: string;
  /** Standard error. */
  stderr: string;
}

/**
 * Runs a command, feeding `input` on stdin, and collects its output.
 *
 * @param argv Command and arguments.
 * @param options Extra environment, stdin text.
 * @returns Exit status and output.
 */
export function runProcess(
  argv: string[],
  options: { env?: Record<string, string | undefined>; input?: string } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...process.env, ...options.env })) {
      if (v !== undefined) env[k] = v;
    }
    const child = spawn(argv[0], argv.slice(1), { env, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8");
    child.stderr.setEncoding("utf8");
    child.stdout.on("data", (d: string) => (stdout += d));
    child.stderr.on("data", (d: string) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(options.input ?? "");
  });
}

/**
 * Runs `nslink ARGS…` with a state directory.
 *
 * @param stateDir `NSLINK_STATE_DIR`.
 * @param args The arguments.
 * @returns Exit status and output.
 */
export function nslink(stateDir: string, ...args: string[]): Promise<RunResult> {
  return runProcess([...nslinkArgv(), ...args], { env: { NSLINK_STATE_DIR: stateDir } });
}

/**
 * Runs `nslink ARGS… --format json` and parses stdout; fails the test on a non-zero exit.
 *
 * @param stateDir `NSLINK_STATE_DIR`.
 * @param args The arguments.
 * @returns The parsed output.
 */
export async function nslinkJson<T = unknown>(stateDir: string, ...args: string[]): Promise<T> {
  const r = await nslink(stateDir, ...args, "--format", "json");
  if (r.code !== 0) throw new Error(`nslink ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

/** The variables of one CNI call. */
export interface CniEnv {
  /** `CNI_CONTAINERID`. */
  containerId?: string;
  /** `CNI_NETNS`. */
  netns?: string;
  /** `CNI_IFNAME`, default `eth0`. */
  ifname?: string;
  /** `NSLINK_STATE_DIR`. */
  stateDir: string;
  /** `CNI_ARGS`. */
  cniArgs?: string;
}

/**
 * Calls an executable as a CNI plugin (`nslink` by default).
 *
 * @param command `CNI_COMMAND`.
 * @param conf The configuration (written to stdin as JSON).
 * @param env The variables.
 * @param argv Another plugin's executable, e.g. `/usr/lib/cni/tuning`.
 * @returns Exit status, output, and the parsed stdout when there is any.
 */
export async function cni(
  command: string,
  conf: unknown,
  env: CniEnv,
  argv: string[] = nslinkArgv(),
): Promise<RunResult & { json?: Record<string, unknown> }> {
  const r = await runProcess(argv, {
    env: {
      CNI_COMMAND: command,
      CNI_CONTAINERID: env.containerId,
      CNI_NETNS: env.netns,
      CNI_IFNAME: env.ifname ?? "eth0",
      CNI_PATH: "/usr/lib/cni",
      CNI_ARGS: env.cniArgs,
      NSLINK_STATE_DIR: env.stateDir,
    },
    input: JSON.stringify(conf),
  });
  if (command === "DEL") await deletesFinished(env.stateDir);
  const text = r.stdout.trim();
  return { ...r, ...(text ? { json: JSON.parse(text) } : {}) };
}

/**
 * Waits (up to 10 s) until no network of the state directory is being deleted by a live process:
 * a host agent answers the DEL of a network's last attachment once the network's delete is
 * committed and removes its bridge, firewall and state after the answer
 * (cni-del-early.test.ts), then the network's made-by-ADD mark. A delete whose process died
 * stays (gc() finishes it).
 *
 * @param stateDir The state directory.
 */
export async function deletesFinished(stateDir: string): Promise<void> {
  const dir = join(stateDir, "networks");
  const deadline = Date.now() + 10_000;
  const list = (d: string) => {
    try {
      return readdirSync(d).filter((n) => n.endsWith(".json"));
    } catch {
      return [];
    }
  };
  const busy = () => {
    const names = list(dir);
    // The made-by-ADD mark of a network whose record is gone: dropped right after it.
    if (list(join(stateDir, "cni-networks")).some((n) => !names.includes(n))) return true;
    return names.some((n) => {
      try {
        const r = JSON.parse(readFileSync(join(dir, n), "utf8"));
        return r.state === "deleting" && pidAlive(r.owner?.pid);
      } catch {
        return false; // removed meanwhile, or being rewritten
      }
    });
  };
  while (busy() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
}

/**
 * A directory holding an executable `nslink` that runs the executable under test, for a runtime
 * that looks plugins up by type in a directory (podman's `cni_plugin_dirs`).
 *
 * @returns The directory.
 */
export function pluginDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "nsl-plugin-"));
  const argv = nslinkArgv().map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
  writeFileSync(join(dir, "nslink"), `#!/bin/sh\nexec ${argv} "$@"\n`);
  chmodSync(join(dir, "nslink"), 0o755);
  return dir;
}

/**
 * `ip -j ARGS…` inside the namespace at `path` (any path, e.g. `/proc/PID/ns/net`, through
 * `nsenter`), parsed; an empty output is `[]`.
 *
 * @param path The namespace's path.
 * @param args The arguments after `ip -j`.
 * @returns The parsed output.
 */
export async function ipJsonAt<T = unknown>(path: string, args: string[]): Promise<T> {
  const r = await runProcess(["nsenter", `--net=${path}`, "ip", "-j", ...args]);
  if (r.code !== 0) throw new Error(`ip -j ${args.join(" ")} in ${path}: ${r.stderr.trim()}`);
  return (r.stdout.trim() === "" ? [] : JSON.parse(r.stdout)) as T;
}

/**
 * An HTTP GET from inside a named namespace, by Node.js (on every CI machine; busybox-static's
 * `wget` crashes on Debian 12). Resolves to the body, or `undefined` when the connection is
 * refused, finds no route or takes over `timeoutMs` (a closed path); throws when the client
 * itself fails in any other way, so that a broken probe never reads as a closed port.
 *
 * @param netns The `/run/netns` name of the client's namespace.
 * @param url The URL.
 * @param timeoutMs Give up after this long.
 * @returns The body, or `undefined`.
 */
export async function httpGet(
  netns: string,
  url: string,
  timeoutMs = 2000,
): Promise<string | undefined> {
  const closed = ["TimeoutError", "ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH"];
  const script = `fetch(${JSON.stringify(url)}, { signal: AbortSignal.timeout(${timeoutMs}) })` +
    `.then((r) => r.text()).then((t) => process.stdout.write(t), (e) => {` +
    ` const why = e?.cause?.code ?? e?.name;` +
    ` if (${JSON.stringify(closed)}.includes(why)) process.exit(3);` +
    ` console.error(String(e), why); process.exit(4); })`;
  const r = await runProcess(["ip", "netns", "exec", netns, "node", "-e", script]);
  if (r.code === 0) return r.stdout;
  if (r.code === 3) return undefined;
  throw new Error(`GET ${url} from ${netns}: the client failed (exit ${r.code}): ${r.stderr}`);
}
