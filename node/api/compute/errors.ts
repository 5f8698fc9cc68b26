/**
 * Errors of the compute layer's client-facing APIs (JSON-RPC `opengpu_`, REST `/opengpu/v1`),
 * with the JSON-RPC code and HTTP status each maps to.
 */
import { OpenGpuError } from "../../utils/errors.ts";

export const ComputeApiErrorCode = {
  /** No task, provider, model or blob with this id (JSON-RPC -32001, HTTP 404). */
  NOT_FOUND: "COMPUTE_API_NOT_FOUND",
  /** A malformed or out-of-range argument (JSON-RPC -32602, HTTP 400). */
  INVALID_PARAMS: "COMPUTE_API_INVALID_PARAMS",
  /** Above a size or count limit (JSON-RPC -32005, HTTP 413). */
  LIMIT_EXCEEDED: "COMPUTE_API_LIMIT_EXCEEDED",
  /** Reading the system contracts or the blob store failed (JSON-RPC -32000, HTTP 500). */
  FAILED: "COMPUTE_API_FAILED",
} as const;
export type ComputeApiErrorCode = (typeof ComputeApiErrorCode)[keyof typeof ComputeApiErrorCode];

export class ComputeApiError extends OpenGpuError<ComputeApiErrorCode> {
  override name = "ComputeApiError";
}

export const notFound = (message: string, meta: Record<string, unknown> = {}) =>
  new ComputeApiError(ComputeApiErrorCode.NOT_FOUND, message, meta);
export const invalidParams = (message: string, meta: Record<string, unknown> = {}) =>
  new ComputeApiError(ComputeApiErrorCode.INVALID_PARAMS, message, meta);
export const limitExceeded = (message: string, meta: Record<string, unknown> = {}) =>
  new ComputeApiError(ComputeApiErrorCode.LIMIT_EXCEEDED, message, meta);

/** HTTP status of each code (REST). */
export const HTTP_STATUS: Readonly<Record<ComputeApiErrorCode, number>> = {
  [ComputeApiErrorCode.NOT_FOUND]: 404,
  [ComputeApiErrorCode.INVALID_PARAMS]: 400,
  [ComputeApiErrorCode.LIMIT_EXCEEDED]: 413,
  [ComputeApiErrorCode.FAILED]: 500,
};
