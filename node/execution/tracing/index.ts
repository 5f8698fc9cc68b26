/**
 * Transaction tracing (debug_traceTransaction, debug_traceBlock*, debug_traceCall): the tracers
 * geth serves, by name, and the runners that execute a stored transaction, every transaction of
 * a block, or a call with a tracer attached.
 *
 *   stored tx ─► replayBlock (parent state, system writes, earlier txs) ─┐
 *   block     ─► replayBlock (parent state, system writes) ─ each tx ───┼─► runTx + tracer ─► JSON
 *   call      ─► executeCall (state after the block, overrides) ────────┘
 *
 * Tracers (one file each): the struct logger (default), `callTracer`, `prestateTracer`; they
 * are written against geth's hooks, which hooks.ts derives from the EVM's events. Each traced
 * transaction runs under the trace timeout (geth's default: 5 s).
 */
import type { Block } from "@ethereumjs/block";
import type { MerkleStateManager } from "@ethereumjs/statemanager";
import type { TypedTransaction } from "@ethereumjs/tx";
import {
  Address,
  bigIntToUnpaddedBytes,
  bytesToHex,
  type EOACode7702AuthorizationListBytesItem,
  eoaCode7702RecoverAuthority,
} from "@ethereumjs/util";
import { type RunTxResult, runTx, type VM } from "@ethereumjs/vm";
import type { Blockchain } from "../chain/blockchain.ts";
import { type CallEnv, CallError, type CallMessage, executeCall, replayBlock } from "../executor/call.ts";
import { ExecutionTimeoutError, withDeadline } from "../executor/guard.ts";
import { CallTracer, decodeCallTracerConfig } from "./call-tracer.ts";
import { TraceError, TraceErrorCode } from "./errors.ts";
import {
  type AttachedTracer,
  attachTracer,
  createAddress,
  stateReader,
  type TraceJson,
  type Tracer,
} from "./hooks.ts";
import { decodePrestateTracerConfig, PrestateTracer } from "./prestate-tracer.ts";
import { DEFAULT_STRUCT_LOGGER_CONFIG, StructLogger, type StructLoggerConfig } from "./struct-logger.ts";

export { TraceError, TraceErrorCode } from "./errors.ts";
export type { TraceJson, Tracer } from "./hooks.ts";
export type { StructLoggerConfig } from "./struct-logger.ts";

/** geth's default limit on tracing one transaction. */
export const DEFAULT_TRACE_TIMEOUT_MS = 5_000;

export interface TraceOptions {
  /** A registered tracer's name; absent for the struct logger. */
  tracer?: string;
  /** The tracer's own configuration object (geth's `tracerConfig`). */
  tracerConfig?: unknown;
  /** Struct logger options (top-level fields of geth's trace config). */
  logger?: StructLoggerConfig;
  timeoutMs: number;
}

const TRACERS: Record<string, (config: unknown) => Tracer> = {
  callTracer: (config) => new CallTracer(decodeCallTracerConfig(config)),
  prestateTracer: (config) => new PrestateTracer(decodePrestateTracerConfig(config)),
};

/** A fresh tracer for one transaction; throws `tracer not found` for unknown names. */
export function createTracer(opts: TraceOptions): Tracer {
  if (opts.tracer === undefined || opts.tracer === "") {
    return new StructLogger(opts.logger ?? DEFAULT_STRUCT_LOGGER_CONFIG);
  }
  const make = Object.hasOwn(TRACERS, opts.tracer) ? TRACERS[opts.tracer] : undefined;
  if (make === undefined) throw new TraceError(TraceErrorCode.TRACER_NOT_FOUND, "tracer not found");
  return make(opts.tracerConfig);
}

export interface TxTraceResult {
  txHash: Uint8Array;
  result: TraceJson;
}

