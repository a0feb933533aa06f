/**
 * Unit tests (no root, no kernel work) of how the CNI plugin's errors become the spec's codes: a
 * bug of the plugin (a `TypeError` or `RangeError` from inside its logic) is 999, never 7
 * ("invalid network config"), so a runtime does not blame the user's configuration; values of
 * the configuration that are wrong are still 7, answered before anything is made.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { captureOutput } from "../../cli/io.ts";
import { CniError } from "../../cni/errors.ts";
import { nslinkPlugin } from "../../cni/plugin.ts";
import { type CniPlugin, runCni, toCniError } from "../../cni/skel.ts";

const ENV = {
  CNI_CONTAINERID: "0123456789abcdef",
  CNI_NETNS: "/run/netns/nslink-unit-none",
  CNI_IFNAME: "eth0",
  CNI_PATH: "/usr/lib/cni",
};
const CONF = { cniVersion: "1.0.0", name: "tnet", type: "nslink", subnet: "198.51.100.0/24" };

async function add(
  conf: Record<string, unknown>,
  plugin: CniPlugin,
  env: Record<string, string> = {},
): Promise<{ status: number; code: number; msg: string }> {
  const io = captureOutput();
  const status = await runCni(
    { ...ENV, ...env, CNI_COMMAND: "ADD" },
    () => JSON.stringify(conf),
    io,
    plugin,
  );
  const json = JSON.parse(io.stdout) as { code: number; msg: string };
  return { status, code: json.code, msg: json.msg };
}

/** A bug: reads a property of what turned out to be null (the engine's own TypeError). */
function buggy(): never {
  const parsed = JSON.parse("null") as { fields: string[] };
  parsed.fields.push("x");
  throw new Error("unreachable");
}

describe("CNI error codes", () => {
  it("toCniError() answers a TypeError or RangeError that reaches it with 999", () => {
    let bug: unknown;
    try {
      buggy();
    } catch (e) {
      bug = e;
    }
    assert.ok(bug instanceof TypeError);
    assert.equal(toCniError(bug).code, 999);
    assert.equal(toCniError(new RangeError("Invalid array length")).code, 999);
    assert.equal(toCniError(new CniError(7, 'Invalid "mtu"')).code, 7);
  });

  it("a TypeError from inside the plugin's ADD is 999 with its message", async () => {
    const plugin: CniPlugin = {
      ...nslinkPlugin,
      add: () => Promise.resolve().then(buggy),
    };
    const r = await add(CONF, plugin);
    assert.equal(r.status, 1);
    assert.equal(r.code, 999);
    assert.match(r.msg, /null|undefined/);
  });

  it("wrong values in the configuration are still 7, before anything is made", async () => {
    const stateDir = mkdtempSync(join(tmpdir(), "nsl-cni-err-"));
    try {
      const cases: [Record<string, unknown>, Record<string, string>, RegExp][] = [
        [{ ...CONF, mtu: "big" }, {}, /"mtu"/],
        [{ ...CONF, runtimeConfig: { ips: ["198.51.100.300"] } }, {}, /198\.51\.100\.300/],
        [{ ...CONF }, { CNI_ARGS: "IP=not-an-address" }, /not-an-address/],
        [
          { ...CONF, runtimeConfig: { portMappings: [{ hostPort: 70000, containerPort: 80 }] } },
          {},
          /70000/,
        ],
        [
          {
            ...CONF,
            runtimeConfig: {
              portMappings: [{ hostIP: "nowhere", hostPort: 8080, containerPort: 80 }],
            },
          },
          {},
          /nowhere/,
        ],
        [{ ...CONF, runtimeConfig: { portMappings: [null] } }, {}, /port mapping/],
      ];
      for (const [conf, env, re] of cases) {
        const r = await add({ ...conf, stateDir }, nslinkPlugin, env);
        assert.equal(r.status, 1, JSON.stringify(conf));
        assert.equal(r.code, 7, `${JSON.stringify(conf)} ${JSON.stringify(env)}: ${r.msg}`);
        assert.match(r.msg, re);
      }
    } finally {
      rmSync(stateDir, { recursive: true, force: true });
    }
  });
});
