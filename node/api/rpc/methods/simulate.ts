/**
 * eth_simulateV1 (execution-apis): decodes the request, runs the simulation engine
 * (execution/executor/simulate.ts) on the requested block's state, and answers geth's shapes:
 * one block object per simulated block (hash, number, timestamp, gasUsed, roots, transactions
 * as hashes or full objects) with `calls: [{returnData, logs, gasUsed, maxUsedGas, status,
 * error?}]`. Failed calls carry `{message, code: 3, data}` for a revert and
 * `{message, code: -32015}` for any other EVM error; requests geth rejects get the
 * execution-apis codes (-38010 nonce too low ... -38026 client limit).
 */
import { bigIntToHex, bytesToHex, type WithdrawalData } from "@ethereumjs/util";
import {
  type SimBlockInput,
  type SimBlockOverrides,
  type SimBlockResult,
  type SimCall,
  type SimCallResult,
  SimulationError,
  SimulationErrorCode,
  simulate,
} from "../../../execution/executor/simulate.ts";
import { unpackRevert } from "../../../execution/tracing/call-tracer.ts";
import { type RpcContext, stateHeader } from "../context.ts";
import { RpcError, RpcErrorCode } from "../errors.ts";
import { formatBlock, formatLog, type Json } from "../format.ts";
import {
  type BlockRef,
  blockRef,
  decodeBlockOverrides,
  decodeCallRequest,
  decodeData,
  decodeStateOverride,
  optional,
  type Param,
  ParamError,
  uint,
} from "../params.ts";
import { type MethodTable, method } from "../registry.ts";
import { toCallMessage } from "./eth.ts";

/** Code of a call that failed in the EVM for a reason other than REVERT (execution-apis). */
export const VM_ERROR_CODE = -32015;

/** The execution-apis code of each reason a simulation is refused. */
const ERROR_CODES: Record<SimulationErrorCode, number> = {
  [SimulationErrorCode.INVALID_PARAMS]: RpcErrorCode.INVALID_PARAMS,
  [SimulationErrorCode.NONCE_TOO_LOW]: -38010,
  [SimulationErrorCode.NONCE_TOO_HIGH]: -38011,
  [SimulationErrorCode.BASE_FEE_TOO_LOW]: -38012,
  [SimulationErrorCode.INTRINSIC_GAS]: -38013,
  [SimulationErrorCode.INSUFFICIENT_FUNDS]: -38014,
  [SimulationErrorCode.BLOCK_GAS_LIMIT]: -38015,
  [SimulationErrorCode.BLOCK_NUMBER_ORDER]: -38020,
  [SimulationErrorCode.BLOCK_TIMESTAMP_ORDER]: -38021,
  [SimulationErrorCode.INIT_CODE_TOO_LARGE]: -38025,
  [SimulationErrorCode.CLIENT_LIMIT]: -38026,
  [SimulationErrorCode.INVALID_TX]: RpcErrorCode.INTERNAL,
  [SimulationErrorCode.OTHER]: RpcErrorCode.SERVER,
};

const LATEST: BlockRef = { kind: "tag", tag: "latest" };

interface SimulateRequest {
  blocks: SimBlockInput[];
  traceTransfers: boolean;
  validation: boolean;
  returnFullTransactions: boolean;
}

// --- request decoding -----------------------------------------------------------------------

function fail(message: string): never {
  throw new ParamError(message);
}

function object(value: unknown, what: string): Record<string, unknown> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) fail(`expected ${what} object`);
  return value as Record<string, unknown>;
}

/** Runs a nested decoder, naming where in the request a failure is. */
function at<T>(path: string, decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    if (err instanceof ParamError) fail(`${path}: ${err.message}`);
    throw err;
  }
}

function flag(o: Record<string, unknown>, key: string): boolean {
  const value = o[key];
  if (value === undefined || value === null) return false;
  if (typeof value !== "boolean") fail(`${key}: expected boolean`);
  return value;
}

function decodeWithdrawals(value: unknown): WithdrawalData[] {
  if (!Array.isArray(value)) fail("expected withdrawals array");
  return value.map((item, i) =>
    at(`withdrawals[${i}]`, () => {
      const w = object(item, "withdrawal");
      const quantity = (key: string) => at(key, () => uint(key).decode(w[key] ?? "0x0"));
      return {
        index: quantity("index"),
        validatorIndex: quantity("validatorIndex"),
        address: at("address", () => decodeData(w.address, 20)),
        amount: quantity("amount"),
      };
    }),
  );
}

