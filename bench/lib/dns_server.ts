/**
 * The nslink DNS server as a benchmark peer (bench/dns.ts starts it under Deno or Bun): listens
 * on the given gateway, port 53, with a table of N containers `c0`… on 198.51.100.0/24, prints
 * `ready` once its sockets are bound and runs until SIGTERM. UDP goes the way nslink's agent
 * takes: under Deno its batched FFI socket (`agent/udp.ts`), unless `NSLINK_DNS_UDP=node`;
 * under Bun `node:dgram`.
 *
 * Usage: deno run -A bench/lib/dns_server.ts GATEWAY N   |   bun bench/lib/dns_server.ts GATEWAY N
 *
 * @module
 */
import process from "node:process";
import { NameTable } from "../../dns/resolver.ts";
import { DnsServer } from "../../dns/server.ts";
import { ffiUdpAvailable, ffiUdpListener } from "../../agent/udp.ts";

const [gateway = "198.51.100.1", count = "100"] = process.argv.slice(2);
const containers = Array.from({ length: Number(count) }, (_, i) => ({
  name: `c${i}`,
  aliases: [`alias${i}`],
  ipv4: [`198.51.100.${10 + i}`],
}));
const server = await DnsServer.start({
  addresses: [gateway],
  table: new NameTable([{ name: "bench", subnets: ["198.51.100.0/24"], containers }]),
  upstreams: ["127.0.0.1#5399"],
  ...(ffiUdpAvailable() && process.env.NSLINK_DNS_UDP !== "node"
    ? { udpListener: ffiUdpListener }
    : {}),
});
process.on("SIGTERM", () => {
  server.close().then(() => process.exit(0));
});
console.log("ready");
