// The agent's view of a state directory (agent/names.ts): names current after each file
// operation, from inotify, with no waiting; and the agent's command line (no root needed).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  linkSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { StateNames } from "../../agent/names.ts";
import { agentCommandLine } from "../../agent/client.ts";
import { resolve } from "../../dns/resolver.ts";
import { encodeMessage } from "../../dns/message.ts";

const ID = "0a1b2c3d4e5f";

function network(dir: string, name: string, config: Record<string, unknown>, id = ID) {
  mkdirSync(join(dir, "networks"), { recursive: true });
  const tmp = join(dir, "networks", `${name}.json.tmp-1-a`);
  writeFileSync(
    tmp,
    JSON.stringify({
      version: 1,
      name,
      type: "bridge",
      id,
      created: "",
      config: { bridgeName: "nsl-x", ...config },
      pools: {
        v4: { subnet: "198.51.100.0/24", gateway: "198.51.100.1", allocated: {} },
        v6: { subnet: "2001:db8:1::/64", gateway: "2001:db8:1::1", allocated: {} },
      },
      endpoints: {},
    }),
  );
  renameSync(tmp, join(dir, "networks", `${name}.json`));
}

function endpoint(dir: string, name: string, n: number, extra: Record<string, unknown> = {}) {
  mkdirSync(join(dir, `ep.${ID}`), { recursive: true });
  const file = join(dir, `ep.${ID}`, `${name}.json`);
  const tmp = `${file}.tmp-1-b`;
  writeFileSync(
    tmp,
    JSON.stringify({
      interfaces: [{
        srcName: "",
        dstName: "eth0",
        macAddress: "",
        address: `198.51.100.${n}/24`,
        addressIPv6: `2001:db8:1::${n}/64`,
        gateway: "198.51.100.1",
        gatewayIPv6: "2001:db8:1::1",
        mtu: 1500,
      }],
      hostLinks: [],
      ...extra,
    }),
  );
  renameSync(tmp, file);
}

/** The A answers for a name, asked from 198.51.100.200. */
function ask(names: StateNames, name: string): string {
  names.refresh();
  const q = encodeMessage({ id: 1, rd: true, questions: [{ name, type: "A" }] });
  const r = resolve(names.table, q, { source: "198.51.100.200", transport: "udp" });
  if (r.action !== "answer") return r.action;
  const bytes = r.response;
  const rcode = bytes[3] & 0x0f;
  const count = (bytes[6] << 8) | bytes[7];
  return rcode === 3 ? "NXDOMAIN" : `${count} answer(s)`;
}

describe("StateNames (the agent's names of a state directory)", () => {
  it("a name answers right after its record is renamed into place, and goes with it", () => {
    const dir = mkdtempSync(join(tmpdir(), "nsl-names-"));
    const names = new StateNames(dir);
    try {
      assert.equal(names.networks.length, 0);
      network(dir, "blue", { dns: true, dnsServers: ["203.0.113.53"] });
      assert.equal(ask(names, "web.dns.nslink"), "NXDOMAIN");
      assert.deepEqual(names.networks.map((n) => n.gateways), [["198.51.100.1", "2001:db8:1::1"]]);
      assert.deepEqual(names.networks[0].upstreams, ["203.0.113.53"]);
      endpoint(dir, "web", 2, { aliases: ["www"] });
      assert.equal(ask(names, "web.dns.nslink"), "1 answer(s)");
      assert.equal(ask(names, "WWW.dns.nslink"), "1 answer(s)");
      // An intent (creating) is not a name yet; a released endpoint is no name any more.
      endpoint(dir, "half", 3, { state: "creating" });
      assert.equal(ask(names, "half.dns.nslink"), "NXDOMAIN");
      mkdirSync(join(dir, `rel.${ID}`));
      assert.equal(ask(names, "web.dns.nslink"), "1 answer(s)");
      symlinkSync("releasing-1", join(dir, `rel.${ID}`, "web"));
      assert.equal(ask(names, "web.dns.nslink"), "NXDOMAIN");
      unlinkSync(join(dir, `rel.${ID}`, "web"));
      assert.equal(ask(names, "www.dns.nslink"), "1 answer(s)");
      unlinkSync(join(dir, `ep.${ID}`, "web.json"));
      assert.equal(ask(names, "www.dns.nslink"), "NXDOMAIN");
      // Created exclusively with link(2), as FileStore.createEndpoint does.
      writeFileSync(join(dir, "x.tmp"), JSON.stringify({ interfaces: [], hostLinks: [] }));
      linkSync(join(dir, "x.tmp"), join(dir, `ep.${ID}`, "empty.json"));
      assert.equal(ask(names, "empty.dns.nslink"), "1 answer(s)".replace("1", "0"));
      rmSync(join(dir, "networks", "blue.json"));
      names.refresh();
      assert.deepEqual(names.networks, []);
    } finally {
      names.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("networks with dns off, or saved before DNS existed, are not served", () => {
    const dir = mkdtempSync(join(tmpdir(), "nsl-names-"));
    const names = new StateNames(dir);
    try {
      network(dir, "off", { dns: false });
      network(dir, "old", {}, "0a0a0a0a0a0a");
      names.refresh();
      assert.deepEqual(names.networks, []);
    } finally {
      names.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("picks up a state directory made after it started watching", () => {
    const parent = mkdtempSync(join(tmpdir(), "nsl-names-"));
    const dir = join(parent, "state");
    mkdirSync(dir);
    const names = new StateNames(dir);
    try {
      network(dir, "blue", { dns: true });
      endpoint(dir, "web", 2);
      assert.equal(ask(names, "web.dns.nslink"), "1 answer(s)");
    } finally {
      names.close();
      rmSync(parent, { recursive: true, force: true });
    }
  });
});

describe("agentCommandLine", () => {
  it("NSLINK_AGENT_CMD overrides the command; agent --on-demand follows", () => {
    const old = process.env.NSLINK_AGENT_CMD;
    process.env.NSLINK_AGENT_CMD = "/opt/nslink/bin/nslink  --flag";
    try {
      assert.deepEqual(agentCommandLine(), [
        "/opt/nslink/bin/nslink",
        "--flag",
        "agent",
        "--on-demand",
      ]);
    } finally {
      if (old === undefined) delete process.env.NSLINK_AGENT_CMD;
      else process.env.NSLINK_AGENT_CMD = old;
    }
  });

  it("runs cli/main.ts with the running runtime", () => {
    const argv = agentCommandLine();
    assert.equal(argv[0], process.execPath);
    assert.match(argv.join(" "), /cli\/main\.ts agent --on-demand$/);
  });
});
