/**
 * Without FFI permission, the first call into libc fails with one clear error that says what to
 * do (`FfiUnavailableError`), not with Deno's own `NotCapable`. Deno only: Bun has no FFI
 * permission to withhold.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import process from "node:process";

const isDeno = !("Bun" in globalThis) && "Deno" in globalThis;
const script = new URL("./_ffi_probe.ts", import.meta.url).pathname;

// Registered under Deno only (not skipped under Bun): a skip would read as something Bun missed.
describe("FFI unavailable", () => {
  if (!isDeno) return;
  it("names --allow-ffi when Deno runs without it", () => {
    const r = spawnSync(process.execPath, ["run", "--no-prompt", "--allow-read", script], {
      encoding: "utf8",
      env: { ...process.env, NO_COLOR: "1" },
    });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout.trim());
    assert.equal(out.name, "FfiUnavailableError");
    assert.match(out.message, /nslink needs FFI access: run Deno with --allow-ffi/);
    assert.match(out.cause, /NotCapable|ffi/i);
  });

  it("works when Deno has --allow-ffi", () => {
    const r = spawnSync(process.execPath, [
      "run",
      "--no-prompt",
      "--allow-read",
      "--allow-ffi",
      script,
    ], {
      encoding: "utf8",
      env: { ...process.env, NO_COLOR: "1" },
    });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout.trim()), { pid: true });
  });
});
