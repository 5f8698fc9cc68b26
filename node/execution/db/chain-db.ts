/**
 * LevelDB storage of the execution chain: raw records keyed as `schema.ts` describes.
 *
 * This layer knows bytes, not blocks: it reads and writes RLP records and index entries, and
 * writes each block (its records, index updates, head pointers and the state-trie nodes its
 * execution produced) in ONE atomic LevelDB batch. Reads are synchronous (`getSync`), which
 * avoids a thread-pool round trip per lookup; LevelDB serves them from its block cache.
 */
import { ClassicLevel } from "classic-level";
import { OpenGpuError } from "../../utils/errors.ts";
import { decodeNumber, encodeNumber, Keys, MetaKey, Prefix, SCHEMA_VERSION } from "./schema.ts";
import { StateStore, type StateStoreOptions } from "./state-store.ts";

export const DbErrorCode = {
  /** The database was written by an incompatible schema version. */
  SCHEMA_MISMATCH: "DB_SCHEMA_MISMATCH",
  /** LevelDB could not be opened (locked by another process, corrupt, no permission). */
  OPEN_FAILED: "DB_OPEN_FAILED",
} as const;
export type DbErrorCode = (typeof DbErrorCode)[keyof typeof DbErrorCode];
export class DbError extends OpenGpuError<DbErrorCode> {
  override name = "DbError";
}

type Op = { type: "put"; key: Uint8Array; value: Uint8Array } | { type: "del"; key: Uint8Array };

const EMPTY = new Uint8Array(0);

/** Collects the writes of one atomic update. */
export class ChainBatch {
  readonly ops: Op[] = [];
  put(key: Uint8Array, value: Uint8Array): this {
    this.ops.push({ type: "put", key, value });
    return this;
  }
  del(key: Uint8Array): this {
    this.ops.push({ type: "del", key });
    return this;
  }
  putMeta(name: string, value: Uint8Array): this {
    return this.put(Keys.meta(name), value);
  }
  putCanonical(num: bigint, hash: Uint8Array): this {
    return this.put(Keys.canonical(num), hash);
  }
  putTxLookup(txHash: Uint8Array, num: bigint, index: number): this {
    const value = new Uint8Array(12);
    value.set(encodeNumber(num), 0);
    new DataView(value.buffer).setUint32(8, index);
    return this.put(Keys.txLookup(txHash), value);
  }
  putLogIndex(num: bigint, addresses: Iterable<Uint8Array>, topics: Iterable<Uint8Array>): this {
    for (const address of addresses) this.put(Keys.logAddress(address, num), EMPTY);
    for (const topic of topics) this.put(Keys.logTopic(topic, num), EMPTY);
    return this;
  }
  delLogIndex(num: bigint, addresses: Iterable<Uint8Array>, topics: Iterable<Uint8Array>): this {
    for (const address of addresses) this.del(Keys.logAddress(address, num));
    for (const topic of topics) this.del(Keys.logTopic(topic, num));
    return this;
  }
}

export interface ChainDBOptions extends StateStoreOptions {
  /** LevelDB block cache in bytes. */
  cacheSize?: number;
}

export class ChainDB {
  readonly level: ClassicLevel<Uint8Array, Uint8Array>;
  readonly state: StateStore;
  private writeQueue: Promise<void> = Promise.resolve();

  private constructor(level: ClassicLevel<Uint8Array, Uint8Array>, opts: ChainDBOptions) {
    this.level = level;
    this.state = new StateStore(level, opts);
  }

  static async open(path: string, opts: ChainDBOptions = {}): Promise<ChainDB> {
    const level = new ClassicLevel<Uint8Array, Uint8Array>(path, {
      keyEncoding: "view",
      valueEncoding: "view",
      // 64 MiB block cache: headers, canonical index and hot trie nodes.
      cacheSize: opts.cacheSize ?? 64 * 1024 * 1024,
    });
    try {
      await level.open();
    } catch (err) {
      const cause = (err as { cause?: Error }).cause;
      throw new DbError(
        DbErrorCode.OPEN_FAILED,
        `cannot open database at ${path}: ${cause?.message ?? (err as Error).message}`,
        { path },
        { cause: err },
      );
    }
    const db = new ChainDB(level, opts);
    const schema = db.getMeta(MetaKey.schema);
    if (schema === undefined) {
      await level.put(Keys.meta(MetaKey.schema), encodeNumber(BigInt(SCHEMA_VERSION)));
    } else if (decodeNumber(schema) !== BigInt(SCHEMA_VERSION)) {
      await level.close();
      throw new DbError(
        DbErrorCode.SCHEMA_MISMATCH,
        `database at ${path} has schema version ${decodeNumber(schema)}, this node reads version ${SCHEMA_VERSION}`,
      );
    }
    return db;
  }

