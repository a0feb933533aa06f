/**
 * Privileged tests of the etcd client over TLS with client certificates and with etcd's
 * user/password auth, against real etcd 3.4 started inside the throw-away namespace. openssl
 * makes a CA, the member's certificate and a client certificate in a temporary directory, plus a
 * second CA that signed nothing of the member's.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { EtcdClient, EtcdError } from "../../store/etcd.ts";
import { openStore } from "../../store/store.ts";
import { newNetwork } from "../../mod.ts";
import "../../network/overlay.ts";
import { exec, isRoot, runId, SKIP_ROOT, sleep } from "./_helpers.ts";

const ADDR = "127.0.0.21";
const URL_TLS = `etcd+https://${ADDR}:23791`;
let dir = "";
let etcd: ChildProcess | undefined;
const clients: EtcdClient[] = [];

function openssl(...args: string[]): void {
  execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"] });
}

/** A key and a certificate signed by `ca` (or self-signed when `ca` is undefined). */
function cert(name: string, cn: string, ca?: string, san?: string): void {
  openssl("genrsa", "-out", `${name}-key.pem`, "2048");
  if (ca === undefined) {
    openssl(
      "req",
      "-x509",
      "-new",
      "-key",
      `${name}-key.pem`,
      "-subj",
      `/CN=${cn}`,
      "-days",
      "2",
      "-out",
      `${name}.pem`,
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    );
    return;
  }
  const subj = cn ? `/CN=${cn}` : "/O=nslink test client";
  openssl("req", "-new", "-key", `${name}-key.pem`, "-subj", subj, "-out", `${name}.csr`);
  writeFileSync(
    join(dir, `${name}.ext`),
    `basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\n` +
      `extendedKeyUsage=serverAuth,clientAuth\n${san ? `subjectAltName=${san}\n` : ""}`,
  );
  openssl(
    "x509",
    "-req",
    "-in",
    `${name}.csr`,
    "-CA",
    `${ca}.pem`,
    "-CAkey",
    `${ca}-key.pem`,
    "-CAcreateserial",
    "-days",
    "2",
    "-out",
    `${name}.pem`,
    "-extfile",
    `${name}.ext`,
  );
}

const tls = () => ({
  ca: join(dir, "ca.pem"),
  cert: join(dir, "client.pem"),
  key: join(dir, "client-key.pem"),
});

function client(options: ConstructorParameters<typeof EtcdClient>[1] = {}): EtcdClient {
  const c = new EtcdClient(URL_TLS, { timeout: 2000, ...options });
  clients.push(c);
  return c;
}

/** A raw gateway call (the test's own setup of users and auth, before auth is on). */
async function admin(path: string, body: unknown): Promise<unknown> {
  return await client({ tls: tls() }).call(path, body, `admin ${path}`);
}

before(async () => {
  if (!isRoot) return;
  dir = mkdtempSync(join(tmpdir(), "nslink-etcd-tls-"));
  execFileSync("ip", ["addr", "add", `${ADDR}/8`, "dev", "lo"], { stdio: "ignore" });
  cert("ca", "nslink test CA");
  cert("other-ca", "another CA");
  cert("server", "etcd member", "ca", `IP:${ADDR}`);
  // No CommonName: with auth on, etcd 3.4's gateway refuses client certificates that carry one.
  cert("client", "", "ca");
  etcd = spawn("etcd", [
    "--name",
    "m1",
    "--data-dir",
    join(dir, "data"),
    "--listen-client-urls",
    `https://${ADDR}:23791`,
    "--advertise-client-urls",
    `https://${ADDR}:23791`,
    "--listen-peer-urls",
    `http://${ADDR}:23801`,
    "--initial-advertise-peer-urls",
    `http://${ADDR}:23801`,
    "--initial-cluster",
    `m1=http://${ADDR}:23801`,
    "--cert-file",
    join(dir, "server.pem"),
    "--key-file",
    join(dir, "server-key.pem"),
    "--trusted-ca-file",
    join(dir, "ca.pem"),
    "--client-cert-auth",
    "--auth-token-ttl",
    "2",
    "--log-level",
    "error",
  ], { stdio: ["ignore", "ignore", "pipe"] });
  etcd.stderr?.on("data", () => {});
  process.on("exit", () => etcd?.kill("SIGKILL"));
  const c = client({ tls: tls(), timeout: 500 });
  const end = Date.now() + 15_000;
  for (;;) {
    try {
      await c.get("/health");
      break;
    } catch (e) {
      if (Date.now() > end) throw e;
      await sleep(100);
    }
  }
});

