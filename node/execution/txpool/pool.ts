/**
 * The transaction pool: admission checks with geth's error texts, pending (executable) and
 * queued (nonce-gapped) sets per sender, replacement with a price bump, capacity limits with
 * eviction of the cheapest remote transactions, re-injection after reorgs, and a journal of
 * local transactions that survives restarts.
 *
 *   RPC (eth_sendRawTransaction) ─┐                          ┌─► block builder (TxSource)
 *   p2p gossip (later)  ──────────┼─► validate ─► pending ───┤
 *   journal (restart)   ──────────┘            └► queued     └─► RPC (txpool_*, pending nonce,
 *   chain 'head' event ─► reset: drop included / unpayable,       newPendingTransactions)
 *                                re-inject reorged-out txs, promote queued
 */
import { Capability, createTxFromRLP, type TypedTransaction } from "@ethereumjs/tx";
import { type Address, bytesToHex } from "@ethereumjs/util";
import type { TxPoolMetrics } from "../../metrics/index.ts";
import { TypedEmitter } from "../../utils/events.ts";
import type { Logger } from "../../utils/logger.ts";
import type { Blockchain, HeadEvent } from "../chain/blockchain.ts";
import { keccak256 } from "../crypto.ts";
import { Keys } from "../db/schema.ts";
import type { TxSource } from "../executor/executor.ts";
import type { SenderRecovery } from "../sender-recovery.ts";
import { rememberTxBytes, txBytes } from "../trie/index.ts";
import { TxPoolError, TxPoolErrorCode } from "./errors.ts";

export interface TxPoolOptions {
  /** Most transactions (pending + queued) held at once. */
  globalSlots?: number;
  /** Most queued (nonce-gapped) transactions held at once. */
  globalQueue?: number;
  /** Most queued transactions per sender. */
  accountQueue?: number;
  /** Minimum priority fee (wei) for remote transactions. */
  priceLimit?: bigint;
  /** Percentage a replacement must raise both fee cap and tip by. */
  priceBump?: bigint;
  /** Largest encoded transaction accepted, in bytes. */
  maxTxSize?: number;
  /** Accept legacy transactions without EIP-155 chain id. */
  allowUnprotected?: boolean;
  /** Accept blob (type 3) transactions. Off on OpenGPU networks: blob capacity is zero. */
  acceptBlobs?: boolean;
  /** Queued remote transactions older than this (ms) are dropped. */
  lifetimeMs?: number;
  /** Persist local transactions and restore them on start. */
  journal?: boolean;
}

export interface PoolTx {
  readonly tx: TypedTransaction;
  readonly hash: Uint8Array;
  readonly hashHex: string;
  readonly sender: Address;
  readonly senderHex: string;
  readonly nonce: bigint;
  readonly feeCap: bigint;
  readonly tipCap: bigint;
  /** Most the transaction can cost: gas limit × fee cap + value. */
  readonly cost: bigint;
  readonly size: number;
  readonly local: boolean;
  readonly addedAt: number;
  readonly seq: number;
}

interface AccountTxs {
  /** State nonce at the last read; pending holds a contiguous run starting here. */
  nonce: bigint;
  pending: Map<bigint, PoolTx>;
  queued: Map<bigint, PoolTx>;
}

export interface PoolEvents {
  /** A transaction became executable (entered the pending set). */
  pending: (tx: PoolTx) => void;
}

export interface TxPoolModules {
  chain: Blockchain;
  /** Recovers senders on a worker thread before admission; main-thread recovery otherwise. */
  recovery?: SenderRecovery;
  logger: Logger;
  metrics?: TxPoolMetrics;
}

const DEFAULTS = {
  globalSlots: 16_384,
  globalQueue: 4_096,
  accountQueue: 64,
  priceLimit: 1n,
  priceBump: 10n,
  // geth: 4 slots of 32 KiB
  maxTxSize: 128 * 1024,
  allowUnprotected: false,
  acceptBlobs: false,
  lifetimeMs: 3 * 60 * 60 * 1000,
  journal: true,
} as const;

