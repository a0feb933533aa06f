/**
 * firewalld's D-Bus API (`org.fedoraproject.FirewallD1`), the part nslink needs: whether
 * firewalld runs, a zone of nslink's own (`nslink`, target `ACCEPT`, as Docker's `docker` zone)
 * made permanent, and interfaces bound to it both at runtime and permanently, so that a binding
 * survives `firewall-cmd --reload` (which drops runtime-only bindings) and a reboot.
 *
 * | firewall-cmd                                                  | here                          |
 * |---------------------------------------------------------------|-------------------------------|
 * | `firewall-cmd --state`                                        | {@linkcode firewalldRunning}  |
 * | `firewall-cmd --permanent --new-zone=nslink --set-target=ACCEPT; --reload` | {@linkcode Firewalld.ensureZone} |
 * | `firewall-cmd [--permanent] --zone=nslink --change-interface=X` | {@linkcode Firewalld.bindInterface} |
 * | `firewall-cmd [--permanent] --zone=nslink --remove-interface=X` | {@linkcode Firewalld.unbindInterface} |
 * | `firewall-cmd --permanent --delete-zone=nslink; --reload`     | {@linkcode Firewalld.removeZone} |
 * | `firewall-cmd --get-zone-of-interface=X`                      | {@linkcode Firewalld.zoneOfInterface} |
 *
 * Every call needs firewalld's permission for the caller (root, or its polkit rules).
 *
 * @example Put a bridge in the `nslink` zone when firewalld runs
 * ```ts ignore
 * import { Firewalld } from "./firewalld.ts";
 * await using fw = await Firewalld.connect();
 * if (fw !== undefined) {
 *   await fw.ensureZone("nslink");
 *   await fw.bindInterface("nslink", "nsl0br");
 * }
 * ```
 *
 * @module
 */
import {
  DBusConnectError,
  DBusConnection,
  type DBusConnectOptions,
  DBusError,
} from "../dbus/connection.ts";
import { Variant } from "../dbus/marshal.ts";

/** firewalld's bus name. */
export const FIREWALLD_BUS_NAME = "org.fedoraproject.FirewallD1";
const PATH = "/org/fedoraproject/FirewallD1";
const CONFIG_PATH = "/org/fedoraproject/FirewallD1/config";
const IFACE = "org.fedoraproject.FirewallD1";
const IFACE_ZONE = "org.fedoraproject.FirewallD1.zone";
const IFACE_CONFIG = "org.fedoraproject.FirewallD1.config";
const IFACE_CONFIG_ZONE = "org.fedoraproject.FirewallD1.config.zone";

/** The zone nslink puts its bridges in by default. */
export const NSLINK_ZONE = "nslink";

/** Options of {@linkcode Firewalld.ensureZone}. */
export interface ZoneOptions {
  /** The zone's target: `ACCEPT` (default), `default`, `DROP` or `%%REJECT%%`. */
  target?: "ACCEPT" | "default" | "DROP" | "%%REJECT%%";
  /** The zone's short description, shown by `firewall-cmd --info-zone`. */
  short?: string;
  /** Its description. */
  description?: string;
}

/** Whether a connect error means "no bus here" rather than a fault worth reporting. */
function noBus(e: unknown): boolean {
  return e instanceof DBusConnectError &&
    ["ENOENT", "ECONNREFUSED", "ENOTDIR", "EACCES"].includes(e.code);
}

/**
 * Whether firewalld runs: its bus name has an owner on the system bus. `false` when there is no
 * system bus at all.
 *
 * @example
 * ```ts ignore
 * if (await firewalldRunning()) console.log("firewalld manages this host's firewall");
 * ```
 * @param options The bus address (default `$DBUS_SYSTEM_BUS_ADDRESS` or
 *   `/run/dbus/system_bus_socket`).
 * @returns Whether it runs.
 */
export async function firewalldRunning(options: DBusConnectOptions = {}): Promise<boolean> {
  let bus: DBusConnection;
  try {
    bus = await DBusConnection.connect(options);
  } catch (e) {
    if (noBus(e)) return false;
    throw e;
  }
  try {
    return await nameHasOwner(bus, FIREWALLD_BUS_NAME);
  } finally {
    bus.close();
  }
}

async function nameHasOwner(bus: DBusConnection, name: string): Promise<boolean> {
  const [has] = await bus.call({
    destination: "org.freedesktop.DBus",
    path: "/org/freedesktop/DBus",
    interface: "org.freedesktop.DBus",
    member: "NameHasOwner",
    signature: "s",
    body: [name],
  });
  return has === true;
}

