// The file calls of the FFI layer (state files, namespace files), checked against node:fs.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  exists,
  link,
  lstat,
  readDir,
  readlink,
  readTextFile,
  rename,
  S_IFDIR,
  S_IFLNK,
  S_IFMT,
  S_IFREG,
  stat,
  symlink,
  SyscallError,
  unlink,
} from "../../ffi/libc.ts";

const root = mkdtempSync(join(tmpdir(), "nsl-ffi-fs-"));
after(() => rmSync(root, { recursive: true, force: true }));

describe("ffi file calls", () => {
  it("readTextFile reads small and large files whole", () => {
    const small = join(root, "small.json");
    writeFileSync(small, '{"a":1}\n');
    assert.equal(readTextFile(small), '{"a":1}\n');
    const big = join(root, "big.txt");
    const text = "ü".repeat(20_000) + "end";
    writeFileSync(big, text);
    assert.equal(readTextFile(big), text);
    assert.equal(readTextFile(small), '{"a":1}\n', "the shared buffer is reused");
  });

  it("raises SyscallError with the errno's code, as node:fs callers expect", () => {
    const missing = join(root, "missing");
    assert.throws(() => readTextFile(missing), (e: unknown) => {
      assert.ok(e instanceof SyscallError);
      assert.equal(e.code, "ENOENT");
      assert.match(e.message, /^open ".*missing": ENOENT \(No such file or directory\)$/);
      return true;
    });
    assert.throws(() => lstat(missing), { code: "ENOENT" });
    assert.throws(() => readlink(missing), { code: "ENOENT" });
    assert.throws(() => unlink(missing), { code: "ENOENT" });
  });

  it("symlink and readlink round-trip; readlink of a file is EINVAL; symlink never replaces", () => {
    const claim = join(root, "198.51.100.7");
    symlink("c1", claim);
    assert.equal(readlink(claim), "c1");
    assert.equal(readlinkSync(claim), "c1");
    assert.throws(() => symlink("c2", claim), { code: "EEXIST" });
    const file = join(root, "plain");
    writeFileSync(file, "x");
    assert.throws(() => readlink(file), { code: "EINVAL" });
  });

  it("link refuses an existing name; rename replaces it", () => {
    const a = join(root, "a.tmp");
    const b = join(root, "b.json");
    writeFileSync(a, "new");
    writeFileSync(b, "old");
    assert.throws(() => link(a, b), { code: "EEXIST" });
    rename(a, b);
    assert.equal(readFileSync(b, "utf8"), "new");
    assert.equal(exists(a), false);
  });

  it("lstat and stat agree with node:fs on type, size, inode and device", () => {
    const dir = join(root, "d");
    mkdirSync(dir);
    const file = join(dir, "f");
    writeFileSync(file, "12345", { mode: 0o444 });
    const ln = join(dir, "l");
    symlinkSync("f", ln);
    const f = lstat(file);
    const node = statSync(file);
    assert.equal(f.mode & S_IFMT, S_IFREG);
    assert.equal(f.mode & 0o777, 0o444);
    assert.equal(f.size, 5);
    assert.equal(f.ino, node.ino);
    assert.equal(lstat(ln).mode & S_IFMT, S_IFLNK);
    assert.equal(lstatSync(ln).isSymbolicLink(), true);
    assert.equal(stat(ln).ino, f.ino, "stat follows the link");
    assert.equal(stat(dir).mode & S_IFMT, S_IFDIR);
    assert.equal(stat(dir).dev, f.dev, "same filesystem, same device");
    assert.match(f.dev, /^\d+:\d+$/);
  });

  it("exists follows links and is false for a dangling one", () => {
    const ln = join(root, "dangling");
    symlinkSync("nowhere", ln);
    assert.equal(exists(ln), false);
    assert.equal(exists(root), true);
  });
});

describe("readDir", () => {
  it("lists what node:fs lists, without . and .., for a few and for many entries", () => {
    const dir = join(root, "many");
    mkdirSync(dir);
    assert.deepEqual(readDir(dir), []);
    for (let i = 0; i < 3000; i++) writeFileSync(join(dir, `entry-${i}-${"x".repeat(i % 40)}`), "");
    const names = readDir(dir).sort();
    assert.equal(names.length, 3000);
    assert.deepEqual(names, readdirSync(dir).sort());
  });

  it("raises ENOENT and ENOTDIR like node:fs", () => {
    assert.throws(() => readDir(join(root, "nope")), { code: "ENOENT" });
    const file = join(root, "a-file");
    writeFileSync(file, "");
    assert.throws(() => readDir(file), { code: "ENOTDIR" });
  });
});
