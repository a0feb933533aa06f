/**
 * A {@linkcode NetlinkTransport} that records the bytes it would send instead of opening a
 * socket, so the real link, address and route operations can be compared with iproute2's
 * requests byte for byte. Sequence numbers are 0, as in the fixtures.
 *
 * @module
 */
import { type AttrCodec, decode, encode } from "../../netlink/codec.ts";
import {
  NLM_F_ACK,
  NLM_F_DUMP,
  NLM_F_REQUEST,
  RTM_GETLINK,
  RTM_NEWLINK,
} from "../../netlink/constants.ts";
import { NetlinkError } from "../../netlink/errors.ts";
import { encodeRequest, type NetlinkTransport, type RawMessage } from "../../netlink/socket.ts";
import { LinkMessage } from "../../rtnl/messages/link.ts";

/** One recorded request. */
export interface Recorded {
  /** `nlmsg_type`. */
  type: number;
  /** `nlmsg_flags`, complete. */
  flags: number;
  /** Whether it went through `dump()`. */
  dump: boolean;
  /** The whole message, `nlmsghdr` included, seq and pid 0. */
  bytes: Uint8Array<ArrayBuffer>;
}

/** What the recorder answers. */
export interface RecorderOptions {
  /**
   * Links by name, to answer RTM_GETLINK lookups (`{ nsl0a: 3 }`); a name not listed gets
   * `ENODEV`, like the kernel.
   */
  links?: Record<string, number>;
  /** Canned replies to dumps, by request type. */
  dumps?: Record<number, RawMessage[]>;
}

/** Records requests; answers link lookups and dumps from canned data. */
export class RecordingTransport implements NetlinkTransport {
  /** Every request, in order (link lookups included). */
  readonly sent: Recorded[] = [];
  #opts: RecorderOptions;

  /** @param opts Canned answers. */
  constructor(opts: RecorderOptions = {}) {
    this.#opts = opts;
  }

  /** The requests that were not RTM_GETLINK lookups (link dumps are kept). */
  get changes(): Recorded[] {
    return this.sent.filter((r) => r.dump || r.type !== RTM_GETLINK);
  }

  /** The bytes of the only request besides lookups; throws unless there is exactly one. */
  only(): Uint8Array<ArrayBuffer> {
    const c = this.changes;
    if (c.length !== 1) throw new Error(`Expected one request, recorded ${c.length}`);
    return c[0].bytes;
  }

  request<I>(type: number, flags: number, codec: AttrCodec<unknown, I>, body: I): RawMessage[] {
    const all = flags | NLM_F_REQUEST | NLM_F_ACK;
    const bytes = encodeRequest(type, all, 0, codec, body);
    this.sent.push({ type, flags: all, dump: false, bytes });
    if (type !== RTM_GETLINK) return [];
    const m = decode(LinkMessage, bytes.subarray(16));
    const links = this.#opts.links ?? {};
    let index: number | undefined;
    let name: string | undefined;
    if (m.ifname !== undefined && Object.hasOwn(links, m.ifname)) {
      name = m.ifname;
      index = links[m.ifname];
    } else if (m.index > 0) {
      name = Object.keys(links).find((k) => links[k] === m.index);
      index = name === undefined ? undefined : m.index;
    }
    if (index === undefined || name === undefined) {
      throw new NetlinkError("RTM_GETLINK", `link "${m.ifname ?? m.index}"`, 19);
    }
    const payload = encode(LinkMessage, { index, ifname: name, mtu: 1500 });
    return [{ type: RTM_NEWLINK, flags: 0, payload }];
  }

  dump<I>(type: number, codec: AttrCodec<unknown, I>, body: I): RawMessage[] {
    const flags = NLM_F_REQUEST | NLM_F_DUMP;
    this.sent.push({ type, flags, dump: true, bytes: encodeRequest(type, flags, 0, codec, body) });
    return this.#opts.dumps?.[type] ?? [];
  }
}
