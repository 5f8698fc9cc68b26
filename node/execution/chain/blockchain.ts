/**
 * The execution chain: genesis initialisation, block import (validate + execute + store in one
 * atomic write), and the canonical head with its safe and finalized markers, as moved by the
 * consensus layer through the engine (`forkchoiceUpdated`).
 *
 *   import:  block ──► validate header ──► execute (Executor) ──► store records ─┐
 *   head:    forkchoice ──► canonical index rewrite (tx lookups, log index) ─────┴─► one LevelDB batch
 *                                                                               └─► 'head' event
 *                                                                                   (pool, RPC subscriptions)
 */
import { type Block, type BlockHeader, createBlock } from "@ethereumjs/block";
import { RLP } from "@ethereumjs/rlp";
import type { MerkleStateManager } from "@ethereumjs/statemanager";
import {
  Account,
  bigIntToBytes,
  bytesToHex,
  createAddressFromString,
  equalsBytes,
  hexToBytes,
  KECCAK256_RLP,
  SHA256_NULL,
  setLengthLeft,
} from "@ethereumjs/util";
import { GenesisError, GenesisErrorCode } from "../../../genesis/errors.ts";
import type { GethGenesis } from "../../../genesis/types.ts";
import type { ChainMetrics } from "../../metrics/index.ts";
import { TypedEmitter } from "../../utils/events.ts";
import type { Logger } from "../../utils/logger.ts";
import type { ChainDB } from "../db/chain-db.ts";
import { MetaKey } from "../db/schema.ts";
import { ChainError, ChainErrorCode } from "../errors.ts";
import { type BuiltBlock, type ExecutedBlock, Executor } from "../executor/executor.ts";
import type { SenderRecovery } from "../sender-recovery.ts";
import { ChainConfig } from "./config.ts";
import type { StoredReceipt } from "./receipts.ts";
import { BlockStore, type CanonicalChange } from "./store.ts";

export interface HeadEvent {
  head: Block;
  change: CanonicalChange;
}

export interface ChainEvents {
  /** The canonical head moved (new block, reorg or rewind). */
  head: (event: HeadEvent) => void;
  /** The finalized or safe marker moved. */
  forkchoice: (event: { safe: BlockHeader; finalized: BlockHeader }) => void;
}

export interface BlockchainModules {
  db: ChainDB;
  /** Recovers the senders of imported blocks on a worker thread before execution. */
  recovery?: SenderRecovery;
  logger: Logger;
  metrics?: ChainMetrics;
}

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** Builds the genesis state and block from a geth-style genesis (not yet stored). */
async function genesisBlock(config: ChainConfig, executor: Executor): Promise<Block> {
  const g = config.genesis;
  const timestamp = BigInt(g.timestamp);
  const common = config.commonAt(0n, timestamp);
  const sm = executor.stateAt(KECCAK256_RLP, common, { writable: true });
  for (const [address, account] of Object.entries(g.alloc)) {
    const addr = createAddressFromString(address);
    const nonce = account.nonce === undefined ? 0n : BigInt(account.nonce);
    const balance = account.balance === undefined ? 0n : BigInt(account.balance);
    await sm.putAccount(addr, new Account(nonce, balance));
    if (account.code !== undefined && account.code !== "0x" && account.code !== "") {
      await sm.putCode(addr, hexToBytes(account.code as `0x${string}`));
    }
    for (const [slot, value] of Object.entries(account.storage ?? {})) {
      const v = BigInt(value);
      if (v === 0n) continue;
      await sm.putStorage(addr, setLengthLeft(bigIntToBytes(BigInt(slot)), 32), bigIntToBytes(v));
    }
  }
  const stateRoot = await sm.getStateRoot();
  return createBlock(
    {
      header: {
        number: 0n,
        stateRoot,
        timestamp,
        gasLimit: BigInt(g.gasLimit),
        difficulty: BigInt(g.difficulty),
        nonce: setLengthLeft(hexToBytes(`0x${BigInt(g.nonce).toString(16).padStart(16, "0")}`), 8),
        extraData: hexToBytes(g.extraData as `0x${string}`),
        mixHash: hexToBytes(g.mixHash as `0x${string}`),
        coinbase: createAddressFromString(g.coinbase),
        baseFeePerGas: common.isActivatedEIP(1559)
          ? g.baseFeePerGas !== undefined
            ? BigInt(g.baseFeePerGas)
            : common.param("initialBaseFee")
          : undefined,
        withdrawalsRoot: common.isActivatedEIP(4895) ? KECCAK256_RLP : undefined,
        blobGasUsed: common.isActivatedEIP(4844) ? BigInt(g.blobGasUsed ?? 0) : undefined,
        excessBlobGas: common.isActivatedEIP(4844) ? BigInt(g.excessBlobGas ?? 0) : undefined,
        parentBeaconBlockRoot: common.isActivatedEIP(4788) ? new Uint8Array(32) : undefined,
        requestsHash: common.isActivatedEIP(7685) ? SHA256_NULL : undefined,
      },
      withdrawals: common.isActivatedEIP(4895) ? [] : undefined,
    },
    { common },
  );
}

