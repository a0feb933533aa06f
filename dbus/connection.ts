/**
 * {@linkcode DBusConnection}: a D-Bus client over a unix socket (`node:net`, which works in Deno
 * and Bun alike): `EXTERNAL` authentication with the process's uid, `Hello`, and method calls
 * whose replies resolve a promise and whose errors reject it with a {@linkcode DBusError} naming
 * the method, the object and the D-Bus error name. Signals are ignored; calls made to this
 * connection are answered with `org.freedesktop.DBus.Error.UnknownMethod`.
 *
 * Permissions under Deno: `--allow-read` and `--allow-write` for the socket's path, `--allow-net`
 * (a unix socket counts as net access for `node:net`), `--allow-sys=uid` (the login sends the
 * uid) and `--allow-env` (for `$DBUS_SYSTEM_BUS_ADDRESS`). Checked: the same code runs in Bun.
 *
 * @example Ask the system bus whether firewalld runs
 * ```ts ignore
 * import { DBusConnection } from "./connection.ts";
 * await using bus = await DBusConnection.connect(); // $DBUS_SYSTEM_BUS_ADDRESS or /run/dbus/…
 * const [has] = await bus.call({
 *   destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus",
 *   interface: "org.freedesktop.DBus", member: "NameHasOwner",
 *   signature: "s", body: ["org.fedoraproject.FirewallD1"],
 * });
 * ```
 *
 * @module
 */
import type { Socket } from "node:net";
import process from "node:process";
import { MarshalError } from "./marshal.ts";
import {
  type DBusMessage,
  decodeMessage,
  encodeMessage,
  FLAG_NO_REPLY_EXPECTED,
  MESSAGE_ERROR,
  MESSAGE_METHOD_CALL,
  MESSAGE_METHOD_RETURN,
  messageLength,
} from "./message.ts";

/** Where the system bus listens when `$DBUS_SYSTEM_BUS_ADDRESS` is not set. */
export const DEFAULT_SYSTEM_BUS_ADDRESS = "unix:path=/run/dbus/system_bus_socket";

/** How long a call waits for its reply by default (libdbus's default, 25 s). */
export const DEFAULT_CALL_TIMEOUT_MS = 25_000;

/**
 * A D-Bus error reply, or a call that got none (`org.freedesktop.DBus.Error.NoReply`,
 * `…Disconnected`). The message reads like
 * `DBusError: org.fedoraproject.FirewallD1.zone.addInterface /org/fedoraproject/FirewallD1:
 * org.fedoraproject.FirewallD1.Exception: ZONE_CONFLICT: nsl0br`.
 */
export class DBusError extends Error {
  /** The method, with its interface: `org.freedesktop.DBus.GetNameOwner`. */
  readonly method: string;
  /** The object path called. */
  readonly object: string;
  /** The destination called, e.g. `org.fedoraproject.FirewallD1`. */
  readonly destination: string;
  /** The D-Bus error name, e.g. `org.freedesktop.DBus.Error.NameHasNoOwner`. */
  readonly errorName: string;
  /** The error's own text (its first string argument), if any. */
  readonly detail: string;

  /**
   * Makes the error.
   *
   * @param method Interface and member.
   * @param object Object path.
   * @param destination Bus name called.
   * @param errorName The D-Bus error name.
   * @param detail The error's text.
   */
  constructor(
    method: string,
    object: string,
    destination: string,
    errorName: string,
    detail = "",
  ) {
    super(`${method} ${object}: ${errorName}${detail ? `: ${detail}` : ""}`);
    this.name = "DBusError";
    this.method = method;
    this.object = object;
    this.destination = destination;
    this.errorName = errorName;
    this.detail = detail;
  }
}

/** Raised when the bus cannot be reached or refuses to authenticate us. */
export class DBusConnectError extends Error {
  /** The address tried. */
  readonly address: string;
  /** The socket's error code (`ENOENT`, `ECONNREFUSED`, …), or `AUTH` for a refused login. */
  readonly code: string;

  /**
   * Makes the error.
   *
   * @param address The address.
   * @param code The error code.
   * @param message What happened.
   * @param cause The underlying error.
   */
  constructor(address: string, code: string, message: string, cause?: unknown) {
    super(`D-Bus connect "${address}": ${code} (${message})`, { cause });
    this.name = "DBusConnectError";
    this.address = address;
    this.code = code;
  }
}

