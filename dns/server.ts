/**
 * nslink's DNS server: UDP and TCP listeners on given addresses (a network's gateways, port 53),
 * answering from a {@linkcode NameTable} through the pure {@linkcode resolve}, and forwarding
 * every other name upstream. Built on `node:dgram` and `node:net`, so the same code runs on Deno
 * (`--allow-net`) and Bun.
 *
 * - The table is swapped with {@linkcode DnsServer.table}: a reference swap; every query is
 *   answered from the table current when it arrives, so no query is dropped or half-answered.
 * - Forwarding: the scope's upstreams, else the server's defaults (the host's resolv.conf), at
 *   most 3, tried in order, each for {@linkcode DnsServerOptions.upstreamTimeoutMs} (1.5 s, so
 *   the fallback comes before a client's own 5 s timeout); a SERVFAIL or REFUSED answer, an
 *   error or a timeout means the next one; when none answers, SERVFAIL. Over UDP each query
 *   goes from one of up to 16 sockets per upstream on random ports (each replaced after 256
 *   queries) with a fresh random ID, and only an answer to the same question, from the
 *   upstream's address and port (checked on every datagram: see {@linkcode fromUpstream}), with
 *   that ID is taken (anything else is ignored, a forgery perhaps). Queries in
 *   flight are capped ({@linkcode DnsServerOptions.maxInFlight}); above it, new ones are dropped
 *   (the client retries). UDP queries are forwarded over UDP, TCP ones over TCP.
 * - TCP: two-byte length prefix, several queries per connection (answered as they complete,
 *   RFC 7766), idle connections closed after {@linkcode DnsServerOptions.tcpIdleMs}; a frame too
 *   short to be a message, or a client that does not read its answers, closes that connection
 *   only. Every connection is its own event-driven state: a slow one never stalls the others.
 *
 * @example Serve one network's names on its gateway
 * ```ts ignore
 * import { DnsServer } from "./server.ts";
 * import { NameTable } from "./resolver.ts";
 * const server = await DnsServer.start({
 *   addresses: ["198.51.100.1"],
 *   table: new NameTable([{ name: "blue", subnets: ["198.51.100.0/24"],
 *     containers: [{ name: "web", ipv4: ["198.51.100.2"] }] }]),
 *   upstreams: ["203.0.113.53"],
 * });
 * // later: server.table = new NameTable(...); await server.close();
 * ```
 *
 * @module
 */

import dgram from "node:dgram";
import net from "node:net";
import { DnsDecodeError } from "./errors.ts";
import { decodeMessage, type DnsMessage, RCODE, typeCode } from "./message.ts";
import { parseIP } from "../net/ip.ts";
import {
  failureResponse,
  MAX_UPSTREAMS,
  type NameTable,
  type Resolution,
  resolve,
} from "./resolver.ts";

/** Options of {@linkcode DnsServer.start}. */
export interface DnsServerOptions {
  /** The names to answer. */
  table: NameTable;
  /** The addresses to listen on (IPv4 or IPv6), UDP and TCP. */
  addresses?: readonly string[];
  /** The port; default 53. 0 picks a free one per address (see {@linkcode DnsServer.ports}). */
  port?: number;
  /**
   * The upstreams for networks that name none (the host's resolv.conf nameservers): `IP` or
   * `IP#PORT`; the first 3 are used.
   */
  upstreams?: readonly string[];
  /** How long one upstream gets to answer, in ms; default 1500. */
  upstreamTimeoutMs?: number;
  /** The most forwarded queries in flight; default 1024. */
  maxInFlight?: number;
  /** How long an idle TCP connection stays open, in ms; default 5000. */
  tcpIdleMs?: number;
  /** The most TCP connections at once (per address); default 256. */
  maxTcpConnections?: number;
  /**
   * Called before every query is resolved, synchronously: the place to bring
   * {@linkcode DnsServer.table} up to date (nslink's agent drains its inotify fd here, so an
   * answer always reflects the state as it is when the query arrives). An exception is counted
   * as an error and the query is answered from the table as it is.
   */
  beforeQuery?: () => void;
  /**
   * Makes the UDP sockets instead of `node:dgram` (nslink's agent passes a batched FFI socket
   * under Deno, where `node:dgram` is the slower path).
   */
  udpListener?: UdpListenerFactory;
  /**
   * Makes the sockets that forward to upstreams, instead of `udpListener`'s `upstream` or
   * `node:dgram`.
   */
  upstreamSocket?: UpstreamSocketFactory;
}

