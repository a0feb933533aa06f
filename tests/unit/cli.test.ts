/**
 * Unit tests (no root, no kernel) of the `nslink` command line: dispatch, help, usage errors
 * (exit 2, one line, with the help to read), `-p` and `--opt` parsing, tables. Everything here
 * fails before a netlink socket or the state directory is touched.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { COMMANDS, runCli } from "../../cli/app.ts";
import { captureOutput } from "../../cli/io.ts";
import { describeEvent } from "../../cli/events.ts";
import { driverOptions } from "../../cli/network.ts";
import { formatBinding, parsePublish } from "../../cli/publish.ts";
import { formatTable } from "../../cli/table.ts";
import { UsageError } from "../../cli/usage.ts";

async function run(...argv: string[]) {
  const io = captureOutput();
  const status = await runCli(argv, io);
  return { status, out: io.stdout, err: io.stderr };
}

function oneLine(text: string): void {
  assert.equal(text.trimEnd().split("\n").length, 1, `not one line: ${JSON.stringify(text)}`);
  assert.ok(text.endsWith("\n"));
}

describe("nslink: help", () => {
  it("prints the top-level help with every command on --help, exit 0", async () => {
    const r = await run("--help");
    assert.equal(r.status, 0);
    for (const word of ["network", "netns", "port", "gc", "events", "version"]) {
      assert.match(r.out, new RegExp(`^  ${word} `, "m"));
    }
  });

  it("has --help on every command, listing its options, exit 0", async () => {
    for (const cmd of COMMANDS) {
      const r = await run(...cmd.path, "--help");
      assert.equal(r.status, 0, cmd.path.join(" "));
      assert.match(r.out, new RegExp(`^Usage: nslink ${cmd.path.join(" ")}`));
      for (const name of Object.keys(cmd.options)) assert.match(r.out, new RegExp(`--${name}\\b`));
      assert.match(r.out, /-h, --help/);
      assert.equal(r.err, "");
    }
  });

  it("lists a group's commands on `nslink network --help`; a bare group is a usage error", async () => {
    const r = await run("network", "--help");
    assert.equal(r.status, 0);
    for (const sub of ["create", "ls", "inspect", "rm", "connect", "disconnect"]) {
      assert.match(r.out, new RegExp(`^  ${sub} `, "m"));
    }
    const bare = await run("netns");
    assert.equal(bare.status, 2);
    assert.match(bare.err, /Usage: nslink netns COMMAND/);
  });
});

describe("nslink: usage errors exit 2 with one line and a hint", () => {
  const cases: [string[], RegExp][] = [
    [["bogus"], /Unknown command "bogus" \(see 'nslink --help'\)/],
    [
      ["network", "frobnicate"],
      /Unknown command "nslink network frobnicate" \(see 'nslink network --help'\)/,
    ],
    [
      ["network", "create", "--bogus", "x"],
      /Unknown option '--bogus' \(see 'nslink network create --help'\)/,
    ],
    [["network", "create"], /needs NAME/],
    [["network", "create", "a", "b"], /at most 1 operand/],
    [["network", "create", "--subnet", "nope", "x"], /Invalid subnet "nope"/],
    [["network", "create", "--subnet", "198.51.100.0/33", "x"], /Invalid subnet/],
    [["network", "create", "--subnet", "2001:db8:1::/64", "x"], /IPv6 --subnet needs --ipv6/],
    [["network", "create", "--ipv6", "x"], /--ipv6 needs an IPv6 --subnet/],
    [["network", "create", "--opt", "icc", "x"], /Invalid --opt "icc": expected KEY=VALUE/],
    [["network", "create", "--opt", "mtu=big", "x"], /MTU must be a number/],
    [["network", "ls", "--format", "yaml"], /Unknown --format "yaml"/],
    [["network", "ls", "extra"], /takes no operands/],
    [["network", "connect", "n", "c"], /--netns PATH or --pid PID/],
    [["network", "connect", "n", "c", "--netns", "/x", "--pid", "1"], /--netns PATH or --pid PID/],
    [["network", "connect", "n", "c", "--pid", "abc"], /Invalid --pid "abc"/],
    [
      ["network", "connect", "n", "c", "--netns", "/x", "-p", "80:80:80:80"],
      /Invalid port mapping/,
    ],
    [
      ["network", "connect", "n", "c", "--netns", "/x", "-p", "8080:80/icmp"],
      /Invalid protocol "icmp"/,
    ],
    [["network", "connect", "n", "c", "--netns", "/x", "--ip", "2001:db8::5"], /Invalid --ip/],
    [["network", "connect", "n", "c", "--netns", "/x", "--ip6", "198.51.100.9"], /Invalid --ip6/],
    [
      ["network", "connect", "n", "c", "--netns", "/x", "--ip", "198.51.100.9/24"],
      /without prefix/,
    ],
    [["network", "connect", "n", "c", "--netns", "/x", "-p"], /argument missing/],
    [["netns", "add"], /needs NAME/],
    [["port"], /needs CONTAINER/],
    [["version", "x"], /takes no operands/],
  ];
  for (const [argv, re] of cases) {
    it(`nslink ${argv.join(" ")}`, async () => {
      const r = await run(...argv);
      assert.equal(r.status, 2, r.err);
      assert.equal(r.out, "");
      oneLine(r.err);
      assert.match(r.err, /^nslink: /);
      assert.match(r.err, re);
      assert.match(r.err, /\(see 'nslink[^']*--help'\)$/m);
    });
  }
});

describe("nslink version", () => {
  it("names the version and runtime; --format json for scripts", async () => {
    const r = await run("version");
    assert.equal(r.status, 0);
    assert.match(r.out, /^nslink \d+\.\d+\.\d+ \((deno|bun) [\d.]+/);
    const j = JSON.parse((await run("version", "--format", "json")).out);
    assert.equal(typeof j.version, "string");
    assert.ok(["deno", "bun"].includes(j.runtime));
    assert.equal(j.compiled, false);
    assert.ok(j.cniVersions.includes("1.0.0") && j.cniVersions.includes("1.1.0"));
    assert.equal((await run("--version")).out, r.out);
  });
});

describe("parsePublish()", () => {
  it("reads Docker's -p forms", () => {
    assert.deepEqual(parsePublish("8080:80"), {
      protocol: "tcp",
      hostIP: "",
      hostPort: 8080,
      port: 80,
    });
    assert.deepEqual(parsePublish("80"), { protocol: "tcp", hostIP: "", hostPort: 0, port: 80 });
    assert.deepEqual(parsePublish("203.0.113.1:5353:53/udp"), {
      protocol: "udp",
      hostIP: "203.0.113.1",
      hostPort: 5353,
      port: 53,
    });
    assert.deepEqual(parsePublish("203.0.113.1::80"), {
      protocol: "tcp",
      hostIP: "203.0.113.1",
      hostPort: 0,
      port: 80,
    });
    assert.deepEqual(parsePublish("[2001:db8::1]:8080:80/sctp"), {
      protocol: "sctp",
      hostIP: "2001:db8::1",
      hostPort: 8080,
      port: 80,
    });
    assert.deepEqual(parsePublish("8000-8010:80"), {
      protocol: "tcp",
      hostIP: "",
      hostPort: "8000-8010",
      port: 80,
    });
    assert.deepEqual(parsePublish("8000-8010:80-90"), {
      protocol: "tcp",
      hostIP: "",
      hostPort: "8000-8010",
      port: "80-90",
    });
  });

  it("refuses malformed values with a TypeError naming the problem", () => {
    const bad: [string, RegExp][] = [
      ["", /Invalid port mapping ""/],
      ["x:80", /Invalid host port "x"/],
      ["8080:", /expected \[HOSTIP:\]/],
      ["1:2:3:4", /expected \[HOSTIP:\]/],
      ["80/icmp", /Invalid protocol "icmp"/],
      ["8080:0", /Invalid container port "0"/],
      ["70000:80", /Invalid host port "70000"/],
      ["8000-8010:80-85", /different sizes/],
      ["80:80-85", /different sizes/],
      ["90-80:80", /Invalid host port/],
      ["999.1.1.1:80:80", /Invalid host address/],
      ["2001:db8::1:80:80", /expected \[HOSTIP:\]|Invalid host address/],
      ["[198.51.100.1]:80:80", /Invalid IPv6 host address/],
    ];
    for (const [spec, re] of bad) assert.throws(() => parsePublish(spec), re, spec);
  });

  it("formats bindings as docker port does", () => {
    assert.equal(formatBinding(parsePublish("8080:80")), "80/tcp -> 0.0.0.0:8080");
    assert.equal(
      formatBinding(parsePublish("[2001:db8::1]:53:53/udp")),
      "53/udp -> [2001:db8::1]:53",
    );
  });
});

describe("driverOptions()", () => {
  it("maps --opt pairs (and Docker's long names) to driver options", () => {
    assert.deepEqual(
      driverOptions(
        ["icc=false", "masquerade=true", "mtu=1400", "com.docker.network.bridge.name=br9", "x=y"],
        "h",
      ),
      { icc: false, masquerade: true, mtu: 1400, bridgeName: "br9", x: "y" },
    );
    assert.throws(() => driverOptions(["=1"], "h"), UsageError);
  });
});

describe("formatTable()", () => {
  it("pads columns and ends each row with a newline, no trailing spaces", () => {
    assert.equal(
      formatTable(["NAME", "SUBNET"], [["blue", "198.51.100.0/24"], ["a", ""]]),
      "NAME   SUBNET\nblue   198.51.100.0/24\na\n",
    );
  });
});

describe("describeEvent()", () => {
  it("prints events in ip monitor's words", () => {
    assert.equal(
      describeEvent({
        type: "link",
        action: "new",
        link: {
          index: 5,
          name: "nsl-blue",
          kind: "bridge",
          flags: 0,
          up: false,
          mtu: 1500,
          mac: "02:00:00:00:00:01",
          operstate: "down",
        },
      }),
      "link new nsl-blue (index 5, bridge, down, mtu 1500, 02:00:00:00:00:01)",
    );
    assert.equal(
      describeEvent({
        type: "route",
        action: "del",
        route: {
          family: 4,
          dst: "default",
          gateway: "198.51.100.1",
          oif: 3,
          table: 254,
          protocol: 4,
          scope: 0,
          type: 1,
        },
      }),
      "route del default via 198.51.100.1 dev index 3 table 254",
    );
    assert.equal(
      describeEvent({ type: "overrun" }),
      "overrun: events were lost, re-read the state",
    );
  });
});
