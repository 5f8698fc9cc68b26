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
  createAddressFromString,
  createWithdrawal,
  equalsBytes,
  KECCAK256_RLP,
  KECCAK256_RLP_ARRAY,
  ValueEncoding,
  type Withdrawal,
  type WithdrawalData,
} from "@ethereumjs/util";
import { encodeReceipt, type RunTxResult, runBlock, runTx, type VM } from "@ethereumjs/vm";
import { sha256 } from "ethereum-cryptography/sha256";
import { type AbiFunction, toFunctionSelector } from "viem";
import { ONE_OGPU, PROVIDER_REWARDS_RELEASE_SECONDS, TOKEN_TABLE } from "../../../genesis/token.ts";
import { SYSTEM_CONTRACT_ADDRESSES } from "../../../precompiles/addresses.ts";
import { TASK_MARKET_ABI } from "../../../precompiles/task-market/abi.ts";
import type { ChainConfig } from "../chain/config.ts";
import { fromVmReceipt, logsBloom, type StoredReceipt } from "../chain/receipts.ts";
import type { BlockStore } from "../chain/store.ts";
import { keccak256 } from "../crypto.ts";
import type { StateStore } from "../db/state-store.ts";
import { ChainError, ChainErrorCode } from "../errors.ts";
import { OverlayDB } from "../state/tries.ts";
import { unpackRevert } from "../tracing/call-tracer.ts";
import { orderedTrieRoot, transactionsRoot } from "../trie/index.ts";
import {
  accumulateRequests,
  applyPreBlockSystemWrites,
  applyWithdrawals,
  type WithdrawalFunding,
} from "./system.ts";
import { validateHeader } from "./validate.ts";
import { createChainVM } from "./vm.ts";

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

interface BodyRun {
  included: TypedTransaction[];
  senders: Address[];
  receipts: StoredReceipt[];
  requests?: CLRequest<CLRequestType>[];
  gasUsed: bigint;
  value: bigint;
  rejected: BuiltBlock["rejected"];
  stateRoot: Uint8Array;
  bloom: Uint8Array;
  receiptTrie: Uint8Array;
  executedAt: number;
}

/** A fixed list of transactions as a TxSource (import: all must apply, in order). */
function listSource(txs: readonly TypedTransaction[]): TxSource {
  let i = 0;
  return {
    peek: () => (i < txs.length ? { tx: txs[i], sender: txs[i].getSenderAddress() } : undefined),
    shift: () => {
      i++;
    },
    pop: () => {
      i++;
    },
  };
}
/** Transactions executed between yields to the event loop while building (~5-10 ms of work). */
const YIELD_EVERY_TXS = 32;

export class Executor {
  private readonly config: ChainConfig;
  private readonly store: BlockStore;
  private readonly state: StateStore;
  private readonly lock = new Mutex();
  private warm: { root: Uint8Array; sm: MerkleStateManager } | undefined;
  /** OpenGPU networks fund withdrawals from existing oGPU; Ethereum chains mint them. */
  private readonly funding: WithdrawalFunding | undefined;

  constructor(modules: ExecutorModules) {
    this.config = modules.config;
    this.store = modules.store;
    this.state = modules.state;
    this.funding = this.config.isOpenGpuNetwork
      ? {
          deposit: createAddressFromString(SYSTEM_CONTRACT_ADDRESSES.deposit),
          rewards: createAddressFromString(SYSTEM_CONTRACT_ADDRESSES.rewards),
          rewardsTotal: TOKEN_TABLE.providerRewards.amount * ONE_OGPU,
          releaseStart: BigInt(this.config.genesis.timestamp),
          releaseSeconds: PROVIDER_REWARDS_RELEASE_SECONDS,
        }
      : undefined;
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
    return createChainVM({
      common,
      stateManager: sm,
      blockchain,
      systemContracts: this.config.isOpenGpuNetwork,
    });
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
      if (this.config.isOpenGpuNetwork) {
        const executed = await this.executeOpenGpu(block, parent, common, sm, vm);
        this.warm = { root: block.header.stateRoot, sm };
        return executed;
      }
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
    const withdrawals = common.isActivatedEIP(4895)
      ? (attrs.withdrawals ?? []).map(createWithdrawal)
      : undefined;
    const run = await this.runBody(vm, sm, context, txs, withdrawals, {
      mode: "build",
      deadline: opts.maxMillis === undefined ? Number.POSITIVE_INFINITY : performance.now() + opts.maxMillis,
    });
    const committed = performance.now();
    const block = createBlock(
      {
        header: {
          ...headerData,
          stateRoot: run.stateRoot,
          gasUsed: run.gasUsed,
          logsBloom: run.bloom,
          receiptTrie: run.receiptTrie,
          transactionsTrie: transactionsRoot(run.included),
          withdrawalsRoot:
            withdrawals !== undefined
              ? orderedTrieRoot(withdrawals.map((w) => RLP.encode(w.raw())))
              : undefined,
          requestsHash: run.requests !== undefined ? genRequestsRoot(run.requests, sha256) : undefined,
        },
        transactions: [],
        withdrawals: withdrawals?.map((w) => w.toJSON()),
      },
      { common },
    );
    // Re-attach the already-signed transaction objects: createBlock would re-instantiate them
    // (and recover every sender again).
    const sealed = attachTransactions(block, run.included);
    this.warm = { root: run.stateRoot, sm };
    const timings = {
      execute: run.executedAt - started,
      commit: committed - run.executedAt,
      seal: performance.now() - committed,
    };
    return {
      block: sealed,
      receipts: run.receipts,
      senders: run.senders,
      requests: run.requests,
      value: run.value,
      rejected: run.rejected,
      timings,
    };
  }

