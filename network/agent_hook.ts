/**
 * The network layer's hook to nslink's host agent (`agent/`, a layer above this one): the agent
 * client registers itself here when imported (`mod.ts` does), and networks call
 * {@linkcode hostAgent} where a DNS-enabled network needs the agent to run. Without a
 * registered client the calls do nothing.
 *
 * @module
 */

/** What the agent client provides. */
export interface HostAgent {
  /**
   * Makes sure the agent runs when needed (starting it), waiting with `sync` until it has
   * caught up with the state.
   */
  ensure(stateDir: string, options: { sync?: boolean; needed?: boolean }): Promise<void>;
  /** After a network went: the agent catches up, and exits (waited for) when idle. */
  settle(stateDir: string): Promise<void>;
}

let agent: HostAgent | undefined;

/**
 * Registers the agent client (done by `agent/client.ts` on import).
 *
 * @example
 * ```ts ignore
 * registerHostAgent({ ensure: async () => {}, settle: async () => {} });
 * ```
 * @param a The client.
 */
export function registerHostAgent(a: HostAgent): void {
  agent = a;
}

/**
 * The registered agent client, if any.
 *
 * @example
 * ```ts ignore
 * await hostAgent()?.ensure("/run/nslink", { sync: true });
 * ```
 * @returns The client, or `undefined`.
 */
export function hostAgent(): HostAgent | undefined {
  return agent;
}
