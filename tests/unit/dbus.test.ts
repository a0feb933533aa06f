/**
 * Unit tests of the D-Bus wire format (`dbus/marshal.ts`, `dbus/message.ts`) and address
 * parsing (`dbus/connection.ts`), against bytes captured from dbus-send and dbus-daemon by
 * `tests/fixtures/dbus/capture.sh` (see its header for how to run it again).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  decodeBody,
  encodeBody,
  MarshalError,
  parseSignature,
  signatureOf,
  Variant,
} from "../../dbus/marshal.ts";
import {
  decodeMessage,
  encodeMessage,
  MESSAGE_ERROR,
  MESSAGE_METHOD_CALL,
  MESSAGE_METHOD_RETURN,
  MESSAGE_SIGNAL,
  messageLength,
} from "../../dbus/message.ts";
import { DBusError, socketPaths } from "../../dbus/connection.ts";
import { hexLines, loadHex } from "./_fixtures.ts";

const ECHO_ARGS = [
  ["a", "bc"],
  new Map([["one", 1], ["two", 2]]),
  -5n,
  1.5,
  true,
  7,
  9,
  -2,
  "/a/b",
  new Variant("t", 7n),
];

describe("D-Bus messages", () => {
  it("encodeMessage() matches dbus-send byte for byte for every basic and container type", () => {
    const bytes = encodeMessage({
      type: MESSAGE_METHOD_CALL,
      serial: 2,
      path: "/org/nslink/test",
      interface: "org.nslink.Test",
      member: "Echo",
      destination: "org.freedesktop.DBus",
      signature: "asa{si}xdbyqnov",
      body: ECHO_ARGS,
    });
    assert.deepEqual(hexLines(bytes), hexLines(loadHex("dbus/dbus-call-echo.hex")));
  });

  it("decodeMessage() reads dbus-send's call back", () => {
    const m = decodeMessage(loadHex("dbus/dbus-call-echo.hex"));
    assert.deepEqual(m, {
      type: MESSAGE_METHOD_CALL,
      flags: 0,
      serial: 2,
      path: "/org/nslink/test",
      interface: "org.nslink.Test",
      member: "Echo",
      destination: "org.freedesktop.DBus",
      signature: "asa{si}xdbyqnov",
      body: ECHO_ARGS,
    });
  });

  it("splits a read holding two messages: the bus's signal and its error reply", () => {
    const stream = loadHex("dbus/dbus-error-unknown-interface.reply.hex");
    const n1 = messageLength(stream)!;
    const signal = decodeMessage(stream.subarray(0, n1));
    assert.equal(signal.type, MESSAGE_SIGNAL);
    assert.equal(signal.member, "NameAcquired");
    assert.equal(signal.sender, "org.freedesktop.DBus");
    const rest = stream.subarray(n1);
    assert.equal(messageLength(rest), rest.byteLength);
    const error = decodeMessage(rest);
    assert.equal(error.type, MESSAGE_ERROR);
    assert.equal(error.replySerial, 2);
    assert.equal(error.errorName, "org.freedesktop.DBus.Error.UnknownInterface");
    assert.deepEqual(error.body, ["org.freedesktop.DBus does not understand message Echo"]);
    assert.equal(error.destination, signal.body?.[0]);
    assert.equal(messageLength(rest.subarray(0, 15)), undefined);
  });

  it("decodes a big-endian message", () => {
    // METHOD_RETURN, serial 7, REPLY_SERIAL 1, SIGNATURE "u", body 0x01020304, all big-endian.
    const bytes = new Uint8Array([
      0x42,
      2,
      0,
      1,
      0,
      0,
      0,
      4,
      0,
      0,
      0,
      7,
      0,
      0,
      0,
      15,
      5,
      1,
      0x75,
      0,
      0,
      0,
      0,
      1,
      8,
      1,
      0x67,
      0,
      1,
      0x75,
      0,
      0,
      1,
      2,
      3,
      4,
    ]);
    assert.equal(messageLength(bytes), 36);
    assert.deepEqual(decodeMessage(bytes), {
      type: MESSAGE_METHOD_RETURN,
      flags: 0,
      serial: 7,
      replySerial: 1,
      signature: "u",
      body: [0x01020304],
    });
  });

  it("refuses a message whose length disagrees with its header", () => {
    const bytes = loadHex("dbus/dbus-call-echo.hex");
    assert.throws(() => decodeMessage(bytes.subarray(0, bytes.length - 1)), MarshalError);
    assert.throws(() => decodeMessage(new Uint8Array([0x78, ...bytes.subarray(1)])), MarshalError);
  });
});

describe("D-Bus marshalling", () => {
  it("parses signatures into complete types and back", () => {
    for (const sig of ["s", "a{sv}", "(sssbsasa(ss)asba(ssss)asasasasa(ss)b)", "aai", "v"]) {
      assert.equal(parseSignature(sig).map(signatureOf).join(""), sig);
    }
    assert.equal(parseSignature("sa{sv}").length, 2);
    for (const bad of ["a", "(", "()", "a{vs}", "a{s}", "h", "{ss}", "z"]) {
      assert.throws(() => parseSignature(bad), MarshalError, bad);
    }
  });

  it("aligns from the body's start: a byte, then a 64-bit integer at offset 8", () => {
    assert.deepEqual(
      [...encodeBody("yt", [1, 2n])],
      [1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0],
    );
    // An empty array of structs still pads to its elements' alignment, uncounted in its length.
    assert.deepEqual([...encodeBody("ua(y)", [1, []])], [1, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual([...encodeBody("a(y)", [[]])], [0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it("round-trips nested values: dicts of variants, structs, arrays of arrays", () => {
    const cases: [string, unknown[]][] = [
      ["sa{sv}", [
        "nslink",
        new Map<string, Variant>([
          ["target", new Variant("s", "ACCEPT")],
          ["interfaces", new Variant("as", ["nsl0br", "nsl1br"])],
          ["forward", new Variant("b", true)],
          ["ports", new Variant("a(ss)", [["80", "tcp"], ["53", "udp"]])],
          ["nested", new Variant("v", new Variant("x", -(2n ** 63n)))],
        ]),
      ]],
      ["aai(yqd)", [[[1, 2], [], [-3]], [255, 65535, -0.25]]],
      ["a{ub}g", [new Map([[1, true], [4294967295, false]]), "a{sv}"]],
      ["ot", ["/", 18446744073709551615n]],
    ];
    for (const [sig, values] of cases) {
      assert.deepEqual(decodeBody(sig, encodeBody(sig, values)), values, sig);
    }
  });

  it("encodes a plain object as a string-keyed dict", () => {
    assert.deepEqual(
      encodeBody("a{sv}", [{ target: new Variant("s", "ACCEPT") }]),
      encodeBody("a{sv}", [new Map([["target", new Variant("s", "ACCEPT")]])]),
    );
  });

  it("refuses values that do not fit their type, naming the argument", () => {
    const bad: [string, unknown[], RegExp][] = [
      ["y", [256], /argument 0: 256 does not fit "y"/],
      ["u", [-1], /does not fit "u"/],
      ["i", [1.5], /does not fit "i"/],
      ["x", [2n ** 63n], /does not fit "x"/],
      ["t", [1], /expected a bigint/],
      ["s", ["a\0b"], /NUL/],
      ["o", ["no/slash"], /invalid object path/],
      ["v", ["plain"], /expected a Variant/],
      ["(ss)", [["one"]], /tuple of 2/],
      ["as", ["x"], /expected an array/],
      ["ss", ["only one"], /needs 2 values/],
    ];
    for (const [sig, values, re] of bad) {
      assert.throws(
        () => encodeBody(sig, values),
        (e) => e instanceof MarshalError && re.test(e.message),
        sig,
      );
    }
  });

  it("refuses malformed bytes: truncation, stray bytes, bad booleans, invalid UTF-8", () => {
    assert.throws(() => decodeBody("u", new Uint8Array([1, 0])), MarshalError);
    assert.throws(() => decodeBody("y", new Uint8Array([1, 2])), /stray/);
    assert.throws(() => decodeBody("b", new Uint8Array([2, 0, 0, 0])), /Invalid boolean/);
    assert.throws(() => decodeBody("s", new Uint8Array([1, 0, 0, 0, 0xff, 0])), /UTF-8/);
    assert.throws(() => decodeBody("s", new Uint8Array([1, 0, 0, 0, 0x41, 1])), /NUL/);
    assert.throws(() => decodeBody("as", new Uint8Array([9, 0, 0, 0, 0])), /runs past/);
  });
});

describe("D-Bus addresses and errors", () => {
  it("socketPaths() reads unix:path= and unix:abstract=, in order, skipping tcp", () => {
    assert.deepEqual(
      socketPaths(
        "tcp:host=127.0.0.1,port=1;unix:path=/run/dbus/system_bus_socket,guid=ab;unix:abstract=/tmp/x%20y",
      ),
      ["/run/dbus/system_bus_socket", "\0/tmp/x y"],
    );
    assert.deepEqual(socketPaths("nonsense"), []);
  });

  it("DBusError names the method, the object and the D-Bus error", () => {
    const e = new DBusError(
      "org.fedoraproject.FirewallD1.zone.addInterface",
      "/org/fedoraproject/FirewallD1",
      "org.fedoraproject.FirewallD1",
      "org.fedoraproject.FirewallD1.Exception",
      "ZONE_CONFLICT: nsl0br",
    );
    assert.equal(
      e.message,
      "org.fedoraproject.FirewallD1.zone.addInterface /org/fedoraproject/FirewallD1: " +
        "org.fedoraproject.FirewallD1.Exception: ZONE_CONFLICT: nsl0br",
    );
    assert.equal(e.name, "DBusError");
  });
});
