/**
 * The resolver core of nslink's DNS server: pure, no sockets. Given a query's bytes and the
 * client's source address, {@linkcode resolve} answers from a {@linkcode NameTable} (the
 * containers of each network, with their names, aliases and addresses) or says the query must be
 * forwarded upstream, or dropped.
 *
 * The rules (the issue's "What must work"; aardvark-dns and Docker's embedded server agree):
 * - Scope: a query is answered from the networks of the container that sent it, found by its
 *   source address: every network of the container holding that address (containers are the
 *   same across networks by {@linkcode DnsContainer.id}), else the networks whose subnets hold
 *   it. A source on no network is refused.
 * - `A`/`AAAA` for each container's name and aliases and for `NAME.dns.nslink`, case-insensitive,
 *   the question's spelling kept in the answer. A name that exists without an address of the
 *   asked family (or asked another type) gets NOERROR with no answer, never NXDOMAIN.
 * - `PTR` for every container address, IPv4 (`in-addr.arpa`) and IPv6 (`ip6.arpa`): one record
 *   per name (`NAME.dns.nslink`, then each alias's). An unknown address inside a network's
 *   subnet gets NXDOMAIN (it is nobody's business upstream).
 * - An unknown name inside `dns.nslink` gets NXDOMAIN with the zone's SOA; never forwarded.
 * - Everything else is forwarded: to the scope's networks' upstreams (at most 3, in order), or to
 *   the server's defaults when they name none. When every network in scope is internal, nothing
 *   is forwarded: NXDOMAIN.
 * - Malformed queries get FORMERR (or are dropped when not even the header reads); responses
 *   are dropped (no loops); other opcodes get NOTIMP; EDNS versions above 0 get BADVERS.
 * - Answers over the client's UDP limit (512, or its EDNS size up to 4096) are truncated with TC.
 *
 * The common query (one question, A or AAAA, for a container's name, with or without an OPT
 * record) takes a fast path that copies the question and appends answer records prepared once
 * per table: byte for byte what the general path answers (the tests compare the two on every
 * query shape and on every fuzzed message), without decoding or encoding a message.
 *
 * @example Answer a query from a container
 * ```ts
 * import { NameTable, resolve } from "./resolver.ts";
 * import { decodeMessage, encodeMessage } from "./message.ts";
 * const table = new NameTable([{
 *   name: "blue",
 *   subnets: ["198.51.100.0/24"],
 *   containers: [{ name: "web", aliases: ["www"], ipv4: ["198.51.100.2"] }],
 * }]);
 * const query = encodeMessage({ id: 1, rd: true, questions: [{ name: "WWW", type: "A" }] });
 * const r = resolve(table, query, { source: "198.51.100.3", transport: "udp" });
 * if (r.action === "answer") decodeMessage(r.response).answers[0].data; // { address: "198.51.100.2" }
 * ```
 *
 * @module
 */

import { bytesToBigInt, contains, formatIP, type IPFamily, parseCidr, parseIP } from "../net/ip.ts";
import type { Cidr } from "../net/ip.ts";
import { DnsDecodeError } from "./errors.ts";
import {
  CLASS_IN,
  decodeHeader,
  decodeMessage,
  type DnsMessage,
  type DnsMessageInput,
  ednsOf,
  ednsRecord,
  encodeMessage,
  OPCODE_QUERY,
  type Question,
  RCODE,
  type ResourceRecord,
  UDP_PLAIN_LIMIT,
} from "./message.ts";

/** The domain under which every container name also resolves: `web.dns.nslink`. */
export const DNS_DOMAIN = "dns.nslink";

/** The UDP payload size the server advertises in its `OPT` records (the DNS flag day's 1232). */
export const SERVER_UDP_SIZE = 1232;

/** The largest UDP answer the server sends whatever a client advertises. */
const UDP_MAX = 4096;

/** At most this many upstreams are tried for one query. */
export const MAX_UPSTREAMS = 3;

