/**
 * Bundles `cli/main.ts` for `scripts/build.sh`: with `--outfile FILE`, the compiled executable
 * (`bun build --compile --minify --bytecode --splitting --format=esm`, reading no `.env` or
 * `bunfig.toml` where it starts); with `--outdir DIR`, the same chunks as plain files, not
 * minified (tests/unit/cni-imports.test.ts reads them). Run by Bun:
 * `bun scripts/build.ts --outfile dist/nslink`.
 *
 * Node built-ins load when first used, not when the executable starts. A Bun executable
 * instantiates, as it starts, every built-in that any of its chunks imports statically, loaded or
 * not: `node:fs`, `node:net` and the others the command line and the plugin import cost a CNI
 * exec handed to the agent, which loads neither, about 2 ms of its ~7. So each
 * `import { a, b } from "node:x"` (and `import x from "node:x"`) of the checkout's modules is
 * bundled as a small module that takes the same names from `process.getBuiltinModule("node:x")`
 * on first use: a function at its first call, the default export (an object) at its first
 * property read, anything else when the importing chunk runs. A command that loads a chunk but
 * never calls into `node:net` (`nslink version`) does not load it. Type imports and
 * `import * as` are left as they are.
 *
 * @module
 */
import type { BunPlugin } from "bun";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";

const ROOT = join(dirname(new URL(import.meta.url).pathname), "..");
/** The specifier prefix of a built-in loaded on first use. */
const LAZY = "nslink-lazy-builtin:";

/**
 * Rewrites a module's static imports of Node built-ins to the lazy modules (see the module doc).
 *
 * @param text The module's source.
 * @returns The source with those imports rewritten.
 */
export function lazyImports(text: string): string {
  return text.replace(
    /\bimport\s+([^;"'`]*?)\s+from\s*"node:([a-z_/]+)"/g,
    (whole, clause: string, name: string) => {
      const c = clause.trim();
      if (c.startsWith("type ") || c.includes("*")) return whole;
      const brace = c.indexOf("{");
      const hasDefault = brace !== 0;
      const names = brace < 0 ? [] : c.slice(brace + 1, c.lastIndexOf("}")).split(",")
        .map((s) => s.trim()).filter((s) => s !== "" && !s.startsWith("type "))
        .map((s) => s.split(/\s+as\s+/)[0]);
      const query = `${names.join(",")}${hasDefault ? "|default" : ""}`;
      return `import ${clause} from "${LAZY}node:${name}?${query}"`;
    },
  );
}

/** The plugin that loads the checkout's Node built-ins on first use. */
const lazyBuiltins: BunPlugin = {
  name: "nslink-lazy-builtins",
  setup(build) {
    const own = new RegExp(
      `^${ROOT.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}/(?!node_modules/).*\\.ts$`,
    );
    build.onLoad({ filter: own }, (args) => ({
      contents: lazyImports(readFileSync(args.path, "utf8")),
      loader: "ts",
    }));
    build.onResolve({ filter: new RegExp(`^${LAZY}`) }, (args) => ({
      path: args.path.slice(LAZY.length),
      namespace: "nslink-lazy-builtin",
    }));
    build.onLoad({ filter: /.*/, namespace: "nslink-lazy-builtin" }, async (args) => {
      const [spec, query] = args.path.split("?");
      const [list, dflt] = query.split("|");
      const names = list ? list.split(",") : [];
      // What the built-in exports, as this Bun (the one embedded) has it.
      const real = await import(spec) as Record<string, unknown>;
      const load = `process.getBuiltinModule(${JSON.stringify(spec)})`;
      const lines = [`let loaded;`, `const load = () => (loaded ??= ${load});`];
      if (dflt === "default") {
        // `process` is there already; another module's object is loaded at its first use.
        lines.push(
          spec === "node:process"
            ? "export default load();"
            : "export default new Proxy({}, { get: (_, k) => load()[k], has: (_, k) => k in load() });",
        );
      }
      for (const name of names) {
        // A function is loaded at its first call; a class (by its capital, as `new` must reach
        // the real one) or anything else as its chunk runs.
        lines.push(
          typeof real[name] === "function" && !/^[A-Z]/.test(name)
            ? `export function ${name}(...a) { return load().${name}(...a); }`
            : `export const ${name} = load().${name};`,
        );
      }
      return { contents: lines.join("\n") + "\n", loader: "js" };
    });
  },
};

if (import.meta.main) {
  const args = process.argv.slice(2);
  const opt = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const outfile = opt("--outfile");
  const outdir = opt("--outdir");
  if (!outfile === !outdir) {
    console.error("usage: bun scripts/build.ts --outfile FILE | --outdir DIR");
    process.exit(2);
  }
  const result = await Bun.build({
    entrypoints: [join(ROOT, "cli/main.ts")],
    target: "bun",
    format: "esm",
    splitting: true,
    naming: { chunk: "[name]-[hash].[ext]" },
    plugins: [lazyBuiltins],
    ...(outfile
      ? {
        // --bytecode: stored compiled, so a run does not parse the bundle first (ESM needs
        // --compile for it). --splitting: chunks load when first imported, so a CNI exec loads
        // neither the command line's nor, handed to the agent, the plugin's.
        // jitPolicy: JavaScriptCore's tier-up thresholds x100 as the executable starts: a process
        // that runs one request runs each function a few times, and compiling them cost a
        // handed-off CNI exec ~0.6 ms of CPU (the same as BUN_JSC_useJIT=0 saved), an in-process
        // ADD ~5 ms. cli/main.ts sets the normal policy back for the agent and `events`.
        compile: { outfile, autoloadDotenv: false, autoloadBunfig: false, jitPolicy: 100 },
        minify: true,
        bytecode: true,
      }
      : { outdir }),
  });
  for (const log of result.logs) console.error(log);
  if (!result.success) process.exit(1);
  if (outdir) { for (const o of result.outputs) console.log(o.path.slice(outdir.length + 1)); }
}
