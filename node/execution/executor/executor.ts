/**
 * Runs blocks on the EVM: validates and executes imported blocks (ethereumjs `runBlock`, which
 * checks every header commitment), and builds new blocks from a transaction source.
 *
 * State access: each execution gets a `MerkleStateManager` with write-back caches over the
 * shared `StateStore`, so state is committed to the trie once per block, not per transaction.
 * The state manager of the last block executed stays warm: the next block built or imported
 * on top of it reuses its caches.
 */
import { Block, type BlockHeader, createBlock, genRequestsRoot } from "@ethereumjs/block";
import type { Common } from "@ethereumjs/common";
import type { Log } from "@ethereumjs/evm";
import { MerklePatriciaTrie } from "@ethereumjs/mpt";
import { RLP } from "@ethereumjs/rlp";
import { Caches, MerkleStateManager } from "@ethereumjs/statemanager";
import type { TypedTransaction } from "@ethereumjs/tx";
import {
  type Address,
  bytesToHex,
  type CLRequest,
  type CLRequestType,
  createWithdrawal,
  equalsBytes,
  KECCAK256_RLP,
  ValueEncoding,
  type WithdrawalData,
} from "@ethereumjs/util";
import { createVM, encodeReceipt, type RunTxResult, runBlock, runTx, type VM } from "@ethereumjs/vm";
import { sha256 } from "ethereum-cryptography/sha256";
import type { ChainConfig } from "../chain/config.ts";
import { fromVmReceipt, logsBloom, type StoredReceipt } from "../chain/receipts.ts";
import type { BlockStore } from "../chain/store.ts";
import { keccak256 } from "../crypto.ts";
import type { StateStore } from "../db/state-store.ts";
import { ChainError, ChainErrorCode } from "../errors.ts";
import { OverlayDB } from "../state/tries.ts";
import { orderedTrieRoot, transactionsRoot } from "../trie/index.ts";
import { accumulateRequests, applyPreBlockSystemWrites, applyWithdrawals } from "./system.ts";
import { validateHeader } from "./validate.ts";

export interface PayloadAttributes {
  timestamp: bigint;
  prevRandao: Uint8Array;
  suggestedFeeRecipient: Address;
  withdrawals?: WithdrawalData[];
  parentBeaconBlockRoot?: Uint8Array;
}

/** Transactions offered to the block builder, best first (geth's Peek/Shift/Pop). */
export interface TxSource {
  /** The best executable transaction, or undefined when none is left. */
  peek(): { tx: TypedTransaction; sender: Address } | undefined;
  /** The peeked transaction was included: move on to its sender's next one. */
  shift(): void;
  /** The peeked transaction could not be included: skip the rest of its sender's. */
  pop(): void;
}

export interface ExecutedBlock {
  block: Block;
  receipts: StoredReceipt[];
  senders: Address[];
  requests?: CLRequest<CLRequestType>[];
}

export interface BuiltBlock extends ExecutedBlock {
  /** Priority fees paid to the fee recipient, in wei (the payload's value). */
  value: bigint;
  /** Transactions that failed to apply, with the reason. */
  rejected: { tx: TypedTransaction; sender: Address; error: string }[];
  /** Where the time went, in ms: executing transactions, committing state, sealing. */
  timings: { execute: number; commit: number; seal: number };
}

export interface BuildOptions {
  gasLimit?: bigint;
  extraData?: Uint8Array;
  /** Stops adding transactions after this many milliseconds (the block is still sealed). */
  maxMillis?: number;
}

export interface ExecutorModules {
  config: ChainConfig;
  store: BlockStore;
  state: StateStore;
}

/** Serializes async sections that mutate the warm state. */
class Mutex {
  private tail: Promise<void> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    this.tail = result.then(
      () => {},
      () => {},
    );
    return result;
  }
}

const TX_GAS = 21_000n;
/** Transactions executed between yields to the event loop while building (~5-10 ms of work). */
const YIELD_EVERY_TXS = 32;

export class Executor {
  private readonly config: ChainConfig;
  private readonly store: BlockStore;
  private readonly state: StateStore;
  private readonly lock = new Mutex();
  private warm: { root: Uint8Array; sm: MerkleStateManager } | undefined;

  constructor(modules: ExecutorModules) {
    this.config = modules.config;
    this.store = modules.store;
    this.state = modules.state;
  }

  /**
   * A fresh state manager at `root` with its own caches. Read-only views (calls, tracing,
   * proofs, pool checks) by default; `writable` for block execution and genesis.
   */
  stateAt(root: Uint8Array, common: Common, opts: { writable?: boolean } = {}): MerkleStateManager {
    const trie = new MerklePatriciaTrie({
      // Views keep their trie writes (a call that commits its changes) in memory: only block
      // execution may add nodes to the store that goes to disk.
      db: opts.writable === true ? this.state : new OverlayDB(this.state),
      root,
      useKeyHashing: true,
      useKeyHashingFunction: keccak256,
      valueEncoding: ValueEncoding.Bytes,
      common,
    });
    return new MerkleStateManager({ trie, common, caches: new Caches() });
  }