/** True when two blocks carry the same body (transactions, uncles, withdrawals). */
function sameBody(a: Block, b: Block): boolean {
  if (a === b) return true;
  return equalsBytes(RLP.encode(a.raw().slice(1) as never), RLP.encode(b.raw().slice(1) as never));
}

export class Blockchain extends TypedEmitter<ChainEvents> {
  readonly db: ChainDB;
  readonly config: ChainConfig;
  readonly store: BlockStore;
  readonly executor: Executor;
  private readonly logger: Logger;
  private readonly metrics: ChainMetrics | undefined;
  private readonly recovery: SenderRecovery | undefined;
  private _genesis: Block;
  private _head: Block;
  private _safe: BlockHeader;
  private _finalized: BlockHeader;
  /** Blocks we built, by hash, so importing them does not execute them a second time. */
  private readonly built = new Map<string, ExecutedBlock>();
  private headStateCache: { hash: string; sm: MerkleStateManager } | undefined;
  /**
   * Head and marker updates run one at a time: each computes its canonical-index rewrite from
   * the current head, so two interleaved updates would leave the second one's index wrong.
   */
  private headQueue: Promise<unknown> = Promise.resolve();

  private constructor(modules: BlockchainModules, config: ChainConfig, genesis: Block) {
    super();
    this.db = modules.db;
    this.logger = modules.logger;
    this.metrics = modules.metrics;
    this.recovery = modules.recovery;
    this.config = config;
    this.store = new BlockStore(this.db, config);
    this.executor = new Executor({ config, store: this.store, state: this.db.state });
    this._genesis = genesis;
    this._head = genesis;
    this._safe = genesis.header;
    this._finalized = genesis.header;
  }

  /** True when `db` already holds an initialized chain. */
  static isInitialized(db: ChainDB): boolean {
    return db.getMeta(MetaKey.genesis) !== undefined;
  }

  /**
   * Writes the genesis block and state. If the database already holds a chain, checks that its
   * genesis is the same one and returns its hash (GENESIS_MISMATCH otherwise).
   */
  static async initGenesis(db: ChainDB, genesis: GethGenesis, logger: Logger): Promise<Uint8Array> {
    const config = new ChainConfig(genesis);
    const store = new BlockStore(db, config);
    const block = await genesisBlock(config, new Executor({ config, store, state: db.state }));
    const existing = db.getMeta(MetaKey.genesis);
    if (existing !== undefined) {
      if (!equalsBytes(existing, block.hash())) {
        throw new GenesisError(
          GenesisErrorCode.MISMATCH,
          `datadir holds genesis ${bytesToHex(existing)}, the given genesis is ${bytesToHex(block.hash())}`,
        );
      }
      return existing;
    }
    const batch = db.batch();
    store.putBlock(batch, block, [], []);
    store.setCanonicalHead(batch, block, -1n);
    for (const key of [MetaKey.head, MetaKey.safe, MetaKey.finalized, MetaKey.genesis])
      batch.putMeta(key, block.hash());
    batch.putMeta(MetaKey.config, encoder.encode(JSON.stringify(genesis)));
    await db.write(batch);
    logger.info(
      {
        hash: bytesToHex(block.hash()),
        stateRoot: bytesToHex(block.header.stateRoot),
        chainId: genesis.config.chainId,
      },
      "Wrote genesis",
    );
    return block.hash();
  }

  /** Opens an initialized chain and repairs the head if its state is missing. */
  static async open(modules: BlockchainModules): Promise<Blockchain> {
    const { db } = modules;
    const rawConfig = db.getMeta(MetaKey.config);
    const genesisHash = db.getMeta(MetaKey.genesis);
    if (rawConfig === undefined || genesisHash === undefined) {
      throw new ChainError(
        ChainErrorCode.NOT_INITIALIZED,
        "datadir holds no chain: run `opengpu init` first",
      );
    }
    const config = new ChainConfig(JSON.parse(decoder.decode(rawConfig)) as GethGenesis);
    const store = new BlockStore(db, config);
    const genesis = store.getBlock(genesisHash);
    if (genesis === undefined)
      throw new ChainError(ChainErrorCode.NOT_INITIALIZED, "genesis block missing from datadir");
    const chain = new Blockchain(modules, config, genesis);
    await chain.repair();
    return chain;
  }

