/**
 * Drivers that make no kernel objects and hand out no interfaces: `null` (the container keeps a
 * namespace with only `lo`) and `host` (the container shares the host's namespace). They differ
 * only in meaning, so one factory makes both.
 *
 * @module
 */
import type { Driver } from "./driver.ts";

/**
 * Makes a driver whose networks have no kernel objects and whose `link` returns no interfaces.
 *
 * @example
 * ```ts
 * import { interfacelessDriver } from "./none.ts";
 * interfacelessDriver("null").type; // "null"
 * ```
 * @param type The driver's type name.
 * @returns The driver.
 */
export function interfacelessDriver(type: string): Driver {
  return {
    type,
    aliases: [],
    configure(_ctx, _name, _id, options) {
      const keys = Object.keys(options);
      if (keys.length) throw new TypeError(`The ${type} driver takes no options, got "${keys[0]}"`);
      return { config: {}, pools: {} };
    },
    create() {},
    destroy() {},
    link() {
      return { interfaces: [], hostLinks: [] };
    },
    unlink() {
      return true;
    },
  };
}

/** The null driver (libnetwork's `null`): a namespace with only `lo`; `link` hands out nothing. */
export const nullDriver: Driver = interfacelessDriver("null");

/** The host driver (libnetwork's `host`): the container shares the host's namespace. */
export const hostDriver: Driver = interfacelessDriver("host");
