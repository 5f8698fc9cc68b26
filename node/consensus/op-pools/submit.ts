/**
 * Checks an operation someone hands us (Beacon API pool POSTs, gossip, the CLI) against the head
 * state before it enters the op pool, with the state transition's own rules, so a block we
 * propose never carries an operation that would make it invalid. Each refusal says why.
 */
import { ForkSeq } from "@lodestar/params";
import {
  assertValidAttesterSlashing,
  assertValidProposerSlashing,
  type CachedBeaconStateElectra,
  getAttesterSlashableIndices,
  getVoluntaryExitValidity,
  isSlashableValidator,
  isValidBlsToExecutionChange,
  VoluntaryExitValidity,
} from "@lodestar/state-transition";
import type { capella, electra, phase0 } from "@lodestar/types";
import { errorMessage, OpenGpuError } from "../../utils/errors.ts";
import { TypedEmitter } from "../../utils/events.ts";
import type { OpPool } from "./op-pool.ts";

export const OperationErrorCode = {
  /** A voluntary exit the head state would refuse (the reason is in the message). */
  INVALID_VOLUNTARY_EXIT: "OPERATION_INVALID_VOLUNTARY_EXIT",
  INVALID_PROPOSER_SLASHING: "OPERATION_INVALID_PROPOSER_SLASHING",
  INVALID_ATTESTER_SLASHING: "OPERATION_INVALID_ATTESTER_SLASHING",
  INVALID_BLS_CHANGE: "OPERATION_INVALID_BLS_TO_EXECUTION_CHANGE",
} as const;
export type OperationErrorCode = (typeof OperationErrorCode)[keyof typeof OperationErrorCode];
export class OperationError extends OpenGpuError<OperationErrorCode> {
  override name = "OperationError";
}

const EXIT_REASONS: Record<string, string> = {
  [VoluntaryExitValidity.inactive]: "validator is not active",
  [VoluntaryExitValidity.alreadyExited]: "validator has already initiated its exit",
  [VoluntaryExitValidity.earlyEpoch]: "exit epoch is in the future",
  [VoluntaryExitValidity.shortTimeActive]: "validator has not been active for SHARD_COMMITTEE_PERIOD epochs",
  [VoluntaryExitValidity.pendingWithdrawals]: "validator has pending partial withdrawals",
  [VoluntaryExitValidity.invalidSignature]: "invalid signature",
};

/** An operation that passed `OperationSubmitter` and entered the pool. */
export type AcceptedOperation =
  | { kind: "voluntary_exit"; operation: phase0.SignedVoluntaryExit }
  | { kind: "proposer_slashing"; operation: phase0.ProposerSlashing }
  | { kind: "attester_slashing"; operation: electra.AttesterSlashing }
  | { kind: "bls_to_execution_change"; operation: capella.SignedBLSToExecutionChange };

export interface OperationSubmitterEvents {
  /** An operation entered the pool (gossip publishes it to the network). */
  accepted: (op: AcceptedOperation) => void;
}

/** Validates operations against a state and adds the valid ones to the pool. */
export class OperationSubmitter extends TypedEmitter<OperationSubmitterEvents> {
  private readonly pool: OpPool;
  private readonly headState: () => CachedBeaconStateElectra;

  constructor(pool: OpPool, headState: () => CachedBeaconStateElectra) {
    super();
    this.pool = pool;
    this.headState = headState;
  }

  voluntaryExit(exit: phase0.SignedVoluntaryExit): void {
    const validity = getVoluntaryExitValidity(ForkSeq.electra, this.headState(), exit, true);
    if (validity !== VoluntaryExitValidity.valid) {
      throw new OperationError(
        OperationErrorCode.INVALID_VOLUNTARY_EXIT,
        `voluntary exit of validator ${exit.message.validatorIndex} refused: ${EXIT_REASONS[validity] ?? validity}`,
        { validatorIndex: exit.message.validatorIndex, reason: validity },
      );
    }
    this.pool.addVoluntaryExit(exit);
    this.emit("accepted", { kind: "voluntary_exit", operation: exit });
  }

  proposerSlashing(slashing: phase0.ProposerSlashing): void {
    const state = this.headState();
    const index = slashing.signedHeader1.message.proposerIndex;
    const fail = (reason: string): never => {
      throw new OperationError(
        OperationErrorCode.INVALID_PROPOSER_SLASHING,
        `proposer slashing of validator ${index} refused: ${reason}`,
        { validatorIndex: index },
      );
    };
    if (index >= state.validators.length) fail("unknown validator");
    try {
      assertValidProposerSlashing(
        state.config,
        state.epochCtx.pubkeyCache,
        state.slot,
        slashing,
        state.validators.getReadonly(index),
        true,
      );
    } catch (err) {
      fail(errorMessage(err));
    }
    this.pool.addProposerSlashing(slashing);
    this.emit("accepted", { kind: "proposer_slashing", operation: slashing });
  }

  attesterSlashing(slashing: electra.AttesterSlashing): void {
    const state = this.headState();
    const fail = (reason: string): never => {
      throw new OperationError(
        OperationErrorCode.INVALID_ATTESTER_SLASHING,
        `attester slashing refused: ${reason}`,
      );
    };
    try {
      assertValidAttesterSlashing(
        state.config,
        state.epochCtx.pubkeyCache,
        state.slot,
        state.validators.length,
        slashing,
        true,
      );
    } catch (err) {
      fail(errorMessage(err));
    }
    const slashable = getAttesterSlashableIndices(slashing).some(
      (i) =>
        i < state.validators.length &&
        isSlashableValidator(state.validators.getReadonly(i), state.epochCtx.epoch),
    );
    if (!slashable) fail("no validator in both attestations can still be slashed");
    this.pool.addAttesterSlashing(slashing);
    this.emit("accepted", { kind: "attester_slashing", operation: slashing });
  }

  blsToExecutionChange(change: capella.SignedBLSToExecutionChange): void {
    const state = this.headState();
    const index = change.message.validatorIndex;
    const fail = (reason: string): never => {
      throw new OperationError(
        OperationErrorCode.INVALID_BLS_CHANGE,
        `BLS-to-execution change of validator ${index} refused: ${reason}`,
        { validatorIndex: index },
      );
    };
    if (index >= state.validators.length) fail("unknown validator");
    const result = isValidBlsToExecutionChange(
      state.config,
      state.validators.getReadonly(index),
      change,
      true,
    );
    if (!result.valid) fail(errorMessage(result.error));
    this.pool.addBlsToExecutionChange(change);
    this.emit("accepted", { kind: "bls_to_execution_change", operation: change });
  }
}
