/**
 * The driver registry: network types by name. The built-in drivers are registered here;
 * {@linkcode registerDriver} adds more.
 *
 * @module
 */
import { bridgeDriver } from "./bridge.ts";
import type { Driver } from "./driver.ts";
import { hostDriver, nullDriver } from "./none.ts";
import { ipvlanDriver, macvlanDriver } from "./lan.ts";
import { overlayDriver } from "./overlay.ts";

const drivers = new Map<string, Driver>();

/**
 * Registers a driver under its type and aliases.
 *
 * @example
 * ```ts ignore
 * registerDriver(myDriver);
 * ```
 * @param driver The driver.
 */
export function registerDriver(driver: Driver): void {
  for (const name of [driver.type, ...driver.aliases]) {
    if (drivers.has(name)) {
      throw new TypeError(`A network driver named "${name}" is already registered`);
    }
  }
  for (const name of [driver.type, ...driver.aliases]) drivers.set(name, driver);
}

/**
 * Looks a driver up by type or alias; an unknown type is an error listing the known ones.
 *
 * @example
 * ```ts
 * import { getDriver } from "./registry.ts";
 * getDriver("simplebridge").type; // "bridge"
 * ```
 * @param type The type.
 * @returns The driver.
 */
export function getDriver(type: string): Driver {
  const d = drivers.get(type);
  if (!d) {
    throw new TypeError(
      `Unknown network type "${type}": known types are ${knownTypes().join(", ")}`,
    );
  }
  return d;
}

/**
 * The registered type names and aliases, sorted.
 *
 * @example
 * ```ts
 * import { knownTypes } from "./registry.ts";
 * knownTypes(); // ["bridge", "host", "ipvlan", "macvlan", "null", "overlay", "simplebridge"]
 * ```
 * @returns The names.
 */
export function knownTypes(): string[] {
  return [...drivers.keys()].sort();
}

registerDriver(bridgeDriver);
registerDriver(nullDriver);
registerDriver(hostDriver);
registerDriver(macvlanDriver);
registerDriver(ipvlanDriver);
registerDriver(overlayDriver);
