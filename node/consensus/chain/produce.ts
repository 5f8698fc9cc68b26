/**
 * Block production: a beacon block for `slot` on the current head, with the execution payload
 * built by the execution layer (forkchoiceUpdated with payload attributes, then getPayload),
 * attestations, the sync aggregate and other operations from the pools, and the post-state root.
 */
import { bytesToHex } from "@ethereumjs/util";
import { ForkSeq, TIMELY_SOURCE_FLAG_INDEX } from "@lodestar/params";
import {
  computeEpochAtSlot,
  DataAvailabilityStatus,
  ExecutionPayloadStatus,
  getExpectedWithdrawals,
  getRandaoMix,
  stateTransition,
} from "@lodestar/state-transition";
import { type electra, ssz } from "@lodestar/types";
import type { ExecutionEngine, Hex } from "../../execution/engine/types.ts";
import { payloadFromJson, requestsFromEngine, withdrawalToJson } from "../execution/payload.ts";
import type { AttestationPool } from "../op-pools/attestation-pool.ts";
import type { OpPool } from "../op-pools/op-pool.ts";
import type { SyncCommitteePool } from "../op-pools/sync-committee-pool.ts";
import type { BeaconChain, BeaconState } from "./chain.ts";

export interface ProducerModules {
  chain: BeaconChain;
  engine: ExecutionEngine;
  attestations: AttestationPool;
  syncCommittee: SyncCommitteePool;
  ops: OpPool;
}

export interface ProduceRequest {
  slot: number;
  randaoReveal: Uint8Array;
  graffiti: Uint8Array;
  feeRecipient: Hex;
}

export interface ProducedBlock {
  block: electra.BeaconBlock;
  /** Priority fees the payload pays the fee recipient (wei). */
  executionValue: bigint;
  /** The state the block was built on, advanced to its slot. */
  preState: BeaconState;
}

const ZERO_HASH = `0x${"00".repeat(32)}` as Hex;

export class BlockProducer {
  private readonly m: ProducerModules;

  constructor(modules: ProducerModules) {
    this.m = modules;
  }

  async produce(req: ProduceRequest): Promise<ProducedBlock> {
    const { chain, engine } = this.m;
    const head = chain.head;
    const state = await chain.stateAtSlot(req.slot);
    const epoch = computeEpochAtSlot(req.slot);
    const proposerIndex = state.epochCtx.getBeaconProposer(req.slot);

    // The payload: built by the EL on the head's execution block.
    const { expectedWithdrawals } = getExpectedWithdrawals(ForkSeq.electra, state);
    const safe = chain.forkChoice.getBlock(chain.justifiedCheckpoint.root);
    const finalized = chain.forkChoice.getBlock(chain.finalizedCheckpoint.root);
    const timestamp = state.genesisTime + req.slot * chain.config.SECONDS_PER_SLOT;
    const fcu = await engine.forkchoiceUpdatedV3(
      {
        headBlockHash: head.executionBlockHash as Hex,
        safeBlockHash: (safe?.executionBlockHash ?? ZERO_HASH) as Hex,
        finalizedBlockHash: (finalized?.executionBlockHash ?? ZERO_HASH) as Hex,
      },
      {
        timestamp: `0x${timestamp.toString(16)}`,
        // The RANDAO mix before this block's own reveal (the spec's payload check).
        prevRandao: bytesToHex(getRandaoMix(state, epoch)) as Hex,
        suggestedFeeRecipient: req.feeRecipient,
        withdrawals: expectedWithdrawals.map(withdrawalToJson),
        parentBeaconBlockRoot: head.blockRoot as Hex,
      },
    );
    if (fcu.payloadId === null) {
      throw new Error(
        `execution layer did not start a payload: ${fcu.payloadStatus.status} ${fcu.payloadStatus.validationError ?? ""}`,
      );
    }
    const built = await engine.getPayloadV4(fcu.payloadId);

    const block = ssz.electra.BeaconBlock.defaultValue();
    block.slot = req.slot;
    block.proposerIndex = proposerIndex;
    block.parentRoot = ssz.Root.fromJson(head.blockRoot);
    const body = block.body;
    body.randaoReveal = req.randaoReveal;
    body.eth1Data = state.eth1Data.toValue();
    body.graffiti = req.graffiti;
    body.executionPayload = payloadFromJson(built.executionPayload);
    body.executionRequests = requestsFromEngine(built.executionRequests);
    body.syncAggregate = this.m.syncCommittee.aggregate(req.slot, block.parentRoot);
    const ops = this.m.ops.forBlock(state);
    body.proposerSlashings = ops.proposerSlashings;
    body.attesterSlashings = ops.attesterSlashings;
    body.voluntaryExits = ops.voluntaryExits;
    body.blsToExecutionChanges = ops.blsToExecutionChanges;
    body.attestations = this.m.attestations.forBlock(req.slot, (data, validatorIndex) => {
      // Already credited in the state: including the vote again earns nothing.
      const participation =
        data.target.epoch === epoch
          ? state.currentEpochParticipation
          : data.target.epoch === epoch - 1
            ? state.previousEpochParticipation
            : undefined;
      if (participation === undefined || validatorIndex >= participation.length) return true;
      return (participation.get(validatorIndex) & (1 << TIMELY_SOURCE_FLAG_INDEX)) !== 0;
    });

    // State root: run the block on a copy without signatures.
    const post = stateTransition(
      state,
      { message: block, signature: new Uint8Array(96) },
      {
        verifyStateRoot: false,
        verifyProposer: false,
        verifySignatures: false,
        executionPayloadStatus: ExecutionPayloadStatus.valid,
        dataAvailabilityStatus: DataAvailabilityStatus.Available,
      },
    );
    block.stateRoot = post.hashTreeRoot();
    return { block, executionValue: BigInt(built.blockValue), preState: state };
  }
}