  private async repair(): Promise<void> {
    const read = (name: string) => {
      const hash = this.db.getMeta(name);
      return hash === undefined ? undefined : this.store.getBlock(hash);
    };
    const stored = read(MetaKey.head) ?? this._genesis;
    let head = stored;
    let rewound = 0;
    // Walk back to the newest canonical block whose body and state are both present.
    while (head.header.number > 0n && !this.executor.hasState(head.header.stateRoot)) {
      const parent = this.store.getBlock(head.header.parentHash);
      if (parent === undefined) break;
      head = parent;
      rewound++;
    }
    const finalized = read(MetaKey.finalized);
    const safe = read(MetaKey.safe);
    this._head = stored;
    this._finalized = finalized?.header ?? this._genesis.header;
    this._safe = safe?.header ?? this._finalized;
    if (rewound > 0) {
      this.logger.warn(
        { number: head.header.number, rewound },
        "Head state missing, rewound to last complete block",
      );
      // From the stored head, so the canonical entries (hashes, tx lookups, log index) above the
      // new head are deleted and head, safe and finalized are rewritten, in one batch.
      await this.setHead(head.hash());
    }
    if (this._finalized.number > this._head.header.number) this._finalized = this._head.header;
    if (this._safe.number > this._head.header.number) this._safe = this._head.header;
    this.updateGauges();
    this.logger.info(
      { number: head.header.number, hash: bytesToHex(head.hash()), finalized: this._finalized.number },
      "Opened chain",
    );
  }

  get genesis(): Block {
    return this._genesis;
  }
  get head(): Block {
    return this._head;
  }
  get safe(): BlockHeader {
    return this._safe;
  }
  get finalized(): BlockHeader {
    return this._finalized;
  }

  /** Remembers a block we built so its import skips re-execution. */
  rememberBuilt(built: BuiltBlock): void {
    this.built.set(bytesToHex(built.block.hash()), built);
    // Only the latest few payloads can still be imported; keep memory bounded.
    if (this.built.size > 16) {
      const oldest = this.built.keys().next().value;
      if (oldest !== undefined) this.built.delete(oldest);
    }
  }

  /**
   * Validates, executes and stores `block` (not canonical yet). Returns false if it was already
   * known. Throws `ChainError` if it is invalid or its parent is unknown.
   */
  async insertBlock(block: Block): Promise<boolean> {
    const hash = block.hash();
    if (this.store.hasBlock(hash)) return false;
    const parent = this.store.getHeader(block.header.parentHash);
    if (parent === undefined) {
      throw new ChainError(
        ChainErrorCode.UNKNOWN_PARENT,
        `unknown parent ${bytesToHex(block.header.parentHash)} of block ${block.header.number}`,
      );
    }
    const started = performance.now();
    const key = bytesToHex(hash);
    // Our own build result stands in for execution only if the body is the one we built: the
    // hash covers the header alone, and a block with our header but another body is invalid.
    const built = this.built.get(key);
    let executed = built !== undefined && sameBody(built.block, block) ? built : undefined;
    if (executed !== undefined) this.built.delete(key);
    if (executed === undefined) {
      await this.recovery?.recover(block.transactions);
      try {
        executed = await this.executor.execute(block, parent);
      } catch (err) {
        if (err instanceof ChainError) this.metrics?.blocksInvalid.inc({ reason: err.code });
        throw err;
      }
    }
    const batch = this.db.batch();
    this.store.putBlock(batch, block, executed.receipts, executed.senders);
    await this.db.write(batch);
    this.metrics?.blocksImported.inc();
    this.metrics?.importSeconds.observe((performance.now() - started) / 1000);
    return true;
  }

  private serialized<T>(task: () => Promise<T>): Promise<T> {
    const result = this.headQueue.then(task, task);
    this.headQueue = result.catch(() => {});
    return result;
  }

  /** Makes the known block `hash` the canonical head. */
  setHead(hash: Uint8Array): Promise<CanonicalChange> {
    return this.serialized(() => this.setHeadLocked(hash));
  }

