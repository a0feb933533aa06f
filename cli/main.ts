#!/usr/bin/env bun
/**
 * The `nslink` executable: a command line (`nslink network create …`) and, when a container
 * runtime runs it with `CNI_COMMAND` set, a CNI plugin. `deno task nslink …`, `bun cli/main.ts …`,
 * or the compiled `dist/nslink` (`npm run build`).
 *
 * Each path imports only what it needs, when it runs (a runtime execs the plugin twice per
 * container, so the command line's modules are never loaded for CNI). A CNI exec first hands the
 * request to the state directory's agent when one runs (`cni/handoff.ts`, imported statically,
 * which loads nothing else) and prints its answer; only without one does it load the plugin and do the work itself,
 * starting the agent when a network needs one without waiting for it.
 *
 * @module
 */
import { handOff, readStdin, writeAll } from "../cni/handoff.ts";

/**
 * Node's `process`, a global in Bun and in Deno 2: importing `node:process` would cost the
 * handed-off CNI exec a module.
 */
const process = (globalThis as unknown as {
  process: { env: Record<string, string | undefined>; argv: string[]; exit(code: number): never };
}).process;

/**
 * The compiled executable starts with JavaScriptCore's JIT held back (`scripts/build.ts`:
 * `jitPolicy`): a process that runs one request (a CNI exec, handed off or not, a command) is
 * faster without compiling its functions. The commands that run until stopped (the agent, which
 * serves every handed-off request, and `events`) set the normal policy back. A no-op on Deno and
 * on `bun cli/main.ts`.
 */
function normalJit(): void {
  const g = globalThis as { Bun?: { unsafe?: { setJITPolicy?(scale: number): void } } };
  g.Bun?.unsafe?.setJITPolicy?.(1);
}
/** The commands that run until stopped. */
const LONG_RUNNING = ["agent", "events"];

const env = process.env;
let status: number;
if (env.CNI_COMMAND !== undefined) {
  // The hand-off is imported statically and reads and writes with the runtime's own primitives:
  // a handed-off exec loads no other module (tests/unit/cni-imports.test.ts).
  let stdin = "";
  let readError: unknown;
  try {
    stdin = await readStdin();
  } catch (e) {
    readError = e;
  }
  const answer = readError === undefined ? await handOff(env, stdin) : undefined;
  if (answer) {
    await writeAll(1, answer.out);
    await writeAll(2, answer.err);
    status = answer.status;
  } else {
    const [{ runCni }, { stdio }, { startAgentsWithoutWaiting }] = await Promise.all([
      import("../cni/skel.ts"),
      import("./io.ts"),
      import("../agent/client.ts"),
    ]);
    // One request, then exit: start the agent when a network needs it, but do not wait for it.
    startAgentsWithoutWaiting();
    status = await runCni({ ...env }, () => {
      if (readError !== undefined) throw readError;
      return stdin;
    }, stdio);
  }
} else {
  if (LONG_RUNNING.includes(process.argv[2])) normalJit();
  const [{ runCli }, { stdio }] = await Promise.all([
    import("./app.ts"),
    import("./io.ts"),
    import("../agent/client.ts"),
  ]);
  status = await runCli(process.argv.slice(2), stdio);
}
process.exit(status);
