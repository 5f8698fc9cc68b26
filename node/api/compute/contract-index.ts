/**
 * An in-memory index of one system contract's records (tasks, providers) at the execution
 * layer's head, for the filtered listings of the compute APIs (`opengpu_listTasks`,
 * `/opengpu/v1/tasks?state=...`) and the tasks-by-state metric.
 *
 * A view call costs milliseconds (a task record is some 30 storage reads through the EVM), so a
 * filtered listing cannot read every record per request. The index keeps a small entry per
 * record (what the filters look at) and keeps it current from the chain's logs: every change of
 * a task or provider emits a log whose first indexed topic names the record (`taskId`,
 * `provider`), so after each head change only the records named by the logs of the blocks
 * added and removed are read again. Entries whose value depends on the time (a provider's jail
 * ending) are read again once the head passes that time. A reorganisation also re-lists the
 * record keys (the registration order may differ on the new branch).
 *
 * The index starts on first use: the first `refresh` reads every record once (about 5 ms a
 * record on a loaded 2-core host), later ones only what changed. `refresh` returns once the
 * index reflects every head change seen before it was called.
 */

import { ComputeError, ComputeErrorCode } from "../../compute-layer/chain-view.ts";
import type { Blockchain, HeadEvent } from "../../execution/chain/blockchain.ts";

export interface IndexSpec<E> {
  /** The contract whose logs name changed records (lowercase 0x address). */
  contract: string;
  /** The key of the record a log is about, from its topics (topic 1), or undefined. */
  keyOfLog(topics: readonly Uint8Array[]): string | undefined;
  /** Records registered so far. */
  count(): Promise<bigint>;
  /** Key of the record registered at `index` (0-based). */
  keyAt(index: bigint): Promise<string>;
  /** The entry of one record at the head; undefined when it does not exist (any more). */
  read(key: string): Promise<E | undefined>;
  /** Whether an entry has to be read again at a head with this timestamp. */
  stale?(entry: E, headTimestamp: bigint): boolean;
}

export class ContractIndex<E> {
  private readonly chain: Blockchain;
  private readonly spec: IndexSpec<E>;
  private readonly contract: Uint8Array;
  /** Record keys in registration order. */
  private keys: string[] = [];
  private readonly entries = new Map<string, E>();
  private dirty = new Set<string>();
  private rekey = false;
  private active = false;
  private built = false;
  /** Head changes seen / reflected. */
  private generation = 0;
  private reflected = -1;
  private running: Promise<void> | undefined;
  private readonly onHead = (event: HeadEvent) => this.headChanged(event);

  constructor(chain: Blockchain, spec: IndexSpec<E>) {
    this.chain = chain;
    this.spec = spec;
    this.contract = Uint8Array.from(Buffer.from(spec.contract.slice(2), "hex"));
    chain.on("head", this.onHead);
  }

  /** Stops following the chain. */
  close(): void {
    this.chain.off("head", this.onHead);
  }

  /** Brings the index up to the head changes seen so far (starting it on first use). */
  async refresh(): Promise<void> {
    this.active = true;
    const target = this.generation;
    while (!this.built || this.reflected < target) {
      this.running ??= this.update().finally(() => {
        this.running = undefined;
      });
      await this.running;
    }
  }

  /** Keys in registration order (after `refresh`). */
  all(): readonly string[] {
    return this.keys;
  }

  entry(key: string): E | undefined {
    return this.entries.get(key);
  }

  private headChanged(event: HeadEvent): void {
    this.generation++;
    if (!this.active) return;
    if (event.change.removed.length > 0) this.rekey = true;
    for (const block of [...event.change.removed, ...event.change.added]) {
      for (const receipt of this.chain.receiptsOf(block) ?? []) {
        for (const [address, topics] of receipt.logs) {
          if (Buffer.compare(address, this.contract) !== 0) continue;
          const key = this.spec.keyOfLog(topics);
          if (key !== undefined) this.dirty.add(key);
        }
      }
    }
  }

  private async update(): Promise<void> {
    const generation = this.generation;
    const dirty = this.dirty;
    const rekey = this.rekey;
    this.dirty = new Set();
    this.rekey = false;
    const timestamp = this.chain.head.header.timestamp;
    try {
      const count = Number(await this.spec.count());
      if (rekey || count < this.keys.length) {
        // A reorganisation: the records and their order are read again from the new branch.
        const keys: string[] = [];
        for (let i = 0; i < count; i++) keys.push(await this.spec.keyAt(BigInt(i)));
        const kept = new Set(keys);
        for (const key of this.keys) if (!kept.has(key)) this.entries.delete(key);
        for (const key of keys) if (!this.entries.has(key)) dirty.add(key);
        this.keys = keys;
      } else {
        for (let i = this.keys.length; i < count; i++) {
          const key = await this.spec.keyAt(BigInt(i));
          this.keys.push(key);
          dirty.add(key);
        }
      }
      const stale = this.spec.stale;
      if (stale !== undefined)
        for (const [key, entry] of this.entries) if (stale(entry, timestamp)) dirty.add(key);
      const known = new Set(this.keys);
      for (const key of dirty) {
        if (!known.has(key)) continue;
        const entry = await this.spec.read(key);
        if (entry === undefined) this.entries.delete(key);
        else this.entries.set(key, entry);
      }
      this.built = true;
      this.reflected = generation;
    } catch (err) {
      // Nothing is lost: what was to be read is read on the next refresh.
      for (const key of dirty) this.dirty.add(key);
      this.rekey ||= rekey;
      throw err instanceof ComputeError
        ? err
        : new ComputeError(
            ComputeErrorCode.CALL_FAILED,
            `index update failed: ${(err as Error).message}`,
            {},
            {
              cause: err,
            },
          );
    }
  }
}
