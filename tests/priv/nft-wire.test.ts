/**
 * Privileged tests of the nf_tables wire layer against the kernel, each in its own namespace:
 * nslink's table reads back exactly as nft's own `nft -f` of the same ruleset, batches are
 * atomic, errors carry the kernel's offset, generation ids guard batches, dumps decode.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { NetNs } from "../../mod.ts";
import { NftError } from "../../netfilter/batch.ts";
import * as C from "../../netfilter/constants.ts";
import { Nftables } from "../../netfilter/nftables.ts";
import {
  deleteTableOp,
  type DnatEntry,
  elementOps,
  replaceTableOps,
  TABLE,
} from "../../netfilter/ruleset.ts";
import { GOLDEN_NETWORKS } from "../unit/_nft.ts";
import { assertNoLeftovers, exec, isRoot, runId, SKIP_ROOT, withCleanup } from "./_helpers.ts";

const P = runId();
const RULESET = fileURLToPath(new URL("../fixtures/nft/ruleset.nft", import.meta.url).href);

after(async () => {
  if (isRoot) await assertNoLeftovers(P);
});

async function nft(ns: string, ...args: string[]): Promise<string> {
  const r = await exec(["ip", "netns", "exec", ns, "nft", ...args]);
  if (r.code !== 0) throw new Error(`nft ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

const E1: DnatEntry = {
  protocol: "tcp",
  hostIP: "",
  hostPort: 8080,
  address: "198.51.100.2",
  port: 80,
};
const E2: DnatEntry = { ...E1, protocol: "udp", hostPort: 5353, port: 53 };
const E6: DnatEntry = {
  protocol: "tcp",
  hostIP: "2001:db8:2::1",
  hostPort: 8443,
  address: "2001:db8:1::2",
  port: 443,
};

describe("nf_tables over netlink (Nftables)", () => {
  it(
    "nslink's table lists exactly as nft -f of the same ruleset",
    { skip: SKIP_ROOT },
    async () => {
      await withCleanup(async (c) => {
        const a = `${P}a`;
        const b = `${P}b`;
        c.netns(a);
        c.netns(b);
        const nsA = NetNs.create(a);
        c.close(nsA);
        NetNs.create(b).close();
        using fw = Nftables.open({ netnsFd: nsA.fd });
        fw.commit(replaceTableOps(GOLDEN_NETWORKS, [E1, E6]));
        await nft(b, "-f", RULESET);
        await nft(b, "add", "element", "inet", TABLE, "pub4", "{ tcp . 8080 : 198.51.100.2 . 80 }");
        await nft(
          b,
          "add",
          "element",
          "inet",
          TABLE,
          "pub6a",
          "{ tcp . 2001:db8:2::1 . 8443 : 2001:db8:1::2 . 443 }",
        );
        assert.equal(await nft(a, "list", "ruleset"), await nft(b, "list", "ruleset"));
        // Dumps decode what is there.
        assert.deepEqual(fw.tables(C.NFPROTO_INET).map((t) => t.name), [TABLE]);
        assert.equal(fw.chains(C.NFPROTO_INET, TABLE).length, 8);
        assert.equal(fw.rules(C.NFPROTO_INET, TABLE).length, 27);
        assert.equal(fw.rules(C.NFPROTO_INET, TABLE, "forward").length, 4);
        assert.deepEqual(fw.sets(C.NFPROTO_INET, TABLE).map((s) => s.name), [
          "pub4",
          "pub4a",
          "pub6",
          "pub6a",
        ]);
        assert.equal(fw.elements(C.NFPROTO_INET, TABLE, "pub4").length, 1);
        // Replacing is idempotent and drops what the new state lacks.
        fw.commit(replaceTableOps(GOLDEN_NETWORKS, [E2]));
        fw.commit(replaceTableOps(GOLDEN_NETWORKS, [E2]));
        const json = JSON.parse(await nft(a, "-j", "list", "map", "inet", TABLE, "pub4"));
        const map = json.nftables.find((x: { map?: unknown }) => x.map).map;
        assert.equal(map.elem.length, 1);
        assert.equal(fw.elements(C.NFPROTO_INET, TABLE, "pub6a").length, 0);
        fw.commit(replaceTableOps([], []));
        assert.equal((await nft(a, "list", "ruleset")).trim(), "");
      });
    },
  );

  it(
    "commits 20,000 published ports in one atomic batch (larger than one attribute, one SO_SNDBUF)",
    { skip: SKIP_ROOT },
    async () => {
      await withCleanup(async (c) => {
        const a = `${P}e`;
        const ns = c.namespace(a);
        using fw = Nftables.open({ netnsFd: ns.fd });
        fw.commit(replaceTableOps(GOLDEN_NETWORKS, []));
        const N = 20000;
        const many = Array.from({ length: N }, (_, i) => ({ ...E1, hostPort: 10000 + i }));
        const ops = elementOps(many, true, true);
        assert.ok(ops.length > 1, "split into several messages");
        fw.commit(ops);
        const listed = JSON.parse(await nft(a, "-j", "list", "map", "inet", TABLE, "pub4"));
        const map = listed.nftables.find((o: { map?: unknown }) => o.map).map;
        assert.equal(map.elem.length, N);
        // All or nothing still: one existing port refuses the whole batch.
        const err = (() => {
          try {
            fw.commit(
              elementOps([...many.map((e) => ({ ...e, hostPort: e.hostPort + N }))], true, true)
                .concat(elementOps([many[N - 1]], true, true)),
            );
          } catch (e) {
            return e;
          }
        })();
        assert.ok(err instanceof NftError, String(err));
        assert.equal(err.code, "EEXIST");
        assert.equal(fw.elements(C.NFPROTO_INET, TABLE, "pub4").length, N);
        fw.commit(elementOps(many, false));
        assert.equal(fw.elements(C.NFPROTO_INET, TABLE, "pub4").length, 0);
        fw.commit(replaceTableOps([], []));
      });
    },
  );

  it("a failing batch changes nothing and names message, object, errno and offset", {
    skip: SKIP_ROOT,
  }, async () => {
    await withCleanup(async (c) => {
      const a = `${P}c`;
      const ns = c.namespace(a);
      using fw = Nftables.open({ netnsFd: ns.fd });
      fw.commit(replaceTableOps(GOLDEN_NETWORKS, [E1]));
      const before = await nft(a, "list", "ruleset");
      const gen = fw.generation();
      // E2 is fine on its own, E1 exists already: the whole batch must be refused.
      const err = (() => {
        try {
          fw.commit([...elementOps([E2], true, true), ...elementOps([E1], true, true)]);
        } catch (e) {
          return e;
        }
      })();
      assert.ok(err instanceof NftError, String(err));
      assert.equal(err.op, "NFT_MSG_NEWSETELEM");
      assert.equal(err.code, "EEXIST");
      assert.equal(err.attribute, "elements[0]");
      assert.match(
        err.message,
        /^NFT_MSG_NEWSETELEM map inet nslink pub4 element tcp \*:8080: EEXIST/,
      );
      assert.equal(await nft(a, "list", "ruleset"), before);
      assert.equal(fw.generation(), gen);
      // A batch computed from an older generation is refused as a whole.
      fw.commit(elementOps([E2], true));
      assert.notEqual(fw.generation(), gen);
      assert.throws(
        () => fw.commit(elementOps([E2], false), gen),
        (e: unknown) => e instanceof NftError && e.code === "ERESTART",
      );
      assert.equal(fw.elements(C.NFPROTO_INET, TABLE, "pub4").length, 2);
      // Deleting something absent: ENOENT, named.
      fw.commit([deleteTableOp()]);
      assert.throws(
        () => fw.commit([deleteTableOp()]),
        (e: unknown) =>
          e instanceof NftError && e.code === "ENOENT" &&
          e.message.startsWith("NFT_MSG_DELTABLE table inet nslink: ENOENT"),
      );
      assert.equal((await nft(a, "list", "ruleset")).trim(), "");
    });
  });
});

// Keep the fixture path honest: the ruleset file must exist for the first test.
readFileSync(RULESET);
