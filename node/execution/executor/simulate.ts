/**
 * The engine of eth_simulateV1, as geth runs it (internal/ethapi/simulate.go): a chain of
 * blocks simulated on top of a stored block, each call executed on the state the previous ones
 * left, each block sealed with its own state root, receipts and hash. Nothing is stored.
 *
 *   input blocks ─► sanitize (numbers and timestamps increase, gaps filled with empty blocks,
 *                   at most 256 blocks past the base)
 *   per block    ─► header fields (carried coinbase / gas limit, base fee, blob gas)
 *                ─► state overrides (and precompile moves) ─► EIP-4788/2935 system writes
 *                ─► calls (runTx with geth's checks; a log tracer on the EVM's message events
 *                   and interpreter hooks collects logs and, with traceTransfers, ERC-7528 ETH
 *                   transfer logs, without per-opcode tracing)
 *                ─► withdrawals, EIP-7685 requests ─► state root ─► sealed block
 *
 * State lives in one `MerkleStateManager` over a private overlay of the state store, so state
 * roots can be computed without a single trie node reaching the shared store.
 *
 * Checks as geth applies them: without `validation` nonces are not checked and calls without
 * fee fields pay nothing (the block's base fee defaults to zero); with it, nonces, base fees
 * (computed from the parent) and balances are enforced as for real blocks. Senders never need
 * to be EOAs (geth skips EIP-3607 here too).
 *
 * Known differences from geth: a sender with deployed (non-delegation) code runs as a bare
 * message call, as eth_call does on this node (no intrinsic gas, nonce unchanged), because
 * ethereumjs refuses such senders in a transaction; a call without fee fields under an
 * overridden base fee sees a zero BASEFEE (ethereumjs cannot run a zero-fee transaction under a
 * non-zero base fee); a CALL refused for want of balance yields no transfer log at all, where
 * geth captures and drops one (its later log indices skip a number).
 */
import { Block, type BlockHeader, createBlock, genRequestsRoot } from "@ethereumjs/block";
import type { Common } from "@ethereumjs/common";
import type { EVMResult, Log, Message } from "@ethereumjs/evm";
import { RLP } from "@ethereumjs/rlp";
import type { MerkleStateManager } from "@ethereumjs/statemanager";
import {
  createAccessList2930Tx,
  createEOACode7702Tx,
  createFeeMarket1559Tx,
  createLegacyTx,
  getCalldataFloorGas,
  type TypedTransaction,
} from "@ethereumjs/tx";
import {
  Address,
  bigIntToBytes,
  bytesToHex,
  createWithdrawal,
  createZeroAddress,
  equalsBytes,
  KECCAK256_NULL,
  setLengthLeft,
  toChecksumAddress,
  type WithdrawalData,
} from "@ethereumjs/util";
import { type RunTxResult, runTx, type VM } from "@ethereumjs/vm";
import { sha256 } from "ethereum-cryptography/sha256";
import { OpenGpuError } from "../../utils/errors.ts";
import type { Blockchain } from "../chain/blockchain.ts";
import { encodeConsensusReceipt, logsBloom, type StoredReceipt } from "../chain/receipts.ts";
import { keccak256 } from "../crypto.ts";
import { overlayState } from "../state/tries.ts";
import { gethError } from "../tracing/hooks.ts";
import { orderedTrieRoot, transactionsRoot } from "../trie/index.ts";
import { type AccountOverride, applyStateOverride, type BlockOverrides, type CallMessage } from "./call.ts";
import { ExecutionTimeoutError, withDeadline } from "./guard.ts";
import { setInterpreterHooks } from "./log-hooks.ts";
import { accumulateRequests, applyPreBlockSystemWrites, applyWithdrawals } from "./system.ts";
import { createChainVM } from "./vm.ts";

/** Most blocks one simulation may span past its base block (geth's maxSimulateBlocks). */
export const MAX_SIMULATED_BLOCKS = 256n;
/** Most calls in one simulated block (geth's maxSimulateCallsPerBlock). */
export const MAX_CALLS_PER_BLOCK = 5_000;
/** Most calls in one simulation (geth's maxSimulateTotalCalls). */
export const MAX_TOTAL_CALLS = 10_000;
/** Seconds between simulated blocks whose timestamp is not given (geth's timestampIncrement). */
export const TIMESTAMP_INCREMENT = 12n;

