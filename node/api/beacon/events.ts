/**
 * Beacon API events (`/eth/v1/events`) from the beacon chain's own events:
 *
 *   chain 'block'      ─► block                 {slot, block, execution_optimistic}
 *   chain 'head'       ─► chain_reorg (if the new head is not a descendant of the old one),
 *                         then head             {slot, block, state, epoch_transition,
 *                                                previous_duty_dependent_root,
 *                                                current_duty_dependent_root, execution_optimistic}
 *   chain 'finalized'  ─► finalized_checkpoint  {block, state, epoch, execution_optimistic}
 *
 * Messages are @lodestar/api's typed event values; the server turns them into JSON with the
 * route's own event codecs. Other topics of the spec are accepted by the stream but never fire
 * on this node yet (attestations, exits, light-client updates, payload attributes, ...).
 */
import { bytesToHex } from "@ethereumjs/util";
import { routes } from "@lodestar/api";
import { computeEpochAtSlot, computeStartSlotAtEpoch, getBlockRootAtSlot } from "@lodestar/state-transition";
import type { BeaconChain, BeaconState } from "../../consensus/chain/chain.ts";

type EventType = routes.events.EventType;
type BeaconEvent = routes.events.BeaconEvent;

const { EventType: Topic } = routes.events;

const ZERO_ROOT = `0x${"00".repeat(32)}`;

/** Every topic the Beacon API defines (400 for anything else). */
export function isEventType(topic: string): topic is EventType {
  return Object.values<string>(routes.events.eventTypes).includes(topic);
}

/**
 * Calls `onEvent` for each chain event of the given topics until the returned function is
 * called.
 */
export function subscribeChainEvents(
  chain: BeaconChain,
  topics: ReadonlySet<EventType>,
  onEvent: (event: BeaconEvent) => void,
): () => void {
  const unsubscribers: (() => void)[] = [];
  if (topics.has(Topic.block)) {
    unsubscribers.push(
      chain.on("block", (e) => {
        onEvent({ type: Topic.block, message: { slot: e.slot, block: e.root, executionOptimistic: false } });
      }),
    );
  }
  if (topics.has(Topic.head) || topics.has(Topic.chainReorg)) {
    unsubscribers.push(
      chain.on("head", (e) => {
        const stateRoot = chain.forkChoice.getBlock(e.root)?.stateRoot ?? bytesToHex(e.state.hashTreeRoot());
        const epoch = computeEpochAtSlot(e.slot);
        if (e.reorg && topics.has(Topic.chainReorg)) {
          onEvent({
            type: Topic.chainReorg,
            message: {
              slot: e.slot,
              depth: e.depth,
              oldHeadBlock: e.previous,
              newHeadBlock: e.root,
              oldHeadState: chain.forkChoice.getBlock(e.previous)?.stateRoot ?? ZERO_ROOT,
              newHeadState: stateRoot,
              epoch,
              executionOptimistic: false,
            },
          });
        }
        if (topics.has(Topic.head)) {
          onEvent({
            type: Topic.head,
            message: {
              slot: e.slot,
              block: e.root,
              state: stateRoot,
              epochTransition: computeStartSlotAtEpoch(epoch) === e.slot,
              previousDutyDependentRoot: dependentRoot(chain, e.state, epoch - 1),
              currentDutyDependentRoot: dependentRoot(chain, e.state, epoch),
              executionOptimistic: false,
            },
          });
        }
      }),
    );
  }
  if (topics.has(Topic.finalizedCheckpoint)) {
    unsubscribers.push(
      chain.on("finalized", (e) => {
        onEvent({
          type: Topic.finalizedCheckpoint,
          message: {
            block: e.checkpoint.root,
            state: e.stateRoot,
            epoch: e.checkpoint.epoch,
            executionOptimistic: false,
          },
        });
      }),
    );
  }
  return () => {
    for (const unsubscribe of unsubscribers) unsubscribe();
  };
}

/**
 * The block root attester duties of `epoch` depend on: the root at the last slot of the
 * epoch before it (the genesis block for epoch 0 and before).
 */
function dependentRoot(chain: BeaconChain, state: BeaconState, epoch: number): string {
  if (epoch <= 0) return chain.genesisRoot;
  return bytesToHex(getBlockRootAtSlot(state, computeStartSlotAtEpoch(epoch) - 1));
}
