/**
 * Unit tests (no root) of the CNI exec's standard input and output (`readStdin`, `writeAll` in
 * `cni/handoff.ts`: the runtime's own primitives, not `node:fs`), in a child process of the
 * runtime running the tests: all of a large input is read, and all of a large output reaches a
 * pipe even when the process exits right after, as the exec does.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";

const HANDOFF = new URL("../../cni/handoff.ts", import.meta.url).pathname;
const BUN = "Bun" in globalThis;

/** Runs `code` (a module) in a child of this runtime with `input` on stdin. */
function child(code: string, input: string): { status: number | null; out: string; err: string } {
  const dir = mkdtempSync(join(tmpdir(), "nsl-io-"));
  try {
    const file = join(dir, "child.ts");
    writeFileSync(file, code);
    const argv = BUN ? [file] : ["run", "-A", file];
    const r = spawnSync(process.execPath, argv, {
      input,
      encoding: "utf8",
      maxBuffer: 64 << 20,
    });
    return { status: r.status, out: r.stdout, err: r.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe("the CNI exec's stdin and stdout", () => {
  it("reads all of stdin and writes all of a large answer before process.exit", () => {
    // More than a pipe holds (64 KiB), and multi-byte characters across read boundaries.
    const input = "é€x".repeat(200_000);
    const r = child(
      `import { readStdin, writeAll } from ${JSON.stringify(HANDOFF)};\n` +
        `const text = await readStdin();\n` +
        `await writeAll(1, text + text);\n` +
        `await writeAll(2, "done " + text.length);\n` +
        `process.exit(3);\n`,
      input,
    );
    assert.equal(r.status, 3, r.err.slice(0, 500));
    assert.equal(r.out.length, input.length * 2);
    assert.equal(r.out, input + input);
    assert.equal(r.err, `done ${input.length}`);
  });

  it("reads an empty stdin as an empty string and writes nothing for empty text", () => {
    const r = child(
      `import { readStdin, writeAll } from ${JSON.stringify(HANDOFF)};\n` +
        `const text = await readStdin();\n` +
        `await writeAll(1, "");\n` +
        `await writeAll(2, JSON.stringify(text));\n`,
      "",
    );
    assert.equal(r.status, 0, r.err);
    assert.equal(r.out, "");
    assert.equal(r.err, '""');
  });
});
