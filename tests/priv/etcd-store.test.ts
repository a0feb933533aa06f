/**
 * The `Store` contract on etcd (`EtcdStore`), against a real etcd started inside the throw-away
 * namespace: the same behaviour tests/unit/store-contract.test.ts checks on the file store.
 */
import { after, before, describe } from "node:test";
import { EtcdClient } from "../../store/etcd.ts";
import { EtcdStore } from "../../network/store_etcd.ts";
import { isRoot, SKIP_ROOT } from "./_helpers.ts";
import { type EtcdCluster, startEtcd } from "./_etcd.ts";
import { storeContract } from "../unit/_store_contract.ts";

let etcd: EtcdCluster | undefined;

before(async () => {
  if (!isRoot) return;
  etcd = await startEtcd(["127.0.0.1"], { clientPort: 23890, peerPort: 23900 });
});

after(async () => {
  await etcd?.stop();
});

describe("Store contract: etcd (EtcdStore)", { skip: SKIP_ROOT, timeout: 60_000 }, () => {
  storeContract(() => new EtcdStore(new EtcdClient(etcd!.url)));
});
