import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { netnsPath } from "../../mod.ts";

describe("netnsPath()", () => {
  it("maps bare names to /run/netns and keeps absolute, normalised paths", () => {
    assert.equal(netnsPath("c1"), "/run/netns/c1");
    assert.equal(netnsPath("c1.x-y_z"), "/run/netns/c1.x-y_z");
    assert.equal(netnsPath("/var/run/docker/netns/x"), "/var/run/docker/netns/x");
    assert.equal(netnsPath("/run/netns/c1"), "/run/netns/c1");
  });

  it("refuses relative and unnormalised paths with a TypeError quoting them", () => {
    const bad: [string, RegExp][] = [
      ["netns/c1", /expected an absolute path/],
      ["./c1", /expected an absolute path/],
      ["../run/netns/c1", /expected an absolute path/],
      ["/run/netns/../c1", /expected a normalised path .* such as "\/run\/c1"/],
      ["/run/netns/./c1", /expected a normalised path .* such as "\/run\/netns\/c1"/],
      ["/run//netns/c1", /expected a normalised path/],
      ["/run/netns/c1/", /expected a normalised path .* such as "\/run\/netns\/c1"/],
      ["/", /expected a normalised path|Invalid/],
      ["", /Invalid network namespace name ""/],
      [".", /Invalid network namespace name "."/],
      ["..", /Invalid network namespace name ".."/],
      ["a\0b", /NUL byte/],
    ];
    for (const [path, re] of bad) {
      assert.throws(() => netnsPath(path), (e: unknown) => {
        assert.ok(e instanceof TypeError, `${JSON.stringify(path)}: ${e}`);
        assert.match(e.message, re);
        if (path !== "a\0b") assert.ok(e.message.includes(`"${path}"`), e.message);
        return true;
      });
    }
  });
});
