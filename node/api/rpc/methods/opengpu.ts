/**
 * The `opengpu_` namespace (on by default): the compute layer for clients and explorers. Tasks,
 * bids, providers and models as the system contracts hold them at the head (format.ts gives the
 * JSON shapes: hex quantities, enumerations by name and code, lowercase addresses), paginated
 * listings with filters, and the node's content-addressed blob store (models, task inputs and
 * outputs) that providers fetch from over the p2p blob protocol. docs/rpc.md documents each
 * method.
 *
 * Errors: unknown task, provider, model or blob -32001; malformed parameters -32602 (naming the
 * argument); sizes above a limit -32005 (with `data.size` / `data.max` where they apply); a
 * failed read of the contracts -32000.
 */
import type { Hex } from "viem";
import { ComputeError, ComputeErrorCode } from "../../../compute-layer/chain-view.ts";
import { ComputeApiError, ComputeApiErrorCode } from "../../compute/errors.ts";
import { RPC_FORMAT as F } from "../../compute/format.ts";
import {
  type ComputeQueries,
  type PageRequest,
  parseAddress,
  parseProviderStatus,
  parseSha256,
  parseTaskState,
  type TaskFilter,
} from "../../compute/queries.ts";
import { RpcError, RpcErrorCode } from "../errors.ts";
import { decodeData, optional, type Param, ParamError } from "../params.ts";
import { type MethodTable, method } from "../registry.ts";

const RPC_CODE: Readonly<Record<string, number>> = {
  [ComputeApiErrorCode.NOT_FOUND]: RpcErrorCode.RESOURCE_NOT_FOUND,
  [ComputeApiErrorCode.INVALID_PARAMS]: RpcErrorCode.INVALID_PARAMS,
  [ComputeApiErrorCode.LIMIT_EXCEEDED]: RpcErrorCode.LIMIT_EXCEEDED,
  [ComputeApiErrorCode.FAILED]: RpcErrorCode.SERVER,
};

function toRpc(err: unknown): unknown {
  if (err instanceof ComputeApiError) {
    const data = Object.keys(err.meta).length > 0 ? err.meta : undefined;
    return new RpcError(RPC_CODE[err.code] ?? RpcErrorCode.SERVER, err.message, data);
  }
  if (err instanceof ComputeError)
    return new RpcError(
      err.code === ComputeErrorCode.NOT_FOUND ? RpcErrorCode.RESOURCE_NOT_FOUND : RpcErrorCode.SERVER,
      err.message,
    );
  return err;
}

/** A handler whose compute-layer errors become JSON-RPC errors. */
function mapped<A extends unknown[], R>(handler: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args) => {
    try {
      return await handler(...args);
    } catch (err) {
      throw toRpc(err);
    }
  };
}

function fail(message: string): never {
  throw new ParamError(message);
}

function quantity(v: unknown, bits: number): bigint {
  if (typeof v === "number") {
    if (!Number.isSafeInteger(v) || v < 0) fail("invalid quantity");
    return BigInt(v);
  }
  if (typeof v !== "string") fail(`cannot unmarshal ${typeof v} into quantity`);
  if (!/^0x(0|[1-9a-fA-F][0-9a-fA-F]*)$/.test(v))
    fail(v.startsWith("0x") ? "invalid hex quantity (no leading zeros)" : "hex string without 0x prefix");
  if (v.length - 2 > bits / 4) fail(`hex number > ${bits} bits`);
  return BigInt(v);
}

function param<T>(name: string, decode: (v: unknown) => T): Param<T> & { optional: false } {
  return { name, optional: false, decode };
}

/** Wraps a compute-API argument check so it reports as a -32602 naming the argument. */
function checked<T>(check: () => T): T {
  try {
    return check();
  } catch (err) {
    if (err instanceof ComputeApiError) fail(err.message);
    throw err;
  }
}

const taskId = (name: string) => param(name, (v) => quantity(v, 256));
const uint64 = (name: string) => param(name, (v) => quantity(v, 64));
const addr = (name: string) =>
  param(name, (v) =>
    typeof v === "string" ? checked(() => parseAddress(v, "address")) : fail("expected address"),
  );
const sha = (name: string) =>
  param(name, (v) =>
    typeof v === "string" ? checked(() => parseSha256(v, "hash")) : fail("expected sha256"),
  );
const bytes = (name: string) => param(name, (v) => decodeData(v));

function object(v: unknown, keys: readonly string[]): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) fail("expected a query object");
  const o = v as Record<string, unknown>;
  for (const key of Object.keys(o))
    if (!keys.includes(key)) fail(`unknown field ${key} (fields: ${keys.join(", ")})`);
  return o;
}

