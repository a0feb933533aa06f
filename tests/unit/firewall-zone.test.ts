/** firewalld's zone binding without firewalld: nothing is tried when the bus socket is missing. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import {
  firewalldBind,
  firewalldUnbind,
  recordBridges,
  syncFirewalldZone,
  systemBusPresent,
} from "../../firewall/zone.ts";
import type { NetworkRecord } from "../../model/records.ts";

function withBus<T>(address: string, fn: () => T): T {
  const was = process.env.DBUS_SYSTEM_BUS_ADDRESS;
  process.env.DBUS_SYSTEM_BUS_ADDRESS = address;
  try {
    return fn();
  } finally {
    if (was === undefined) delete process.env.DBUS_SYSTEM_BUS_ADDRESS;
    else process.env.DBUS_SYSTEM_BUS_ADDRESS = was;
  }
}

describe("firewalld zone binding", () => {
  it("systemBusPresent() is one stat: false for a missing socket, true for abstract ones", () => {
    assert.equal(withBus("unix:path=/nonexistent/nslink-bus", systemBusPresent), false);
    assert.equal(withBus("unix:abstract=/nslink-bus", systemBusPresent), true);
    assert.equal(
      withBus("unix:path=/nonexistent/a;unix:path=/proc/self/stat", systemBusPresent),
      true,
    );
  });

  it("bind, unbind and sync do nothing (false) without a bus", async () => {
    const was = process.env.DBUS_SYSTEM_BUS_ADDRESS;
    process.env.DBUS_SYSTEM_BUS_ADDRESS = "unix:path=/nonexistent/nslink-bus";
    try {
      assert.equal(await firewalldBind(["nsl0br"]), false);
      assert.equal(await firewalldUnbind(["nsl0br"]), false);
      assert.equal(await syncFirewalldZone([]), false);
    } finally {
      if (was === undefined) delete process.env.DBUS_SYSTEM_BUS_ADDRESS;
      else process.env.DBUS_SYSTEM_BUS_ADDRESS = was;
    }
  });

  it("recordBridges() lists bridge networks' bridges only", () => {
    const rec = (type: string, config: Record<string, unknown>) =>
      ({ type, name: "n", config, pools: {}, endpoints: {} }) as unknown as NetworkRecord;
    assert.deepEqual(
      recordBridges([rec("bridge", { bridgeName: "nsl0br" }), rec("null", {}), rec("bridge", {})]),
      ["nsl0br"],
    );
  });
});