/** A container as the DNS server sees it. */
export interface DnsContainer {
  /**
   * What identifies the container across networks (its endpoint or namespace id): a container
   * on two networks is answered from both, whichever of its addresses it asks from. Default: its
   * name.
   */
  readonly id?: string;
  /** Its name (`web`); also answers as `web.dns.nslink`. */
  readonly name: string;
  /** More names (network aliases). */
  readonly aliases?: readonly string[];
  /** Its IPv4 addresses on this network. */
  readonly ipv4?: readonly string[];
  /** Its IPv6 addresses on this network. */
  readonly ipv6?: readonly string[];
}

/** A network as the DNS server sees it. */
export interface DnsNetwork {
  /** The network's name (for reports). */
  readonly name: string;
  /** Its subnets (`198.51.100.0/24`, `2001:db8:1::/64`): a source inside one is on it. */
  readonly subnets: readonly string[];
  /** An internal network resolves its own names and forwards nothing. */
  readonly internal?: boolean;
  /**
   * Upstream servers for other names (`203.0.113.53`, or `IP#PORT`), in order; empty or left
   * out: the server's defaults (the host's resolv.conf).
   */
  readonly upstreams?: readonly string[];
  /** Its containers. */
  readonly containers: readonly DnsContainer[];
}

/** Options of a {@linkcode NameTable}. */
export interface NameTableOptions {
  /**
   * The TTL of every answer, in seconds. Default 0: a name must be gone the moment its container
   * leaves, so no cache may keep it.
   */
  ttl?: number;
  /** The SOA serial (a generation number); default 1. */
  serial?: number;
}

interface Entry {
  v4: string[];
  v6: string[];
}

interface NetIndex {
  readonly net: DnsNetwork;
  readonly subnets: Cidr[];
  /** Lower-case short name -> addresses. */
  readonly names: Map<string, Entry>;
  /** Lower-case reverse name (`2.100.51.198.in-addr.arpa`) -> PTR targets. */
  readonly ptr: Map<string, string[]>;
  /** Normalised container address -> present. */
  readonly addresses: Set<string>;
}

/**
 * An immutable index of the names of every network, built once and then only read. To change
 * names, build a new table and swap it in the server (a reference swap: every query is answered
 * wholly from one table or the other).
 *
 * @example
 * ```ts
 * import { NameTable } from "./resolver.ts";
 * const t = new NameTable([{ name: "blue", subnets: ["198.51.100.0/24"], containers: [] }]);
 * t.scope("198.51.100.9").map((n) => n.name); // ["blue"]
 * ```
 */
export class NameTable {
  /** The networks, as given. */
  readonly networks: readonly DnsNetwork[];
  /** The answers' TTL. */
  readonly ttl: number;
  /** The SOA serial. */
  readonly serial: number;
  readonly #index: NetIndex[];
  readonly #byAddress = new Map<string, NetIndex[]>();
  readonly #scopeCache = new Map<string, NetIndex[]>();
  readonly #scopes = new Map<string, NetIndex[]>();
  readonly #answers = new Map<
    readonly NetIndex[],
    Map<string, { count: number; bytes: Uint8Array }>
  >();