/** A bound UDP socket the server answers on; see {@linkcode DnsServerOptions.udpListener}. */
export interface UdpListener {
  /** The bound port. */
  readonly port: number;
  /** Closes it; resolves once it is closed. */
  close(): Promise<void>;
}

/** What a {@linkcode UdpListener} calls for each datagram. */
export interface UdpHandlers {
  /** One datagram from `source` (an IP address); `reply` sends an answer back to it. */
  message(msg: Uint8Array, source: string, reply: (answer: Uint8Array) => void): void;
  /** A socket error, survived. */
  error(): void;
}

/**
 * Binds a UDP listener on `address`:`port` (0: a free port).
 *
 * @throws {Error} With the errno `code` (`EADDRINUSE`, …) when it cannot bind.
 */
export type UdpListenerFactory =
  & ((
    address: string,
    port: number,
    handlers: UdpHandlers,
  ) => Promise<UdpListener>)
  & {
    /**
     * The upstream sockets that go with these listeners (forwarded queries then take the same
     * path as the answers), used unless {@linkcode DnsServerOptions.upstreamSocket} names others.
     */
    upstream?: UpstreamSocketFactory;
  };

/**
 * One UDP socket that forwards queries to one upstream, on a port the kernel picked at random.
 * It takes only datagrams from the upstream's address and port.
 */
export interface UpstreamSocket {
  /** Sends one query; calls `failed` (now or later) when it could not be sent. */
  send(msg: Uint8Array, failed: () => void): void;
  /** Closes it; nothing is delivered afterwards. */
  close(): void;
}

/** What an {@linkcode UpstreamSocket} calls. */
export interface UpstreamHandlers {
  /** A datagram from the upstream (the handler may keep it). */
  message(reply: Uint8Array): void;
  /** The upstream cannot be reached (ICMP unreachable where reported) or the socket failed. */
  error(): void;
}

/**
 * Opens an {@linkcode UpstreamSocket} to `address`:`port`.
 *
 * @throws {Error} When no socket can be made.
 */
export type UpstreamSocketFactory = (
  address: string,
  port: number,
  handlers: UpstreamHandlers,
) => UpstreamSocket;

/** An address's bytes, without an IPv6 zone (`%eth0`); `undefined` when it is not one. */
const ipBytes = (text: string) => parseIP(text.replace(/%.*$/, ""));

/**
 * Whether a datagram's source is `address`:`port` (the same address however it is written).
 *
 * @example
 * ```ts
 * import { fromUpstream } from "./server.ts";
 * fromUpstream({ address: "2001:db8:0::53", port: 53 }, "2001:db8::53", 53); // true
 * fromUpstream({ address: "198.51.100.54", port: 53 }, "198.51.100.53", 53); // false
 * ```
 * @param source The datagram's source (`node:dgram`'s `rinfo`).
 * @param address The upstream's address.
 * @param port The upstream's port.
 * @returns `true` when they match.
 */
export function fromUpstream(
  source: { address: string; port: number },
  address: string,
  port: number,
): boolean {
  if (source.port !== port) return false;
  if (source.address === address) return true;
  const a = ipBytes(source.address);
  const b = ipBytes(address);
  return a !== undefined && b !== undefined && a.length === b.length &&
    a.every((x, i) => x === b[i]);
}

