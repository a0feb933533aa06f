// The agent's names of overlay endpoints on other hosts (agent/overlay_names.ts): checked
// records from the store's snapshot and watch, this host's own left out, an endpoint answering
// while its host is registered; a bad alias reported and left out, a bad record skipped. A
// fake in-memory store stands for etcd (no root needed).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { remoteContainer, RemoteNames } from "../../agent/overlay_names.ts";
import type { DnsContainer } from "../../dns/resolver.ts";
import type { KeyValue, Watch, WatchHandlers } from "../../store/etcd.ts";
import type { KvStore } from "../../store/store.ts";

const ROOT = "/nslink/ov/ov1/";
const SUBNETS = ["203.0.113.0/24", "2001:db8:30::/64"];

/** What a test needs of a store: range at a revision, and watches told of each change. */
class FakeStore {
  rev = 1;
  kvs = new Map<string, string>();
  watches: { prefix: string; h: WatchHandlers }[] = [];
  put(key: string, value: string): void {
    this.kvs.set(key, value);
    this.#tell("put", key, value);
  }
  del(key: string): void {
    this.kvs.delete(key);
    this.#tell("delete", key, "");
  }
  #tell(type: "put" | "delete", key: string, value: string): void {
    this.rev++;
    const kv = { key, value, createRevision: 0, modRevision: this.rev, version: 1 } as KeyValue;
    for (const w of this.watches) {
      if (key.startsWith(w.prefix)) w.h.events([{ type, kv }], this.rev);
    }
  }
  asStore(): KvStore {
    return {
      url: "etcd://fake",
      range: (prefix: string) =>
        Promise.resolve({
          revision: this.rev,
          kvs: [...this.kvs].filter(([k]) => k.startsWith(prefix)).map(([key, value]) => ({
            key,
            value,
            createRevision: 0,
            modRevision: this.rev,
            version: 1,
          } as KeyValue)),
        }),
      watch: (prefix: string, _from: number, h: WatchHandlers): Watch => {
        const w = { prefix, h };
        this.watches.push(w);
        return {
          revision: this.rev,
          cancel: () => {
            this.watches = this.watches.filter((x) => x !== w);
            return Promise.resolve();
          },
        };
      },
    } as unknown as KvStore;
  }
}

function record(host: string, n: number, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    name: `c${n}`,
    host,
    mac: `02:42:cb:00:71:${n.toString(16).padStart(2, "0")}`,
    address: `203.0.113.${n}/24`,
    addressIPv6: `2001:db8:30::${n}/64`,
    ...extra,
  });
}

const tick = () => new Promise((r) => setTimeout(r, 0));

describe("remoteContainer", () => {
  it("answers a record's name, aliases and addresses", () => {
    const e = remoteContainer(
      "ov1",
      "web",
      record("198.51.100.12", 5, { aliases: ["www"] }),
      SUBNETS,
    );
    assert.equal(e.host, "198.51.100.12");
    assert.deepEqual(e.container, {
      id: "overlay:ov1/web",
      name: "web",
      aliases: ["www"],
      ipv4: ["203.0.113.5"],
      ipv6: ["2001:db8:30::5"],
    });
  });
  it("leaves out a bad alias (reported) and keeps the endpoint", () => {
    const why: string[] = [];
    const e = remoteContainer(
      "ov1",
      "web",
      record("198.51.100.12", 5, { aliases: ["ok", "bad name", 7, "-x"] }),
      SUBNETS,
      (r) => why.push(r),
    );
    assert.deepEqual(e.container.aliases, ["ok"]);
    assert.equal(why.length, 3);
    assert.match(why[0], /alias "bad name" is not a DNS name/);
  });
  it("refuses a bad name, an address outside the subnets, a record that is not JSON", () => {
    assert.throws(() => remoteContainer("ov1", "a b", record("198.51.100.12", 5), SUBNETS), /name/);
    assert.throws(
      () =>
        remoteContainer(
          "ov1",
          "web",
          record("198.51.100.12", 5, { address: "198.51.100.9/24" }),
          SUBNETS,
        ),
      /outside/,
    );
    assert.throws(() => remoteContainer("ov1", "web", "{", SUBNETS), /not JSON/);
  });
});

describe("RemoteNames", () => {
  it("follows other hosts' endpoints: snapshot, put, delete, host gone; its own left out", async () => {
    const fake = new FakeStore();
    fake.put(`${ROOT}hosts/198.51.100.11`, "198.51.100.11");
    fake.put(`${ROOT}hosts/198.51.100.12`, "198.51.100.12");
    fake.put(`${ROOT}endpoints/mine`, record("198.51.100.11", 2));
    fake.put(`${ROOT}endpoints/web`, record("198.51.100.12", 5, { aliases: ["www"] }));
    fake.put(`${ROOT}endpoints/bad`, "not json");
    let seen: DnsContainer[] = [];
    const rejected: string[] = [];
    const names = new RemoteNames({
      store: fake.asStore(),
      network: "ov1",
      self: "198.51.100.11",
      subnets: SUBNETS,
      onChange: (c) => (seen = c),
      onReject: (key) => rejected.push(key),
    });
    try {
      await names.ready;
      await tick();
      assert.deepEqual(seen.map((c) => c.name), ["web"]);
      assert.deepEqual(rejected, [`${ROOT}endpoints/bad`]);
      fake.put(`${ROOT}endpoints/api`, record("198.51.100.12", 6));
      assert.deepEqual(seen.map((c) => c.name).sort(), ["api", "web"]);
      fake.del(`${ROOT}endpoints/web`);
      assert.deepEqual(seen.map((c) => c.name), ["api"]);
      // Its host's registration gone (left, or its lease expired): its names go; back: back.
      fake.del(`${ROOT}hosts/198.51.100.12`);
      assert.deepEqual(seen.length, 0);
      fake.put(`${ROOT}hosts/198.51.100.12`, "198.51.100.12");
      assert.deepEqual(seen.map((c) => c.name), ["api"]);
    } finally {
      await names.stop();
    }
    assert.equal(fake.watches.length, 0, "the watch is cancelled");
  });
});
