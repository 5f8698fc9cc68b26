/**
 * `BlobWriter`: writes blobs into a FileBlobStore directory on a worker thread
 * (`blob-writer-worker.ts`: temporary file, flush to disk, rename, as FileBlobStore does).
 *
 * Why: onnxruntime-node runs a model synchronously on the main thread, so everything else an
 * executing provider does competes with its inferences there. Storing a task's output through
 * `FileBlobStore.put` is seven thread-pool round trips (stat, mkdir, open, write, fsync, close,
 * rename) whose JavaScript halves, promises included, cost about 0.3-0.6 ms of main-thread time
 * per blob on a 2-core host: as much as a small model's inference. Here one message carries every
 * blob written within `FLUSH_DELAY_MS` and the worker does the system calls: about 20 us of
 * main-thread time per blob.
 *
 * If the worker cannot start or dies, the writes in flight and all later ones go through
 * `fallback` (the store's own `put`). The worker is referenced (keeps the process alive) only
 * while writes are in flight. `close` waits for them and stops the worker.
 */
import { Worker } from "node:worker_threads";

/** Writes requested within this window share one message. */
const FLUSH_DELAY_MS = 1;

interface Pending {
  hex: string;
  bytes: Uint8Array;
  resolve: () => void;
  reject: (err: Error) => void;
}

export class BlobWriter {
  private readonly dir: string;
  private readonly fallback: (hex: string, bytes: Uint8Array) => Promise<void>;
  private worker: Worker | undefined;
  private broken = false;
  private closed = false;
  private queue: Pending[] = [];
  private timer: NodeJS.Timeout | undefined;
  private nextId = 0;
  private readonly inflight = new Map<number, Pending[]>();
  private drained: (() => void) | undefined;

  /** `dir`: the FileBlobStore's directory; `fallback(hex, bytes)`: a write without the worker. */
  constructor(dir: string, fallback: (hex: string, bytes: Uint8Array) => Promise<void>) {
    this.dir = dir;
    this.fallback = fallback;
  }

  /** Writes `bytes` as the blob named `hex` (64 lowercase hex digits, their sha256); resolves once on disk. */
  write(hex: string, bytes: Uint8Array): Promise<void> {
    if (this.broken || this.closed) return this.fallback(hex, bytes);
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ hex, bytes, resolve, reject });
      this.timer ??= setTimeout(() => this.flush(), FLUSH_DELAY_MS);
    });
  }

  private flush(): void {
    this.timer = undefined;
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
    worker.postMessage({ id, dir: this.dir, items: items.map(({ hex, bytes }) => ({ hex, bytes })) });
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
      const items = [...this.inflight.values()].flat();
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
    if (this.inflight.size === 0) {
      this.worker?.unref();
      this.drained?.();
    }
    items.forEach((p, i) => {
      const error = errors[i];
      if (error === null || error === undefined) p.resolve();
      else p.reject(new Error(`writing blob 0x${p.hex}: ${error}`));
    });
  }

  private viaFallback(items: Pending[]): void {
    for (const p of items) this.fallback(p.hex, p.bytes).then(p.resolve, p.reject);
  }

  /** Writes what is queued, waits for the writes in flight, stops the worker (later writes use the fallback). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.flush();
    }
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