/**
 * The default: a `node:dgram` socket connected to the upstream. Each datagram's source is checked
 * too: Deno's `node:dgram` emulates `connect()` and delivers datagrams from anyone (Bun's is the
 * kernel's, which drops them), so an answer forged from another address or port would be taken.
 */
const nodeUpstreamSocket: UpstreamSocketFactory = (address, port, handlers) => {
  const socket = dgram.createSocket(net.isIPv6(address) ? "udp6" : "udp4");
  let connected = false;
  let closed = false;
  let queued: [Uint8Array, () => void][] = [];
  const sendNow = (msg: Uint8Array, failed: () => void) => {
    try {
      socket.send(msg, (err) => {
        if (err) failed();
      });
    } catch {
      failed(); // closed meanwhile
    }
  };
  socket.on("message", (m, source) => {
    if (fromUpstream(source, address, port)) handlers.message(new Uint8Array(m));
  });
  // ICMP unreachable (ECONNREFUSED, on Bun).
  socket.on("error", () => handlers.error());
  try {
    socket.connect(port, address, () => {
      connected = true;
      const q = queued;
      queued = [];
      for (const [msg, failed] of q) closed ? failed() : sendNow(msg, failed);
    });
  } catch {
    closed = true;
  }
  return {
    send(msg, failed) {
      if (closed) return failed();
      if (!connected) queued.push([msg, failed]);
      else sendNow(msg, failed);
    },
    close() {
      if (closed) return;
      closed = true;
      for (const [, failed] of queued) failed();
      queued = [];
      try {
        socket.close();
      } catch { /* already closed */ }
    },
  };
};

/**
 * The receive buffer the server's UDP sockets ask for, in bytes (`SO_RCVBUF`; the FFI listener
 * uses `SO_RCVBUFFORCE` when it may, past `net.core.rmem_max`): room for a burst of about
 * 5,000 queries arriving before the server reads any, where the kernel's default (212992 bytes)
 * holds about 270.
 *
 * @example
 * ```ts ignore
 * udp.setRecvBufferSize(UDP_RECEIVE_BUFFER); // 4194304
 * ```
 */
export const UDP_RECEIVE_BUFFER = 4 << 20;

/** The default: `node:dgram`. */
const nodeUdpListener: UdpListenerFactory = async (address, port, handlers) => {
  const udp = dgram.createSocket(net.isIP(address) === 6 ? "udp6" : "udp4");
  await new Promise<void>((ok, fail) => {
    udp.once("error", (e) => {
      try {
        udp.close();
      } catch { /* not bound */ }
      fail(e);
    });
    udp.bind({ address, port }, () => {
      udp.removeAllListeners("error");
      ok();
    });
  });
  // Capped by net.core.rmem_max (node:dgram has no SO_RCVBUFFORCE). Not under Deno, whose
  // node:dgram then loses forwarded answers (and takes 256 of a burst whatever the buffer):
  // Deno's agent uses the FFI listener, which asks for it itself.
  if (!("Deno" in globalThis) || "Bun" in globalThis) {
    try {
      udp.setRecvBufferSize(UDP_RECEIVE_BUFFER);
    } catch { /* the default buffer: a burst may lose queries, never the socket */ }
  }
  udp.on("error", () => handlers.error());
  udp.on("message", (msg, rinfo) =>
    handlers.message(msg, rinfo.address, (reply) => {
      try {
        udp.send(reply, rinfo.port, rinfo.address, (err) => {
          if (err) handlers.error();
        });
      } catch {
        // The socket was closed (unlisten, close) while the answer was being forwarded.
        handlers.error();
      }
    }));
  return {
    port: udp.address().port,
    close: () => new Promise<void>((ok) => udp.close(() => ok())),
  };
};