/** Traces a transaction stored in the chain (debug_traceTransaction). */
export async function traceTransaction(
  chain: Blockchain,
  txHash: Uint8Array,
  opts: TraceOptions,
): Promise<TraceJson> {
  const found = chain.store.getTransaction(txHash);
  if (found === undefined) throw new TraceError(TraceErrorCode.NOT_TRACEABLE, "transaction not found");
  const { block, index } = found;
  const tracer = createTracer(opts);
  const vm = await prepareBlock(chain, block, index);
  const receipts = chain.store.getReceipts(block.hash()) ?? [];
  let logIndexBase = 0;
  for (let i = 0; i < index; i++) logIndexBase += receipts[i]?.logs.length ?? 0;
  const sender = chain.store.getSenders(block.hash())?.[index];
  const traced = await traceTx(vm, block, block.transactions[index], sender, tracer, opts, logIndexBase);
  return traced.result;
}

/** Traces every transaction of a block in order (debug_traceBlockByNumber / ByHash). */
export async function traceBlock(
  chain: Blockchain,
  block: Block,
  opts: TraceOptions,
): Promise<TxTraceResult[]> {
  createTracer(opts); // reject a bad tracer or config before replaying anything
  const vm = await prepareBlock(chain, block, 0);
  const senders = chain.store.getSenders(block.hash());
  const results: TxTraceResult[] = [];
  let logIndexBase = 0;
  for (let i = 0; i < block.transactions.length; i++) {
    const tx = block.transactions[i];
    const traced = await traceTx(vm, block, tx, senders?.[i], createTracer(opts), opts, logIndexBase);
    logIndexBase += traced.logs;
    results.push({ txHash: tx.hash(), result: traced.result });
  }
  return results;
}

/** Traces a call on the state `env` describes (debug_traceCall). */
export async function traceCall(
  chain: Blockchain,
  msg: CallMessage,
  env: Omit<CallEnv, "onVm" | "beforeRun" | "timeoutMs">,
  opts: TraceOptions,
): Promise<TraceJson> {
  const tracer = createTracer(opts);
  let traced: (AttachedTracer & { vm: VM }) | undefined;
  let gasUsed: bigint;
  try {
    const result = await executeCall(chain, msg, {
      ...env,
      timeoutMs: opts.timeoutMs,
      onVm: (vm) => {
        traced = { vm, ...attachTracer(vm, tracer) };
      },
      beforeRun: async (vm, start) => {
        const state = stateReader(vm);
        const coinbase = env.blockOverrides?.feeRecipient;
        await tracer.onTxStart?.(
          {
            from: start.from,
            to: msg.to ?? createAddress(start.from, await state.nonce(start.from)),
            isCreate: msg.to === undefined,
            gasLimit: start.gasLimit,
            coinbase: coinbase !== undefined ? new Address(coinbase) : env.header.coinbase,
            authorities: recoverAuthorities(
              (msg.authorizationList ?? []).map((a) => [
                bigIntToUnpaddedBytes(a.chainId),
                a.address,
                bigIntToUnpaddedBytes(a.nonce),
                bigIntToUnpaddedBytes(a.yParity),
                bigIntToUnpaddedBytes(a.r),
                bigIntToUnpaddedBytes(a.s),
              ]),
            ),
            logIndexBase: 0,
            eip6780: vm.common.isActivatedEIP(6780),
            eip7702: vm.common.isActivatedEIP(7702),
          },
          state,
        );
      },
    });
    gasUsed = result.gasUsed;
  } catch (err) {
    if (err instanceof ExecutionTimeoutError) throw timeoutError();
    if (err instanceof CallError)
      throw new TraceError(TraceErrorCode.TX_FAILED, `tracing failed: ${err.message}`);
    throw err;
  } finally {
    traced?.detach();
  }
  if (traced === undefined) throw new Error("call executed without a VM");
  const failure = traced.failure();
  if (failure !== undefined) throw failure;
  await tracer.onTxEnd?.({ gasUsed }, stateReader(traced.vm));
  return tracer.result();
}

/**
 * The state before transaction `index` of `block`, after its system writes (debug_traceCall's
 * `txIndex`); for an empty block index 0 is the state after the system writes.
 */
