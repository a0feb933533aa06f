/**
 * Privileged tests of the D-Bus client (`dbus/`) and the firewalld zone binding
 * (`firewall/firewalld.ts`) against a real dbus-daemon and Debian's firewalld, both started
 * inside the throw-away namespace by `_firewalld.ts` (with a bind-mounted copy of
 * `/etc/firewalld`). Results are checked independently with `firewall-cmd` and the zone files.
 *
 * Run through `scripts/in-netns.sh` only. Skips when firewalld or dbus is not installed.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { DBusConnectError, DBusConnection, DBusError } from "../../dbus/connection.ts";
import { Variant } from "../../dbus/marshal.ts";
import { Firewalld, firewalldRunning } from "../../firewall/firewalld.ts";
import { exec, ip, isRoot, runId, SKIP_ROOT } from "./_helpers.ts";
import {
  firewallCmd,
  SANDBOX_BUS,
  type SandboxFirewalld,
  SKIP_FIREWALLD,
  startFirewalld,
  zoneOf,
} from "./_firewalld.ts";

const P = runId();
const SKIP = SKIP_ROOT || SKIP_FIREWALLD;
const ZONE = `${P}z`;
const BRIDGE = `${P}br`;
let fw: SandboxFirewalld | undefined;
let started = 0;

before(async () => {
  if (SKIP) return;
  started = Date.now();
  fw = await startFirewalld();
  console.log(`firewalld owned its bus name after ${fw.startupMs.toFixed(0)} ms`);
});

after(async () => {
  try {
    if (isRoot && !SKIP) await ip(["link", "del", BRIDGE]);
  } finally {
    await fw?.stop();
  }
  if (!SKIP) assert.equal(existsSync("/etc/firewalld/zones/" + ZONE + ".xml"), false);
});

describe("DBusConnection", { skip: SKIP }, () => {
  it("authenticates, says Hello and calls the bus", async () => {
    await using bus = await DBusConnection.connect({ address: SANDBOX_BUS });
    assert.match(bus.uniqueName, /^:\d+\.\d+$/);
    const [names] = await bus.call({
      destination: "org.freedesktop.DBus",
      path: "/org/freedesktop/DBus",
      interface: "org.freedesktop.DBus",
      member: "ListNames",
    });
    assert.ok(Array.isArray(names));
    assert.ok((names as string[]).includes(bus.uniqueName));
    assert.ok((names as string[]).includes("org.fedoraproject.FirewallD1"));
  });

  it("turns an error reply into a DBusError naming method, object and error", async () => {
    await using bus = await DBusConnection.connect({ address: SANDBOX_BUS });
    const err = await bus.call({
      destination: "org.freedesktop.DBus",
      path: "/org/freedesktop/DBus",
      interface: "org.freedesktop.DBus",
      member: "GetNameOwner",
      signature: "s",
      body: [`org.nslink.${P}`],
    }).then(() => undefined, (e) => e);
    assert.ok(err instanceof DBusError, String(err));
    assert.equal(err.method, "org.freedesktop.DBus.GetNameOwner");
    assert.equal(err.object, "/org/freedesktop/DBus");
    assert.equal(err.errorName, "org.freedesktop.DBus.Error.NameHasNoOwner");
    assert.match(err.message, /^org\.freedesktop\.DBus\.GetNameOwner \/org\/freedesktop\/DBus: /);
  });

  it("decodes a real nested a{sv} reply (firewalld's zone settings)", async () => {
    // firewalld's getZoneSettings2 answers a{sv}: decode a real, nested reply.
    await using bus = await DBusConnection.connect({ address: SANDBOX_BUS });
    const [settings] = await bus.call({
      destination: "org.fedoraproject.FirewallD1",
      path: "/org/fedoraproject/FirewallD1",
      interface: "org.fedoraproject.FirewallD1.zone",
      member: "getZoneSettings2",
      signature: "s",
      body: ["public"],
    });
    assert.ok(settings instanceof Map);
    const target = settings.get("target");
    assert.ok(target instanceof Variant);
    assert.equal(target.value, "default");
  });

  it("rejects pending calls when closed, and reports a missing socket as DBusConnectError", async () => {
    const bus = await DBusConnection.connect({ address: SANDBOX_BUS });
    const pending = bus.call({
      destination: "org.freedesktop.DBus",
      path: "/org/freedesktop/DBus",
      interface: "org.freedesktop.DBus",
      member: "ListNames",
    });
    bus.close();
    await assert.rejects(
      pending,
      (e) => e instanceof DBusError && e.errorName === "org.freedesktop.DBus.Error.Disconnected",
    );
    await assert.rejects(
      DBusConnection.connect({ address: `unix:path=/run/${P}-missing` }),
      (e) => e instanceof DBusConnectError && e.code === "ENOENT",
    );
  });
});

describe("Firewalld", { skip: SKIP }, () => {
  it("firewalldRunning() is true on the sandbox's bus, false without a bus", async () => {
    assert.equal(await firewalldRunning({ address: SANDBOX_BUS }), true);
    assert.equal(await firewalldRunning({ address: `unix:path=/run/${P}-missing` }), false);
    assert.equal(await Firewalld.connect({ address: `unix:path=/run/${P}-missing` }), undefined);
  });

  it("ensureZone() makes a permanent zone with target ACCEPT, present at runtime, once", async () => {
    await using f = await Firewalld.connect({ address: SANDBOX_BUS });
    assert.ok(f);
    assert.equal(await f.ensureZone(ZONE), true);
    assert.ok((await firewallCmd(fw!, "--permanent", "--get-zones")).split(" ").includes(ZONE));
    assert.ok((await firewallCmd(fw!, "--get-zones")).split(" ").includes(ZONE));
    assert.equal(await firewallCmd(fw!, "--permanent", `--zone=${ZONE}`, "--get-target"), "ACCEPT");
    // Written into the bind-mounted copy, never the machine's /etc/firewalld.
    assert.match(readFileSync(`${fw!.dir}/etc/zones/${ZONE}.xml`, "utf8"), /target="ACCEPT"/);
    assert.equal(await f.ensureZone(ZONE), false);
  });

  it("bindInterface() binds at runtime and permanently; firewall-cmd --reload keeps it", async () => {
    assert.equal((await ip(["link", "add", BRIDGE, "type", "bridge"])).code, 0);
    await using f = await Firewalld.connect({ address: SANDBOX_BUS });
    assert.ok(f);
    // It starts in another zone, both ways: bindInterface moves it.
    await firewallCmd(fw!, "--zone=trusted", `--change-interface=${BRIDGE}`);
    await firewallCmd(fw!, "--permanent", "--zone=trusted", `--change-interface=${BRIDGE}`);
    await f.bindInterface(ZONE, BRIDGE);
    assert.equal(await zoneOf(BRIDGE), ZONE);
    assert.equal(await zoneOf(BRIDGE, true), ZONE);
    assert.equal(await f.zoneOfInterface(BRIDGE), ZONE);
    assert.doesNotMatch(
      await firewallCmd(fw!, "--permanent", "--zone=trusted", "--list-interfaces"),
      new RegExp(BRIDGE),
    );
    await f.bindInterface(ZONE, BRIDGE); // idempotent
    await firewallCmd(fw!, "--reload");
    assert.equal(await zoneOf(BRIDGE), ZONE);
    assert.equal(await zoneOf(BRIDGE, true), ZONE);
    assert.match(readFileSync(`${fw!.dir}/etc/zones/${ZONE}.xml`, "utf8"), new RegExp(BRIDGE));
  });

  it("firewalld's refusals come back as DBusError with its exception", async () => {
    await using f = await Firewalld.connect({ address: SANDBOX_BUS });
    assert.ok(f);
    const err = await f.bindInterface(`${P}nozone`, BRIDGE).then(() => undefined, (e) => e);
    assert.ok(err instanceof DBusError, String(err));
    assert.equal(err.errorName, "org.fedoraproject.FirewallD1.Exception");
    assert.match(err.detail, /INVALID_ZONE/);
    assert.equal(err.method, "org.fedoraproject.FirewallD1.config.getZoneByName");
    assert.equal(await zoneOf(BRIDGE), ZONE);
  });

  it("unbindInterface() and removeZone() undo it, both ways, idempotently", async () => {
    await using f = await Firewalld.connect({ address: SANDBOX_BUS });
    assert.ok(f);
    await f.unbindInterface(ZONE, BRIDGE);
    assert.equal(await zoneOf(BRIDGE), "");
    assert.equal(await zoneOf(BRIDGE, true), "");
    await f.unbindInterface(ZONE, BRIDGE);
    await f.bindInterface(ZONE, BRIDGE);
    assert.equal(await f.removeZone(ZONE), true);
    assert.ok(!(await firewallCmd(fw!, "--get-zones")).split(" ").includes(ZONE));
    assert.ok(!(await firewallCmd(fw!, "--permanent", "--get-zones")).split(" ").includes(ZONE));
    assert.equal(await zoneOf(BRIDGE), "");
    assert.equal(await zoneOf(BRIDGE, true), "");
    assert.equal(await f.removeZone(ZONE), false);
    await f.unbindInterface(ZONE, BRIDGE); // zone gone: nothing to do
  });

  it("firewalld wrote nothing under the machine's /etc, /var/lib or /var/log", async () => {
    // `find -newermt` with the test's start: files firewalld would have made or changed.
    const since = new Date(started - 1000).toISOString();
    const r = await exec([
      "find",
      "/etc",
      "/var/lib",
      "/var/log",
      "-path",
      "/etc/firewalld",
      "-prune",
      "-o",
      "-newermt",
      since,
      "-ipath",
      "*firewall*",
      "-print",
    ]);
    assert.equal(r.stdout.trim(), "", r.stderr);
  });
});
