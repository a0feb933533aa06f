/**
 * Unit tests (no root, no kernel) of the command line as Docker users type it: `--format`
 * templates, `--filter`, help and parser from one declaration (`events --format lines`), shell
 * completion generated from the declarations, `nslink` alone, `network prune` without `-f`.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { COMMANDS, GROUPS, runCli } from "../../cli/app.ts";
import { helpText, parseCommand } from "../../cli/command.ts";
import { completionScript } from "../../cli/completion.ts";
import { captureOutput } from "../../cli/io.ts";
import { networkFilter } from "../../cli/network.ts";
import { isTemplate, renderTemplate, TemplateError } from "../../cli/template.ts";
import type { Network } from "../../network/network.ts";

async function run(...argv: string[]) {
  const io = captureOutput();
  const status = await runCli(argv, io);
  return { status, out: io.stdout, err: io.stderr };
}

function oneLine(text: string): void {
  assert.equal(text.trimEnd().split("\n").length, 1, `not one line: ${JSON.stringify(text)}`);
}

const rows = [
  { ID: "0123456789ab", Name: "blue", Driver: "bridge", Scope: "local", Labels: "env=dev" },
  { ID: "fedcba987654", Name: "a-much-longer-name", Driver: "null", Scope: "local", Labels: "" },
];

describe("--format templates (Go's text/template subset Docker users type)", () => {
  it("renders fields, literal text and json", () => {
    assert.equal(renderTemplate("{{.Name}}", rows), "blue\na-much-longer-name\n");
    assert.equal(
      renderTemplate("{{ .ID }}: {{.Driver}}", rows.slice(0, 1)),
      "0123456789ab: bridge\n",
    );
    assert.deepEqual(JSON.parse(renderTemplate("{{json .}}", rows.slice(0, 1))), rows[0]);
    assert.equal(renderTemplate("{{json .Name}}", rows.slice(0, 1)), '"blue"\n');
    assert.equal(renderTemplate("{{.IPAM.Driver}}", [{ IPAM: { Driver: "x" } }]), "x\n");
    assert.equal(renderTemplate("{{.ID}}", [{ Id: "abc" }]), "abc\n"); // inspect's Id
  });

  it("turns a typed \\t into a tab; table adds a header and aligns like Docker's tabwriter", () => {
    assert.equal(renderTemplate("{{.Name}}\\t{{.Driver}}", rows.slice(0, 1)), "blue\tbridge\n");
    assert.equal(
      renderTemplate("table {{.Name}}\\t{{.Driver}}", rows),
      "NAME                 DRIVER\n" +
        "blue                 bridge\n" +
        "a-much-longer-name   null\n",
    );
    assert.equal(
      renderTemplate("table {{.ID}}\\t{{.Name}}", rows.slice(0, 1)),
      "NETWORK ID     NAME\n0123456789ab   blue\n",
    );
  });

  it("refuses what it does not know, with one line", () => {
    for (const f of ["{{.Name", "{{range .}}x{{end}}", "{{index . 1}}", "{{.Nope}}"]) {
      assert.throws(() => renderTemplate(f, rows), (e: unknown) => {
        assert.ok(e instanceof TemplateError);
        oneLine(e.message);
        return true;
      });
    }
    assert.ok(isTemplate("{{.Name}}"));
    assert.ok(!isTemplate("json"));
  });
});

describe("--filter (Docker's semantics)", () => {
  const net = (name: string, id: string, type: string, labels: Record<string, string> = {}) =>
    ({ name, id, type, labels }) as unknown as Network;
  const nets = [
    net("blue", "0123456789ab", "bridge", { env: "dev", team: "a" }),
    net("red", "0fff00000000", "bridge", { env: "prod" }),
    net("none1", "abcdef000000", "null"),
  ];
  const names = (filters: string[]) =>
    nets.filter(networkFilter(filters, "nslink network ls --help")).map((n) => n.name);

  it("ORs values of one key and ANDs different keys", () => {
    assert.deepEqual(names([]), ["blue", "red", "none1"]);
    assert.deepEqual(names(["name=blue", "name=red"]), ["blue", "red"]);
    assert.deepEqual(names(["name=blue", "name=red", "driver=null"]), []);
    assert.deepEqual(names(["driver=bridge", "label=env=prod"]), ["red"]);
    assert.deepEqual(names(["label=env"]), ["blue", "red"]);
    assert.deepEqual(names(["label=team", "label=env=prod"]), ["blue", "red"]);
    assert.deepEqual(names(["id=0"]), ["blue", "red"]);
    assert.deepEqual(names(["name=e"]), ["blue", "red", "none1"]); // a substring, as Docker's
    assert.deepEqual(names(["type=custom"]), ["blue", "red", "none1"]);
  });

  it("refuses an unknown key with a usage error (exit 2, one line)", async () => {
    const r = await run("network", "ls", "--filter", "colour=blue");
    assert.equal(r.status, 2);
    oneLine(r.err);
    assert.match(r.err, /Invalid --filter "colour=blue"/);
  });
});

describe("help and parser from one declaration", () => {
  it("events accepts --format lines, which its help offers (refused before)", async () => {
    const events = COMMANDS.find((c) => c.path[0] === "events")!;
    assert.match(helpText(events), /--format FORMAT .*lines \(default\), json/);
    assert.equal(parseCommand(events, ["--format", "lines"]).values.format, "lines");
    // Past the parser: the next check is --count's, not "Unknown --format".
    const r = await run("events", "--format", "lines", "--count", "x");
    assert.equal(r.status, 2);
    assert.match(r.err, /Invalid --count "x"/);
  });

  it("every choice a help lists is accepted, and nothing else", () => {
    for (const cmd of COMMANDS) {
      for (const [name, o] of Object.entries(cmd.options)) {
        if (!o.choices) continue;
        const help = helpText(cmd);
        for (const c of o.choices) {
          assert.match(help, new RegExp(`--${name} .*\\b${c}\\b`), cmd.path.join(" "));
          assert.equal(
            parseCommand(cmd, [`--${name}`, c, ...Array(cmd.min).fill("x")]).values[name],
            c,
          );
        }
        assert.throws(
          () => parseCommand(cmd, [`--${name}`, "nonsense", ...Array(cmd.min).fill("x")]),
          /Unknown --/,
        );
        assert.equal(
          o.template === true,
          (() => {
            try {
              parseCommand(cmd, [`--${name}`, "{{.Name}}", ...Array(cmd.min).fill("x")]);
              return true;
            } catch {
              return false;
            }
          })(),
        );
      }
    }
  });

  it("ls and inspect take templates; a bad template is a usage error", async () => {
    const r = await run("network", "inspect", "--format", "{{range .}}{{end}}", "blue");
    assert.equal(r.status, 2, r.err);
    oneLine(r.err);
  });
});

describe("network create as Docker's", () => {
  const create = COMMANDS.find((c) => c.path.join(" ") === "network create")!;

  it("takes --ipv4=false and --internal=true (a boolean option given a value)", () => {
    const { values } = parseCommand(create, ["--ipv6", "--ipv4=false", "--internal=true", "x"]);
    assert.equal(values.ipv4, false);
    assert.equal(values.internal, true);
    assert.equal(values.ipv6, true);
    assert.equal(parseCommand(create, ["--ipv4=false", "--ipv4", "x"]).values.ipv4, true);
  });

  it("refuses --ipv4=false without --ipv6, --ipv6 without a pool, a bad --label or --ip-range", async () => {
    const cases: [string[], RegExp][] = [
      [["--ipv4=false", "n"], /--ipv4=false needs --ipv6/],
      [["--label", "=v", "n"], /Invalid --label "=v"/],
      [["--ip-range", "198.51.100.7", "n"], /Invalid --ip-range "198.51.100.7": expected CIDR/],
      [["--ip-range", "198.51.100.0/25", "--ip-range", "198.51.100.128/25", "n"], /Two --ip-range/],
    ];
    for (const [args, re] of cases) {
      const r = await run("network", "create", ...args);
      assert.equal(r.status, 2, args.join(" "));
      oneLine(r.err);
      assert.match(r.err, re);
    }
  });
});

describe("nslink with no arguments, network prune without -f", () => {
  it("prints the help and exits 0", async () => {
    const r = await run();
    assert.equal(r.status, 0);
    assert.match(r.out, /^Usage: nslink COMMAND/);
    assert.equal(r.err, "");
  });

  it("network prune asks first: without a terminal and without -f it refuses (exit 2)", async () => {
    const r = await run("network", "prune");
    assert.equal(r.status, 2);
    oneLine(r.err);
    assert.match(r.err, /give -f/);
  });
});

describe("nslink completion", () => {
  const src = { commands: COMMANDS, groups: GROUPS };

  it("bash: completes every command and option from the declarations", () => {
    const script = completionScript("bash", src);
    const complete = (...words: string[]) => {
      const r = spawnSync("bash", [
        "-c",
        `${script}
COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}
_nslink; printf '%s\\n' "\${COMPREPLY[@]}"`,
      ], { encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout.trim().split("\n").filter(Boolean);
    };
    assert.deepEqual(complete("nslink", "net"), ["network", "netns"]);
    assert.deepEqual(complete("nslink", "network", "pr"), ["prune"]);
    for (const cmd of COMMANDS) {
      const got = complete("nslink", ...cmd.path, "--");
      for (const name of Object.keys(cmd.options)) {
        assert.ok(got.includes(`--${name}`), `${cmd.path.join(" ")} --${name}`);
      }
    }
    assert.deepEqual(complete("nslink", "network", "create", "--driver", "bridge", "--sub"), [
      "--subnet",
    ]);
  });

  it("zsh and fish: every command and option appear; an unknown shell is a usage error", async () => {
    const zsh = completionScript("zsh", src);
    assert.match(zsh, /bashcompinit/);
    const fish = completionScript("fish", src);
    for (const cmd of COMMANDS) {
      assert.ok(fish.includes(` -a ${cmd.path[cmd.path.length - 1]} `), cmd.path.join(" "));
      for (const name of Object.keys(cmd.options)) assert.ok(fish.includes(` -l ${name}`));
    }
    const r = await run("completion", "tcsh");
    assert.equal(r.status, 2);
    oneLine(r.err);
    assert.equal((await run("completion", "bash")).status, 0);
  });
});
