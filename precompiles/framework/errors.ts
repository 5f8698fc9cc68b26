/** Errors of the system contracts' framework. */
import { OpenGpuError } from "../../node/utils/errors.ts";

export const SystemContractErrorCode = {
  /** A call the contract refuses: becomes an EVM revert with this message (Error(string)). */
  REVERT: "SYSTEM_CONTRACT_REVERT",
  /** The call ran out of the gas it was given. */
  OUT_OF_GAS: "SYSTEM_CONTRACT_OUT_OF_GAS",
} as const;
export type SystemContractErrorCode = (typeof SystemContractErrorCode)[keyof typeof SystemContractErrorCode];

export class SystemContractError extends OpenGpuError<SystemContractErrorCode> {
  override name = "SystemContractError";
}

/** Refuses the call with `reason` (the EVM sees a revert with Error(reason)). */
export function revert(reason: string): never {
  throw new SystemContractError(SystemContractErrorCode.REVERT, reason);
}

/** Refuses the call unless `condition` holds. */
export function require(condition: boolean, reason: string): asserts condition {
  if (!condition) revert(reason);
}