/** Why a simulation failed; the RPC layer maps each to the execution-apis error code. */
export const SimulationErrorCode = {
  /** Malformed request (empty input, priority fee above fee cap, ...): -32602. */
  INVALID_PARAMS: "SIM_INVALID_PARAMS",
  NONCE_TOO_LOW: "SIM_NONCE_TOO_LOW",
  NONCE_TOO_HIGH: "SIM_NONCE_TOO_HIGH",
  BASE_FEE_TOO_LOW: "SIM_BASE_FEE_TOO_LOW",
  INTRINSIC_GAS: "SIM_INTRINSIC_GAS",
  INSUFFICIENT_FUNDS: "SIM_INSUFFICIENT_FUNDS",
  BLOCK_GAS_LIMIT: "SIM_BLOCK_GAS_LIMIT",
  BLOCK_NUMBER_ORDER: "SIM_BLOCK_NUMBER_ORDER",
  BLOCK_TIMESTAMP_ORDER: "SIM_BLOCK_TIMESTAMP_ORDER",
  INIT_CODE_TOO_LARGE: "SIM_INIT_CODE_TOO_LARGE",
  CLIENT_LIMIT: "SIM_CLIENT_LIMIT",
  /** Any other transaction-level failure (geth's internal error for unmapped tx errors). */
  INVALID_TX: "SIM_INVALID_TX",
  /** Failures without a dedicated code (bad state override, gas cap exhausted, chain id). */
  OTHER: "SIM_OTHER",
} as const;
export type SimulationErrorCode = (typeof SimulationErrorCode)[keyof typeof SimulationErrorCode];

export class SimulationError extends OpenGpuError<SimulationErrorCode> {
  override name = "SimulationError";
}

/** eth_simulateV1's block overrides: the common ones plus fields only simulated blocks take. */
export interface SimBlockOverrides extends BlockOverrides {
  difficulty?: bigint;
  beaconRoot?: Uint8Array;
  withdrawals?: WithdrawalData[];
}

export interface SimCall extends CallMessage {
  chainId?: bigint;
}

export interface SimBlockInput {
  overrides?: SimBlockOverrides;
  /** Keyed by unprefixed lowercase hex address. */
  stateOverride?: Map<string, AccountOverride>;
  calls: SimCall[];
}

export interface SimOptions {
  traceTransfers: boolean;
  validation: boolean;
  /** Gas all calls of the simulation may use together (geth's RPC gas cap); 0 = unlimited. */
  gasCap: bigint;
  /** Wall-clock limit for the whole simulation, ms. */
  timeoutMs: number;
}

export interface SimLog {
  address: Uint8Array;
  topics: Uint8Array[];
  data: Uint8Array;
  /** Position in the block, counting every log emitted (geth's tracer counter). */
  index: number;
}

export type SimCallError = { kind: "revert"; data: Uint8Array } | { kind: "vm"; message: string };

export interface SimCallResult {
  /** Empty when the call failed (the revert data is in `error`). */
  returnData: Uint8Array;
  logs: SimLog[];
  gasUsed: bigint;
  /** Gas used before refunds (geth's MaxUsedGas). */
  maxUsedGas: bigint;
  status: 0 | 1;
  error?: SimCallError;
}

export interface SimBlockResult {
  block: Block;
  senders: Address[];
  calls: SimCallResult[];
}

/** ERC-7528: the address ETH transfer logs carry. */
export const TRANSFER_LOG_ADDRESS = new Uint8Array(20).fill(0xee);
/** keccak256("Transfer(address,address,uint256)") */
const TRANSFER_TOPIC = keccak256(new TextEncoder().encode("Transfer(address,address,uint256)"));
const ZERO_HASH = new Uint8Array(32);
const MAX_UINT64 = 2n ** 64n - 1n;

const fail = (code: SimulationErrorCode, message: string): never => {
  throw new SimulationError(code, message);
};

/** geth's Address.Hex(): EIP-55 checksummed. */
const checksum = (address: Address): string => toChecksumAddress(address.toString());

// --- chain sanitizing -------------------------------------------------------------------------

interface PlannedBlock {
  number: bigint;
  time: bigint;
  overrides: SimBlockOverrides;
  stateOverride?: Map<string, AccountOverride>;
  calls: SimCall[];
}

/**
 * geth's sanitizeChain: default numbers (+1) and timestamps (+12 s), both strictly increasing,
 * gaps in numbers filled with empty blocks, at most 256 blocks past the base.
 */
function sanitizeChain(base: BlockHeader, blocks: readonly SimBlockInput[]): PlannedBlock[] {
  const out: PlannedBlock[] = [];
  let prevNumber = base.number;
  let prevTime = base.timestamp;
  for (const block of blocks) {
    const overrides = block.overrides ?? {};
    const number = overrides.number ?? prevNumber + 1n;
    if (number <= prevNumber) {
      fail(
        SimulationErrorCode.BLOCK_NUMBER_ORDER,
        `block numbers must be in order: ${number} <= ${prevNumber}`,
      );
    }
    if (number - base.number > MAX_SIMULATED_BLOCKS)
      fail(SimulationErrorCode.CLIENT_LIMIT, "too many blocks");
    for (let gap = prevNumber + 1n; gap < number; gap++) {
      prevTime += TIMESTAMP_INCREMENT;
      out.push({ number: gap, time: prevTime, overrides: {}, calls: [] });
    }
    prevNumber = number;
    let time: bigint;
    if (overrides.time === undefined) {
      time = prevTime + TIMESTAMP_INCREMENT;
    } else {
      time = overrides.time;
      if (time <= prevTime) {
        fail(
          SimulationErrorCode.BLOCK_TIMESTAMP_ORDER,
          `block timestamps must be in order: ${time} <= ${prevTime}`,
        );
      }
    }
    prevTime = time;
    out.push({ number, time, overrides, stateOverride: block.stateOverride, calls: block.calls });
  }
  return out;
}

