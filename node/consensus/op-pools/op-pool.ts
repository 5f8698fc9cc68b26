/**
 * Operations waiting for inclusion besides attestations: voluntary exits, proposer and
 * attester slashings, BLS-to-execution changes. Each is kept once (by root) and dropped when
 * it can no longer apply to the head state (validator already exited or slashed).
 */
import { bytesToHex } from "@ethereumjs/util";
import {
  MAX_ATTESTER_SLASHINGS_ELECTRA,
  MAX_BLS_TO_EXECUTION_CHANGES,
  MAX_PROPOSER_SLASHINGS,
  MAX_VOLUNTARY_EXITS,
} from "@lodestar/params";
import type { CachedBeaconStateElectra } from "@lodestar/state-transition";
import { type capella, type electra, type phase0, ssz } from "@lodestar/types";

export class OpPool {
  private readonly exits = new Map<number, phase0.SignedVoluntaryExit>();
  private readonly proposerSlashings = new Map<number, phase0.ProposerSlashing>();
  private readonly attesterSlashings = new Map<string, electra.AttesterSlashing>();
  private readonly blsChanges = new Map<number, capella.SignedBLSToExecutionChange>();

  addVoluntaryExit(exit: phase0.SignedVoluntaryExit): void {
    this.exits.set(exit.message.validatorIndex, exit);
  }

  addProposerSlashing(slashing: phase0.ProposerSlashing): void {
    this.proposerSlashings.set(slashing.signedHeader1.message.proposerIndex, slashing);
  }

  addAttesterSlashing(slashing: electra.AttesterSlashing): void {
    this.attesterSlashings.set(bytesToHex(ssz.electra.AttesterSlashing.hashTreeRoot(slashing)), slashing);
  }

  addBlsToExecutionChange(change: capella.SignedBLSToExecutionChange): void {
    this.blsChanges.set(change.message.validatorIndex, change);
  }

  /** Everything waiting for inclusion (Beacon API pool queries). */
  pending(): {
    voluntaryExits: phase0.SignedVoluntaryExit[];
    proposerSlashings: phase0.ProposerSlashing[];
    attesterSlashings: electra.AttesterSlashing[];
    blsToExecutionChanges: capella.SignedBLSToExecutionChange[];
  } {
    return {
      voluntaryExits: [...this.exits.values()],
      proposerSlashings: [...this.proposerSlashings.values()],
      attesterSlashings: [...this.attesterSlashings.values()],
      blsToExecutionChanges: [...this.blsChanges.values()],
    };
  }

  get counts(): { exits: number; proposerSlashings: number; attesterSlashings: number; blsChanges: number } {
    return {
      exits: this.exits.size,
      proposerSlashings: this.proposerSlashings.size,
      attesterSlashings: this.attesterSlashings.size,
      blsChanges: this.blsChanges.size,
    };
  }

  /** Operations for a block built on `state` (already advanced to the block's slot). */
  forBlock(state: CachedBeaconStateElectra): {
    voluntaryExits: phase0.SignedVoluntaryExit[];
    proposerSlashings: phase0.ProposerSlashing[];
    attesterSlashings: electra.AttesterSlashing[];
    blsToExecutionChanges: capella.SignedBLSToExecutionChange[];
  } {
    const validators = state.validators;
    const notSlashed = (i: number) => i < validators.length && !validators.getReadonly(i).slashed;
    const notExiting = (i: number) =>
      i < validators.length && validators.getReadonly(i).exitEpoch === Number.POSITIVE_INFINITY;
    const proposerSlashings = [...this.proposerSlashings.values()]
      .filter((s) => notSlashed(s.signedHeader1.message.proposerIndex))
      .slice(0, MAX_PROPOSER_SLASHINGS);
    const attesterSlashings = [...this.attesterSlashings.values()]
      .filter((s) =>
        s.attestation1.attestingIndices.some(
          (i) => s.attestation2.attestingIndices.includes(i) && notSlashed(i),
        ),
      )
      .slice(0, MAX_ATTESTER_SLASHINGS_ELECTRA);
    const voluntaryExits = [...this.exits.values()]
      .filter((e) => notExiting(e.message.validatorIndex))
      .slice(0, MAX_VOLUNTARY_EXITS);
    const blsToExecutionChanges = [...this.blsChanges.values()]
      .filter(
        (c) =>
          c.message.validatorIndex < validators.length &&
          validators.getReadonly(c.message.validatorIndex).withdrawalCredentials[0] === 0,
      )
      .slice(0, MAX_BLS_TO_EXECUTION_CHANGES);
    return { voluntaryExits, proposerSlashings, attesterSlashings, blsToExecutionChanges };
  }

  /** Forgets operations that the head state shows as applied. */
  prune(state: CachedBeaconStateElectra): void {
    const validators = state.validators;
    for (const [i] of this.exits)
      if (i < validators.length && validators.getReadonly(i).exitEpoch !== Number.POSITIVE_INFINITY)
        this.exits.delete(i);
    for (const [i] of this.proposerSlashings)
      if (i < validators.length && validators.getReadonly(i).slashed) this.proposerSlashings.delete(i);
    for (const [key, s] of this.attesterSlashings) {
      const both = s.attestation1.attestingIndices.filter((i) => s.attestation2.attestingIndices.includes(i));
      if (both.every((i) => i >= validators.length || validators.getReadonly(i).slashed))
        this.attesterSlashings.delete(key);
    }
    for (const [i] of this.blsChanges)
      if (i < validators.length && validators.getReadonly(i).withdrawalCredentials[0] !== 0)
        this.blsChanges.delete(i);
  }
}
