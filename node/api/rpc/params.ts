/**
 * Parameter decoding for JSON-RPC methods. Each method declares its parameters as a list of
 * `Param`s next to its handler; decoding failures become -32602 errors that name the argument,
 * as geth reports them ("invalid argument 0: hex string without 0x prefix").
 */
import { hexToBytes } from "@ethereumjs/util";
import type { AccountOverride, BlockOverrides } from "../../execution/executor/call.ts";
import { invalidParams } from "./errors.ts";

export type { AccountOverride, BlockOverrides };

export interface Param<T> {
  readonly name: string;
  readonly optional: boolean;
  decode(value: unknown): T;
}

export type ParamValues<P extends readonly Param<unknown>[]> = {
  [K in keyof P]: P[K] extends Param<infer T> ? (P[K]["optional"] extends true ? T | undefined : T) : never;
};

class ParamError extends Error {}

function fail(message: string): never {
  throw new ParamError(message);
}

function param<T>(name: string, decode: (value: unknown) => T): Param<T> & { optional: false } {
  return { name, optional: false, decode };
}

export function optional<T>(p: Param<T>): Param<T> & { optional: true } {
  return { name: p.name, optional: true, decode: p.decode };
}

/** Decodes positional params; a missing required one or an extra one is an error. */
export function decodeParams(specs: readonly Param<unknown>[], raw: unknown): unknown[] {
  if (raw !== undefined && raw !== null && !Array.isArray(raw)) {
    throw invalidParams("non-array args");
  }
  const args = (raw ?? []) as unknown[];
  if (args.length > specs.length) throw invalidParams(`too many arguments, want at most ${specs.length}`);
  const out: unknown[] = [];
  for (let i = 0; i < specs.length; i++) {
    const spec = specs[i];
    const value = args[i];
    if (value === undefined || value === null) {
      if (!spec.optional) throw invalidParams(`missing value for required argument ${i}`);
      out.push(undefined);
      continue;
    }
    try {
      out.push(spec.decode(value));
    } catch (err) {
      if (err instanceof ParamError) throw invalidParams(`invalid argument ${i}: ${err.message}`);
      throw err;
    }
  }
  return out;
}

// --- primitive decoders ---------------------------------------------------------------------

const HEX_RE = /^0x[0-9a-fA-F]*$/;

function decodeQuantity(value: unknown, bits: number): bigint {
  if (typeof value !== "string") fail(`cannot unmarshal ${typeof value} into quantity`);
  if (!value.startsWith("0x") && !value.startsWith("0X")) fail("hex string without 0x prefix");
  const digits = value.slice(2);
  if (digits.length === 0) fail('hex string "0x"');
  if (!/^[0-9a-fA-F]+$/.test(digits)) fail("invalid hex string");
  if (digits.length > 1 && digits[0] === "0") fail("hex number with leading zero digits");
  if (digits.length > bits / 4) fail(`hex number > ${bits} bits`);
  return BigInt(value);
}

export const uint = (name: string) => param(name, (v) => decodeQuantity(v, 64));
export const uint256 = (name: string) => param(name, (v) => decodeQuantity(v, 256));

/** A quantity given either as hex or as a JSON number (geth accepts both for counts). */
export const count = (name: string) =>
  param(name, (v) => {
    if (typeof v === "number") {
      if (!Number.isSafeInteger(v) || v < 0) fail("invalid count");
      return BigInt(v);
    }
    return decodeQuantity(v, 64);
  });

export function decodeData(value: unknown, length?: number): Uint8Array {
  if (typeof value !== "string") fail(`cannot unmarshal ${typeof value} into bytes`);
  if (!value.startsWith("0x")) fail("hex string without 0x prefix");
  if (!HEX_RE.test(value)) fail("invalid hex string");
  if (value.length % 2 !== 0) fail("hex string of odd length");
  const bytes = hexToBytes(value as `0x${string}`);
  if (length !== undefined && bytes.length !== length) {
    fail(`hex string has length ${bytes.length * 2}, want ${length * 2}`);
  }
  return bytes;
}

