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
 * @module
 */

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

/** Options of {@linkcode EtcdClient}. */
export interface EtcdClientOptions {
  /** Milliseconds one request may take on one member before the next is tried; default 2000. */
  timeout?: number;
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

  /**
   * Creates the error.
   *
   * @param store The store's URL.
   * @param op The operation.
   * @param detail What went wrong.
   * @param extra gRPC code, reachability, cause.
   */
  constructor(
    store: string,
    op: string,
    detail: string,
    extra: { code?: number; unreachable?: boolean; cause?: unknown } = {},
  ) {
    super(`etcd "${store}": ${op}: ${detail}`, { cause: extra.cause });
    this.name = "EtcdError";
    this.store = store;
    this.op = op;
    this.code = extra.code;
    this.unreachable = extra.unreachable ?? false;
  }
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function b64(s: string): string {
  const bytes = enc.encode(s);
  let bin = "";
  for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
  return btoa(bin);
}

function unb64(s: string | undefined): string {
  if (!s) return "";
  const bin = atob(s);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return dec.decode(bytes);
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

interface RawKv {
  key?: string;
  value?: string;
  create_revision?: string;
  mod_revision?: string;
  version?: string;
  lease?: string;
}

function kvOf(r: RawKv): KeyValue {
  return {
    key: unb64(r.key),
    value: unb64(r.value),
    createRevision: Number(r.create_revision ?? 0),
    modRevision: Number(r.mod_revision ?? 0),
    version: Number(r.version ?? 0),
    lease: r.lease ?? "0",
  };
}

interface RawHeader {
  header?: { revision?: string };
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
 * Parses `etcd://host:port[,host:port…]` (or `http://…` URLs, comma-separated) into client URLs.
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
  if (typeof url !== "string" || !/^(etcd|https?):\/\//.test(url)) {
    throw new TypeError(
      `Invalid etcd store "${url}": expected etcd://HOST:PORT[,HOST:PORT…]`,
    );
  }
  const rest = url.startsWith("etcd://") ? url.slice("etcd://".length) : url;
  const out: string[] = [];
  for (const part of rest.split(",")) {
    const p = part.trim().replace(/\/+$/, "");
    if (p === "") continue;
    const withScheme = /^https?:\/\//.test(p) ? p : `http://${p}`;
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

  /**
   * A client for the cluster at `url`.
   *
   * @param url `etcd://HOST:PORT[,HOST:PORT…]`.
   * @param options Request timeout.
   */
  constructor(url: string, options: EtcdClientOptions = {}) {
    this.members = parseEtcdUrl(url);
    this.url = url;
    this.#timeout = options.timeout ?? 2000;
  }

  /**
   * Sends one gateway request, trying each member in turn until one answers.
   *
   * @param path E.g. `/v3/kv/range`.
   * @param body The JSON body.
   * @param op Names the operation in errors.
   * @returns The parsed JSON answer.
   */
  async call<T>(path: string, body: unknown, op: string): Promise<T> {
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
            headers: { "content-type": "application/json" },
            body: JSON.stringify(body),
            signal: AbortSignal.timeout(this.#timeout),
          });
        } catch (e) {
          lastCause = e;
          if (e instanceof Error && e.name === "TimeoutError") slow = true;
          errors.push(`${member}: ${describeFetchError(e)}`);
          continue;
        }
        let json: Record<string, unknown>;
        try {
          json = await res.json() as Record<string, unknown>;
        } catch (e) {
          lastCause = e;
          errors.push(`${member}: HTTP ${res.status} with no JSON body`);
          continue;
        }
        if (!res.ok || typeof json.error === "string" || typeof json.code === "number") {
          const code = Number(json.code ?? 0);
          const message = String(json.message ?? json.error ?? `HTTP ${res.status}`);
          if (RETRY_CODES.has(code) || res.status >= 502) {
            slow = true;
            errors.push(`${member}: ${message}`);
            continue;
          }
          this.#preferred = idx;
          throw new EtcdError(this.url, op, message, { code });
        }
        this.#preferred = idx;
        return json as T;
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
    const r = await this.call<RawHeader & { kvs?: RawKv[] }>(
      "/v3/kv/range",
      body,
      `range "${key}"${options.prefix ? " (prefix)" : ""}`,
    );
    return { revision: Number(r.header?.revision ?? 0), kvs: (r.kvs ?? []).map(kvOf) };
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
    const r = await this.call<RawHeader>("/v3/kv/put", body, `put "${key}"`);
    return Number(r.header?.revision ?? 0);
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
    const r = await this.call<{ deleted?: string }>(
      "/v3/kv/deleterange",
      body,
      `delete "${key}"${options.prefix ? " (prefix)" : ""}`,
    );
    return Number(r.deleted ?? 0);
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
    const r = await this.call<
      RawHeader & {
        succeeded?: boolean;
        responses?: { response_range?: { kvs?: RawKv[] } }[];
      }
    >(
      "/v3/kv/txn",
      {
        compare: t.compare.map(rawCompare),
        success: (t.success ?? []).map(rawOp),
        failure: (t.failure ?? []).map(rawOp),
      },
      op,
    );
    const ranges: KeyValue[][] = [];
    for (const resp of r.responses ?? []) {
      if (resp.response_range) ranges.push((resp.response_range.kvs ?? []).map(kvOf));
    }
    return { succeeded: r.succeeded === true, revision: Number(r.header?.revision ?? 0), ranges };
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
    const r = await this.call<{ ID?: string }>(
      "/v3/lease/grant",
      { TTL: String(ttl) },
      "lease grant",
    );
    if (!r.ID) throw new EtcdError(this.url, "lease grant", "no lease id in the answer");
    return r.ID;
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
    const r = await this.call<{ result?: { TTL?: string } }>(
      "/v3/lease/keepalive",
      { ID: id },
      `lease keepalive ${id}`,
    );
    return Number(r.result?.TTL ?? 0);
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
    let revision = startRevision - 1;
    let stopped = false;
    let abort = new AbortController();
    const run = async () => {
      let attempt = 0;
      while (!stopped) {
        const n = members.length;
        const member = members[(preferred() + attempt) % n];
        try {
          const res = await fetch(`${member}/v3/watch`, {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: JSON.stringify({
              create_request: {
                key: b64(prefix),
                range_end: b64(prefixEnd(prefix)),
                start_revision: String(revision + 1),
              },
            }),
            signal: abort.signal,
          });
          if (!res.ok || !res.body) throw new Error(`HTTP ${res.status}`);
          const reader = res.body.getReader();
          let buf = "";
          const decoder = new TextDecoder();
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buf += decoder.decode(value, { stream: true });
            let nl: number;
            while ((nl = buf.indexOf("\n")) >= 0) {
              const line = buf.slice(0, nl).trim();
              buf = buf.slice(nl + 1);
              if (line === "") continue;
              const msg = JSON.parse(line) as {
                result?: {
                  header?: { revision?: string };
                  created?: boolean;
                  canceled?: boolean;
                  compact_revision?: string;
                  events?: { type?: string; kv: RawKv }[];
                };
                error?: { message?: string };
              };
              const r = msg.result;
              if (!r) throw new Error(msg.error?.message ?? "watch stream error");
              if (r.created) attempt = 0;
              if (r.compact_revision && r.compact_revision !== "0") {
                stopped = true;
                abort.abort();
                handlers.compacted(Number(r.compact_revision));
                return;
              }
              if (r.canceled) throw new Error("watch canceled by the server");
              if (r.events?.length) {
                const events: WatchEvent[] = r.events.map((e) => ({
                  type: e.type === "DELETE" ? "delete" : "put",
                  kv: kvOf(e.kv),
                }));
                const rev = events[events.length - 1].kv.modRevision;
                handlers.events(events, rev);
                revision = Math.max(revision, rev);
              }
            }
          }
          throw new Error("watch stream ended");
        } catch (e) {
          if (stopped) return;
          handlers.disconnected?.(e instanceof Error ? e : new Error(String(e)));
          attempt++;
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
    return code ? `${code} (${e.message})` : e.message;
  }
  return String(e);
}
