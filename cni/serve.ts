/**
 * The host agent's side of the CNI plugin's hand-off (`cni/handoff.ts`): `nslink agent` serves
 * the op `cni` with {@linkcode cniHandler}, running the request with the same code as an exec'd
 * plugin ({@linkcode runCni} and `cni/plugin.ts`) and answering what that exec would print and
 * its exit status. The agent runs in the host's network namespace; the plugin enters
 * `CNI_NETNS` by its path, as in an exec.
 *
 * @module
 */
import process from "node:process";
import type { AgentRequestHandler } from "../agent/agent.ts";
import { dropAddressHints } from "../network/lifecycle.ts";
import { runCni } from "./skel.ts";

/** The variables that must be the same in the exec and in the agent for the agent to serve it. */
const SAME_ENV = ["NSLINK_CONFIG_DIR", "NSLINK_BOOT_ID"];

/**
 * The handler of the op `cni` for the agent of `stateDir`: it refuses a request for another
 * state directory, or whose `NSLINK_CONFIG_DIR`/`NSLINK_BOOT_ID` differ from the agent's (the
 * exec then does the work itself).
 *
 * @example
 * ```ts ignore
 * await runAgent({ stateDir, onDemand: true, requests: { cni: cniHandler(stateDir) } });
 * ```
 * @param stateDir The agent's state directory.
 * @returns The handler.
 */
export function cniHandler(stateDir: string): AgentRequestHandler {
  const own = stateDir.replace(/\/+$/, "");
  return {
    refuse(request) {
      if (request.stateDir !== own) return "another state directory";
      const env = request.env;
      if (env === null || typeof env !== "object" || typeof request.stdin !== "string") {
        return "not a CNI request";
      }
      const e = env as Record<string, unknown>;
      for (const k of SAME_ENV) {
        if ((e[k] || undefined) !== (process.env[k] || undefined)) return `another ${k}`;
      }
      return undefined;
    },
    async run(request, answer) {
      const env: Record<string, string> = {};
      for (const [k, v] of Object.entries(request.env as Record<string, unknown>)) {
        if (typeof v === "string") env[k] = v;
      }
      env.NSLINK_STATE_DIR = own;
      // As an exec would: the lowest free address, also one another process has just freed.
      dropAddressHints();
      let out = "";
      let err = "";
      const t = performance.now();
      // `ms`: the agent's own time on the request (for profiles; the exec ignores it).
      const reply = (status: number) => ({
        ok: true,
        status,
        out,
        err,
        ms: +(performance.now() - t).toFixed(3),
      });
      const status = await runCni(env, () => request.stdin as string, {
        out: (t) => void (out += t),
        err: (t) => void (err += t),
        // A DEL whose network's removal is committed: answered now, the removal goes on here.
        committed: () => answer(reply(0)),
      });
      return reply(status);
    },
  };
}
