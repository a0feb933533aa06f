/**
 * One version number: `deno.json` (JSR), `package.json` (npm), `nslink version` and the newest
 * entry of CHANGELOG.md agree.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { VERSION } from "../../cli/version.ts";

const read = (file: string) =>
  readFileSync(new URL(`../../${file}`, import.meta.url).pathname, "utf8");

describe("version", () => {
  it("is the same in deno.json, package.json, nslink version and CHANGELOG.md", () => {
    const deno = JSON.parse(read("deno.json")).version;
    const npm = JSON.parse(read("package.json")).version;
    assert.match(VERSION, /^\d+\.\d+\.\d+(-[\w.]+)?$/);
    assert.equal(deno, VERSION);
    assert.equal(npm, VERSION);
    const newest = read("CHANGELOG.md").match(/^## \[?(\d+\.\d+\.\d+[^\]\s]*)\]?/m);
    assert.equal(newest?.[1], VERSION);
  });

  it("package.json is installable: exports, types, bin, files without tests", () => {
    const pkg = JSON.parse(read("package.json"));
    assert.equal(pkg.private, undefined);
    assert.equal(pkg.exports["."].default, "./mod.ts");
    assert.equal(pkg.types, "./mod.ts");
    assert.equal(pkg.bin.nslink, "./cli/main.ts");
    for (const f of pkg.files as string[]) assert.doesNotMatch(f, /^(tests|bench|scripts)\b/);
    const deno = JSON.parse(read("deno.json"));
    assert.deepEqual(deno.exports, { ".": "./mod.ts", "./cli": "./cli/main.ts" });
  });
});
