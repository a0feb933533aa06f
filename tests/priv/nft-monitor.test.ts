/**
 * Privileged tests of the nf_tables event monitor (`netfilter/monitor.ts`): a firewall reload
 * (`nft flush ruleset`, `nft delete table`) seen as `del` events for the table, the batch's
 * generation event, overruns reported, and closing ending the iteration.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`): the tests flush the ruleset of the
 * throw-away namespace.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type NftEvent, NftMonitor } from "../../netfilter/monitor.ts";
import { NETLINK_NETFILTER, NFNLGRP_NFTABLES } from "../../netfilter/constants.ts";
import { NetlinkEventStream } from "../../netlink/events.ts";
import { NetlinkSocket } from "../../netlink/socket.ts";
import { isRoot, runId, SKIP_ROOT } from "./_helpers.ts";
import { nft } from "./_nft_helpers.ts";

const P = runId();

/** The names of the tables `nft -j list tables` shows. */
async function tableNames(): Promise<string[]> {
  const json = JSON.parse(await nft("-j", "list", "tables"));
  return json.nftables.filter((x: { table?: unknown }) => x.table).map((
    x: { table: { name: string } },
  ) => x.table.name);
}

after(async () => {
  if (!isRoot) return;
  for (const name of await tableNames()) {
    if (name.startsWith(P)) await nft("delete", "table", "inet", name);
  }
  assert.deepEqual((await tableNames()).filter((n) => n.startsWith(P)), []);
});

/** Reads events until `until` matches; fails (closing the monitor) after `ms`. */
async function collect(
  events: NftMonitor,
  until: (e: NftEvent) => boolean,
  ms = 5000,
): Promise<NftEvent[]> {
  const all: NftEvent[] = [];
  const deadline = performance.now() + ms;
  for (;;) {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((r) => {
      timer = setTimeout(() => r("timeout"), Math.max(0, deadline - performance.now()));
    });
    const r = await Promise.race([events.next(), timeout]);
    clearTimeout(timer);
    if (r === "timeout" || r.done) {
      events.close();
      assert.fail(`no matching event within ${ms} ms; got ${JSON.stringify(all, bigints)}`);
    }
    all.push(r.value);
    if (until(r.value)) return all;
  }
}

const bigints = (_k: string, v: unknown) => typeof v === "bigint" ? String(v) : v;

describe("NftMonitor", { skip: SKIP_ROOT }, () => {
  it("sees nft flush ruleset remove a table, then the batch's generation", async () => {
    const table = `${P}flush`;
    await nft("add", "table", "inet", table);
    await nft("add", "chain", "inet", table, "c");
    await using events = NftMonitor.open();
    await nft("flush", "ruleset");
    const got = await collect(events, (e) => e.type === "generation");
    assert.deepEqual(await tableNames(), []);
    const del = got.find((e) => e.type === "table" && e.action === "del" && e.table === table);
    assert.ok(del, `no table del event: ${JSON.stringify(got, bigints)}`);
    assert.equal(del.type === "table" && del.family, 1);
    assert.ok(
      got.some((e) => e.type === "chain" && e.action === "del" && e.table === table),
      "chain del event",
    );
    const gen = got.at(-1);
    assert.ok(gen?.type === "generation");
    assert.equal(del.type === "table" && del.generation16, gen.generation & 0xffff);
    assert.equal(gen.process, "nft");
  });

  it("sees nft delete table, and a table made after open", async () => {
    const table = `${P}del`;
    await using events = NftMonitor.open();
    await nft("add", "table", "inet", table);
    const made = await collect(events, (e) => e.type === "generation");
    assert.ok(made.some((e) => e.type === "table" && e.action === "new" && e.table === table));
    await nft("delete", "table", "inet", table);
    const gone = await collect(events, (e) => e.type === "generation");
    assert.deepEqual(
      gone.filter((e) => e.type === "table").map((e) => e.type === "table" && [e.action, e.table]),
      [["del", table]],
    );
  });

  it("reports an overrun (once) when the consumer falls behind, then goes on", async () => {
    const table = `${P}ovr`;
    await using events = NftMonitor.open({ receiveBuffer: 4096 });
    // Nothing is read while 200 elements are added: each is its own event message.
    const elems = Array.from({ length: 200 }, (_, i) => `198.51.100.${i + 1}`).join(", ");
    await nft(
      `add table inet ${table}; add set inet ${table} s { type ipv4_addr; }; ` +
        `add element inet ${table} s { ${elems} }`,
    );
    const first = await collect(events, () => true);
    assert.deepEqual(first, [{ type: "overrun" }]);
    // Whatever was still queued comes next, never a second overrun in a row; then new events.
    await nft("delete", "table", "inet", table);
    const rest = await collect(
      events,
      (e) => e.type === "table" && e.action === "del" && e.table === table,
    );
    assert.ok(rest.every((e) => e.type !== "overrun"), JSON.stringify(rest, bigints));
  });

  it("reports an event its decoder cannot read as an overrun, and goes on", async () => {
    const table = `${P}bad`;
    const sock = NetlinkSocket.open({ protocol: NETLINK_NETFILTER, groups: [NFNLGRP_NFTABLES] });
    let calls = 0;
    await using events = new NetlinkEventStream(sock, (m) => {
      if (calls++ === 0) throw new RangeError("malformed");
      return m.type & 0xff;
    });
    await nft("add", "table", "inet", table);
    const first = await events.next();
    assert.deepEqual(first, { done: false, value: { type: "overrun" } });
    const second = await events.next();
    assert.equal(second.done, false);
    assert.equal(typeof second.value, "number"); // the batch's next message, decoded
    await nft("delete", "table", "inet", table);
  });

  it("close() ends a pending next() and a for await loop", async () => {
    const events = NftMonitor.open();
    const pending = events.next();
    events.close();
    assert.deepEqual(await pending, { done: true, value: undefined });
    assert.equal(events.closed, true);
    assert.deepEqual(await events.next(), { done: true, value: undefined });

    const loop = NftMonitor.open();
    const seen: NftEvent[] = [];
    const done = (async () => {
      for await (const e of loop) seen.push(e);
    })();
    setTimeout(() => loop.close(), 50);
    await done;
    assert.equal(loop.closed, true);
  });

  it("break in for await closes the monitor", async () => {
    const table = `${P}brk`;
    const events = NftMonitor.open();
    await nft("add", "table", "inet", table);
    for await (const e of events) {
      if (e.type === "generation") break;
    }
    assert.equal(events.closed, true);
    await nft("delete", "table", "inet", table);
  });
});
