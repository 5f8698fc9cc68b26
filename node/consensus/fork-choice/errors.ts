/**
 * Fork-choice errors: why a block, an attestation or the fork choice's own configuration was
 * refused. Callers switch on `err.code`; `err.meta` carries the roots and slots involved.
 *
 * Block and attestation codes follow the asserts of consensus-specs `on_block` and
 * `validate_on_attestation`. Several of them (unknown parent/target/head, future slot/epoch)
 * mean "not yet", not "invalid": the spec says to delay consideration until the missing block
 * arrives or the clock catches up.
 */
import { OpenGpuError } from "../../utils/errors.ts";

export const ForkChoiceErrorCode = {
  /** on_block: the parent block is not in the fork choice (unknown, or pruned below finality). */
  UNKNOWN_PARENT: "FORKCHOICE_UNKNOWN_PARENT",
  /** on_block: the block's slot is after the store's current slot. */
  FUTURE_SLOT: "FORKCHOICE_FUTURE_SLOT",
  /** on_block: the block is at or before the start slot of the finalized epoch. */
  FINALIZED_SLOT: "FORKCHOICE_FINALIZED_SLOT",
  /** on_block: the block does not descend from the finalized checkpoint's block. */
  NOT_DESCENDANT_OF_FINALIZED: "FORKCHOICE_NOT_DESCENDANT_OF_FINALIZED",
  /** on_block: the summary is inconsistent (slot not after its parent's). */
  INVALID_BLOCK: "FORKCHOICE_INVALID_BLOCK",
  /** on_attestation: the target checkpoint's block is unknown. */
  UNKNOWN_TARGET: "FORKCHOICE_UNKNOWN_TARGET",
  /** on_attestation: the attested (LMD vote) block is unknown. */
  UNKNOWN_HEAD_BLOCK: "FORKCHOICE_UNKNOWN_HEAD_BLOCK",
  /**
   * on_attestation: inconsistent attestation data (target epoch is not the slot's epoch, the
   * head block is newer than the attestation's slot, or the target is not the head's
   * checkpoint block).
   */
  INVALID_ATTESTATION: "FORKCHOICE_INVALID_ATTESTATION",
  /** on_attestation: the target epoch is after the current epoch. */
  FUTURE_EPOCH: "FORKCHOICE_FUTURE_EPOCH",
  /** on_attestation (gossip only): the target epoch is before the previous epoch. */
  PAST_EPOCH: "FORKCHOICE_PAST_EPOCH",
  /** get_head: the store's justified checkpoint block is not in the tree (cannot happen unless pruned wrongly). */
  UNKNOWN_JUSTIFIED_BLOCK: "FORKCHOICE_UNKNOWN_JUSTIFIED_BLOCK",
  /** get_head: balances are not non-negative integers, or their sum is not exactly representable. */
  INVALID_BALANCES: "FORKCHOICE_INVALID_BALANCES",
  /** Internal invariant broken: a node's weight went negative (votes and weights out of sync). */
  INVALID_WEIGHT: "FORKCHOICE_INVALID_WEIGHT",
  /** Constructor options out of range. */
  INVALID_CONFIG: "FORKCHOICE_INVALID_CONFIG",
} as const;
export type ForkChoiceErrorCode = (typeof ForkChoiceErrorCode)[keyof typeof ForkChoiceErrorCode];

export class ForkChoiceError extends OpenGpuError<ForkChoiceErrorCode> {
  override name = "ForkChoiceError";
}
