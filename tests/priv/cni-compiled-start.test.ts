/**
 * Tests of how the compiled `dist/nslink` starts (`scripts/build.sh`), registered only with
 * `NSLINK_BIN` (scripts/test-all.sh's compiled suite): a container runtime execs the CNI plugin in
 * a directory of its own choosing, so nothing there may change what the plugin does. Bun's
 * executables read a `.env` and a `bunfig.toml` from the directory they start in unless built
 * without it (`--no-compile-autoload-dotenv`, `--no-compile-autoload-bunfig`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";

describe("the compiled executable's start", () => {
  // Registered only with NSLINK_BIN: the other suites have no compiled file to test.
  if (process.env.NSLINK_BIN) {
    const bin = process.env.NSLINK_BIN;
    it("reads no .env or bunfig.toml from the directory it starts in", () => {
      const dir = mkdtempSync(join(tmpdir(), "nsl-start-"));
      try {
        const env: Record<string, string> = {};
        for (const [k, v] of Object.entries(process.env)) {
          if (v !== undefined && !k.startsWith("CNI_")) env[k] = v;
        }
        const version = () => {
          const r = spawnSync(bin, ["version"], { cwd: dir, env, input: "", encoding: "utf8" });
          assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
          assert.match(r.stdout, /^nslink \d/);
          assert.equal(r.stderr, "");
        };
        // Were it read, the command line would answer as a CNI plugin (VERSION).
        writeFileSync(join(dir, ".env"), "CNI_COMMAND=VERSION\nNSLINK_AGENT=off\n");
        version();
        writeFileSync(join(dir, "bunfig.toml"), 'preload = ["./nonexistent-preload.ts"]\n');
        version();
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  }
});
