import { describe, it } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { currentOwner, isAlive, pidAlive, working } from "../../model/owner.ts";

describe("owners of unfinished work", () => {
  it("this copy's work is alive only while in progress; another copy's in this process is alive", () => {
    const me = currentOwner();
    assert.equal(me.pid, process.pid);
    assert.ok(me.start > 0);
    assert.equal(isAlive(me, "net/c1"), false, "a record of ours not in progress is stale");
    working("net/c1", () => assert.equal(isAlive(me, "net/c1"), true));
    assert.equal(isAlive(me, "net/c1"), false);
    assert.equal(isAlive({ ...me, token: "another-thread" }, "net/c1"), true);
  });

  it("a dead pid, a reused pid (other start time) and nonsense are dead", () => {
    assert.equal(isAlive({ pid: 2147483646, start: 1 }, "k"), false);
    // This very pid, but started at another time: a reused pid.
    const me = currentOwner();
    assert.equal(isAlive({ pid: me.pid, start: me.start + 1 }, "k"), false);
    assert.equal(isAlive({ pid: 1, start: 0 }, "k"), true); // unknown start: the pid decides
    assert.equal(isAlive(undefined, "k"), false);
    assert.equal(isAlive({ pid: -3, start: 0 }, "k"), false);
    assert.equal(pidAlive(process.pid), true);
    assert.equal(pidAlive(2147483646), false);
  });
});
