/**
 * Minimal, low-overhead process spawning for the Deno peers that drive external tools
 * (`ip`, CNI plugins, netavark). Uses `Deno.Command` directly: dax adds per-call overhead that
 * would be charged to the tool being measured.
 *
 * @module
 */

/** Result of a finished child process. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options for {@link run}. */
export interface RunOptions {
  /** Text written to the child's stdin (then closed); stdin is /dev/null when absent. */
  stdin?: string;
  /** Extra environment variables. */
  env?: Record<string, string>;
  /** Do not throw on a non-zero exit. */
  allowFail?: boolean;
}

const decoder = new TextDecoder();

/** Runs `cmd args...` to completion; throws with its stderr on failure unless `allowFail`. */
export async function run(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  const child = new Deno.Command(cmd, {
    args,
    env: opts.env,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (opts.stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(opts.stdin));
    await w.close();
  }
  const out = await child.output();
  const res = {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    stderr: decoder.decode(out.stderr),
  };
  if (res.code !== 0 && !opts.allowFail) {
    throw new Error(`${cmd} ${args.join(" ")} exited ${res.code}: ${res.stderr.trim()}`);
  }
  return res;
}