  /**
   * Builds the index.
   *
   * @param networks The networks and their containers.
   * @param options The TTL and SOA serial.
   * @throws {TypeError} On an address or subnet that does not parse.
   */
  constructor(networks: readonly DnsNetwork[], options: NameTableOptions = {}) {
    this.networks = networks;
    this.ttl = options.ttl ?? 0;
    this.serial = options.serial ?? 1;
    const byId = new Map<string, NetIndex[]>();
    const addressIds = new Map<string, Set<string>>();
    this.#index = networks.map((net) => {
      const idx: NetIndex = {
        net,
        subnets: net.subnets.map(parseCidr),
        names: new Map(),
        ptr: new Map(),
        addresses: new Set(),
      };
      for (const c of net.containers) {
        const v4 = (c.ipv4 ?? []).map((a) => normalise(a, 4));
        const v6 = (c.ipv6 ?? []).map((a) => normalise(a, 6));
        const all = [c.name, ...(c.aliases ?? [])];
        for (const n of all) {
          const key = n.toLowerCase();
          const e = idx.names.get(key) ?? { v4: [], v6: [] };
          for (const a of v4) if (!e.v4.includes(a)) e.v4.push(a);
          for (const a of v6) if (!e.v6.includes(a)) e.v6.push(a);
          idx.names.set(key, e);
        }
        const id = c.id ?? c.name;
        const nets = byId.get(id) ?? [];
        if (!nets.includes(idx)) nets.push(idx);
        byId.set(id, nets);
        const targets = all.map((n) => `${n}.${DNS_DOMAIN}`);
        for (const a of [...v4, ...v6]) {
          idx.addresses.add(a);
          const rev = reverseName(a);
          const t = idx.ptr.get(rev) ?? [];
          for (const n of targets) if (!t.includes(n)) t.push(n);
          idx.ptr.set(rev, t);
          const ids = addressIds.get(a) ?? new Set();
          addressIds.set(a, ids.add(id));
        }
      }
      return idx;
    });
    // An address's scope: every network of every container that holds it, in table order.
    for (const [a, ids] of addressIds) {
      const nets = new Set([...ids].flatMap((id) => byId.get(id) ?? []));
      this.#byAddress.set(a, this.#canonical(this.#index.filter((i) => nets.has(i))));
    }
  }

  /**
   * The networks a source address belongs to: those where it is a container's address, else
   * those whose subnets hold it.
   *
   * @param source The client's address.
   * @returns The networks, in table order; empty when it is on none.
   */
  scope(source: string): DnsNetwork[] {
    return this.#scope(source).map((i) => i.net);
  }

  #scope(source: string): NetIndex[] {
    const cached = this.#scopeCache.get(source);
    if (cached) return cached;
    const bytes = parseIP(source);
    if (!bytes) return [];
    // An IPv4-mapped IPv6 source (a dual-stack socket) is the IPv4 address.
    const mapped = bytes.length === 16 && bytes.subarray(0, 10).every((b) => b === 0) &&
      bytes[10] === 0xff && bytes[11] === 0xff;
    const addr = mapped ? bytes.subarray(12) : bytes;
    const text = formatIP(addr);
    let found = this.#byAddress.get(text);
    if (!found) {
      const family: IPFamily = addr.length === 4 ? 4 : 6;
      const n = bytesToBigInt(addr);
      found = this.#canonical(
        this.#index.filter((i) => i.subnets.some((c) => contains(c, family, n))),
      );
    }
    if (this.#scopeCache.size < 4096) this.#scopeCache.set(source, found);
    return found;
  }

  /**
   * One array per distinct set of networks, so that the answers prepared per scope (keyed by the
   * array) stay bounded by the sets, not by the sources that ever asked.
   */
  #canonical(scope: NetIndex[]): NetIndex[] {
    const key = scope.map((i) => this.#index.indexOf(i)).join(",");
    let c = this.#scopes.get(key);
    if (!c) this.#scopes.set(key, c = scope);
    return c;
  }

  /**
   * Whether an address lies in any network's subnet.
   *
   * @param address The address.
   * @returns Whether some network's subnet holds it.
   */
  inSubnet(address: string): boolean {
    const b = parseIP(address);
    if (!b) return false;
    const family: IPFamily = b.length === 4 ? 4 : 6;
    const n = bytesToBigInt(b);
    return this.#index.some((i) => i.subnets.some((c) => contains(c, family, n)));
  }

  /** The indexes in scope of a source (for {@linkcode resolve}). */
  static scopeOf(table: NameTable, source: string): readonly NetIndex[] {
    return table.#scope(source);
  }

  /**
   * The encoded answer records (owner name a pointer to the question) for a name found in a
   * scope, by `name` and type 1 (A) or 28 (AAAA): built once per table, then reused.
   */
  static answersOf(
    table: NameTable,
    scope: readonly NetIndex[],
    short: string,
    type: 1 | 28,
  ): { count: number; bytes: Uint8Array } | undefined {
    let perScope = table.#answers.get(scope);
    if (!perScope) table.#answers.set(scope, perScope = new Map());
    const key = type === 1 ? short : `${short}\u0000`;
    const hit = perScope.get(key);
    if (hit) return hit;
    const addrs: string[] = [];
    let found = false;
    for (const i of scope) {
      const e = i.names.get(short);
      if (!e) continue;
      found = true;
      for (const a of type === 1 ? e.v4 : e.v6) if (!addrs.includes(a)) addrs.push(a);
    }
    if (!found) return undefined;
    const size = type === 1 ? 4 : 16;
    const bytes = new Uint8Array(addrs.length * (12 + size));
    const dv = new DataView(bytes.buffer);
    let off = 0;
    for (const a of addrs) {
      dv.setUint16(off, 0xc00c); // the question's name
      dv.setUint16(off + 2, type);
      dv.setUint16(off + 4, CLASS_IN);
      dv.setUint32(off + 6, table.ttl >>> 0);
      dv.setUint16(off + 10, size);
      bytes.set(parseIP(a)!, off + 12);
      off += 12 + size;
    }
    const entry = { count: addrs.length, bytes };
    perScope.set(key, entry);
    return entry;
  }
}

