/**
 * Loads the golden netlink fixtures in `tests/fixtures/` (see its README.md): `#` lines are
 * comments, the rest are hex bytes; `*.dump.hex` files hold datagrams, each after a
 * `# datagram N` line.
 *
 * @module
 */
import { readdirSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

// A path string: Bun's and Deno's URL typings disagree, so node:fs gets no URL objects.
const FIXTURES = fileURLToPath(new URL("../fixtures/", import.meta.url).href);

function readFixture(name: string): string {
  return readFileSync(FIXTURES + name, "utf8");
}

/**
 * The file names in `tests/fixtures/`.
 *
 * @returns The names, sorted.
 */
export function fixtureNames(): string[] {
  return readdirSync(FIXTURES).sort();
}

function parseHex(lines: string[], name: string): Uint8Array<ArrayBuffer> {
  const out: number[] = [];
  for (const line of lines) {
    for (const tok of line.trim().split(/\s+/)) {
      if (tok === "") continue;
      if (!/^[0-9a-f]{2}$/i.test(tok)) throw new Error(`${name}: bad hex byte "${tok}"`);
      out.push(parseInt(tok, 16));
    }
  }
  return new Uint8Array(out);
}

/**
 * The bytes of a one-message fixture (a request or a reply).
 *
 * @param name File name in `tests/fixtures/`, e.g. `link-add-veth.hex`.
 * @returns The message bytes.
 */
export function loadHex(name: string): Uint8Array<ArrayBuffer> {
  const lines = readFixture(name).split("\n").filter((l) => !l.startsWith("#"));
  return parseHex(lines, name);
}

/**
 * The comment lines of a fixture, without their `# ` prefix.
 *
 * @param name File name in `tests/fixtures/`.
 * @returns The comments.
 */
export function loadComments(name: string): string[] {
  return readFixture(name).split("\n").filter((l) => l.startsWith("#")).map((l) =>
    l.replace(/^#\s?/, "")
  );
}

/**
 * The datagrams of a `*.dump.hex` fixture, in order.
 *
 * @param name File name in `tests/fixtures/`, e.g. `link-show.dump.hex`.
 * @returns One byte array per datagram.
 */
export function loadDatagrams(name: string): Uint8Array<ArrayBuffer>[] {
  const out: string[][] = [];
  for (const line of readFixture(name).split("\n")) {
    if (/^# datagram \d+/.test(line)) out.push([]);
    else if (!line.startsWith("#") && line.trim() !== "") {
      if (out.length === 0) throw new Error(`${name}: bytes before the first "# datagram" line`);
      out[out.length - 1].push(line);
    }
  }
  return out.map((lines) => parseHex(lines, name));
}

/** One netlink message split out of a datagram. */
export interface SplitMessage {
  /** `nlmsg_len`. */
  len: number;
  /** `nlmsg_type`. */
  type: number;
  /** `nlmsg_flags`. */
  flags: number;
  /** `nlmsg_seq`. */
  seq: number;
  /** `nlmsg_pid`. */
  pid: number;
  /** The bytes after `nlmsghdr`, up to `nlmsg_len`. */
  payload: Uint8Array<ArrayBuffer>;
}

/**
 * Splits a datagram into its messages by `nlmsg_len`, each aligned to 4 bytes (`NLMSG_ALIGN`).
 * Throws on a length that is too short or runs past the datagram.
 *
 * @param datagram The bytes one `recvmsg` returned.
 * @returns The messages.
 */
export function splitMessages(datagram: Uint8Array): SplitMessage[] {
  const dv = new DataView(datagram.buffer, datagram.byteOffset, datagram.byteLength);
  const out: SplitMessage[] = [];
  let off = 0;
  while (off < datagram.byteLength) {
    if (off + 16 > datagram.byteLength) {
      throw new RangeError(`Stray ${datagram.byteLength - off} bytes`);
    }
    const len = dv.getUint32(off, true);
    if (len < 16 || off + len > datagram.byteLength) {
      throw new RangeError(`Bad nlmsg_len ${len} at offset ${off} of ${datagram.byteLength}`);
    }
    out.push({
      len,
      type: dv.getUint16(off + 4, true),
      flags: dv.getUint16(off + 6, true),
      seq: dv.getUint32(off + 8, true),
      pid: dv.getUint32(off + 12, true),
      payload: datagram.slice(off + 16, off + len),
    });
    off += (len + 3) & ~3;
  }
  return out;
}

/**
 * Every message of a `*.dump.hex` fixture, all datagrams in order.
 *
 * @param name File name in `tests/fixtures/`.
 * @returns The messages.
 */
export function loadDumpMessages(name: string): SplitMessage[] {
  return loadDatagrams(name).flatMap(splitMessages);
}

/**
 * Formats bytes as hex lines of 16, like the fixtures, so a failed comparison shows where the
 * bytes differ.
 *
 * @param bytes The bytes.
 * @returns One string per 16 bytes.
 */
export function hexLines(bytes: Uint8Array): string[] {
  const out: string[] = [];
  for (let i = 0; i < bytes.length; i += 16) {
    out.push(
      Array.from(bytes.subarray(i, i + 16), (b) => b.toString(16).padStart(2, "0")).join(" "),
    );
  }
  return out;
}
