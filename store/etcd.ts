/**
 * An etcd v3 client over etcd's JSON gateway (`POST /v3/kv/range`, `/v3/kv/txn`, `/v3/watch`,
 * `/v3/lease/*`) with `fetch`: no dependency, the same code on Deno and Bun. Keys and values are
 * strings (UTF-8; base64 on the wire); revisions are numbers (etcd's int64 stays far below
 * 2^53 in practice).
 *
 * Several client URLs can be given: a request that cannot reach one member (refused, reset,
 * timed out, or the member answers "unavailable") goes to the next, and the member that
 * answered is tried first next time. When no member answers, the error names the store.
 *
 * `etcd+https://…` stores are reached over TLS, with a CA and a client certificate and key
 * ({@linkcode EtcdTlsOptions}: Deno's `Deno.createHttpClient`, Bun's `fetch(…, { tls })`); with a
 * user name and password, the client takes an auth token (`/v3/auth/authenticate`) and takes a
 * new one when etcd says it expired. Every answer goes through one checked decoder
 * ({@linkcode decodeAnswer}): what etcd would never send is an {@linkcode EtcdError}, never a
 * `TypeError`.
 *
 * @module
 */
import { readFileSync } from "node:fs";

/** One key-value pair as etcd returns it. */
export interface KeyValue {
  /** The key. */
  key: string;
  /** The value. */
  value: string;
  /** The revision that created the key (0: absent). */
  createRevision: number;
  /** The revision of its last change. */
  modRevision: number;
  /** How many times it was changed since it was created. */
  version: number;
  /** The lease it is attached to, as a decimal string; `"0"` for none. */
  lease: string;
}

/** A comparison in a transaction (`Compare`). */
export type Compare =
  | { key: string; rangeEnd?: string; target: "create"; createRevision: number; result?: CmpResult }
  | { key: string; rangeEnd?: string; target: "mod"; modRevision: number; result?: CmpResult }
  | { key: string; rangeEnd?: string; target: "version"; version: number; result?: CmpResult }
  | { key: string; rangeEnd?: string; target: "value"; value: string; result?: CmpResult };

/** `EQUAL` (default), `NOT_EQUAL`, `GREATER` or `LESS`. */
export type CmpResult = "equal" | "notEqual" | "greater" | "less";

/** An operation in a transaction (`RequestOp`). */
export type TxnOp =
  | { put: { key: string; value: string; lease?: string } }
  | { delete: { key: string; rangeEnd?: string } }
  | { range: { key: string; rangeEnd?: string } };

/** A transaction's outcome. */
export interface TxnResult {
  /** Whether every comparison held (the `success` branch ran). */
  succeeded: boolean;
  /** The store's revision after the transaction. */
  revision: number;
  /** The key-values read by `range` operations in the branch that ran, in order. */
  ranges: KeyValue[][];
}

/** A range read's outcome. */
export interface RangeResult {
  /** The revision the read saw. */
  revision: number;
  /** The key-values. */
  kvs: KeyValue[];
}

/** One change seen by a watch. */
export interface WatchEvent {
  /** `put` or `delete`. */
  type: "put" | "delete";
  /** The key-value after the change (for a delete: the key and the revision of the delete). */
  kv: KeyValue;
}

/** What a watch reports. */
export interface WatchHandlers {
  /** Changes, in revision order; `revision` is the store's revision of the batch. */
  events(events: WatchEvent[], revision: number): void;
  /** The watch cannot resume: the store compacted past the revision it had to start from. */
  compacted(compactRevision: number): void;
  /** The connection broke; the watch reconnects by itself and resumes after the last revision. */
  disconnected?(error: Error): void;
}

/** A running watch. */
export interface Watch {
  /** The last revision delivered (or the revision before the start). */
  readonly revision: number;
  /** Stops the watch; resolves once its connection is closed. */
  cancel(): Promise<void>;
}

/**
 * TLS material of an `etcd+https://` store. Each value is either PEM text (it contains
 * `-----BEGIN`) or the path of a PEM file, read once when the client is made.
 */
export interface EtcdTlsOptions {
  /** The CA certificate(s) that signed the members' certificates; default the system's. */
  ca?: string;
  /** This client's certificate, for members that require client certificates. */
  cert?: string;
  /** This client's private key (with `cert`). */
  key?: string;
}

/** Options of {@linkcode EtcdClient}. */
export interface EtcdClientOptions {
  /** Milliseconds one request may take on one member before the next is tried; default 2000. */
  timeout?: number;
  /** TLS for `etcd+https://` stores: CA, client certificate and key. */
  tls?: EtcdTlsOptions;
  /** etcd user name (etcd's auth): a token is taken with `password` and renewed as needed. */
  username?: string;
  /** The user's password. */
  password?: string;
}

