/**
 * Real traffic for the firewall tests: an "outside" client namespace joined to the host by a
 * veth (203.0.113.0/24, 2001:db8:2::/64), and `_probe.ts` servers and clients run inside
 * namespaces with `ip netns exec`, by the runtime running the tests (Deno or Bun).
 *
 * @module
 */
import { type ChildProcess, spawn } from "node:child_process";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { type Cleanup, exec, ip } from "./_helpers.ts";

const PROBE = fileURLToPath(new URL("./_probe.ts", import.meta.url).href);

/** The argv that runs `_probe.ts` with this runtime. */
function probeArgv(args: string[]): string[] {
  const isDeno = "Deno" in globalThis;
  return isDeno
    ? [process.execPath, "run", "-A", PROBE, ...args]
    : [process.execPath, PROBE, ...args];
}

/** The host's address on the outside veth. */
export const HOST4 = "203.0.113.1";
/** The host's IPv6 address on the outside veth. */
export const HOST6 = "2001:db8:2::1";
/** The outside client's address. */
export const OUT4 = "203.0.113.2";
/** The outside client's IPv6 address. */
export const OUT6 = "2001:db8:2::2";

/**
 * Makes the outside namespace `NAME` with `eth0` joined to host veth `HOSTLINK`; both removed by
 * `c`.
 *
 * @param c Cleanup registry.
 * @param name The namespace's name.
 * @param hostLink The host end's name.
 */
export async function outside(c: Cleanup, name: string, hostLink: string): Promise<void> {
  c.netns(name);
  c.link(hostLink);
  const steps: string[][] = [
    ["netns", "add", name],
    ["link", "add", hostLink, "type", "veth", "peer", "name", "eth0", "netns", name],
    ["addr", "add", `${HOST4}/24`, "dev", hostLink],
    ["addr", "add", `${HOST6}/64`, "dev", hostLink, "nodad"],
    ["link", "set", hostLink, "up"],
    ["-n", name, "link", "set", "lo", "up"],
    ["-n", name, "addr", "add", `${OUT4}/24`, "dev", "eth0"],
    ["-n", name, "addr", "add", `${OUT6}/64`, "dev", "eth0", "nodad"],
    ["-n", name, "link", "set", "eth0", "up"],
  ];
  for (const s of steps) {
    const r = await ip(s);
    if (r.code !== 0) throw new Error(`ip ${s.join(" ")}: ${r.stderr}`);
  }
}

/**
 * Starts a probe server (`NAME from=PEER` on TCP `tcpPort` and UDP `udpPort`) in a named
 * namespace; `c` stops it.
 *
 * @param c Cleanup registry.
 * @param netns The namespace's name.
 * @param name What it answers.
 * @param tcpPort TCP port.
 * @param udpPort UDP port.
 */
export async function server(
  c: Cleanup,
  netns: string,
  name: string,
  tcpPort = 80,
  udpPort = 53,
): Promise<void> {
  const child: ChildProcess = spawn(
    "ip",
    ["netns", "exec", netns, ...probeArgv(["serve", name, String(tcpPort), String(udpPort)])],
    { stdio: ["ignore", "pipe", "inherit"] },
  );
  c.defer(`probe server ${name}`, async () => {
    if (child.exitCode === null) {
      const gone = new Promise((r) => child.once("exit", r));
      child.kill("SIGKILL");
      await gone;
    }
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`probe server ${name} did not start`)), 15000);
    let out = "";
    child.stdout!.on("data", (d: Uint8Array) => {
      out += new TextDecoder().decode(d);
      if (out.includes("ready")) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`probe server ${name} exited (${code})`));
    });
  });
}

/**
 * Connects (TCP) or sends a datagram (UDP) from a namespace (`undefined`: the host) and returns
 * the answer (`NAME from=PEER`) or `FAIL …`.
 *
 * @param netns The namespace's name, or `undefined` for the host.
 * @param proto `tcp` or `udp`.
 * @param host Address to reach.
 * @param port Port.
 * @param sport UDP source port.
 * @returns The answer.
 */
export async function probe(
  netns: string | undefined,
  proto: "tcp" | "udp",
  host: string,
  port: number,
  sport?: number,
): Promise<string> {
  const argv = probeArgv([proto, host, String(port), ...(sport ? [String(sport)] : [])]);
  const r = await exec(netns === undefined ? argv : ["ip", "netns", "exec", netns, ...argv]);
  const answer = r.stdout.trim().split("\n").pop()!;
  // The probe prints an answer or "FAIL reason" and exits 0: anything else is the probe (or ip
  // netns exec) failing, which must not read as a closed path.
  if (r.code !== 0 || answer === "" || /^FAIL unknown mode/.test(answer)) {
    throw new Error(
      `probe ${proto} ${host}:${port} from ${netns ?? "the host"} failed itself ` +
        `(exit ${r.code}): ${r.stderr.trim()}`,
    );
  }
  return answer;
}

/**
 * What a probe answers when the path is closed: the connection or datagram timed out, or was
 * refused or found no route. Not a crash of the probe ({@linkcode probe} throws then), not an
 * empty answer.
 */
export const BLOCKED: RegExp = /^FAIL (timeout|ECONNREFUSED|EHOSTUNREACH|ENETUNREACH)$/;

/**
 * {@linkcode probe}, tried again (for up to `ms`) until the answer matches: for the first
 * packets over fresh links (neighbour discovery, bridge learning).
 *
 * @param want The answer expected.
 * @param args As for {@linkcode probe}.
 * @param ms How long to keep trying.
 * @returns The last answer.
 */
export async function settled(
  want: string | RegExp,
  args: Parameters<typeof probe>,
  ms = 6000,
): Promise<string> {
  const stop = Date.now() + ms;
  for (;;) {
    const got = await probe(...args);
    const ok = typeof want === "string" ? got === want : want.test(got);
    if (ok || Date.now() > stop) return got;
  }
}
