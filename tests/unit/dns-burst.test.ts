// A burst of 1,000 UDP queries sent at once, before the server reads any, all answered: the
// server's UDP sockets ask for a receive buffer (SO_RCVBUF, SO_RCVBUFFORCE as root) large enough
// to queue them (the kernel's default, rmem_default 212992 bytes, holds about 270). Loopback only,
// no root; on the listener the agent uses on this runtime (FFI under Deno, node:dgram under Bun).
// The client sends the 1,000 synchronously through FFI, so the server cannot read in between.
// (Deno's own node:dgram, not the agent's way there, answers 256 of such a burst whatever the
// buffer: a limit inside Deno.)
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import process from "node:process";
import { decodeMessage, encodeMessage } from "../../dns/message.ts";
import { NameTable } from "../../dns/resolver.ts";
import { DnsServer, UDP_RECEIVE_BUFFER } from "../../dns/server.ts";
import { ffiUdpAvailable, ffiUdpListener } from "../../agent/udp.ts";
import {
  bind,
  close,
  readNonBlocking,
  sendtoAddress,
  setsockoptInt,
  socket,
} from "../../ffi/libc.ts";

const servers: DnsServer[] = [];
after(async () => {
  for (const s of servers) await s.close();
});

const table = new NameTable([{
  name: "lo",
  subnets: ["127.0.0.0/8"],
  containers: Array.from(
    { length: 50 },
    (_, i) => ({ name: `c${i}`, ipv4: [`198.51.100.${i + 2}`] }),
  ),
}]);

function sockaddr4(port: number): Uint8Array<ArrayBuffer> {
  const sa = new Uint8Array(16);
  const dv = new DataView(sa.buffer);
  dv.setUint16(0, 2, true); // AF_INET
  dv.setUint16(2, port, false);
  sa.set([127, 0, 0, 1], 4);
  return sa;
}

/** The limit an unprivileged SO_RCVBUF is cut to (the kernel doubles what it grants). */
function rmemMax(): number {
  try {
    return Number(readFileSync("/proc/sys/net/core/rmem_max", "utf8"));
  } catch {
    return 0;
  }
}

/** Sends `count` queries at once (synchronously), then reads answers until all came or 5 s. */
async function burst(port: number, count: number): Promise<Set<number>> {
  const fd = socket(2, 2 | 0o4000 | 0o2000000, 0, "test client"); // AF_INET, DGRAM|NONBLOCK|CLOEXEC
  const got = new Set<number>();
  try {
    try {
      setsockoptInt(fd, 1, 33, 8 << 20, "client SO_RCVBUFFORCE");
    } catch {
      setsockoptInt(fd, 1, 8, 8 << 20, "client SO_RCVBUF");
    }
    bind(fd, sockaddr4(0), "test client");
    const to = sockaddr4(port);
    for (let id = 0; id < count; id++) {
      const q = encodeMessage({ id, rd: true, questions: [{ name: `c${id % 50}`, type: "A" }] });
      assert.equal(
        sendtoAddress(fd, new Uint8Array(q), to, "query"),
        q.byteLength,
        `query ${id} sent`,
      );
    }
    const buf = new Uint8Array(4096);
    const deadline = Date.now() + 5000;
    while (got.size < count && Date.now() < deadline) {
      const n = readNonBlocking(fd, buf, "answer");
      if (n > 0) got.add(decodeMessage(buf.slice(0, n)).id);
      else await new Promise((r) => setTimeout(r, 5));
    }
  } finally {
    close(fd, "test client");
  }
  return got;
}

describe("a burst of 1,000 UDP queries at once", () => {
  // SO_RCVBUF is capped by rmem_max (the burst needs about 1 MiB), except SO_RCVBUFFORCE as
  // root, which only the FFI listener (Deno) can ask for: node:dgram has no fd to ask with.
  const force = process.getuid?.() === 0 && ffiUdpAvailable();
  const skip = !force && rmemMax() < 1 << 20
    ? `net.core.rmem_max is ${rmemMax()} bytes and SO_RCVBUFFORCE is out of reach`
    : false;

  it("are all answered (the listener the agent uses here)", { skip }, async () => {
    assert.ok(UDP_RECEIVE_BUFFER >= 1 << 20);
    const s = await DnsServer.start({
      table,
      addresses: ["127.0.0.1"],
      port: 0,
      ...(ffiUdpAvailable() ? { udpListener: ffiUdpListener } : {}),
    });
    servers.push(s);
    const got = await burst(s.ports()[0].udp, 1000);
    assert.equal(got.size, 1000, `${got.size}/1000 answered`);
  });
});
