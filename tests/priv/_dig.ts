/**
 * `dig` from a container namespace, as the privileged DNS tests ask (not a test itself): one
 * try, the answer section's records as `TYPE DATA` strings, the status (`NOERROR`, `NXDOMAIN`,
 * or `no answer (EXIT CODE)` when dig got none).
 *
 * @module
 */
import { exec } from "./_helpers.ts";

/** What {@linkcode dig} saw. */
export interface Dig {
  /** The reply's status, e.g. `NOERROR`, or `no answer (9)`. */
  status: string;
  /** The answer section's records, each as `TYPE DATA`, e.g. `A 198.51.100.2`. */
  answers: string[];
}

/**
 * Runs `dig @SERVER +tries=1 +timeout=T +nocookie ARGS…` in the named namespace `ns`.
 *
 * @param ns The namespace (under /run/netns).
 * @param server The server's address.
 * @param args dig's query arguments, e.g. `["web", "A"]` or `["-x", "198.51.100.2"]`.
 * @param timeout Seconds to wait for the one try.
 * @returns The status and the answers.
 *
 * @example
 * ```ts
 * const r = await dig(`${P}client`, "198.51.100.1", ["web", "A"]);
 * assert.deepEqual(r.answers, ["A 198.51.100.2"]);
 * ```
 */
export async function dig(ns: string, server: string, args: string[], timeout = 3): Promise<Dig> {
  const r = await exec([
    "ip",
    "netns",
    "exec",
    ns,
    "dig",
    `@${server}`,
    "+tries=1",
    `+timeout=${timeout}`,
    "+nocookie",
    ...args,
  ]);
  const status = /status: (\w+)/.exec(r.stdout)?.[1] ?? `no answer (${r.code})`;
  const answers: string[] = [];
  let inAnswer = false;
  for (const line of r.stdout.split("\n")) {
    if (line.startsWith(";; ANSWER SECTION")) inAnswer = true;
    else if (line.trim() === "") inAnswer = false;
    else if (inAnswer) answers.push(line.split(/\s+/).slice(3).join(" "));
  }
  return { status, answers };
}
