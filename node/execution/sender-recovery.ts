/**
 * Sender recovery off the main thread.
 *
 * Recovering a transaction's sender (~60-90 us of native secp256k1 per signature here) is
 * the largest single cost of admitting a transaction. `SenderRecovery` batches the requests
 * made during one event-loop turn and sends them to a worker thread, then stores each
 * recovered public key in the transaction's own cache (where ethereumjs'
 * `getSenderPublicKey` looks first), so the main thread keeps executing blocks and serving
 * RPC meanwhile. Invalid signatures are left unrecovered: the caller's `getSenderAddress()`
 * then fails exactly as it would have.
 */
import { Worker } from "node:worker_threads";
import { Capability, type TypedTransaction } from "@ethereumjs/tx";
import { bigIntToBytes, setLengthLeft } from "@ethereumjs/util";

const RECORD_IN = 97;
const RECORD_OUT = 65;
const HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n;
/** Largest batch sent in one message; bounds the latency of the first transaction in it. */
const MAX_BATCH = 512;
/**
 * Smaller batches are recovered on the main thread: a worker round trip (postMessage and its
 * wake-up) costs more than a few native recoveries (~60 us each), measured here under load.
 */
const MIN_WORKER_BATCH = 8;

interface Pending {
  tx: TypedTransaction;
  resolve: () => void;
}

interface TxCache {
  senderPubKey?: Uint8Array;
}

export class SenderRecovery {
  private worker: Worker | undefined;
  private queue: Pending[] = [];
  private scheduled = false;
  private nextId = 0;
  private readonly inflight = new Map<number, Pending[]>();

  private ensureWorker(): Worker {
    if (this.worker === undefined) {
      this.worker = new Worker(new URL("./sender-worker.ts", import.meta.url));
      this.worker.unref();
      this.worker.on("message", (message: { id: number; output: Uint8Array }) => this.onResult(message));
      this.worker.on("error", () => this.failAll());
      this.worker.on("exit", () => {
        this.worker = undefined;
        this.failAll();
      });
    }
    return this.worker;
  }

  /** Fills the sender caches of `txs` in the worker; resolves when done (never rejects). */
  recover(txs: readonly TypedTransaction[]): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const tx of txs) {
      if ((tx as unknown as { cache: TxCache }).cache.senderPubKey !== undefined || !tx.isSigned()) continue;
      waits.push(new Promise<void>((resolve) => this.queue.push({ tx, resolve })));
    }
    if (waits.length === 0) return Promise.resolve();
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    return Promise.all(waits).then(() => {});
  }

  private flush(): void {
    this.scheduled = false;
    if (this.queue.length < MIN_WORKER_BATCH) {
      // ethereumjs recovers (and caches) on first use; the caller does that right after.
      for (const item of this.queue.splice(0)) item.resolve();
      return;
    }
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, MAX_BATCH);
      const input = new Uint8Array(batch.length * RECORD_IN);
      const accepted: Pending[] = [];
      for (const item of batch) {
        const record = encode(item.tx);
        if (record === undefined) {
          item.resolve();
          continue;
        }
        input.set(record, accepted.length * RECORD_IN);
        accepted.push(item);
      }
      if (accepted.length === 0) continue;
      const id = this.nextId++;
      this.inflight.set(id, accepted);
      const payload = input.slice(0, accepted.length * RECORD_IN);
      this.ensureWorker().postMessage({ id, input: payload, count: accepted.length }, [payload.buffer]);
    }
  }

  private onResult({ id, output }: { id: number; output: Uint8Array }): void {
    const batch = this.inflight.get(id);
    if (batch === undefined) return;
    this.inflight.delete(id);
    batch.forEach((item, i) => {
      if (output[i * RECORD_OUT + 64] === 1) {
        (item.tx as unknown as { cache: TxCache }).cache.senderPubKey = output.slice(
          i * RECORD_OUT,
          i * RECORD_OUT + 64,
        );
      }
      item.resolve();
    });
  }

  /** On a worker failure, callers fall back to recovering on the main thread. */
  private failAll(): void {
    for (const batch of this.inflight.values()) for (const item of batch) item.resolve();
    this.inflight.clear();
  }

  async close(): Promise<void> {
    const worker = this.worker;
    this.worker = undefined;
    await worker?.terminate();
  }
}

/** Packs digest, signature and recovery id; undefined if the signature is malformed (caller's check fails later). */
function encode(tx: TypedTransaction): Uint8Array | undefined {
  const { v, r, s } = tx;
  if (v === undefined || r === undefined || s === undefined) return undefined;
  // EIP-2: high-s signatures are invalid; leave them to ethereumjs' own check and message.
  if (s > HALF_N || r === 0n || s === 0n) return undefined;
  let recovery: bigint;
  if (tx.type !== 0) recovery = v;
  else if (tx.supports(Capability.EIP155ReplayProtection)) recovery = v - (tx.common.chainId() * 2n + 35n);
  else recovery = v - 27n;
  if (recovery !== 0n && recovery !== 1n) return undefined;
  const record = new Uint8Array(RECORD_IN);
  record.set(tx.getMessageToVerifySignature(), 0);
  record.set(setLengthLeft(bigIntToBytes(r), 32), 32);
  record.set(setLengthLeft(bigIntToBytes(s), 32), 64);
  record[96] = Number(recovery);
  return record;
}