/**
 * etcd could not be reached, or refused an operation. The message names the store (its URLs),
 * the operation and what went wrong.
 *
 * @example
 * ```ts ignore
 * try {
 *   await client.put("/k", "v");
 * } catch (e) {
 *   if (e instanceof EtcdError) e.message; // 'etcd "etcd://198.51.100.1:2379": put "/k": unreachable (…)'
 * }
 * ```
 */
export class EtcdError extends Error {
  /** The store, e.g. `etcd://198.51.100.1:2379,198.51.100.2:2379`. */
  readonly store: string;
  /** The operation, e.g. `put "/k"`. */
  readonly op: string;
  /** etcd's gRPC status code when it answered (5: not found, 14: unavailable, …). */
  readonly code?: number;
  /** True when no member could be reached. */
  readonly unreachable: boolean;
  /** True when an answer (or a stored value) was not what etcd sends: see {@linkcode decodeAnswer}. */
  readonly malformed: boolean;

  /**
   * Creates the error.
   *
   * @param store The store's URL.
   * @param op The operation.
   * @param detail What went wrong.
   * @param extra gRPC code, reachability, a malformed answer, cause.
   */
  constructor(
    store: string,
    op: string,
    detail: string,
    extra: { code?: number; unreachable?: boolean; malformed?: boolean; cause?: unknown } = {},
  ) {
    super(`etcd "${store}": ${op}: ${detail}`, { cause: extra.cause });
    this.name = "EtcdError";
    this.store = store;
    this.op = op;
    this.code = extra.code;
    this.unreachable = extra.unreachable ?? false;
    this.malformed = extra.malformed ?? false;
  }
}

const enc = new TextEncoder();

function b64(s: string): string {
  const bytes = enc.encode(s);
  let bin = "";
  for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
  return btoa(bin);
}

/**
 * The end of the range holding every key that starts with `prefix` (etcd's `WithPrefix`).
 *
 * @example
 * ```ts
 * import { prefixEnd } from "./etcd.ts";
 * prefixEnd("/nslink/"); // "/nslink0"
 * ```
 * @param prefix The prefix.
 * @returns The range end.
 */
export function prefixEnd(prefix: string): string {
  const cps = [...prefix];
  for (let i = cps.length - 1; i >= 0; i--) {
    const c = cps[i].codePointAt(0)!;
    if (c < 0x7f) return cps.slice(0, i).join("") + String.fromCodePoint(c + 1);
  }
  return "\0";
}

/** Where an answer came from, for the errors of {@linkcode decodeAnswer}. */
export interface AnswerContext {
  /** The store's URL. */
  store: string;
  /** The operation, e.g. `range "/k"`. */
  op: string;
}

/** A watch stream message, decoded. */
export interface WatchMessage {
  /** The watch was created (the stream is live). */
  created: boolean;
  /** The server canceled the watch. */
  canceled: boolean;
  /** Why, when it said. */
  cancelReason: string;
  /** Non-zero: the revision to start from was compacted away. */
  compactRevision: number;
  /** The changes. */
  events: WatchEvent[];
}

type Json = Record<string, unknown>;

function malformed(ctx: AnswerContext, detail: string): EtcdError {
  return new EtcdError(ctx.store, ctx.op, `malformed answer: ${detail}`, { malformed: true });
}

function object(v: unknown, what: string, ctx: AnswerContext): Json {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw malformed(ctx, `${what} is ${describeJson(v)}, not an object`);
  }
  return v as Json;
}

function optObject(o: Json, field: string, ctx: AnswerContext): Json | undefined {
  const v = o[field];
  return v === undefined || v === null ? undefined : object(v, `"${field}"`, ctx);
}

function optArray(o: Json, field: string, ctx: AnswerContext): unknown[] {
  const v = o[field];
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw malformed(ctx, `"${field}" is ${describeJson(v)}, not an array`);
  return v;
}

