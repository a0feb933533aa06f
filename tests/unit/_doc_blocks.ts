/**
 * The fenced code blocks of README.md and docs/*.md, with the `<!-- not-run: REASON -->` marker a
 * block may carry on the last non-blank line before it (a block that cannot run in the tests'
 * throw-away namespace: a registry install, a write to the host's /etc or /usr, a systemd unit).
 * Used by tests/unit/doc-blocks.test.ts (the inventory) and the tests that run the blocks.
 *
 * @example
 * ```ts ignore
 * for (const b of docBlocks()) if (b.lang === "sh" && !b.notRun) console.log(b.file, b.line);
 * ```
 */
import { readdirSync, readFileSync } from "node:fs";

/** The checkout's root directory, ending in a slash. */
export const ROOT = new URL("../../", import.meta.url).pathname;

/** One fenced block of a documentation file. */
export interface DocBlock {
  /** Path from the repository root: `README.md`, `docs/cli.md`. */
  file: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The fence's first word (`sh`, `ts`, `json`, `text`, or "" for none). */
  lang: string;
  /** The words after it (`ignore`). */
  flags: string[];
  code: string;
  /** The reason of a `<!-- not-run: … -->` marker, when it has one. */
  notRun?: string;
}

/** The documentation files: README.md, then docs/*.md by name. */
export function docFiles(): string[] {
  return [
    "README.md",
    ...readdirSync(`${ROOT}docs`).filter((f) => f.endsWith(".md")).sort().map((f) => `docs/${f}`),
  ];
}

/** The blocks of one file (the path from the repository root). */
export function blocksOf(file: string): DocBlock[] {
  const lines = readFileSync(`${ROOT}${file}`, "utf8").split("\n");
  const out: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```(.*)$/.exec(lines[i]);
    if (!open) continue;
    const indent = open[1];
    const [lang = "", ...flags] = open[2].trim().split(/\s+/).filter(Boolean);
    let j = i + 1;
    while (j < lines.length && lines[j].trim() !== "```") j++;
    const code = lines.slice(i + 1, j).map((l) => l.startsWith(indent) ? l.slice(indent.length) : l)
      .join("\n") + "\n";
    let k = i - 1;
    while (k >= 0 && lines[k].trim() === "") k--;
    const m = k >= 0 ? /^\s*<!-- not-run: (.+?) -->\s*$/.exec(lines[k]) : null;
    out.push({ file, line: i + 1, lang, flags, code, ...(m ? { notRun: m[1] } : {}) });
    i = j;
  }
  return out;
}

/** Every block of every documentation file. */
export function docBlocks(): DocBlock[] {
  return docFiles().flatMap(blocksOf);
}

/**
 * The test that runs a block, or why none does: `sh` blocks of README.md and `ts` blocks of any
 * page are run by tests/priv/doc-snippets.test.ts, docs/cli.md's `sh` blocks by
 * tests/priv/docs.test.ts, conflists (`json`) are parsed by the plugin's parser
 * (tests/unit/doc-blocks.test.ts, tests/unit/cni-docs.test.ts); `text` and unlabelled blocks are
 * output, not commands. `undefined`: a block nothing runs and no marker explains (a test fails).
 *
 * @example
 * ```ts ignore
 * const unrun = docBlocks().filter((b) => !runBy(b));
 * ```
 */
export function runBy(b: DocBlock): string | undefined {
  if (b.notRun) return `not run: ${b.notRun}`;
  if (b.lang === "" || b.lang === "text") return "output";
  if (b.lang === "sh" && b.file === "README.md") return "tests/priv/doc-snippets.test.ts";
  if (b.lang === "sh" && b.file === "docs/cli.md") return "tests/priv/docs.test.ts";
  if (b.lang === "ts" && !b.flags.includes("ignore")) return "tests/priv/doc-snippets.test.ts";
  if (b.lang === "json" && (b.file === "README.md" || b.file === "docs/cni.md")) {
    return "the plugin's configuration parser (tests/unit/doc-blocks.test.ts, cni-docs.test.ts)";
  }
  return undefined;
}

/**
 * A `ts` block as a module that imports the checkout's `mod.ts` instead of the published names
 * (`"nslink"`, `"jsr:@nslink/nslink"`) or the repository-relative `"./mod.ts"`.
 *
 * @example
 * ```ts ignore
 * writeFileSync(tmp, snippetModule(block.code));
 * ```
 */
export function snippetModule(code: string): string {
  return code.replace(
    /from "(?:nslink|jsr:@nslink\/nslink|\.\/mod\.ts)"/g,
    `from ${JSON.stringify(`${ROOT}mod.ts`)}`,
  );
}
