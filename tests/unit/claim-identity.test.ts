import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { EndpointRecord, NetworkRecord } from "../../model/records.ts";
import { FileStore, LocalStore } from "../../network/store.ts";
import { addressOwner, forgetEndpoint, newToken, ownerName } from "../../network/lifecycle.ts";
import { portOwner, releaseBindings } from "../../network/publish.ts";

const root = mkdtempSync(join(tmpdir(), "nsl-claims-"));
after(() => rmSync(root, { recursive: true, force: true }));

let seq = 0;
function fresh(): { store: FileStore; record: NetworkRecord } {
  const store = new FileStore(join(root, `s${seq++}`));
  const record: NetworkRecord = {
    version: 1,
    name: "blue",
    type: "bridge",
    id: "0a1b2c3d4e5f",
    created: new Date(0).toISOString(),
    config: {},
    pools: { v4: { subnet: "198.51.100.0/24", gateway: "198.51.100.1", allocated: {} } },
    endpoints: {},
  };
  assert.equal(store.createNetwork(record), true);
  return { store, record };
}

/**
 * Links endpoint `name` by hand: its record and its address claim; without a token, both in the
 * format of earlier versions (the claim a symbolic link naming the endpoint).
 */
function linked(store: FileStore, record: NetworkRecord, name: string, token?: string) {
  const ep: EndpointRecord = {
    ...(token ? { token } : {}),
    interfaces: [{
      srcName: "",
      dstName: "eth0",
      macAddress: "",
      address: "198.51.100.2/24",
      addressIPv6: "",
      gateway: "198.51.100.1",
      gatewayIPv6: "",
      mtu: 1500,
    }],
    hostLinks: [],
  };
  if (token) assert.equal(store.reserve(record, "198.51.100.2", addressOwner(name, ep)), true);
  else symlinkSync(name, join(store.location, `ip.${record.id}`, "198.51.100.2"));
  assert.equal(store.createEndpoint(record, name, ep), true);
  return ep;
}

describe("claim identity", () => {
  it("a claim's owner is the endpoint and its token; ownerName() gives the endpoint back", () => {
    const token = newToken();
    assert.match(token, /^[0-9a-f]{13,}$/);
    assert.notEqual(newToken(), token);
    assert.equal(addressOwner("c1", { token }), `c1@${token}`);
    assert.equal(addressOwner("c1", {}), "c1");
    assert.equal(ownerName(`c1@${token}`), "c1");
    assert.equal(ownerName("c1.x"), "c1.x");
    const { store, record } = fresh();
    linked(store, record, "c1", token);
    // On disk: a directory per claim, holding one entry named after its owner.
    assert.deepEqual(readdirSync(join(store.location, `ip.${record.id}`, "198.51.100.2")), [
      `c1@${token}`,
    ]);
    assert.equal(portOwner(record, "c1", { token }), `${record.id}_c1@${token}`);
    assert.equal(portOwner(record, "c1", {}), `${record.id}_c1`);
  });

  it("a release removes only its owner's entry; an emptied claim can be claimed again", () => {
    const { store, record } = fresh();
    const kind = `ip.${record.id}`;
    assert.equal(store.files.claim(kind, "198.51.100.9", "a@1"), true);
    assert.equal(store.files.claim(kind, "198.51.100.9", "b@2"), false);
    assert.equal(store.files.unclaim(kind, "198.51.100.9", "b@2"), false);
    assert.equal(store.files.claimant(kind, "198.51.100.9"), "a@1");
    assert.equal(store.files.unclaim(kind, "198.51.100.9", "a@1"), true);
    assert.equal(store.files.unclaim(kind, "198.51.100.9", "a@1"), false);
    assert.equal(store.files.claimant(kind, "198.51.100.9"), undefined);
    assert.equal(store.files.claim(kind, "198.51.100.9", "b@2"), true);
    // A late second release by a@1 (a stale read) leaves b@2's claim alone.
    assert.equal(store.files.unclaim(kind, "198.51.100.9", "a@1"), false);
    assert.equal(store.files.claimant(kind, "198.51.100.9"), "b@2");
    // A claim left empty by a crash is held by no one; removeEntry (gc) clears it.
    assert.equal(store.files.claim(kind, "198.51.100.10", "c@3"), true);
    rmSync(join(store.location, kind, "198.51.100.10", "c@3"));
    assert.equal(store.files.claimant(kind, "198.51.100.10"), undefined);
    store.files.removeEntry(kind, "198.51.100.10");
    assert.equal(store.files.claim(kind, "198.51.100.10", "d@4"), true);
  });

  it("releasing an endpoint from a stale read frees nothing of the same name's newer link", async () => {
    const { store, record } = fresh();
    linked(store, record, "e", newToken());
    const stale = store.readEndpoint(record, "e")!; // what a slow settler read
    // Another process releases it and links the same name again: the same address.
    const local = new LocalStore(store);
    assert.deepEqual(await forgetEndpoint(local, record, "e", store.readEndpoint(record, "e")!), [
      "198.51.100.2",
    ]);
    const newer = linked(store, record, "e", newToken());
    // The slow settler finishes its release now.
    assert.deepEqual(await forgetEndpoint(local, record, "e", stale), []);
    assert.equal(store.holder(record, "198.51.100.2"), addressOwner("e", newer));
    assert.equal(store.readEndpoint(record, "e")?.token, newer.token);
  });

  it("claims in the old format (owner = endpoint name) are still read and released", async () => {
    const { store, record } = fresh();
    const old = linked(store, record, "c1");
    assert.equal(store.holder(record, "198.51.100.2"), "c1");
    assert.deepEqual(await forgetEndpoint(new LocalStore(store), record, "c1", old), [
      "198.51.100.2",
    ]);
    assert.deepEqual(store.reserved(record), []);
    assert.deepEqual(store.endpoints(record), []);
    // An old port claim (NETWORKID_ENDPOINT) is released by an old record too.
    const b = { protocol: "tcp" as const, hostIP: "", hostPort: 18200, port: 80 };
    mkdirSync(join(store.location, "ports.tcp-18200"));
    symlinkSync(`${record.id}_c1`, join(store.location, "ports.tcp-18200", "any"));
    assert.equal(store.files.claimant("ports.tcp-18200", "any"), `${record.id}_c1`);
    releaseBindings(store, record, "c1", {}, [b]);
    assert.equal(store.files.claimant("ports.tcp-18200", "any"), undefined);
  });
});

