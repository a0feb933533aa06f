/** `Store.claim` on the file store (`LocalStore`); the same tests run on etcd in tests/priv/etcd-claim.test.ts. */
import { after, describe } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LocalStore } from "../../network/store.ts";
import { claimContract } from "./_store_claim_contract.ts";

const root = mkdtempSync(join(tmpdir(), "nsl-claim-"));
after(() => rmSync(root, { recursive: true, force: true }));
let seq = 0;

describe("Store.claim: the file store (LocalStore)", () => {
  claimContract(() => new LocalStore(join(root, `s${seq++}`)));
});