export const data = (name: string) => param(name, (v) => decodeData(v));
export const hash = (name: string) => param(name, (v) => decodeData(v, 32));
export const address = (name: string) => param(name, (v) => decodeData(v, 20));
export const bool = (name: string) =>
  param(name, (v) => {
    if (typeof v !== "boolean") fail("expected boolean");
    return v;
  });
export const string = (name: string) =>
  param(name, (v) => {
    if (typeof v !== "string") fail("expected string");
    return v;
  });
export const any = (name: string) => param(name, (v) => v);

// --- block references -----------------------------------------------------------------------

export type BlockTag = "latest" | "earliest" | "pending" | "safe" | "finalized";
export type BlockRef =
  | { kind: "tag"; tag: BlockTag }
  | { kind: "number"; number: bigint }
  | { kind: "hash"; hash: Uint8Array; requireCanonical: boolean };

const TAGS = new Set(["latest", "earliest", "pending", "safe", "finalized"]);

function decodeBlockNumberOrTag(v: unknown): BlockRef {
  if (typeof v === "string" && TAGS.has(v)) return { kind: "tag", tag: v as BlockTag };
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v) || v < 0) fail("invalid block number");
    return { kind: "number", number: BigInt(v) };
  }
  if (typeof v === "string" && v.startsWith("0x") && v.length === 66) {
    fail("hex number > 64 bits");
  }
  return { kind: "number", number: decodeQuantity(v, 64) };
}

/** Block number or tag (eth_getBlockByNumber, filters). */
export const blockNumber = (name: string) => param(name, decodeBlockNumberOrTag);

/** EIP-1898: a number, tag, hash, or {blockNumber} / {blockHash, requireCanonical}. */
export const blockRef = (name: string) =>
  param(name, (v): BlockRef => {
    if (typeof v === "string" && v.startsWith("0x") && v.length === 66) {
      return { kind: "hash", hash: decodeData(v, 32), requireCanonical: false };
    }
    if (typeof v === "object" && v !== null && !Array.isArray(v)) {
      const o = v as Record<string, unknown>;
      if (o.blockHash !== undefined && o.blockNumber !== undefined) {
        fail("cannot specify both BlockHash and BlockNumber, choose one or the other");
      }
      if (o.blockHash !== undefined) {
        if (o.requireCanonical !== undefined && typeof o.requireCanonical !== "boolean")
          fail("requireCanonical must be boolean");
        return {
          kind: "hash",
          hash: decodeData(o.blockHash, 32),
          requireCanonical: o.requireCanonical === true,
        };
      }
      if (o.blockNumber !== undefined) return decodeBlockNumberOrTag(o.blockNumber);
      fail("expected blockHash or blockNumber");
    }
    return decodeBlockNumberOrTag(v);
  });

// --- objects --------------------------------------------------------------------------------

function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) fail(`expected ${what} object`);
  return v as Record<string, unknown>;
}

function field<T>(o: Record<string, unknown>, key: string, decode: (v: unknown) => T): T | undefined {
  const value = o[key];
  if (value === undefined || value === null) return undefined;
  try {
    return decode(value);
  } catch (err) {
    if (err instanceof ParamError) fail(`${key}: ${err.message}`);
    throw err;
  }
}

export interface AccessListItem {
  address: Uint8Array;
  storageKeys: Uint8Array[];
}

export interface AuthorizationItem {
  chainId: bigint;
  address: Uint8Array;
  nonce: bigint;
  yParity: bigint;
  r: bigint;
  s: bigint;
}

export interface CallRequest {
  from?: Uint8Array;
  to?: Uint8Array;
  gas?: bigint;
  gasPrice?: bigint;
  maxFeePerGas?: bigint;
  maxPriorityFeePerGas?: bigint;
  value?: bigint;
  input?: Uint8Array;
  nonce?: bigint;
  type?: bigint;
  chainId?: bigint;
  accessList?: AccessListItem[];
  authorizationList?: AuthorizationItem[];
}

