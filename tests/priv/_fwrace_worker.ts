/**
 * Helper process for firewall-race.test.ts (not a test itself). Usage:
 *   _fwrace_worker.ts STATE_DIR PREFIX TAG
 * Reads commands on stdin, one a line, and answers each on stdout (`ok` or `error: …`):
 * `create I` makes bridge network `PREFIX-TAG-I` in STATE_DIR on bridge `PREFIXTAGI` (I in hex),
 * subnet `/28` number I of 198.51.100.0/24 (TAG `a`) or 203.0.113.0/24 (TAG `b`), `internal`
 * when I is odd; `delete I` deletes it. `net` makes network `PREFIX-TAG-net` on bridge
 * `PREFIXTAGn` (the TAG's whole /24 but its first /25), `link I` links endpoint `eI` to it with
 * TCP port 18000+I published, `unlink I` unlinks it, `rm` deletes it. No DNS, no agent (NSLINK_AGENT=off in the environment):
 * nothing else rebuilds the table meanwhile. Ends at the end of its input.
 */
import process from "node:process";
import { createInterface } from "node:readline";
import { type Network, newNetwork, openNetwork } from "../../mod.ts";

const [stateDir, prefix, tag] = process.argv.slice(2);
const base = tag === "a" ? "198.51.100" : "203.0.113";
let net: Network | undefined;
for await (const line of createInterface({ input: process.stdin })) {
  const [mode, index] = line.trim().split(" ");
  const i = Number(index);
  const name = `${prefix}-${tag}-${i}`;
  try {
    if (mode === "create") {
      await newNetwork("bridge", name, {
        stateDir,
        bridgeName: `${prefix}${tag}${i.toString(16)}`,
        subnet: `${base}.${i * 16}/28`,
        internal: i % 2 === 1,
        dns: false,
      });
    } else if (mode === "delete") {
      await (await openNetwork(name, { stateDir })).delete();
    } else if (mode === "net") {
      net = await newNetwork("bridge", `${prefix}-${tag}-net`, {
        stateDir,
        bridgeName: `${prefix}${tag}n`,
        subnet: `${base}.128/25`,
        dns: false,
      });
    } else if (mode === "link") {
      await net!.link(`e${i}`, { ports: [{ hostPort: 18000 + i, port: 80 }] });
    } else if (mode === "unlink") {
      await net!.unlink(`e${i}`);
    } else if (mode === "rm") {
      await net!.delete();
    } else throw new Error(`unknown command ${JSON.stringify(line)}`);
    process.stdout.write("ok\n");
  } catch (e) {
    process.stdout.write(`error: ${String((e as Error).stack ?? e).replaceAll("\n", " | ")}\n`);
  }
}
