/**
 * The worker thread of {@link ./spare.ts}: makes spare network namespaces ahead of need. Each
 * spare is made as {@linkcode Namespace.create} makes a namespace, minus the mount: the thread
 * unshares into a new namespace, opens the namespace's fd and a route-netlink socket there,
 * brings `lo` up through that socket, and returns to where it was. The two fds (process-wide)
 * and the socket's port id go into the shared ring; the main thread mounts the namespace at its
 * path and wraps the socket.
 *
 * A spare is anonymous: nothing but the two fds holds it, so it dies with the process.
 *
 * Protocol (one `Int32Array` over a `SharedArrayBuffer`, laid out in {@link ./spare.ts}): the
 * worker fills slots and advances `HEAD` while fewer than `WANT` wait; it sleeps on `TAIL`
 * (advanced by the main thread as it takes spares). `STOP` set: it closes the spares not taken
 * and ends. A failure stores the errno in `ERROR` (and its text is posted) and ends the worker:
 * the main thread then makes namespaces itself, as before.
 *
 * @module
 */
import { parentPort } from "node:worker_threads";
import { close, SCHED_IDLE, schedSetScheduler, SyscallError } from "../ffi/libc.ts";
import { openCurrentNetns, withNewNetns } from "../ffi/enter.ts";
import { Rtnl } from "../rtnl/handle.ts";
import { CAP, ERROR, HEAD, SLOT, SLOT_SIZE, STOP, TAIL, WANT } from "./spare_ring.ts";

function makeSpare(): [number, number, number] {
  let nsFd = -1;
  let rtnl: Rtnl | undefined;
  try {
    withNewNetns(() => {
      nsFd = openCurrentNetns();
      rtnl = Rtnl.open({ inside: true });
      rtnl.link.set("lo", { up: true });
    }, "(spare namespace)");
    // The socket is handed over open: not closed here.
    return [nsFd, rtnl!.socket.fd, rtnl!.socket.portId];
  } catch (e) {
    rtnl?.close();
    if (nsFd >= 0) close(nsFd);
    throw e;
  }
}

function run(ring: Int32Array): void {
  // The worker runs only on an otherwise idle CPU: woken by the main thread's take, at normal
  // priority it preempted that thread on a busy machine (the namespace step's wall time stayed
  // about 0.5 ms while its CPU time fell to 0.1). On a busy machine spares then come late or
  // not at all, and namespaces are made inline, as without the worker.
  try {
    schedSetScheduler(SCHED_IDLE);
  } catch { /* not allowed: normal priority */ }
  for (;;) {
    if (Atomics.load(ring, STOP)) break;
    const head = Atomics.load(ring, HEAD);
    const tail = Atomics.load(ring, TAIL);
    if (head - tail < Math.min(Atomics.load(ring, WANT), CAP)) {
      const [nsFd, sockFd, port] = makeSpare();
      const at = SLOT + (head % CAP) * SLOT_SIZE;
      ring[at] = nsFd;
      ring[at + 1] = sockFd;
      ring[at + 2] = port;
      Atomics.store(ring, HEAD, head + 1);
      continue;
    }
    Atomics.wait(ring, TAIL, tail);
  }
  // Stopped: the spares not taken are this thread's to close (the main thread takes none now).
  const head = Atomics.load(ring, HEAD);
  for (let i = Atomics.load(ring, TAIL); i < head; i++) {
    const at = SLOT + (i % CAP) * SLOT_SIZE;
    for (const fd of [ring[at], ring[at + 1]]) {
      try {
        close(fd);
      } catch { /* nothing else to do */ }
    }
  }
  Atomics.store(ring, TAIL, head);
}

parentPort!.once("message", (buffer: SharedArrayBuffer) => {
  const ring = new Int32Array(buffer);
  try {
    run(ring);
    parentPort!.postMessage({ stopped: true });
  } catch (e) {
    Atomics.store(ring, ERROR, e instanceof SyscallError ? e.errno || -1 : -1);
    parentPort!.postMessage({ error: String((e as Error)?.message ?? e) });
  }
  // Nothing is left to listen to: the worker ends.
});