function field<T>(o: Record<string, unknown>, key: string, decode: (v: unknown) => T): T | undefined {
  const value = o[key];
  if (value === undefined || value === null) return undefined;
  try {
    return decode(value);
  } catch (err) {
    if (err instanceof ParamError) fail(`${key}: ${err.message}`);
    if (err instanceof ComputeApiError) fail(`${key}: ${err.message}`);
    throw err;
  }
}

function names(v: unknown, parse: (s: string) => number): Set<number> {
  const list = Array.isArray(v) ? v : [v];
  if (list.length === 0) fail("empty list");
  return new Set(
    list.map((s) => (typeof s === "string" ? parse(s) : fail("expected a name or a list of names"))),
  );
}

function page(o: Record<string, unknown>): PageRequest {
  return {
    cursor: field(o, "cursor", (v) => quantity(v, 256)),
    limit: field(o, "limit", (v) => Number(quantity(v, 32))),
  };
}

const taskQuery = (name: string) =>
  param(name, (v): { filter: TaskFilter; page: PageRequest } => {
    const o = object(v, ["state", "client", "provider", "cursor", "limit"]);
    return {
      filter: {
        states: field(o, "state", (s) => names(s, parseTaskState)),
        client: field(o, "client", (s) => parseAddress(String(s), "address")),
        provider: field(o, "provider", (s) => parseAddress(String(s), "address")),
      },
      page: page(o),
    };
  });

const providerQuery = (name: string) =>
  param(name, (v): { statuses?: Set<number>; page: PageRequest } => {
    const o = object(v, ["status", "cursor", "limit"]);
    return { statuses: field(o, "status", (s) => names(s, parseProviderStatus)), page: page(o) };
  });

const modelQuery = (name: string) => param(name, (v): PageRequest => page(object(v, ["cursor", "limit"])));

const hexBytes = (b: Uint8Array): Hex => `0x${Buffer.from(b).toString("hex")}`;
const next = (cursor: bigint | undefined) => (cursor === undefined ? null : F.num(cursor));

export function opengpuMethods(queries: ComputeQueries): MethodTable {
  return {
    opengpu_getTask: method(
      [taskId("id")],
      mapped(async (id) => F.task(await queries.task(id))),
    ),
    opengpu_getBids: method(
      [taskId("id")],
      mapped(async (id) => (await queries.bids(id)).map((b) => F.bid(b))),
    ),
    opengpu_listTasks: method(
      [optional(taskQuery("query"))],
      mapped(async (query) => {
        const q = query ?? { filter: {}, page: {} };
        const result = await queries.listTasks(q.filter, q.page);
        return {
          tasks: result.items.map((t) => F.task(t)),
          nextCursor: next(result.nextCursor),
          total: F.num(result.total),
        };
      }),
    ),
    opengpu_getProvider: method(
      [addr("address")],
      mapped(async (address) => F.provider(await queries.provider(address))),
    ),
    opengpu_listProviders: method(
      [optional(providerQuery("query"))],
      mapped(async (query) => {
        const result = await queries.listProviders({ statuses: query?.statuses }, query?.page ?? {});
        return {
          providers: result.items.map((p) => F.provider(p)),
          nextCursor: next(result.nextCursor),
          total: F.num(result.total),
        };
      }),
    ),
    opengpu_getModel: method(
      [sha("sha256")],
      mapped(async (hash) => F.model(await queries.model(hash))),
    ),
    opengpu_listModels: method(
      [optional(modelQuery("query"))],
      mapped(async (query) => {
        const result = await queries.listModels(query ?? {});
        return {
          models: result.items.map((m) => F.model(m)),
          nextCursor: next(result.nextCursor),
          total: F.num(result.total),
        };
      }),
    ),
    opengpu_putBlob: method(
      [bytes("data")],
      mapped((data) => queries.putBlob(data)),
    ),
    opengpu_putBlobPart: method(
      [sha("sha256"), uint64("size"), uint64("offset"), bytes("data")],
      mapped(async (hash, size, offset, data) => {
        if (size > BigInt(Number.MAX_SAFE_INTEGER) || offset > BigInt(Number.MAX_SAFE_INTEGER))
          throw new RpcError(RpcErrorCode.INVALID_PARAMS, "size or offset too large");
        const p = await queries.putBlobPart(hash, Number(size), Number(offset), data);
        return { sha256: p.sha256, size: F.num(p.size), received: F.num(p.received), complete: p.complete };
      }),
    ),
    opengpu_getBlob: method(
      [sha("sha256"), optional(uint64("offset")), optional(uint64("length"))],
      mapped(async (hash, offset, length) => {
        if (offset === undefined && length !== undefined)
          throw new RpcError(RpcErrorCode.INVALID_PARAMS, "length needs an offset");
        const data = await queries.getBlob(hash, offset === undefined ? undefined : { offset, length });
        return hexBytes(data);
      }),
    ),
  };
}
