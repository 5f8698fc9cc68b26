/**
 * Validators of a beacon state for the Beacon API: `id` filters (validator indices or 0x BLS
 * public keys), `status` filters (the spec's nine statuses or their four general groups) and
 * the response records (index, balance, status, validator), plus beacon committees.
 *
 * Ids that name no validator of the state are left out of the answer, as the spec says; ids
 * that are neither an index nor a 48-byte public key, and unknown statuses, are a 400.
 */
import { hexToBytes } from "@ethereumjs/util";
import type { routes } from "@lodestar/api";
import { ApiError } from "@lodestar/api/server";
import { computeEpochAtSlot, computeStartSlotAtEpoch } from "@lodestar/state-transition";
import { getValidatorStatus, mapToGeneralStatus, type ValidatorStatus } from "@lodestar/types";
import type { BeaconState } from "../../consensus/chain/chain.ts";

type ValidatorId = routes.beacon.ValidatorId;
type ValidatorResponse = routes.beacon.ValidatorResponse;
type ValidatorBalance = routes.beacon.ValidatorBalance;
type EpochCommitteeResponse = routes.beacon.EpochCommitteeResponse;

const STATUSES = new Set<string>([
  "pending_initialized",
  "pending_queued",
  "active_ongoing",
  "active_exiting",
  "active_slashed",
  "exited_unslashed",
  "exited_slashed",
  "withdrawal_possible",
  "withdrawal_done",
  "active",
  "pending",
  "exited",
  "withdrawal",
]);
const INDEX_RE = /^\d+$/;
const PUBKEY_RE = /^0x[0-9a-fA-F]{96}$/;

/** Indices of the state's validators named by `ids`, in request order, without duplicates. */
export function validatorIndices(state: BeaconState, ids: readonly ValidatorId[]): number[] {
  const count = state.validators.length;
  const out: number[] = [];
  const seen = new Set<number>();
  for (const id of ids) {
    let index: number | null;
    if (typeof id === "number") index = id;
    else if (INDEX_RE.test(id)) index = Number(id);
    else if (PUBKEY_RE.test(id)) index = state.epochCtx.getValidatorIndex(hexToBytes(id as `0x${string}`));
    else
      throw new ApiError(
        400,
        `Invalid validator id '${id}': expected a validator index or a 0x-prefixed 48-byte public key`,
      );
    // The pubkey cache is shared by all states: a key may belong to a validator this state lacks.
    if (index === null || !Number.isSafeInteger(index) || index >= count || seen.has(index)) continue;
    seen.add(index);
    out.push(index);
  }
  return out;
}

/** Checks status filters (400 for unknown ones). */
export function statusFilter(statuses: readonly string[] | undefined): Set<string> | undefined {
  if (statuses === undefined || statuses.length === 0) return undefined;
  for (const status of statuses)
    if (!STATUSES.has(status)) throw new ApiError(400, `Invalid validator status '${status}'`);
  return new Set(statuses);
}

function allIndices(state: BeaconState): number[] {
  return Array.from({ length: state.validators.length }, (_, i) => i);
}

/** `/eth/v1/beacon/states/{state_id}/validators` records. */
export function validatorResponses(
  state: BeaconState,
  ids: readonly ValidatorId[] | undefined,
  statuses: readonly string[] | undefined,
): ValidatorResponse[] {
  const filter = statusFilter(statuses);
  const epoch = computeEpochAtSlot(state.slot);
  const indices = ids === undefined || ids.length === 0 ? allIndices(state) : validatorIndices(state, ids);
  const out: ValidatorResponse[] = [];
  for (const index of indices) {
    const response = validatorResponse(state, index, epoch);
    if (
      filter === undefined ||
      filter.has(response.status) ||
      filter.has(mapToGeneralStatus(response.status))
    )
      out.push(response);
  }
  return out;
}

export function validatorResponse(state: BeaconState, index: number, epoch: number): ValidatorResponse {
  const validator = state.validators.getReadonly(index).toValue();
  const status: ValidatorStatus = getValidatorStatus(validator, epoch);
  return { index, balance: state.balances.get(index), status, validator };
}

/** `/eth/v1/beacon/states/{state_id}/validator_balances` records. */
export function validatorBalances(
  state: BeaconState,
  ids: readonly ValidatorId[] | undefined,
): ValidatorBalance[] {
  const indices = ids === undefined || ids.length === 0 ? allIndices(state) : validatorIndices(state, ids);
  return indices.map((index) => ({ index, balance: state.balances.get(index) }));
}

/**
 * `/eth/v1/beacon/states/{state_id}/committees`: the beacon committees of `epoch` (default: the
 * state's), which must be the state's previous, current or next epoch (the shufflings a state
 * determines); optionally only committee `index` and/or slot `slot` (which must lie in `epoch`).
 */
export function epochCommittees(
  state: BeaconState,
  filter: { epoch?: number; index?: number; slot?: number },
): EpochCommitteeResponse[] {
  const stateEpoch = computeEpochAtSlot(state.slot);
  const epoch = filter.epoch ?? stateEpoch;
  if (epoch < stateEpoch - 1 || epoch > stateEpoch + 1) {
    throw new ApiError(
      400,
      `Epoch ${epoch} is not the state's previous, current or next epoch (the state is at epoch ${stateEpoch})`,
    );
  }
  const shuffling = state.epochCtx.getShufflingAtEpochOrNull(epoch);
  if (shuffling === null) throw new ApiError(400, `No shuffling for epoch ${epoch} in this state`);
  if (filter.slot !== undefined && computeEpochAtSlot(filter.slot) !== epoch)
    throw new ApiError(400, `Slot ${filter.slot} is not in epoch ${epoch}`);
  if (filter.index !== undefined && filter.index >= shuffling.committeesPerSlot) {
    throw new ApiError(
      400,
      `Committee index ${filter.index} is out of range: epoch ${epoch} has ${shuffling.committeesPerSlot} committee(s) per slot`,
    );
  }
  const startSlot = computeStartSlotAtEpoch(epoch);
  const out: EpochCommitteeResponse[] = [];
  shuffling.committees.forEach((slotCommittees, offset) => {
    const slot = startSlot + offset;
    if (filter.slot !== undefined && slot !== filter.slot) return;
    slotCommittees.forEach((committee, index) => {
      if (filter.index !== undefined && index !== filter.index) return;
      out.push({ index, slot, validators: Array.from(committee) });
    });
  });
  return out;
}
