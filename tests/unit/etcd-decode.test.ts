// The etcd client's answers go through one checked decoder: whatever a member (or someone in
// the middle) sends back — a `null` body, bad base64, a string where a list belongs, a revision
// that is no number — each call returns a value or throws EtcdError, never a TypeError or a
// DOMException. A seeded, time-bounded fuzz of well-formed answers, mutated, served by a local
// HTTP server to the real client (every operation, the watch stream too), and fed straight to
// decodeAnswer. NSLINK_FUZZ_SEED replays a run; NSLINK_FUZZ_MS bounds it.
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import process from "node:process";
import { type AnswerKind, decodeAnswer, EtcdClient, EtcdError } from "../../store/etcd.ts";

const SEED = Number(process.env.NSLINK_FUZZ_SEED ?? 20261207);
const BUDGET_MS = Number(process.env.NSLINK_FUZZ_MS ?? 1500);

/** mulberry32. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const kv = { key: "L2s=", value: "dg==", create_revision: "3", mod_revision: "4", version: "2" };
/** Well-formed answers, as etcd 3.4's gateway sends them. */
const GOOD: Record<AnswerKind, unknown> = {
  range: { header: { revision: "7" }, kvs: [kv, { ...kv, lease: "7587869230410" }], count: "2" },
  put: { header: { revision: "8" } },
  deleterange: { header: { revision: "9" }, deleted: "1" },
  txn: {
    header: { revision: "9" },
    succeeded: true,
    responses: [{ response_put: { header: {} } }, { response_range: { kvs: [kv] } }],
  },
  leaseGrant: { header: { revision: "9" }, ID: "7587869230410", TTL: "15" },
  leaseKeepAlive: { header: { revision: "9" }, result: { ID: "7587869230410", TTL: "15" } },
  authenticate: { header: { revision: "9" }, token: "abc.12" },
  watch: {
    result: {
      header: { revision: "9" },
      events: [{ kv }, { type: "DELETE", kv: { key: "L2s=", mod_revision: "9" } }],
    },
  },
};

const ODD: unknown[] = [
  null,
  undefined,
  0,
  -1,
  1.5,
  2 ** 60,
  "",
  "x",
  "!!not base64!!",
  "/w==", // base64 of 0xff: not UTF-8
  "12345678901234567890123",
  true,
  [],
  [null],
  {},
  { toString: 1 },
];

/** A mutated copy of `v`: one value somewhere replaced, removed or made odd. */
function mutate(v: unknown, r: () => number): unknown {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
  if (r() < 0.15) return pick(ODD);
  if (Array.isArray(v)) {
    if (v.length === 0) return [pick(ODD)];
    const out = [...v];
    const i = Math.floor(r() * out.length);
    out[i] = mutate(out[i], r);
    return out;
  }
  if (typeof v === "object" && v !== null) {
    const out: Record<string, unknown> = { ...v as Record<string, unknown> };
    const keys = Object.keys(out);
    if (keys.length === 0 || r() < 0.1) {
      out[pick(["kvs", "header", "result", "events", "responses", "ID", "token", "key"])] = pick(
        ODD,
      );
      return out;
    }
    const k = pick(keys);
    if (r() < 0.2) delete out[k];
    else out[k] = mutate(out[k], r);
    return out;
  }
  return pick(ODD);
}

function allowed(e: unknown): boolean {
  return e instanceof EtcdError;
}

