/**
 * State micro-benchmark: what nslink's crash-safe state costs per `link` and per `unlink`, with
 * no kernel work — exactly the store calls those operations make, in their order, through the
 * asynchronous `Store` contract on a `LocalStore` (its `FileStore`) in a tmpfs directory (`/dev/shm`, or `--dir`), with `--existing` endpoints
 * already in the network (their reservations make the allocator's directory read longer).
 *
 * link:   shared lock, releasing-list read, intent record (exclusive create), two address
 *         reservations (lowest free by the process's address book, mkdir + owner entry), final record
 *         (rename), unlock
 * unlink: shared lock, record read, two releases (owner entry + directory), record removal, unlock
 *
 * Prints one JSON line with microseconds per operation (median of 5 rounds) and writes a result
 * file (bench/lib/results.ts) with every round's figure. Needs no root.
 * Usage: deno run -A bench/state.ts | bun bench/state.ts   [--n 2000] [--existing 200]
 *
 * @module
 */
import process from "node:process";
import { mkdtempSync, rmSync } from "node:fs";
import type { EndpointRecord, NetworkRecord } from "../drivers/driver.ts";
import { createPool } from "../model/ipam.ts";
import { bridgeDriver } from "../drivers/bridge.ts";
import { releaseAddress, reserveAddresses } from "../network/lifecycle.ts";
import { currentOwner } from "../model/owner.ts";
import { FileStore, LocalStore } from "../network/store.ts";
import { currentRuntime, finishResult, startResult } from "./lib/results.ts";

const argv = process.argv.slice(2);
const opt = (k: string, d: number | string) => {
  const i = argv.indexOf(`--${k}`);
  return i >= 0 ? argv[i + 1] : String(d);
};
const N = Number(opt("n", 2000));
const EXISTING = Number(opt("existing", 200));
const DIR = opt("dir", "/dev/shm");
const started = startResult("state", { n: N, existing: EXISTING, dir: DIR, rounds: 5 });

const v4 = createPool("198.51.100.0/22");
const v6 = createPool("2001:db8:1::/64");

function record(): NetworkRecord {
  return {
    version: 1,
    name: "bench",
    type: "bridge",
    id: "0123456789ab",
    created: new Date(0).toISOString(),
    config: { bridgeName: "nslbench" },
    pools: { v4: { ...v4 }, v6: { ...v6 } },
    endpoints: {},
  };
}

async function link(store: LocalStore, net: NetworkRecord, name: string): Promise<void> {
  const lock = store.local.tryLock({ shared: true })!;
  store.local.releasing(net);
  const intent: EndpointRecord = {
    state: "creating",
    owner: currentOwner(),
    interfaces: [],
    hostLinks: [`nslh${name}`],
  };
  if (!await store.createEndpoint(net, name, intent)) throw new Error(`${name} exists`);
  const got = await reserveAddresses(store, bridgeDriver, net, name, {});
  const a4 = got.v4!;
  const a6 = got.v6!;
  const ep: EndpointRecord = {
    state: "linked",
    interfaces: [{
      srcName: `nslc${name}`,
      dstName: "eth0",
      macAddress: "02:42:c6:33:64:02",
      address: a4,
      addressIPv6: a6,
      gateway: v4.gateway,
      gatewayIPv6: v6.gateway,
      mtu: 1500,
    }],
    hostLinks: [`nslh${name}`],
    namespace: `/run/netns/${name}`,
  };
  await store.writeEndpoint(net, name, ep);
  lock.release();
}

async function unlink(store: LocalStore, net: NetworkRecord, name: string): Promise<void> {
  const lock = store.local.tryLock({ shared: true })!;
  const ep = (await store.readEndpoint(net, name))!;
  for (const i of ep.interfaces) {
    await releaseAddress(store, net, i.address.split("/")[0], name);
    await releaseAddress(store, net, i.addressIPv6.split("/")[0], name);
  }
  await store.removeEndpoint(net, name);
  lock.release();
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

const root = mkdtempSync(`${DIR}/nsl-state-bench-`);
try {
  const store = new LocalStore(new FileStore(root));
  const net = record();
  await store.createNetwork(net);
  for (let i = 0; i < EXISTING; i++) await link(store, net, `e${i}`);
  const linkUs: number[] = [];
  const unlinkUs: number[] = [];
  // Batches of 20 links then their 20 unlinks: the network stays at EXISTING to EXISTING + 20.
  for (let round = 0; round < 5; round++) {
    let tl = 0;
    let tu = 0;
    for (let i = 0; i < N; i += 20) {
      let t = performance.now();
      for (let j = i; j < i + 20; j++) await link(store, net, `b${j}`);
      tl += performance.now() - t;
      t = performance.now();
      for (let j = i; j < i + 20; j++) await unlink(store, net, `b${j}`);
      tu += performance.now() - t;
    }
    linkUs.push((tl * 1000) / N);
    unlinkUs.push((tu * 1000) / N);
  }
  const summary = {
    runtime: currentRuntime(),
    existingEndpoints: EXISTING,
    n: N,
    linkStateUs: Number(median(linkUs).toFixed(1)),
    unlinkStateUs: Number(median(unlinkUs).toFixed(1)),
  };
  console.log(JSON.stringify(summary));
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  const path = finishResult(started, {
    samples: {
      unit: "µs per operation, one figure per round",
      linkUs: linkUs.map(r3),
      unlinkUs: unlinkUs.map(r3),
    },
    summary,
  });
  if (path) console.error(`wrote ${path}`);
} finally {
  rmSync(root, { recursive: true, force: true });
}
