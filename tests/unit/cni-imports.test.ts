/**
 * Unit test (no root) of what a CNI exec loads. A runtime execs the plugin twice per container.
 * `scripts/build.sh` bundles with `scripts/build.ts` (`bun build --splitting`): a chunk loads when
 * an `import` reaches it, and every Node built-in a chunk imports statically is instantiated as
 * the executable starts, so the build turns those imports into `process.getBuiltinModule` calls
 * made at first use. This builds the same chunks (not compiled) and follows the imports from
 * the CNI branch of `cli/main.ts`: the command line's chunk must not be among them, nor the
 * built-ins a CNI ADD or DEL does not need on every call, and no chunk imports a built-in.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = normalize(join(dirname(fileURLToPath(import.meta.url)), "..", ".."));

/** Built-ins a CNI exec does not need at import: each costs milliseconds to load. */
const HEAVY = ["zlib", "net", "child_process", "url", "crypto", "dgram", "util", "timers"];

/** The chunks of `bun scripts/build.ts --outdir` (as `scripts/build.sh`), by file name. */
function buildChunks(): Map<string, string> {
  const out = mkdtempSync(join(tmpdir(), "nslink-split-"));
  try {
    const r = spawnSync(
      join(ROOT, "node_modules/.bin/bun"),
      ["scripts/build.ts", "--outdir", out],
      { cwd: ROOT, encoding: "utf8" },
    );
    assert.equal(r.status, 0, `bun scripts/build.ts: ${r.stdout}${r.stderr}`);
    const chunks = new Map<string, string>();
    for (const name of r.stdout.split("\n")) {
      if (name.endsWith(".js")) chunks.set(name, readFileSync(join(out, name), "utf8"));
    }
    assert.ok(chunks.has("main.js"), `the build wrote no main.js: ${r.stdout}`);
    return chunks;
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}

/** A chunk's static imports (`import … from "x"`, `import "x"`): chunks and built-ins. */
function staticImports(text: string): string[] {
  return [...text.matchAll(/^(?:import|export)\s[^;]*?\bfrom\s*"([^"]+)"|^import\s*"([^"]+)"/gm)]
    .map((m) => m[1] ?? m[2]);
}

/** What the CNI branch of main.js loads: every chunk and built-in it reaches. */
function cniLoads(chunks: Map<string, string>): { chunks: Set<string>; builtins: Set<string> } {
  const main = chunks.get("main.js")!;
  // From the CNI test to the command line's branch (the first mention of runCli).
  const branch = main.slice(main.indexOf("CNI_COMMAND"), main.indexOf("runCli"));
  const seen = new Set<string>();
  const builtins = new Set<string>(staticImports(main).filter((s) => !s.startsWith(".")));
  const queue = [...branch.matchAll(/import\("([^"]+)"\)/g)].map((m) => m[1]);
  while (queue.length > 0) {
    const spec = queue.pop()!;
    if (!spec.startsWith("./")) {
      builtins.add(spec.replace(/^node:/, ""));
      continue;
    }
    const name = spec.slice(2);
    if (seen.has(name)) continue;
    seen.add(name);
    const text = chunks.get(name);
    assert.ok(text !== undefined, `chunk ${name} not built`);
    queue.push(...staticImports(text));
    // The plugin is imported by skel when a command needs it: every CNI command but VERSION.
    queue.push(...[...text.matchAll(/import\("(\.\/[^"]+)"\)/g)].map((m) => m[1]));
  }
  return { chunks: seen, builtins };
}

describe("what a CNI exec of nslink loads (bun --splitting, as scripts/build.sh)", () => {
  const chunks = buildChunks();
  const loads = cniLoads(chunks);

  it("reaches the plugin and never the command line", () => {
    const names = [...loads.chunks];
    assert.ok(names.some((n) => n.startsWith("plugin-")), `no plugin chunk in ${names}`);
    // Unminified chunks name each module they hold in a comment ("// cli/app.ts").
    const cli = ["main.js", ...names].flatMap((n) =>
      [...chunks.get(n)!.matchAll(/^\/\/ (cli\/\S+\.ts)$/gm)].map((m) => m[1])
    );
    assert.deepEqual(cli.filter((m) => m !== "cli/main.ts" && m !== "cli/io.ts"), []);
  });

  it("loads no heavy built-in at import", () => {
    assert.deepEqual(HEAVY.filter((b) => loads.builtins.has(b)), []);
  });

  it("no chunk imports a Node built-in: each is taken at first use", () => {
    const found = [...chunks].flatMap(([name, text]) =>
      staticImports(text).filter((s) => !s.startsWith(".")).map((s) => `${name}: ${s}`)
    );
    assert.deepEqual(found, []);
    // The built-ins the plugin uses are still there, taken on first use.
    assert.ok([...chunks.values()].some((t) => t.includes('getBuiltinModule("node:fs")')));
  });

  it("hands off from the entry chunk itself, which imports nothing", () => {
    const main = chunks.get("main.js")!;
    // No module to load before the hand-off: not the hand-off's (no dynamic import), not a
    // Node built-in (stdin, stdout and `process` come from the runtime's own globals).
    assert.deepEqual(staticImports(main), []);
    assert.deepEqual([...main.matchAll(/^\/\/ (\S+\.ts)$/gm)].map((m) => m[1]).sort(), [
      "cli/main.ts",
      "cni/handoff.ts",
    ]);
    // The plugin's chunks are imported only after the agent did not answer.
    const entry = main.slice(main.indexOf("// cli/main.ts"));
    assert.ok(entry.indexOf("handOff(") >= 0, "no handOff call in cli/main.ts");
    assert.ok(entry.indexOf("handOff(") < entry.indexOf("import("));
  });

  it("only the commands that run until stopped restore the normal JIT policy", () => {
    const main = chunks.get("main.js")!;
    const entry = main.slice(main.indexOf("// cli/main.ts"));
    // The compiled file starts with the JIT held back (scripts/build.ts): a CNI exec, handed off
    // or not, and a one-shot command keep it; the agent and `events` set it back.
    const parts = entry.split("normalJit();");
    assert.equal(parts.length, 2, "one normalJit() call, on the command line's path");
    assert.ok(parts[0].includes('import("./skel-'), "the plugin in-process keeps the policy");
    assert.ok(parts[1].includes('import("./app-'));
    assert.match(entry, /LONG_RUNNING = \["agent", "events"\]/);
  });
});
