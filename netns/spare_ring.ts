/**
 * The layout of the ring of spare namespaces shared by {@link ./spare.ts} and
 * {@link ./spare_worker.ts}: one `Int32Array` over a `SharedArrayBuffer`.
 *
 * @module
 */

/** Spares made so far (written by the worker). */
export const HEAD = 0;
/** Spares taken so far (written by the main thread; the worker sleeps on it). */
export const TAIL = 1;
/** Set by the main thread: the worker closes the spares not taken and ends. */
export const STOP = 2;
/** Set by the worker when making a spare failed (the errno, or -1): it has ended. */
export const ERROR = 3;
/** How many spares the worker keeps ready. */
export const WANT = 4;
/** The first slot. */
export const SLOT = 8;
/** A slot: the namespace's fd, the netlink socket's fd, the socket's port id. */
export const SLOT_SIZE = 3;
/** Slots in the ring. */
export const CAP = 8;
/** The ring's length in `Int32Array` elements. */
export const RING_LENGTH = SLOT + CAP * SLOT_SIZE;
