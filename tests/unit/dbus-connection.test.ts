/**
 * Unit tests of `DBusConnection` against a fake bus: a `node:net` unix-socket server in the test
 * that checks the `EXTERNAL` login line, answers `Hello`, and then answers (or not) as each test
 * needs. No root, no dbus-daemon.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import process from "node:process";
import { DBusConnectError, DBusConnection, DBusError } from "../../dbus/connection.ts";
import {
  type DBusMessage,
  decodeMessage,
  encodeMessage,
  MESSAGE_ERROR,
  MESSAGE_METHOD_CALL,
  MESSAGE_METHOD_RETURN,
  MESSAGE_SIGNAL,
  messageLength,
} from "../../dbus/message.ts";

const dir = mkdtempSync(`${tmpdir()}/nslink-dbus-`);
const servers: Server[] = [];
after(() => {
  for (const s of servers) s.close();
  rmSync(dir, { recursive: true, force: true });
});

let n = 0;
/**
 * A fake bus: `onCall` answers each method call after Hello (return messages to send back, or
 * nothing to stay silent). Records the login line.
 */
async function fakeBus(
  onCall: (m: DBusMessage, sock: Socket) => DBusMessage[],
): Promise<{ address: string; logins: string[]; answers: DBusMessage[] }> {
  const path = `${dir}/bus${n++}`;
  const logins: string[] = [];
  const answers: DBusMessage[] = [];
  const server = createServer((sock) => {
    let buf = new Uint8Array(0);
    let authed = false;
    let serial = 100;
    sock.on("data", (chunk: Uint8Array) => {
      const joined = new Uint8Array(buf.length + chunk.length);
      joined.set(buf);
      joined.set(chunk, buf.length);
      buf = joined;
      if (!authed) {
        const text = new TextDecoder().decode(buf);
        const end = text.indexOf("BEGIN\r\n");
        const auth = text.indexOf("\r\n");
        if (auth >= 0 && logins.length === 0) {
          logins.push(text.slice(0, auth));
          sock.write("OK 0123456789abcdef0123456789abcdef\r\n");
        }
        if (end < 0) return;
        authed = true;
        buf = buf.subarray(end + 7);
      }
      for (;;) {
        const len = messageLength(buf);
        if (len === undefined || buf.length < len) return;
        const m = decodeMessage(buf.subarray(0, len));
        buf = buf.subarray(len);
        if (m.member === "Hello") {
          sock.write(encodeMessage({
            type: MESSAGE_METHOD_RETURN,
            serial: serial++,
            replySerial: m.serial,
            signature: "s",
            body: [":1.7"],
          }));
          // A signal and a call to us come unasked; the client must cope with both.
          sock.write(encodeMessage({
            type: MESSAGE_SIGNAL,
            serial: serial++,
            path: "/org/freedesktop/DBus",
            interface: "org.freedesktop.DBus",
            member: "NameAcquired",
            signature: "s",
            body: [":1.7"],
          }));
          sock.write(encodeMessage({
            type: MESSAGE_METHOD_CALL,
            serial: 99,
            sender: ":1.1",
            path: "/",
            interface: "org.freedesktop.DBus.Peer",
            member: "Ping",
          }));
          continue;
        }
        if (m.type !== MESSAGE_METHOD_CALL) {
          answers.push(m);
          continue;
        }
        for (const r of onCall(m, sock)) sock.write(encodeMessage({ ...r, serial: serial++ }));
      }
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(path, r));
  return { address: `unix:path=${path}`, logins, answers };
}

const call = {
  destination: "org.nslink.Test",
  path: "/org/nslink/Test",
  interface: "org.nslink.Test",
  member: "Echo",
};

describe("DBusConnection (fake bus)", () => {
  it("logs in with EXTERNAL as the process's uid (hex of its digits) and learns its name", async () => {
    const bus = await fakeBus((m) => [
      { type: MESSAGE_METHOD_RETURN, serial: 0, replySerial: m.serial },
    ]);
    await using conn = await DBusConnection.connect({ address: bus.address });
    assert.equal(conn.uniqueName, ":1.7");
    const uid = String(process.getuid?.() ?? 0);
    const hex = [...uid].map((c) => c.charCodeAt(0).toString(16)).join("");
    assert.equal(bus.logins[0], `\0AUTH EXTERNAL ${hex}`);
    // The bus's call to us (Peer.Ping) is answered, with an error: nslink exports no objects.
    assert.deepEqual(await conn.call(call), []);
    for (let i = 0; i < 400 && bus.answers.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(bus.answers.length, 1);
    assert.equal(bus.answers[0].type, MESSAGE_ERROR);
    assert.equal(bus.answers[0].replySerial, 99);
    assert.equal(bus.answers[0].destination, ":1.1");
    assert.equal(bus.answers[0].errorName, "org.freedesktop.DBus.Error.UnknownMethod");
  });

  it("matches overlapping replies by serial, in any order", async () => {
    const pending: DBusMessage[] = [];
    const bus = await fakeBus((m) => {
      pending.push(m);
      if (pending.length < 2) return [];
      // Answer the second call first.
      return pending.reverse().map((p) => ({
        type: MESSAGE_METHOD_RETURN,
        serial: 0,
        replySerial: p.serial,
        signature: "s",
        body: [`echo ${p.body?.[0]}`],
      }));
    });
    await using conn = await DBusConnection.connect({ address: bus.address });
    const [a, b] = await Promise.all([
      conn.call({ ...call, signature: "s", body: ["a"] }),
      conn.call({ ...call, signature: "s", body: ["b"] }),
    ]);
    assert.deepEqual([a, b], [["echo a"], ["echo b"]]);
  });

  it("rejects with DBusError for an error reply, and NoReply after the timeout", async () => {
    const bus = await fakeBus((m) =>
      m.member === "Fail"
        ? [{
          type: MESSAGE_ERROR,
          serial: 0,
          replySerial: m.serial,
          errorName: "org.nslink.Error.Nope",
          signature: "s",
          body: ["not today"],
        }]
        : []
    );
    await using conn = await DBusConnection.connect({ address: bus.address });
    await assert.rejects(
      conn.call({ ...call, member: "Fail" }),
      (e) =>
        e instanceof DBusError && e.errorName === "org.nslink.Error.Nope" &&
        e.method === "org.nslink.Test.Fail" && e.object === "/org/nslink/Test" &&
        e.destination === "org.nslink.Test" && e.detail === "not today",
    );
    await assert.rejects(
      conn.call({ ...call, member: "Silent", timeoutMs: 20 }),
      (e) => e instanceof DBusError && e.errorName === "org.freedesktop.DBus.Error.NoReply",
    );
  });

  it("rejects pending calls with Disconnected when the bus hangs up", async () => {
    const bus = await fakeBus((_m, sock) => {
      sock.destroy();
      return [];
    });
    await using conn = await DBusConnection.connect({ address: bus.address });
    await assert.rejects(
      conn.call(call),
      (e) => e instanceof DBusError && e.errorName === "org.freedesktop.DBus.Error.Disconnected",
    );
    assert.equal(conn.closed, true);
    await assert.rejects(
      conn.call(call),
      (e) => e instanceof DBusError && e.errorName === "org.freedesktop.DBus.Error.Disconnected",
    );
  });

  it("refuses an argument that does not fit its signature before sending anything", async () => {
    const seen: DBusMessage[] = [];
    const bus = await fakeBus((m) => {
      seen.push(m);
      return [];
    });
    await using conn = await DBusConnection.connect({ address: bus.address });
    await assert.rejects(conn.call({ ...call, signature: "u", body: [-1] }), /does not fit "u"/);
    assert.deepEqual(seen, []);
  });

  it("reports a missing socket, or an address without a unix path, as DBusConnectError", async () => {
    await assert.rejects(
      DBusConnection.connect({ address: `unix:path=${dir}/none` }),
      (e) => e instanceof DBusConnectError && e.code === "ENOENT" && e.address.endsWith("/none"),
    );
    await assert.rejects(
      DBusConnection.connect({ address: "tcp:host=127.0.0.1,port=1" }),
      (e) => e instanceof DBusConnectError && e.code === "EINVAL",
    );
  });
});