function normalise(address: string, family: 4 | 6): string {
  const b = parseIP(address);
  if (!b || b.length !== (family === 4 ? 4 : 16)) {
    throw new TypeError(`Invalid IPv${family} address "${address}" in the DNS name table`);
  }
  return formatIP(b);
}

/**
 * The reverse-lookup name of an address: `2.100.51.198.in-addr.arpa`, or the 32 nibbles of an
 * IPv6 address under `ip6.arpa`.
 *
 * @example
 * ```ts
 * import { reverseName } from "./resolver.ts";
 * reverseName("198.51.100.2"); // "2.100.51.198.in-addr.arpa"
 * ```
 * @param address An IPv4 or IPv6 address.
 * @returns The name, lower case.
 */
export function reverseName(address: string): string {
  const b = parseIP(address);
  if (!b) throw new TypeError(`Invalid IP address "${address}"`);
  if (b.length === 4) return `${b[3]}.${b[2]}.${b[1]}.${b[0]}.in-addr.arpa`;
  const nibbles: string[] = [];
  for (let i = 15; i >= 0; i--) {
    nibbles.push((b[i] & 0xf).toString(16), (b[i] >> 4).toString(16));
  }
  return `${nibbles.join(".")}.ip6.arpa`;
}

/** The address a full reverse name stands for, or `undefined` for any other name. */
function reverseAddress(name: string): { family: IPFamily; bytes: Uint8Array } | undefined {
  if (name.endsWith(".in-addr.arpa")) {
    const l = name.slice(0, -".in-addr.arpa".length).split(".");
    if (l.length !== 4 || !l.every((x) => /^(0|[1-9]\d{0,2})$/.test(x) && Number(x) < 256)) {
      return undefined;
    }
    return { family: 4, bytes: Uint8Array.from(l.reverse().map(Number)) };
  }
  if (name.endsWith(".ip6.arpa")) {
    const l = name.slice(0, -".ip6.arpa".length).split(".");
    if (l.length !== 32 || !l.every((x) => /^[0-9a-f]$/.test(x))) return undefined;
    const b = new Uint8Array(16);
    for (let i = 0; i < 16; i++) {
      b[15 - i] = parseInt(l[2 * i], 16) | (parseInt(l[2 * i + 1], 16) << 4);
    }
    return { family: 6, bytes: b };
  }
  return undefined;
}

/** Where a query came from. */
export interface QuerySource {
  /** The client's address. */
  source: string;
  /** How it came: UDP answers are limited in size, TCP ones are not. */
  transport: "udp" | "tcp";
}

/** What to do with a query. */
export type Resolution =
  | {
    /** Send this response. */
    action: "answer";
    /** The encoded response. */
    response: Uint8Array;
    /** Its RCODE (for counters and tests). */
    rcode: number;
  }
  | {
    /** Forward the query (its bytes, unchanged but for the ID) to these upstreams in order. */
    action: "forward";
    /** The scope's upstreams (at most 3); empty: the server's defaults. */
    upstreams: string[];
    /** The decoded query (to check the upstream's answer against). */
    query: DnsMessage;
  }
  | {
    /** Send nothing. */
    action: "drop";
    /** Why. */
    reason: string;
  };

/**
 * Decides what to answer a query: pure, never throws, never looks at sockets.
 *
 * @example Forwarding what is not a container's name
 * ```ts
 * import { NameTable, resolve } from "./resolver.ts";
 * import { encodeMessage } from "./message.ts";
 * const t = new NameTable([{ name: "blue", subnets: ["198.51.100.0/24"], containers: [],
 *   upstreams: ["203.0.113.53"] }]);
 * const q = encodeMessage({ id: 2, rd: true, questions: [{ name: "example.org", type: "A" }] });
 * resolve(t, q, { source: "198.51.100.2", transport: "udp" }).action; // "forward"
 * ```
 * @param table The names.
 * @param bytes The query as received.
 * @param from The client's address and the transport.
 * @returns Answer, forward or drop.
 */
