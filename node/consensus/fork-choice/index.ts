/**
 * Fork choice (public face): LMD-GHOST + Casper FFG + proposer boost over a proto-array, fed
 * with block summaries and justified balances by the chain. See interface.ts for the contract.
 */
export { ForkChoiceError, ForkChoiceErrorCode } from "./errors.ts";
export { ForkChoice, type ForkChoiceConfig, type ForkChoiceOptions } from "./fork-choice.ts";
export type {
  BlockSummary,
  Checkpoint,
  ForkChoiceStore,
  IForkChoice,
  JustifiedBalances,
  RootHex,
} from "./interface.ts";