const MAX_NONCE = 2n ** 64n - 1n;
/** secp256k1 group order. */
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;
const TX_GAS = 21_000n;
const FLOOR_PER_TOKEN = 10n;

class Mutex {
  private tail: Promise<void> = Promise.resolve();
  run<T>(fn: () => Promise<T> | T): Promise<T> {
    const result = this.tail.then(fn, fn);
    this.tail = result.then(
      () => {},
      () => {},
    );
    return result;
  }
}

function feeCaps(tx: TypedTransaction): { feeCap: bigint; tipCap: bigint } {
  if ("maxFeePerGas" in tx) return { feeCap: tx.maxFeePerGas, tipCap: tx.maxPriorityFeePerGas };
  const gasPrice = (tx as { gasPrice: bigint }).gasPrice;
  return { feeCap: gasPrice, tipCap: gasPrice };
}

/** Effective priority fee a transaction pays at `baseFee`. */
export function effectiveTip(p: Pick<PoolTx, "feeCap" | "tipCap">, baseFee: bigint): bigint {
  const room = p.feeCap - baseFee;
  return room < p.tipCap ? room : p.tipCap;
}

function floorDataGas(data: Uint8Array): bigint {
  let tokens = 0n;
  for (const byte of data) tokens += byte === 0 ? 1n : 4n;
  return TX_GAS + tokens * FLOOR_PER_TOKEN;
}

export class TxPool extends TypedEmitter<PoolEvents> {
  private readonly opts: Required<TxPoolOptions>;
  private readonly chain: Blockchain;
  private readonly logger: Logger;
  private readonly metrics: TxPoolMetrics | undefined;
  private readonly recovery: SenderRecovery | undefined;
  private readonly all = new Map<string, PoolTx>();
  private readonly accounts = new Map<string, AccountTxs>();
  private readonly lock = new Mutex();
  /** Journal changes not yet written (hash -> tx bytes, or null for removal). */
  private journalPending = new Map<string, { key: Uint8Array; value: Uint8Array | null }>();
  private journalTimer: NodeJS.Timeout | undefined;
  private pendingCount = 0;
  private queuedCount = 0;
  private seq = 0;
  private unsubscribe: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(opts: TxPoolOptions, modules: TxPoolModules) {
    super();
    this.opts = { ...DEFAULTS, ...opts };
    this.chain = modules.chain;
    this.logger = modules.logger;
    this.metrics = modules.metrics;
    this.recovery = modules.recovery;
  }

