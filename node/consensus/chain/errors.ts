import { OpenGpuError } from "../../utils/errors.ts";

/** Why a beacon block was not imported. */
export const BlockErrorCode = {
  /** Already imported. */
  ALREADY_KNOWN: "BLOCK_ERROR_ALREADY_KNOWN",
  /** The parent block is not known (sync needed). */
  PARENT_UNKNOWN: "BLOCK_ERROR_PARENT_UNKNOWN",
  /** The block's slot is after the current slot (beyond clock tolerance). */
  FUTURE_SLOT: "BLOCK_ERROR_FUTURE_SLOT",
  /** The block is at or before the finalized slot, or does not descend from the finalized block. */
  WOULD_REVERT_FINALIZED: "BLOCK_ERROR_WOULD_REVERT_FINALIZED",
  /** A BLS signature in the block (proposer, RANDAO, attestation, sync aggregate, operation) is invalid. */
  INVALID_SIGNATURE: "BLOCK_ERROR_INVALID_SIGNATURE",
  /** The state transition failed: wrong proposer, bad state root, invalid operation. */
  INVALID_STATE_TRANSITION: "BLOCK_ERROR_INVALID_STATE_TRANSITION",
  /** The execution layer found the payload invalid. */
  INVALID_EXECUTION_PAYLOAD: "BLOCK_ERROR_INVALID_EXECUTION_PAYLOAD",
  /** The execution layer could not validate the payload (its parent is unknown to it). */
  EXECUTION_SYNCING: "BLOCK_ERROR_EXECUTION_SYNCING",
} as const;
export type BlockErrorCode = (typeof BlockErrorCode)[keyof typeof BlockErrorCode];

export class BlockError extends OpenGpuError<BlockErrorCode> {
  override name = "BlockError";
}
