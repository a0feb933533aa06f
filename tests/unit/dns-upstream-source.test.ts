// fromUpstream (dns/server.ts): the source check every forwarded UDP answer passes through
// DnsServer's default node:dgram upstream sockets (Deno's node:dgram connect() filters nothing).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { fromUpstream } from "../../dns/server.ts";

describe("fromUpstream()", () => {
  it("takes the upstream's address and port, however the address is written", () => {
    assert.equal(fromUpstream({ address: "198.51.100.53", port: 53 }, "198.51.100.53", 53), true);
    assert.equal(fromUpstream({ address: "2001:db8::53", port: 53 }, "2001:db8:0::53", 53), true);
    assert.equal(fromUpstream({ address: "2001:DB8::53", port: 53 }, "2001:db8::53", 53), true);
  });

  it("refuses another address, another port, or a source that is no address", () => {
    assert.equal(fromUpstream({ address: "198.51.100.54", port: 53 }, "198.51.100.53", 53), false);
    assert.equal(fromUpstream({ address: "198.51.100.53", port: 54 }, "198.51.100.53", 53), false);
    assert.equal(fromUpstream({ address: "2001:db8::54", port: 53 }, "2001:db8::53", 53), false);
    assert.equal(
      fromUpstream({ address: "::ffff:198.51.100.53", port: 53 }, "198.51.100.53", 53),
      false,
    );
    assert.equal(fromUpstream({ address: "", port: 53 }, "198.51.100.53", 53), false);
  });
});
