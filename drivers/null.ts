/**
 * The null driver: the container gets a namespace with only `lo`; `link` hands out nothing.
 *
 * @module
 */
import type { Driver } from "./driver.ts";

/** The null driver (libnetwork's `null`). */
export const nullDriver: Driver = {
  type: "null",
  aliases: [],
  configure(_ctx, _name, _id, options) {
    const keys = Object.keys(options);
    if (keys.length) throw new TypeError(`The null driver takes no options, got "${keys[0]}"`);
    return { config: {}, pools: {} };
  },
  create() {},
  destroy() {},
  link() {
    return { interfaces: [], hostLinks: [] };
  },
  unlink() {},
};
