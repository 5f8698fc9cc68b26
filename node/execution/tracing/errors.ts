/**
 * Tracing errors (with geth's messages) and the decoding of tracer configuration objects,
 * which reports bad fields the way geth's JSON decoding does.
 */
import { OpenGpuError } from "../../utils/errors.ts";

export const TraceErrorCode = {
  /** No tracer has the requested name. */
  TRACER_NOT_FOUND: "TRACE_TRACER_NOT_FOUND",
  /** The tracer configuration (or trace options) could not be decoded. */
  INVALID_CONFIG: "TRACE_INVALID_CONFIG",
  /** Tracing took longer than the trace timeout. */
  TIMEOUT: "TRACE_TIMEOUT",
  /** The transaction could not be applied (nonce, funds, intrinsic gas, ...). */
  TX_FAILED: "TRACE_TX_FAILED",
  /** The block or transaction cannot be traced (genesis, missing state, unknown transaction). */
  NOT_TRACEABLE: "TRACE_NOT_TRACEABLE",
} as const;
export type TraceErrorCode = (typeof TraceErrorCode)[keyof typeof TraceErrorCode];

export class TraceError extends OpenGpuError<TraceErrorCode> {
  override name = "TraceError";
}

function jsonType(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "array";
  if (typeof v === "boolean") return "bool";
  return typeof v;
}

/**
 * Reads the boolean fields of a tracer's config object. Keys match case-insensitively and
 * unknown keys are ignored, as with geth's JSON decoding into a struct.
 */
export function decodeFlags<K extends string>(
  raw: unknown,
  goType: string,
  fields: readonly K[],
): Record<K, boolean> {
  const out = Object.fromEntries(fields.map((f) => [f, false])) as Record<K, boolean>;
  if (raw === undefined || raw === null) return out;
  if (typeof raw !== "object" || Array.isArray(raw)) {
    throw new TraceError(
      TraceErrorCode.INVALID_CONFIG,
      `json: cannot unmarshal ${jsonType(raw)} into Go value of type ${goType}`,
    );
  }
  const struct = goType.split(".").pop() ?? goType;
  for (const [key, value] of Object.entries(raw)) {
    const field = fields.find((f) => f.toLowerCase() === key.toLowerCase());
    if (field === undefined || value === null) continue;
    if (typeof value !== "boolean") {
      throw new TraceError(
        TraceErrorCode.INVALID_CONFIG,
        `json: cannot unmarshal ${jsonType(value)} into Go struct field ${struct}.${field} of type bool`,
      );
    }
    out[field] = value;
  }
  return out;
}
