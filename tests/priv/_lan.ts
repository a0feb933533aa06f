/**
 * A simulated LAN for the macvlan/ipvlan tests (not a test itself): the parent is one end of a
 * veth pair whose other end sits on a bridge in a namespace acting as the LAN's router
 * (198.51.100.254, 2001:db8:30::fe), with another LAN host behind it (198.51.100.200,
 * 2001:db8:30::c8). The host itself has 198.51.100.10 and 2001:db8:30::a on the parent, as a
 * machine on the LAN does. Everything carries the run prefix and is registered for cleanup.
 *
 * @module
 */
import type { NetworkOptions } from "../../mod.ts";
import { type Cleanup, exec } from "./_helpers.ts";

/** The LAN's router. */
export const ROUTER = "198.51.100.254";
/** The LAN's router, IPv6. */
export const ROUTER6 = "2001:db8:30::fe";
/** Another host on the LAN. */
export const LANHOST = "198.51.100.200";
/** Another host on the LAN, IPv6. */
export const LANHOST6 = "2001:db8:30::c8";

/**
 * Runs a command; fails with its stderr when it exits non-zero.
 *
 * @param argv The command.
 */
export async function sh(...argv: string[]): Promise<void> {
  const r = await exec(argv);
  if (r.code !== 0) throw new Error(`${argv.join(" ")}: ${r.stderr}`);
}

/**
 * The LAN's names for a run prefix, its network options, and the function that makes it.
 *
 * @param P The run prefix.
 * @returns `UP` (the parent), `RT`/`LH` (the router's and LAN host's namespaces), `LAN` (the
 *   macvlan options of the LAN: parent, subnets, gateways, range 198.51.100.128/25), `lan(c)`.
 */
export function lanNames(P: string): {
  UP: string;
  RT: string;
  LH: string;
  LAN: NetworkOptions;
  lan: (c: Cleanup) => Promise<void>;
  sh: typeof sh;
} {
  const UP = `${P}up`;
  const RT = `${P}rt`;
  const LH = `${P}lh`;
  const LAN: NetworkOptions = {
    parent: UP,
    subnet: "198.51.100.0/24",
    gateway: ROUTER,
    subnetIPv6: "2001:db8:30::/64",
    gatewayIPv6: ROUTER6,
    ipRange: "198.51.100.128/25",
  };
  const lan = async (c: Cleanup): Promise<void> => {
    c.netns(RT);
    c.netns(LH);
    c.link(UP);
    await sh("ip", "netns", "add", RT);
    await sh("ip", "netns", "add", LH);
    await sh("ip", "link", "add", UP, "type", "veth", "peer", "name", "lan0", "netns", RT);
    await sh("ip", "link", "set", UP, "up");
    await sh("ip", "addr", "add", "198.51.100.10/24", "dev", UP);
    await sh("ip", "addr", "add", "2001:db8:30::a/64", "dev", UP, "nodad");
    const r = (...a: string[]) => sh("ip", "-n", RT, ...a);
    await r("link", "set", "lo", "up");
    await r("link", "add", "br0", "type", "bridge");
    await r("link", "set", "lan0", "master", "br0", "up");
    await r("link", "add", "h0", "type", "veth", "peer", "name", "eth0", "netns", LH);
    await r("link", "set", "h0", "master", "br0", "up");
    await r("link", "set", "br0", "up");
    await r("addr", "add", `${ROUTER}/24`, "dev", "br0");
    await r("addr", "add", `${ROUTER6}/64`, "dev", "br0", "nodad");
    const h = (...a: string[]) => sh("ip", "-n", LH, ...a);
    await h("link", "set", "lo", "up");
    await h("link", "set", "eth0", "up");
    await h("addr", "add", `${LANHOST}/24`, "dev", "eth0");
    await h("addr", "add", `${LANHOST6}/64`, "dev", "eth0", "nodad");
  };
  return { UP, RT, LH, LAN, lan, sh };
}