function optString(o: Json, field: string, ctx: AnswerContext): string | undefined {
  const v = o[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw malformed(ctx, `"${field}" is ${describeJson(v)}, not a string`);
  return v;
}

function optBool(o: Json, field: string, ctx: AnswerContext): boolean {
  const v = o[field];
  if (v === undefined || v === null) return false;
  if (typeof v !== "boolean") {
    throw malformed(ctx, `"${field}" is ${describeJson(v)}, not a boolean`);
  }
  return v;
}

/** An int64 as the gateway sends it (a decimal string, sometimes a number); absent: 0. */
function optInt(o: Json, field: string, ctx: AnswerContext): number {
  const v = o[field];
  if (v === undefined || v === null) return 0;
  if (typeof v === "number" && Number.isSafeInteger(v)) return v;
  if (typeof v === "string" && /^-?\d{1,16}$/.test(v)) return Number(v);
  throw malformed(ctx, `"${field}" is ${describeJson(v)}, not an integer`);
}

/** An int64 kept as its decimal string (lease ids exceed 2^53). */
function optIntString(o: Json, field: string, ctx: AnswerContext): string | undefined {
  const v = o[field];
  if (v === undefined || v === null) return undefined;
  if (typeof v === "string" && /^-?\d{1,20}$/.test(v)) return v;
  if (typeof v === "number" && Number.isSafeInteger(v)) return String(v);
  throw malformed(ctx, `"${field}" is ${describeJson(v)}, not an integer`);
}

function describeJson(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (typeof v === "string") return `"${v.length > 40 ? `${v.slice(0, 40)}…` : v}"`;
  return typeof v === "object" ? "an object" : `${typeof v} ${String(v)}`;
}

const strictDec = new TextDecoder("utf-8", { fatal: true });

function base64(s: string | undefined, what: string, ctx: AnswerContext): string {
  if (!s) return "";
  let bin: string;
  try {
    bin = atob(s);
  } catch {
    throw malformed(ctx, `${what} is not base64`);
  }
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  try {
    return strictDec.decode(bytes);
  } catch {
    throw malformed(ctx, `${what} is not UTF-8`);
  }
}

function header(o: Json, ctx: AnswerContext): number {
  const h = optObject(o, "header", ctx);
  return h ? optInt(h, "revision", ctx) : 0;
}

function kv(v: unknown, ctx: AnswerContext): KeyValue {
  const r = object(v, "a key-value", ctx);
  return {
    key: base64(optString(r, "key", ctx), "a key", ctx),
    value: base64(optString(r, "value", ctx), "a value", ctx),
    createRevision: optInt(r, "create_revision", ctx),
    modRevision: optInt(r, "mod_revision", ctx),
    version: optInt(r, "version", ctx),
    lease: optIntString(r, "lease", ctx) ?? "0",
  };
}

/** What {@linkcode decodeAnswer} returns for each answer. */
export interface Answers {
  /** `/v3/kv/range`. */
  range: RangeResult;
  /** `/v3/kv/put`: the revision. */
  put: number;
  /** `/v3/kv/deleterange`: how many keys went. */
  deleterange: number;
  /** `/v3/kv/txn`. */
  txn: TxnResult;
  /** `/v3/lease/grant`: the lease id. */
  leaseGrant: string;
  /** `/v3/lease/keepalive`: the TTL left (0: gone). */
  leaseKeepAlive: number;
  /** `/v3/auth/authenticate`: the token. */
  authenticate: string;
  /** One message of the `/v3/watch` stream. */
  watch: WatchMessage;
}

const answers: { [K in AnswerKind]: (o: Json, ctx: AnswerContext) => Answers[K] } = {
  range(o: Json, ctx: AnswerContext): RangeResult {
    return { revision: header(o, ctx), kvs: optArray(o, "kvs", ctx).map((v) => kv(v, ctx)) };
  },
  put(o: Json, ctx: AnswerContext): number {
    return header(o, ctx);
  },
  deleterange(o: Json, ctx: AnswerContext): number {
    return optInt(o, "deleted", ctx);
  },
  txn(o: Json, ctx: AnswerContext): TxnResult {
    const ranges: KeyValue[][] = [];
    for (const resp of optArray(o, "responses", ctx)) {
      const range = optObject(object(resp, "a response", ctx), "response_range", ctx);
      if (range) ranges.push(optArray(range, "kvs", ctx).map((v) => kv(v, ctx)));
    }
    return { succeeded: optBool(o, "succeeded", ctx), revision: header(o, ctx), ranges };
  },
  leaseGrant(o: Json, ctx: AnswerContext): string {
    const id = optIntString(o, "ID", ctx);
    if (id === undefined || id === "0") throw malformed(ctx, "no lease id");
    return id;
  },
  leaseKeepAlive(o: Json, ctx: AnswerContext): number {
    const r = optObject(o, "result", ctx);
    return r ? optInt(r, "TTL", ctx) : 0;
  },
  authenticate(o: Json, ctx: AnswerContext): string {
    const token = optString(o, "token", ctx);
    if (!token) throw malformed(ctx, "no token");
    return token;
  },
  watch(o: Json, ctx: AnswerContext): WatchMessage {
    const r = optObject(o, "result", ctx);
    if (!r) {
      const err = optObject(o, "error", ctx);
      const message = err ? optString(err, "message", ctx) : undefined;
      throw new EtcdError(ctx.store, ctx.op, message ?? "watch stream error");
    }
    const events = optArray(r, "events", ctx).map((v): WatchEvent => {
      const e = object(v, "an event", ctx);
      return { type: optString(e, "type", ctx) === "DELETE" ? "delete" : "put", kv: kv(e.kv, ctx) };
    });
    return {
      created: optBool(r, "created", ctx),
      canceled: optBool(r, "canceled", ctx),
      cancelReason: optString(r, "cancel_reason", ctx) ?? "",
      compactRevision: optInt(r, "compact_revision", ctx),
      events,
    };
  },
};

/** The answers {@linkcode decodeAnswer} knows, by the gateway call that sends them. */
export type AnswerKind = keyof Answers;

/**
 * Decodes one answer of etcd's JSON gateway, checking every field it reads: keys and values are
 * base64 of UTF-8, revisions integers, lists arrays. Anything else (a `null` body, a string where
 * an object belongs, bad base64) is an {@linkcode EtcdError} with `malformed` set, naming the
 * store and the operation; never a `TypeError` or a `DOMException`.
 *
 * @example
 * ```ts
 * import { decodeAnswer } from "./etcd.ts";
 * const ctx = { store: "etcd://198.51.100.1:2379", op: 'range "/k"' };
 * decodeAnswer("range", { header: { revision: "7" }, kvs: [{ key: "L2s=", value: "dg==" }] }, ctx);
 * // { revision: 7, kvs: [{ key: "/k", value: "v", createRevision: 0, … }] }
 * ```
 * @param kind Which answer it is (`range`, `put`, `deleterange`, `txn`, `leaseGrant`,
 *   `leaseKeepAlive`, `authenticate`, `watch`: one message of the watch stream).
 * @param json The parsed JSON body.
 * @param ctx The store and operation, for errors.
 * @returns The decoded answer.
 */
export function decodeAnswer<K extends AnswerKind>(
  kind: K,
  json: unknown,
  ctx: AnswerContext,
): Answers[K] {
  return answers[kind](object(json, "the body", ctx), ctx);
}

const CMP_TARGET = { create: "CREATE", mod: "MOD", version: "VERSION", value: "VALUE" } as const;
const CMP_RESULT = {
  equal: "EQUAL",
  notEqual: "NOT_EQUAL",
  greater: "GREATER",
  less: "LESS",
} as const;

function rawCompare(c: Compare): Record<string, string> {
  const out: Record<string, string> = {
    key: b64(c.key),
    target: CMP_TARGET[c.target],
    result: CMP_RESULT[c.result ?? "equal"],
  };
  if (c.rangeEnd !== undefined) out.range_end = b64(c.rangeEnd);
  if (c.target === "create") out.create_revision = String(c.createRevision);
  else if (c.target === "mod") out.mod_revision = String(c.modRevision);
  else if (c.target === "version") out.version = String(c.version);
  else out.value = b64(c.value);
  return out;
}

function rawOp(op: TxnOp): Record<string, unknown> {
  if ("put" in op) {
    const p: Record<string, string> = { key: b64(op.put.key), value: b64(op.put.value) };
    if (op.put.lease !== undefined && op.put.lease !== "0") p.lease = op.put.lease;
    return { request_put: p };
  }
  if ("delete" in op) {
    const d: Record<string, string> = { key: b64(op.delete.key) };
    if (op.delete.rangeEnd !== undefined) d.range_end = b64(op.delete.rangeEnd);
    return { request_delete_range: d };
  }
  const r: Record<string, string> = { key: b64(op.range.key) };
  if (op.range.rangeEnd !== undefined) r.range_end = b64(op.range.rangeEnd);
  return { request_range: r };
}

/** gRPC codes meaning "try another member". */
const RETRY_CODES = new Set([14, /* UNAVAILABLE */ 4 /* DEADLINE_EXCEEDED */]);

/**
 * Parses `etcd://host:port[,host:port…]`, `etcd+https://host:port[,…]` (TLS), or `http://…` /
 * `https://…` URLs, comma-separated, into client URLs.
 *
 * @example
 * ```ts
 * import { parseEtcdUrl } from "./etcd.ts";
 * parseEtcdUrl("etcd://198.51.100.1:2379,198.51.100.2:2379");
 * // ["http://198.51.100.1:2379", "http://198.51.100.2:2379"]
 * ```
 * @param url The store URL.
 * @returns The members' client URLs.
 */
export function parseEtcdUrl(url: string): string[] {
  if (typeof url !== "string" || !/^(etcd|etcd\+https|https?):\/\//.test(url)) {
    throw new TypeError(
      `Invalid etcd store "${url}": expected etcd://HOST:PORT[,HOST:PORT…] or etcd+https://…`,
    );
  }
  const scheme = url.startsWith("etcd+https://") || url.startsWith("https://") ? "https" : "http";
  const rest = url.replace(/^(etcd|etcd\+https):\/\//, "");
  const out: string[] = [];
  for (const part of rest.split(",")) {
    const p = part.trim().replace(/\/+$/, "");
    if (p === "") continue;
    const withScheme = /^https?:\/\//.test(p) ? p : `${scheme}://${p}`;
    let u: URL;
    try {
      u = new URL(withScheme);
    } catch {
      throw new TypeError(`Invalid etcd store "${url}": bad member "${part}"`);
    }
    if (!u.port) u.port = "2379";
    out.push(`${u.protocol}//${u.host}`);
  }
  if (out.length === 0) throw new TypeError(`Invalid etcd store "${url}": no member`);
  return out;
}

/**
 * A client of one etcd cluster, over its v3 JSON gateway.
 *
 * @example
 * ```ts ignore
 * const etcd = new EtcdClient("etcd://198.51.100.1:2379,198.51.100.2:2379");
 * await etcd.put("/nslink/hello", "world");
 * (await etcd.get("/nslink/hello"))?.value; // "world"
 * ```
 */
export class EtcdClient {
  /** The store's URL, as given (used in error messages). */
  readonly url: string;
  /** The members' client URLs. */
  readonly members: readonly string[];
  #preferred = 0;
  #timeout: number;
  /** What every request adds to `fetch`'s options for TLS (Deno's `client`, Bun's `tls`). */
  #tlsInit: Record<string, unknown> = {};
  #closeTls: (() => void) | undefined;
  #auth: { username: string; password: string } | undefined;
  /** The auth token being taken or in use. */
  #token: Promise<string> | undefined;

  /**
   * A client for the cluster at `url`.
   *
   * @param url `etcd://HOST:PORT[,HOST:PORT…]`, or `etcd+https://…` for TLS.
   * @param options Request timeout, TLS material, user and password.
   */
  constructor(url: string, options: EtcdClientOptions = {}) {
    this.members = parseEtcdUrl(url);
    this.url = url;
    this.#timeout = options.timeout ?? 2000;
    if (options.tls !== undefined) {
      if (!this.members.every((m) => m.startsWith("https://"))) {
        throw new TypeError(
          `etcd store "${url}": TLS options need an etcd+https:// store`,
        );
      }
      const tls = readTls(url, options.tls);
      const deno = (globalThis as {
        Deno?: {
          createHttpClient?(o: { caCerts?: string[]; cert?: string; key?: string }): {
            close(): void;
          };
        };
      }).Deno;
      if (deno?.createHttpClient) {
        const client = deno.createHttpClient({
          ...(tls.ca !== undefined ? { caCerts: [tls.ca] } : {}),
          ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
          ...(tls.key !== undefined ? { key: tls.key } : {}),
        });
        this.#tlsInit = { client };
        this.#closeTls = () => client.close();
      } else {
        this.#tlsInit = { tls };
      }
    }
    if (options.username !== undefined || options.password !== undefined) {
      if (!options.username || options.password === undefined) {
        throw new TypeError(`etcd store "${url}": auth needs both a user name and a password`);
      }
      this.#auth = { username: options.username, password: options.password };
    }
  }

  /**
   * Releases the TLS client (Deno keeps one per client); the client is unusable afterwards.
   *
   * @example
   * ```ts ignore
   * etcd.close();
   * ```
   */
  close(): void {
    this.#closeTls?.();
    this.#closeTls = undefined;
  }

  /** The request headers: JSON, and the auth token when the store needs one. */
  async #headers(): Promise<Record<string, string>> {
    const h: Record<string, string> = { "content-type": "application/json" };
    if (this.#auth) {
      this.#token ??= this.#authenticate();
      const p = this.#token;
      try {
        h.authorization = await p;
      } catch (e) {
        if (this.#token === p) this.#token = undefined; // try again next time
        throw e;
      }
    }
    return h;
  }

  /** Takes a token with the user name and password (`POST /v3/auth/authenticate`). */
  async #authenticate(): Promise<string> {
    const auth = this.#auth!;
    const op = `authenticate user "${auth.username}"`;
    const json = await this.#post(
      "/v3/auth/authenticate",
      { name: auth.username, password: auth.password },
      op,
      { "content-type": "application/json" },
    );
    return decodeAnswer("authenticate", json, { store: this.url, op });
  }

  /**
   * Sends one gateway request, trying each member in turn until one answers; with auth, takes a
   * token first and takes a new one once when etcd says it expired or is invalid.
   *
   * @param path E.g. `/v3/kv/range`.
   * @param body The JSON body.
   * @param op Names the operation in errors.
   * @returns The answer's JSON body (an object; check its fields with {@linkcode decodeAnswer}).
   */
  async call(path: string, body: unknown, op: string): Promise<unknown> {
    for (let attempt = 0;; attempt++) {
      const headers = await this.#headers();
      try {
        return await this.#post(path, body, op, headers);
      } catch (e) {
        if (attempt === 0 && this.#auth && e instanceof EtcdError && staleToken(e)) {
          if (
            this.#token !== undefined &&
            (await this.#token.catch(() => "")) === headers.authorization
          ) {
            this.#token = undefined;
          }
          continue;
        }
        throw e;
      }
    }
  }

  async #post(
    path: string,
    body: unknown,
    op: string,
    headers: Record<string, string>,
  ): Promise<unknown> {
    const errors: string[] = [];
    let lastCause: unknown;
    const n = this.members.length;
    // Start from the member that answered last (read once: concurrent calls move it).
    const start = this.#preferred;
    // A member that timed out may be waiting for a leader election (one member lost): one more
    // round then, as long as some member answered slowly rather than refused.
    for (let round = 0; round < 2; round++) {
      let slow = false;
      for (let i = 0; i < n; i++) {
        const idx = (start + i) % n;
        const member = this.members[idx];
        let res: Response;
        try {
          res = await fetch(`${member}${path}`, {
            method: "POST",
            headers,
            body: JSON.stringify(body),
            signal: AbortSignal.timeout(this.#timeout),
            ...this.#tlsInit,
          } as RequestInit);
        } catch (e) {
          lastCause = e;
          if (e instanceof Error && e.name === "TimeoutError") slow = true;
          errors.push(`${member}: ${describeFetchError(e)}`);
          continue;
        }
        let json: unknown;
        let text = "";
        try {
          text = await res.text();
          json = JSON.parse(text);
        } catch (e) {
          lastCause = e;
          // A refusal in plain text (etcd's HTTP layer, e.g. a client certificate with a
          // CommonName on a store with auth): an answer, not a member to skip.
          if (res.status >= 400 && res.status < 500 && text.trim() !== "") {
            this.#preferred = idx;
            throw new EtcdError(
              this.url,
              op,
              `HTTP ${res.status}: ${text.trim().slice(0, 200)}`,
            );
          }
          errors.push(`${member}: HTTP ${res.status} with no JSON body`);
          continue;
        }
        const o = typeof json === "object" && json !== null && !Array.isArray(json)
          ? json as Record<string, unknown>
          : undefined;
        if (!res.ok || o === undefined || o.error !== undefined || o.code !== undefined) {
          const code = typeof o?.code === "number" ? o.code : undefined;
          const message = typeof o?.message === "string"
            ? o.message
            : typeof o?.error === "string"
            ? o.error
            : `HTTP ${res.status}`;
          if ((code !== undefined && RETRY_CODES.has(code)) || res.status >= 502) {
            slow = true;
            errors.push(`${member}: ${message}`);
            continue;
          }
          this.#preferred = idx;
          if (o === undefined && res.ok) {
            throw new EtcdError(
              this.url,
              op,
              `malformed answer: the body is ${describeJson(json)}`,
              {
                malformed: true,
              },
            );
          }
          throw new EtcdError(this.url, op, message, code !== undefined ? { code } : {});
        }
        this.#preferred = idx;
        return o;
      }
      if (!slow) break;
    }
    throw new EtcdError(this.url, op, `unreachable (${errors.join("; ")})`, {
      unreachable: true,
      cause: lastCause,
    });
  }

  /**
   * Reads one key.
   *
   * @example
   * ```ts ignore
   * (await etcd.get("/nslink/hello"))?.value;
   * ```
   * @param key The key.
   * @returns The key-value, or `undefined`.
   */
  async get(key: string): Promise<KeyValue | undefined> {
    return (await this.range(key)).kvs[0];
  }

  /**
   * Reads a key, a range, or (with `prefix`) every key under a prefix, at the current revision
   * or at `revision`.
   *
   * @example
   * ```ts ignore
   * const { revision, kvs } = await etcd.range("/nslink/ov/", { prefix: true });
   * ```
   * @param key The key (or the range's start).
   * @param options `prefix`, `rangeEnd`, `revision`, `keysOnly`.
   * @returns The revision read and the key-values.
   */
  async range(
    key: string,
    options: { prefix?: boolean; rangeEnd?: string; revision?: number; keysOnly?: boolean } = {},
  ): Promise<RangeResult> {
    const body: Record<string, unknown> = { key: b64(key) };
    const end = options.prefix ? prefixEnd(key) : options.rangeEnd;
    if (end !== undefined) body.range_end = b64(end);
    if (options.revision !== undefined) body.revision = String(options.revision);
    if (options.keysOnly) body.keys_only = true;
    const op = `range "${key}"${options.prefix ? " (prefix)" : ""}`;
    const r = await this.call("/v3/kv/range", body, op);
    return decodeAnswer("range", r, { store: this.url, op });
  }

  /**
   * Writes a key.
   *
   * @example
   * ```ts ignore
   * await etcd.put("/nslink/hello", "world", { lease });
   * ```
   * @param key The key.
   * @param value The value.
   * @param options `lease`: attach the key to a lease.
   * @returns The store's revision after the write.
   */
  async put(key: string, value: string, options: { lease?: string } = {}): Promise<number> {
    const body: Record<string, string> = { key: b64(key), value: b64(value) };
    if (options.lease !== undefined && options.lease !== "0") body.lease = options.lease;
    const op = `put "${key}"`;
    return decodeAnswer("put", await this.call("/v3/kv/put", body, op), { store: this.url, op });
  }

  /**
   * Deletes a key, or every key under a prefix.
   *
   * @example
   * ```ts ignore
   * await etcd.delete("/nslink/ov/blue/", { prefix: true });
   * ```
   * @param key The key.
   * @param options `prefix`.
   * @returns How many keys were deleted.
   */
  async delete(key: string, options: { prefix?: boolean } = {}): Promise<number> {
    const body: Record<string, string> = { key: b64(key) };
    if (options.prefix) body.range_end = b64(prefixEnd(key));
    const op = `delete "${key}"${options.prefix ? " (prefix)" : ""}`;
    const r = await this.call("/v3/kv/deleterange", body, op);
    return decodeAnswer("deleterange", r, { store: this.url, op });
  }

  /**
   * Runs a transaction: when every comparison holds, the `success` operations, otherwise the
   * `failure` ones, atomically.
   *
   * @example Create a key only if it does not exist (compare-and-swap)
   * ```ts ignore
   * const r = await etcd.txn({
   *   compare: [{ key: "/k", target: "create", createRevision: 0 }],
   *   success: [{ put: { key: "/k", value: "mine" } }],
   *   failure: [{ range: { key: "/k" } }],
   * });
   * r.succeeded; // false when someone else had it; r.ranges[0] holds theirs
   * ```
   * @param t Comparisons and the two branches.
   * @param op Names the operation in errors.
   * @returns Whether it succeeded, the revision, and what `range` operations read.
   */
  async txn(
    t: { compare: Compare[]; success?: TxnOp[]; failure?: TxnOp[] },
    op = "txn",
  ): Promise<TxnResult> {
    const r = await this.call(
      "/v3/kv/txn",
      {
        compare: t.compare.map(rawCompare),
        success: (t.success ?? []).map(rawOp),
        failure: (t.failure ?? []).map(rawOp),
      },
      op,
    );
    return decodeAnswer("txn", r, { store: this.url, op });
  }

  /**
   * Grants a lease: keys attached to it are deleted when it expires or is revoked.
   *
   * @example
   * ```ts ignore
   * const lease = await etcd.leaseGrant(10);
   * ```
   * @param ttl Seconds.
   * @returns The lease id (a decimal string).
   */
  async leaseGrant(ttl: number): Promise<string> {
    const r = await this.call("/v3/lease/grant", { TTL: String(ttl) }, "lease grant");
    return decodeAnswer("leaseGrant", r, { store: this.url, op: "lease grant" });
  }

  /**
   * Renews a lease once.
   *
   * @example
   * ```ts ignore
   * if ((await etcd.leaseKeepAlive(lease)) === 0) console.log("lease expired");
   * ```
   * @param id The lease.
   * @returns Its new time to live in seconds; 0 when the lease no longer exists.
   */
  async leaseKeepAlive(id: string): Promise<number> {
    const op = `lease keepalive ${id}`;
    const r = await this.call("/v3/lease/keepalive", { ID: id }, op);
    return decodeAnswer("leaseKeepAlive", r, { store: this.url, op });
  }

  /**
   * Revokes a lease: its keys are deleted at once. A lease that is already gone is fine.
   *
   * @example
   * ```ts ignore
   * await etcd.leaseRevoke(lease);
   * ```
   * @param id The lease.
   */
  async leaseRevoke(id: string): Promise<void> {
    try {
      await this.call("/v3/lease/revoke", { ID: id }, `lease revoke ${id}`);
    } catch (e) {
      if (e instanceof EtcdError && e.code === 5) return; // not found: expired already
      throw e;
    }
  }

  /**
   * Watches every key under `prefix` from `startRevision` on, over a streamed gateway request.
   * When the connection breaks, it reconnects (to the next member when one is down) and resumes
   * after the last revision it delivered; when that revision was compacted, it reports
   * `compacted` and stops.
   *
   * @example
   * ```ts ignore
   * const w = etcd.watch("/nslink/ov/blue/endpoints/", 42, {
   *   events: (evs) => evs.forEach((e) => console.log(e.type, e.kv.key)),
   *   compacted: () => console.log("reload"),
   * });
   * await w.cancel();
   * ```
   * @param prefix The key prefix.
   * @param startRevision The first revision to deliver.
   * @param handlers What to call.
   * @returns The running watch.
   */
  watch(prefix: string, startRevision: number, handlers: WatchHandlers): Watch {
    const members = this.members;
    const preferred = () => this.#preferred;
    const ctx = { store: this.url, op: `watch "${prefix}"` };
    let revision = startRevision - 1;
    let stopped = false;
    let abort = new AbortController();
    const run = async () => {
      let attempt = 0;
      while (!stopped) {
        const n = members.length;
        const member = members[(preferred() + attempt) % n];
        try {
          const headers = await this.#headers();
          const res = await fetch(`${member}/v3/watch`, {
            method: "POST",
            headers,
            body: JSON.stringify({
              create_request: {
                key: b64(prefix),
                range_end: b64(prefixEnd(prefix)),
                start_revision: String(revision + 1),
              },
            }),
            signal: abort.signal,
            ...this.#tlsInit,
          } as RequestInit);
          if (!res.ok || !res.body) {
            await res.body?.cancel().catch(() => {});
            throw new Error(`HTTP ${res.status}`);
          }
          const reader = res.body.getReader();
          // Deno does not always settle a pending `read()` when the fetch is aborted (the
          // stream sits idle, `cancel()` never returned): each read races the abort, and an
          // abort cancels the reader explicitly.
          const signal = abort.signal;
          const aborted = new Promise<never>((_, reject) => {
            const stop = () => {
              reader.cancel().catch(() => {});
              reject(new Error("watch aborted"));
            };
            if (signal.aborted) stop();
            else signal.addEventListener("abort", stop, { once: true });
          });
          aborted.catch(() => {});
          let buf = "";
          const decoder = new TextDecoder();
          for (;;) {
            const { value, done } = await Promise.race([reader.read(), aborted]);
            if (done) break;
            buf += decoder.decode(value, { stream: true });
            let nl: number;
            while ((nl = buf.indexOf("\n")) >= 0) {
              const line = buf.slice(0, nl).trim();
              buf = buf.slice(nl + 1);
              if (line === "") continue;
              let json: unknown;
              try {
                json = JSON.parse(line);
              } catch {
                throw new EtcdError(ctx.store, ctx.op, "malformed answer: a line is not JSON", {
                  malformed: true,
                });
              }
              const r = decodeAnswer("watch", json, ctx);
              if (r.created) attempt = 0;
              if (r.compactRevision !== 0) {
                stopped = true;
                abort.abort();
                handlers.compacted(r.compactRevision);
                return;
              }
              if (r.canceled) {
                // E.g. "etcdserver: invalid auth token": the catch below takes a new token.
                throw new EtcdError(
                  ctx.store,
                  ctx.op,
                  `canceled: ${r.cancelReason || "by the server"}`,
                );
              }
              if (r.events.length) {
                const events = r.events;
                const rev = events[events.length - 1].kv.modRevision;
                handlers.events(events, rev);
                revision = Math.max(revision, rev);
              }
            }
          }
          throw new Error("watch stream ended");
        } catch (e) {
          if (stopped) return;
          if (e instanceof EtcdError && staleToken(e)) this.#token = undefined;
          handlers.disconnected?.(e instanceof Error ? e : new Error(String(e)));
          attempt++;
          abort.abort(); // closes this connection's reader before the next one
          abort = new AbortController();
          // Cycle through the members; back off a little after a full round.
          await new Promise((r) => setTimeout(r, attempt % members.length === 0 ? 200 : 20));
        }
      }
    };
    const done = run();
    return {
      get revision() {
        return revision;
      },
      async cancel() {
        stopped = true;
        abort.abort();
        await done.catch(() => {});
      },
    };
  }
}

function describeFetchError(e: unknown): string {
  if (e instanceof Error) {
    if (e.name === "TimeoutError") return "timed out";
    const cause = (e as { cause?: { code?: string; message?: string } }).cause;
    const code = (e as { code?: string }).code ?? cause?.code;
    // The whole chain: Deno puts the TLS reason ("invalid peer certificate: UnknownIssuer") in
    // the message, Bun in the code ("UNABLE_TO_VERIFY_LEAF_SIGNATURE").
    const text = cause?.message && !e.message.includes(cause.message)
      ? `${e.message}: ${cause.message}`
      : e.message;
    const tls = /certificate|tls|ssl|handshake|UNABLE_TO_VERIFY|SELF_SIGNED|CERT_/i.test(
        `${code ?? ""} ${text}`,
      )
      ? "TLS: "
      : "";
    return code ? `${tls}${code} (${text})` : `${tls}${text}`;
  }
  return String(e);
}

/** etcd says the auth token expired or is not valid (any more): take a new one. */
function staleToken(e: EtcdError): boolean {
  return e.code === 16 || /invalid auth token|auth token is not/i.test(e.message);
}

function readTls(url: string, tls: EtcdTlsOptions): EtcdTlsOptions {
  const out: EtcdTlsOptions = {};
  for (const k of ["ca", "cert", "key"] as const) {
    const v = tls[k];
    if (v === undefined || v === "") continue;
    if (typeof v !== "string") {
      throw new TypeError(`etcd store "${url}": TLS "${k}" must be PEM text or a file path`);
    }
    if (v.includes("-----BEGIN")) {
      out[k] = v;
      continue;
    }
    try {
      out[k] = readFileSync(v, "utf8");
    } catch (e) {
      throw new TypeError(
        `etcd store "${url}": cannot read TLS "${k}" file "${v}": ${(e as Error).message}`,
        { cause: e },
      );
    }
  }
  if ((out.cert === undefined) !== (out.key === undefined)) {
    throw new TypeError(`etcd store "${url}": TLS "cert" and "key" go together`);
  }
  return out;
}