  /** Restores journaled local transactions and starts following the chain head. */
  async start(): Promise<void> {
    this.unsubscribe = this.chain.on("head", (event) => {
      void this.lock
        .run(() => this.reset(event))
        .catch((err: unknown) => {
          this.logger.error({ err }, "Pool reset failed");
        });
    });
    if (this.opts.journal) await this.restoreJournal();
    this.timer = setInterval(() => void this.lock.run(() => this.dropExpired()), 60_000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.unsubscribe?.();
    if (this.timer !== undefined) clearInterval(this.timer);
    await this.lock.run(() => undefined);
    await this.flushJournal();
  }

  /**
   * Journal writes are batched: one LevelDB batch every 100 ms instead of a write per
   * transaction. A crash loses at most the last 100 ms of local submissions from the journal
   * (they are still in blocks if they were mined).
   */
  private journalWrite(ptx: PoolTx, add: boolean): void {
    this.journalPending.set(ptx.hashHex, {
      key: Keys.journal(ptx.hash),
      value: add ? txBytes(ptx.tx) : null,
    });
    if (this.journalTimer === undefined) {
      this.journalTimer = setTimeout(() => void this.flushJournal(), 100);
      this.journalTimer.unref();
    }
  }

  private async flushJournal(): Promise<void> {
    if (this.journalTimer !== undefined) clearTimeout(this.journalTimer);
    this.journalTimer = undefined;
    if (this.journalPending.size === 0 || !this.chain.db.isOpen) return;
    const pending = this.journalPending;
    this.journalPending = new Map();
    const batch = this.chain.db.batch();
    for (const { key, value } of pending.values()) {
      if (value === null) batch.del(key);
      else batch.put(key, value);
    }
    await this.chain.db.write(batch, { withState: false }).catch((err: unknown) => {
      this.logger.warn({ err }, "Could not write the transaction journal");
    });
  }

  get size(): { pending: number; queued: number } {
    return { pending: this.pendingCount, queued: this.queuedCount };
  }

  get(hash: Uint8Array | string): PoolTx | undefined {
    return this.all.get(typeof hash === "string" ? hash.toLowerCase() : bytesToHex(hash));
  }

  /** The next nonce `sender` would use, counting its pending transactions. */
  async pendingNonce(sender: Address): Promise<bigint> {
    const account = this.accounts.get(sender.toString());
    const stateNonce = (await this.chain.headState().getAccount(sender))?.nonce ?? 0n;
    if (account === undefined) return stateNonce;
    let nonce = stateNonce;
    while (account.pending.has(nonce)) nonce++;
    return nonce;
  }

  /** Decodes raw transaction bytes and adds them. Returns the transaction hash. */
  async addRaw(raw: Uint8Array, opts: { local?: boolean } = {}): Promise<PoolTx> {
    return this.add(this.decode(raw), { ...opts, size: raw.length });
  }

  decode(raw: Uint8Array): TypedTransaction {
    if (raw.length === 0) throw new TxPoolError(TxPoolErrorCode.MALFORMED, "typed transaction too short");
    if (raw[0] <= 0x7f && ![1, 2, 3, 4].includes(raw[0])) {
      throw new TxPoolError(TxPoolErrorCode.TYPE_NOT_SUPPORTED, "transaction type not supported");
    }
    if (raw.length > this.opts.maxTxSize) {
      throw new TxPoolError(
        TxPoolErrorCode.OVERSIZED,
        `oversized data: transaction size ${raw.length}, limit ${this.opts.maxTxSize}`,
      );
    }
    if (raw[0] === 3 && !this.opts.acceptBlobs) {
      throw new TxPoolError(TxPoolErrorCode.TYPE_NOT_SUPPORTED, "transaction type not supported");
    }
    const head = this.chain.head.header;
    const common = this.chain.config.commonAt(head.number + 1n, head.timestamp + 1n);
    try {
      const tx = createTxFromRLP(raw, { common });
      rememberTxBytes(tx, raw);
      // The hash of a transaction is the hash of the bytes we already hold; ethereumjs would
      // re-encode the transaction to compute it.
      (tx as unknown as { cache: { hash?: Uint8Array } }).cache.hash = keccak256(raw);
      return tx;
    } catch (err) {
      const message = (err as Error).message ?? String(err);
      // Signed for another chain: geth's signer reports ErrInvalidChainId.
      if (/not matching the derived chain ID|Incompatible EIP155-based V/.test(message)) {
        throw new TxPoolError(TxPoolErrorCode.INVALID_SENDER, "invalid sender: invalid chain id for signer");
      }
      if (/maxFeePerGas cannot be less than maxPriorityFeePerGas/.test(message)) {
        throw new TxPoolError(
          TxPoolErrorCode.TIP_ABOVE_FEE_CAP,
          "max priority fee per gas higher than max fee per gas",
        );
      }
      if (/invalid signature|v value|y-parity/i.test(message)) {
        throw new TxPoolError(
          TxPoolErrorCode.INVALID_SENDER,
          "invalid sender: invalid transaction v, r, s values",
        );
      }
      if (/hardfork|not activated|EIP/i.test(message) && !/Invalid serialized|rlp/i.test(message)) {
        throw new TxPoolError(TxPoolErrorCode.TYPE_NOT_SUPPORTED, "transaction type not supported");
      }
      throw new TxPoolError(TxPoolErrorCode.MALFORMED, `rlp: ${message.split(" (")[0]}`);
    }
  }

  /**
   * Adds a signed transaction. Throws `TxPoolError` with geth's message when refused.
   * Local transactions (from this node's RPC) skip the price floor and are journaled.
   */
  async add(
    tx: TypedTransaction,
    opts: { local?: boolean; size?: number; reinject?: boolean } = {},
  ): Promise<PoolTx> {
    const size = opts.size ?? txBytes(tx).length;
    // The sender is recovered on the worker thread; stateless checks run before taking the lock.
    await this.recovery?.recover([tx]);
    const stateless = this.validateStateless(tx, size, opts.local ?? false);
    return this.lock.run(() => this.addLocked(stateless, opts.local ?? false, opts.reinject ?? false));
  }

  private validateStateless(tx: TypedTransaction, size: number, local: boolean): PoolTx {
    const fail = (code: TxPoolErrorCode, message: string): never => {
      this.metrics?.rejected.inc({ reason: code });
      throw new TxPoolError(code, message);
    };
    if (tx.type === 3 && !this.opts.acceptBlobs)
      fail(TxPoolErrorCode.TYPE_NOT_SUPPORTED, "transaction type not supported");
    if (size > this.opts.maxTxSize)
      fail(
        TxPoolErrorCode.OVERSIZED,
        `oversized data: transaction size ${size}, limit ${this.opts.maxTxSize}`,
      );
    if (!tx.isSigned()) fail(TxPoolErrorCode.INVALID_SENDER, "invalid sender: transaction is not signed");
    // geth's ValidateSignatureValues: 0 < r < n, 0 < s <= n/2, and a y-parity of 0 or 1 for typed
    // transactions (ethereumjs checks only some of these, and only when decoding RLP).
    const { v, r, s } = tx as { v?: bigint; r?: bigint; s?: bigint };
    if (
      r === undefined ||
      s === undefined ||
      r === 0n ||
      r >= SECP256K1_N ||
      s === 0n ||
      s > SECP256K1_N / 2n ||
      (tx.type !== 0 && v !== 0n && v !== 1n)
    ) {
      fail(TxPoolErrorCode.INVALID_SENDER, "invalid sender: invalid transaction v, r, s values");
    }
    const chainId = this.chain.config.chainId;
    if (tx.type === 0 && !tx.supports(Capability.EIP155ReplayProtection) && !this.opts.allowUnprotected) {
      fail(TxPoolErrorCode.UNPROTECTED, "only replay-protected (EIP-155) transactions allowed over RPC");
    }
    if (tx.type !== 0 && tx.common.chainId() !== chainId) {
      fail(TxPoolErrorCode.INVALID_SENDER, "invalid sender: invalid chain id for signer");
    }
    if (tx.type === 0 && tx.supports(Capability.EIP155ReplayProtection)) {
      const v = (tx as { v?: bigint }).v ?? 0n;
      if (v !== chainId * 2n + 35n && v !== chainId * 2n + 36n)
        fail(TxPoolErrorCode.INVALID_SENDER, "invalid sender: invalid chain id for signer");
    }
    let sender: Address;
    try {
      sender = tx.getSenderAddress();
    } catch {
      return fail(TxPoolErrorCode.INVALID_SENDER, "invalid sender");
    }
    if (tx.nonce >= MAX_NONCE) fail(TxPoolErrorCode.NONCE_MAX, "nonce has max value");
    const head = this.chain.head.header;
    if (tx.gasLimit > head.gasLimit) fail(TxPoolErrorCode.GAS_LIMIT, "exceeds block gas limit");
    const { feeCap, tipCap } = feeCaps(tx);
    if (tipCap > feeCap) {
      fail(
        TxPoolErrorCode.TIP_ABOVE_FEE_CAP,
        `max priority fee per gas higher than max fee per gas: address ${sender}, maxPriorityFeePerGas: ${tipCap}, maxFeePerGas: ${feeCap}`,
      );
    }
    const intrinsic = tx.getIntrinsicGas();
    if (tx.gasLimit < intrinsic)
      fail(TxPoolErrorCode.INTRINSIC_GAS, `intrinsic gas too low: have ${tx.gasLimit}, want ${intrinsic}`);
    if (tx.common.isActivatedEIP(7623)) {
      const floor = floorDataGas(tx.data);
      if (tx.gasLimit < floor) {
        fail(
          TxPoolErrorCode.FLOOR_DATA_GAS,
          `insufficient gas for floor data gas cost: have ${tx.gasLimit}, want ${floor}`,
        );
      }
    }
    const baseFee = head.calcNextBaseFee();
    if (feeCap < baseFee) {
      fail(
        TxPoolErrorCode.FEE_CAP_TOO_LOW,
        `max fee per gas less than block base fee: address ${sender}, maxFeePerGas: ${feeCap}, baseFee: ${baseFee}`,
      );
    }
    if (!local && tipCap < this.opts.priceLimit) fail(TxPoolErrorCode.UNDERPRICED, "transaction underpriced");
    const hash = tx.hash();
    return {
      tx,
      hash,
      hashHex: bytesToHex(hash),
      sender,
      senderHex: sender.toString(),
      nonce: tx.nonce,
      feeCap,
      tipCap,
      cost: tx.gasLimit * feeCap + tx.value,
      size,
      local,
      addedAt: Date.now(),
      seq: this.seq++,
    };
  }

  private async addLocked(ptx: PoolTx, local: boolean, reinject: boolean): Promise<PoolTx> {
    const fail = (code: TxPoolErrorCode, message: string): never => {
      this.metrics?.rejected.inc({ reason: code });
      throw new TxPoolError(code, message);
    };
    if (this.all.has(ptx.hashHex)) fail(TxPoolErrorCode.ALREADY_KNOWN, "already known");
    const state = await this.chain.headState().getAccount(ptx.sender);
    const stateNonce = state?.nonce ?? 0n;
    const balance = state?.balance ?? 0n;
    if (ptx.nonce < stateNonce)
      fail(
        TxPoolErrorCode.NONCE_TOO_LOW,
        `nonce too low: address ${ptx.sender}, tx: ${ptx.nonce} state: ${stateNonce}`,
      );
    if (ptx.cost > balance) {
      fail(
        TxPoolErrorCode.INSUFFICIENT_FUNDS,
        `insufficient funds for gas * price + value: address ${ptx.sender} have ${balance} want ${ptx.cost}`,
      );
    }
    let account = this.accounts.get(ptx.senderHex);
    if (account === undefined) {
      account = { nonce: stateNonce, pending: new Map(), queued: new Map() };
      this.accounts.set(ptx.senderHex, account);
    }
    if (account.nonce !== stateNonce) this.realign(account, stateNonce);

    const existing = account.pending.get(ptx.nonce) ?? account.queued.get(ptx.nonce);
    if (existing !== undefined) {
      const bump = this.opts.priceBump;
      const minFee = existing.feeCap + (existing.feeCap * bump) / 100n;
      const minTip = existing.tipCap + (existing.tipCap * bump) / 100n;
      // As geth: both must also be strictly higher, or a bump that rounds to 0 (tiny fees, a
      // zero tip) would let a transaction be replaced for free.
      if (
        ptx.feeCap <= existing.feeCap ||
        ptx.tipCap <= existing.tipCap ||
        ptx.feeCap < minFee ||
        ptx.tipCap < minTip
      ) {
        fail(TxPoolErrorCode.REPLACEMENT_UNDERPRICED, "replacement transaction underpriced");
      }
      // Swap in place: removeTx would demote the sender's later pending transactions, or drop
      // the sender's entry (orphaning the replacement) when this was its only transaction.
      const inPending = account.pending.get(ptx.nonce) === existing;
      this.all.delete(existing.hashHex);
      if (existing.local && this.opts.journal) this.journalWrite(existing, false);
      (inPending ? account.pending : account.queued).set(ptx.nonce, ptx);
      this.all.set(ptx.hashHex, ptx);
      this.afterInsert(ptx, inPending);
      return ptx;
    }

    const pendingEnd = stateNonce + BigInt(account.pending.size);
    const goesPending = ptx.nonce === pendingEnd;
    if (!goesPending) {
      if (account.queued.size >= this.opts.accountQueue) {
        fail(
          TxPoolErrorCode.ACCOUNT_LIMIT,
          `account queue full: address ${ptx.sender} has ${account.queued.size} queued transactions`,
        );
      }
      if (this.queuedCount >= this.opts.globalQueue && !local)
        fail(TxPoolErrorCode.POOL_FULL, "txpool is full");
    }
    if (this.all.size >= this.opts.globalSlots && !this.evictFor(ptx)) {
      if (!reinject) fail(TxPoolErrorCode.POOL_FULL, "txpool is full");
      return ptx;
    }
    this.all.set(ptx.hashHex, ptx);
    if (goesPending) {
      account.pending.set(ptx.nonce, ptx);
      this.pendingCount++;
      this.afterInsert(ptx, true);
      this.promote(account);
    } else {
      account.queued.set(ptx.nonce, ptx);
      this.queuedCount++;
      this.afterInsert(ptx, false);
    }
    return ptx;
  }

  private afterInsert(ptx: PoolTx, pending: boolean): void {
    this.metrics?.added.inc();
    this.updateGauges();
    if (ptx.local && this.opts.journal) this.journalWrite(ptx, true);
    if (pending) this.emit("pending", ptx);
  }

  /** Moves queued transactions that became contiguous into pending. */
  private promote(account: AccountTxs): void {
    let next = account.nonce + BigInt(account.pending.size);
    for (let q = account.queued.get(next); q !== undefined; q = account.queued.get(next)) {
      account.queued.delete(next);
      account.pending.set(next, q);
      this.queuedCount--;
      this.pendingCount++;
      this.emit("pending", q);
      next++;
    }
    this.updateGauges();
  }

  /** Re-sorts an account's transactions after its state nonce changed. */
  private realign(account: AccountTxs, stateNonce: bigint): void {
    const txs = [...account.pending.values(), ...account.queued.values()].sort((a, b) =>
      a.nonce < b.nonce ? -1 : 1,
    );
    this.pendingCount -= account.pending.size;
    this.queuedCount -= account.queued.size;
    account.pending.clear();
    account.queued.clear();
    account.nonce = stateNonce;
    let next = stateNonce;
    for (const ptx of txs) {
      if (ptx.nonce < stateNonce) {
        // Already executed in the head state (included, or replaced on chain): gone from the pool.
        this.all.delete(ptx.hashHex);
        if (ptx.local && this.opts.journal) this.journalWrite(ptx, false);
      } else if (ptx.nonce === next) {
        account.pending.set(ptx.nonce, ptx);
        next++;
      } else {
        account.queued.set(ptx.nonce, ptx);
      }
    }
    this.pendingCount += account.pending.size;
    this.queuedCount += account.queued.size;
  }

  /** Evicts the cheapest remote tail transaction if it pays less than `incoming`. */
  private evictFor(incoming: PoolTx): boolean {
    let victim: PoolTx | undefined;
    for (const account of this.accounts.values()) {
      const tail = lastOf(account.queued) ?? lastOf(account.pending);
      if (tail === undefined || tail.local) continue;
      if (victim === undefined || tail.tipCap < victim.tipCap) victim = tail;
    }
    if (victim === undefined || victim.tipCap >= incoming.tipCap || victim.senderHex === incoming.senderHex)
      return false;
    this.removeTx(victim, "evicted");
    this.metrics?.evicted.inc();
    return true;
  }

  private removeTx(ptx: PoolTx, _why: string): void {
    if (!this.all.delete(ptx.hashHex)) return;
    const account = this.accounts.get(ptx.senderHex);
    if (account !== undefined) {
      if (account.pending.get(ptx.nonce) === ptx) {
        account.pending.delete(ptx.nonce);
        this.pendingCount--;
        // Everything after a removed pending tx is no longer executable.
        this.realign(account, account.nonce);
      } else if (account.queued.get(ptx.nonce) === ptx) {
        account.queued.delete(ptx.nonce);
        this.queuedCount--;
      }
      if (account.pending.size === 0 && account.queued.size === 0) this.accounts.delete(ptx.senderHex);
    }
    if (ptx.local && this.opts.journal) this.journalWrite(ptx, false);
    this.updateGauges();
  }

  /** Follows a head change: re-injects reorged-out transactions, drops included and unpayable ones. */
  private async reset(event: HeadEvent): Promise<void> {
    const included = new Set<string>();
    for (const block of event.change.added)
      for (const tx of block.transactions) included.add(bytesToHex(tx.hash()));
    const reinject: TypedTransaction[] = [];
    for (const block of event.change.removed) {
      for (const tx of block.transactions) if (!included.has(bytesToHex(tx.hash()))) reinject.push(tx);
    }
    const state = this.chain.headState();
    for (const [senderHex, account] of [...this.accounts]) {
      const first = account.pending.values().next().value ?? account.queued.values().next().value;
      if (first === undefined) {
        this.accounts.delete(senderHex);
        continue;
      }
      const info = await state.getAccount(first.sender);
      const nonce = info?.nonce ?? 0n;
      const balance = info?.balance ?? 0n;
      for (const ptx of [...account.pending.values(), ...account.queued.values()]) {
        if (ptx.nonce < nonce || ptx.cost > balance)
          this.removeTx(ptx, ptx.nonce < nonce ? "included" : "unpayable");
      }
      const current = this.accounts.get(senderHex);
      if (current !== undefined) {
        this.realign(current, nonce);
        this.promote(current);
      }
    }
    this.updateGauges();
    for (const tx of reinject) {
      try {
        // Validated without the remote price floor (it was good enough to be mined), but
        // re-injected as a remote transaction: evictable and not journaled.
        const ptx: PoolTx = { ...this.validateStateless(tx, txBytes(tx).length, true), local: false };
        await this.addLocked(ptx, false, true);
      } catch {
        // A reorged-out transaction that no longer applies (nonce used on the new chain) is dropped.
      }
    }
    if (reinject.length > 0)
      this.logger.debug({ count: reinject.length }, "Re-injected reorged-out transactions");
  }

  private dropExpired(): void {
    const cutoff = Date.now() - this.opts.lifetimeMs;
    for (const account of [...this.accounts.values()]) {
      for (const ptx of [...account.queued.values()])
        if (!ptx.local && ptx.addedAt < cutoff) this.removeTx(ptx, "expired");
    }
  }

  private async restoreJournal(): Promise<void> {
    let restored = 0;
    let dropped = 0;
    const entries: [Uint8Array, Uint8Array][] = [];
    for await (const entry of this.chain.db.entries(Keys.journalPrefix())) entries.push(entry);
    for (const [key, raw] of entries) {
      try {
        await this.addRaw(raw, { local: true });
        restored++;
      } catch {
        dropped++;
        await this.chain.db.del(key);
      }
    }
    if (restored + dropped > 0)
      this.logger.info({ restored, dropped }, "Restored local transactions from journal");
  }

  /** Executable transactions for a block at `baseFee`, best effective tip first. */
  txSource(baseFee: bigint): TxSource {
    const queues: PoolTx[][] = [];
    for (const account of this.accounts.values()) {
      if (account.pending.size === 0) continue;
      const list: PoolTx[] = [];
      for (let n = account.nonce; account.pending.has(n); n++) list.push(account.pending.get(n)!);
      queues.push(list);
    }
    return new PriceNonceSource(queues, baseFee);
  }

  /** Pending and queued transactions by sender (for txpool_content / txpool_inspect). */
  content(filter?: Address): { pending: Map<string, PoolTx[]>; queued: Map<string, PoolTx[]> } {
    const pending = new Map<string, PoolTx[]>();
    const queued = new Map<string, PoolTx[]>();
    const byNonce = (a: PoolTx, b: PoolTx) => (a.nonce < b.nonce ? -1 : 1);
    for (const [sender, account] of this.accounts) {
      if (filter !== undefined && filter.toString() !== sender) continue;
      if (account.pending.size > 0) pending.set(sender, [...account.pending.values()].sort(byNonce));
      if (account.queued.size > 0) queued.set(sender, [...account.queued.values()].sort(byNonce));
    }
    return { pending, queued };
  }

  /** All pending transactions (for the `pending` block tag). */
  pendingTransactions(): PoolTx[] {
    const out: PoolTx[] = [];
    for (const account of this.accounts.values()) out.push(...account.pending.values());
    return out;
  }

  private updateGauges(): void {
    this.metrics?.pending.set(this.pendingCount);
    this.metrics?.queued.set(this.queuedCount);
  }

  /** Removes transactions by hash (e.g. after they were found invalid while building). */
  async drop(hashes: Iterable<string>): Promise<void> {
    await this.lock.run(() => {
      for (const hash of hashes) {
        const ptx = this.all.get(hash);
        if (ptx !== undefined) this.removeTx(ptx, "invalid");
      }
    });
  }
}

function lastOf(map: Map<bigint, PoolTx>): PoolTx | undefined {
  let last: PoolTx | undefined;
  for (const value of map.values()) if (last === undefined || value.nonce > last.nonce) last = value;
  return last;
}

/** geth's TransactionsByPriceAndNonce: a heap of each sender's next transaction by effective tip. */
class PriceNonceSource implements TxSource {
  private readonly heads: { list: PoolTx[]; index: number }[] = [];
  private readonly baseFee: bigint;