describe("etcd answers", () => {
  it("decodeAnswer() returns a value or throws EtcdError for any mutated answer", () => {
    const r = rng(SEED);
    const ctx = { store: "etcd://198.51.100.1:2379", op: "fuzz" };
    const kinds = Object.keys(GOOD) as AnswerKind[];
    const end = Date.now() + BUDGET_MS;
    let n = 0;
    for (; n < 50_000 && Date.now() < end; n++) {
      const kind = kinds[n % kinds.length];
      const input = mutate(GOOD[kind], r);
      try {
        decodeAnswer(kind, input, ctx);
      } catch (e) {
        assert.ok(
          allowed(e),
          `seed ${SEED} #${n} ${kind} ${JSON.stringify(input)}: ${(e as Error)?.name}: ${e}`,
        );
        assert.match((e as Error).message, /^etcd "etcd:\/\/198\.51\.100\.1:2379": fuzz: /);
      }
    }
    assert.ok(n > 100);
  });

  it("decodes the well-formed answers", () => {
    const ctx = { store: "etcd://x", op: "t" };
    assert.deepEqual(decodeAnswer("range", GOOD.range, ctx).kvs[1], {
      key: "/k",
      value: "v",
      createRevision: 3,
      modRevision: 4,
      version: 2,
      lease: "7587869230410",
    });
    assert.equal(decodeAnswer("txn", GOOD.txn, ctx).ranges[0][0].value, "v");
    assert.equal(decodeAnswer("leaseGrant", GOOD.leaseGrant, ctx), "7587869230410");
    assert.equal(decodeAnswer("leaseKeepAlive", GOOD.leaseKeepAlive, ctx), 15);
    assert.deepEqual(decodeAnswer("watch", GOOD.watch, ctx).events.map((e) => e.type), [
      "put",
      "delete",
    ]);
  });
});

describe("etcd client against a member sending malformed answers", () => {
  let server: Server;
  let url = "";
  /** What the server answers next, by path. */
  let answer: (path: string) => unknown = () => null;

  before(async () => {
    server = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        const body = answer(req.url ?? "");
        res.writeHead(200, { "content-type": "application/json" });
        // The watch stream: one message a line, then the stream ends.
        res.end(body === undefined ? "" : `${JSON.stringify(body)}\n`);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `etcd://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections?.();
    await new Promise((resolve) => server.close(resolve));
  });

  it("every operation returns a value or throws EtcdError", async () => {
    const r = rng(SEED + 1);
    const client = new EtcdClient(url, { timeout: 1000 });
    const ops: [AnswerKind, () => Promise<unknown>][] = [
      ["range", () => client.range("/k", { prefix: true })],
      ["range", () => client.get("/k")],
      ["put", () => client.put("/k", "v")],
      ["deleterange", () => client.delete("/k")],
      ["txn", () =>
        client.txn({
          compare: [{ key: "/k", target: "create", createRevision: 0 }],
          failure: [{ range: { key: "/k" } }],
        })],
      ["leaseGrant", () => client.leaseGrant(5)],
      ["leaseKeepAlive", () => client.leaseKeepAlive("1")],
    ];
    const end = Date.now() + BUDGET_MS;
    let n = 0;
    for (; n < 2000 && Date.now() < end; n++) {
      const [kind, call] = ops[n % ops.length];
      const body = n < ops.length * 2 ? (n < ops.length ? null : "x") : mutate(GOOD[kind], r);
      answer = () => body;
      try {
        await call();
      } catch (e) {
        assert.ok(
          allowed(e),
          `seed ${SEED + 1} #${n} ${kind} ${JSON.stringify(body)}: ${(e as Error)?.name}: ${e}`,
        );
      }
    }
    assert.ok(n >= ops.length * 2);
  });

  it("a malformed watch message is reported through disconnected(), not thrown", async () => {
    const client = new EtcdClient(url, { timeout: 1000 });
    const seen: Error[] = [];
    let got!: () => void;
    const two = new Promise<void>((resolve) => (got = resolve));
    answer = () => ({ result: { events: [{ kv: { key: "!!", value: 5 } }] } });
    const w = client.watch("/k/", 1, {
      events: () => assert.fail("no event decodes"),
      compacted: () => assert.fail("not compacted"),
      disconnected: (e) => {
        seen.push(e);
        if (seen.length === 2) got();
      },
    });
    await two;
    await w.cancel();
    assert.ok(seen[0] instanceof EtcdError, String(seen[0]));
    assert.match(seen[0].message, /malformed answer/);
  });
});