// --- the log tracer ---------------------------------------------------------------------------

interface TracedFrame {
  logs: SimLog[];
  /** The transfer log of a value-carrying creation, whose recipient is known only at its end. */
  creation?: SimLog;
}

/** geth's name for an opcode that does not exist ("INVALID" is the designated 0xfe). */
const undefinedOpName = (op: number): string =>
  op === 0xfe ? "INVALID" : `opcode 0x${op.toString(16)} not defined`;

/**
 * geth's simulation tracer (internal/ethapi/logtracer.go): logs per open call frame, dropped
 * with a failing frame; with `traceTransfers`, every value transfer (transaction value, CALL
 * value, SELFDESTRUCT balance; not DELEGATECALL/CALLCODE) becomes an ERC-7528 Transfer log at
 * the point it happens. Indices count every log captured in the block, including dropped ones,
 * as geth's do.
 *
 * Frames come from the EVM's message events and logs from the interpreter hooks (log-hooks.ts):
 * no per-opcode `step` listener, so tracing costs next to nothing.
 */
class SimulationTracer {
  private readonly traceTransfers: boolean;
  private frames: TracedFrame[] = [];
  private count = 0;
  private txLogs: SimLog[] = [];
  /** The error of the transaction's own frame, in geth's words. */
  topError: string | undefined;

  constructor(traceTransfers: boolean) {
    this.traceTransfers = traceTransfers;
  }

  /** Subscribes to `vm`'s EVM; returns the function that unsubscribes. */
  attach(vm: VM): () => void {
    const { evm } = vm;
    const events = evm.events;
    if (events === undefined) throw new Error("EVM does not emit events");
    const enter = (message: Message) => this.enter(message);
    const exit = (result: EVMResult) => this.exit(result);
    events.on("beforeMessage", enter);
    events.on("afterMessage", exit);
    setInterpreterHooks(evm, {
      onLog: (address, topics, data) => {
        this.capture(address, topics, data);
      },
      onSelfDestruct: (contract, beneficiary, value) => {
        if (this.traceTransfers && value > 0n) this.transfer(contract.bytes, beneficiary.bytes, value);
      },
    });
    return () => {
      events.off("beforeMessage", enter);
      events.off("afterMessage", exit);
      setInterpreterHooks(evm, undefined);
    };
  }

  /** Starts the next transaction of the block. */
  reset(): void {
    this.frames = [];
    this.txLogs = [];
    this.topError = undefined;
  }

  /** The transaction's logs (none if it failed). */
  logs(): SimLog[] {
    return this.txLogs;
  }

  private enter(message: Message): void {
    const frame: TracedFrame = { logs: [] };
    this.frames.push(frame);
    if (!this.traceTransfers || message.value === 0n || message.delegatecall) return;
    const to = message.to;
    // CALLCODE runs another account's code with the value staying with the caller.
    if (to !== undefined && !message.codeAddress.equals(to)) return;
    const log = this.transfer(message.caller.bytes, to?.bytes ?? new Uint8Array(20), message.value);
    if (to === undefined) frame.creation = log;
  }

  private exit(result: EVMResult): void {
    const frame = this.frames.pop();
    if (frame === undefined) return;
    const ex = result.execResult;
    const error = ex.exceptionError?.error;
    if (frame.creation !== undefined && result.createdAddress !== undefined) {
      frame.creation.topics[2] = word(result.createdAddress.bytes);
    }
    const parent = this.frames[this.frames.length - 1];
    if (parent !== undefined) {
      if (error === undefined) parent.logs.push(...frame.logs);
      return;
    }
    this.txLogs = error === undefined ? frame.logs : [];
    if (error !== undefined) {
      // The failing opcode and stack depth give geth's wording ("stack underflow (0 <=> 2)").
      const run = ex.runState;
      const op = run?.opCode ?? 0xfe;
      this.topError = gethError(error, { op, opName: undefinedOpName(op), stackLen: run?.stack.length ?? 0 });
    }
  }

