/**
 * Networks addressed as Docker users address them: by name, by full id, or by a prefix of the id
 * that only one network has.
 *
 * @module
 */
import { listNetworks, type Network, openNetwork } from "../network/network.ts";

/**
 * Opens the network a command-line word names: the network of that name, else the one whose id
 * is the word or starts with it (unique), else the library's "does not exist" error.
 *
 * @example
 * ```ts ignore
 * const net = await resolveNetwork("3f2a"); // the network whose id starts with 3f2a
 * ```
 * @param ref A name, an id, or a unique id prefix.
 * @param options `restore: false` only reads: a network defined but not made since a reboot is
 *   not made again (`inspect`, `rm`).
 * @returns The network.
 * @throws {Error} When nothing matches, or the prefix matches several networks (naming them).
 */
export async function resolveNetwork(
  ref: string,
  options: { restore?: boolean } = {},
): Promise<Network> {
  const names = listNetworks();
  if (names.includes(ref) || !/^[0-9a-f]+$/.test(ref)) return await openNetwork(ref, options);
  const matches: Network[] = [];
  for (const name of names) {
    let net: Network;
    try {
      net = await openNetwork(name, { restore: false }); // only its id is read here
    } catch {
      continue; // removed meanwhile
    }
    if (net.id === ref) return options.restore === false ? net : await openNetwork(name, options);
    if (net.id.startsWith(ref)) matches.push(net);
  }
  if (matches.length === 1) {
    return options.restore === false ? matches[0] : await openNetwork(matches[0].name, options);
  }
  if (matches.length > 1) {
    throw new Error(
      `Network id prefix "${ref}" is ambiguous: ${matches.map((n) => n.name).join(", ")}`,
    );
  }
  return await openNetwork(ref, options); // the usual "does not exist" error
}

/**
 * The name of the network a word names (see {@linkcode resolveNetwork}).
 *
 * @example
 * ```ts ignore
 * await resolveNetworkName("blue"); // "blue"
 * ```
 * @param ref A name, an id, or a unique id prefix.
 * @returns Its name.
 */
export async function resolveNetworkName(ref: string): Promise<string> {
  if (listNetworks().includes(ref)) return ref;
  return (await resolveNetwork(ref)).name;
}
