/**
 * Privileged tests of the command line as Docker users type it, each command run as a process
 * (on the runtime running the tests, or the compiled `dist/nslink` with `NSLINK_BIN`):
 * `network create --label --ip-range`, `--ipv6` without a subnet (a /64 from
 * `$NSLINK_IPV6_POOL`, documentation space here) and `--ipv4=false`, `network ls -q --filter
 * --format`, `inspect --format` by id prefix, `rm` by id, `prune -f`. Checked against the kernel
 * with `ip -j`.
 *
 * Run through `scripts/in-netns.sh` only (see `_helpers.ts`).
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ipAddrs, ipLink, SKIP_ROOT, withCleanup } from "./_helpers.ts";
import { setUpNetworkTestFile, tempStateDir } from "./_network_helpers.ts";
import { nslink, nslinkArgv, runProcess } from "./_cli_helpers.ts";

const { prefix: P } = setUpNetworkTestFile();

async function ok(state: string, ...args: string[]): Promise<string> {
  const r = await nslink(state, ...args);
  assert.equal(r.code, 0, `nslink ${args.join(" ")}: ${r.stderr}`);
  return r.stdout;
}

describe("nslink network, as Docker users type it", { skip: SKIP_ROOT }, () => {
  it("create --label --ip-range; ls -q/--filter/--format; inspect and rm by id prefix", async () => {
    const state = tempStateDir();
    const [a, b] = [`${P}a`, `${P}b`];
    const ns = `${P}c`;
    await withCleanup(async (c) => {
      c.link(`nsl-${a}`);
      c.link(`nsl-${b}`);
      c.netns(ns);
      const idA = (await ok(
        state,
        "network",
        "create",
        "--subnet",
        "198.51.100.0/24",
        "--ip-range",
        "198.51.100.128/25",
        "--label",
        "env=dev",
        "--label",
        "team",
        a,
      )).trim();
      const idB = (await ok(state, "network", "create", "--subnet", "203.0.113.0/24", b)).trim();

      // An automatic address comes from the range.
      await ok(state, "netns", "add", ns);
      await ok(state, "network", "connect", a, "c1", "--netns", ns);
      const addrs = (await ipAddrs("eth0", ns)).filter((x) => x.family === "inet");
      assert.deepEqual(addrs.map((x) => `${x.local}/${x.prefixlen}`), ["198.51.100.128/24"]);

      assert.deepEqual(
        (await ok(state, "network", "ls", "-q")).split("\n").filter(Boolean).sort(),
        [idA, idB].sort(),
      );
      assert.equal(await ok(state, "network", "ls", "-q", "--filter", "label=env=dev"), `${idA}\n`);
      assert.equal(
        await ok(state, "network", "ls", "-q", "--filter", "label=team", "--filter", `name=${b}`),
        "",
      );
      assert.equal(
        await ok(
          state,
          "network",
          "ls",
          "--filter",
          `name=${a}`,
          "--filter",
          `name=${b}`,
          "--filter",
          "driver=bridge",
          "--format",
          "{{.Name}} {{.ID}} {{.Driver}} {{.Scope}} {{.Labels}}",
        ),
        [`${a} ${idA} bridge local env=dev,team=`, `${b} ${idB} bridge local `].sort().join("\n") +
          "\n",
      );
      const table = await ok(
        state,
        "network",
        "ls",
        "--filter",
        `id=${idB}`,
        "--format",
        "table {{.Name}}\\t{{.Driver}}",
      );
      assert.match(table, new RegExp(`^NAME\\s+DRIVER\\n${b}\\s+bridge\\n$`));
      const row = JSON.parse(
        await ok(state, "network", "ls", "--filter", `name=${a}`, "--format", "{{json .}}"),
      );
      assert.equal(row.Name, a);
      assert.equal(row.Containers, 1);

      // inspect by a unique id prefix, with a template.
      const prefix = idA.slice(0, 6) === idB.slice(0, 6) ? idA : idA.slice(0, 6);
      assert.equal(
        await ok(
          state,
          "network",
          "inspect",
          "--format",
          "{{.Name}} {{.Id}} {{json .Labels}}",
          prefix,
        ),
        `${a} ${idA} {"env":"dev","team":""}\n`,
      );
      const missing = await nslink(state, "network", "inspect", "ffffffffffff");
      assert.equal(missing.code, 1);
      assert.equal(missing.stderr.trimEnd().split("\n").length, 1, missing.stderr);

      await ok(state, "network", "disconnect", idA, "c1");
      assert.equal(await ok(state, "network", "rm", idB), `${idB}\n`);
      assert.equal(await ipLink(`nsl-${b}`), undefined);
      await ok(state, "network", "rm", a);
      await ok(state, "netns", "rm", ns);
    });
  });

  it("--ipv6 without a subnet takes a free /64 from $NSLINK_IPV6_POOL; --ipv4=false has no IPv4", async () => {
    const state = tempStateDir();
    const [v6, dual] = [`${P}v6`, `${P}d6`];
    const env = { NSLINK_STATE_DIR: state, NSLINK_IPV6_POOL: "2001:db8:ff00::/56" };
    await withCleanup(async (c) => {
      c.link(`nsl-${v6}`);
      c.link(`nsl-${dual}`);
      const made = await runProcess(
        [...nslinkArgv(), "network", "create", "--ipv6", "--ipv4=false", v6],
        { env },
      );
      assert.equal(made.code, 0, made.stderr);
      const made2 = await runProcess(
        [...nslinkArgv(), "network", "create", "--subnet", "198.51.100.0/24", "--ipv6", dual],
        { env },
      );
      assert.equal(made2.code, 0, made2.stderr);
      const conf = (n: string) =>
        ok(state, "network", "inspect", "--format", "{{json .IPAM.Config}}", n);
      assert.equal(
        await conf(v6),
        `[{"Subnet":"2001:db8:ff00::/64","Gateway":"2001:db8:ff00::1"}]\n`,
      );
      assert.equal(
        await conf(dual),
        `[{"Subnet":"198.51.100.0/24","Gateway":"198.51.100.1"},{"Subnet":"2001:db8:ff00:1::/64","Gateway":"2001:db8:ff00:1::1"}]\n`,
      );
      const addrs = (await ipAddrs(`nsl-${v6}`)).filter((x) => x.scope === "global");
      assert.deepEqual(addrs.map((x) => `${x.local}/${x.prefixlen}`), ["2001:db8:ff00::1/64"]);

      // Without a pool: one clear line, nothing made.
      const none = await runProcess([...nslinkArgv(), "network", "create", "--ipv6", `${P}x`], {
        env: { NSLINK_STATE_DIR: state, NSLINK_IPV6_POOL: "" },
      });
      assert.equal(none.code, 2);
      assert.match(none.stderr, /needs an IPv6 --subnet or an IPv6 pool: set NSLINK_IPV6_POOL/);
      assert.equal(none.stderr.trimEnd().split("\n").length, 1);
      await ok(state, "network", "rm", v6, dual);
    });
  });

  it("prune -f removes the networks no container uses, and only those", async () => {
    const state = tempStateDir();
    const [used, idle1, idle2] = [`${P}pu`, `${P}p1`, `${P}p2`];
    const ns = `${P}pc`;
    await withCleanup(async (c) => {
      for (const n of [used, idle1, idle2]) c.link(`nsl-${n}`);
      c.netns(ns);
      await ok(state, "network", "create", "--subnet", "198.51.100.0/28", used);
      await ok(state, "network", "create", "--subnet", "198.51.100.16/28", idle1);
      await ok(
        state,
        "network",
        "create",
        "--subnet",
        "198.51.100.32/28",
        "--label",
        "keep",
        idle2,
      );
      await ok(state, "netns", "add", ns);
      await ok(state, "network", "connect", used, "c1", "--netns", ns);

      const asked = await nslink(state, "network", "prune");
      assert.equal(asked.code, 2, "without -f and without a terminal it refuses");
      const filtered = await ok(state, "network", "prune", "-f", "--filter", "label=keep");
      assert.equal(filtered, `Deleted Networks:\n${idle2}\n`);
      assert.equal(await ok(state, "network", "prune", "-f"), `Deleted Networks:\n${idle1}\n`);
      assert.equal(await ipLink(`nsl-${idle1}`), undefined);
      assert.ok(await ipLink(`nsl-${used}`));
      assert.equal(await ok(state, "network", "ls", "--format", "{{.Name}}"), `${used}\n`);
      await ok(state, "network", "disconnect", used, "c1");
      assert.equal(await ok(state, "network", "prune", "-f"), `Deleted Networks:\n${used}\n`);
      await ok(state, "netns", "rm", ns);
    });
  });
});
