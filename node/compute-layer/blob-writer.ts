/**
 * `BlobWriter`: writes blobs into a FileBlobStore directory on a worker thread
 * (`blob-writer-worker.ts`: temporary file, flush to disk where asked, rename, as FileBlobStore
 * does; the blobs of the messages waiting there are flushed together).
 *
 * Why: onnxruntime-node runs a model synchronously on the main thread, so everything else an
 * executing provider does competes with its inferences there. Storing a task's output through
 * `FileBlobStore.put` is seven thread-pool round trips (stat, mkdir, open, write, fsync, close,
 * rename) whose JavaScript halves, promises included, cost about 0.3-0.6 ms of main-thread time
 * per blob on a 2-core host: as much as a small model's inference. Here the worker does the
 * system calls. One message is in flight at a time: a blob goes at once when the worker is idle,
 * and the blobs written while it is busy go together when it answers (one message, one flush of
 * them all), so a burst costs few messages and the worker's pace sets the batch.
 *
 * If the worker cannot start or dies, the writes in flight and all later ones go through
 * `fallback` (the store's own `put`, which always flushes). The worker is referenced (keeps the
 * process alive) only while writes are in flight. `close` waits for them and stops the worker.
 */
import { Worker } from "node:worker_threads";
import type { SegmentTarget } from "../p2p/reqresp/blob-store.ts";

interface Pending {
  hex: string;
  bytes: Uint8Array;
  sync: boolean;
  segment: SegmentTarget | undefined;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class BlobWriter {
  private readonly dir: string;
  private readonly fallback: (hex: string, bytes: Uint8Array, segment?: SegmentTarget) => Promise<void>;
  private worker: Worker | undefined;
  private broken = false;
  private closed = false;
  private queue: Pending[] = [];
  /** A flush is scheduled (end of the current tick: the blobs written in it share a message). */
  private scheduled = false;
  private nextId = 0;
  private readonly inflight = new Map<number, Pending[]>();
  private drained: (() => void) | undefined;

  /** `dir`: the FileBlobStore's directory; `fallback(hex, bytes, segment?)`: a write without the worker. */
  constructor(
    dir: string,
    fallback: (hex: string, bytes: Uint8Array, segment?: SegmentTarget) => Promise<void>,
  ) {
    this.dir = dir;
    this.fallback = fallback;
  }

  /**
   * Writes `bytes` as the blob named `hex` (64 lowercase hex digits, their sha256); resolves once
   * the file is in place: flushed to disk with `sync` (the default), else in the OS's cache
   * (written back by the OS: a crash soon after may lose it). With `segment`, as that segment
   * record (never flushed).
   */
  write(hex: string, bytes: Uint8Array, sync = true, segment?: SegmentTarget): Promise<void> {
    if (this.broken || this.closed) return this.fallback(hex, bytes, segment);
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ hex, bytes, sync: sync && segment === undefined, segment, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.scheduled || this.inflight.size > 0) return;
    this.scheduled = true;
    queueMicrotask(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const items = this.queue.splice(0);
    if (items.length === 0) return;
    let worker: Worker;
    try {
      worker = this.ensureWorker();
    } catch {
      this.broken = true;
      this.viaFallback(items);
      return;
    }
    const id = this.nextId++;
    this.inflight.set(id, items);
    if (this.inflight.size === 1) worker.ref();
    worker.postMessage({
      id,
      dir: this.dir,
      items: items.map(({ hex, bytes, sync, segment }) => ({ hex, bytes, sync, segment })),
    });
  }

  private ensureWorker(): Worker {
    if (this.worker !== undefined) return this.worker;
    const worker = new Worker(new URL("./blob-writer-worker.ts", import.meta.url));
    worker.unref();
    worker.on("message", (message: { id: number; errors: (string | null)[] }) => this.onResult(message));
    // An error is followed by `exit`, which hands the writes in flight to the fallback.
    worker.on("error", () => {});
    worker.on("exit", () => {
      if (this.worker !== worker) return;
      this.worker = undefined;
      this.broken = true;
      const items = [...this.inflight.values()].flat().concat(this.queue.splice(0));
      this.inflight.clear();
      this.viaFallback(items);
      this.drained?.();
    });
    this.worker = worker;
    return worker;
  }

  private onResult({ id, errors }: { id: number; errors: (string | null)[] }): void {
    const items = this.inflight.get(id);
    if (items === undefined) return;
    this.inflight.delete(id);
    items.forEach((p, i) => {
      const error = errors[i];
      if (error === null || error === undefined) p.resolve();
      else p.reject(new Error(`writing blob 0x${p.hex}: ${error}`));
    });
    if (this.inflight.size > 0) return;
    // What was written meanwhile goes now, together.
    if (this.queue.length > 0) this.flush();
    else {
      this.worker?.unref();
      this.drained?.();
    }
  }

  private viaFallback(items: Pending[]): void {
    for (const p of items) this.fallback(p.hex, p.bytes, p.segment).then(p.resolve, p.reject);
  }

  /** Writes what is queued, waits for the writes in flight, stops the worker (later writes use the fallback). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.inflight.size === 0) this.flush();
    if (this.inflight.size > 0)
      await new Promise<void>((resolve) => {
        this.drained = resolve;
      });
    this.drained = undefined;
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }
}