export async function stateBeforeTransaction(
  chain: Blockchain,
  block: Block,
  index: number,
): Promise<MerkleStateManager> {
  if (block.header.number === 0n)
    throw new TraceError(TraceErrorCode.NOT_TRACEABLE, "no transaction in genesis");
  const count = block.transactions.length;
  if (index > count || (index === count && count > 0)) {
    throw new TraceError(
      TraceErrorCode.NOT_TRACEABLE,
      `transaction index ${index} out of range for block ${bytesToHex(block.hash())}`,
    );
  }
  return (await replayParent(chain, block, index)).sm;
}

/** A VM at the parent state of `block` with its system writes and first `upTo` transactions applied. */
async function prepareBlock(chain: Blockchain, block: Block, upTo: number): Promise<VM> {
  if (block.header.number === 0n)
    throw new TraceError(TraceErrorCode.NOT_TRACEABLE, "genesis is not traceable");
  return (await replayParent(chain, block, upTo)).vm;
}

/** replayBlock, after checking that the parent state it starts from is available. */
function replayParent(chain: Blockchain, block: Block, upTo: number): ReturnType<typeof replayBlock> {
  const parent = chain.store.getHeader(block.header.parentHash);
  if (parent === undefined) {
    throw new TraceError(
      TraceErrorCode.NOT_TRACEABLE,
      `parent ${bytesToHex(block.header.parentHash)} not found`,
    );
  }
  if (!chain.executor.hasState(parent.stateRoot)) {
    throw new TraceError(TraceErrorCode.NOT_TRACEABLE, "historical state is not available");
  }
  return replayBlock(chain, block, upTo);
}

/** Runs `tx` on `vm` with `tracer` attached; returns the trace and the number of logs the tx emitted. */
async function traceTx(
  vm: VM,
  block: Block,
  tx: TypedTransaction,
  sender: Address | undefined,
  tracer: Tracer,
  opts: TraceOptions,
  logIndexBase: number,
): Promise<{ result: TraceJson; logs: number }> {
  const state = stateReader(vm);
  const from = sender ?? tx.getSenderAddress();
  const attached = attachTracer(vm, tracer);
  let result: RunTxResult;
  try {
    await tracer.onTxStart?.(
      {
        from,
        to: tx.to ?? createAddress(from, await state.nonce(from)),
        isCreate: tx.to === undefined,
        gasLimit: tx.gasLimit,
        coinbase: block.header.coinbase,
        authorities:
          "authorizationList" in tx
            ? recoverAuthorities(tx.authorizationList as EOACode7702AuthorizationListBytesItem[])
            : [],
        logIndexBase,
        eip6780: vm.common.isActivatedEIP(6780),
        eip7702: vm.common.isActivatedEIP(7702),
      },
      state,
    );
    try {
      result = await withDeadline(vm.evm, opts.timeoutMs, () =>
        runTx(vm, { tx, block, skipBlockGasLimitValidation: true, skipHardForkValidation: true }),
      );
    } catch (err) {
      if (err instanceof ExecutionTimeoutError) throw timeoutError();
      // ethereumjs refuses transactions that cannot be applied with plain errors.
      const message = (err instanceof Error ? err.message : String(err)).replace(/ -> block number=.*$/s, "");
      throw new TraceError(TraceErrorCode.TX_FAILED, `tracing failed: ${message}`);
    }
  } finally {
    attached.detach();
  }
  const failure = attached.failure();
  if (failure !== undefined) throw failure;
  await tracer.onTxEnd?.({ gasUsed: result.totalGasSpent }, state);
  return { result: tracer.result(), logs: result.execResult.logs?.length ?? 0 };
}

const timeoutError = () => new TraceError(TraceErrorCode.TIMEOUT, "execution timeout");

function recoverAuthorities(list: EOACode7702AuthorizationListBytesItem[]): Address[] {
  const out: Address[] = [];
  for (const item of list) {
    try {
      out.push(eoaCode7702RecoverAuthority(item));
    } catch {
      // An invalid signature names no authority (geth skips it too).
    }
  }
  return out;
}
