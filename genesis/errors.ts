import { OpenGpuError } from "../node/utils/errors.ts";

export const GenesisErrorCode = {
  /** The file is not JSON, or not an object. */
  MALFORMED: "GENESIS_MALFORMED",
  /** A required field is missing or has the wrong type. */
  INVALID_FIELD: "GENESIS_INVALID_FIELD",
  /** Balances do not add up to the 21,000,000 oGPU supply. */
  SUPPLY_MISMATCH: "GENESIS_SUPPLY_MISMATCH",
  /** The fork schedule is not one this client can run. */
  UNSUPPORTED_FORKS: "GENESIS_UNSUPPORTED_FORKS",
  /** A datadir already holds a different genesis. */
  MISMATCH: "GENESIS_MISMATCH",
} as const;
export type GenesisErrorCode = (typeof GenesisErrorCode)[keyof typeof GenesisErrorCode];

export class GenesisError extends OpenGpuError<GenesisErrorCode> {
  override name = "GenesisError";
}
