/**
 * The agent's duties: each thing nslink's host background process keeps (container names, and
 * later overlay leases and watchers, firewall self-repair) is a {@linkcode Duty} made by a
 * factory registered under a name. One process runs them all; an agent started on demand exits
 * once no duty is {@linkcode Duty.needed}.
 *
 * @module
 */

/** What a duty is given when the agent starts it. */
export interface DutyContext {
  /** The state directory the agent serves. */
  readonly stateDir: string;
  /** Writes one line to the agent's log. */
  log(line: string): void;
  /** Asks the agent to run every duty's {@linkcode Duty.sync} soon (coalesced). */
  requestSync(): void;
}

/** One thing the agent keeps. */
export interface Duty {
  /** Its name, in logs and status replies. */
  readonly name: string;
  /** Brings it in step with the state; called at start, on a client's request and every tick. */
  sync(): Promise<void>;
  /** Whether it has work: an agent started on demand exits when no duty has. */
  needed(): boolean;
  /** What it is doing, for status replies. */
  status(): Record<string, unknown>;
  /** Stops it, releasing its sockets and fds; safe to call twice. */
  stop(): Promise<void>;
}

/** Makes a duty for an agent. */
export type DutyFactory = (ctx: DutyContext) => Duty | Promise<Duty>;

const registry = new Map<string, DutyFactory>();

/**
 * Registers a duty every agent runs from now on (under a unique name; a second registration
 * under one name replaces the first).
 *
 * @example
 * ```ts ignore
 * registerDuty("dns", (ctx) => new DnsDuty(ctx));
 * ```
 * @param name The duty's name.
 * @param factory What makes it.
 */
export function registerDuty(name: string, factory: DutyFactory): void {
  registry.set(name, factory);
}

/**
 * The registered duties' factories, by name.
 *
 * @example
 * ```ts ignore
 * [...registeredDuties().keys()]; // ["dns"]
 * ```
 * @returns A copy of the registry.
 */
export function registeredDuties(): Map<string, DutyFactory> {
  return new Map(registry);
}