/** Options of {@linkcode DBusConnection.connect}. */
export interface DBusConnectOptions {
  /**
   * A D-Bus address: `unix:path=…` or `unix:abstract=…`, several separated by `;` (tried in
   * order). Default: `$DBUS_SYSTEM_BUS_ADDRESS`, else {@linkcode DEFAULT_SYSTEM_BUS_ADDRESS}.
   */
  address?: string;
  /** The uid to authenticate as (`EXTERNAL`); default the process's. */
  uid?: number;
  /** How long to wait for the connection, the login and `Hello`; default 5 s. */
  timeoutMs?: number;
}

/** One method call. */
export interface DBusCall {
  /** Bus name, e.g. `org.fedoraproject.FirewallD1`. */
  destination: string;
  /** Object path. */
  path: string;
  /** Interface. */
  interface: string;
  /** Method. */
  member: string;
  /** Arguments' signature; default none. */
  signature?: string;
  /** Arguments. */
  body?: readonly unknown[];
  /** How long to wait for the reply; default {@linkcode DEFAULT_CALL_TIMEOUT_MS}. */
  timeoutMs?: number;
}

interface Pending {
  call: DBusCall;
  resolve: (body: unknown[]) => void;
  reject: (e: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/**
 * The system bus's address: `$DBUS_SYSTEM_BUS_ADDRESS`, else
 * {@linkcode DEFAULT_SYSTEM_BUS_ADDRESS}.
 *
 * @example
 * ```ts
 * import { systemBusAddress } from "./connection.ts";
 * systemBusAddress(); // "unix:path=/run/dbus/system_bus_socket"
 * ```
 * @returns The address.
 */
export function systemBusAddress(): string {
  const env = process.env.DBUS_SYSTEM_BUS_ADDRESS;
  return env !== undefined && env !== "" ? env : DEFAULT_SYSTEM_BUS_ADDRESS;
}

/**
 * The socket paths of a D-Bus address, in order (abstract names start with NUL). Transports
 * other than `unix` (such as `tcp:`) are left out.
 *
 * @example
 * ```ts
 * import { socketPaths } from "./connection.ts";
 * socketPaths("unix:path=/run/dbus/system_bus_socket"); // ["/run/dbus/system_bus_socket"]
 * ```
 * @param address The address.
 * @returns The paths.
 */
export function socketPaths(address: string): string[] {
  const out: string[] = [];
  for (const entry of address.split(";")) {
    const colon = entry.indexOf(":");
    if (colon < 0 || entry.slice(0, colon) !== "unix") continue;
    const kv = new Map(
      entry.slice(colon + 1).split(",").filter((s) => s.includes("=")).map((s) => {
        const i = s.indexOf("=");
        return [s.slice(0, i), decodeURIComponent(s.slice(i + 1))] as const;
      }),
    );
    const path = kv.get("path");
    const abstract = kv.get("abstract");
    if (path !== undefined) out.push(path);
    else if (abstract !== undefined) out.push("\0" + abstract);
  }
  return out;
}

/**
 * A connection to a message bus. Calls may overlap; each reply is matched by its serial.
 * Close it with `close()` or `await using`.
 */
export class DBusConnection implements AsyncDisposable {
  #sock: Socket;
  #serial = 0;
  #pending = new Map<number, Pending>();
  #buf: Uint8Array = new Uint8Array(0);
  #closed = false;
  #uniqueName = "";
  #address: string;

  private constructor(sock: Socket, address: string) {
    this.#sock = sock;
    this.#address = address;
  }

  /**
   * Connects, authenticates (`EXTERNAL`) and says `Hello`.
   *
   * @example
   * ```ts ignore
   * await using bus = await DBusConnection.connect({ address: "unix:path=/run/dbus/system_bus_socket" });
   * bus.uniqueName; // ":1.42"
   * ```
   * @param options Address, uid, timeout.
   * @returns The connection.
   */
  static async connect(options: DBusConnectOptions = {}): Promise<DBusConnection> {
    const address = options.address ?? systemBusAddress();
    const paths = socketPaths(address);
    if (paths.length === 0) {
      throw new DBusConnectError(address, "EINVAL", "no unix:path= or unix:abstract= in it");
    }
    const uid = options.uid ?? (typeof process.getuid === "function" ? process.getuid() : 0);
    const timeoutMs = options.timeoutMs ?? 5000;
    let last: unknown;
    for (const path of paths) {
      let sock: Socket | undefined;
      try {
        sock = await open(path, address, timeoutMs);
        const rest = await authenticate(sock, address, uid, timeoutMs);
        const conn = new DBusConnection(sock, address);
        conn.#start(rest);
        const [name] = await conn.call({
          destination: "org.freedesktop.DBus",
          path: "/org/freedesktop/DBus",
          interface: "org.freedesktop.DBus",
          member: "Hello",
          timeoutMs,
        });
        conn.#uniqueName = String(name);
        return conn;
      } catch (e) {
        sock?.destroy();
        last = e;
      }
    }
    throw last;
  }

  /** This connection's unique name on the bus (e.g. `:1.42`), given by `Hello`. */
  get uniqueName(): string {
    return this.#uniqueName;
  }

  /** Whether the connection is closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Calls a method and resolves with the reply's values (one per complete type of its
   * signature). An error reply rejects with a {@linkcode DBusError}.
   *
   * @example
   * ```ts ignore
   * const [owner] = await bus.call({
   *   destination: "org.freedesktop.DBus", path: "/org/freedesktop/DBus",
   *   interface: "org.freedesktop.DBus", member: "GetNameOwner",
   *   signature: "s", body: ["org.fedoraproject.FirewallD1"],
   * });
   * ```
   * @param call What to call.
   * @returns The reply's values.
   */
  call(call: DBusCall): Promise<unknown[]> {
    const method = `${call.interface}.${call.member}`;
    if (this.#closed) {
      return Promise.reject(
        new DBusError(
          method,
          call.path,
          call.destination,
          "org.freedesktop.DBus.Error.Disconnected",
          "connection closed",
        ),
      );
    }
    const serial = this.#nextSerial();
    let bytes: Uint8Array;
    try {
      bytes = encodeMessage({
        type: MESSAGE_METHOD_CALL,
        serial,
        path: call.path,
        interface: call.interface,
        member: call.member,
        destination: call.destination,
        signature: call.signature ?? "",
        body: call.body ?? [],
      });
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise<unknown[]>((resolve, reject) => {
      const ms = call.timeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
      const timer = setTimeout(() => {
        this.#pending.delete(serial);
        reject(
          new DBusError(
            method,
            call.path,
            call.destination,
            "org.freedesktop.DBus.Error.NoReply",
            `no reply within ${ms} ms`,
          ),
        );
      }, ms);
      this.#pending.set(serial, { call, resolve, reject, timer });
      this.#sock.write(bytes);
    });
  }

  /** Closes the socket; pending calls reject with `…Error.Disconnected`. Safe to call twice. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#sock.destroy();
    this.#failAll("connection closed");
  }

  /** Closes the connection (for `await using`). @returns A settled promise. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }

  #nextSerial(): number {
    this.#serial = this.#serial >= 0xffffffff ? 1 : this.#serial + 1;
    return this.#serial;
  }

  #failAll(why: string): void {
    for (const [serial, p] of this.#pending) {
      clearTimeout(p.timer);
      this.#pending.delete(serial);
      p.reject(
        new DBusError(
          `${p.call.interface}.${p.call.member}`,
          p.call.path,
          p.call.destination,
          "org.freedesktop.DBus.Error.Disconnected",
          why,
        ),
      );
    }
  }

  #start(rest: Uint8Array): void {
    this.#sock.on("data", (chunk: Uint8Array) => this.#onData(chunk));
    this.#sock.on("close", () => {
      this.#closed = true;
      this.#failAll(`the bus at "${this.#address}" closed the connection`);
    });
    this.#sock.on("error", () => {/* "close" follows */});
    if (rest.byteLength > 0) this.#onData(rest);
  }

