/**
 * State helpers the chain needs from @lodestar/state-transition, including the one it does
 * not export from its package root (unrealized checkpoints, for fork choice pull-up tips);
 * that module is loaded from the file the package itself loads, as node/execution/executor/
 * guard.ts does for the interpreter.
 */
import { bytesToHex } from "@ethereumjs/util";
import { SLOTS_PER_EPOCH } from "@lodestar/params";
import {
  type CachedBeaconStateAllForks,
  computeEpochAtSlot,
  computeStartSlotAtEpoch,
  getBlockRootAtSlot,
} from "@lodestar/state-transition";
import type { phase0 } from "@lodestar/types";
import type { Checkpoint } from "../fork-choice/interface.ts";

type UnrealizedFn = (state: CachedBeaconStateAllForks) => {
  justifiedCheckpoint: phase0.Checkpoint;
  finalizedCheckpoint: phase0.Checkpoint;
};

const unrealizedUrl = new URL(
  "./epoch/computeUnrealizedCheckpoints.js",
  import.meta.resolve("@lodestar/state-transition"),
);
const { computeUnrealizedCheckpoints } = (await import(unrealizedUrl.href)) as {
  computeUnrealizedCheckpoints: UnrealizedFn;
};

export const toHex = (bytes: Uint8Array): string => bytesToHex(bytes);

/** A checkpoint with a hex root; the zero root of genesis checkpoints becomes the genesis block root. */
export function checkpointOf(cp: phase0.Checkpoint, genesisRoot: string): Checkpoint {
  const root = toHex(cp.root);
  return { epoch: cp.epoch, root: /^0x0+$/.test(root) ? genesisRoot : root };
}

export function unrealizedCheckpoints(
  state: CachedBeaconStateAllForks,
  genesisRoot: string,
): { justified: Checkpoint; finalized: Checkpoint } {
  const { justifiedCheckpoint, finalizedCheckpoint } = computeUnrealizedCheckpoints(state);
  return {
    justified: checkpointOf(justifiedCheckpoint, genesisRoot),
    finalized: checkpointOf(finalizedCheckpoint, genesisRoot),
  };
}

/** Root of the epoch-boundary block a block at `slot` (post-state `state`) belongs to. */
export function targetRootOf(state: CachedBeaconStateAllForks, slot: number, blockRoot: string): string {
  const start = computeStartSlotAtEpoch(computeEpochAtSlot(slot));
  if (slot === start) return blockRoot;
  return toHex(getBlockRootAtSlot(state, start));
}

export { SLOTS_PER_EPOCH };
