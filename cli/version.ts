/**
 * `nslink version`: the release, the runtime, and whether this is the compiled executable.
 *
 * @module
 */
import denoJson from "../deno.json" with { type: "json" };
import { SUPPORTED_VERSIONS as CNI_VERSIONS } from "../cni/version.ts";
import { type Command, FORMAT_OPTION } from "./command.ts";

/** nslink's version, from `deno.json`. */
export const VERSION: string = denoJson.version;

/**
 * The runtime this process runs on, and whether it is a `bun build --compile` executable.
 *
 * @example
 * ```ts
 * import { runtimeInfo } from "./version.ts";
 * runtimeInfo().runtime; // "deno" or "bun"
 * ```
 * @returns Runtime name and version, and `compiled`.
 */
export function runtimeInfo(): { runtime: "deno" | "bun"; version: string; compiled: boolean } {
  const g = globalThis as {
    Bun?: { version: string; main?: string };
    Deno?: { version: { deno: string } };
  };
  if (g.Bun) {
    // A compiled executable runs its entry point from Bun's embedded file system.
    return {
      runtime: "bun",
      version: g.Bun.version,
      compiled: (g.Bun.main ?? "").startsWith("/$bunfs/"),
    };
  }
  return { runtime: "deno", version: g.Deno?.version.deno ?? "unknown", compiled: false };
}

/** `nslink version`. */
export const versionCommand: Command = {
  path: ["version"],
  summary: "Show nslink's version and the runtime it runs on",
  operands: "",
  min: 0,
  max: 0,
  options: { format: FORMAT_OPTION },
  run({ io, format }) {
    const rt = runtimeInfo();
    const info = {
      version: VERSION,
      runtime: rt.runtime,
      runtimeVersion: rt.version,
      compiled: rt.compiled,
      cniVersions: CNI_VERSIONS,
    };
    if (format === "json") io.out(JSON.stringify(info, null, 2) + "\n");
    else {
      io.out(
        `nslink ${VERSION} (${rt.runtime} ${rt.version}${rt.compiled ? ", compiled" : ""}); CNI ${
          CNI_VERSIONS.join(", ")
        }\n`,
      );
    }
    return Promise.resolve();
  },
};
