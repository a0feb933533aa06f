/**
 * nslink's DNS layer: container names on every network. Three parts, each usable alone:
 *
 * - {@linkcode decodeMessage} / {@linkcode encodeMessage}: a DNS message codec declared once
 *   ({@linkcode RECORD_TYPES}), with name compression both ways and {@linkcode DnsDecodeError}
 *   (with the offset) on anything malformed.
 * - {@linkcode resolve} over a {@linkcode NameTable}: the pure resolver core (names, aliases and
 *   `NAME.dns.nslink`, PTR, scope by the client's address, internal networks, forwarding
 *   decisions, FORMERR, truncation).
 * - {@linkcode DnsServer}: UDP and TCP listeners on `node:dgram`/`node:net` (Deno and Bun) that
 *   answer from a swappable table and forward the rest upstream.
 *
 * @example Serve names on a gateway
 * ```ts ignore
 * import { DnsServer, NameTable } from "./mod.ts";
 * const server = await DnsServer.start({
 *   addresses: ["198.51.100.1"],
 *   table: new NameTable([{ name: "blue", subnets: ["198.51.100.0/24"],
 *     containers: [{ name: "web", aliases: ["www"], ipv4: ["198.51.100.2"] }] }]),
 *   upstreams: ["203.0.113.53"],
 * });
 * await server.close();
 * ```
 *
 * @module
 */
export { DnsDecodeError, DnsEncodeError } from "./errors.ts";
export {
  CLASS_IN,
  type Compression,
  decodeHeader,
  decodeMessage,
  type DnsHeader,
  type DnsMessage,
  type DnsMessageInput,
  type Edns,
  ednsOf,
  type EdnsOption,
  ednsRecord,
  encodeMessage,
  type EncodeOptions,
  type KnownRecord,
  OPCODE_QUERY,
  type Question,
  type QuestionType,
  RCODE,
  RECORD_TYPES,
  type RecordData,
  type RecordDataMap,
  type RecordType,
  type RecordTypeDef,
  type ResourceRecord,
  typeCode,
  UDP_PLAIN_LIMIT,
  type UnknownRecord,
} from "./message.ts";
export {
  DNS_DOMAIN,
  type DnsContainer,
  type DnsNetwork,
  failureResponse,
  MAX_UPSTREAMS,
  NameTable,
  type NameTableOptions,
  type QuerySource,
  type Resolution,
  resolve,
  type ResolveOptions,
  reverseName,
  SERVER_UDP_SIZE,
  udpLimit,
} from "./resolver.ts";
export {
  DnsServer,
  type DnsServerOptions,
  type DnsServerStats,
  parseResolvConf,
  parseUpstream,
} from "./server.ts";
