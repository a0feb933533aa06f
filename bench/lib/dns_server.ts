/**
 * The nslink DNS server as a benchmark peer (bench/dns.ts starts it under Deno or Bun): listens
 * on the given gateway, port 53, with a table of N containers `c0`… on 198.51.100.0/24, prints
 * `ready` once its sockets are bound and runs until SIGTERM. UDP goes the way nslink's agent
 * takes: under Deno its batched FFI socket (`agent/udp.ts`), unless `NSLINK_DNS_UDP=node`;
 * under Bun `node:dgram`. Forwarded queries take the same way (under Deno, FFI sockets to the
 * upstream too) unless `NSLINK_DNS_UPSTREAM=node`.
 *
 * Usage: deno run -A bench/lib/dns_server.ts GATEWAY N [UPSTREAM]   |   bun bench/lib/dns_server.ts …
 * (UPSTREAM: where forwarded names go, default `127.0.0.1`, port 53)
 *
 * @module
 */
import process from "node:process";
import { NameTable } from "../../dns/resolver.ts";
import { DnsServer, type UdpHandlers } from "../../dns/server.ts";
import { ffiUdpAvailable, ffiUdpListener } from "../../agent/udp.ts";

const [gateway = "198.51.100.1", count = "100", upstream = "127.0.0.1"] = process.argv.slice(2);
const containers = Array.from({ length: Number(count) }, (_, i) => ({
  name: `c${i}`,
  aliases: [`alias${i}`],
  ipv4: [`198.51.100.${10 + i}`],
}));
const server = await DnsServer.start({
  addresses: [gateway],
  table: new NameTable([{ name: "bench", subnets: ["198.51.100.0/24"], containers }]),
  upstreams: [upstream],
  ...(ffiUdpAvailable() && process.env.NSLINK_DNS_UDP !== "node"
    ? {
      // NSLINK_DNS_UPSTREAM=node: answers through FFI, forwarded queries through node:dgram
      // (to compare the two ways of forwarding in one run).
      udpListener: process.env.NSLINK_DNS_UPSTREAM === "node"
        ? (a: string, p: number, h: UdpHandlers) => ffiUdpListener(a, p, h)
        : ffiUdpListener,
    }
    : {}),
});
process.on("SIGTERM", () => {
  server.close().then(() => process.exit(0));
});
console.log("ready");