export function resolve(
  table: NameTable,
  bytes: Uint8Array,
  from: QuerySource,
  options: ResolveOptions = {},
): Resolution {
  if (options.fastPath !== false) {
    const fast = fastAnswer(table, bytes, from);
    if (fast) return { action: "answer", response: fast, rcode: RCODE.NOERROR };
  }
  if (bytes.length < 12) return { action: "drop", reason: "shorter than a header" };
  const header = decodeHeader(bytes);
  if (header.qr) return { action: "drop", reason: "a response, not a query" };
  let query: DnsMessage;
  try {
    query = decodeMessage(bytes);
  } catch (e) {
    if (!(e instanceof DnsDecodeError)) throw e;
    const response = encodeMessage({
      id: header.id,
      qr: true,
      opcode: header.opcode,
      rd: header.rd,
      rcode: RCODE.FORMERR,
    });
    return { action: "answer", response, rcode: RCODE.FORMERR };
  }
  const limit = from.transport === "tcp" ? 0xffff : udpLimit(query);
  const reply = (rcode: number, sections: Partial<DnsMessageInput> = {}): Resolution => {
    const edns = ednsOf(query);
    const additionals = [...(sections.additionals ?? [])];
    if (edns) {
      additionals.push(ednsRecord({ udpSize: SERVER_UDP_SIZE, extendedRcode: rcode >> 4 }));
    }
    const response = encodeMessage({
      id: query.id,
      qr: true,
      opcode: query.opcode,
      aa: sections.aa ?? false,
      rd: query.rd,
      ra: true,
      cd: query.cd,
      rcode: rcode & 0xf,
      questions: query.questions.length === 1 ? query.questions : [],
      answers: sections.answers ?? [],
      authorities: sections.authorities ?? [],
      additionals,
    }, { maxSize: limit });
    return { action: "answer", response, rcode };
  };

  if (query.opcode !== OPCODE_QUERY) return reply(RCODE.NOTIMP);
  if (query.questions.length !== 1) return reply(RCODE.FORMERR);
  const opts = query.additionals.filter((r) => r.type === "OPT");
  if (opts.length > 1 || (opts.length === 1 && opts[0].name !== "")) return reply(RCODE.FORMERR);
  if (query.answers.length > 0) return reply(RCODE.FORMERR);
  const edns = ednsOf(query);
  if (edns && edns.version > 0) return reply(RCODE.BADVERS);

  const scope = NameTable.scopeOf(table, from.source);
  if (scope.length === 0) return reply(RCODE.REFUSED);
  const q = query.questions[0];
  const forward = (): Resolution => {
    const open = scope.filter((i) => !i.net.internal);
    if (open.length === 0) return reply(RCODE.NXDOMAIN);
    const upstreams: string[] = [];
    for (const i of open) {
      for (const u of i.net.upstreams ?? []) {
        if (!upstreams.includes(u) && upstreams.length < MAX_UPSTREAMS) upstreams.push(u);
      }
    }
    return { action: "forward", upstreams, query };
  };
  if (q.class !== CLASS_IN) return forward();

  const asked = q.name.toLowerCase();
  const inZone = asked === DNS_DOMAIN || asked.endsWith(`.${DNS_DOMAIN}`);
  const soa = (): ResourceRecord => ({
    name: DNS_DOMAIN,
    type: "SOA",
    class: CLASS_IN,
    ttl: table.ttl,
    data: {
      mname: `ns.${DNS_DOMAIN}`,
      rname: `hostmaster.${DNS_DOMAIN}`,
      serial: table.serial >>> 0,
      refresh: 3600,
      retry: 600,
      expire: 86400,
      minimum: table.ttl,
    },
  });
  if (asked === DNS_DOMAIN) {
    if (q.type === "SOA" || q.type === "ANY") {
      return reply(RCODE.NOERROR, { aa: true, answers: [soa()] });
    }
    return reply(RCODE.NOERROR, { aa: true, authorities: [soa()] });
  }

  // A container's name or alias.
  const short = inZone ? asked.slice(0, -DNS_DOMAIN.length - 1) : asked;
  let v4: string[] | undefined;
  let v6: string[] | undefined;
  for (const i of scope) {
    const e = i.names.get(short);
    if (!e) continue;
    v4 = v4 ? [...v4, ...e.v4.filter((a) => !v4!.includes(a))] : e.v4;
    v6 = v6 ? [...v6, ...e.v6.filter((a) => !v6!.includes(a))] : e.v6;
  }
  if (v4 && v6) {
    return reply(RCODE.NOERROR, { aa: true, answers: addressRecords(q, v4, v6, table.ttl) });
  }
  if (inZone) return reply(RCODE.NXDOMAIN, { aa: true, authorities: [soa()] });

  // A container's address, backwards.
  const rev = reverseAddress(asked);
  if (rev) {
    const targets: string[] = [];
    for (const i of scope) {
      for (const t of i.ptr.get(asked) ?? []) if (!targets.includes(t)) targets.push(t);
    }
    if (targets.length > 0) {
      const answers: ResourceRecord[] = q.type === "PTR" || q.type === "ANY"
        ? targets.map((t) => ({
          name: q.name,
          type: "PTR",
          class: CLASS_IN,
          ttl: table.ttl,
          data: { target: t },
        }))
        : [];
      return reply(RCODE.NOERROR, { aa: true, answers });
    }
    // An address of any nslink network is nobody's business upstream.
    if (table.inSubnet(formatIP(rev.bytes))) {
      return reply(RCODE.NXDOMAIN, { aa: true });
    }
  }
  return forward();
}

