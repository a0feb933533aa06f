/**
 * Watching the local state directory through inotify (`inotify_init1`, `inotify_add_watch`,
 * `read` over FFI): the file store's side of `Store.watch()` and `Store.generation()`.
 *
 * Records are renamed into place and claims are made with `mkdir`/`symlink`, so each change is
 * one event (`IN_MOVED_TO`, `IN_CREATE`, `IN_DELETE`) on the directory of its kind. The kernel
 * queues the event inside the writer's system call: a reader that drains its queue after the
 * writer returned (say, after `link()` returned in another process) sees the change.
 *
 * @module
 */
import { mkdirSync, readdirSync, statSync } from "node:fs";
import {
  canPollOffThread,
  close,
  IN_CLOEXEC,
  IN_CREATE,
  IN_DELETE,
  IN_DELETE_SELF,
  IN_ISDIR,
  IN_MOVED_FROM,
  IN_MOVED_TO,
  IN_NONBLOCK,
  IN_ONLYDIR,
  IN_Q_OVERFLOW,
  inotifyAddWatch,
  inotifyInit1,
  POLLIN,
  pollOffThread,
  readNonBlocking,
} from "../ffi/libc.ts";

/** One entry of the state directory that changed: `kind/entry` (e.g. `ep.0a1b2c/c1.json`). */
export interface FileChange {
  /** The kind (a directory of the state directory), e.g. `ep.0a1b2c3d4e5f`. */
  kind: string;
  /** The entry in it, e.g. `c1.json`. */
  entry: string;
}

const MASK = IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE_SELF | IN_ONLYDIR;

/**
 * An inotify watch of a state directory and every directory in it.
 *
 * @example
 * ```ts ignore
 * const w = new FileWatch("/run/nslink", (changes) => console.log(changes));
 * const g = w.generation();
 * // … another process links a container …
 * w.generation() > g; // true
 * await w.stop();
 * ```
 */
export class FileWatch {
  /** Resolves once the watches are in place. */
  readonly ready: Promise<void>;
  #dir: string;
  #fd: number;
  #wds = new Map<number, string>();
  #gen = 0;
  #buf = new Uint8Array(64 * 1024);
  #onChange: ((changes: FileChange[]) => void) | undefined;
  #stopped = false;
  #timer: ReturnType<typeof setInterval> | undefined;
  #loop: Promise<void> | undefined;

  /**
   * Starts watching (the directory is made when missing).
   *
   * @param dir The state directory.
   * @param onChange Told of changed entries; without it, only {@linkcode FileWatch.generation}.
   */
  constructor(dir: string, onChange?: (changes: FileChange[]) => void) {
    this.#dir = dir;
    mkdirSync(dir, { recursive: true });
    this.#fd = inotifyInit1(IN_NONBLOCK | IN_CLOEXEC, `state directory ${JSON.stringify(dir)}`);
    this.#wds.set(inotifyAddWatch(this.#fd, dir, MASK), "");
    for (const kind of readdirSync(dir)) this.#addKind(kind);
    this.#onChange = onChange;
    this.ready = Promise.resolve();
    if (onChange) {
      if (canPollOffThread()) this.#loop = this.#pollLoop();
      else this.#timer = setInterval(() => this.#deliver(), 20);
    }
  }

  /** Watches a kind's directory; returns its entries (made before the watch could see them). */
  #addKind(kind: string): FileChange[] {
    const path = `${this.#dir}/${kind}`;
    try {
      if (!statSync(path).isDirectory()) return [];
      this.#wds.set(inotifyAddWatch(this.#fd, path, MASK), kind);
      return readdirSync(path).map((entry) => ({ kind, entry }));
    } catch {
      return []; // gone meanwhile
    }
  }

  /** Reads every queued event. */
  #drain(): FileChange[] {
    const out: FileChange[] = [];
    if (this.#stopped) return out;
    for (;;) {
      const n = readNonBlocking(this.#fd, this.#buf, "inotify");
      if (n <= 0) break;
      const v = new DataView(this.#buf.buffer, 0, n);
      for (let off = 0; off + 16 <= n;) {
        const wd = v.getInt32(off, true);
        const mask = v.getUint32(off + 4, true);
        const len = v.getUint32(off + 12, true);
        const raw = this.#buf.subarray(off + 16, off + 16 + len);
        const nul = raw.indexOf(0);
        const name = new TextDecoder().decode(nul < 0 ? raw : raw.subarray(0, nul));
        off += 16 + len;
        if (mask & IN_Q_OVERFLOW) {
          // Events were lost: report everything there is.
          for (const kind of this.#wds.values()) {
            if (kind) out.push(...this.#list(kind));
          }
          continue;
        }
        const kind = this.#wds.get(wd);
        if (kind === undefined) continue;
        if (mask & IN_DELETE_SELF) {
          this.#wds.delete(wd);
          continue;
        }
        if (kind === "") {
          if ((mask & IN_ISDIR) && (mask & (IN_CREATE | IN_MOVED_TO))) {
            out.push(...this.#addKind(name));
          }
          continue;
        }
        out.push({ kind, entry: name });
      }
    }
    if (out.length) this.#gen++;
    return out;
  }

  #list(kind: string): FileChange[] {
    try {
      return readdirSync(`${this.#dir}/${kind}`).map((entry) => ({ kind, entry }));
    } catch {
      return [];
    }
  }

  #deliver(): void {
    let changes: FileChange[];
    try {
      changes = this.#drain();
    } catch {
      return;
    }
    if (changes.length && this.#onChange && !this.#stopped) {
      try {
        this.#onChange(changes);
      } catch { /* the consumer's error is its own */ }
    }
  }

  async #pollLoop(): Promise<void> {
    const pfd = new Uint8Array(8);
    const v = new DataView(pfd.buffer);
    while (!this.#stopped) {
      v.setInt32(0, this.#fd, true);
      v.setInt16(4, POLLIN, true);
      v.setInt16(6, 0, true);
      await pollOffThread(pfd, 200);
      if (this.#stopped) break;
      this.#deliver();
    }
  }

  /**
   * Whether anything changed, as a number that grows with each batch of changes seen: drains
   * the queue (one non-blocking `read` when nothing happened). Synchronous.
   *
   * @returns The generation.
   */
  generation(): number {
    if (this.#onChange) this.#deliver();
    else this.#drain();
    return this.#gen;
  }

  /**
   * The entries changed since the last call, drained from the queue synchronously (one
   * non-blocking `read` when nothing happened): for a reader that must answer from the state a
   * writer left the moment its call returned (the agent's names). Meant for a watch made without
   * `onChange` (with one, changes go there instead).
   *
   * @example
   * ```ts ignore
   * const w = new FileWatch("/run/nslink");
   * // … another process links a container …
   * w.changes(); // [{ kind: "ep.0a1b2c3d4e5f", entry: "c1.json" }, …]
   * ```
   * @returns The changed entries.
   */
  changes(): FileChange[] {
    return this.#drain();
  }

  /** Stops watching and closes the inotify fd. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer !== undefined) clearInterval(this.#timer);
    await this.#loop;
    close(this.#fd, "inotify");
  }
}
