/**
 * JSON-RPC errors: Ethereum's codes and the messages tools match on, in one place.
 *
 *   -32700 parse error          -32600 invalid request       -32601 method not found
 *   -32602 invalid params        -32603 internal error        -32000 server error (geth's
 *          catch-all: tx pool rejections, "header not found", ...)
 *   -32001 resource not found (EIP-1474; opengpu_ lookups of unknown tasks, providers, models)
 *   3      execution reverted (with the revert data)          -32002 request timed out
 *   -32005 limit exceeded (result or range too large, rate limits)
 */
import { bytesToHex } from "@ethereumjs/util";
import { ChainError, ChainErrorCode } from "../../execution/errors.ts";
import { TraceError } from "../../execution/tracing/errors.ts";
import { TxPoolError } from "../../execution/txpool/errors.ts";

export const RpcErrorCode = {
  PARSE_ERROR: -32700,
  INVALID_REQUEST: -32600,
  METHOD_NOT_FOUND: -32601,
  INVALID_PARAMS: -32602,
  INTERNAL: -32603,
  SERVER: -32000,
  RESOURCE_NOT_FOUND: -32001,
  TIMEOUT: -32002,
  LIMIT_EXCEEDED: -32005,
  EXECUTION_REVERTED: 3,
} as const;

export class RpcError extends Error {
  override name = "RpcError";
  readonly code: number;
  readonly data: unknown;
  constructor(code: number, message: string, data?: unknown) {
    super(message);
    this.code = code;
    this.data = data;
  }

  toJSON(): { code: number; message: string; data?: unknown } {
    return this.data === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, data: this.data };
  }
}

export const invalidParams = (message: string) => new RpcError(RpcErrorCode.INVALID_PARAMS, message);
export const serverError = (message: string) => new RpcError(RpcErrorCode.SERVER, message);
export const headerNotFound = () => new RpcError(RpcErrorCode.SERVER, "header not found");

/** `execution reverted` with the revert data, decoded as Error(string) when it is one. */
export function revertError(returnData: Uint8Array): RpcError {
  const data = bytesToHex(returnData);
  let reason = "";
  // Error(string) selector 0x08c379a0
  if (returnData.length >= 68 && data.startsWith("0x08c379a0")) {
    try {
      const length = Number(BigInt(`0x${data.slice(10 + 64, 10 + 128)}`));
      const bytes = returnData.subarray(68, 68 + length);
      reason = new TextDecoder("utf-8", { fatal: false }).decode(bytes);
    } catch {
      reason = "";
    }
  }
  return new RpcError(
    RpcErrorCode.EXECUTION_REVERTED,
    reason ? `execution reverted: ${reason}` : "execution reverted",
    data,
  );
}

/** Maps any thrown value to an RpcError (domain errors keep their messages). */
export function toRpcError(err: unknown): RpcError {
  if (err instanceof RpcError) return err;
  if (err instanceof TxPoolError) return new RpcError(RpcErrorCode.SERVER, err.message);
  // Tracing failures carry geth's messages ("transaction not found", "execution timeout", ...).
  if (err instanceof TraceError) return new RpcError(RpcErrorCode.SERVER, err.message);
  if (err instanceof ChainError) {
    if (err.code === ChainErrorCode.UNKNOWN_BLOCK) return headerNotFound();
    return new RpcError(RpcErrorCode.SERVER, err.message);
  }
  const message = err instanceof Error ? err.message : String(err);
  return new RpcError(RpcErrorCode.INTERNAL, message || "internal error");
}