function decodeAccessList(v: unknown): AccessListItem[] {
  if (!Array.isArray(v)) fail("expected access list array");
  return v.map((item) => {
    const o = obj(item, "access list entry");
    const keys = o.storageKeys ?? [];
    if (!Array.isArray(keys)) fail("storageKeys must be an array");
    return { address: decodeData(o.address, 20), storageKeys: keys.map((k) => decodeData(k, 32)) };
  });
}

function decodeAuthorizationList(v: unknown): AuthorizationItem[] {
  if (!Array.isArray(v)) fail("expected authorization list array");
  return v.map((item) => {
    const o = obj(item, "authorization");
    const q = (k: string, bits = 256) => field(o, k, (x) => decodeQuantity(x, bits)) ?? 0n;
    return {
      chainId: q("chainId"),
      address: field(o, "address", (x) => decodeData(x, 20)) ?? fail("authorization address missing"),
      nonce: q("nonce", 64),
      yParity: q("yParity", 8),
      r: q("r"),
      s: q("s"),
    };
  });
}

export function decodeCallRequest(v: unknown): CallRequest {
  const o = obj(v, "transaction");
  const input = field(o, "input", (x) => decodeData(x));
  const dataField = field(o, "data", (x) => decodeData(x));
  if (input !== undefined && dataField !== undefined && Buffer.compare(input, dataField) !== 0) {
    fail('both "data" and "input" are set and not equal. Please use "input" to pass transaction call data');
  }
  if (o.blobVersionedHashes !== undefined || o.blobs !== undefined)
    fail("blob transactions are not supported on this chain");
  const req: CallRequest = {
    from: field(o, "from", (x) => decodeData(x, 20)),
    to: field(o, "to", (x) => decodeData(x, 20)),
    gas: field(o, "gas", (x) => decodeQuantity(x, 64)),
    gasPrice: field(o, "gasPrice", (x) => decodeQuantity(x, 256)),
    maxFeePerGas: field(o, "maxFeePerGas", (x) => decodeQuantity(x, 256)),
    maxPriorityFeePerGas: field(o, "maxPriorityFeePerGas", (x) => decodeQuantity(x, 256)),
    value: field(o, "value", (x) => decodeQuantity(x, 256)),
    input: input ?? dataField,
    nonce: field(o, "nonce", (x) => decodeQuantity(x, 64)),
    type: field(o, "type", (x) => decodeQuantity(x, 8)),
    chainId: field(o, "chainId", (x) => decodeQuantity(x, 256)),
    accessList: field(o, "accessList", decodeAccessList),
    authorizationList: field(o, "authorizationList", decodeAuthorizationList),
  };
  if (
    req.gasPrice !== undefined &&
    (req.maxFeePerGas !== undefined || req.maxPriorityFeePerGas !== undefined)
  ) {
    fail("both gasPrice and (maxFeePerGas or maxPriorityFeePerGas) specified");
  }
  if (
    req.maxFeePerGas !== undefined &&
    req.maxPriorityFeePerGas !== undefined &&
    req.maxPriorityFeePerGas > req.maxFeePerGas
  ) {
    fail(`maxFeePerGas (${req.maxFeePerGas}) < maxPriorityFeePerGas (${req.maxPriorityFeePerGas})`);
  }
  return req;
}

export const callRequest = (name: string) => param(name, decodeCallRequest);

export type StateOverride = Map<string, AccountOverride>;

function decodeSlots(v: unknown): Map<string, Uint8Array> {
  const o = obj(v, "storage");
  const out = new Map<string, Uint8Array>();
  for (const [slot, value] of Object.entries(o)) {
    const key = decodeData(slot, 32);
    out.set(Buffer.from(key).toString("hex"), decodeData(value, 32));
  }
  return out;
}

