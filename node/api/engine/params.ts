/**
 * Strict decoding of Engine API parameters (execution-apis structure validation): every
 * object must have exactly its fields, none null, each with the right hex shape (DATA of the
 * right byte length, QUANTITY without leading zeros and within its bit width). Failures are
 * `ParamError`s, which the dispatcher reports as -32602 naming the argument and field, e.g.
 * `invalid argument 0: stateRoot: hex string has length 62, want 64`.
 *
 * Decoded values keep the wire types of node/execution/engine/types.ts (hex strings, DATA in
 * lower case), so they go straight to an `ExecutionEngine`.
 */
import type {
  ClientVersionV1,
  ExecutionPayloadV3,
  ForkchoiceStateV1,
  Hex,
  PayloadAttributesV3,
  WithdrawalV1,
} from "../../execution/engine/types.ts";
import { decodeData, type Param, ParamError, uint, uint256 } from "../rpc/params.ts";

type Decoder<T> = (value: unknown) => T;

function fail(message: string): never {
  throw new ParamError(message);
}

const U64 = uint("quantity");
const U256 = uint256("quantity");

/** DATA of exactly `length` bytes (any length if undefined), at most `max` bytes if given. */
function dataHex(length?: number, max?: number): Decoder<Hex> {
  return (value) => {
    const bytes = decodeData(value, length);
    if (max !== undefined && bytes.length > max)
      fail(`hex string has ${bytes.length} bytes, want at most ${max}`);
    return (value as string).toLowerCase() as Hex;
  };
}

function quantityHex(bits: 64 | 256): Decoder<Hex> {
  return (value) => {
    (bits === 64 ? U64 : U256).decode(value);
    return (value as string).toLowerCase() as Hex;
  };
}

function arrayOf<T>(item: Decoder<T>): Decoder<T[]> {
  return (value) => {
    if (!Array.isArray(value)) fail(`cannot unmarshal ${describe(value)} into array`);
    return value.map((v, i) =>
      at(`[${i}]`, () => (v === null || v === undefined ? fail("null item") : item(v))),
    );
  };
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  return typeof value;
}

/** A ParamError that knows where in the argument it happened (`withdrawals[0].address`). */
class FieldError extends ParamError {
  readonly path: string;
  readonly reason: string;
  constructor(path: string, reason: string) {
    super(`${path}: ${reason}`);
    this.path = path;
    this.reason = reason;
  }
}

/** Runs `decode` for the field or item `segment`, adding it to the path of any ParamError. */
function at<T>(segment: string, decode: () => T): T {
  try {
    return decode();
  } catch (err) {
    if (err instanceof FieldError) {
      throw new FieldError(`${segment}${err.path.startsWith("[") ? "" : "."}${err.path}`, err.reason);
    }
    if (err instanceof ParamError) throw new FieldError(segment, err.message);
    throw err;
  }
}

/**
 * An object with exactly the fields in `shape`: an unknown field, a missing one or a null one
 * is an error (execution-apis: "any field having null value MUST be considered as not provided").
 */
function strictObject<T extends object>(
  what: string,
  shape: { [K in keyof T]-?: Decoder<T[K]> },
): Decoder<T> {
  const keys = Object.keys(shape) as (keyof T & string)[];
  return (value) => {
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      fail(`cannot unmarshal ${describe(value)} into ${what} object`);
    }
    const o = value as Record<string, unknown>;
    for (const key of Object.keys(o)) {
      if (!Object.hasOwn(shape, key)) fail(`unknown field "${key}" in ${what}`);
    }
    const out: Partial<T> = {};
    for (const key of keys) {
      const field = o[key];
      if (field === undefined || field === null) fail(`missing required field "${key}" in ${what}`);
      out[key] = at(key, () => shape[key](field));
    }
    return out as T;
  };
}

// --- structures -----------------------------------------------------------------------------

export const decodeWithdrawal: Decoder<WithdrawalV1> = strictObject<WithdrawalV1>("WithdrawalV1", {
  index: quantityHex(64),
  validatorIndex: quantityHex(64),
  address: dataHex(20),
  amount: quantityHex(64),
});

