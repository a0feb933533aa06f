/**
 * Every command and snippet of README.md and docs/ is run by a test, or carries a
 * `<!-- not-run: REASON -->` marker: this test finds the blocks nothing runs, and lists the marked
 * ones (count, file, line, reason), so that none rots silently. It also parses README's conflist
 * with the plugin's own parser and keeps the README short.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parseConf } from "../../cni/config.ts";
import { blocksOf, docBlocks, ROOT, runBy, snippetModule } from "./_doc_blocks.ts";

describe("documentation blocks", () => {
  it("every block is run by a test, is output, or says why it is not run", () => {
    const blocks = docBlocks();
    assert.ok(blocks.length > 30, `${blocks.length} blocks`);
    const unrun = blocks.filter((b) => !runBy(b)).map((b) => `${b.file}:${b.line} (${b.lang})`);
    assert.deepEqual(unrun, [], "blocks no test runs: run them, or mark them <!-- not-run: … -->");
    const marked = blocks.filter((b) => b.notRun);
    console.log(`${marked.length} of ${blocks.length} documentation blocks are not run:`);
    for (const b of marked) console.log(`  ${b.file}:${b.line} (${b.lang}): ${b.notRun}`);
    const run = blocks.filter((b) => b.lang === "sh" || b.lang === "ts").filter((b) => !b.notRun);
    assert.ok(run.length >= 10, `${run.length} sh/ts blocks run`);
  });

  it("a marker is on its own line right before a block, with a reason", () => {
    for (const file of ["README.md", ...docBlocks().map((b) => b.file)]) {
      // Markers outside code blocks (docs/testing.md shows one inside a block).
      const text = readFileSync(`${ROOT}${file}`, "utf8").replace(/^\s*```[\s\S]*?^\s*```/gm, "");
      const markers = text.match(/<!-- not-run:.*-->/g) ?? [];
      const used = blocksOf(file).filter((b) => b.notRun).length;
      assert.equal(markers.length, used, `${file}: a not-run marker that precedes no block`);
      for (const m of markers) assert.match(m, /^<!-- not-run: \S.{10,} -->$/, `${file}: ${m}`);
    }
  });

  it("README's conflist is what the plugin accepts", () => {
    const lists = blocksOf("README.md").filter((b) => b.lang === "json").map((b) =>
      JSON.parse(b.code)
    );
    assert.equal(lists.length, 1);
    for (const list of lists) {
      const entry = (list.plugins as Record<string, unknown>[]).find((p) => p.type === "nslink");
      assert.ok(entry);
      const conf = parseConf({ cniVersion: list.cniVersion, name: list.name, ...entry } as never);
      assert.equal(conf.network, "blue");
      assert.equal(conf.networkOptions.subnet, "198.51.100.0/24");
    }
  });

  it("snippets import the checkout's mod.ts", () => {
    const ts = docBlocks().filter((b) => b.lang === "ts" && runBy(b)?.startsWith("tests/"));
    assert.ok(ts.length >= 4);
    for (const b of ts) {
      const mod = snippetModule(b.code);
      assert.doesNotMatch(mod, /from "(nslink|\.\/mod\.ts)"/, `${b.file}:${b.line}`);
    }
  });

  it("README is user first: at most 250 lines, install before internals", () => {
    const readme = readFileSync(`${ROOT}README.md`, "utf8");
    assert.ok(readme.split("\n").length <= 250, `${readme.split("\n").length} lines`);
    const at = (h: string) => readme.indexOf(`\n## ${h}`);
    const order = [
      "Install",
      "Requirements",
      "The command line",
      "The library",
      "The CNI plugin",
      "Where state lives",
      "Troubleshooting",
      "Links",
    ].map(at);
    assert.ok(order.every((o) => o > 0), JSON.stringify(order));
    assert.deepEqual([...order].sort((a, b) => a - b), order);
  });
});