/** Counters of what the server did. */
export interface DnsServerStats {
  /** Queries answered from the table (including FORMERR, REFUSED, …). */
  answered: number;
  /** Queries forwarded and answered by an upstream. */
  forwarded: number;
  /** Queries for which no upstream answered (answered SERVFAIL). */
  failed: number;
  /** Queries dropped (malformed headers, responses, over the in-flight cap). */
  dropped: number;
  /** Socket errors seen (and survived). */
  errors: number;
}

interface Listener {
  udp: UdpListener;
  tcp: net.Server;
  connections: Set<net.Socket>;
}

interface Upstream {
  address: string;
  port: number;
}

/**
 * Parses an upstream written `IP`, `IP#PORT` (dnsmasq's spelling) or `[IPv6]:PORT`.
 *
 * @example
 * ```ts
 * import { parseUpstream } from "./server.ts";
 * parseUpstream("203.0.113.53#5353"); // { address: "203.0.113.53", port: 5353 }
 * ```
 * @param text The upstream.
 * @returns Its address and port (53 by default).
 * @throws {TypeError} When it does not parse.
 */
export function parseUpstream(text: string): { address: string; port: number } {
  let address = text;
  let port = 53;
  const hash = text.lastIndexOf("#");
  const bracket = /^\[([^\]]+)\]:(\d+)$/.exec(text);
  if (bracket) {
    address = bracket[1];
    port = Number(bracket[2]);
  } else if (hash > 0) {
    address = text.slice(0, hash);
    port = Number(text.slice(hash + 1));
  }
  if (net.isIP(address) === 0 || !Number.isInteger(port) || port < 1 || port > 65535) {
    throw new TypeError(`Invalid DNS upstream "${text}": expected IP, IP#PORT or [IPv6]:PORT`);
  }
  return { address, port };
}

/**
 * The nameservers of a resolv.conf text, in order (at most 3, as the C library takes).
 *
 * @example
 * ```ts
 * import { parseResolvConf } from "./server.ts";
 * parseResolvConf("search x\nnameserver 127.0.0.53\n"); // ["127.0.0.53"]
 * ```
 * @param text The file's text.
 * @returns The nameserver addresses.
 */
export function parseResolvConf(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split("\n")) {
    const m = /^\s*nameserver\s+(\S+)/.exec(line);
    if (!m) continue;
    // A link-local address keeps its zone index (fe80::1%eth0): the socket needs it.
    if (net.isIP(m[1]) !== 0 && out.length < MAX_UPSTREAMS) out.push(m[1]);
  }
  return out;
}

/**
 * A running DNS server. Make one with {@linkcode DnsServer.start}; release it with
 * {@linkcode DnsServer.close} (or `await using`).
 */
export class DnsServer {
  /** The names answered; assign a new table to swap it atomically. */
  table: NameTable;
  /** The default upstreams. */
  upstreams: readonly string[];
  /** What the server did so far. */
  readonly stats: DnsServerStats = { answered: 0, forwarded: 0, failed: 0, dropped: 0, errors: 0 };
  readonly #port: number;
  readonly #timeout: number;
  readonly #maxInFlight: number;
  readonly #idle: number;
  readonly #maxTcp: number;
  readonly #beforeQuery: (() => void) | undefined;
  readonly #udpFactory: UdpListenerFactory;
  readonly #upstreamFactory: UpstreamSocketFactory;
  readonly #listeners = new Map<string, Listener>();
  readonly #pools = new Map<string, UdpUpstream>();
  /** Upstream texts parsed once (`null`: not an upstream, skipped). */
  readonly #parsed = new Map<string, Upstream | null>();
  #inFlight = 0;
  #closed = false;

  private constructor(options: DnsServerOptions) {
    this.table = options.table;
    this.upstreams = options.upstreams ?? [];
    this.#port = options.port ?? 53;
    this.#timeout = options.upstreamTimeoutMs ?? 1500;
    this.#maxInFlight = options.maxInFlight ?? 1024;
    this.#idle = options.tcpIdleMs ?? 5000;
    this.#maxTcp = options.maxTcpConnections ?? 256;
    this.#beforeQuery = options.beforeQuery;
    this.#udpFactory = options.udpListener ?? nodeUdpListener;
    this.#upstreamFactory = options.upstreamSocket ?? options.udpListener?.upstream ??
      nodeUpstreamSocket;
    for (const u of this.upstreams) parseUpstream(u);
  }

