/**
 * A byte reader over an async source of byte chunks (a libp2p stream): exact reads, single bytes
 * and look-ahead, each bounded by the reader's current `signal` (a deadline the caller moves as
 * the exchange progresses: time to first byte, then per response chunk). When the signal fires
 * the read rejects with the signal's reason; the caller then aborts the stream.
 */
import { EncodingError, EncodingErrorCode } from "./errors.ts";

/** What a libp2p stream yields: a Uint8Array or a Uint8ArrayList. */
type Piece = Uint8Array | { subarray(): Uint8Array };

/** Rejects with `signal.reason` once `signal` aborts, else settles like `promise`. */
export function raceSignal<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener("abort", onAbort);
        reject(e);
      },
    );
  });
}

export class StreamReader {
  /** Deadline of the reads to come; replace it to move the deadline. */
  signal: AbortSignal | undefined;
  private readonly source: AsyncIterator<Piece>;
  private readonly queue: Uint8Array[] = [];
  /** Read offset into queue[0]. */
  private offset = 0;
  private buffered = 0;
  private ended = false;
  private pending: Promise<IteratorResult<Piece>> | undefined;
  private total = 0;

  constructor(source: AsyncIterable<Piece>) {
    this.source = source[Symbol.asyncIterator]();
    // Start reading at once: a libp2p stream's iterator attaches its listeners on the first
    // `next()`, and one attached after the remote closed its side would miss that close.
    this.pending = this.source.next();
    this.pending.catch(() => {});
  }

  /** Bytes received and already buffered but not yet consumed. */
  get bufferedLength(): number {
    return this.buffered;
  }

  /** Bytes consumed so far. */
  get bytesRead(): number {
    return this.total;
  }

  /** Pulls one more piece from the source; false at the end of the stream. */
  private async pull(): Promise<boolean> {
    if (this.ended) return false;
    if (this.pending === undefined) {
      this.pending = this.source.next();
      // A read abandoned on timeout must not surface later as an unhandled rejection.
      this.pending.catch(() => {});
    }
    const result = await raceSignal(this.pending, this.signal);
    this.pending = undefined;
    if (result.done === true) {
      this.ended = true;
      return false;
    }
    const bytes = result.value instanceof Uint8Array ? result.value : result.value.subarray();
    if (bytes.length > 0) {
      this.queue.push(bytes);
      this.buffered += bytes.length;
    }
    return true;
  }

  /** Waits until `n` bytes are buffered or the stream ended; returns how many are buffered. */
  private async fill(n: number): Promise<number> {
    while (this.buffered < n && (await this.pull()));
    return this.buffered;
  }

  /** Takes `n` buffered bytes (the caller made sure they are there). */
  private take(n: number): Uint8Array {
    const first = this.queue[0];
    if (first !== undefined && first.length - this.offset >= n) {
      const out = first.subarray(this.offset, this.offset + n);
      this.advance(n);
      return out;
    }
    const out = new Uint8Array(n);
    let written = 0;
    while (written < n) {
      const head = this.queue[0];
      const count = Math.min(n - written, head.length - this.offset);
      out.set(head.subarray(this.offset, this.offset + count), written);
      written += count;
      this.advance(count);
    }
    return out;
  }

  private advance(n: number): void {
    this.buffered -= n;
    this.total += n;
    this.offset += n;
    while (this.queue.length > 0 && this.offset >= this.queue[0].length) {
      this.offset -= this.queue[0].length;
      this.queue.shift();
    }
  }

  /** Reads exactly `n` bytes; EncodingError EARLY_EOF if the stream ends first. */
  async readExact(n: number, what = "data"): Promise<Uint8Array> {
    if (n === 0) return new Uint8Array(0);
    if ((await this.fill(n)) < n)
      throw new EncodingError(EncodingErrorCode.EARLY_EOF, `stream ended inside ${what}`);
    return this.take(n);
  }

  /** Reads one byte; undefined at the end of the stream. */
  async readByte(): Promise<number | undefined> {
    if ((await this.fill(1)) < 1) return undefined;
    return this.take(1)[0];
  }

  /** Up to `n` upcoming bytes without consuming them (fewer only at the end of the stream). */
  async peek(n: number): Promise<Uint8Array> {
    const available = Math.min(n, await this.fill(n));
    const out = new Uint8Array(available);
    let written = 0;
    let offset = this.offset;
    for (const piece of this.queue) {
      if (written === available) break;
      const count = Math.min(available - written, piece.length - offset);
      out.set(piece.subarray(offset, offset + count), written);
      written += count;
      offset = 0;
    }
    return out;
  }

  /** Consumes `n` bytes known to be buffered (after `peek`). */
  skip(n: number): void {
    if (n > this.buffered) throw new RangeError(`cannot skip ${n} of ${this.buffered} buffered bytes`);
    this.advance(n);
  }

  /** Whether the stream has ended with nothing left to read (waits for data or the end). */
  async atEnd(): Promise<boolean> {
    return (await this.fill(1)) === 0;
  }
}
