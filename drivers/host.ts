/**
 * The host driver: the container shares the host's network namespace, so `link` hands out no
 * interfaces and nothing is created.
 *
 * @module
 */
import type { Driver } from "./driver.ts";

/** The host driver (libnetwork's `host`). */
export const hostDriver: Driver = {
  type: "host",
  aliases: [],
  configure(_ctx, _name, _id, options) {
    const keys = Object.keys(options);
    if (keys.length) throw new TypeError(`The host driver takes no options, got "${keys[0]}"`);
    return { config: {}, pools: {} };
  },
  create() {},
  destroy() {},
  link() {
    return { interfaces: [], hostLinks: [] };
  },
  unlink() {},
};
