/**
 * A tiny TCP/UDP server and client for traffic tests, run inside a namespace with
 * `ip netns exec NS <deno run -A | bun> tests/priv/_probe.ts …` (both runtimes, node:net/dgram).
 *
 * - `serve NAME TCPPORT UDPPORT`: answers every TCP connection and UDP datagram with
 *   `NAME from=PEER` (the peer address it saw, IPv4-mapped prefix removed); prints `ready`.
 * - `tcp HOST PORT`, `udp HOST PORT [SRCPORT]`: prints the answer, or `FAIL reason` (`timeout`
 *   or the socket error's code, e.g. `ECONNREFUSED`); exits 0. Any other exit is the probe
 *   itself failing, which `_traffic.ts` reports as an error, never as a blocked path.
 *
 * @module
 */
import net from "node:net";
import dgram from "node:dgram";
import process from "node:process";

const [mode, ...args] = process.argv.slice(2);
const peer = (a: string | undefined) => (a ?? "?").replace(/^::ffff:/, "");

function done(text: string): never {
  console.log(text);
  process.exit(0);
}

if (mode === "serve") {
  const [name, tcpPort, udpPort] = args;
  let up = 0;
  const ready = () => {
    if (++up === 2) console.log("ready");
  };
  net.createServer((s) => {
    s.end(`${name} from=${peer(s.remoteAddress)}\n`);
    s.on("error", () => {});
  }).listen({ host: "::", port: Number(tcpPort), ipv6Only: false }, ready);
  const u = dgram.createSocket({ type: "udp6", ipv6Only: false });
  u.on("message", (_m, r) => u.send(`${name} from=${peer(r.address)}\n`, r.port, r.address));
  u.bind(Number(udpPort), "::", ready);
} else if (mode === "tcp") {
  const [host, port] = args;
  const timer = setTimeout(() => done("FAIL timeout"), 2000);
  const s = net.connect({ host, port: Number(port) });
  let data = "";
  s.on("data", (d) => data += d.toString());
  s.on("end", () => {
    clearTimeout(timer);
    done(data.trim() || "FAIL empty");
  });
  s.on("error", (e) => {
    clearTimeout(timer);
    done(`FAIL ${(e as { code?: string }).code ?? e.message}`);
  });
} else if (mode === "udp") {
  const [host, port, sport] = args;
  const u = dgram.createSocket(host.includes(":") ? "udp6" : "udp4");
  const timer = setTimeout(() => done("FAIL timeout"), 1500);
  u.on("message", (m) => {
    clearTimeout(timer);
    done(m.toString().trim());
  });
  u.on("error", (e) => done(`FAIL ${(e as { code?: string }).code ?? e.message}`));
  u.bind(sport ? Number(sport) : 0, () => u.send("x", Number(port), host));
} else {
  done(`FAIL unknown mode ${mode}`);
}
