/**
 * The debug tracing methods: debug_traceTransaction, debug_traceCall, debug_traceBlockByNumber
 * and debug_traceBlockByHash, with geth's parameters, result shapes and errors.
 *
 * The trace config object is decoded here as geth decodes its TraceConfig / TraceCallConfig
 * (field names match case-insensitively, unknown fields are ignored): `tracer`, `tracerConfig`,
 * `timeout` (a Go duration, default 5s), the struct logger's `enableMemory`, `disableStack`,
 * `disableStorage`, `enableReturnData`, `limit`, and for debug_traceCall `stateOverrides`,
 * `blockOverrides` and `txIndex`. Tracing itself lives in node/execution/tracing.
 */
import { bytesToHex } from "@ethereumjs/util";
import {
  DEFAULT_TRACE_TIMEOUT_MS,
  stateBeforeTransaction,
  type TraceOptions,
  type TxTraceResult,
  traceBlock,
  traceCall,
  traceTransaction,
} from "../../../execution/tracing/index.ts";
import { type RpcContext, resolveHeader } from "../context.ts";
import { serverError } from "../errors.ts";
import type { Json } from "../format.ts";
import {
  type BlockOverrides,
  type BlockRef,
  blockNumber,
  blockRef,
  callRequest,
  decodeBlockOverrides,
  decodeStateOverride,
  hash,
  optional,
  type Param,
  ParamError,
  type StateOverride,
} from "../params.ts";
import { type MethodTable, method } from "../registry.ts";
import { toCallMessage } from "./eth.ts";

/** geth's TraceConfig, decoded; the timeout stays text until a trace runs, as in geth. */
export interface TraceConfig {
  tracer?: string;
  tracerConfig?: unknown;
  timeout?: string;
  enableMemory: boolean;
  disableStack: boolean;
  disableStorage: boolean;
  enableReturnData: boolean;
  limit: number;
}

/** geth's TraceCallConfig. */
export interface TraceCallConfig extends TraceConfig {
  stateOverrides?: StateOverride;
  blockOverrides?: BlockOverrides;
  txIndex?: number;
}

const DEFAULT_CONFIG: TraceConfig = {
  enableMemory: false,
  disableStack: false,
  disableStorage: false,
  enableReturnData: false,
  limit: 0,
};

function jsonType(v: unknown): string {
  if (Array.isArray(v)) return "array";
  if (typeof v === "boolean") return "bool";
  return typeof v;
}

function unmarshalError(value: unknown, struct: string, field: string, goType: string): never {
  throw new ParamError(
    `json: cannot unmarshal ${jsonType(value)} into Go struct field ${struct}.${field} of type ${goType}`,
  );
}

/** Field lookup the way Go's encoding/json matches keys: exact first, then case-insensitive. */
function lookup(o: Record<string, unknown>, name: string): unknown {
  if (Object.hasOwn(o, name)) return o[name];
  const key = Object.keys(o).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : o[key];
}

function decodeTraceConfig(v: unknown, struct: string): TraceConfig {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new ParamError(`json: cannot unmarshal ${jsonType(v)} into Go value of type tracers.${struct}`);
  }
  const o = v as Record<string, unknown>;
  const config: TraceConfig = { ...DEFAULT_CONFIG };
  const str = (name: "tracer" | "timeout"): string | undefined => {
    const value = lookup(o, name);
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string") unmarshalError(value, struct, name, "string");
    return value;
  };
  config.tracer = str("tracer");
  config.timeout = str("timeout");
  const tracerConfig = lookup(o, "tracerConfig");
  if (tracerConfig !== undefined && tracerConfig !== null) config.tracerConfig = tracerConfig;
  for (const flag of ["enableMemory", "disableStack", "disableStorage", "enableReturnData"] as const) {
    const value = lookup(o, flag);
    if (value === undefined || value === null) continue;
    if (typeof value !== "boolean") unmarshalError(value, struct, flag, "bool");
    config[flag] = value;
  }
  const limit = lookup(o, "limit");
  if (limit !== undefined && limit !== null) {
    if (typeof limit !== "number") unmarshalError(limit, struct, "limit", "int");
    if (!Number.isSafeInteger(limit))
      throw new ParamError(
        `json: cannot unmarshal number ${limit} into Go struct field ${struct}.limit of type int`,
      );
    config.limit = limit;
  }
  return config;
}

function decodeTraceCallConfig(v: unknown): TraceCallConfig {
  const config: TraceCallConfig = decodeTraceConfig(v, "TraceCallConfig");
  const o = v as Record<string, unknown>;
  const nested = <T>(name: string, decode: (x: unknown) => T): T | undefined => {
    const value = lookup(o, name);
    if (value === undefined || value === null) return undefined;
    try {
      return decode(value);
    } catch (err) {
      if (err instanceof ParamError) throw new ParamError(`${name}: ${err.message}`);
      throw err;
    }
  };
  config.stateOverrides = nested("stateOverrides", decodeStateOverride);
  config.blockOverrides = nested("blockOverrides", decodeBlockOverrides);
  config.txIndex = nested("txIndex", (x) => {
    if (typeof x !== "string" || !/^0x(0|[1-9a-fA-F][0-9a-fA-F]*)$/.test(x) || x.length > 18) {
      throw new ParamError("invalid hex quantity for hexutil.Uint");
    }
    return Number(BigInt(x));
  });
  return config;
}