  private async setHeadLocked(hash: Uint8Array): Promise<CanonicalChange> {
    const block = this.store.getBlock(hash);
    if (block === undefined)
      throw new ChainError(ChainErrorCode.UNKNOWN_BLOCK, `unknown block ${bytesToHex(hash)}`);
    if (equalsBytes(hash, this._head.hash())) return { removed: [], added: [] };
    const batch = this.db.batch();
    const change = this.store.setCanonicalHead(batch, block, this._head.header.number);
    batch.putMeta(MetaKey.head, hash);
    // Safe and finalized can never be above the head.
    if (this._safe.number > block.header.number) {
      this._safe = block.header;
      batch.putMeta(MetaKey.safe, hash);
    }
    if (this._finalized.number > block.header.number) {
      this._finalized = block.header;
      batch.putMeta(MetaKey.finalized, hash);
    }
    await this.db.write(batch);
    this._head = block;
    if (change.removed.length > 0) {
      this.metrics?.reorgs.inc();
      this.metrics?.reorgDepth.observe(change.removed.length);
      this.logger.info(
        {
          number: block.header.number,
          hash: bytesToHex(hash),
          removed: change.removed.length,
          added: change.added.length,
        },
        "Chain reorganised",
      );
    }
    for (const added of change.added) {
      this.metrics?.txsIncluded.inc(added.transactions.length);
      this.metrics?.gasUsed.inc(Number(added.header.gasUsed));
    }
    this.updateGauges();
    this.emit("head", { head: block, change });
    return change;
  }

  /** Inserts and makes canonical in one step (dev chain, RLP import). */
  async importBlock(block: Block): Promise<void> {
    await this.insertBlock(block);
    await this.setHead(block.hash());
  }

  /** Moves the safe and finalized markers; both must be canonical ancestors of the head. */
  setForkchoiceMarkers(
    safeHash: Uint8Array | undefined,
    finalizedHash: Uint8Array | undefined,
  ): Promise<void> {
    return this.serialized(() => this.setMarkersLocked(safeHash, finalizedHash));
  }

  private async setMarkersLocked(
    safeHash: Uint8Array | undefined,
    finalizedHash: Uint8Array | undefined,
  ): Promise<void> {
    const resolve = (hash: Uint8Array | undefined, current: BlockHeader): BlockHeader => {
      if (hash === undefined || equalsBytes(hash, new Uint8Array(32))) return current;
      const header = this.store.getHeader(hash);
      if (header === undefined || !this.store.isCanonical(hash) || header.number > this._head.header.number) {
        throw new ChainError(
          ChainErrorCode.UNKNOWN_BLOCK,
          `block ${bytesToHex(hash)} is not a canonical ancestor of the head`,
        );
      }
      return header;
    };
    const finalized = resolve(finalizedHash, this._finalized);
    const safe = resolve(safeHash, this._safe);
    if (equalsBytes(safe.hash(), this._safe.hash()) && equalsBytes(finalized.hash(), this._finalized.hash()))
      return;
    const batch = this.db
      .batch()
      .putMeta(MetaKey.safe, safe.hash())
      .putMeta(MetaKey.finalized, finalized.hash());
    await this.db.write(batch, { withState: false });
    const finalizedMoved = !equalsBytes(finalized.hash(), this._finalized.hash());
    this._safe = safe;
    this._finalized = finalized;
    if (finalizedMoved)
      this.logger.debug({ number: finalized.number, hash: bytesToHex(finalized.hash()) }, "Finalized");
    this.updateGauges();
    this.emit("forkchoice", { safe, finalized });
  }

  /** A read-only state view at `header` (fresh caches; never written back). */
  stateAt(header: BlockHeader): MerkleStateManager {
    return this.executor.stateAt(header.stateRoot, this.config.commonAt(header.number, header.timestamp));
  }

  /** A read-only view of the head state, shared until the head moves. */
  headState(): MerkleStateManager {
    const hash = bytesToHex(this._head.hash());
    if (this.headStateCache?.hash !== hash)
      this.headStateCache = { hash, sm: this.stateAt(this._head.header) };
    return this.headStateCache.sm;
  }

  /** Receipts of a stored block (with its transactions), or undefined. */
  receiptsOf(block: Block): StoredReceipt[] | undefined {
    return this.store.getReceipts(block.hash());
  }

  private updateGauges(): void {
    this.metrics?.headNumber.set(Number(this._head.header.number));
    this.metrics?.safeNumber.set(Number(this._safe.number));
    this.metrics?.finalizedNumber.set(Number(this._finalized.number));
  }
}