  private transfer(from: Uint8Array, to: Uint8Array, value: bigint): SimLog {
    return this.capture(TRANSFER_LOG_ADDRESS, [TRANSFER_TOPIC, word(from), word(to)], word(value));
  }

  private capture(address: Uint8Array, topics: Uint8Array[], data: Uint8Array): SimLog {
    const log: SimLog = { address, topics, data, index: this.count };
    this.frames[this.frames.length - 1]?.logs.push(log);
    this.count++;
    return log;
  }
}

function word(value: Uint8Array | bigint): Uint8Array {
  return setLengthLeft(typeof value === "bigint" ? bigIntToBytes(value) : value, 32);
}

// --- calls ------------------------------------------------------------------------------------

/** A call turned into the transaction geth builds for it (TransactionArgs.ToTransaction). */
interface PreparedCall {
  from: Address;
  /** The transaction as it appears in the block (unsigned; hash patched in). */
  tx: TypedTransaction;
  /** The transaction that runs: differs only where geth executes fields its tx type drops. */
  exec: TypedTransaction;
  /** Fee cap and tip of the message (both the gas price for legacy pricing). */
  feeCap: bigint;
  tip: bigint;
  gas: bigint;
  gasCapped: boolean;
}

type TxFields = Parameters<typeof createFeeMarket1559Tx>[0];

/** Gives an unsigned transaction the hash geth gives it (keccak of the encoding, v = r = s = 0). */
function sealUnsigned(tx: TypedTransaction, from: Address): TypedTransaction {
  const hash = keccak256(tx.serialize());
  return Object.assign(tx, { hash: () => hash, getSenderAddress: () => from });
}

/** The gas budget shared by all calls of a simulation (geth's gasBudget). */
class GasBudget {
  private remaining: bigint;
  constructor(cap: bigint) {
    this.remaining = cap === 0n ? MAX_UINT64 : cap;
  }
  cap(gas: bigint): bigint {
    return gas > this.remaining ? this.remaining : gas;
  }
  consume(amount: bigint): void {
    if (amount > this.remaining) {
      fail(SimulationErrorCode.OTHER, `RPC gas cap exhausted: need ${amount}, remaining ${this.remaining}`);
    }
    this.remaining -= amount;
  }
}

// --- the simulation ---------------------------------------------------------------------------

interface BlockContext {
  common: Common;
  /** Header fields known before execution. */
  fields: {
    parentHash: Uint8Array;
    number: bigint;
    timestamp: bigint;
    gasLimit: bigint;
    coinbase: Address;
    mixHash: Uint8Array;
    difficulty: bigint;
    nonce: Uint8Array;
    baseFeePerGas?: bigint;
    excessBlobGas?: bigint;
    blobGasUsed?: bigint;
    parentBeaconBlockRoot?: Uint8Array;
  };
  withdrawals: WithdrawalData[];
  blobBaseFee?: bigint;
}

class Simulation {
  private readonly chain: Blockchain;
  private readonly base: BlockHeader;
  private readonly opts: SimOptions;
  private readonly sm: MerkleStateManager;
  private readonly budget: GasBudget;
  private readonly deadline: number;
  /** Sealed simulated headers, for BLOCKHASH. */
  private readonly sealed: BlockHeader[] = [];

  constructor(chain: Blockchain, base: BlockHeader, opts: SimOptions) {
    this.chain = chain;
    this.base = base;
    this.opts = opts;
    const common = chain.config.commonAt(base.number, base.timestamp);
    this.sm = overlayState(chain.db.state, base.stateRoot, common);
    this.budget = new GasBudget(opts.gasCap);
    this.deadline = Date.now() + opts.timeoutMs;
  }

  async run(blocks: readonly SimBlockInput[]): Promise<SimBlockResult[]> {
    const planned = sanitizeChain(this.base, blocks);
    // Coinbase and gas limit carry over from block to block (overrides included), as in geth.
    let coinbase = this.base.coinbase;
    let gasLimit = this.base.gasLimit;
    let difficulty = this.base.difficulty;
    let parent = this.base;
    const results: SimBlockResult[] = [];
    for (const block of planned) {
      const o = block.overrides;
      coinbase = o.feeRecipient !== undefined ? new Address(o.feeRecipient) : coinbase;
      gasLimit = o.gasLimit ?? gasLimit;
      difficulty =
        o.difficulty ?? (this.chain.config.isPostMerge(block.number, block.time) ? 0n : difficulty);
      const context = this.context(block, parent, { coinbase, gasLimit, difficulty });
      const result = await this.processBlock(block, context);
      results.push(result);
      this.sealed.push(result.block.header);
      parent = result.block.header;
    }
    return results;
  }

