/**
 * The README's `sh` blocks and every `ts` snippet of README.md and docs/ (but those marked
 * `<!-- not-run: … -->`, which tests/unit/doc-blocks.test.ts lists), run as a user would run them:
 * the `sh` blocks in order as one bash script with `nslink` being the executable under test (as in
 * docs.test.ts), each `ts` snippet as a module of its own on the runtime running the tests, its
 * imports (`"nslink"`, `"jsr:@nslink/nslink"`, `"./mod.ts"`) pointed at the checkout's mod.ts. Each
 * gets a state directory of its own; the test checks that nothing is left behind.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { ip, ipLink, ipNetnsNames, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import { removeStateDirs, tempStateDir, vethNames, waitFor } from "./_network_helpers.ts";
import { nslinkArgv, runProcess, RUNTIME } from "./_cli_helpers.ts";
import { blocksOf, docBlocks, runBy, snippetModule } from "../unit/_doc_blocks.ts";

const TMP = mkdtempSync(`${tmpdir()}/nslink-snippets-`);
after(() => {
  removeStateDirs();
  rmSync(TMP, { recursive: true, force: true });
});

const SH = blocksOf("README.md").filter((b) => b.lang === "sh" && !b.notRun);
const TS = docBlocks().filter((b) =>
  b.lang === "ts" && runBy(b) === "tests/priv/doc-snippets.test.ts"
);
/** What the snippets make, for the cleanup when one fails midway. */
const LINKS = ["nsl-blue", "nsl-web", "nsl0a", "nsl0b"];
const NAMESPACES = ["c1", "c2", "c3", "web1"];

async function cleanupAll(): Promise<void> {
  await withCleanup(async (c) => {
    for (const l of LINKS) c.link(l);
    for (const n of NAMESPACES) {
      c.defer(`netns ${n}`, async () => {
        if ((await ipNetnsNames()).includes(n)) await ip(["netns", "del", n]);
      });
    }
    await Promise.resolve();
  });
}

async function assertNothingLeft(veths: string[], what: string): Promise<void> {
  // A deleted namespace's veth pairs are removed by the kernel after the snippet returns.
  const gone = async () => {
    for (const l of LINKS) if (await ipLink(l)) return false;
    return (await vethNames()).every((v) => veths.includes(v));
  };
  await waitFor(gone, 5000);
  for (const l of LINKS) assert.equal(await ipLink(l), undefined, `${what} left link ${l}`);
  for (const n of NAMESPACES) {
    assert.ok(!(await ipNetnsNames()).includes(n), `${what} left namespace ${n}`);
  }
  assert.deepEqual((await vethNames()).filter((v) => !veths.includes(v)), [], what);
}

describe("README and docs/ snippets", { skip: SKIP_ROOT }, () => {
  it("README's sh blocks run in order and leave nothing behind", async () => {
    assert.ok(SH.length >= 3);
    const veths = await vethNames();
    try {
      const argv = nslinkArgv().map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
      const script = `set -euo pipefail\nnslink() { ${argv} "$@"; }\n` +
        SH.map((b) => `echo "--- README.md:${b.line}"\n${b.code}`).join("\n");
      const r = await runProcess(["bash", "-c", script], {
        env: { NSLINK_STATE_DIR: tempStateDir() },
      });
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /80\/tcp -> 0\.0\.0\.0:8080/);
      await assertNothingLeft(veths, "README's sh blocks");
    } finally {
      await cleanupAll();
    }
  });

  for (const b of TS) {
    it(`${b.file}:${b.line} runs on ${RUNTIME}`, async () => {
      const veths = await vethNames();
      const file = `${TMP}/${b.file.replaceAll("/", "-")}-${b.line}.ts`;
      writeFileSync(file, snippetModule(b.code));
      try {
        const argv = RUNTIME === "deno"
          ? [process.execPath, "run", "-A", file]
          : [process.execPath, file];
        const r = await runProcess(argv, { env: { NSLINK_STATE_DIR: tempStateDir() } });
        assert.equal(r.code, 0, `${b.file}:${b.line}\n${r.stdout}\n${r.stderr}`);
        await assertNothingLeft(veths, `${b.file}:${b.line}`);
      } finally {
        await cleanupAll();
      }
    });
  }
});