describe("FileStore.sweep()", () => {
  it("removes a claim held by no one (its claimer died between its two steps)", () => {
    const { store, record } = fresh();
    const kind = `ip.${record.id}`;
    mkdirSync(join(store.location, kind, "198.51.100.7"));
    assert.equal(store.reserve(record, "198.51.100.8", "c8@1"), true);
    assert.deepEqual(store.sweep(true), [`claim ${kind}/198.51.100.7 (held by no one)`]);
    assert.deepEqual(store.reserved(record).sort(), ["198.51.100.7", "198.51.100.8"]);
    store.sweep(false);
    assert.deepEqual(store.reserved(record), ["198.51.100.8"]);
    assert.equal(store.reserve(record, "198.51.100.7", "c7@2"), true);
  });
});

describe("StateStore.removeIf()", () => {
  it("removes the record meant, keeps another in place, and says which", () => {
    const { store, record } = fresh();
    const kind = `ep.${record.id}`;
    store.files.write(kind, "e", { token: "t2", n: 1 });
    const match = (v: { token?: string }) => v.token === "t1";
    assert.equal(store.files.removeIf(kind, "e", match), "kept");
    assert.deepEqual(store.files.read(kind, "e"), { token: "t2", n: 1 });
    assert.deepEqual(readdirSync(join(store.location, kind)), ["e.json"]);
    assert.equal(
      store.files.removeIf(kind, "e", (v: { token?: string }) => v.token === "t2"),
      "removed",
    );
    assert.equal(store.files.removeIf(kind, "e", match), "absent");
    assert.deepEqual(readdirSync(join(store.location, kind)), []);
    // Through the store: by identity.
    store.files.write(kind, "e", { token: "t3", interfaces: [], hostLinks: [] });
    assert.equal(store.removeEndpoint(record, "e", "t1"), false);
    assert.equal(store.readEndpoint(record, "e")?.token, "t3");
    assert.equal(store.removeEndpoint(record, "e", "t3"), true);
    assert.equal(store.readEndpoint(record, "e"), undefined);
  });
});
