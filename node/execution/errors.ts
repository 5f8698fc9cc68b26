import { OpenGpuError } from "../utils/errors.ts";

/** Why a block was not imported. */
export const ChainErrorCode = {
  /** The parent block is not known (or its state is not available). */
  UNKNOWN_PARENT: "CHAIN_UNKNOWN_PARENT",
  /** A header field is inconsistent with the parent (number, timestamp, gas limit, base fee, ...). */
  INVALID_HEADER: "CHAIN_INVALID_HEADER",
  /** The body does not match the header (tx root, withdrawals root, uncles) or holds an invalid tx. */
  INVALID_BODY: "CHAIN_INVALID_BODY",
  /** Executing the block produced different results than its header commits to. */
  INVALID_EXECUTION: "CHAIN_INVALID_EXECUTION",
  /** The block (or a payload) could not be decoded. */
  MALFORMED: "CHAIN_MALFORMED",
  /** A block that a head update refers to is not known. */
  UNKNOWN_BLOCK: "CHAIN_UNKNOWN_BLOCK",
  /** The datadir holds no initialized chain. */
  NOT_INITIALIZED: "CHAIN_NOT_INITIALIZED",
} as const;
export type ChainErrorCode = (typeof ChainErrorCode)[keyof typeof ChainErrorCode];

export class ChainError extends OpenGpuError<ChainErrorCode> {
  override name = "ChainError";
}