  private context(
    block: PlannedBlock,
    parent: BlockHeader,
    carried: { coinbase: Address; gasLimit: bigint; difficulty: bigint },
  ): BlockContext {
    const o = block.overrides;
    const common = this.chain.config.commonAt(block.number, block.time);
    let baseFeePerGas: bigint | undefined;
    if (common.isActivatedEIP(1559)) {
      baseFeePerGas = o.baseFeePerGas ?? (this.opts.validation ? parent.calcNextBaseFee() : 0n);
    }
    let excessBlobGas: bigint | undefined;
    if (common.isActivatedEIP(4844)) {
      excessBlobGas = parent.common.isActivatedEIP(4844) ? parent.calcNextExcessBlobGas(common) : 0n;
    }
    return {
      common,
      fields: {
        parentHash: parent.hash(),
        number: block.number,
        timestamp: block.time,
        gasLimit: carried.gasLimit,
        coinbase: carried.coinbase,
        mixHash: o.prevRandao ?? ZERO_HASH,
        difficulty: carried.difficulty,
        nonce: new Uint8Array(8),
        baseFeePerGas,
        excessBlobGas,
        blobGasUsed: common.isActivatedEIP(4844) ? 0n : undefined,
        parentBeaconBlockRoot: common.isActivatedEIP(4788) ? (o.beaconRoot ?? ZERO_HASH) : undefined,
      },
      withdrawals: o.withdrawals ?? [],
      blobBaseFee: o.blobBaseFee,
    };
  }

  /** The block the EVM sees: `free` gives calls without fee fields a zero base fee. */
  private executionBlock(ctx: BlockContext, free: boolean): Block {
    const block = createBlock(
      { header: { ...ctx.fields, baseFeePerGas: free ? 0n : ctx.fields.baseFeePerGas } },
      { common: ctx.common, skipConsensusFormatValidation: true, freeze: false },
    );
    const blobBaseFee = ctx.blobBaseFee;
    if (blobBaseFee !== undefined) Object.assign(block.header, { getBlobGasPrice: () => blobBaseFee });
    return block;
  }

  /** A VM over the simulation state whose BLOCKHASH sees the stored chain and the simulated blocks. */
  private async vm(common: Common): Promise<VM> {
    const { base, sealed, chain } = this;
    const hashOf = (n: bigint): Uint8Array => {
      if (n > base.number) return sealed.find((h) => h.number === n)?.hash() ?? ZERO_HASH;
      return chain.store.ancestorHash(base, n) ?? ZERO_HASH;
    };
    const blockchain = {
      async getBlock(n: number) {
        const hash = hashOf(BigInt(n));
        return { hash: () => hash };
      },
      async putBlock() {},
      shallowCopy() {
        return blockchain;
      },
    };
    return createChainVM({
      common,
      stateManager: this.sm,
      blockchain,
      systemContracts: this.chain.config.isOpenGpuNetwork,
    });
  }