/** Options of {@linkcode resolve}. */
export interface ResolveOptions {
  /**
   * Whether the common query (one question for a container's A or AAAA, with or without an
   * EDNS0 OPT) is answered by the fast path, which copies the question and appends answer records
   * prepared once per table, byte for byte what the general path makes. Default true; false
   * (for tests) always takes the general path.
   */
  fastPath?: boolean;
}

const LOWER = new Uint8Array(256);
for (let c = 0; c < 256; c++) {
  const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x5f;
  const upper = c >= 0x41 && c <= 0x5a;
  LOWER[c] = ok ? c : upper ? c + 0x20 : 0;
}
const ZONE_SUFFIX = `.${DNS_DOMAIN}`;

/**
 * The fast path: a well-formed standard query for a found container name, answered by copying the
 * question; `undefined` for anything else (the general path then decides, FORMERR included).
 */
function fastAnswer(table: NameTable, b: Uint8Array, from: QuerySource): Uint8Array | undefined {
  const n = b.length;
  if (n < 17 || (b[2] & 0xf8) !== 0 || b[4] !== 0 || b[5] !== 1) return undefined;
  if (b[6] !== 0 || b[7] !== 0 || b[8] !== 0 || b[9] !== 0 || b[10] !== 0 || b[11] > 1) {
    return undefined;
  }
  // The name: plain labels of [a-z0-9_-] (any case), at most 255 bytes on the wire.
  let off = 12;
  let name = "";
  for (;;) {
    const len = b[off];
    if (len === 0) break;
    if (len > 63 || off + 1 + len >= n || off - 12 + len + 2 > 255) return undefined;
    if (off > 12) name += ".";
    for (let i = off + 1; i <= off + len; i++) {
      const c = LOWER[b[i]];
      if (c === 0) return undefined;
      name += String.fromCharCode(c);
    }
    off += 1 + len;
  }
  off++;
  if (off + 4 > n || b[off] !== 0 || b[off + 2] !== 0 || b[off + 3] !== CLASS_IN) return undefined;
  const type = b[off + 1];
  if (type !== 1 && type !== 28) return undefined;
  const qend = off + 4;
  let edns = false;
  let limit = from.transport === "tcp" ? 0xffff : UDP_PLAIN_LIMIT;
  if (b[11] === 1) {
    // One OPT: root name, type 41, version 0, options well-formed up to the end.
    if (qend + 11 > n || b[qend] !== 0 || b[qend + 1] !== 0 || b[qend + 2] !== 41) return undefined;
    if (b[qend + 6] !== 0) return undefined;
    const rdlen = (b[qend + 9] << 8) | b[qend + 10];
    if (qend + 11 + rdlen !== n) return undefined;
    for (let o = qend + 11; o < n;) {
      if (o + 4 > n) return undefined;
      o += 4 + ((b[o + 2] << 8) | b[o + 3]);
      if (o > n) return undefined;
    }
    edns = true;
    if (from.transport === "udp") {
      limit = Math.min(UDP_MAX, Math.max(UDP_PLAIN_LIMIT, (b[qend + 3] << 8) | b[qend + 4]));
    }
  } else if (qend !== n) return undefined;
  if (name === DNS_DOMAIN) return undefined;
  const short = name.endsWith(ZONE_SUFFIX) ? name.slice(0, -ZONE_SUFFIX.length) : name;
  const scope = NameTable.scopeOf(table, from.source);
  if (scope.length === 0) return undefined;
  const rrs = NameTable.answersOf(table, scope, short, type);
  if (!rrs) return undefined;
  const size = qend + rrs.bytes.length + (edns ? 11 : 0);
  if (size > limit) return undefined;
  const out = new Uint8Array(size);
  out.set(b.subarray(0, qend));
  out[2] = 0x84 | (b[2] & 0x01); // QR, AA, the query's RD
  out[3] = 0x80 | (b[3] & 0x10); // RA, the query's CD
  out[6] = rrs.count >> 8;
  out[7] = rrs.count & 0xff;
  out[11] = edns ? 1 : 0;
  out.set(rrs.bytes, qend);
  if (edns) {
    const o = qend + rrs.bytes.length;
    // OPT: root, type 41, class = our UDP size, TTL 0, no data.
    out[o + 2] = 41;
    out[o + 3] = SERVER_UDP_SIZE >> 8;
    out[o + 4] = SERVER_UDP_SIZE & 0xff;
  }
  return out;
}

