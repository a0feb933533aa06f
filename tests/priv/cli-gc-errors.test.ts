/**
 * `nslink gc` when `gc()` reports errors (a record it cannot read): the errors go to stderr, one
 * line each, and the exit status is 1, with and without `--dry-run`, as a table or as JSON —
 * a script or a timer unit must see that gc did not finish its work (as `docker system prune`
 * fails). Also against `dist/nslink` when `NSLINK_BIN` names it.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 *
 * @module
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { newNetwork } from "../../mod.ts";
import { SKIP_ROOT, withCleanup } from "./_helpers.ts";
import { setUpNetworkTestFile, tempStateDir } from "./_network_helpers.ts";
import { nslink } from "./_cli_helpers.ts";

const FILE = setUpNetworkTestFile();
const P = FILE.prefix;

describe("nslink gc with errors", { skip: SKIP_ROOT }, () => {
  it("exits 1 and prints gc's errors on stderr, with and without --dry-run", async () => {
    await withCleanup(async (c) => {
      const stateDir = tempStateDir();
      c.link(`${P}gb`);
      // No names (dns: false): no host agent, nothing but gc touches the state.
      const net = await newNetwork("bridge", `${P}g`, {
        stateDir,
        bridgeName: `${P}gb`,
        subnet: "198.51.100.0/25",
        dns: false,
      });
      c.defer("net.delete()", () => net.delete());
      await net.link("c1");
      // An endpoint record gc cannot read.
      const epDir = readdirSync(stateDir).find((f) => f.startsWith("ep."));
      assert.ok(epDir, `no endpoint directory in ${readdirSync(stateDir).join(" ")}`);
      const bad = join(stateDir, epDir, "bad.json");
      writeFileSync(bad, "{ not json");
      c.defer("remove bad.json", () => rmSync(bad, { force: true }));

      for (const args of [["gc", "--dry-run"], ["gc"]]) {
        const r = await nslink(stateDir, ...args);
        assert.equal(r.code, 1, `nslink ${args.join(" ")}: ${JSON.stringify(r)}`);
        const lines = r.stderr.trimEnd().split("\n");
        assert.ok(lines.length >= 1 && lines.every((l) => l.startsWith("nslink gc: ")), r.stderr);
        assert.match(r.stderr, /bad/);
        const j = await nslink(stateDir, ...args, "--format", "json");
        assert.equal(j.code, 1, `nslink ${args.join(" ")} --format json: ${JSON.stringify(j)}`);
        const report = JSON.parse(j.stdout) as { errors: string[] };
        assert.ok(report.errors.length >= 1, j.stdout);
        assert.match(j.stderr, /^nslink gc: .*bad/m);
      }
      // The record fixed: gc succeeds again, exit 0.
      rmSync(bad, { force: true });
      const ok = await nslink(stateDir, "gc");
      assert.equal(ok.code, 0, JSON.stringify(ok));
      assert.equal(ok.stderr, "");
      await net.unlink("c1");
    });
  });
});