  /**
   * Starts a server listening on every address given, and returns once all its sockets are
   * bound.
   *
   * @example
   * ```ts ignore
   * const s = await DnsServer.start({ table, addresses: ["198.51.100.1"], port: 53 });
   * ```
   * @param options The table, addresses, port, upstreams and limits.
   * @returns The server.
   * @throws {Error} When a socket cannot be bound (`EADDRINUSE`, `EADDRNOTAVAIL`), after
   *   closing what was bound.
   */
  static async start(options: DnsServerOptions): Promise<DnsServer> {
    const s = new DnsServer(options);
    try {
      for (const a of options.addresses ?? []) await s.listen(a);
    } catch (e) {
      await s.close();
      throw e;
    }
    return s;
  }

  /** The number of forwarded queries waiting for an upstream. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * The addresses listened on, with their bound UDP and TCP ports.
   *
   * @returns One entry per address.
   */
  ports(): { address: string; udp: number; tcp: number }[] {
    return [...this.#listeners].map(([address, l]) => ({
      address,
      udp: l.udp.port,
      tcp: (l.tcp.address() as net.AddressInfo).port,
    }));
  }

  /**
   * Starts listening on one more address (UDP and TCP); a no-op when already listening there.
   *
   * @param address An IPv4 or IPv6 address of the host (a network's gateway).
   * @throws {Error} When it cannot be bound, naming the address and the error code.
   */
  async listen(address: string): Promise<void> {
    if (this.#closed) throw new Error(`DNS server: listen "${address}": the server is closed`);
    if (this.#listeners.has(address)) return;
    const family = net.isIP(address);
    if (family === 0) throw new TypeError(`DNS server: listen "${address}": not an IP address`);
    const connections = new Set<net.Socket>();
    const tcp = net.createServer((c) => this.#onConnection(c, connections));
    tcp.maxConnections = this.#maxTcp;
    let udp: UdpListener | undefined;
    try {
      udp = await this.#udpFactory(address, this.#port, {
        message: (msg, source, reply) => this.#handle(msg, source, "udp", reply),
        error: () => this.stats.errors++,
      });
      const port = this.#port === 0 ? udp.port : this.#port;
      await new Promise<void>((ok, fail) => {
        tcp.once("error", fail);
        tcp.listen({ host: address, port }, () => {
          tcp.off("error", fail);
          ok();
        });
      });
    } catch (e) {
      await udp?.close();
      tcp.close();
      const code = (e as NodeJS.ErrnoException).code ?? "";
      throw new Error(`DNS server: bind "${address}" port ${this.#port}: ${code}`, { cause: e });
    }
    tcp.on("error", () => this.stats.errors++);
    this.#listeners.set(address, { udp, tcp, connections });
  }

  /**
   * Stops listening on an address, closing its sockets and TCP connections.
   *
   * @param address An address given to {@linkcode DnsServer.listen}.
   */
  async unlisten(address: string): Promise<void> {
    const l = this.#listeners.get(address);
    if (!l) return;
    this.#listeners.delete(address);
    for (const c of l.connections) c.destroy();
    await Promise.all([
      l.udp.close(),
      new Promise<void>((ok) => l.tcp.close(() => ok())),
    ]);
  }

  /** Closes every socket; safe to call twice. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const p of this.#pools.values()) p.close();
    this.#pools.clear();
    await Promise.all([...this.#listeners.keys()].map((a) => this.unlisten(a)));
  }

  /** Closes the server (`await using`). */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }

  #onConnection(c: net.Socket, connections: Set<net.Socket>): void {
    connections.add(c);
    c.setNoDelay(true);
    c.setTimeout(this.#idle, () => c.destroy());
    c.on("error", () => this.stats.errors++);
    c.on("close", () => connections.delete(c));
    const source = c.remoteAddress ?? "";
    // Chunks are kept as they come and joined once per frame (never re-copied per chunk), and
    // a frame must be complete within the idle time of its first byte: each byte resets the
    // idle timer, so without this a client trickling a frame would hold its slot for ever.
    const chunks: Uint8Array[] = [];
    let have = 0;
    let frameStart = 0;
    const take = (n: number): Uint8Array => {
      const out = new Uint8Array(n);
      let off = 0;
      while (off < n) {
        const head = chunks[0];
        const k = Math.min(head.length, n - off);
        out.set(head.subarray(0, k), off);
        off += k;
        if (k === head.length) chunks.shift();
        else chunks[0] = head.subarray(k);
      }
      have -= n;
      return out;
    };
    const peek16 = (): number => {
      const a = chunks[0];
      return a.length >= 2 ? (a[0] << 8) | a[1] : (a[0] << 8) | chunks[1][0];
    };
    c.on("data", (chunk: Uint8Array) => {
      if (have === 0) frameStart = Date.now();
      else if (Date.now() - frameStart > this.#idle) {
        this.stats.dropped++;
        c.destroy();
        return;
      }
      chunks.push(chunk);
      have += chunk.length;
      while (have >= 2) {
        const len = peek16();
        if (len < 12) {
          // Too short to be a message: this connection is not speaking DNS.
          this.stats.dropped++;
          c.destroy();
          return;
        }
        if (have < 2 + len) break;
        take(2);
        const frame = take(len);
        frameStart = Date.now();
        this.#handle(frame, source, "tcp", (reply) => {
          if (c.destroyed) return;
          // A client that does not read its answers loses its connection, nobody else's.
          if (c.writableLength > 256 * 1024) {
            c.destroy();
            return;
          }
          const out = new Uint8Array(2 + reply.length);
          out[0] = reply.length >> 8;
          out[1] = reply.length & 0xff;
          out.set(reply, 2);
          c.write(out);
        });
      }
    });
  }

  #handle(
    msg: Uint8Array,
    source: string,
    transport: "udp" | "tcp",
    send: (reply: Uint8Array) => void,
  ): void {
    if (this.#beforeQuery) {
      try {
        this.#beforeQuery();
      } catch {
        this.stats.errors++;
      }
    }
    // A table swap between here and the answer cannot matter: resolve() reads it once.
    let r: Resolution;
    try {
      r = resolve(this.table, msg, { source, transport });
    } catch {
      // resolve() never throws (the fuzz test says so); if it ever did, one query is lost.
      this.stats.errors++;
      return;
    }
    if (r.action === "drop") {
      this.stats.dropped++;
      return;
    }
    if (r.action === "answer") {
      this.stats.answered++;
      send(r.response);
      return;
    }
    if (this.#inFlight >= this.#maxInFlight) {
      this.stats.dropped++;
      return;
    }
    const upstreams = (r.upstreams.length > 0 ? r.upstreams : this.upstreams).slice(
      0,
      MAX_UPSTREAMS,
    );
    this.#inFlight++;
    this.#forward(msg, r.query, upstreams, transport).then((reply) => {
      if (this.#closed) return;
      if (reply) {
        this.stats.forwarded++;
        send(reply);
      } else {
        this.stats.failed++;
        send(failureResponse(r.query, RCODE.SERVFAIL));
      }
    }).catch(() => this.stats.errors++).finally(() => this.#inFlight--);
  }

  async #forward(
    msg: Uint8Array,
    query: DnsMessage,
    upstreams: readonly string[],
    transport: "udp" | "tcp",
  ): Promise<Uint8Array | undefined> {
    for (const text of upstreams) {
      if (this.#closed) return undefined;
      let up = this.#parsed.get(text);
      if (up === undefined) {
        try {
          up = parseUpstream(text);
        } catch {
          up = null;
        }
        if (this.#parsed.size > 256) this.#parsed.clear(); // upstreams come from networks' options
        this.#parsed.set(text, up);
      }
      if (up === null) continue;
      const out = Uint8Array.from(msg); // a copy (Buffer#slice would share the bytes)
      let reply: Uint8Array | undefined;
      if (transport === "udp") {
        let pool = this.#pools.get(text);
        if (!pool) {
          this.#pools.set(
            text,
            pool = new UdpUpstream(up, this.#upstreamFactory, () => this.stats.errors++),
          );
        }
        reply = await pool.ask(out, this.#timeout, (b, id) => this.#verdict(b, id, query));
      } else {
        const id = random16();
        out[0] = id >> 8;
        out[1] = id & 0xff;
        reply = await this.#askTcp(up, out, id, query);
      }
      if (reply) {
        reply[0] = query.id >> 8;
        reply[1] = query.id & 0xff;
        return reply;
      }
    }
    return undefined;
  }

  /**
   * What an upstream's datagram is to us: `"answer"` (to our question, usable), `"fail"` (to our
   * question, SERVFAIL or REFUSED: try the next upstream) or `"ignore"` (malformed, another ID,
   * another question: perhaps a forgery, or a late answer to an earlier query).
   */
  #verdict(reply: Uint8Array, id: number, query: DnsMessage): Verdict {
    let m: DnsMessage;
    try {
      m = decodeMessage(reply);
    } catch (e) {
      if (e instanceof DnsDecodeError) return "ignore";
      throw e;
    }
    if (!m.qr || m.id !== id || m.questions.length !== 1) return "ignore";
    const a = m.questions[0];
    const q = query.questions[0];
    if (
      a.name.toLowerCase() !== q.name.toLowerCase() || typeCode(a.type) !== typeCode(q.type) ||
      a.class !== q.class
    ) return "ignore";
    return m.rcode === RCODE.SERVFAIL || m.rcode === RCODE.REFUSED ? "fail" : "answer";
  }

  #askTcp(up: Upstream, out: Uint8Array, id: number, query: DnsMessage) {
    return new Promise<Uint8Array | undefined>((done) => {
      let finished = false;
      let buf = new Uint8Array(0);
      const c = net.connect({ host: up.address, port: up.port });
      const finish = (v: Uint8Array | undefined) => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        c.destroy();
        done(v);
      };
      const timer = setTimeout(() => finish(undefined), this.#timeout);
      c.on("error", () => finish(undefined));
      c.on("close", () => finish(undefined));
      c.on("connect", () => {
        const framed = new Uint8Array(2 + out.length);
        framed[0] = out.length >> 8;
        framed[1] = out.length & 0xff;
        framed.set(out, 2);
        c.write(framed);
      });
      c.on("data", (chunk: Uint8Array) => {
        const joined = new Uint8Array(buf.length + chunk.length);
        joined.set(buf);
        joined.set(chunk, buf.length);
        buf = joined;
        if (buf.length < 2) return;
        const len = (buf[0] << 8) | buf[1];
        if (buf.length < 2 + len) return;
        const reply = buf.slice(2, 2 + len);
        finish(this.#verdict(reply, id, query) === "answer" ? reply : undefined);
      });
    });
  }
}

/** Random 16-bit numbers from the system's CSPRNG, drawn 4,096 at a time (one call, not one each). */
const randoms = new Uint16Array(4096);
let randomsLeft = 0;
function random16(): number {
  if (randomsLeft === 0) {
    globalThis.crypto.getRandomValues(randoms);
    randomsLeft = randoms.length;
  }
  return randoms[--randomsLeft];
}

/** Sockets per upstream: each query goes out from one of them, picked at random. */
const POOL_SIZE = 16;
/** Queries one socket sends before it is replaced by a socket on a fresh random port. */
const SOCKET_USES = 256;

type Verdict = "answer" | "fail" | "ignore";

interface Slot {
  socket: UpstreamSocket;
  /** Queries in flight on this socket, by ID. */
  pending: Map<number, (reply: Uint8Array | undefined) => void>;
  uses: number;
  retired: boolean;
}

/**
 * The UDP sockets that forward to one upstream: up to 16, each taking only the upstream's
 * datagrams, each on a random port the kernel picked, each replaced after 256 queries, and a fresh
 * random ID per query that is not in flight on its socket: an off-path forger must guess the port
 * and the ID, as with dnsmasq's pool of random sockets, without a socket made and closed per query.
 */
class UdpUpstream {
  readonly #slots: (Slot | undefined)[] = new Array(POOL_SIZE).fill(undefined);
  readonly #up: Upstream;
  readonly #factory: UpstreamSocketFactory;
  readonly #onError: () => void;
  #closed = false;

  constructor(up: Upstream, factory: UpstreamSocketFactory, onError: () => void) {
    this.#up = up;
    this.#factory = factory;
    this.#onError = onError;
  }

  #open(): Slot {
    const slot: Slot = {
      socket: undefined as unknown as UpstreamSocket,
      pending: new Map(),
      uses: 0,
      retired: false,
    };
    slot.socket = this.#factory(this.#up.address, this.#up.port, {
      message: (m) => {
        if (m.length < 2) return;
        slot.pending.get((m[0] << 8) | m[1])?.(m);
      },
      error: () => {
        // ICMP unreachable: every query in flight here went to the same dead upstream, so all
        // of them move on to the next one.
        this.#onError();
        for (const p of [...slot.pending.values()]) p(undefined);
      },
    });
    return slot;
  }

  #retire(slot: Slot): void {
    slot.retired = true;
    if (slot.pending.size === 0) slot.socket.close();
  }

  /**
   * Sends a query (its ID overwritten) and waits for the answer `verdict` takes.
   *
   * @returns The answer, or `undefined` on a timeout, an error or an answer not accepted.
   */
  async ask(
    out: Uint8Array,
    timeoutMs: number,
    verdict: (reply: Uint8Array, id: number) => Verdict,
  ): Promise<Uint8Array | undefined> {
    if (this.#closed) return undefined;
    const i = random16() % POOL_SIZE;
    let slot = this.#slots[i];
    if (!slot || slot.uses >= SOCKET_USES) {
      if (slot) this.#retire(slot);
      this.#slots[i] = undefined;
      try {
        slot = this.#slots[i] = this.#open();
      } catch {
        this.#onError(); // no socket (out of fds?): this upstream fails, the next one is tried
        return undefined;
      }
    }
    slot.uses++;
    let id = random16();
    while (slot.pending.has(id)) id = random16();
    out[0] = id >> 8;
    out[1] = id & 0xff;
    const s = slot;
    return await new Promise<Uint8Array | undefined>((done) => {
      const handler = (reply: Uint8Array | undefined) => {
        if (reply === undefined) return finish(undefined);
        const v = verdict(reply, id);
        if (v === "answer") finish(reply);
        else if (v === "fail") finish(undefined); // the next upstream, now
        // "ignore": not an answer to our question (a forgery?); the timer still runs.
      };
      const finish = (v: Uint8Array | undefined) => {
        if (s.pending.get(id) !== handler) return;
        s.pending.delete(id);
        clearTimeout(timer);
        if (s.retired) this.#retire(s);
        done(v);
      };
      const timer = setTimeout(() => finish(undefined), timeoutMs);
      s.pending.set(id, handler);
      s.socket.send(out, () => finish(undefined));
    });
  }

  close(): void {
    this.#closed = true;
    for (const s of this.#slots) {
      if (!s) continue;
      for (const p of [...s.pending.values()]) p(undefined);
      s.socket.close();
    }
    this.#slots.fill(undefined);
  }
}
