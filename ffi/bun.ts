/**
 * The Bun backend: translates {@linkcode LIBC_SYMBOLS} to `bun:ffi` types and opens libc with
 * Bun's `dlopen`. Must not import the loader.
 *
 * @module
 */
import { LIBC_PATH, LIBC_SYMBOLS, type LoadedLibc, type RawLibc } from "./symbols.ts";

type BunFfi = typeof import("bun:ffi");

// A variable specifier keeps `deno check` and Deno's module graph away from "bun:ffi".
const BUN_FFI_SPECIFIER = "bun:ffi";
const bunFfi: BunFfi | undefined = "Bun" in globalThis
  ? await import(BUN_FFI_SPECIFIER) as BunFfi
  : undefined;

/**
 * Opens libc with `bun:ffi`. Only callable under Bun.
 *
 * @returns The bound functions and an errno reader.
 */
export function openBunLibc(): LoadedLibc {
  if (bunFfi === undefined) throw new Error("bun:ffi is only available under Bun");
  const { dlopen, FFIType, read } = bunFfi;
  const types: Record<string, number> = {
    i32: FFIType.i32,
    u32: FFIType.u32,
    usize: FFIType.u64,
    u64: FFIType.u64,
    buffer: FFIType.ptr,
    pointer: FFIType.ptr,
    void: FFIType.void,
  };
  const table: Record<string, { args: number[]; returns: number }> = {};
  for (const [name, def] of Object.entries(LIBC_SYMBOLS)) {
    // A call Deno runs on a pool thread would block Bun's JS thread: leave it out.
    if ((def as { nonblocking?: boolean }).nonblocking) continue;
    table[name] = {
      args: (def.parameters as readonly string[]).map((t) => types[t]),
      returns: types[def.result],
    };
  }
  // Each function is bound on first use: Bun compiles a trampoline per bound symbol, and one
  // process (a CNI exec) calls a third of them. The binding runs before the call, so it never
  // comes between a failing call and the read of its errno.
  const libs: { close(): void }[] = [];
  const bind = (name: string) => {
    // deno-lint-ignore no-explicit-any -- Bun's dlopen typing cannot express a table built at run time
    const lib = dlopen(LIBC_PATH, { [name]: table[name] } as any);
    libs.push(lib);
    return (lib.symbols as Record<string, unknown>)[name];
  };
  const lazy: Record<string, unknown> = {};
  for (const name of Object.keys(table)) {
    Object.defineProperty(lazy, name, {
      configurable: true,
      enumerable: true,
      get() {
        const fn = bind(name);
        Object.defineProperty(lazy, name, { value: fn, enumerable: true });
        return fn;
      },
    });
  }
  const symbols = lazy as unknown as RawLibc & { __errno_location(): number };
  const location = symbols.__errno_location() as unknown as number;
  if (!location) throw new Error("__errno_location() returned NULL");
  // deno-lint-ignore no-explicit-any -- read.i32 takes Bun's branded Pointer
  const at = location as any;
  return {
    symbols,
    errno: () => read.i32(at, 0),
    close: () => libs.splice(0).forEach((l) => l.close()),
  };
}
