/**
 * The consensus topics: validation rules come from the consensus layer (chain/validation.ts,
 * the op-pool submitter), this module maps them onto gossip verdicts, imports blocks, keeps the
 * per-topic seen caches the spec asks for where the consensus layer does not, and publishes what
 * our validators produce (`ValidatorPublish`) and operations the node accepted elsewhere (the
 * Beacon API).
 *
 *   beacon_block ─► gossip conditions ─► BeaconChain.importBlock (BlockError → REJECT / IGNORE)
 *                   unknown parent: IGNORE + 'unknownParent' (the sync layer fetches the parent)
 *   beacon_aggregate_and_proof, beacon_attestation_{0..63} ─► validate ─► pool + fork choice + slasher
 *   sync_committee_{0..3} ─► validate ─► sync committee pool
 *   voluntary_exit, proposer_slashing, attester_slashing, bls_to_execution_change
 *     ─► first per validator (IGNORE repeats) ─► OperationSubmitter (OperationError → REJECT) ─► op pool
 *
 * Attestations and aggregates voting for a block whose import is still running wait for it
 * (instead of being IGNOREd as votes for an unknown block): a block and the votes for it arrive
 * back to back.
 */
import { SLOTS_PER_EPOCH } from "@lodestar/params";
import { computeEpochAtSlot, getAttesterSlashableIndices } from "@lodestar/state-transition";
import { type altair, type capella, type electra, type phase0, ssz } from "@lodestar/types";
import { LRUCache } from "lru-cache";
import { BlockError, BlockErrorCode } from "../../consensus/chain/errors.ts";
import { toHex } from "../../consensus/chain/state-utils.ts";
import type { Verdict } from "../../consensus/chain/validation.ts";
import type { ConsensusLayer } from "../../consensus/index.ts";
import { type AcceptedOperation, OperationError } from "../../consensus/op-pools/submit.ts";
import type { ValidatorPublish } from "../../consensus/validator/validator.ts";
import { TypedEmitter } from "../../utils/events.ts";
import type { Logger } from "../../utils/logger.ts";
import { ACCEPT, type GossipRegistry, type GossipValidation, ignore, reject } from "./registry.ts";
import { consensusTopicScores } from "./scoring.ts";
import {
  ATTESTATION_SUBNETS,
  attestationSubnetTopic,
  ConsensusTopic,
  SYNC_COMMITTEE_SUBNETS,
  syncCommitteeSubnetTopic,
} from "./topics.ts";

export interface UnknownParentEvent {
  blockRoot: string;
  parentRoot: string;
  slot: number;
  /** The peer that sent the block (it should also have the parent). */
  peer: string;
  block: electra.SignedBeaconBlock;
}

export interface ConsensusGossipEvents {
  /** A gossip block whose parent we do not have: the sync layer should fetch the parent chain. */
  unknownParent: (e: UnknownParentEvent) => void;
}

/** Operations seen per validator: bounded by the validator count, kept for a while. */
const SEEN_OPERATIONS = 65_536;

function fromVerdict<T>(v: Verdict<T>): GossipValidation {
  if (v.verdict === "ACCEPT") return ACCEPT;
  const code = v.code ?? v.verdict.toLowerCase();
  return v.verdict === "IGNORE" ? ignore(code, v.reason) : reject(code, v.reason);
}

/** Gossip verdict for a block the chain refused to import. */
export function blockErrorVerdict(err: BlockError): GossipValidation {
  switch (err.code) {
    case BlockErrorCode.ALREADY_KNOWN:
      return ignore("already_known", err.message);
    case BlockErrorCode.PARENT_UNKNOWN:
      return ignore("parent_unknown", err.message);
    case BlockErrorCode.FUTURE_SLOT:
      return ignore("future_slot", err.message);
    case BlockErrorCode.WOULD_REVERT_FINALIZED:
      return ignore("finalized_slot", err.message);
    case BlockErrorCode.EXECUTION_SYNCING:
      return ignore("execution_syncing", err.message);
    case BlockErrorCode.INVALID_SIGNATURE:
      return reject("invalid_block_signature", err.message);
    case BlockErrorCode.INVALID_STATE_TRANSITION:
      return reject("invalid_state_transition", err.message);
    case BlockErrorCode.INVALID_EXECUTION_PAYLOAD:
      return reject("invalid_execution_payload", err.message);
  }
}

export class ConsensusGossip extends TypedEmitter<ConsensusGossipEvents> {
  private readonly registry: GossipRegistry;
  private readonly cl: ConsensusLayer;
  private readonly logger: Logger;
  /** Blocks being validated and imported, by root (votes for them wait). */
  private readonly importing = new Map<string, Promise<void>>();
  private readonly seenExits = new LRUCache<number, true>({ max: SEEN_OPERATIONS });
  private readonly seenProposerSlashings = new LRUCache<number, true>({ max: SEEN_OPERATIONS });
  private readonly seenAttesterSlashed = new LRUCache<number, true>({ max: SEEN_OPERATIONS });
  private readonly seenBlsChanges = new LRUCache<number, true>({ max: SEEN_OPERATIONS });
  /** Set while gossip hands an operation to the submitter (its 'accepted' event is not ours to publish). */
  private submittingFromGossip = false;

