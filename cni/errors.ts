/**
 * CNI errors: the spec's well-known codes, and the error JSON a plugin prints on stdout.
 *
 * @module
 */

/** The spec's error codes (CNI 1.0.0 "Error" and 1.1.0 STATUS codes). */
export const CNI_ERR = {
  /** Incompatible CNI version. */
  INCOMPATIBLE_VERSION: 1,
  /** Unsupported field in network configuration. */
  UNSUPPORTED_FIELD: 2,
  /** Container unknown or does not exist. */
  UNKNOWN_CONTAINER: 3,
  /** Invalid necessary environment variables, like `CNI_COMMAND`, `CNI_CONTAINERID`. */
  INVALID_ENV: 4,
  /** I/O failure. */
  IO_FAILURE: 5,
  /** Failed to decode content. */
  DECODING_FAILURE: 6,
  /** Invalid network config. */
  INVALID_NETWORK_CONFIG: 7,
  /** Try again later. */
  TRY_AGAIN_LATER: 11,
  /** STATUS: the plugin is not available (cannot serve ADD). */
  PLUGIN_NOT_AVAILABLE: 50,
  /** Anything else (the code `skel` gives an untyped error). */
  INTERNAL: 999,
} as const;

/**
 * An error with a CNI code, printed as the spec's error JSON.
 *
 * @example
 * ```ts
 * import { CNI_ERR, CniError } from "./errors.ts";
 * new CniError(CNI_ERR.INVALID_NETWORK_CONFIG, 'invalid "subnet"').code; // 7
 * ```
 */
export class CniError extends Error {
  /** The CNI error code. */
  readonly code: number;
  /** Longer details, optional. */
  readonly details: string;

  /**
   * @param code A code from {@linkcode CNI_ERR}, or 100+ for the plugin's own.
   * @param msg A short message.
   * @param details Longer details.
   * @param options `cause`.
   */
  constructor(code: number, msg: string, details = "", options?: { cause?: unknown }) {
    super(msg, options);
    this.name = "CniError";
    this.code = code;
    this.details = details;
  }
}

/**
 * The error JSON of the spec: `{ cniVersion, code, msg, details? }`.
 *
 * @example
 * ```ts
 * import { CniError, errorJson } from "./errors.ts";
 * errorJson(new CniError(7, "bad"), "1.0.0"); // { cniVersion: "1.0.0", code: 7, msg: "bad" }
 * ```
 * @param e The error.
 * @param cniVersion The configuration's version.
 * @returns The JSON value.
 */
export function errorJson(
  e: CniError,
  cniVersion: string,
): { cniVersion: string; code: number; msg: string; details?: string } {
  return {
    cniVersion,
    code: e.code,
    msg: e.message,
    ...(e.details ? { details: e.details } : {}),
  };
}
