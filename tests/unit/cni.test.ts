/**
 * Unit tests (no root, no kernel) of the CNI dispatcher and the pure parts of the plugin: the
 * command, environment and version checks and their error codes, the error JSON, result shapes
 * per spec version, chaining (`prevResult`), configuration fields and endpoint names. The
 * dispatcher is driven with a recording plugin; the real plugin is exercised in tests/priv/.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { captureOutput } from "../../cli/io.ts";
import { parseConf } from "../../cni/config.ts";
import { CniError } from "../../cni/errors.ts";
import { endpointName } from "../../cni/plugin.ts";
import { convertResult, mergeResults } from "../../cni/result.ts";
import { type CniPlugin, runCni, toCniError } from "../../cni/skel.ts";
import type { CniArgs, CniNetConf, CniResult } from "../../cni/types.ts";

const RESULT: CniResult = {
  cniVersion: "1.0.0",
  interfaces: [{ name: "nsl-t", mac: "02:00:00:00:00:01" }, {
    name: "eth0",
    mac: "02:42:c6:33:64:02",
    mtu: 1500,
    sandbox: "/run/netns/c1",
  }],
  ips: [
    { address: "198.51.100.2/24", gateway: "198.51.100.1", interface: 1 },
    { address: "2001:db8:1::2/64", gateway: "2001:db8:1::1", interface: 1 },
  ],
  routes: [{ dst: "0.0.0.0/0", gw: "198.51.100.1" }],
  dns: {},
};

function recorder(fail?: unknown) {
  const calls: { command: string; args: CniArgs; conf: CniNetConf }[] = [];
  const rec = (command: string) => (args: CniArgs, conf: CniNetConf) => {
    calls.push({ command, args, conf });
    return fail === undefined ? Promise.resolve() : Promise.reject(fail);
  };
  const plugin: CniPlugin = {
    add: (args, conf) => {
      calls.push({ command: "ADD", args, conf });
      return fail === undefined ? Promise.resolve(structuredClone(RESULT)) : Promise.reject(fail);
    },
    del: rec("DEL"),
    check: rec("CHECK"),
    gc: rec("GC"),
    status: rec("STATUS"),
  };
  return { plugin, calls };
}

const ENV = {
  CNI_CONTAINERID: "0123456789abcdef",
  CNI_NETNS: "/run/netns/c1",
  CNI_IFNAME: "eth0",
  CNI_PATH: "/usr/lib/cni:/opt/cni/bin",
};
const CONF = { cniVersion: "1.0.0", name: "tnet", type: "nslink" };

async function invoke(
  command: string,
  conf: unknown = CONF,
  env: Record<string, string | undefined> = ENV,
  fail?: unknown,
) {
  const io = captureOutput();
  const { plugin, calls } = recorder(fail);
  const text = typeof conf === "string" ? conf : JSON.stringify(conf);
  const status = await runCni({ ...env, CNI_COMMAND: command }, () => text, io, plugin);
  return { status, out: io.stdout, json: io.stdout ? JSON.parse(io.stdout) : undefined, calls };
}

describe("CNI dispatcher", () => {
  it("VERSION lists the supported versions", async () => {
    const r = await invoke("VERSION", { cniVersion: "1.0.0" }, {});
    assert.equal(r.status, 0);
    assert.deepEqual(r.json, {
      cniVersion: "1.1.0",
      supportedVersions: ["0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"],
    });
  });

  it("ADD passes CNI_* as arguments (never the environment) and prints the result", async () => {
    const r = await invoke("ADD", CONF, { ...ENV, CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAME=p" });
    assert.equal(r.status, 0);
    assert.deepEqual(r.calls[0].args, {
      command: "ADD",
      containerId: "0123456789abcdef",
      netns: "/run/netns/c1",
      ifname: "eth0",
      args: { IgnoreUnknown: "1", K8S_POD_NAME: "p" },
      path: ["/usr/lib/cni", "/opt/cni/bin"],
    });
    assert.deepEqual(r.json, {
      ...RESULT,
      interfaces: RESULT.interfaces!.map(({ mtu: _, ...i }) => i),
    });
    assert.ok(r.out.endsWith("\n"));
  });

  it("DEL needs no CNI_NETNS and prints nothing", async () => {
    const r = await invoke("DEL", CONF, { ...ENV, CNI_NETNS: undefined });
    assert.equal(r.status, 0);
    assert.equal(r.out, "");
    assert.equal(r.calls[0].command, "DEL");
  });

  it("GC and STATUS need only CNI_PATH and cniVersion 1.1.0", async () => {
    for (const cmd of ["GC", "STATUS"]) {
      const ok = await invoke(cmd, { ...CONF, cniVersion: "1.1.0" }, { CNI_PATH: "/usr/lib/cni" });
      assert.equal(ok.status, 0, ok.out);
      assert.equal(ok.calls[0].command, cmd);
      const old = await invoke(cmd, CONF, { CNI_PATH: "/usr/lib/cni" });
      assert.equal(old.status, 1);
      assert.equal(old.json.code, 1);
      assert.equal(old.calls.length, 0);
    }
  });

  const errors: [string, string, unknown, Record<string, string | undefined>, number, RegExp][] = [
    ["unknown command", "FROB", CONF, ENV, 4, /Unknown CNI_COMMAND "FROB"/],
    ["no command", "", CONF, ENV, 4, /Unknown CNI_COMMAND/],
    [
      "missing variables",
      "ADD",
      CONF,
      { CNI_PATH: "/x" },
      4,
      /CNI_CONTAINERID, CNI_NETNS, CNI_IFNAME/,
    ],
    ["bad container id", "ADD", CONF, { ...ENV, CNI_CONTAINERID: "-x/y" }, 4, /CNI_CONTAINERID/],
    ["long ifname", "ADD", CONF, { ...ENV, CNI_IFNAME: "a234567890123456" }, 4, /CNI_IFNAME/],
    ["ifname with /", "ADD", CONF, { ...ENV, CNI_IFNAME: "a/b" }, 4, /CNI_IFNAME/],
    ["bad CNI_ARGS", "ADD", CONF, { ...ENV, CNI_ARGS: "novalue" }, 4, /CNI_ARGS/],
    ["not JSON", "ADD", "{", ENV, 6, /Decoding the configuration/],
    ["not an object", "ADD", "[1]", ENV, 6, /not a JSON object/],
    [
      "unknown version",
      "ADD",
      { ...CONF, cniVersion: "2.0.0" },
      ENV,
      1,
      /Incompatible CNI version/,
    ],
    ["no version", "ADD", { name: "t", type: "nslink" }, ENV, 1, /Incompatible CNI version/],
    [
      "CHECK before 0.4.0",
      "CHECK",
      { ...CONF, cniVersion: "0.3.1" },
      ENV,
      1,
      /CHECK needs cniVersion 0.4.0/,
    ],
  ];
  for (const [what, cmd, conf, env, code, re] of errors) {
    it(`answers ${what} with the spec's error JSON (code ${code}) and exit 1`, async () => {
      const r = await invoke(cmd, conf, env);
      assert.equal(r.status, 1);
      assert.equal(r.json.code, code);
      assert.match(r.json.msg, re);
      assert.equal(typeof r.json.cniVersion, "string");
      assert.equal(r.calls.length, 0);
    });
  }

  it("turns the plugin's errors into codes: own code, 11 to retry, else 999 (bugs too)", async () => {
    const busy = Object.assign(new Error("flock: EAGAIN"), { code: "EAGAIN" });
    const cases: [unknown, number][] = [
      [new CniError(3, "gone"), 3],
      [new CniError(7, 'Invalid subnet "x"'), 7],
      [new TypeError("Cannot read properties of undefined"), 999],
      [new RangeError("Invalid array length"), 999],
      [busy, 11],
      [Object.assign(new Error("lock held by 12"), { name: "LockTimeoutError" }), 11],
      [new Error('Endpoint "cni-x" of network "n" is being linked by pid 42'), 11],
      [new Error("RTM_NEWLINK veth: EPERM"), 999],
    ];
    for (const [err, code] of cases) {
      const r = await invoke("ADD", CONF, ENV, err);
      assert.equal(r.status, 1);
      assert.equal(r.json.code, code, String(err));
      assert.equal(r.json.cniVersion, "1.0.0");
      assert.equal(r.json.msg, (err as Error).message);
      assert.equal(toCniError(err).code, code);
    }
  });

  it("writes the result in the configuration's version (0.4.0: ips carry version)", async () => {
    const r = await invoke("ADD", { ...CONF, cniVersion: "0.4.0" });
    assert.equal(r.json.cniVersion, "0.4.0");
    assert.deepEqual(r.json.ips.map((ip: { version: string }) => ip.version), ["4", "6"]);
    const r11 = await invoke("ADD", { ...CONF, cniVersion: "1.1.0" });
    assert.equal(r11.json.interfaces[1].mtu, 1500);
    assert.equal("version" in r11.json.ips[0], false);
  });
});

describe("results", () => {
  it("convertResult() drops 0.x fields going to 1.0.0", () => {
    const old = convertResult(RESULT, "0.3.1");
    assert.equal(old.ips![0].version, "4");
    const back = convertResult(old, "1.0.0");
    assert.equal("version" in back.ips![0], false);
    assert.equal("mtu" in back.interfaces![1], false);
  });

  it("mergeResults() appends to prevResult, shifting interface indices", () => {
    const prev: CniResult = {
      cniVersion: "1.0.0",
      interfaces: [{ name: "macvlan0", sandbox: "/run/netns/c1" }],
      ips: [{ address: "203.0.113.5/24", interface: 0 }],
      routes: [{ dst: "203.0.113.0/24" }],
      dns: { nameservers: ["203.0.113.53"] },
    };
    const merged = mergeResults(prev, {
      ...RESULT,
      dns: { nameservers: ["198.51.100.53"], domain: "x" },
    });
    assert.deepEqual(merged.interfaces!.map((i) => i.name), ["macvlan0", "nsl-t", "eth0"]);
    assert.deepEqual(merged.ips!.map((i) => i.interface), [0, 2, 2]);
    assert.equal(merged.routes!.length, 2);
    assert.deepEqual(merged.dns, { nameservers: ["203.0.113.53", "198.51.100.53"], domain: "x" });
    assert.equal(mergeResults(undefined, RESULT), RESULT);
  });
});

describe("plugin configuration", () => {
  it("reads network, subnets, bridge, masquerade, mtu; network defaults to name", () => {
    assert.deepEqual(
      parseConf({
        ...CONF,
        network: "blue",
        subnet: "198.51.100.0/24",
        subnetIPv6: "2001:db8:1::/64",
        bridge: "br-blue",
        masquerade: false,
        mtu: 1400,
        capabilities: { portMappings: true },
      }),
      {
        network: "blue",
        driver: "bridge",
        networkOptions: {
          subnet: "198.51.100.0/24",
          subnetIPv6: "2001:db8:1::/64",
          bridgeName: "br-blue",
          masquerade: false,
          mtu: 1400,
        },
      },
    );
    assert.equal(parseConf(CONF).network, "tnet");
    assert.equal(parseConf(CONF, "/tmp/s").stateDir, "/tmp/s");
  });

  it("refuses wrong types with code 7 naming the field", () => {
    for (
      const [field, value] of [["subnet", 7], ["mtu", "1500"], ["masquerade", "yes"], [
        "network",
        "bad name",
      ]] as const
    ) {
      assert.throws(
        () => parseConf({ ...CONF, [field]: value }),
        (e) => e instanceof CniError && e.code === 7 && e.message.includes(`"${field}"`),
      );
    }
  });

  it("names endpoints from the container id and interface, stable and distinct", () => {
    const a = endpointName("3f4a5b6c7d8e9f00aabbccdd", "eth0");
    assert.match(a, /^cni-3f4a5b6c7d8e-[0-9a-f]{8}$/);
    assert.equal(endpointName("3f4a5b6c7d8e9f00aabbccdd", "eth0"), a);
    assert.notEqual(endpointName("3f4a5b6c7d8e9f00aabbccdd", "eth1"), a);
    assert.notEqual(endpointName("3f4a5b6c7d8e9f00aabbccde", "eth0"), a);
  });
});