function addressRecords(q: Question, v4: string[], v6: string[], ttl: number): ResourceRecord[] {
  const out: ResourceRecord[] = [];
  if (q.type === "A" || q.type === "ANY") {
    for (const a of v4) {
      out.push({ name: q.name, type: "A", class: CLASS_IN, ttl, data: { address: a } });
    }
  }
  if (q.type === "AAAA" || q.type === "ANY") {
    for (const a of v6) {
      out.push({ name: q.name, type: "AAAA", class: CLASS_IN, ttl, data: { address: a } });
    }
  }
  return out;
}

/**
 * The largest UDP answer a query's sender takes: 512 without EDNS, else its EDNS size (at least
 * 512, at most 4096).
 *
 * @example
 * ```ts
 * import { udpLimit } from "./resolver.ts";
 * udpLimit({ additionals: [] }); // 512
 * ```
 * @param query The query (only its additional section is read).
 * @returns The limit in bytes.
 */
export function udpLimit(query: Pick<DnsMessage, "additionals">): number {
  const edns = ednsOf(query);
  if (!edns) return UDP_PLAIN_LIMIT;
  return Math.min(UDP_MAX, Math.max(UDP_PLAIN_LIMIT, edns.udpSize));
}

/**
 * The response to send a client when forwarding failed (every upstream timed out, refused or
 * failed): SERVFAIL, or NXDOMAIN for a scope with nothing to forward to.
 *
 * @example
 * ```ts
 * import { failureResponse } from "./resolver.ts";
 * import { decodeMessage, encodeMessage } from "./message.ts";
 * const q = decodeMessage(encodeMessage({ id: 4, questions: [{ name: "example.org", type: "A" }] }));
 * decodeMessage(failureResponse(q, 2)).rcode; // 2
 * ```
 * @param query The client's query.
 * @param rcode The RCODE to answer.
 * @returns The encoded response.
 */
export function failureResponse(query: DnsMessage, rcode: number): Uint8Array {
  const edns = ednsOf(query);
  return encodeMessage({
    id: query.id,
    qr: true,
    opcode: query.opcode,
    rd: query.rd,
    ra: true,
    cd: query.cd,
    rcode,
    questions: query.questions,
    additionals: edns ? [ednsRecord({ udpSize: SERVER_UDP_SIZE })] : [],
  });
}
