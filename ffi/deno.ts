/**
 * The Deno backend: `Deno.dlopen` over {@linkcode LIBC_SYMBOLS}. Must not import the loader
 * (an import cycle with top-level await deadlocks Deno).
 *
 * @module
 */
import { LIBC_PATH, LIBC_SYMBOLS, type LoadedLibc } from "./symbols.ts";

/**
 * Opens libc with `Deno.dlopen`. Throws what Deno throws (permission, missing library).
 *
 * @returns The bound functions and an errno reader.
 */
export function openDenoLibc(): LoadedLibc {
  const lib = Deno.dlopen(LIBC_PATH, LIBC_SYMBOLS);
  const location = lib.symbols.__errno_location();
  if (location === null) throw new Error("__errno_location() returned NULL");
  // One view, made once: getInt32 then reads errno without allocating. The view is of this
  // thread's errno; a module instance (and its isolate) stays on one thread.
  const view = new Deno.UnsafePointerView(location);
  return { symbols: lib.symbols, errno: () => view.getInt32(0), close: () => lib.close() };
}
