/**
 * `Store.claim` on etcd (`EtcdStore`: one transaction), against a real etcd started inside the
 * throw-away namespace: the same tests tests/unit/store-claim.test.ts runs on the file store.
 */
import { after, before, describe } from "node:test";
import { EtcdClient } from "../../store/etcd.ts";
import { EtcdStore } from "../../network/store_etcd.ts";
import { isRoot, SKIP_ROOT } from "./_helpers.ts";
import { type EtcdCluster, startEtcd } from "./_etcd.ts";
import { claimContract } from "../unit/_store_claim_contract.ts";

let etcd: EtcdCluster | undefined;

before(async () => {
  if (!isRoot) return;
  etcd = await startEtcd(["127.0.0.1"], { clientPort: 23910, peerPort: 23920 });
});

after(async () => {
  await etcd?.stop();
});

describe("Store.claim: etcd (EtcdStore)", { skip: SKIP_ROOT, timeout: 60_000 }, () => {
  claimContract(() => new EtcdStore(new EtcdClient(etcd!.url)));
});
