/**
 * Helper process for network-process.test.ts (not a test itself). Usage:
 *   _network_worker.ts link STATE_DIR NETWORK ENDPOINT
 *     reopens the network with openNetwork, links ENDPOINT, prints the interfaces as JSON.
 *   _network_worker.ts many STATE_DIR NETWORK PREFIX COUNT BARRIER_DIR ID
 *     creates BARRIER_DIR/ready-ID, waits for BARRIER_DIR/go, then links PREFIX0 … PREFIX{COUNT-1}
 *     and prints every interface it got as one JSON array.
 *   _network_worker.ts hold STATE_DIR NETWORK BARRIER_DIR
 *     opens the network, creates BARRIER_DIR/ready, waits for BARRIER_DIR/go, then tries to link
 *     "late" and to delete the network with the object it opened, and prints what happened.
 * Run with `deno run -A` or `bun`.
 */
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import { type Interface, openNetwork } from "../../mod.ts";

const [mode, stateDir, name, ...rest] = process.argv.slice(2);
const network = await openNetwork(name, { stateDir });

if (mode === "link") {
  console.log(JSON.stringify(await network.link(rest[0])));
} else if (mode === "many") {
  const [prefix, countText, barrier, id] = rest;
  writeFileSync(join(barrier, `ready-${id}`), "");
  const deadline = Date.now() + 30_000;
  while (!existsSync(join(barrier, "go"))) {
    if (Date.now() > deadline) throw new Error(`Worker "${id}" never got the go signal`);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
  }
  const got: Interface[] = [];
  for (let i = 0; i < Number(countText); i++) got.push(...await network.link(`${prefix}${i}`));
  console.log(JSON.stringify(got));
} else if (mode === "hold") {
  const [barrier] = rest;
  writeFileSync(join(barrier, "ready"), "");
  const deadline = Date.now() + 30_000;
  while (!existsSync(join(barrier, "go"))) {
    if (Date.now() > deadline) throw new Error("never got the go signal");
    await new Promise((r) => setTimeout(r, 5));
  }
  const outcome = async (p: Promise<unknown>) => {
    try {
      await p;
      return "ok";
    } catch (e) {
      return `${(e as Error).name}: ${(e as Error).message}`;
    }
  };
  const link = await outcome(network.link("late"));
  const del = await outcome(network.delete());
  console.log(JSON.stringify({ id: network.id, link, delete: del }));
} else {
  throw new Error(`Unknown mode "${mode}"`);
}