  /**
   * The one execution path of OpenGPU blocks, shared by building and importing so they can
   * never disagree: pre-block system writes, transactions, withdrawals (funded, see
   * system.ts), EIP-7685 requests, one state commit. In `build` mode transactions that fail are
   * skipped and reported; in `import` mode any failure makes the block invalid.
   */
  private async runBody(
    vm: VM,
    sm: MerkleStateManager,
    context: Block,
    txs: TxSource | readonly TypedTransaction[],
    withdrawals: Withdrawal[] | undefined,
    opts: { mode: "build" | "import"; deadline: number },
  ): Promise<BodyRun> {
    const common = context.common;
    const header = context.header;
    const gasLimit = header.gasLimit;
    const included: TypedTransaction[] = [];
    const senders: Address[] = [];
    const results: RunTxResult[] = [];
    const rejected: BuiltBlock["rejected"] = [];
    let gasUsed = 0n;
    let value = 0n;
    const source: TxSource = Array.isArray(txs)
      ? listSource(txs as readonly TypedTransaction[])
      : (txs as TxSource);
    const importing = opts.mode === "import";
    const invalid = (why: string): never => {
      throw new ChainError(ChainErrorCode.INVALID_BODY, `invalid block ${header.number}: ${why}`, {
        number: header.number,
      });
    };
    await vm.evm.journal.checkpoint();
    try {
      await applyPreBlockSystemWrites(vm, header);
      let sinceYield = 0;
      for (let next = source.peek(); next !== undefined; next = source.peek()) {
        if (!importing) {
          if (gasLimit - gasUsed < TX_GAS) break;
          if (performance.now() > opts.deadline) break;
          // runTx only awaits microtasks: without this, RPC requests would wait for the whole
          // block. Yielding every few transactions lets the node keep admitting transactions
          // (for the next block) while it builds this one.
          if (++sinceYield >= YIELD_EVERY_TXS) {
            sinceYield = 0;
            await new Promise<void>((resolve) => setImmediate(resolve));
          }
        }
        const { tx, sender } = next;
        if (tx.gasLimit > gasLimit - gasUsed) {
          if (importing)
            invalid(
              `transaction ${included.length} gas limit ${tx.gasLimit} exceeds the block's remaining gas`,
            );
          source.pop();
          continue;
        }
        let result: RunTxResult;
        // A settlement that fails makes an imported block invalid; the builder leaves it out.
        const settlement = this.config.isOpenGpuNetwork && isSettlement(tx);
        if (settlement && !importing) await vm.evm.journal.checkpoint();
        try {
          result = await runTx(vm, {
            tx,
            block: context,
            blockGasUsed: gasUsed,
            skipHardForkValidation: true,
          });
          if (settlement && result.execResult.exceptionError !== undefined) {
            throw new Error(
              `settlement failed: ${unpackRevert(result.execResult.returnValue) ?? result.execResult.exceptionError.error}`,
            );
          }
          if (settlement && !importing) await vm.evm.journal.commit();
        } catch (err) {
          if (settlement && !importing) await vm.evm.journal.revert();
          const message = (err as Error).message ?? String(err);
          if (importing)
            invalid(
              `transaction ${included.length} ${bytesToHex(tx.hash())}: ${message.split(" (vm hf")[0]}`,
            );
          rejected.push({ tx, sender, error: message });
          source.pop();
          continue;
        }
        gasUsed += result.totalGasSpent;
        value += result.minerValue;
        included.push(tx);
        senders.push(sender);
        results.push(result);
        source.shift();
      }
      if (withdrawals !== undefined) await applyWithdrawals(vm, withdrawals, this.funding, header.timestamp);
      let requests: CLRequest<CLRequestType>[] | undefined;
      if (common.isActivatedEIP(7685)) {
        const logs: Log[] = [];
        for (const r of results) logs.push(...r.receipt.logs);
        const depositContract = this.config.genesis.config.depositContractAddress ?? "";
        requests = await accumulateRequests(vm, depositContract, logs);
      }
      const executedAt = performance.now();
      await vm.evm.journal.commit();
      const stateRoot = await sm.getStateRoot();
      const receipts = results.map((r) => fromVmReceipt(r.receipt));
      const bloom = new Uint8Array(256);
      for (const r of receipts) logsBloom(r.logs, bloom);
      const receiptTrie = orderedTrieRoot(results.map((r, i) => encodeReceipt(r.receipt, included[i].type)));
      return {
        included,
        senders,
        receipts,
        requests,
        gasUsed,
        value,
        rejected,
        stateRoot,
        bloom,
        receiptTrie,
        executedAt,
      };
    } catch (err) {
      await vm.evm.journal.revert().catch(() => {});
      throw err;
    }
  }