function decodeSimBlockOverrides(value: unknown): SimBlockOverrides {
  const o = object(value, "block overrides");
  const optionalField = <T>(key: string, decode: (v: unknown) => T): T | undefined =>
    o[key] === undefined || o[key] === null ? undefined : at(key, () => decode(o[key]));
  return {
    ...decodeBlockOverrides(o),
    difficulty: optionalField("difficulty", (v) => uint("difficulty").decode(v)),
    beaconRoot: optionalField("beaconRoot", (v) => decodeData(v, 32)),
    withdrawals: optionalField("withdrawals", decodeWithdrawals),
  };
}

function decodeCall(value: unknown): SimCall {
  const req = decodeCallRequest(value);
  return { ...toCallMessage(req), chainId: req.chainId };
}

function decodeSimulateRequest(value: unknown): SimulateRequest {
  const o = object(value, "simulation");
  const rawBlocks = o.blockStateCalls ?? [];
  if (!Array.isArray(rawBlocks)) fail("blockStateCalls: expected array");
  const blocks = rawBlocks.map((item, i) =>
    at(`blockStateCalls[${i}]`, (): SimBlockInput => {
      const b = object(item, "block state call");
      const calls = b.calls ?? [];
      if (!Array.isArray(calls)) fail("calls: expected array");
      return {
        overrides:
          b.blockOverrides === undefined || b.blockOverrides === null
            ? undefined
            : at("blockOverrides", () => decodeSimBlockOverrides(b.blockOverrides)),
        stateOverride:
          b.stateOverrides === undefined || b.stateOverrides === null
            ? undefined
            : at("stateOverrides", () => decodeStateOverride(b.stateOverrides)),
        calls: calls.map((call, j) => at(`calls[${j}]`, () => decodeCall(call))),
      };
    }),
  );
  return {
    blocks,
    traceTransfers: flag(o, "traceTransfers"),
    validation: flag(o, "validation"),
    returnFullTransactions: flag(o, "returnFullTransactions"),
  };
}

const simulateRequest = (name: string): Param<SimulateRequest> & { optional: false } => ({
  name,
  optional: false,
  decode: decodeSimulateRequest,
});

// --- response -------------------------------------------------------------------------------

function callJson(call: SimCallResult, result: SimBlockResult, txIndex: number): Json {
  const { block } = result;
  const txHash = block.transactions[txIndex].hash();
  const out: Record<string, Json> = {
    returnData: bytesToHex(call.returnData),
    logs: call.logs.map((log) =>
      formatLog([log.address, log.topics, log.data], { block, txIndex, txHash, logIndex: log.index }),
    ),
    gasUsed: bigIntToHex(call.gasUsed),
    maxUsedGas: bigIntToHex(call.maxUsedGas),
    status: bigIntToHex(BigInt(call.status)),
  };
  const error = call.error;
  if (error?.kind === "revert") {
    const reason = unpackRevert(error.data);
    out.error = {
      message: reason === undefined ? "execution reverted" : `execution reverted: ${reason}`,
      code: RpcErrorCode.EXECUTION_REVERTED,
      data: bytesToHex(error.data),
    };
  } else if (error?.kind === "vm") {
    out.error = { message: error.message, code: VM_ERROR_CODE };
  }
  return out;
}

function blockJson(result: SimBlockResult, fullTransactions: boolean): Json {
  const { block, senders, calls } = result;
  const json = formatBlock(block, fullTransactions, senders);
  if (fullTransactions && Array.isArray(json.transactions)) {
    // Unsigned legacy transactions carry no EIP-155 chain id (v = 0).
    json.transactions.forEach((tx, i) => {
      if (block.transactions[i].type === 0 && typeof tx === "object" && tx !== null && !Array.isArray(tx)) {
        delete tx.chainId;
      }
    });
  }
  json.calls = calls.map((call, i) => callJson(call, result, i));
  return json;
}

export function simulateMethods(ctx: RpcContext): MethodTable {
  return {
    eth_simulateV1: method([simulateRequest("simulation"), optional(blockRef("block"))], async (req, ref) => {
      const base = stateHeader(ctx, ref ?? LATEST);
      let results: SimBlockResult[];
      try {
        results = await simulate(ctx.chain, base, req.blocks, {
          traceTransfers: req.traceTransfers,
          validation: req.validation,
          gasCap: ctx.opts.gasCap,
          timeoutMs: ctx.opts.evmTimeoutMs,
        });
      } catch (err) {
        if (err instanceof SimulationError) throw new RpcError(ERROR_CODES[err.code], err.message);
        throw err;
      }
      return results.map((result) => blockJson(result, req.returnFullTransactions));
    }),
  };
}