  constructor(queues: PoolTx[][], baseFee: bigint) {
    this.baseFee = baseFee;
    for (const list of queues) {
      if (list.length > 0 && list[0].feeCap >= baseFee) this.push({ list, index: 0 });
    }
  }

  private better(a: PoolTx, b: PoolTx): boolean {
    const ta = effectiveTip(a, this.baseFee);
    const tb = effectiveTip(b, this.baseFee);
    if (ta !== tb) return ta > tb;
    return a.seq < b.seq;
  }

  private push(entry: { list: PoolTx[]; index: number }): void {
    const h = this.heads;
    h.push(entry);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.better(h[i].list[h[i].index], h[parent].list[h[parent].index])) break;
      [h[i], h[parent]] = [h[parent], h[i]];
      i = parent;
    }
  }

  private popHead(): void {
    const h = this.heads;
    const last = h.pop();
    if (last === undefined || h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let best = i;
      if (l < h.length && this.better(h[l].list[h[l].index], h[best].list[h[best].index])) best = l;
      if (r < h.length && this.better(h[r].list[h[r].index], h[best].list[h[best].index])) best = r;
      if (best === i) break;
      [h[i], h[best]] = [h[best], h[i]];
      i = best;
    }
  }

  peek(): { tx: TypedTransaction; sender: Address } | undefined {
    const top = this.heads[0];
    if (top === undefined) return undefined;
    const ptx = top.list[top.index];
    return { tx: ptx.tx, sender: ptx.sender };
  }

  shift(): void {
    const top = this.heads[0];
    if (top === undefined) return;
    this.popHead();
    top.index++;
    if (top.index < top.list.length && top.list[top.index].feeCap >= this.baseFee) this.push(top);
  }

  pop(): void {
    this.popHead();
  }
}
