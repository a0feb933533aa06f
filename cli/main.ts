#!/usr/bin/env bun
/**
 * The `nslink` executable: a command line (`nslink network create …`) and, when a container
 * runtime runs it with `CNI_COMMAND` set, a CNI plugin. `deno task nslink …`, `bun cli/main.ts …`,
 * or the compiled `dist/nslink` (`npm run build`).
 *
 * Each path imports only what it needs, when it runs (a runtime execs the plugin twice per
 * container, so the command line's modules are never loaded for CNI).
 *
 * @module
 */
import process from "node:process";

const env = process.env;
let status: number;
if (env.CNI_COMMAND !== undefined) {
  const [{ runCni }, { readFileSync }, { stdio }] = await Promise.all([
    import("../cni/skel.ts"),
    import("node:fs"),
    import("./io.ts"),
    import("../agent/client.ts"),
  ]);
  status = await runCni({ ...env }, () => readFileSync(0, "utf8"), stdio);
} else {
  const [{ runCli }, { stdio }] = await Promise.all([
    import("./app.ts"),
    import("./io.ts"),
    import("../agent/client.ts"),
  ]);
  status = await runCli(process.argv.slice(2), stdio);
}
process.exit(status);