export function decodeStateOverride(v: unknown): StateOverride {
  const o = obj(v, "state override");
  const out: StateOverride = new Map();
  for (const [addr, value] of Object.entries(o)) {
    const address = decodeData(addr, 20);
    const a = obj(value, "account override");
    const override: AccountOverride = {
      balance: field(a, "balance", (x) => decodeQuantity(x, 256)),
      nonce: field(a, "nonce", (x) => decodeQuantity(x, 64)),
      code: field(a, "code", (x) => decodeData(x)),
      state: field(a, "state", decodeSlots),
      stateDiff: field(a, "stateDiff", decodeSlots),
      movePrecompileToAddress: field(a, "movePrecompileToAddress", (x) => decodeData(x, 20)),
    };
    if (override.state !== undefined && override.stateDiff !== undefined) {
      fail(`account ${addr} has both 'state' and 'stateDiff'`);
    }
    out.set(Buffer.from(address).toString("hex"), override);
  }
  return out;
}

export const stateOverride = (name: string) => param(name, decodeStateOverride);

export function decodeBlockOverrides(v: unknown): BlockOverrides {
  const o = obj(v, "block overrides");
  return {
    number: field(o, "number", (x) => decodeQuantity(x, 64)),
    time: field(o, "time", (x) => decodeQuantity(x, 64)),
    gasLimit: field(o, "gasLimit", (x) => decodeQuantity(x, 64)),
    feeRecipient:
      field(o, "feeRecipient", (x) => decodeData(x, 20)) ?? field(o, "coinbase", (x) => decodeData(x, 20)),
    prevRandao:
      field(o, "prevRandao", (x) => decodeData(x, 32)) ?? field(o, "random", (x) => decodeData(x, 32)),
    baseFeePerGas:
      field(o, "baseFeePerGas", (x) => decodeQuantity(x, 256)) ??
      field(o, "baseFee", (x) => decodeQuantity(x, 256)),
    blobBaseFee: field(o, "blobBaseFee", (x) => decodeQuantity(x, 256)),
  };
}

export const blockOverrides = (name: string) => param(name, decodeBlockOverrides);

export interface LogFilter {
  fromBlock?: BlockRef;
  toBlock?: BlockRef;
  blockHash?: Uint8Array;
  addresses: Uint8Array[];
  /** Per position: null (any) or a set of alternatives. */
  topics: (Uint8Array[] | null)[];
}

export function decodeLogFilter(v: unknown): LogFilter {
  const o = obj(v, "filter");
  const blockHash = field(o, "blockHash", (x) => decodeData(x, 32));
  const fromBlock = field(o, "fromBlock", decodeBlockNumberOrTag);
  const toBlock = field(o, "toBlock", decodeBlockNumberOrTag);
  if (blockHash !== undefined && (fromBlock !== undefined || toBlock !== undefined)) {
    fail("cannot specify both BlockHash and FromBlock/ToBlock, choose one or the other");
  }
  let addresses: Uint8Array[] = [];
  if (o.address !== undefined && o.address !== null) {
    addresses = Array.isArray(o.address)
      ? o.address.map((a) => decodeData(a, 20))
      : [decodeData(o.address, 20)];
  }
  const topics: (Uint8Array[] | null)[] = [];
  if (o.topics !== undefined && o.topics !== null) {
    if (!Array.isArray(o.topics)) fail("topics must be an array");
    if (o.topics.length > 4) fail("too many topics, at most 4");
    for (const t of o.topics) {
      if (t === null) topics.push(null);
      else if (Array.isArray(t))
        topics.push(
          t.length === 0
            ? null
            : t.map((x) => (x === null ? fail("null in topic alternatives") : decodeData(x, 32))),
        );
      else topics.push([decodeData(t, 32)]);
    }
  }
  return { fromBlock, toBlock, blockHash, addresses, topics };
}

export const logFilter = (name: string) => param(name, decodeLogFilter);

export { ParamError };
