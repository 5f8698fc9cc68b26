/**
 * The state database behind every Merkle Patricia trie (account trie, storage tries, code).
 *
 * It implements ethereumjs' `DB` interface over LevelDB with two layers in front:
 * - `pending`: nodes written by executions since the last block commit. They are not on disk
 *   yet; `ChainDB.commitBlock` drains them into the same atomic LevelDB batch as the block
 *   that references them, so a crash can never leave a head block whose state is missing.
 * - an LRU of recently read or written nodes.
 *
 * Nodes are content-addressed (key = hash of value), so writes from executions that are later
 * discarded (a payload that was never imported, an eth_call) can never corrupt other state;
 * at worst they leave unreferenced nodes. Nothing is ever deleted (archive node).
 */
import type { BatchDBOp, DB } from "@ethereumjs/util";
import { hexToBytes } from "@ethereumjs/util";
import type { ClassicLevel } from "classic-level";
import { LRUCache } from "lru-cache";
import { Keys } from "./schema.ts";

export interface StateStoreOptions {
  /** Trie nodes kept in memory after they were read or written. */
  cacheNodes?: number;
}

export class StateStore implements DB<string, Uint8Array | string> {
  private readonly level: ClassicLevel<Uint8Array, Uint8Array>;
  private pending = new Map<string, Uint8Array>();
  /** Drained pending writes whose LevelDB batch has not resolved yet. */
  private flushing: Map<string, Uint8Array>[] = [];
  private readonly cache: LRUCache<string, Uint8Array>;

  constructor(level: ClassicLevel<Uint8Array, Uint8Array>, opts: StateStoreOptions = {}) {
    this.level = level;
    // 200k nodes is ~100 MB at the ~500-byte average branch node: the hot top of the trie stays resident.
    this.cache = new LRUCache({ max: opts.cacheNodes ?? 200_000 });
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    return this.getSync(key);
  }

  getSync(key: string): Uint8Array | undefined {
    const pending = this.pending.get(key);
    if (pending !== undefined) return pending;
    for (let i = this.flushing.length - 1; i >= 0; i--) {
      const value = this.flushing[i].get(key);
      if (value !== undefined) return value;
    }
    const cached = this.cache.get(key);
    if (cached !== undefined) return cached;
    const value = this.level.getSync(Keys.trieNode(hexToBytes(`0x${key}`)));
    if (value !== undefined) this.cache.set(key, value);
    return value;
  }

  async put(key: string, value: Uint8Array | string): Promise<void> {
    const bytes = typeof value === "string" ? hexToBytes(`0x${value}`) : value;
    this.pending.set(key, bytes);
    this.cache.set(key, bytes);
  }

  /** Deletions are ignored: nodes are shared between tries and blocks, and this is an archive store. */
  async del(_key: string): Promise<void> {}

  async batch(ops: BatchDBOp<string, Uint8Array | string>[]): Promise<void> {
    for (const op of ops) {
      if (op.type === "put") await this.put(op.key, op.value);
    }
  }

  shallowCopy(): DB<string, Uint8Array | string> {
    return this;
  }

  async open(): Promise<void> {}

  /** Number of node writes not yet on disk. */
  get pendingCount(): number {
    return this.pending.size;
  }

  /**
   * Moves all pending writes into LevelDB batch operations. The caller must call `settle`
   * with the returned token once the batch holding them has been written (or failed).
   */
  drain(): { ops: { type: "put"; key: Uint8Array; value: Uint8Array }[]; token: Map<string, Uint8Array> } {
    const drained = this.pending;
    this.pending = new Map();
    this.flushing.push(drained);
    const ops: { type: "put"; key: Uint8Array; value: Uint8Array }[] = [];
    for (const [key, value] of drained) {
      ops.push({ type: "put", key: Keys.trieNode(hexToBytes(`0x${key}`)), value });
    }
    return { ops, token: drained };
  }

  /** Called after the batch holding drained writes resolved; on failure they return to pending. */
  settle(token: Map<string, Uint8Array>, written: boolean): void {
    this.flushing = this.flushing.filter((m) => m !== token);
    if (!written) {
      for (const [key, value] of token) if (!this.pending.has(key)) this.pending.set(key, value);
    }
  }
}