after(async () => {
  for (const c of clients) c.close();
  if (etcd && etcd.exitCode === null && etcd.signalCode === null) {
    etcd.kill("SIGKILL");
    await new Promise((r) => etcd!.once("exit", r));
  }
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("etcd over TLS with client certificates", { skip: SKIP_ROOT, timeout: 60_000 }, () => {
  it("connects over https with the CA, client certificate and key (paths or PEM text)", async () => {
    const byPath = client({ tls: tls() });
    await byPath.put("/tls/a", "1");
    const pem = tls();
    const byText = client({
      tls: {
        ca: readFileSync(pem.ca, "utf8"),
        cert: readFileSync(pem.cert, "utf8"),
        key: readFileSync(pem.key, "utf8"),
      },
    });
    assert.equal((await byText.get("/tls/a"))?.value, "1");
    // The watch stream goes over TLS too.
    const seen: string[] = [];
    const w = byText.watch("/tls/", (await byText.range("/tls/")).revision + 1, {
      events: (evs) => evs.forEach((e) => seen.push(e.kv.value)),
      compacted: () => {},
    });
    await byPath.put("/tls/b", "2");
    const end = Date.now() + 5000;
    while (!seen.includes("2") && Date.now() < end) await sleep(10);
    await w.cancel();
    assert.deepEqual(seen, ["2"]);
    // openStore() takes the same options.
    const s = openStore(URL_TLS, { tls: tls() });
    assert.equal((await s.get("/tls/b"))?.value, "2");
    (s as EtcdClient).close();
  });

  it("a member whose certificate another CA signed fails with a TLS error naming the store", async () => {
    const wrong = client({ tls: { ...tls(), ca: join(dir, "other-ca.pem") } });
    await assert.rejects(wrong.get("/tls/a"), (e: unknown) => {
      assert.ok(e instanceof EtcdError, String(e));
      assert.equal(e.unreachable, true);
      assert.match(
        e.message,
        new RegExp(
          `^etcd "${URL_TLS.replace(/[.+]/g, "\\$&")}": range "/tls/a": unreachable \\(https://${
            ADDR.replace(/\./g, "\\.")
          }:23791: TLS: `,
        ),
      );
      return true;
    });
  });

  it("without a client certificate the member refuses, with a clear error", async () => {
    const anon = client({ tls: { ca: join(dir, "ca.pem") } });
    await assert.rejects(anon.get("/tls/a"), (e: unknown) => {
      assert.ok(e instanceof EtcdError, String(e));
      assert.match(e.message, /unreachable \(.*(TLS|certificate|closed|reset|ECONNRESET)/i);
      return true;
    });
  });

  it("TLS options on a plaintext store, or a missing file, are errors naming the option", () => {
    assert.throws(() => new EtcdClient(`etcd://${ADDR}:23791`, { tls: tls() }), /etcd\+https/);
    assert.throws(
      () => new EtcdClient(URL_TLS, { tls: { ca: join(dir, "nope.pem") } }),
      /cannot read TLS "ca" file ".*nope\.pem"/,
    );
  });
});

describe("etcd user/password auth", { skip: SKIP_ROOT, timeout: 60_000 }, () => {
  before(async () => {
    if (!isRoot) return;
    await admin("/v3/auth/user/add", { name: "root", password: "rootpw" });
    await admin("/v3/auth/user/grant", { user: "root", role: "root" });
    await admin("/v3/auth/user/add", { name: "nslink", password: "s3cret" });
    await admin("/v3/auth/role/add", { name: "nslink" });
    await admin("/v3/auth/role/grant", {
      name: "nslink",
      perm: { permType: "READWRITE", key: btoa("/"), range_end: btoa("\0") },
    });
    await admin("/v3/auth/user/grant", { user: "nslink", role: "nslink" });
    await admin("/v3/auth/enable", {});
  });

  it("a user and password get a token that every request carries", async () => {
    const c = client({ tls: tls(), username: "nslink", password: "s3cret" });
    await c.put("/auth/a", "1");
    assert.equal((await c.get("/auth/a"))?.value, "1");
    const lease = await c.leaseGrant(5);
    assert.ok(Number(lease) > 0);
    // Without auth, the same store refuses.
    const anon = client({ tls: tls() });
    await assert.rejects(anon.get("/auth/a"), (e: unknown) => {
      assert.ok(e instanceof EtcdError, String(e));
      assert.equal(e.unreachable, false);
      return true;
    });
  });

  it("an expired token is replaced by a new one", { timeout: 30_000 }, async () => {
    const c = client({ tls: tls(), username: "nslink", password: "s3cret" });
    await c.put("/auth/b", "1");
    // --auth-token-ttl 2: the simple token expires 2 s after its last use.
    await sleep(3500);
    await c.put("/auth/b", "2");
    assert.equal((await c.get("/auth/b"))?.value, "2");
    // A watch opened with an expired token gets a new one too.
    await sleep(3500);
    const seen: string[] = [];
    const w = c.watch(
      "/auth/",
      (await client({ tls: tls(), username: "nslink", password: "s3cret" }).range("/auth/"))
        .revision + 1,
      {
        events: (evs) => evs.forEach((e) => seen.push(e.kv.value)),
        compacted: () => {},
      },
    );
    const writer = client({ tls: tls(), username: "nslink", password: "s3cret" });
    const end = Date.now() + 10_000;
    for (let i = 0; !seen.includes("w") && Date.now() < end; i++) {
      if (i % 20 === 0) await writer.put("/auth/c", "w");
      await sleep(25);
    }
    await w.cancel();
    assert.ok(seen.includes("w"), "the watch delivers after its token expired");
  });

  it("a bad password is an error naming the store, the user and etcd's reason", async () => {
    const c = client({ tls: tls(), username: "nslink", password: "wrong" });
    await assert.rejects(c.get("/auth/a"), (e: unknown) => {
      assert.ok(e instanceof EtcdError, String(e));
      assert.match(
        e.message,
        /^etcd "etcd\+https:\/\/127\.0\.0\.21:23791": authenticate user "nslink": .*authentication failed, invalid user ID or password/,
      );
      return true;
    });
  });

  it("an overlay network takes the store's TLS and auth options (storeCa/Cert/Key, storeUser/Password)", async () => {
    const addr = "198.51.100.42";
    await exec(["ip", "addr", "add", `${addr}/32`, "dev", "lo"]);
    const name = `${runId()}-tls`;
    const t = tls();
    const options = {
      subnet: "203.0.113.0/24",
      store: URL_TLS,
      storeCa: t.ca,
      storeCert: t.cert,
      storeKey: t.key,
      storeUser: "nslink",
      storePassword: "s3cret",
      advertise: addr,
      mtu: 1400,
    };
    try {
      await assert.rejects(
        newNetwork("overlay", name, { ...options, storePassword: "wrong" }),
        /authenticate user "nslink": .*authentication failed/,
      );
      const net = await newNetwork("overlay", name, options);
      let vni = 0;
      try {
        vni = (net as unknown as { vni: number }).vni;
        const c = client({ tls: t, username: "nslink", password: "s3cret" });
        assert.ok(await c.get(`/nslink/ov/${name}/config`));
        assert.equal((await c.get(`/nslink/ov/${name}/hosts/${addr}`))?.value, addr);
        await net.delete();
        assert.equal(await c.get(`/nslink/ov/${name}/config`), undefined);
      } finally {
        if (vni) {
          await exec(["ip", "link", "del", `nslvx${vni}`]);
          await exec(["ip", "link", "del", `nslov${vni}`]);
        }
      }
    } finally {
      await exec(["ip", "addr", "del", `${addr}/32`, "dev", "lo"]);
    }
  });
});
