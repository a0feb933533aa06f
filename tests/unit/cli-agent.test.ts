// `nslink agent`: help and usage errors (no store needed).
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { runCli } from "../../cli/app.ts";
import { captureOutput } from "../../cli/io.ts";

async function run(...argv: string[]) {
  const io = captureOutput();
  const status = await runCli(argv, io);
  return { status, out: io.stdout, err: io.stderr };
}

describe("nslink agent", () => {
  it("is listed in the top-level help and has its own", async () => {
    assert.match(
      (await run("--help")).out,
      /^ {2}agent {2,}Run nslink's host agent: container names \(DNS\), overlay entries/m,
    );
    const r = await run("agent", "--help");
    assert.equal(r.status, 0);
    assert.match(r.out, /^Usage: nslink agent \[OPTIONS\] \[NETWORK\.\.\.\]/);
    assert.match(r.out, /--store URL/);
    assert.match(r.out, /--advertise ADDR/);
  });

  it("needs a network, --store and --advertise (usage errors, exit 2)", async () => {
    const none = await run(
      "agent",
      "--store",
      "etcd://127.0.0.1:1",
      "--advertise",
      "198.51.100.11",
    );
    assert.equal(none.status, 2);
    const noStore = await run("agent", "--advertise", "198.51.100.11", "ov1");
    assert.equal(noStore.status, 2);
    assert.match(noStore.err, /agent needs --store/);
    const noAdv = await run("agent", "--store", "etcd://127.0.0.1:1", "ov1");
    assert.equal(noAdv.status, 2);
    assert.match(noAdv.err, /agent needs --advertise/);
  });
});