export const decodeExecutionPayloadV3: Decoder<ExecutionPayloadV3> = strictObject<ExecutionPayloadV3>(
  "ExecutionPayloadV3",
  {
    parentHash: dataHex(32),
    feeRecipient: dataHex(20),
    stateRoot: dataHex(32),
    receiptsRoot: dataHex(32),
    logsBloom: dataHex(256),
    prevRandao: dataHex(32),
    blockNumber: quantityHex(64),
    gasLimit: quantityHex(64),
    gasUsed: quantityHex(64),
    timestamp: quantityHex(64),
    extraData: dataHex(undefined, 32),
    baseFeePerGas: quantityHex(256),
    blockHash: dataHex(32),
    transactions: arrayOf(dataHex()),
    withdrawals: arrayOf(decodeWithdrawal),
    blobGasUsed: quantityHex(64),
    excessBlobGas: quantityHex(64),
  },
);

export const decodeForkchoiceState: Decoder<ForkchoiceStateV1> = strictObject<ForkchoiceStateV1>(
  "ForkchoiceStateV1",
  {
    headBlockHash: dataHex(32),
    safeBlockHash: dataHex(32),
    finalizedBlockHash: dataHex(32),
  },
);

export const decodePayloadAttributesV3: Decoder<PayloadAttributesV3> = strictObject<PayloadAttributesV3>(
  "PayloadAttributesV3",
  {
    timestamp: quantityHex(64),
    prevRandao: dataHex(32),
    suggestedFeeRecipient: dataHex(20),
    withdrawals: arrayOf(decodeWithdrawal),
    parentBeaconBlockRoot: dataHex(32),
  },
);

export const decodeClientVersion: Decoder<ClientVersionV1> = strictObject<ClientVersionV1>(
  "ClientVersionV1",
  {
    code: (v) => {
      if (typeof v !== "string" || !/^[A-Za-z]{2}$/.test(v)) fail("expected a two-letter client code");
      return v;
    },
    name: (v) => (typeof v === "string" ? v : fail("expected string")),
    version: (v) => (typeof v === "string" ? v : fail("expected string")),
    commit: dataHex(4),
  },
);

/**
 * EIP-7685 requests as newPayloadV4 takes them: each `type byte ++ data` with non-empty data,
 * types strictly ascending (so no type twice).
 */
export const decodeExecutionRequests: Decoder<Hex[]> = (value) => {
  const requests = arrayOf(dataHex())(value);
  let lastType = -1;
  for (const [i, request] of requests.entries()) {
    if (request.length < 6) fail(`[${i}]: request ${request} has no data (want a type byte and data)`);
    const type = Number.parseInt(request.slice(2, 4), 16);
    if (type <= lastType)
      fail(`[${i}]: request types must be strictly ascending (type ${type} after ${lastType})`);
    lastType = type;
  }
  return requests;
};

// --- parameters -----------------------------------------------------------------------------

function required<T>(name: string, decode: Decoder<T>): Param<T> & { optional: false } {
  return { name, optional: false, decode };
}

/** Result of decoding payload attributes: kept apart so an invalid one can become -38003. */
export type AttributesParam = { ok: true; value: PayloadAttributesV3 } | { ok: false; message: string };

export const engineParams = {
  capabilities: (name: string) =>
    required(
      name,
      arrayOf((v) => (typeof v === "string" ? v : fail("expected string"))),
    ),
  clientVersion: (name: string) => required(name, decodeClientVersion),
  payload: (name: string) => required(name, decodeExecutionPayloadV3),
  versionedHashes: (name: string) => required(name, arrayOf(dataHex(32))),
  root: (name: string) => required(name, dataHex(32)),
  executionRequests: (name: string) => required(name, decodeExecutionRequests),
  forkchoiceState: (name: string) => required(name, decodeForkchoiceState),
  /**
   * Payload attributes, or null/absent. A malformed object does not fail decoding: the
   * forkchoice state must still be applied first, then the call fails with -38003.
   */
  attributes: (name: string): Param<AttributesParam> & { optional: true } => ({
    name,
    optional: true,
    decode: (value) => {
      try {
        return { ok: true, value: decodePayloadAttributesV3(value) };
      } catch (err) {
        if (err instanceof ParamError) return { ok: false, message: err.message };
        throw err;
      }
    },
  }),
  payloadId: (name: string) => required(name, dataHex(8)),
};
