/**
 * The CNI dispatcher, as `containernetworking/cni`'s `pkg/skel`: reads `CNI_*` and the
 * configuration on stdin, checks the command, the variables it needs and the spec version, calls
 * one plugin function, and prints the result — or the spec's error JSON with its code — on
 * stdout. The plugin's own logic never reads the environment: everything arrives as arguments.
 *
 * @module
 */
import { CNI_ERR, CniError, errorJson } from "./errors.ts";
import { convertResult } from "./result.ts";
import type { CniArgs, CniNetConf, CniResult } from "./types.ts";
import { compareVersions, CURRENT_VERSION, SUPPORTED_VERSIONS } from "./version.ts";

/** Where the plugin writes (the same shape as the command line's `Output`, cni/ not importing cli/). */
export interface Output {
  /** Writes to standard output. */
  out(text: string): void;
  /** Writes to standard error. */
  err(text: string): void;
  /**
   * DEL only: called when its outcome is decided (success, nothing printed) and all that remains
   * is the removal of the network ADD created, committed (see `whenDeleteCommitted` in
   * network/lifecycle.ts) and finished by this process after the call. A host agent serving the
   * request answers then; an exec'd plugin ignores it.
   */
  committed?(): void;
}

/** What a plugin implements; `skel` calls one per invocation. */
export interface CniPlugin {
  /** ADD: set the container up; returns the result (before version conversion). */
  add(args: CniArgs, conf: CniNetConf): Promise<CniResult>;
  /** DEL: tear it down; succeeds when things are already gone. */
  del(args: CniArgs, conf: CniNetConf): Promise<void>;
  /** CHECK: throw when the container's networking is not as ADD left it. */
  check(args: CniArgs, conf: CniNetConf): Promise<void>;
  /** GC (1.1.0): remove attachments not in `cni.dev/valid-attachments`. */
  gc(args: CniArgs, conf: CniNetConf): Promise<void>;
  /** STATUS (1.1.0): throw a code-50 error when ADD cannot work now. */
  status(args: CniArgs, conf: CniNetConf): Promise<void>;
}

const COMMANDS = ["ADD", "DEL", "CHECK", "GC", "STATUS", "VERSION"];
/** Variables each command needs (CNI_NETNS is optional for DEL). */
const REQUIRED: Record<string, string[]> = {
  ADD: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"],
  DEL: ["CNI_CONTAINERID", "CNI_IFNAME", "CNI_PATH"],
  CHECK: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_PATH"],
  GC: ["CNI_PATH"],
  STATUS: ["CNI_PATH"],
};
/** The spec's container id rule. */
const CONTAINER_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

function checkIfname(name: string): void {
  if (name.length === 0 || new TextEncoder().encode(name).length > 15) {
    throw new CniError(CNI_ERR.INVALID_ENV, `Invalid CNI_IFNAME "${name}": 1 to 15 bytes`);
  }
  if (name === "." || name === ".." || /[/:\s]/.test(name)) {
    throw new CniError(CNI_ERR.INVALID_ENV, `Invalid CNI_IFNAME "${name}": no "/", ":" or spaces`);
  }
}