  /** True when the state trie root node of `root` is present. */
  hasState(root: Uint8Array): boolean {
    if (equalsBytes(root, KECCAK256_RLP)) return true;
    return this.state.getSync(bytesToHex(root).slice(2)) !== undefined;
  }

  private takeWarm(root: Uint8Array, common: Common): MerkleStateManager {
    const warm = this.warm;
    this.warm = undefined;
    if (warm !== undefined && equalsBytes(warm.root, root) && warm.sm.common === common) return warm.sm;
    return this.stateAt(root, common, { writable: true });
  }

  /** A VM over `sm` whose BLOCKHASH resolves ancestors of `parent`. */
  async vmFor(common: Common, sm: MerkleStateManager, parent: BlockHeader): Promise<VM> {
    const store = this.store;
    const blockchain = {
      async getBlock(n: number) {
        const hash = store.ancestorHash(parent, BigInt(n));
        return { hash: () => hash ?? new Uint8Array(32) };
      },
      async putBlock() {},
      shallowCopy() {
        return blockchain;
      },
    };
    // A copy: every EVM subscribes to its Common's hardfork events and never unsubscribes, so
    // sharing ChainConfig's instance would keep every VM ever created alive.
    return createVM({ common: common.copy(), stateManager: sm, blockchain });
  }

  /**
   * Validates `block` against `parent` and executes it; throws a `ChainError` with the reason
   * if anything disagrees with the header (state root, receipts, bloom, gas, requests).
   */
  execute(block: Block, parent: BlockHeader): Promise<ExecutedBlock> {
    return this.lock.run(async () => {
      validateHeader(block.header, parent, this.config);
      if (!this.hasState(parent.stateRoot)) {
        throw new ChainError(
          ChainErrorCode.UNKNOWN_PARENT,
          `state of parent ${bytesToHex(parent.hash())} is not available`,
        );
      }
      const common = this.config.commonAt(block.header.number, block.header.timestamp);
      const sm = this.takeWarm(parent.stateRoot, common);
      const vm = await this.vmFor(common, sm, parent);
      let result: Awaited<ReturnType<typeof runBlock>>;
      try {
        result = await runBlock(vm, {
          block,
          root: parent.stateRoot,
          clearCache: false,
          skipHeaderValidation: true,
          skipHardForkValidation: true,
        });
      } catch (err) {
        const message = (err as Error).message ?? String(err);
        const code = /stateRoot|receiptTrie|receipts|bloom|gasUsed|requestsHash/i.test(message)
          ? ChainErrorCode.INVALID_EXECUTION
          : ChainErrorCode.INVALID_BODY;
        throw new ChainError(
          code,
          `invalid block ${block.header.number} ${bytesToHex(block.hash())}: ${message}`,
          {
            number: block.header.number,
          },
        );
      }
      this.warm = { root: block.header.stateRoot, sm };
      return {
        block,
        receipts: result.receipts.map(fromVmReceipt),
        senders: block.transactions.map((tx) => tx.getSenderAddress()),
        requests: result.requests,
      };
    });
  }

  /** Builds a block on `parent` from `txs`. The result is not stored; import it to keep it. */
  build(
    parent: BlockHeader,
    attrs: PayloadAttributes,
    txs: TxSource,
    opts: BuildOptions = {},
  ): Promise<BuiltBlock> {
    return this.lock.run(() => this.buildLocked(parent, attrs, txs, opts));
  }