const traceConfig = (name: string): Param<TraceConfig> & { optional: false } => ({
  name,
  optional: false,
  decode: (v) => decodeTraceConfig(v, "TraceConfig"),
});

const traceCallConfig = (name: string): Param<TraceCallConfig> & { optional: false } => ({
  name,
  optional: false,
  decode: decodeTraceCallConfig,
});

// --- Go durations ----------------------------------------------------------------------------

const DURATION_UNITS_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  μs: 1e-3,
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
};

/** Parses a Go duration ("300ms", "1.5s", "2m30s") into milliseconds, with Go's error messages. */
export function parseGoDuration(text: string): number {
  const quoted = JSON.stringify(text);
  const invalid = () => serverError(`time: invalid duration ${quoted}`);
  let s = text;
  let sign = 1;
  if (s.startsWith("-") || s.startsWith("+")) {
    if (s[0] === "-") sign = -1;
    s = s.slice(1);
  }
  if (s === "0") return 0;
  if (s === "") throw invalid();
  let total = 0;
  while (s !== "") {
    const number = /^(\d*)(\.(\d*))?/.exec(s);
    const whole = number?.[1] ?? "";
    const fraction = number?.[3] ?? "";
    if (number === null || (whole === "" && fraction === "")) throw invalid();
    s = s.slice(number[0].length);
    const unit = /^[^\d.]*/.exec(s)?.[0] ?? "";
    if (unit === "") throw serverError(`time: missing unit in duration ${quoted}`);
    const scale = DURATION_UNITS_MS[unit];
    if (scale === undefined)
      throw serverError(`time: unknown unit ${JSON.stringify(unit)} in duration ${quoted}`);
    s = s.slice(unit.length);
    total += Number(`${whole || "0"}.${fraction || "0"}`) * scale;
  }
  return sign * total;
}

function traceOptions(config: TraceConfig | undefined): TraceOptions {
  const c = config ?? DEFAULT_CONFIG;
  return {
    tracer: c.tracer,
    tracerConfig: c.tracerConfig,
    logger: {
      enableMemory: c.enableMemory,
      disableStack: c.disableStack,
      disableStorage: c.disableStorage,
      enableReturnData: c.enableReturnData,
      limit: c.limit,
    },
    timeoutMs: c.timeout === undefined ? DEFAULT_TRACE_TIMEOUT_MS : parseGoDuration(c.timeout),
  };
}

function blockResults(results: TxTraceResult[]): Json {
  return results.map((r) => ({ txHash: bytesToHex(r.txHash), result: r.result }));
}

/** The header a block reference names, or geth's "block ... not found". */
function tracedHeader(ctx: RpcContext, ref: BlockRef) {
  const header = resolveHeader(ctx, ref);
  if (header !== undefined) return header;
  switch (ref.kind) {
    case "number":
      throw serverError(`block #${ref.number} not found`);
    case "hash":
      throw serverError(`block ${bytesToHex(ref.hash)} not found`);
    case "tag":
      throw serverError(`${ref.tag} block not found`);
  }
}

export function debugTraceMethods(ctx: RpcContext): MethodTable {
  const { chain } = ctx;
  return {
    debug_traceTransaction: method([hash("txHash"), optional(traceConfig("config"))], (txHash, config) =>
      traceTransaction(chain, txHash, traceOptions(config)),
    ),

    debug_traceBlockByNumber: method(
      [blockNumber("number"), optional(traceConfig("config"))],
      async (ref, config) => {
        const header = tracedHeader(ctx, ref);
        const block = chain.store.getBlock(header.hash());
        if (block === undefined) throw serverError(`block #${header.number} not found`);
        return blockResults(await traceBlock(chain, block, traceOptions(config)));
      },
    ),

    debug_traceBlockByHash: method(
      [hash("hash"), optional(traceConfig("config"))],
      async (blockHash, config) => {
        const block = chain.store.getBlock(blockHash);
        if (block === undefined) throw serverError(`block ${bytesToHex(blockHash)} not found`);
        return blockResults(await traceBlock(chain, block, traceOptions(config)));
      },
    ),

    debug_traceCall: method(
      [callRequest("transaction"), blockRef("block"), optional(traceCallConfig("config"))],
      async (req, ref, config) => {
        if (ref.kind === "tag" && ref.tag === "pending") {
          throw serverError("tracing on top of pending is not supported");
        }
        const header = tracedHeader(ctx, ref);
        const options = traceOptions(config);
        let state: Awaited<ReturnType<typeof stateBeforeTransaction>> | undefined;
        if (config?.txIndex !== undefined) {
          const block = chain.store.getBlock(header.hash());
          if (block === undefined) throw serverError(`block #${header.number} not found`);
          state = await stateBeforeTransaction(chain, block, config.txIndex);
        } else if (!chain.executor.hasState(header.stateRoot)) {
          throw serverError("historical state is not available");
        }
        return traceCall(
          chain,
          toCallMessage(req),
          {
            header,
            stateOverride: config?.stateOverrides,
            blockOverrides: config?.blockOverrides,
            gasCap: ctx.opts.gasCap,
            state,
          },
          options,
        );
      },
    ),
  };
}
