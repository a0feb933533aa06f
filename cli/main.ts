#!/usr/bin/env bun
/**
 * The `nslink` executable: a command line (`nslink network create …`) and, when a container
 * runtime runs it with `CNI_COMMAND` set, a CNI plugin. `deno task nslink …`, `bun cli/main.ts …`,
 * or the compiled `dist/nslink` (`npm run build`).
 *
 * @module
 */
import process from "node:process";
import { readFileSync } from "node:fs";
import "../agent/client.ts";
import { runCni } from "../cni/skel.ts";
import { runCli } from "./app.ts";
import { stdio } from "./io.ts";

const env = process.env;
const status = env.CNI_COMMAND !== undefined
  ? await runCni(
    { ...env },
    () => readFileSync(0, "utf8"),
    stdio,
  )
  : await runCli(process.argv.slice(2), stdio);
process.exit(status);