  async close(): Promise<void> {
    await this.writeQueue;
    await this.level.close();
  }

  get isOpen(): boolean {
    return this.level.status === "open";
  }

  // --- reads -------------------------------------------------------------------------------

  get(key: Uint8Array): Uint8Array | undefined {
    return this.level.getSync(key);
  }

  getMeta(name: string): Uint8Array | undefined {
    return this.level.getSync(Keys.meta(name));
  }

  getCanonicalHash(num: bigint): Uint8Array | undefined {
    if (num < 0n || num >= 2n ** 64n) return undefined;
    return this.level.getSync(Keys.canonical(num));
  }

  getNumber(hash: Uint8Array): bigint | undefined {
    const value = this.level.getSync(Keys.hashToNumber(hash));
    return value === undefined ? undefined : decodeNumber(value);
  }

  getHeaderRlp(num: bigint, hash: Uint8Array): Uint8Array | undefined {
    return this.level.getSync(Keys.header(num, hash));
  }

  getBodyRlp(num: bigint, hash: Uint8Array): Uint8Array | undefined {
    return this.level.getSync(Keys.body(num, hash));
  }

  getReceiptsRlp(num: bigint, hash: Uint8Array): Uint8Array | undefined {
    return this.level.getSync(Keys.receipts(num, hash));
  }

  getSenders(num: bigint, hash: Uint8Array): Uint8Array | undefined {
    return this.level.getSync(Keys.senders(num, hash));
  }

  getTxLookup(txHash: Uint8Array): { number: bigint; index: number } | undefined {
    const value = this.level.getSync(Keys.txLookup(txHash));
    if (value === undefined || value.length !== 12) return undefined;
    return { number: decodeNumber(value), index: new DataView(value.buffer, value.byteOffset).getUint32(8) };
  }

  /**
   * Heights in [from, to] whose canonical block has a log matching `key` (an address or topic),
   * ascending, at most `limit` of them.
   */
  async logIndexBlocks(
    kind: "address" | "topic",
    key: Uint8Array,
    from: bigint,
    to: bigint,
    limit: number,
  ): Promise<bigint[]> {
    const prefix = kind === "address" ? Prefix.logAddress : Prefix.logTopic;
    const gte = new Uint8Array(1 + key.length + 8);
    gte[0] = prefix;
    gte.set(key, 1);
    gte.set(encodeNumber(from), 1 + key.length);
    const lte = gte.slice();
    lte.set(encodeNumber(to), 1 + key.length);
    const out: bigint[] = [];
    for await (const k of this.level.keys({ gte, lte, limit })) {
      out.push(decodeNumber(k, 1 + key.length));
    }
    return out;
  }

  /** Iterates keys with a given prefix (journal, diagnostics). */
  async *entries(prefix: Uint8Array): AsyncGenerator<[Uint8Array, Uint8Array]> {
    const lt = prefix.slice();
    lt[lt.length - 1]++;
    for await (const entry of this.level.iterator({ gte: prefix, lt })) yield entry;
  }

  // --- writes ------------------------------------------------------------------------------

  batch(): ChainBatch {
    return new ChainBatch();
  }

  /**
   * Writes a batch atomically, together with every state-trie node produced since the last
   * write. Writes are serialized in call order.
   */
  write(batch: ChainBatch, opts: { withState?: boolean } = {}): Promise<void> {
    const run = async () => {
      const withState = opts.withState ?? true;
      const drained = withState ? this.state.drain() : undefined;
      const ops: Op[] = drained === undefined ? batch.ops : [...drained.ops, ...batch.ops];
      try {
        if (ops.length > 0) await this.level.batch(ops);
        if (drained) this.state.settle(drained.token, true);
      } catch (err) {
        if (drained) this.state.settle(drained.token, false);
        throw err;
      }
    };
    const result = this.writeQueue.then(run, run);
    this.writeQueue = result.catch(() => {});
    return result;
  }

  /** Plain single-key writes that need no atomicity with a block (journal entries). */
  async put(key: Uint8Array, value: Uint8Array): Promise<void> {
    await this.level.put(key, value);
  }

  async del(key: Uint8Array): Promise<void> {
    await this.level.del(key);
  }
}