function parseCniArgs(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of text.split(";")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new CniError(CNI_ERR.INVALID_ENV, `Invalid CNI_ARGS pair "${pair}"`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

/**
 * Maps an error from the plugin's work to a CNI error: its own code when it has one (the plugin
 * answers invalid configuration values with a `CniError` of code 7 where it checks them); 11
 * when the state lock or the kernel says to try again; else 999 with the message — a
 * `TypeError` or `RangeError` that reaches here too: it comes from a bug of the plugin, not from
 * the user's configuration.
 *
 * @example
 * ```ts
 * import { toCniError } from "./skel.ts";
 * toCniError(new TypeError("x is undefined")).code; // 999
 * toCniError(Object.assign(new Error("busy"), { code: "EAGAIN" })).code; // 11
 * ```
 * @param e What was thrown.
 * @returns A CNI error.
 */
export function toCniError(e: unknown): CniError {
  if (e instanceof CniError) return e;
  const err = e instanceof Error ? e : new Error(String(e));
  const code = (err as { code?: unknown }).code;
  if (
    code === "EAGAIN" || code === "EBUSY" || err.name === "LockTimeoutError" ||
    / is being linked (by pid|elsewhere)/.test(err.message)
  ) {
    return new CniError(CNI_ERR.TRY_AGAIN_LATER, err.message, "", { cause: e });
  }
  return new CniError(CNI_ERR.INTERNAL, err.message, err.name, { cause: e });
}

/**
 * Runs one CNI invocation.
 *
 * @example
 * ```ts ignore
 * const status = await runCni(process.env, () => readFileSync(0, "utf8"), stdio, nslinkPlugin);
 * ```
 * @param env The environment (`CNI_*`, and `NSLINK_STATE_DIR`).
 * @param readStdin Reads the configuration.
 * @param io Where to print the result or error.
 * @param plugin The plugin; default nslink's.
 * @returns The exit status: 0, or 1 after printing an error.
 */
export async function runCni(
  env: Record<string, string | undefined>,
  readStdin: () => string,
  io: Output,
  plugin?: CniPlugin,
): Promise<number> {
  let version = "1.0.0";
  try {
    const command = env.CNI_COMMAND ?? "";
    if (!COMMANDS.includes(command)) {
      throw new CniError(CNI_ERR.INVALID_ENV, `Unknown CNI_COMMAND "${command}"`);
    }
    if (command === "VERSION") {
      io.out(
        JSON.stringify({ cniVersion: CURRENT_VERSION, supportedVersions: SUPPORTED_VERSIONS }) +
          "\n",
      );
      return 0;
    }
    const missing = REQUIRED[command].filter((v) => !env[v]);
    if (missing.length > 0) {
      throw new CniError(
        CNI_ERR.INVALID_ENV,
        `Required environment variables missing: ${missing.join(", ")}`,
      );
    }
    let conf: CniNetConf;
    let text: string;
    try {
      text = readStdin();
    } catch (e) {
      throw new CniError(
        CNI_ERR.IO_FAILURE,
        `Reading the configuration from stdin: ${(e as Error).message}`,
      );
    }
    try {
      conf = JSON.parse(text);
    } catch (e) {
      throw new CniError(
        CNI_ERR.DECODING_FAILURE,
        `Decoding the configuration: ${(e as Error).message}`,
      );
    }
    if (conf === null || typeof conf !== "object" || Array.isArray(conf)) {
      throw new CniError(CNI_ERR.DECODING_FAILURE, "The configuration is not a JSON object");
    }
    if (typeof conf.cniVersion !== "string" || !SUPPORTED_VERSIONS.includes(conf.cniVersion)) {
      throw new CniError(
        CNI_ERR.INCOMPATIBLE_VERSION,
        `Incompatible CNI version ${JSON.stringify(conf.cniVersion)}`,
        `supported: ${SUPPORTED_VERSIONS.join(", ")}`,
      );
    }
    version = conf.cniVersion;
    const since = { CHECK: "0.4.0", GC: "1.1.0", STATUS: "1.1.0" }[command];
    if (since && compareVersions(version, since) < 0) {
      throw new CniError(
        CNI_ERR.INCOMPATIBLE_VERSION,
        `${command} needs cniVersion ${since} or newer, the configuration has ${version}`,
      );
    }
    const containerId = env.CNI_CONTAINERID ?? "";
    if (containerId !== "" && !CONTAINER_ID.test(containerId)) {
      throw new CniError(CNI_ERR.INVALID_ENV, `Invalid CNI_CONTAINERID "${containerId}"`);
    }
    const ifname = env.CNI_IFNAME ?? "";
    if (ifname !== "") checkIfname(ifname);
    const args: CniArgs = {
      command,
      containerId,
      netns: env.CNI_NETNS ?? "",
      ifname,
      args: parseCniArgs(env.CNI_ARGS ?? ""),
      path: (env.CNI_PATH ?? "").split(":").filter((p) => p !== ""),
      ...(env.NSLINK_STATE_DIR ? { stateDir: env.NSLINK_STATE_DIR } : {}),
      ...(io.committed ? { committed: () => io.committed!() } : {}),
    };
    const p = plugin ?? (await import("./plugin.ts")).nslinkPlugin;
    switch (command) {
      case "ADD":
        io.out(JSON.stringify(convertResult(await p.add(args, conf), version)) + "\n");
        break;
      case "DEL":
        await p.del(args, conf);
        break;
      case "CHECK":
        await p.check(args, conf);
        break;
      case "GC":
        await p.gc(args, conf);
        break;
      case "STATUS":
        await p.status(args, conf);
        break;
    }
    return 0;
  } catch (e) {
    io.out(JSON.stringify(errorJson(toCniError(e), version)) + "\n");
    return 1;
  }
}