/**
 * A connection to firewalld. Closing it closes the bus connection.
 */
export class Firewalld implements AsyncDisposable {
  #bus: DBusConnection;

  private constructor(bus: DBusConnection) {
    this.#bus = bus;
  }

  /**
   * Connects to the system bus; `undefined` when there is no bus or firewalld does not run
   * (nslink then leaves firewalld alone).
   *
   * @example
   * ```ts ignore
   * await using fw = await Firewalld.connect();
   * ```
   * @param options The bus address.
   * @returns The handle, or `undefined`.
   */
  static async connect(options: DBusConnectOptions = {}): Promise<Firewalld | undefined> {
    let bus: DBusConnection;
    try {
      bus = await DBusConnection.connect(options);
    } catch (e) {
      if (noBus(e)) return undefined;
      throw e;
    }
    try {
      if (!(await nameHasOwner(bus, FIREWALLD_BUS_NAME))) {
        bus.close();
        return undefined;
      }
    } catch (e) {
      bus.close();
      throw e;
    }
    return new Firewalld(bus);
  }

  /** The bus connection (for other firewalld calls). */
  get bus(): DBusConnection {
    return this.#bus;
  }

  #call(
    path: string,
    iface: string,
    member: string,
    signature = "",
    body: readonly unknown[] = [],
  ): Promise<unknown[]> {
    return this.#bus.call({
      destination: FIREWALLD_BUS_NAME,
      path,
      interface: iface,
      member,
      signature,
      body,
    });
  }

  /**
   * The permanent zones' names (`firewall-cmd --permanent --get-zones`).
   *
   * @returns The names.
   */
  async permanentZones(): Promise<string[]> {
    const [names] = await this.#call(CONFIG_PATH, IFACE_CONFIG, "getZoneNames");
    return names as string[];
  }

  /**
   * The runtime zones' names (`firewall-cmd --get-zones`).
   *
   * @returns The names.
   */
  async runtimeZones(): Promise<string[]> {
    const [names] = await this.#call(PATH, IFACE_ZONE, "getZones");
    return names as string[];
  }

  /**
   * Creates the permanent zone if it is missing, then reloads firewalld so that it exists at
   * runtime too (firewalld makes zones only from its permanent configuration). Does nothing
   * when the zone exists both ways. Uses `config.addZone2` (firewalld ≥ 0.9), else `addZone`.
   *
   * Note: a reload drops every runtime-only change made by anyone (e.g. `firewall-cmd` without
   * `--permanent`); nslink's own bindings are permanent, so they come back.
   *
   * @example
   * ```ts ignore
   * const created = await fw.ensureZone("nslink"); // true the first time
   * ```
   * @param zone The zone's name.
   * @param options Target and descriptions.
   * @returns Whether anything was created or reloaded.
   */
  async ensureZone(zone: string = NSLINK_ZONE, options: ZoneOptions = {}): Promise<boolean> {
    const target = options.target ?? "ACCEPT";
    const short = options.short ?? "nslink";
    const description = options.description ??
      "Container networks managed by nslink; nslink's own nf_tables rules filter their traffic.";
    let changed = false;
    if (!(await this.permanentZones()).includes(zone)) {
      try {
        await this.#call(CONFIG_PATH, IFACE_CONFIG, "addZone2", "sa{sv}", [zone, {
          target: new Variant("s", target),
          short: new Variant("s", short),
          description: new Variant("s", description),
        }]);
      } catch (e) {
        // Another process made it meanwhile: fine.
        if (e instanceof DBusError && /^NAME_CONFLICT\b/.test(e.detail)) {
          return this.ensureZone(zone, options);
        }
        if (!(e instanceof DBusError && e.errorName.endsWith(".UnknownMethod"))) throw e;
        // firewalld < 0.9: the settings tuple of `addZone`
        await this.#call(
          CONFIG_PATH,
          IFACE_CONFIG,
          "addZone",
          "s(sssbsasa(ss)asba(ssss)asasasasa(ss)b)",
          [zone, [
            "",
            short,
            description,
            false,
            target,
            [],
            [],
            [],
            false,
            [],
            [],
            [],
            [],
            [],
            [],
            false,
          ]],
        );
      }
      changed = true;
    }
    if (changed || !(await this.runtimeZones()).includes(zone)) {
      await this.reload();
      changed = true;
    }
    return changed;
  }

  /**
   * Reloads firewalld's permanent configuration (`firewall-cmd --reload`): runtime-only changes
   * are lost, permanent ones applied.
   */
  async reload(): Promise<void> {
    await this.#call(PATH, IFACE, "reload");
  }

  /**
   * The zone an interface is bound to at runtime (`firewall-cmd --get-zone-of-interface=X`);
   * `""` when it is in none (then firewalld treats its traffic by the default zone).
   *
   * @param iface The interface.
   * @returns The zone's name, or `""`.
   */
  async zoneOfInterface(iface: string): Promise<string> {
    const [zone] = await this.#call(PATH, IFACE_ZONE, "getZoneOfInterface", "s", [iface]);
    return zone as string;
  }

  /**
   * The zone an interface is bound to in the permanent configuration; `""` when none.
   *
   * @param iface The interface.
   * @returns The zone's name, or `""`.
   */
  async permanentZoneOfInterface(iface: string): Promise<string> {
    const [zone] = await this.#call(CONFIG_PATH, IFACE_CONFIG, "getZoneOfInterface", "s", [iface]);
    return zone as string;
  }

  async #zonePath(zone: string): Promise<string> {
    const [path] = await this.#call(CONFIG_PATH, IFACE_CONFIG, "getZoneByName", "s", [zone]);
    return path as string;
  }

  /**
   * Binds an interface to a zone, at runtime and permanently, moving it out of any other zone
   * (`firewall-cmd --zone=Z --change-interface=X`, with and without `--permanent`). Idempotent.
   * The interface need not exist yet.
   *
   * @example
   * ```ts ignore
   * await fw.bindInterface("nslink", "nsl0br");
   * ```
   * @param zone The zone (it must exist: {@linkcode Firewalld.ensureZone}).
   * @param iface The interface.
   */
  async bindInterface(zone: string, iface: string): Promise<void> {
    // Permanent first: a reload in between then still ends with the binding.
    const other = await this.permanentZoneOfInterface(iface);
    if (other !== zone) {
      if (other !== "") {
        // firewalld reports several zones as "a b  (ERROR: …)": clean each.
        for (const name of other.split("  (")[0].split(" ").filter((s) => s !== "")) {
          if (name === zone) continue;
          await this.#call(await this.#zonePath(name), IFACE_CONFIG_ZONE, "removeInterface", "s", [
            iface,
          ]);
        }
      }
      const path = await this.#zonePath(zone);
      const [has] = await this.#call(path, IFACE_CONFIG_ZONE, "queryInterface", "s", [iface]);
      if (has !== true) await this.#call(path, IFACE_CONFIG_ZONE, "addInterface", "s", [iface]);
    }
    const now = await this.zoneOfInterface(iface);
    if (now === zone) return;
    if (now === "") await this.#call(PATH, IFACE_ZONE, "addInterface", "ss", [zone, iface]);
    else await this.#call(PATH, IFACE_ZONE, "changeZoneOfInterface", "ss", [zone, iface]);
  }

  /**
   * Unbinds an interface from a zone, at runtime and permanently; nothing happens for bindings
   * to other zones or none. Idempotent.
   *
   * @param zone The zone.
   * @param iface The interface.
   */
  async unbindInterface(zone: string, iface: string): Promise<void> {
    if ((await this.zoneOfInterface(iface)) === zone) {
      await this.#call(PATH, IFACE_ZONE, "removeInterface", "ss", [zone, iface]);
    }
    if (!(await this.permanentZones()).includes(zone)) return;
    const path = await this.#zonePath(zone);
    const [has] = await this.#call(path, IFACE_CONFIG_ZONE, "queryInterface", "s", [iface]);
    if (has === true) await this.#call(path, IFACE_CONFIG_ZONE, "removeInterface", "s", [iface]);
  }

  /**
   * Removes the permanent zone and reloads, so it is gone at runtime too; nothing happens when
   * it does not exist. Its interfaces go back to the default zone.
   *
   * @param zone The zone.
   * @returns Whether it existed.
   */
  async removeZone(zone: string = NSLINK_ZONE): Promise<boolean> {
    if (!(await this.permanentZones()).includes(zone)) return false;
    await this.#call(await this.#zonePath(zone), IFACE_CONFIG_ZONE, "remove");
    await this.reload();
    return true;
  }

  /** Closes the bus connection; safe to call twice. */
  close(): void {
    this.#bus.close();
  }

  /** Closes the bus connection (for `await using`). @returns A settled promise. */
  [Symbol.asyncDispose](): Promise<void> {
    this.close();
    return Promise.resolve();
  }
}
