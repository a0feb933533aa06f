// Port bindings as users write them: validation, ranges, ephemeral picks, conflicts; and the
// DNAT map entries they become.
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { clash, parsePortSpecs, type PortHolder, resolvePorts } from "../../netfilter/ports.ts";
import { dnatEntries } from "../../firewall/firewall.ts";

const none = () => ({ tcp: new Set<number>(), udp: new Set<number>(), sctp: new Set<number>() });
const resolve = (specs: unknown, held: PortHolder[] = [], inUse = none()) =>
  resolvePorts(parsePortSpecs(specs), held, [40000, 40009], inUse);

describe("port bindings", () => {
  it("defaults to tcp on every host address and keeps what was asked", () => {
    assert.deepEqual(
      resolve([{ hostPort: 8080, port: 80 }, {
        hostPort: 5353,
        port: 53,
        protocol: "udp",
        hostIP: "203.0.113.1",
      }, { hostPort: 8443, port: "443", protocol: "sctp", hostIP: "2001:db8:2:0::1" }]),
      [
        { protocol: "tcp", hostIP: "", hostPort: 8080, port: 80 },
        { protocol: "udp", hostIP: "203.0.113.1", hostPort: 5353, port: 53 },
        { protocol: "sctp", hostIP: "2001:db8:2::1", hostPort: 8443, port: 443 },
      ],
    );
  });

  it("refuses bad input before anything is touched", () => {
    for (
      const [bad, re] of [
        [{ hostPort: 70000, port: 80 }, /Invalid hostPort 70000/],
        [{ hostPort: 80, port: 0 }, /Invalid port 0/],
        [{ hostPort: 80 }, /needs "port"/],
        [{ hostPort: 80, port: 80, protocol: "icmp" }, /Invalid protocol "icmp"/],
        [{ hostPort: 80, port: 80, hostIP: "192.168.1" }, /Invalid hostIP/],
        [{ hostPort: "8000-8002", port: "80-81" }, /ranges differ in size/],
        [{ hostPort: 80, port: "80-81" }, /ranges differ in size/],
        [{ hostPort: "90-80", port: 80 }, /Invalid hostPort "90-80"/],
        [{ hostPort: 80, port: 80, extra: 1 }, /Unknown port binding field "extra"/],
      ] as const
    ) {
      assert.throws(() => parsePortSpecs([bad]), re, JSON.stringify(bad));
    }
    assert.throws(() => parsePortSpecs({ hostPort: 1, port: 1 }), /must be an array/);
  });

  it("maps ranges one to one, or takes the first free port of a host range", () => {
    assert.deepEqual(
      resolve([{ hostPort: "8000-8002", port: "80-82" }]).map((b) => [b.hostPort, b.port]),
      [[8000, 80], [8001, 81], [8002, 82]],
    );
    const held: PortHolder[] = [{
      network: "web",
      endpoint: "c1",
      binding: { protocol: "tcp", hostIP: "", hostPort: 9000, port: 80 },
    }];
    assert.deepEqual(
      resolve([{ hostPort: "9000-9005", port: 80 }], held).map((b) => b.hostPort),
      [9001],
    );
  });

  it("hostPort 0 picks a free port of the ephemeral range, skipping held and bound ports", () => {
    const inUse = none();
    for (let p = 40000; p <= 40009; p++) if (p !== 40007) inUse.tcp.add(p);
    assert.deepEqual(resolve([{ hostPort: 0, port: 443 }], [], inUse), [
      { protocol: "tcp", hostIP: "", hostPort: 40007, port: 443 },
    ]);
    inUse.tcp.add(40007);
    assert.throws(
      () => resolve([{ port: 443 }], [], inUse),
      /No free tcp host port in 40000-40009/,
    );
    // Another protocol's ports do not count.
    assert.equal(resolve([{ port: 53, protocol: "udp" }], [], inUse).length, 1);
  });

  it("refuses a clash with any network's port, naming the holder", () => {
    const held: PortHolder[] = [{
      network: "web",
      endpoint: "c1",
      binding: { protocol: "tcp", hostIP: "", hostPort: 8080, port: 80 },
    }];
    assert.throws(
      () => resolve([{ hostPort: 8080, port: 90, hostIP: "203.0.113.1" }], held),
      /^Error: Port tcp 203\.0\.113\.1:8080 is already published by endpoint "c1" of network "web" \(tcp \*:8080 -> 80\)$/,
    );
    assert.equal(resolve([{ hostPort: 8080, port: 80, protocol: "udp" }], held).length, 1);
    assert.throws(
      () => resolve([{ hostPort: 7000, port: 1 }, { hostPort: 7000, port: 2 }]),
      /already published by an earlier binding of the same request/,
    );
  });

  it("clash: same protocol and port, and overlapping host addresses", () => {
    const b = (hostIP: string, hostPort = 80, protocol: "tcp" | "udp" = "tcp") => ({
      protocol,
      hostIP,
      hostPort,
      port: 1,
    });
    assert.ok(clash(b(""), b("203.0.113.1")));
    assert.ok(clash(b("203.0.113.1"), b("203.0.113.1")));
    assert.ok(!clash(b("203.0.113.1"), b("203.0.113.2")));
    assert.ok(!clash(b(""), b("", 81)));
    assert.ok(!clash(b(""), b("", 80, "udp")));
    // 0.0.0.0 and :: cover every address of their own family only.
    assert.ok(clash(b("0.0.0.0"), b("203.0.113.1")));
    assert.ok(clash(b("::"), b("2001:db8:2::1")));
    assert.ok(!clash(b("::"), b("203.0.113.1")));
    assert.ok(!clash(b("0.0.0.0"), b("::")));
    assert.ok(clash(b(""), b("::")));
  });

  it("become DNAT entries: every address publishes on both families, a hostIP on its own", () => {
    const bindings = resolve([{ hostPort: 8080, port: 80 }, {
      hostPort: 8443,
      port: 443,
      hostIP: "2001:db8:2::1",
    }]);
    assert.deepEqual(dnatEntries("198.51.100.2/25", "2001:db8:1::2/64", bindings), [
      { protocol: "tcp", hostIP: "", hostPort: 8080, port: 80, address: "198.51.100.2" },
      { protocol: "tcp", hostIP: "", hostPort: 8080, port: 80, address: "2001:db8:1::2" },
      {
        protocol: "tcp",
        hostIP: "2001:db8:2::1",
        hostPort: 8443,
        port: 443,
        address: "2001:db8:1::2",
      },
    ]);
    assert.throws(() => dnatEntries("198.51.100.2", "", bindings), /has no IPv6 address/);
    // 0.0.0.0: every IPv4 host address, not IPv6 (Docker's -p 0.0.0.0:8080:80).
    assert.deepEqual(
      dnatEntries(
        "198.51.100.2",
        "2001:db8:1::2",
        resolve([{ hostIP: "0.0.0.0", hostPort: 81, port: 80 }]),
      ),
      [{ protocol: "tcp", hostIP: "", hostPort: 81, port: 80, address: "198.51.100.2" }],
    );
  });
});
