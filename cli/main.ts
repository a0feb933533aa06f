#!/usr/bin/env bun
/**
 * The `nslink` executable: a command line (`nslink network create …`) and, when a container
 * runtime runs it with `CNI_COMMAND` set, a CNI plugin. `deno task nslink …`, `bun cli/main.ts …`,
 * or the compiled `dist/nslink` (`npm run build`).
 *
 * Each path imports only what it needs, when it runs (a runtime execs the plugin twice per
 * container, so the command line's modules are never loaded for CNI). A CNI exec first hands the
 * request to the state directory's agent when one runs (`cni/handoff.ts`, which loads nothing
 * else) and prints its answer; only without one does it load the plugin and do the work itself,
 * starting the agent when a network needs one without waiting for it.
 *
 * @module
 */
import process from "node:process";

const env = process.env;
let status: number;
if (env.CNI_COMMAND !== undefined) {
  const [{ handOff }, { readFileSync, writeSync }] = await Promise.all([
    import("../cni/handoff.ts"),
    import("node:fs"),
  ]);
  let stdin = "";
  let readError: unknown;
  try {
    stdin = readFileSync(0, "utf8");
  } catch (e) {
    readError = e;
  }
  const answer = readError === undefined ? await handOff(env, stdin) : undefined;
  if (answer) {
    for (const [fd, text] of [[1, answer.out], [2, answer.err]] as const) {
      const bytes = new TextEncoder().encode(text);
      for (let off = 0; off < bytes.length;) off += writeSync(fd, bytes, off, bytes.length - off);
    }
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
  const [{ runCli }, { stdio }] = await Promise.all([
    import("./app.ts"),
    import("./io.ts"),
    import("../agent/client.ts"),
  ]);
  status = await runCli(process.argv.slice(2), stdio);
}
process.exit(status);
