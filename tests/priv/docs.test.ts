/**
 * Runs every `sh` block of docs/cli.md (but those marked `<!-- not-run: … -->`), in order, as one
 * bash script with `nslink` being the executable under test (the runtime running the tests, or
 * `dist/nslink` with `NSLINK_BIN`), in a state directory of its own, so that the command-line
 * documentation cannot rot. The blocks end by removing what they made; the test checks that nothing
 * is left.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { ip, ipLink, ipNetnsNames, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import { removeStateDirs, tempStateDir, vethNames } from "./_network_helpers.ts";
import { nslinkArgv, runProcess } from "./_cli_helpers.ts";
import { blocksOf } from "../unit/_doc_blocks.ts";

after(() => removeStateDirs());

const BLOCKS = blocksOf("docs/cli.md").filter((b) => b.lang === "sh" && !b.notRun).map((b) =>
  b.code
);
/** What the blocks make, for the cleanup when they fail midway. */
const NETWORKS = ["blue", "red", "v6only"];
const NAMESPACES = ["c1"];

describe("docs/cli.md", { skip: SKIP_ROOT }, () => {
  it("every sh block runs and leaves nothing behind", async () => {
    assert.ok(BLOCKS.length >= 4);
    const state = tempStateDir();
    const veths = await vethNames();
    await withCleanup(async (c) => {
      for (const n of NETWORKS) c.link(`nsl-${n}`);
      for (const n of NAMESPACES) {
        c.defer(`netns ${n}`, async () => {
          if ((await ipNetnsNames()).includes(n)) await ip(["netns", "del", n]);
        });
      }
      const argv = nslinkArgv().map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
      const script = `set -euo pipefail\nnslink() { ${argv} "$@"; }\n` +
        BLOCKS.map((b, i) => `echo "--- block ${i + 1}"\n${b}`).join("\n");
      const r = await runProcess(["bash", "-c", script], {
        env: { NSLINK_STATE_DIR: state },
      });
      assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
      assert.match(r.stdout, /80\/tcp -> 0\.0\.0\.0:8080/);
      assert.match(r.stdout, /^NETWORK ID\s+NAME\s+DRIVER$/m);
      assert.match(r.stdout, /"Subnet":"2001:db8:100::\/64"/);
      assert.match(r.stdout, /complete -F _nslink nslink/);
      for (const n of NETWORKS) assert.equal(await ipLink(`nsl-${n}`), undefined, n);
      for (const n of NAMESPACES) assert.ok(!(await ipNetnsNames()).includes(n), n);
      assert.deepEqual((await vethNames()).filter((v) => !veths.includes(v)), []);
    });
  });
});