  /**
   * Imports an OpenGPU block through `runBody` (the builder's own path) and checks every
   * commitment of its header. Non-OpenGPU chains (imported Ethereum history) use ethereumjs'
   * runBlock instead, with Ethereum's rules.
   */
  private async executeOpenGpu(
    block: Block,
    parent: BlockHeader,
    common: Common,
    sm: MerkleStateManager,
    vm: VM,
  ): Promise<ExecutedBlock> {
    const h = block.header;
    const fail = (code: ChainErrorCode, why: string): never => {
      throw new ChainError(code, `invalid block ${h.number} ${bytesToHex(block.hash())}: ${why}`, {
        number: h.number,
      });
    };
    if (block.uncleHeaders.length > 0 || !equalsBytes(h.uncleHash, KECCAK256_RLP_ARRAY))
      fail(ChainErrorCode.INVALID_BODY, "uncles are not allowed");
    if (!equalsBytes(transactionsRoot(block.transactions), h.transactionsTrie))
      fail(ChainErrorCode.INVALID_BODY, "transactions trie root mismatch");
    const withdrawals = common.isActivatedEIP(4895) ? (block.withdrawals ?? []) : undefined;
    if (withdrawals !== undefined) {
      const root = orderedTrieRoot(withdrawals.map((w) => RLP.encode(w.raw())));
      if (h.withdrawalsRoot === undefined || !equalsBytes(root, h.withdrawalsRoot))
        fail(ChainErrorCode.INVALID_BODY, "withdrawals trie root mismatch");
    }
    for (const [i, tx] of block.transactions.entries()) {
      const errors = tx.getValidationErrors();
      if (errors.length > 0) fail(ChainErrorCode.INVALID_BODY, `transaction ${i}: ${errors.join("; ")}`);
    }
    void parent;
    const run = await this.runBody(vm, sm, block, block.transactions, withdrawals, {
      mode: "import",
      deadline: Number.POSITIVE_INFINITY,
    });
    const check = (what: string, ok: boolean, got: string, want: string) => {
      if (!ok) fail(ChainErrorCode.INVALID_EXECUTION, `${what} mismatch: got ${got}, header says ${want}`);
    };
    check("gas used", run.gasUsed === h.gasUsed, run.gasUsed.toString(), h.gasUsed.toString());
    check(
      "receipts root",
      equalsBytes(run.receiptTrie, h.receiptTrie),
      bytesToHex(run.receiptTrie),
      bytesToHex(h.receiptTrie),
    );
    check("logs bloom", equalsBytes(run.bloom, h.logsBloom), "bloom", "bloom");
    if (common.isActivatedEIP(7685)) {
      const requestsHash = genRequestsRoot(run.requests ?? [], sha256);
      check(
        "requests hash",
        h.requestsHash !== undefined && equalsBytes(requestsHash, h.requestsHash),
        bytesToHex(requestsHash),
        bytesToHex(h.requestsHash ?? new Uint8Array()),
      );
    }
    check(
      "state root",
      equalsBytes(run.stateRoot, h.stateRoot),
      bytesToHex(run.stateRoot),
      bytesToHex(h.stateRoot),
    );
    return { block, receipts: run.receipts, senders: run.senders, requests: run.requests };
  }
}

const SETTLE_SELECTOR = toFunctionSelector(
  TASK_MARKET_ABI.find((f) => f.type === "function" && f.name === "settle") as AbiFunction,
);
const TASK_MARKET_ADDRESS = createAddressFromString(SYSTEM_CONTRACT_ADDRESSES.taskMarket);

/**
 * A compute-task settlement: a transaction calling TaskMarket.settle. Block validity requires it
 * to succeed (docs/decisions/0011-compute-settlement.md).
 */
export function isSettlement(tx: TypedTransaction): boolean {
  return (
    tx.to?.equals(TASK_MARKET_ADDRESS) === true &&
    tx.data.length >= 4 &&
    bytesToHex(tx.data.subarray(0, 4)) === SETTLE_SELECTOR
  );
}

/** Seals `block` with already-signed transaction objects (keeps their cached senders and hashes). */
function attachTransactions(block: Block, txs: TypedTransaction[]): Block {
  return new Block(block.header, txs, [], block.withdrawals, { common: block.common });
}
