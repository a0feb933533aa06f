/**
 * Sample result files and table cells for the tests of bench/render.ts
 * (tests/unit/bench-render*.test.ts): no bench is run.
 *
 * @module
 */
import assert from "node:assert/strict";
import { RESULT_SCHEMA, type ResultFile } from "../../bench/lib/results.ts";

/**
 * A result file with a fixed machine, commit and label, the rest from `over`.
 *
 * @example
 * ```ts
 * const r = sampleResult({ suite: "teardown", runtime: "deno", samples: [] });
 * ```
 */
export function sampleResult(over: Partial<ResultFile>): ResultFile {
  return {
    schema: RESULT_SCHEMA,
    suite: "main",
    runtime: "all",
    label: "unit test sample",
    date: "2026-12-08T01:31:26.000Z",
    finished: "2026-12-08T01:33:00.000Z",
    machine: {
      kernel: "6.18.0",
      cpuModel: "Test CPU",
      cores: 2,
      loadavgStart: [0.31, 0.2, 0.1],
      loadavgEnd: [0.42, 0.2, 0.1],
      quiet: true,
    },
    versions: { deno: "2.9.6", bun: "1.4.5" },
    git: { commit: "0123456789abcdef0123456789abcdef01234567", dirty: false },
    options: {},
    samples: {},
    ...over,
  };
}

/**
 * The cells of the first line of a rendered table starting with `name` (or being just `name`),
 * columns split on two or more spaces; fails the test when there is none.
 *
 * @example
 * ```ts
 * assert.deepEqual(row("deno  1.0  2.0\n", "deno"), ["deno", "1.0", "2.0"]);
 * ```
 */
export function row(text: string, name: string): string[] {
  const line = text.split("\n").find((l) => l.startsWith(`${name}  `) || l === name);
  assert.ok(line, `no row ${name} in\n${text}`);
  return line.trim().split(/\s{2,}/);
}
