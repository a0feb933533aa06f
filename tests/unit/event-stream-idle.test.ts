/**
 * Unit tests of the Bun polling schedule of `NetlinkEventStream` (netlink/events.ts): how often
 * a quiet socket is read (issue 21: the host agent's idle CPU).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { NetlinkEventStream, nextIdleWait } from "../../netlink/events.ts";
import type { NetlinkSocket } from "../../netlink/socket.ts";

/** The sleeps a quiet socket goes through, from the 1 ms after an event. */
function schedule(max: number, n: number): number[] {
  const out = [1];
  while (out.length < n) out.push(nextIdleWait(out.at(-1)!, max));
  return out;
}

describe("nextIdleWait()", () => {
  it("doubles from 1 ms up to the default 8 ms and stays there", () => {
    assert.deepEqual(schedule(8, 7), [1, 2, 4, 8, 8, 8, 8]);
  });

  it("backs off to 128 ms (the firewall monitor's) within 127 ms of quiet", () => {
    const s = schedule(128, 10);
    assert.deepEqual(s, [1, 2, 4, 8, 16, 32, 64, 128, 128, 128]);
    // Before the sleeps reach 128 ms, the socket has been quiet for the sum of the shorter ones.
    assert.equal(s.slice(0, 7).reduce((a, b) => a + b, 0), 127);
  });

  it("never sleeps less than 1 ms nor more than the maximum", () => {
    assert.equal(nextIdleWait(0, 8), 1);
    assert.equal(nextIdleWait(100, 8), 8);
    assert.equal(nextIdleWait(1, 1), 1);
  });
});

describe("NetlinkEventStream idleWaitMs", () => {
  it("rejects an invalid value and closes the socket it was given", () => {
    for (const bad of [0, -1, 1.5, 60_001, Number.NaN]) {
      let closed = false;
      const sock = { fd: -1, close: () => (closed = true) } as unknown as NetlinkSocket;
      assert.throws(
        () => new NetlinkEventStream(sock, () => undefined, { idleWaitMs: bad }),
        (e: unknown) => e instanceof RangeError && /idleWaitMs/.test(e.message),
      );
      assert.ok(closed, `socket closed after idleWaitMs ${bad}`);
    }
  });
});