  constructor(registry: GossipRegistry, cl: ConsensusLayer, logger: Logger) {
    super();
    this.registry = registry;
    this.cl = cl;
    this.logger = logger;
  }

  /** Registers every consensus topic (the node subscribes to all attestation subnets: small networks). */
  register(): void {
    const { registry, cl } = this;
    const scores = consensusTopicScores(
      cl.chain.headState.epochCtx.currentShuffling.activeIndices.length,
      SLOTS_PER_EPOCH,
    );
    registry.register(ConsensusTopic.beaconBlock, {
      type: ssz.electra.SignedBeaconBlock,
      score: scores.beaconBlock,
      validate: (block, ctx) => this.onBlock(block, ctx.peer),
    });
    registry.register(ConsensusTopic.aggregateAndProof, {
      type: ssz.electra.SignedAggregateAndProof,
      score: scores.aggregateAndProof,
      validate: async (signed) => {
        await this.blockArrival(signed.message.aggregate.data.beaconBlockRoot);
        return fromVerdict(await cl.processAggregate(signed));
      },
    });
    for (let subnet = 0; subnet < ATTESTATION_SUBNETS; subnet++) {
      registry.register(attestationSubnetTopic(subnet), {
        type: ssz.electra.SingleAttestation,
        group: "beacon_attestation",
        score: scores.attestationSubnet,
        validate: async (attestation) => {
          await this.blockArrival(attestation.data.beaconBlockRoot);
          return fromVerdict(await cl.processAttestation(attestation, subnet));
        },
      });
    }
    for (let subnet = 0; subnet < SYNC_COMMITTEE_SUBNETS; subnet++) {
      registry.register(syncCommitteeSubnetTopic(subnet), {
        type: ssz.altair.SyncCommitteeMessage,
        group: "sync_committee",
        score: scores.syncCommitteeSubnet,
        validate: (message) => fromVerdict(cl.processSyncCommitteeMessage(message, subnet)),
      });
    }
    registry.register(ConsensusTopic.voluntaryExit, {
      type: ssz.phase0.SignedVoluntaryExit,
      score: scores.voluntaryExit,
      validate: (exit) => this.onVoluntaryExit(exit),
    });
    registry.register(ConsensusTopic.proposerSlashing, {
      type: ssz.phase0.ProposerSlashing,
      score: scores.proposerSlashing,
      validate: (slashing) => this.onProposerSlashing(slashing),
    });
    registry.register(ConsensusTopic.attesterSlashing, {
      type: ssz.electra.AttesterSlashing,
      score: scores.attesterSlashing,
      validate: (slashing) => this.onAttesterSlashing(slashing),
    });
    registry.register(ConsensusTopic.blsToExecutionChange, {
      type: ssz.capella.SignedBLSToExecutionChange,
      score: scores.blsToExecutionChange,
      validate: (change) => this.onBlsChange(change),
    });
  }

  // --- receiving -----------------------------------------------------------------------------

  private onBlock(signed: electra.SignedBeaconBlock, peer: string): Promise<GossipValidation> {
    // Registered before the first await, so votes for this block that arrive right behind it wait.
    const root = toHex(ssz.electra.BeaconBlock.hashTreeRoot(signed.message));
    const result = this.validateAndImport(signed, root, peer);
    const done = result.then(
      () => {},
      () => {},
    );
    this.importing.set(root, done);
    void done.then(() => {
      if (this.importing.get(root) === done) this.importing.delete(root);
    });
    return result;
  }

  private async validateAndImport(
    signed: electra.SignedBeaconBlock,
    root: string,
    peer: string,
  ): Promise<GossipValidation> {
    const { cl } = this;
    const verdict = await cl.blockValidator.validate(signed, root);
    if (verdict.verdict !== "ACCEPT") {
      if (verdict.code === "parent_unknown") this.unknownParent(signed, root, peer);
      return fromVerdict(verdict);
    }
    try {
      await cl.chain.importBlock(signed);
      return ACCEPT;
    } catch (err) {
      if (!(err instanceof BlockError)) throw err;
      if (err.code === BlockErrorCode.PARENT_UNKNOWN) this.unknownParent(signed, root, peer);
      if (err.code !== BlockErrorCode.ALREADY_KNOWN)
        this.logger.debug({ root, slot: signed.message.slot, peer, code: err.code }, err.message);
      return blockErrorVerdict(err);
    }
  }

  private unknownParent(block: electra.SignedBeaconBlock, blockRoot: string, peer: string): void {
    const parentRoot = toHex(block.message.parentRoot);
    this.logger.debug(
      { root: blockRoot, parent: parentRoot, slot: block.message.slot, peer },
      "Block with unknown parent",
    );
    this.emit("unknownParent", { blockRoot, parentRoot, slot: block.message.slot, peer, block });
  }

  /** Waits for the import of `root` if it is under way (votes that arrive right behind their block). */
  private async blockArrival(root: Uint8Array): Promise<void> {
    const pending = this.importing.get(toHex(root));
    if (pending !== undefined) await pending;
  }

