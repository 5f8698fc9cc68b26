/**
 * Typed errors of the slashing-protection database. A refusal to sign carries the pubkey and the
 * conflicting record in `meta`, so the validator client can log why without parsing messages.
 */
import { OpenGpuError } from "../../utils/errors.ts";

export const SlashingProtectionErrorCode = {
  /** A different block was already signed at this slot (or one whose signing root is unknown). */
  DOUBLE_BLOCK_PROPOSAL: "SLASHING_PROTECTION_DOUBLE_BLOCK_PROPOSAL",
  /** The block's slot is at or below the validator's lowest signed / imported block slot. */
  BLOCK_SLOT_TOO_LOW: "SLASHING_PROTECTION_BLOCK_SLOT_TOO_LOW",
  /** A different attestation was already signed for this target epoch. */
  DOUBLE_VOTE: "SLASHING_PROTECTION_DOUBLE_VOTE",
  /** The attestation surrounds one already signed (lower source, higher target). */
  SURROUNDING_VOTE: "SLASHING_PROTECTION_SURROUNDING_VOTE",
  /** The attestation is surrounded by one already signed (higher source, lower target). */
  SURROUNDED_VOTE: "SLASHING_PROTECTION_SURROUNDED_VOTE",
  /** The source epoch is below the validator's lowest signed / imported source epoch. */
  SOURCE_EPOCH_TOO_LOW: "SLASHING_PROTECTION_SOURCE_EPOCH_TOO_LOW",
  /** The target epoch is at or below the validator's lowest signed / imported target epoch. */
  TARGET_EPOCH_TOO_LOW: "SLASHING_PROTECTION_TARGET_EPOCH_TOO_LOW",
  /** The attestation's source epoch is after its target epoch. */
  SOURCE_AFTER_TARGET: "SLASHING_PROTECTION_SOURCE_AFTER_TARGET",
  /** A pubkey, root, slot or epoch argument is malformed. */
  INVALID_INPUT: "SLASHING_PROTECTION_INVALID_INPUT",
  /** An interchange document is not valid EIP-3076 (schema, hex, quoted integers). */
  INVALID_INTERCHANGE: "SLASHING_PROTECTION_INVALID_INTERCHANGE",
  /** The interchange format version is not 5. */
  UNSUPPORTED_INTERCHANGE_VERSION: "SLASHING_PROTECTION_UNSUPPORTED_INTERCHANGE_VERSION",
  /** The genesis validators root differs from the chain's (or the database's). */
  GENESIS_VALIDATORS_ROOT_MISMATCH: "SLASHING_PROTECTION_GENESIS_VALIDATORS_ROOT_MISMATCH",
  /** The database could not be opened (locked by another process, corrupt, other schema). */
  OPEN_FAILED: "SLASHING_PROTECTION_OPEN_FAILED",
  /** The database is closed. */
  CLOSED: "SLASHING_PROTECTION_CLOSED",
} as const;
export type SlashingProtectionErrorCode =
  (typeof SlashingProtectionErrorCode)[keyof typeof SlashingProtectionErrorCode];

export class SlashingProtectionError extends OpenGpuError<SlashingProtectionErrorCode> {
  override name = "SlashingProtectionError";
}
