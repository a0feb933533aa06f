// The FFI file calls that report an expected failure as a value, not an error object (hot paths
// of link/unlink: an absent releasing mark, an absent resolv.conf), and pread, checked against
// node:fs.
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  close,
  O_CLOEXEC,
  O_RDONLY,
  open,
  pread,
  readlinkOrErrno,
  readTextFileIfExists,
  SyscallError,
  tryPathCall,
} from "../../ffi/libc.ts";

const root = mkdtempSync(join(tmpdir(), "nsl-ffi-quiet-"));
after(() => rmSync(root, { recursive: true, force: true }));

const ENOENT = 2;
const EEXIST = 17;
const ENOTDIR = 20;
const EINVAL = 22;
const ENOTEMPTY = 39;

describe("ffi file calls without error objects", () => {
  it("readTextFileIfExists: the text, or undefined for ENOENT and ENOTDIR", () => {
    const file = join(root, "text");
    writeFileSync(file, "x".repeat(10_000) + "é");
    assert.equal(readTextFileIfExists(file), "x".repeat(10_000) + "é");
    assert.equal(readTextFileIfExists(join(root, "absent")), undefined);
    assert.equal(readTextFileIfExists(join(file, "below-a-file")), undefined);
    // Anything else still throws, naming the call and the errno.
    assert.throws(() => readTextFileIfExists(root), (e: unknown) => {
      assert.ok(e instanceof SyscallError);
      assert.equal(e.code, "EISDIR");
      return true;
    });
  });

  it("tryPathCall: 0 or the errno of mkdir, rmdir and unlink", () => {
    const dir = join(root, "d");
    assert.equal(tryPathCall("mkdir", dir, 0o700), 0);
    assert.ok(existsSync(dir));
    assert.equal(tryPathCall("mkdir", dir, 0o700), EEXIST);
    assert.equal(tryPathCall("mkdir", join(root, "no", "parent"), 0o700), ENOENT);
    writeFileSync(join(dir, "f"), "");
    assert.equal(tryPathCall("rmdir", dir), ENOTEMPTY);
    assert.equal(tryPathCall("unlink", join(dir, "f")), 0);
    assert.equal(tryPathCall("unlink", join(dir, "f")), ENOENT);
    assert.equal(tryPathCall("rmdir", dir), 0);
    assert.equal(existsSync(dir), false);
    assert.equal(tryPathCall("rmdir", dir), ENOENT);
  });

  it("readlinkOrErrno: the target, ENOENT when absent, EINVAL for a non-link", () => {
    const l = join(root, "mark");
    symlinkSync("releasing-1764380000000", l);
    assert.equal(readlinkOrErrno(l), "releasing-1764380000000");
    assert.equal(readlinkOrErrno(join(root, "no-mark")), ENOENT);
    mkdirSync(join(root, "claim"));
    assert.equal(readlinkOrErrno(join(root, "claim")), EINVAL);
    writeFileSync(join(root, "plain"), "");
    assert.equal(readlinkOrErrno(join(root, "plain", "x")), ENOTDIR);
  });

  it("pread reads from an offset, again and again, without moving the position", () => {
    const file = join(root, "p");
    writeFileSync(file, "0123456789");
    const fd = open(file, O_RDONLY | O_CLOEXEC);
    try {
      const buf = new Uint8Array(4);
      for (let i = 0; i < 3; i++) {
        assert.equal(pread(fd, buf, 0), 4);
        assert.equal(new TextDecoder().decode(buf), "0123");
      }
      assert.equal(pread(fd, buf, 8), 2);
      assert.equal(new TextDecoder().decode(buf.subarray(0, 2)), "89");
      assert.equal(pread(fd, buf, 10), 0);
    } finally {
      close(fd);
    }
    // A bad fd is a SyscallError naming pread.
    const spare = openSync(file, "r");
    closeSync(spare);
    assert.throws(() => pread(spare, new Uint8Array(1), 0), (e: unknown) => {
      assert.ok(e instanceof SyscallError);
      assert.equal(e.call, "pread");
      assert.equal(e.code, "EBADF");
      return true;
    });
  });
});