  private submit(fn: () => void, code: string): GossipValidation {
    this.submittingFromGossip = true;
    try {
      fn();
      return ACCEPT;
    } catch (err) {
      if (err instanceof OperationError) return reject(code, err.message);
      throw err;
    } finally {
      this.submittingFromGossip = false;
    }
  }

  private onVoluntaryExit(exit: phase0.SignedVoluntaryExit): GossipValidation {
    const index = exit.message.validatorIndex;
    if (this.seenExits.has(index))
      return ignore("already_seen", `already seen an exit of validator ${index}`);
    const result = this.submit(() => this.cl.submit.voluntaryExit(exit), "invalid_voluntary_exit");
    if (result.verdict === "ACCEPT") this.seenExits.set(index, true);
    return result;
  }

  private onProposerSlashing(slashing: phase0.ProposerSlashing): GossipValidation {
    const index = slashing.signedHeader1.message.proposerIndex;
    if (this.seenProposerSlashings.has(index))
      return ignore("already_seen", `already seen a slashing of proposer ${index}`);
    const result = this.submit(() => this.cl.submit.proposerSlashing(slashing), "invalid_proposer_slashing");
    if (result.verdict === "ACCEPT") this.seenProposerSlashings.set(index, true);
    return result;
  }

  private onAttesterSlashing(slashing: electra.AttesterSlashing): GossipValidation {
    const indices = getAttesterSlashableIndices(slashing);
    if (indices.length > 0 && indices.every((i) => this.seenAttesterSlashed.has(i)))
      return ignore("already_seen", "every validator of this slashing was seen slashable before");
    const result = this.submit(() => this.cl.submit.attesterSlashing(slashing), "invalid_attester_slashing");
    if (result.verdict === "ACCEPT") for (const i of indices) this.seenAttesterSlashed.set(i, true);
    return result;
  }

  private onBlsChange(change: capella.SignedBLSToExecutionChange): GossipValidation {
    const index = change.message.validatorIndex;
    if (this.seenBlsChanges.has(index))
      return ignore("already_seen", `already seen a BLS change of validator ${index}`);
    const result = this.submit(() => this.cl.submit.blsToExecutionChange(change), "invalid_bls_change");
    if (result.verdict === "ACCEPT") this.seenBlsChanges.set(index, true);
    return result;
  }

  // --- publishing ----------------------------------------------------------------------------

  private send(topic: string, value: unknown): void {
    this.registry.publish(topic, value).catch((err: unknown) => {
      this.logger.warn({ err, topic }, "Gossip publish failed");
    });
  }

  /** What the validator client hands the network: our blocks, votes, aggregates and sync messages. */
  readonly publisher: ValidatorPublish = {
    block: (block) => {
      this.cl.blockValidator.markSeen(block.message.slot, block.message.proposerIndex);
      this.send(ConsensusTopic.beaconBlock, block);
    },
    attestation: (attestation) => {
      void this.attestationSubnet(attestation).then(
        (subnet) => this.send(attestationSubnetTopic(subnet), attestation),
        (err: unknown) => this.logger.warn({ err }, "No subnet for our attestation"),
      );
    },
    aggregateAndProof: (aggregate) => this.send(ConsensusTopic.aggregateAndProof, aggregate),
    syncCommitteeMessage: (message: altair.SyncCommitteeMessage) => {
      for (const subnet of this.cl.syncMessageValidator.subnetsOf(message.validatorIndex, message.slot))
        this.send(syncCommitteeSubnetTopic(subnet), message);
    },
  };

  /** Spec compute_subnet_for_attestation, with the committee count of the attestation's epoch. */
  async attestationSubnet(attestation: electra.SingleAttestation): Promise<number> {
    const { slot } = attestation.data;
    const epoch = computeEpochAtSlot(slot);
    let state = this.cl.chain.headState;
    if (state.epochCtx.getShufflingAtEpochOrNull(epoch) === null)
      state = await this.cl.chain.stateAtSlot(slot);
    return state.epochCtx.computeSubnetForSlot(slot, attestation.committeeIndex);
  }

  /** Publishes an operation the node accepted outside gossip (Beacon API, CLI). */
  onOperationAccepted(op: AcceptedOperation): void {
    if (this.submittingFromGossip) return;
    switch (op.kind) {
      case "voluntary_exit":
        this.seenExits.set(op.operation.message.validatorIndex, true);
        this.send(ConsensusTopic.voluntaryExit, op.operation);
        return;
      case "proposer_slashing":
        this.seenProposerSlashings.set(op.operation.signedHeader1.message.proposerIndex, true);
        this.send(ConsensusTopic.proposerSlashing, op.operation);
        return;
      case "attester_slashing":
        for (const i of getAttesterSlashableIndices(op.operation)) this.seenAttesterSlashed.set(i, true);
        this.send(ConsensusTopic.attesterSlashing, op.operation);
        return;
      case "bls_to_execution_change":
        this.seenBlsChanges.set(op.operation.message.validatorIndex, true);
        this.send(ConsensusTopic.blsToExecutionChange, op.operation);
        return;
    }
  }
}
