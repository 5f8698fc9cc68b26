import { OpenGpuError } from "../../utils/errors.ts";

/**
 * Why a transaction was refused by the pool. Messages start with geth's texts, which wallets
 * and libraries match on (e.g. viem maps "nonce too low" to NonceTooLowError).
 */
export const TxPoolErrorCode = {
  /** Not a decodable transaction. */
  MALFORMED: "TXPOOL_MALFORMED",
  /** Type not accepted by this chain (blob transactions on OpenGPU networks). */
  TYPE_NOT_SUPPORTED: "TXPOOL_TYPE_NOT_SUPPORTED",
  /** Encoded transaction larger than the pool accepts. */
  OVERSIZED: "TXPOOL_OVERSIZED",
  /** Signature invalid, or signed for another chain. */
  INVALID_SENDER: "TXPOOL_INVALID_SENDER",
  /** Legacy transaction without EIP-155 replay protection. */
  UNPROTECTED: "TXPOOL_UNPROTECTED",
  NONCE_TOO_LOW: "TXPOOL_NONCE_TOO_LOW",
  NONCE_MAX: "TXPOOL_NONCE_MAX",
  INSUFFICIENT_FUNDS: "TXPOOL_INSUFFICIENT_FUNDS",
  INTRINSIC_GAS: "TXPOOL_INTRINSIC_GAS",
  FLOOR_DATA_GAS: "TXPOOL_FLOOR_DATA_GAS",
  GAS_LIMIT: "TXPOOL_GAS_LIMIT",
  TIP_ABOVE_FEE_CAP: "TXPOOL_TIP_ABOVE_FEE_CAP",
  FEE_CAP_TOO_LOW: "TXPOOL_FEE_CAP_TOO_LOW",
  UNDERPRICED: "TXPOOL_UNDERPRICED",
  REPLACEMENT_UNDERPRICED: "TXPOOL_REPLACEMENT_UNDERPRICED",
  ALREADY_KNOWN: "TXPOOL_ALREADY_KNOWN",
  POOL_FULL: "TXPOOL_FULL",
  ACCOUNT_LIMIT: "TXPOOL_ACCOUNT_LIMIT",
} as const;
export type TxPoolErrorCode = (typeof TxPoolErrorCode)[keyof typeof TxPoolErrorCode];

export class TxPoolError extends OpenGpuError<TxPoolErrorCode> {
  override name = "TxPoolError";
}