  private async processBlock(block: PlannedBlock, ctx: BlockContext): Promise<SimBlockResult> {
    const { common } = ctx;
    const vm = await this.vm(common);
    if (block.stateOverride !== undefined) await this.applyOverrides(vm, block.stateOverride);
    await applyPreBlockSystemWrites(vm, ctx.fields);

    const paying = this.executionBlock(ctx, false);
    let free: Block | undefined;
    const tracer = new SimulationTracer(this.opts.traceTransfers);
    const detach = tracer.attach(vm);
    const txs: TypedTransaction[] = [];
    const senders: Address[] = [];
    const receipts: StoredReceipt[] = [];
    const calls: SimCallResult[] = [];
    const kept: Log[] = [];
    let gasUsed = 0n;
    try {
      for (const call of block.calls) {
        if (Date.now() > this.deadline) throw new ExecutionTimeoutError(this.opts.timeoutMs);
        const prepared = await this.prepare(call, ctx, gasUsed);
        txs.push(prepared.tx);
        senders.push(prepared.from);
        tracer.reset();
        await this.check(prepared, ctx);
        const zeroFee = prepared.feeCap === 0n && prepared.tip === 0n && !this.opts.validation;
        let context = paying;
        if (zeroFee && (ctx.fields.baseFeePerGas ?? 0n) !== 0n) {
          free ??= this.executionBlock(ctx, true);
          context = free;
        }
        const outcome = await this.execute(vm, prepared, context, gasUsed);
        gasUsed += outcome.gasUsed;
        this.budget.consume(outcome.gasUsed);
        const raw = outcome.error;
        receipts.push({ status: raw === undefined ? 1 : 0, cumulativeGasUsed: gasUsed, logs: outcome.logs });
        if (raw === undefined) kept.push(...outcome.logs);
        let error: SimCallError | undefined;
        if (raw === "revert") error = { kind: "revert", data: outcome.returnValue };
        else if (raw !== undefined) {
          const message = tracer.topError ?? raw;
          error = {
            kind: "vm",
            message: prepared.gasCapped
              ? `${message} (gas limit was capped by the RPC server's global gas cap)`
              : message,
          };
        }
        calls.push({
          returnData: raw === undefined ? outcome.returnValue : new Uint8Array(0),
          logs: tracer.logs(),
          gasUsed: outcome.gasUsed,
          maxUsedGas: outcome.maxUsedGas,
          status: raw === undefined ? 1 : 0,
          error,
        });
      }
    } catch (err) {
      if (err instanceof ExecutionTimeoutError) fail(SimulationErrorCode.INVALID_TX, err.message);
      throw err;
    } finally {
      detach();
    }

    if (common.isActivatedEIP(4895)) await applyWithdrawals(vm, ctx.withdrawals);
    const requests = common.isActivatedEIP(7685)
      ? await accumulateRequests(vm, this.chain.config.genesis.config.depositContractAddress ?? "", kept)
      : undefined;
    const stateRoot = await this.sm.getStateRoot();
    const bloom = new Uint8Array(256);
    for (const receipt of receipts) logsBloom(receipt.logs, bloom);
    const sealedHeader = createBlock(
      {
        header: {
          ...ctx.fields,
          stateRoot,
          gasUsed,
          logsBloom: bloom,
          receiptTrie: orderedTrieRoot(receipts.map((r, i) => encodeConsensusReceipt(r, txs[i].type))),
          transactionsTrie: transactionsRoot(txs),
          withdrawalsRoot: common.isActivatedEIP(4895)
            ? orderedTrieRoot(ctx.withdrawals.map((w) => RLP.encode(createWithdrawal(w).raw())))
            : undefined,
          requestsHash: requests !== undefined ? genRequestsRoot(requests, sha256) : undefined,
        },
        withdrawals: common.isActivatedEIP(4895) ? ctx.withdrawals : undefined,
      },
      { common, skipConsensusFormatValidation: true },
    );
    // The block carries the unsigned transaction objects as built (their hashes patched in).
    const sealed = new Block(sealedHeader.header, txs, [], sealedHeader.withdrawals, { common });
    return { block: sealed, senders, calls };
  }

  /** geth's StateOverride.Apply: precompile moves and removals, then the account changes. */
  private async applyOverrides(vm: VM, overrides: Map<string, AccountOverride>): Promise<void> {
    const precompiles = vm.evm.precompiles;
    // The transaction warms the fork's precompile addresses whatever moved (geth's Prepare).
    const active = [...precompiles.entries()];
    const moved = new Set<string>();
    let changed = false;
    for (const key of [...overrides.keys()].sort()) {
      const override = overrides.get(key) ?? {};
      const address = new Address(Buffer.from(key, "hex"));
      if (moved.has(key)) {
        fail(
          SimulationErrorCode.OTHER,
          `account ${checksum(address)} has already been overridden by a precompile`,
        );
      }
      const precompile = precompiles.get(key);
      const target = override.movePrecompileToAddress;
      if (target !== undefined) {
        if (precompile === undefined)
          fail(SimulationErrorCode.OTHER, `account ${checksum(address)} is not a precompile`);
        const targetKey = bytesToHex(target).slice(2);
        if (overrides.has(targetKey)) {
          fail(SimulationErrorCode.OTHER, `account ${checksum(new Address(target))} is already overridden`);
        }
        if (precompile !== undefined) precompiles.set(targetKey, precompile);
        moved.add(targetKey);
        changed = true;
      }
      if (precompile !== undefined) {
        precompiles.delete(key);
        changed = true;
      }
    }
    if (changed) Object.defineProperty(precompiles, "entries", { value: () => active[Symbol.iterator]() });
    await applyStateOverride(this.sm, overrides);
  }

