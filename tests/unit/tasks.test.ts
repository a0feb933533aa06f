/**
 * The README's commands work as written after `npm ci`: no deno.json task calls a bare `deno`
 * (the task runner would run node_modules/.bin/deno, a native binary, as JavaScript), and a task
 * that runs Deno really does, through scripts/deno.sh.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import process from "node:process";

const root = new URL("../../", import.meta.url).pathname;

describe("deno tasks", () => {
  it("never start a command with a bare `deno`", () => {
    const tasks = JSON.parse(readFileSync(`${root}deno.json`, "utf8")).tasks as Record<
      string,
      string
    >;
    for (const [name, cmd] of Object.entries(tasks)) {
      for (const part of cmd.split(/&&|\|\||;|\|/)) {
        assert.doesNotMatch(part.trim(), /^deno\b/, `task "${name}": ${cmd}`);
        assert.doesNotMatch(part, /in-netns\.sh deno\b/, `task "${name}": ${cmd}`);
      }
    }
  });

  it("run Deno from npm: `deno task nslink version`", () => {
    const out = execFileSync(`${root}node_modules/.bin/deno`, ["task", "-q", "nslink", "version"], {
      cwd: root,
      encoding: "utf8",
      env: { ...process.env, NO_COLOR: "1" },
    });
    assert.match(out, /^nslink \d+\.\d+\.\d+ \(deno /m);
  });
});
