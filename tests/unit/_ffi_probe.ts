/** Spawned by ffi-unavailable.test.ts: calls into libc once and prints what happened as JSON. */
import { getpid } from "../../ffi/libc.ts";

try {
  console.log(JSON.stringify({ pid: getpid() > 0 }));
} catch (e) {
  const err = e as Error;
  console.log(JSON.stringify({ name: err.name, message: err.message, cause: String(err.cause) }));
}