  /** geth's sanitizeCall + CallDefaults + ToTransaction. */
  private async prepare(call: SimCall, ctx: BlockContext, gasUsed: bigint): Promise<PreparedCall> {
    const from = call.from ?? createZeroAddress();
    const nonce = call.nonce ?? (await this.sm.getAccount(from))?.nonce ?? 0n;
    const remaining = ctx.fields.gasLimit - gasUsed;
    const requested = call.gas ?? remaining;
    if (remaining < requested) {
      fail(
        SimulationErrorCode.BLOCK_GAS_LIMIT,
        `block gas limit reached: remaining: ${remaining}, required: ${requested}`,
      );
    }
    const gas = this.budget.cap(requested);
    const chainId = this.chain.config.chainId;
    if (call.chainId !== undefined && call.chainId !== chainId) {
      fail(
        SimulationErrorCode.OTHER,
        `chainId does not match node's (have=${call.chainId}, want=${chainId})`,
      );
    }
    const base: TxFields = {
      nonce,
      gasLimit: gas,
      to: call.to,
      value: call.value ?? 0n,
      data: call.data ?? new Uint8Array(0),
      chainId,
    };
    const accessList = (call.accessList ?? []).map((e) => ({
      address: bytesToHex(e.address),
      storageKeys: e.storageKeys.map((k) => bytesToHex(k)),
    }));
    const authorizationList = call.authorizationList?.map((a) => ({
      chainId: bytesToHex(bigIntToBytes(a.chainId)),
      address: bytesToHex(a.address),
      nonce: bytesToHex(bigIntToBytes(a.nonce)),
      yParity: bytesToHex(bigIntToBytes(a.yParity)),
      r: bytesToHex(bigIntToBytes(a.r)),
      s: bytesToHex(bigIntToBytes(a.s)),
    }));
    // Under EIP-7825 the transaction object would refuse gas above 2^24; geth skips that check
    // for simulated calls, so the objects are built with the last rules without the cap.
    const common = ctx.common.isActivatedEIP(7825) ? this.chain.config.commonFor("prague") : ctx.common;
    const opts = { common, freeze: false };
    const feeCap = call.gasPrice ?? call.maxFeePerGas ?? 0n;
    const tip = call.gasPrice ?? call.maxPriorityFeePerGas ?? 0n;
    const with7702 = (maxFeePerGas: bigint, maxPriorityFeePerGas: bigint) =>
      createEOACode7702Tx(
        {
          ...base,
          maxFeePerGas,
          maxPriorityFeePerGas,
          accessList,
          authorizationList: authorizationList ?? [],
        },
        opts,
      );

    let tx: TypedTransaction;
    let exec: TypedTransaction;
    if (call.gasPrice !== undefined) {
      // geth: a gas price makes a legacy transaction, but the message still carries the
      // access list and authorizations.
      tx = createLegacyTx({ ...base, gasPrice: call.gasPrice }, opts);
      if (authorizationList !== undefined) exec = with7702(call.gasPrice, call.gasPrice);
      else if (accessList.length > 0)
        exec = createAccessList2930Tx({ ...base, gasPrice: call.gasPrice, accessList }, opts);
      else exec = tx;
    } else if (authorizationList !== undefined) {
      if (call.to === undefined) {
        fail(
          SimulationErrorCode.INVALID_TX,
          `EIP-7702 transaction cannot be used to create contract (sender ${checksum(from)})`,
        );
      }
      if (authorizationList.length === 0) {
        fail(
          SimulationErrorCode.INVALID_TX,
          `EIP-7702 transaction with empty auth list (sender ${checksum(from)})`,
        );
      }
      tx = with7702(feeCap, tip);
      exec = tx;
    } else {
      tx = createFeeMarket1559Tx(
        { ...base, maxFeePerGas: feeCap, maxPriorityFeePerGas: tip, accessList },
        opts,
      );
      exec = tx;
    }
    sealUnsigned(tx, from);
    if (exec !== tx) sealUnsigned(exec, from);
    return { from, tx, exec, feeCap, tip, gas, gasCapped: gas < requested };
  }

  /** geth's preCheck, buyGas and intrinsic gas checks, in its order and words. */
  private async check(call: PreparedCall, ctx: BlockContext): Promise<void> {
    const { from, exec, feeCap, tip, gas } = call;
    const account = await this.sm.getAccount(from);
    if (this.opts.validation) {
      const state = account?.nonce ?? 0n;
      const nonce = exec.nonce;
      if (state < nonce) {
        fail(
          SimulationErrorCode.NONCE_TOO_HIGH,
          `nonce too high: address ${checksum(from)}, tx: ${nonce} state: ${state}`,
        );
      }
      if (state > nonce) {
        fail(
          SimulationErrorCode.NONCE_TOO_LOW,
          `nonce too low: address ${checksum(from)}, tx: ${nonce} state: ${state}`,
        );
      }
    }
    const baseFee = ctx.fields.baseFeePerGas;
    const skipFeeCheck = !this.opts.validation && feeCap === 0n && tip === 0n;
    if (baseFee !== undefined && !skipFeeCheck) {
      if (feeCap < tip) {
        fail(
          SimulationErrorCode.INVALID_PARAMS,
          `max priority fee per gas higher than max fee per gas: address ${checksum(from)}, maxPriorityFeePerGas: ${tip}, maxFeePerGas: ${feeCap}`,
        );
      }
      if (feeCap < baseFee) {
        fail(
          SimulationErrorCode.BASE_FEE_TOO_LOW,
          `max fee per gas less than block base fee: address ${checksum(from)}, maxFeePerGas: ${feeCap}, baseFee: ${baseFee}`,
        );
      }
    }
    if (exec.to === undefined) {
      const limit = BigInt(ctx.common.param("maxInitCodeSize"));
      if (ctx.common.isActivatedEIP(3860) && BigInt(exec.data.length) > limit) {
        fail(
          SimulationErrorCode.INIT_CODE_TOO_LARGE,
          `max initcode size exceeded: code size ${exec.data.length}, limit ${limit}`,
        );
      }
    }
    const balance = account?.balance ?? 0n;
    const want = gas * feeCap + exec.value;
    if (balance < want) {
      fail(
        SimulationErrorCode.INSUFFICIENT_FUNDS,
        `insufficient funds for gas * price + value: address ${checksum(from)} have ${balance} want ${want}`,
      );
    }
    const intrinsic = exec.getIntrinsicGas();
    if (gas < intrinsic)
      fail(SimulationErrorCode.INTRINSIC_GAS, `intrinsic gas too low: have ${gas}, want ${intrinsic}`);
    const floor = getCalldataFloorGas(exec, from);
    if (gas < floor) {
      fail(
        SimulationErrorCode.INVALID_TX,
        `insufficient gas for floor data gas cost: have ${gas}, want ${floor}`,
      );
    }
  }

