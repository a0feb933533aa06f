/**
 * A claim's owner entry takes no inode of its own (issue 21, state on a disk): it is a hard link
 * of the state directory's shared `.claim` file, made in one call after the claim's `mkdir`; a
 * symbolic link to `/dev/null` where no hard link can be made. Readers and releases see the
 * same names either way.
 *
 * @module
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StateStore } from "../../network/state.ts";
import { libcCalls } from "./_libc_calls.ts";

const root = mkdtempSync(join(tmpdir(), "nsl-claim-entry-"));
after(() => rmSync(root, { recursive: true, force: true }));
let seq = 0;
function freshStore(): StateStore {
  const store = new StateStore(join(root, `s${seq++}`));
  store.makeKind("ip.t");
  return store;
}

describe("StateStore.claim owner entry", () => {
  it("is a hard link of <dir>/.claim, made with mkdir + link (no symlink) once .claim exists", async () => {
    const store = freshStore();
    assert.equal(store.claim("ip.t", "198.51.100.2", "c1@a"), true); // makes .claim
    const calls = await libcCalls(() => {
      assert.equal(store.claim("ip.t", "198.51.100.3", "c2@b"), true);
    });
    assert.deepEqual(calls, ["mkdir", "link"]);
    const shared = statSync(join(store.dir, ".claim"));
    assert.ok(shared.isFile());
    assert.equal(shared.size, 0);
    assert.equal(shared.mode & 0o077, 0);
    for (const [name, owner] of [["198.51.100.2", "c1@a"], ["198.51.100.3", "c2@b"]]) {
      const entry = lstatSync(join(store.dir, "ip.t", name, owner));
      assert.ok(entry.isFile(), `${name}/${owner} is a hard link, not a symbolic link`);
      assert.equal(entry.ino, shared.ino);
      assert.equal(store.claimant("ip.t", name), owner);
    }
    assert.equal(statSync(join(store.dir, ".claim")).nlink, 3);
    assert.equal(store.claim("ip.t", "198.51.100.2", "c3@c"), false);
    assert.deepEqual(store.claims("ip.t").sort(), ["198.51.100.2", "198.51.100.3"]);
    // The claim listing of a kind never shows .claim (it lives beside the kinds).
    assert.equal(store.unclaim("ip.t", "198.51.100.2", "c9@z"), false);
    assert.equal(store.unclaim("ip.t", "198.51.100.2", "c1@a"), true);
    assert.equal(store.unclaim("ip.t", "198.51.100.3", "c2@b"), true);
    assert.deepEqual(readdirSync(join(store.dir, "ip.t")), []);
    assert.equal(statSync(join(store.dir, ".claim")).nlink, 1);
  });

  it("remakes .claim when it was removed", () => {
    const store = freshStore();
    assert.equal(store.claim("ip.t", "198.51.100.2", "c1@a"), true);
    rmSync(join(store.dir, ".claim"));
    assert.equal(store.claim("ip.t", "198.51.100.3", "c2@b"), true);
    assert.ok(existsSync(join(store.dir, ".claim")));
    assert.equal(store.claimant("ip.t", "198.51.100.3"), "c2@b");
    assert.equal(store.unclaim("ip.t", "198.51.100.3", "c2@b"), true);
  });

  it("falls back to a symbolic link when no hard link can be made", () => {
    const store = freshStore();
    mkdirSync(join(store.dir, ".claim")); // link(2) of a directory fails with EPERM
    assert.equal(store.claim("ip.t", "198.51.100.2", "c1@a"), true);
    const entry = join(store.dir, "ip.t", "198.51.100.2", "c1@a");
    assert.ok(lstatSync(entry).isSymbolicLink());
    assert.equal(store.claimant("ip.t", "198.51.100.2"), "c1@a");
    assert.equal(store.unclaim("ip.t", "198.51.100.2", "c1@a"), true);
    assert.equal(existsSync(join(store.dir, "ip.t", "198.51.100.2")), false);
  });

  it("fails as before when the claim's kind is missing, leaving nothing", () => {
    const store = freshStore();
    assert.throws(() => store.claim("ip.none", "198.51.100.2", "c1@a"), /ENOENT/);
    assert.equal(existsSync(join(store.dir, "ip.none")), false);
  });
});
