/**
 * The agent's DNS duty: one {@linkcode DnsServer} for every DNS-enabled network of the state
 * directory, listening on each network's gateway addresses (port 53, UDP and TCP, in the
 * namespace the agent runs in: the host's), answering from {@linkcode StateNames} brought up to
 * date before every query. Upstreams: a network's `dnsServers`, else the nameservers of
 * `/etc/resolv.conf` as the agent reads it (the host's; at most 3).
 *
 * Overlay networks: the endpoints of the network's other hosts come from the store (one
 * {@linkcode RemoteNames} per network, following the store's watch), answered beside this host's
 * own (from the local state).
 *
 * @module
 */
import { readFileSync } from "node:fs";
import process from "node:process";
import { DnsServer, parseResolvConf } from "../dns/server.ts";
import { type Duty, type DutyContext, registerDuty } from "./duty.ts";
import { type ServedNetwork, StateNames } from "./names.ts";
import { RemoteNames } from "./overlay_names.ts";
import { openStore } from "../store/store.ts";
import { storeOptionsOf } from "../network/overlay_options.ts";
import { ffiUdpAvailable, ffiUdpListener } from "./udp.ts";

/** The port the DNS duty listens on; `NSLINK_DNS_PORT` overrides it (tests, benchmarks). */
function dnsPort(): number {
  const p = Number(process.env.NSLINK_DNS_PORT ?? "53");
  return Number.isInteger(p) && p > 0 && p < 65536 ? p : 53;
}

function hostUpstreams(): string[] {
  try {
    return parseResolvConf(readFileSync("/etc/resolv.conf", "utf8"));
  } catch {
    return [];
  }
}

function wanted(names: StateNames): Set<string> {
  return new Set(names.networks.flatMap((n) => n.gateways));
}

function listenSetChanged(server: DnsServer, names: StateNames): boolean {
  const have = new Set(server.ports().map((p) => p.address));
  const want = wanted(names);
  return have.size !== want.size || [...want].some((a) => !have.has(a));
}

/**
 * The DNS duty (registered as `dns`).
 *
 * @example
 * ```ts ignore
 * const duty = await DnsDuty.start(ctx);
 * await duty.sync(); // listening on every DNS-enabled network's gateways
 * ```
 */
export class DnsDuty implements Duty {
  /** `dns`. */
  readonly name = "dns";
  readonly #ctx: DutyContext;
  readonly #names: StateNames;
  readonly #server: DnsServer;
  readonly #failed = new Map<string, string>();
  /** Overlay network name -> what follows its other hosts' endpoints, and for which network. */
  readonly #remotes = new Map<string, { key: string; names: RemoteNames }>();

  private constructor(ctx: DutyContext, names: StateNames, server: DnsServer) {
    this.#ctx = ctx;
    this.#names = names;
    this.#server = server;
  }

  /**
   * Opens the state watch and a server with no address yet.
   *
   * @param ctx The agent's context.
   * @returns The duty.
   */
  static async start(ctx: DutyContext): Promise<DnsDuty> {
    const names = new StateNames(ctx.stateDir);
    const server = await DnsServer.start({
      table: names.table,
      port: dnsPort(),
      upstreams: hostUpstreams(),
      // Under Deno, batched FFI I/O (node:dgram is the slower path there); NSLINK_DNS_UDP=node
      // keeps node:dgram.
      ...(ffiUdpAvailable() && process.env.NSLINK_DNS_UDP !== "node"
        ? { udpListener: ffiUdpListener }
        : {}),
      beforeQuery: () => {
        if (!names.refresh()) {
          // Changes drained by a sync meanwhile: the table is built now, at the first query.
          if (server.table !== names.table) server.table = names.table;
          return;
        }
        server.table = names.table;
        // A network created or deleted meanwhile: its sockets come with the next sync.
        if (listenSetChanged(server, names)) ctx.requestSync();
      },
    });
    return new DnsDuty(ctx, names, server);
  }

  /** Re-reads the state; listens on new gateways, closes the sockets of gone ones. */
  async sync(): Promise<void> {
    // The table itself is built at the next query (beforeQuery): a sync during a burst of links
    // reads the changed records only.
    this.#names.refresh();
    await this.#syncRemotes();
    this.#server.upstreams = hostUpstreams();
    const want = wanted(this.#names);
    for (const { address } of this.#server.ports()) {
      if (!want.has(address)) await this.#server.unlisten(address);
    }
    for (const a of want) {
      try {
        await this.#server.listen(a);
        if (this.#failed.delete(a)) this.#ctx.log(`dns: listening on ${a}`);
      } catch (e) {
        const msg = (e as Error).message;
        if (this.#failed.get(a) !== msg) this.#ctx.log(msg);
        this.#failed.set(a, msg);
      }
    }
    for (const a of this.#failed.keys()) if (!want.has(a)) this.#failed.delete(a);
  }

  /** Follows the store of each DNS-enabled overlay network; stops following gone ones. */
  async #syncRemotes(): Promise<void> {
    const want = new Map<string, { key: string; net: ServedNetwork }>();
    for (const net of this.#names.networks) {
      if (!net.overlay) continue;
      want.set(net.name, {
        key: JSON.stringify([net.id, net.overlay, net.subnets]),
        net,
      });
    }
    for (const [name, r] of [...this.#remotes]) {
      if (want.get(name)?.key === r.key) continue;
      this.#remotes.delete(name);
      await r.names.stop();
      this.#names.setRemote(name, []);
      this.#server.table = this.#names.table;
    }
    for (const [name, { key, net }] of want) {
      if (this.#remotes.has(name)) continue;
      const o = net.overlay!;
      let store;
      try {
        store = openStore(o.store, storeOptionsOf(o.options));
      } catch (e) {
        const msg = `dns: overlay network "${name}": ${(e as Error).message}`;
        if (this.#failed.get(name) !== msg) this.#ctx.log(msg);
        this.#failed.set(name, msg);
        continue;
      }
      const names = new RemoteNames({
        store,
        network: name,
        self: o.advertise,
        subnets: net.subnets,
        onChange: (containers) => {
          // Still the one serving this network (not stopped and replaced meanwhile).
          if (this.#remotes.get(name)?.names !== names) return;
          this.#names.setRemote(name, containers);
          this.#server.table = this.#names.table;
        },
        onReject: (k, why) => this.#ctx.log(`dns: overlay endpoint "${k}" left out: ${why}`),
      });
      this.#remotes.set(name, { key, names });
    }
  }

  /** Whether a DNS-enabled network exists. */
  needed(): boolean {
    return this.#names.networks.length > 0;
  }

  /** Networks, addresses listened on, counters. */
  status(): Record<string, unknown> {
    return {
      networks: this.#names.networks.map((n) => n.name),
      overlay: Object.fromEntries(
        [...this.#remotes].map(([n, r]) => [n, {
          remote: r.names.containers.length,
          ...(r.names.lastError ? { error: r.names.lastError.message } : {}),
        }]),
      ),
      listening: this.#server.ports().map((p) => p.address),
      failed: Object.fromEntries(this.#failed),
      stats: { ...this.#server.stats },
    };
  }

  /** Closes the server and the state watch. */
  async stop(): Promise<void> {
    for (const r of this.#remotes.values()) await r.names.stop();
    this.#remotes.clear();
    await this.#server.close();
    await this.#names.close();
  }
}

registerDuty("dns", (ctx) => DnsDuty.start(ctx));