  #onData(chunk: Uint8Array): void {
    if (this.#buf.byteLength === 0) this.#buf = chunk;
    else {
      const joined = new Uint8Array(this.#buf.byteLength + chunk.byteLength);
      joined.set(this.#buf);
      joined.set(chunk, this.#buf.byteLength);
      this.#buf = joined;
    }
    for (;;) {
      let n: number | undefined;
      let m: DBusMessage;
      try {
        n = messageLength(this.#buf);
        if (n === undefined || this.#buf.byteLength < n) return;
        m = decodeMessage(this.#buf.subarray(0, n));
      } catch (e) {
        // A malformed message: the stream cannot be resynchronised.
        this.close();
        if (e instanceof MarshalError) return;
        throw e;
      }
      this.#buf = this.#buf.subarray(n);
      this.#dispatch(m);
    }
  }

  #dispatch(m: DBusMessage): void {
    if (m.type === MESSAGE_METHOD_RETURN || m.type === MESSAGE_ERROR) {
      const p = m.replySerial === undefined ? undefined : this.#pending.get(m.replySerial);
      if (p === undefined) return;
      this.#pending.delete(m.replySerial!);
      clearTimeout(p.timer);
      if (m.type === MESSAGE_METHOD_RETURN) p.resolve([...(m.body ?? [])]);
      else {
        const text = typeof m.body?.[0] === "string" ? m.body[0] as string : "";
        p.reject(
          new DBusError(
            `${p.call.interface}.${p.call.member}`,
            p.call.path,
            p.call.destination,
            m.errorName ?? "org.freedesktop.DBus.Error.Failed",
            text,
          ),
        );
      }
      return;
    }
    if (m.type === MESSAGE_METHOD_CALL && !((m.flags ?? 0) & FLAG_NO_REPLY_EXPECTED)) {
      this.#sock.write(encodeMessage({
        type: MESSAGE_ERROR,
        flags: FLAG_NO_REPLY_EXPECTED,
        serial: this.#nextSerial(),
        replySerial: m.serial,
        ...(m.sender !== undefined ? { destination: m.sender } : {}),
        errorName: "org.freedesktop.DBus.Error.UnknownMethod",
        signature: "s",
        body: [`nslink's D-Bus client exports no objects (${m.interface}.${m.member})`],
      }));
    }
  }
}

function open(path: string, address: string, timeoutMs: number): Promise<Socket> {
  return new Promise<Socket>((resolve, reject) => {
    // node:net is loaded on first use: a CNI exec that never needs it does not pay for loading it.
    const net = process.getBuiltinModule("node:net") as typeof import("node:net");
    const sock = net.createConnection({ path });
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new DBusConnectError(address, "ETIMEDOUT", `no connection within ${timeoutMs} ms`));
    }, timeoutMs);
    sock.once("connect", () => {
      clearTimeout(timer);
      sock.removeAllListeners("error");
      resolve(sock);
    });
    sock.once("error", (e: Error & { code?: string }) => {
      clearTimeout(timer);
      reject(new DBusConnectError(address, e.code ?? "EIO", e.message, e));
    });
  });
}

