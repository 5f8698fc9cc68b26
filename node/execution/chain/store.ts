/**
 * Blocks, receipts and the canonical chain over `ChainDB`: decoding records into ethereumjs
 * objects with the right fork rules, caching recent ones, and rewriting the canonical index
 * (canonical hashes, transaction lookups, log index) when the head moves.
 */
import {
  type Block,
  type BlockHeader,
  createBlockFromBytesArray,
  createBlockHeaderFromBytesArray,
} from "@ethereumjs/block";
import { RLP } from "@ethereumjs/rlp";
import type { TypedTransaction } from "@ethereumjs/tx";
import { Address, bytesToHex, equalsBytes } from "@ethereumjs/util";
import { LRUCache } from "lru-cache";
import type { ChainBatch, ChainDB } from "../db/chain-db.ts";
import { Keys } from "../db/schema.ts";
import type { ChainConfig } from "./config.ts";
import { decodeStoredReceipts, encodeStoredReceipts, type StoredReceipt } from "./receipts.ts";

export interface TxLocation {
  block: Block;
  index: number;
  tx: TypedTransaction;
}

export interface CanonicalChange {
  /** Blocks that left the canonical chain, highest first. */
  removed: Block[];
  /** Blocks that joined the canonical chain, lowest first. */
  added: Block[];
}

const hexKey = (hash: Uint8Array) => bytesToHex(hash);

export class BlockStore {
  readonly db: ChainDB;
  readonly config: ChainConfig;
  private readonly headers = new LRUCache<string, BlockHeader>({ max: 4096 });
  private readonly blocks = new LRUCache<string, Block>({ max: 256 });
  private readonly receipts = new LRUCache<string, StoredReceipt[]>({ max: 256 });
  private readonly senders = new LRUCache<string, Address[]>({ max: 256 });

  constructor(db: ChainDB, config: ChainConfig) {
    this.db = db;
    this.config = config;
  }

  private get decodeOpts() {
    return { common: this.config.commonFor(this.config.hardforkAt(0n, 0n)), setHardfork: true } as const;
  }

  // --- reads -------------------------------------------------------------------------------

  getNumber(hash: Uint8Array): bigint | undefined {
    const cached = this.headers.get(hexKey(hash));
    if (cached !== undefined) return cached.number;
    return this.db.getNumber(hash);
  }

  hasBlock(hash: Uint8Array): boolean {
    const num = this.getNumber(hash);
    return num !== undefined && this.db.getBodyRlp(num, hash) !== undefined;
  }

  getHeader(hash: Uint8Array): BlockHeader | undefined {
    const key = hexKey(hash);
    const cached = this.headers.get(key);
    if (cached !== undefined) return cached;
    const num = this.db.getNumber(hash);
    if (num === undefined) return undefined;
    const rlp = this.db.getHeaderRlp(num, hash);
    if (rlp === undefined) return undefined;
    const header = createBlockHeaderFromBytesArray(RLP.decode(rlp) as Uint8Array[], this.decodeOpts);
    this.headers.set(key, header);
    return header;
  }

  canonicalHash(num: bigint): Uint8Array | undefined {
    return this.db.getCanonicalHash(num);
  }

  isCanonical(hash: Uint8Array): boolean {
    const num = this.getNumber(hash);
    if (num === undefined) return false;
    const canonical = this.db.getCanonicalHash(num);
    return canonical !== undefined && equalsBytes(canonical, hash);
  }

  /**
   * Hash of the ancestor of `from` at height `num` (for BLOCKHASH): read from the canonical
   * index once the walk back reaches a canonical block.
   */
  ancestorHash(from: BlockHeader, num: bigint): Uint8Array | undefined {
    if (num > from.number || num < 0n) return undefined;
    let cursor: BlockHeader | undefined = from;
    while (cursor !== undefined) {
      if (cursor.number === num) return cursor.hash();
      if (this.isCanonical(cursor.hash())) return this.db.getCanonicalHash(num);
      cursor = this.getHeader(cursor.parentHash);
    }
    return undefined;
  }

  getHeaderByNumber(num: bigint): BlockHeader | undefined {
    const hash = this.db.getCanonicalHash(num);
    return hash === undefined ? undefined : this.getHeader(hash);
  }

  getBlock(hash: Uint8Array): Block | undefined {
    const key = hexKey(hash);
    const cached = this.blocks.get(key);
    if (cached !== undefined) return cached;
    const num = this.db.getNumber(hash);
    if (num === undefined) return undefined;
    const headerRlp = this.db.getHeaderRlp(num, hash);
    const bodyRlp = this.db.getBodyRlp(num, hash);
    if (headerRlp === undefined || bodyRlp === undefined) return undefined;
    const body = RLP.decode(bodyRlp) as unknown as Uint8Array[][];
    const block = createBlockFromBytesArray(
      [RLP.decode(headerRlp) as Uint8Array[], ...body] as never,
      this.decodeOpts,
    );
    this.blocks.set(key, block);
    this.headers.set(key, block.header);
    return block;
  }

  getBlockByNumber(num: bigint): Block | undefined {
    const hash = this.db.getCanonicalHash(num);
    return hash === undefined ? undefined : this.getBlock(hash);
  }

