// The resolv.conf nslink keeps for a namespace in /run/netns (/etc/netns/NAME/resolv.conf),
// written after link() on a DNS network and removed with the namespace, through raw system
// calls: made with its directory, merged across networks (at most 3 servers), another's file left
// alone on write and on removal. No host agent starts: under Bun every test file shares one
// process, where another file registered the agent client, so the agent is turned off here.
// Runs inside scripts/in-netns.sh, where /etc/netns is a tmpfs.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { agentAfterLink, removeNetnsResolvConf } from "../../network/dns_hooks.ts";
import type { NetworkRecord } from "../../model/records.ts";
import { agentOffForTests } from "./_agent_helpers.ts";

const SUFFIX = `${process.pid.toString(36)}${Date.now().toString(36).slice(-4)}`;
const P = `nslrc${SUFFIX}`;
const made: string[] = [];
let agentBack = () => {};
before(() => {
  agentBack = agentOffForTests();
});
after(() => {
  agentBack();
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

function net(gw4: string, gw6?: string, dns = true): NetworkRecord {
  return {
    pools: {
      v4: { gateway: gw4 },
      ...(gw6 ? { v6: { gateway: gw6 } } : {}),
    },
    config: { dns },
  } as unknown as NetworkRecord;
}

describe("namespace resolv.conf", { skip: !existsSync("/etc/netns") }, () => {
  it("is made with its directory, merged across networks, and removed with it", async () => {
    const ns = `/run/netns/${P}a`;
    const dir = `/etc/netns/${P}a`;
    made.push(dir);
    await agentAfterLink("/nonexistent-state", net("198.51.100.1", "2001:db8:1::1"), ns);
    const text = readFileSync(`${dir}/resolv.conf`, "utf8");
    assert.ok(text.startsWith("# nslink:"), text);
    assert.match(text, /^nameserver 198\.51\.100\.1$/m);
    assert.match(text, /^nameserver 2001:db8:1::1$/m);
    assert.match(text, /^search dns\.nslink$/m);
    // A second network adds its gateway; a third server is the last one kept.
    await agentAfterLink("/nonexistent-state", net("203.0.113.1", "2001:db8:2::1"), ns);
    const servers = [...readFileSync(`${dir}/resolv.conf`, "utf8").matchAll(/^nameserver (\S+)$/gm)]
      .map((m) => m[1]);
    assert.deepEqual(servers, ["198.51.100.1", "2001:db8:1::1", "203.0.113.1"]);
    // No temporary file is left beside it.
    assert.deepEqual(readdirSync(dir), ["resolv.conf"]);
    removeNetnsResolvConf(ns);
    assert.equal(existsSync(dir), false, "file and directory gone");
    // Removing again, or for a namespace that never had one, is quiet.
    removeNetnsResolvConf(ns);
    removeNetnsResolvConf(`/run/netns/${P}never`);
  });

  it("leaves another's file alone, and writes nothing for a network without DNS", async () => {
    const ns = `/run/netns/${P}b`;
    const dir = `/etc/netns/${P}b`;
    made.push(dir);
    mkdirSync(dir, { recursive: true });
    writeFileSync(`${dir}/resolv.conf`, "nameserver 203.0.113.53\n");
    await agentAfterLink("/nonexistent-state", net("198.51.100.1"), ns);
    assert.equal(readFileSync(`${dir}/resolv.conf`, "utf8"), "nameserver 203.0.113.53\n");
    removeNetnsResolvConf(ns);
    assert.equal(readFileSync(`${dir}/resolv.conf`, "utf8"), "nameserver 203.0.113.53\n");

    const off = `/run/netns/${P}c`;
    made.push(`/etc/netns/${P}c`);
    await agentAfterLink("/nonexistent-state", net("198.51.100.1", undefined, false), off);
    assert.equal(existsSync(`/etc/netns/${P}c`), false);
    // A namespace outside /run/netns gets none.
    await agentAfterLink("/nonexistent-state", net("198.51.100.1"), `/tmp/${P}d`);
    assert.equal(existsSync(`/etc/netns/${P}d`), false);
  });
});