/**
 * The `EXTERNAL` login: a NUL byte, `AUTH EXTERNAL <uid as hex of its decimal digits>`, `OK
 * <guid>` back, then `BEGIN`. Returns whatever came after the `OK` line.
 */
function authenticate(
  sock: Socket,
  address: string,
  uid: number,
  timeoutMs: number,
): Promise<Uint8Array> {
  const hex = Array.from(String(uid), (c) => c.charCodeAt(0).toString(16).padStart(2, "0"))
    .join("");
  return new Promise<Uint8Array>((resolve, reject) => {
    let got = new Uint8Array(0);
    const done = (e?: Error, rest?: Uint8Array) => {
      clearTimeout(timer);
      sock.removeListener("data", onData);
      sock.removeListener("error", onError);
      sock.removeListener("close", onClose);
      if (e) reject(e);
      else resolve(rest!);
    };
    const timer = setTimeout(
      () => done(new DBusConnectError(address, "ETIMEDOUT", `no login within ${timeoutMs} ms`)),
      timeoutMs,
    );
    const onError = (e: Error & { code?: string }) =>
      done(new DBusConnectError(address, e.code ?? "EIO", e.message, e));
    const onClose = () =>
      done(new DBusConnectError(address, "ECONNRESET", "the bus closed the connection at login"));
    const onData = (chunk: Uint8Array) => {
      const joined = new Uint8Array(got.byteLength + chunk.byteLength);
      joined.set(got);
      joined.set(chunk, got.byteLength);
      got = joined;
      const eol = got.findIndex((b, i) => b === 0x0d && got[i + 1] === 0x0a);
      if (eol < 0) {
        if (got.byteLength > 4096) done(new DBusConnectError(address, "AUTH", "no reply line"));
        return;
      }
      const line = new TextDecoder().decode(got.subarray(0, eol));
      if (!line.startsWith("OK ")) {
        done(new DBusConnectError(address, "AUTH", `EXTERNAL as uid ${uid} refused: "${line}"`));
        return;
      }
      sock.write("BEGIN\r\n");
      done(undefined, got.slice(eol + 2));
    };
    sock.on("data", onData);
    sock.once("error", onError);
    sock.once("close", onClose);
    sock.write(new Uint8Array([0]));
    sock.write(`AUTH EXTERNAL ${hex}\r\n`);
  });
}