  getReceipts(hash: Uint8Array): StoredReceipt[] | undefined {
    const key = hexKey(hash);
    const cached = this.receipts.get(key);
    if (cached !== undefined) return cached;
    const num = this.getNumber(hash);
    if (num === undefined) return undefined;
    const rlp = this.db.getReceiptsRlp(num, hash);
    if (rlp === undefined) return undefined;
    const receipts = decodeStoredReceipts(rlp);
    this.receipts.set(key, receipts);
    return receipts;
  }

  /** Senders of a block's transactions, in order (stored at import, so never recovered twice). */
  getSenders(hash: Uint8Array): Address[] | undefined {
    const key = hexKey(hash);
    const cached = this.senders.get(key);
    if (cached !== undefined) return cached;
    const num = this.getNumber(hash);
    if (num === undefined) return undefined;
    const raw = this.db.getSenders(num, hash);
    if (raw === undefined) return undefined;
    const out: Address[] = [];
    for (let i = 0; i + 20 <= raw.length; i += 20) out.push(new Address(raw.slice(i, i + 20)));
    this.senders.set(key, out);
    return out;
  }

  /** A canonical transaction by hash. */
  getTransaction(txHash: Uint8Array): TxLocation | undefined {
    const lookup = this.db.getTxLookup(txHash);
    if (lookup === undefined) return undefined;
    const block = this.getBlockByNumber(lookup.number);
    if (block === undefined) return undefined;
    const tx = block.transactions[lookup.index];
    if (tx === undefined || !equalsBytes(tx.hash(), txHash)) return undefined;
    return { block, index: lookup.index, tx };
  }

  // --- writes ------------------------------------------------------------------------------

  /** Adds a block's records to `batch` (not canonical yet) and primes the caches. */
  putBlock(
    batch: ChainBatch,
    block: Block,
    receipts: readonly StoredReceipt[],
    senders: readonly Address[],
  ): void {
    const hash = block.hash();
    const num = block.header.number;
    const raw = block.raw();
    batch.put(Keys.header(num, hash), RLP.encode(raw[0]));
    batch.put(Keys.body(num, hash), RLP.encode(raw.slice(1) as never));
    batch.put(Keys.receipts(num, hash), encodeStoredReceipts(receipts));
    const sendersBytes = new Uint8Array(senders.length * 20);
    for (let i = 0; i < senders.length; i++) sendersBytes.set(senders[i].bytes, i * 20);
    batch.put(Keys.senders(num, hash), sendersBytes);
    const numBytes = new Uint8Array(8);
    new DataView(numBytes.buffer).setBigUint64(0, num);
    batch.put(Keys.hashToNumber(hash), numBytes);
    const key = hexKey(hash);
    this.blocks.set(key, block);
    this.headers.set(key, block.header);
    this.receipts.set(key, [...receipts]);
    this.senders.set(key, [...senders]);
  }

  /**
   * Makes `head` the canonical tip: adds to `batch` the canonical-index rewrites from the
   * common ancestor up (canonical hashes, tx lookups, log index) and removes index entries of
   * blocks that leave the chain. Returns the blocks that left and joined.
   */
  setCanonicalHead(batch: ChainBatch, head: Block, currentHeadNumber: bigint): CanonicalChange {
    const added: Block[] = [];
    let cursor: Block | undefined = head;
    while (cursor !== undefined) {
      const canonical = this.db.getCanonicalHash(cursor.header.number);
      if (
        canonical !== undefined &&
        equalsBytes(canonical, cursor.hash()) &&
        cursor.header.number <= currentHeadNumber
      )
        break;
      added.push(cursor);
      if (cursor.header.number === 0n) break;
      cursor = this.getBlock(cursor.header.parentHash);
      if (cursor === undefined) throw new Error(`missing ancestor of ${bytesToHex(head.hash())}`);
    }
    added.reverse();
    const forkPoint = added.length > 0 ? added[0].header.number : head.header.number + 1n;
    const removed: Block[] = [];
    for (let num = currentHeadNumber; num >= forkPoint && num >= 0n; num--) {
      const old = this.getBlockByNumber(num);
      if (old === undefined) continue;
      removed.push(old);
      for (const tx of old.transactions) batch.del(Keys.txLookup(tx.hash()));
      const { addresses, topics } = this.logKeys(old);
      batch.delLogIndex(num, addresses, topics);
      if (num > head.header.number) batch.del(Keys.canonical(num));
    }
    for (const block of added) {
      const num = block.header.number;
      batch.putCanonical(num, block.hash());
      for (let i = 0; i < block.transactions.length; i++)
        batch.putTxLookup(block.transactions[i].hash(), num, i);
      const { addresses, topics } = this.logKeys(block);
      batch.putLogIndex(num, addresses, topics);
    }
    return { removed, added };
  }

  private logKeys(block: Block): { addresses: Uint8Array[]; topics: Uint8Array[] } {
    const receipts = this.getReceipts(block.hash()) ?? [];
    const addresses = new Map<string, Uint8Array>();
    const topics = new Map<string, Uint8Array>();
    for (const receipt of receipts) {
      for (const [address, logTopics] of receipt.logs) {
        addresses.set(bytesToHex(address), address);
        for (const topic of logTopics) topics.set(bytesToHex(topic), topic);
      }
    }
    return { addresses: [...addresses.values()], topics: [...topics.values()] };
  }
}