  /** Runs one prepared call in the block's VM. */
  private async execute(
    vm: VM,
    call: PreparedCall,
    block: Block,
    gasUsed: bigint,
  ): Promise<{ gasUsed: bigint; maxUsedGas: bigint; returnValue: Uint8Array; error?: string; logs: Log[] }> {
    const { from, exec } = call;
    const account = await this.sm.getAccount(from);
    const hasCode = account !== undefined && !equalsBytes(account.codeHash, KECCAK256_NULL);
    const delegated = hasCode && isDelegation(await this.sm.getCode(from));
    const timeoutMs = Math.max(1, this.deadline - Date.now());
    return withDeadline(vm.evm, timeoutMs, async () => {
      if (hasCode && !delegated) {
        // ethereumjs refuses senders with code (EIP-3607): run the bare message call.
        const result = await vm.evm.runCall({
          caller: from,
          origin: from,
          to: exec.to,
          value: exec.value,
          data: exec.data,
          gasLimit: call.gas,
          gasPrice: call.tip,
          block,
        });
        const ex = result.execResult;
        return {
          gasUsed: ex.executionGasUsed,
          maxUsedGas: ex.executionGasUsed,
          returnValue: ex.returnValue,
          error: ex.exceptionError?.error,
          logs: ex.logs ?? [],
        };
      }
      let result: RunTxResult;
      try {
        result = await runTx(vm, {
          tx: exec,
          block,
          blockGasUsed: gasUsed,
          skipNonce: true,
          skipBlockGasLimitValidation: true,
          skipHardForkValidation: true,
        });
      } catch (err) {
        if (err instanceof ExecutionTimeoutError || err instanceof SimulationError) throw err;
        const message = (err as Error).message ?? String(err);
        throw new SimulationError(
          SimulationErrorCode.INVALID_TX,
          message.replace(/ -> block number=.*$/s, "").replace(/ \(block number.*$/s, ""),
        );
      }
      const ex = result.execResult;
      const beforeRefund = exec.getIntrinsicGas() + ex.executionGasUsed;
      return {
        gasUsed: result.totalGasSpent,
        maxUsedGas: beforeRefund > result.totalGasSpent ? beforeRefund : result.totalGasSpent,
        returnValue: ex.returnValue,
        error: ex.exceptionError?.error,
        logs: result.receipt.logs,
      };
    });
  }
}

function isDelegation(code: Uint8Array): boolean {
  return code.length === 23 && code[0] === 0xef && code[1] === 0x01 && code[2] === 0x00;
}

/**
 * Simulates `blocks` on top of `base` (whose state must be available) and returns the sealed
 * blocks with their call results. Throws `SimulationError` for anything geth rejects.
 */
export async function simulate(
  chain: Blockchain,
  base: BlockHeader,
  blocks: readonly SimBlockInput[],
  opts: SimOptions,
): Promise<SimBlockResult[]> {
  if (blocks.length === 0) fail(SimulationErrorCode.INVALID_PARAMS, "empty input");
  if (BigInt(blocks.length) > MAX_SIMULATED_BLOCKS) fail(SimulationErrorCode.CLIENT_LIMIT, "too many blocks");
  let total = 0;
  for (const block of blocks) {
    if (block.calls.length > MAX_CALLS_PER_BLOCK) {
      fail(
        SimulationErrorCode.CLIENT_LIMIT,
        `too many calls in block: ${block.calls.length} > ${MAX_CALLS_PER_BLOCK}`,
      );
    }
    total += block.calls.length;
    if (total > MAX_TOTAL_CALLS)
      fail(SimulationErrorCode.CLIENT_LIMIT, `too many calls: ${total} > ${MAX_TOTAL_CALLS}`);
  }
  return new Simulation(chain, base, opts).run(blocks);
}