  private async buildLocked(
    parent: BlockHeader,
    attrs: PayloadAttributes,
    txs: TxSource,
    opts: BuildOptions,
  ): Promise<BuiltBlock> {
    const started = performance.now();
    const number = parent.number + 1n;
    const common = this.config.commonAt(number, attrs.timestamp);
    if (!this.hasState(parent.stateRoot)) {
      throw new ChainError(
        ChainErrorCode.UNKNOWN_PARENT,
        `state of parent ${bytesToHex(parent.hash())} is not available`,
      );
    }
    const sm = this.takeWarm(parent.stateRoot, common);
    const vm = await this.vmFor(common, sm, parent);
    const gasLimit = opts.gasLimit ?? parent.gasLimit;
    const headerData = {
      parentHash: parent.hash(),
      number,
      timestamp: attrs.timestamp,
      gasLimit,
      coinbase: attrs.suggestedFeeRecipient,
      mixHash: attrs.prevRandao,
      difficulty: 0n,
      nonce: new Uint8Array(8),
      extraData: opts.extraData ?? new Uint8Array(0),
      baseFeePerGas: common.isActivatedEIP(1559) ? parent.calcNextBaseFee() : undefined,
      excessBlobGas: common.isActivatedEIP(4844) ? parent.calcNextExcessBlobGas(common) : undefined,
      blobGasUsed: common.isActivatedEIP(4844) ? 0n : undefined,
      parentBeaconBlockRoot: common.isActivatedEIP(4788)
        ? (attrs.parentBeaconBlockRoot ?? new Uint8Array(32))
        : undefined,
    };
    // Header-only block giving runTx its execution context (coinbase, base fee, randao, ...).
    const context = createBlock({ header: headerData }, { common, skipConsensusFormatValidation: true });

    await vm.evm.journal.checkpoint();
    const included: TypedTransaction[] = [];
    const senders: Address[] = [];
    const results: RunTxResult[] = [];
    const rejected: BuiltBlock["rejected"] = [];
    let gasUsed = 0n;
    let value = 0n;
    try {
      await applyPreBlockSystemWrites(vm, headerData);
      const deadline =
        opts.maxMillis === undefined ? Number.POSITIVE_INFINITY : performance.now() + opts.maxMillis;
      let sinceYield = 0;
      for (let next = txs.peek(); next !== undefined; next = txs.peek()) {
        if (gasLimit - gasUsed < TX_GAS) break;
        if (performance.now() > deadline) break;
        // runTx only awaits microtasks: without this, RPC requests would wait for the whole
        // block. Yielding every few transactions lets the node keep admitting transactions
        // (for the next block) while it builds this one.
        if (++sinceYield >= YIELD_EVERY_TXS) {
          sinceYield = 0;
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
        const { tx, sender } = next;
        if (tx.gasLimit > gasLimit - gasUsed) {
          txs.pop();
          continue;
        }
        let result: RunTxResult;
        try {
          result = await runTx(vm, {
            tx,
            block: context,
            blockGasUsed: gasUsed,
            skipHardForkValidation: true,
          });
        } catch (err) {
          rejected.push({ tx, sender, error: (err as Error).message ?? String(err) });
          txs.pop();
          continue;
        }
        gasUsed += result.totalGasSpent;
        value += result.minerValue;
        included.push(tx);
        senders.push(sender);
        results.push(result);
        txs.shift();
      }
      if (common.isActivatedEIP(4895)) await applyWithdrawals(vm, attrs.withdrawals ?? []);
      let requests: CLRequest<CLRequestType>[] | undefined;
      if (common.isActivatedEIP(7685)) {
        const logs: Log[] = [];
        for (const r of results) logs.push(...r.receipt.logs);
        const depositContract = this.config.genesis.config.depositContractAddress ?? "";
        requests = await accumulateRequests(vm, depositContract, logs);
      }
      const executed = performance.now();
      await vm.evm.journal.commit();
      const stateRoot = await sm.getStateRoot();
      const committed = performance.now();

      const receipts = results.map((r) => fromVmReceipt(r.receipt));
      const bloom = new Uint8Array(256);
      for (const r of receipts) logsBloom(r.logs, bloom);
      const receiptTrie = orderedTrieRoot(results.map((r, i) => encodeReceipt(r.receipt, included[i].type)));
      const block = createBlock(
        {
          header: {
            ...headerData,
            stateRoot,
            gasUsed,
            logsBloom: bloom,
            receiptTrie,
            transactionsTrie: transactionsRoot(included),
            withdrawalsRoot: common.isActivatedEIP(4895)
              ? orderedTrieRoot((attrs.withdrawals ?? []).map((w) => RLP.encode(createWithdrawal(w).raw())))
              : undefined,
            requestsHash: requests !== undefined ? genRequestsRoot(requests, sha256) : undefined,
          },
          transactions: [],
          withdrawals: common.isActivatedEIP(4895) ? (attrs.withdrawals ?? []) : undefined,
        },
        { common },
      );
      // Re-attach the already-signed transaction objects: createBlock would re-instantiate them
      // (and recover every sender again).
      const sealed = attachTransactions(block, included);
      this.warm = { root: stateRoot, sm };
      const timings = {
        execute: executed - started,
        commit: committed - executed,
        seal: performance.now() - committed,
      };
      return { block: sealed, receipts, senders, requests, value, rejected, timings };
    } catch (err) {
      await vm.evm.journal.revert().catch(() => {});
      throw err;
    }
  }
}

/** Seals `block` with already-signed transaction objects (keeps their cached senders and hashes). */
function attachTransactions(block: Block, txs: TypedTransaction[]): Block {
  return new Block(block.header, txs, [], block.withdrawals, { common: block.common });
}
