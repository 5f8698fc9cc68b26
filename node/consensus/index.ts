/**
 * The consensus layer: proof of stake on Lodestar's state transition, run by our own node.
 *
 *   SlotClock ─► ValidatorClient (propose / attest / sync messages, slashing protection)
 *                     │                         │
 *                     ▼                         ▼
 *               BlockProducer ───────────► BeaconChain ◄── (p2p: gossip blocks, attestations)
 *                     │  fcU+attributes,        │ stateTransition, fork choice, states
 *                     │  getPayload             │ newPayload, fcU(head, safe, finalized)
 *                     ▼                         ▼
 *               ExecutionEngine (Engine API shape; in process or HTTP+JWT)
 *
 * `ConsensusLayer.open` creates or resumes the beacon chain in `DIR/beacondata`: on first start
 * it builds the genesis state from the EL genesis block and the genesis validators, afterwards
 * it loads the last finalized checkpoint state and replays the blocks stored after it.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Block } from "@ethereumjs/block";
import { bytesToHex, equalsBytes, hexToBytes } from "@ethereumjs/util";
import { type BeaconConfig, createBeaconConfig } from "@lodestar/config";
import { ForkSeq, SLOTS_PER_EPOCH } from "@lodestar/params";
import {
  computeEpochAtSlot,
  createCachedBeaconState,
  createPubkeyCache,
  signedBlockToSignedHeader,
  syncPubkeys,
} from "@lodestar/state-transition";
import { type altair, type electra, ssz } from "@lodestar/types";
import type { ExecutionEngine, Hex } from "../execution/engine/types.ts";
import { OpenGpuError } from "../utils/errors.ts";
import type { Logger } from "../utils/logger.ts";
import { BeaconChain, type BeaconState, type ChainMetricsSink } from "./chain/chain.ts";
import { BlockProducer } from "./chain/produce.ts";
import { toHex } from "./chain/state-utils.ts";
import {
  AggregateValidator,
  AttestationValidator,
  BlockGossipValidator,
  type GossipVerdict,
  SyncCommitteeMessageValidator,
  type ValidatedAggregate,
  type ValidatedAttestation,
  type ValidatedSyncCommitteeMessage,
  type Verdict,
} from "./chain/validation.ts";
import { SlotClock } from "./clock.ts";
import { assertPreset, type ConsensusSpec, chainConfigFor, forkConfigFor } from "./config.ts";
import { BeaconDB, BeaconMeta } from "./db/beacon-db.ts";
import { type BlockSummary, ForkChoice } from "./fork-choice/index.ts";
import { buildBeaconGenesis, type GenesisValidator } from "./genesis.ts";
import { useNativeHasher } from "./hasher.ts";
import { AttestationPool } from "./op-pools/attestation-pool.ts";
import { OpPool } from "./op-pools/op-pool.ts";
import { OperationSubmitter } from "./op-pools/submit.ts";
import { SyncCommitteePool } from "./op-pools/sync-committee-pool.ts";
import { Slasher } from "./slasher/slasher.ts";
import { SlashingProtection } from "./slashing-protection/index.ts";
import {
  ValidatorClient,
  type ValidatorKey,
  type ValidatorMetricsSink,
  type ValidatorPublish,
} from "./validator/validator.ts";

export { BeaconChain } from "./chain/chain.ts";
export { type ConsensusSpec, consensusSpecOf } from "./config.ts";
export { genesisValidatorsOf, interopKeys, interopValidators, usesInteropValidators } from "./genesis.ts";

/** Epochs of attestation history the slasher keeps per validator (evidence older than this is stale). */
const SLASHER_WINDOW_EPOCHS = 64;

/** Spec PROPOSER_SCORE_BOOST: a timely block counts as 40% of a slot's committee weight. */
const PROPOSER_SCORE_BOOST = 40;

export const ConsensusErrorCode = {
  /** The beacon database belongs to another execution genesis or another network. */
  GENESIS_MISMATCH: "CONSENSUS_GENESIS_MISMATCH",
} as const;
export type ConsensusErrorCode = (typeof ConsensusErrorCode)[keyof typeof ConsensusErrorCode];
export class ConsensusError extends OpenGpuError<ConsensusErrorCode> {
  override name = "ConsensusError";
}

export interface ConsensusOptions {
  datadir: string;
  spec: ConsensusSpec;
  /** The execution genesis block the beacon genesis builds on. */
  elGenesis: Block;
  /** Validators of the genesis state (only used the first time the datadir starts). */
  genesisValidators: GenesisValidator[];
  /** Keys of this node's own validators (may be empty: a node without validators). */
  validatorKeys: ValidatorKey[];
  feeRecipient: Hex;
  graffiti?: string;
  /** Clock source (tests). */
  now?: () => number;
}

export interface ConsensusModules {
  engine: ExecutionEngine;
  logger: Logger;
  metrics?: ChainMetricsSink;
  validatorMetrics?: ValidatorMetricsSink;
  publish?: ValidatorPublish;
}

export class ConsensusLayer {
  readonly db: BeaconDB;
  readonly config: BeaconConfig;
  readonly clock: SlotClock;
  readonly chain: BeaconChain;
  readonly validator: ValidatorClient;
  readonly attestations: AttestationPool;
  readonly syncCommittee: SyncCommitteePool;
  readonly ops: OpPool;
  readonly protection: SlashingProtection;
  readonly slasher: Slasher;
  readonly attestationValidator: AttestationValidator;
  readonly aggregateValidator: AggregateValidator;
  readonly syncMessageValidator: SyncCommitteeMessageValidator;
  /** Gossip conditions on blocks before `chain.importBlock`. */
  readonly blockValidator: BlockGossipValidator;
  /** Validates exits, slashings and BLS changes against the head before they enter `ops`. */
  readonly submit: OperationSubmitter;
  private readonly logger: Logger;

  private constructor(parts: {
    db: BeaconDB;
    config: BeaconConfig;
    clock: SlotClock;
    chain: BeaconChain;
    validator: ValidatorClient;
    attestations: AttestationPool;
    syncCommittee: SyncCommitteePool;
    ops: OpPool;
    protection: SlashingProtection;
    slasher: Slasher;
    logger: Logger;
  }) {
    this.db = parts.db;
    this.config = parts.config;
    this.clock = parts.clock;
    this.chain = parts.chain;
    this.validator = parts.validator;
    this.attestations = parts.attestations;
    this.syncCommittee = parts.syncCommittee;
    this.ops = parts.ops;
    this.protection = parts.protection;
    this.slasher = parts.slasher;
    this.attestationValidator = new AttestationValidator(parts.chain);
    this.aggregateValidator = new AggregateValidator(parts.chain);
    this.syncMessageValidator = new SyncCommitteeMessageValidator(parts.chain);
    this.blockValidator = new BlockGossipValidator(parts.chain);
    this.submit = new OperationSubmitter(parts.ops, () => parts.chain.headState);
    this.logger = parts.logger;
    // Everything an imported block shows is evidence for the slasher.
    this.chain.on("block", ({ block, postState }) => {
      this.slasher.onBlockHeader(signedBlockToSignedHeader(this.config, block));
      for (const attestation of block.message.body.attestations) {
        try {
          this.slasher.onIndexedAttestation(
            postState.epochCtx.getIndexedAttestation(ForkSeq.electra, attestation),
          );
        } catch {
          // An attestation the state cannot index was already rejected by the state transition.
        }
      }
    });
    this.chain.on("finalized", ({ checkpoint }) => this.slasher.prune(checkpoint.epoch));
  }

  /**
   * An attestation from outside this node (gossip, Beacon API): validated, then counted in the
   * fork choice, pooled for inclusion and checked by the slasher. Returns the verdict.
   */
  async onGossipAttestation(attestation: electra.SingleAttestation): Promise<GossipVerdict> {
    return (await this.processAttestation(attestation)).verdict;
  }

  /**
   * `onGossipAttestation` with the full verdict (reason code for metrics); `subnet` is the
   * gossip subnet it arrived on.
   */
  async processAttestation(
    attestation: electra.SingleAttestation,
    subnet?: number,
  ): Promise<Verdict<ValidatedAttestation>> {
    const result = await this.attestationValidator.validate(attestation, subnet);
    if (result.verdict !== "ACCEPT" || result.value === undefined) {
      if (result.verdict === "REJECT") this.logger.debug({ reason: result.reason }, "Rejected attestation");
      return result;
    }
    const { committeeLength, positionInCommittee, indexed } = result.value;
    this.attestations.add({
      data: attestation.data,
      committeeIndex: attestation.committeeIndex,
      committeeLength,
      positionInCommittee,
      validatorIndex: attestation.attesterIndex,
      signature: attestation.signature,
    });
    try {
      this.chain.onAttestation([attestation.attesterIndex], attestation.data);
    } catch {
      // Votes the fork choice cannot use (e.g. for a pruned branch) still count for inclusion.
    }
    this.slasher.onIndexedAttestation(indexed);
    return result;
  }

  /**
   * An aggregate from the network: validated, then its votes counted in the fork choice, pooled
   * for inclusion and shown to the slasher.
   */
  async processAggregate(signed: electra.SignedAggregateAndProof): Promise<Verdict<ValidatedAggregate>> {
    const result = await this.aggregateValidator.validate(signed);
    if (result.verdict !== "ACCEPT" || result.value === undefined) return result;
    const { aggregate, committeeIndex, attestingIndices, indexed } = result.value;
    this.attestations.addAggregate({
      data: aggregate.data,
      committeeIndex,
      aggregationBits: aggregate.aggregationBits,
      signature: aggregate.signature,
      attestingIndices,
    });
    try {
      this.chain.onAttestation(attestingIndices, aggregate.data);
    } catch {
      // As for single attestations: still useful for inclusion.
    }
    this.slasher.onIndexedAttestation(indexed);
    return result;
  }

  /** A sync committee message from the network (subnet `subnet`): validated, then pooled. */
  processSyncCommitteeMessage(
    message: altair.SyncCommitteeMessage,
    subnet: number,
  ): Verdict<ValidatedSyncCommitteeMessage> {
    const result = this.syncMessageValidator.validate(message, subnet);
    if (result.verdict !== "ACCEPT" || result.value === undefined) return result;
    this.syncCommittee.add(
      message.slot,
      message.beaconBlockRoot,
      message.validatorIndex,
      result.value.positions,
      message.signature,
    );
    return result;
  }

  static async open(opts: ConsensusOptions, modules: ConsensusModules): Promise<ConsensusLayer> {
    assertPreset(opts.spec);
    // `modules.logger` is the node's root logger: each part names its own module.
    const root = modules.logger;
    const logger = root.child({ module: "consensus" });
    const hasher = await useNativeHasher();
    if (hasher !== "hashtree")
      logger.warn("Native SSZ hasher (@chainsafe/hashtree) unavailable: hashing in JavaScript, slower");
    const dir = join(opts.datadir, "beacondata");
    mkdirSync(dir, { recursive: true });
    const db = await BeaconDB.open(dir);
    try {
      const chainConfig = chainConfigFor(opts.spec);
      if (db.getMeta(BeaconMeta.genesisBlockRoot) === undefined) await initGenesis(db, opts, logger);
      checkGenesisMatches(db, opts);
      const gvr = db.getMeta(BeaconMeta.genesisValidatorsRoot) as Uint8Array;
      const genesisRoot = bytesToHex(db.getMeta(BeaconMeta.genesisBlockRoot) as Uint8Array);
      const config = createBeaconConfig(chainConfig, gvr);
      const anchorRef = db.getMetaJson<{ epoch: number; root: string }>(BeaconMeta.anchor);
      if (anchorRef === undefined) throw new Error("beacon database has no anchor state");
      const anchorBytes = db.getStateBytes(anchorRef.epoch, hexToBytes(anchorRef.root as Hex));
      if (anchorBytes === undefined)
        throw new Error(`anchor state ${anchorRef.epoch}/${anchorRef.root} missing`);
      const pubkeyCache = createPubkeyCache();
      const view = ssz.electra.BeaconState.deserializeToViewDU(anchorBytes);
      syncPubkeys(pubkeyCache, view.validators.getAllReadonlyValues());
      const anchorState = createCachedBeaconState(view, { config, pubkeyCache }) as unknown as BeaconState;

      const clock = new SlotClock({
        genesisTime: anchorState.genesisTime,
        secondsPerSlot: opts.spec.secondsPerSlot,
        slotsPerEpoch: SLOTS_PER_EPOCH,
        now: opts.now,
      });
      const anchorSummary = anchorBlockSummary(db, anchorState, anchorRef.root, genesisRoot);
      const forkChoice = new ForkChoice({
        config: { slotsPerEpoch: SLOTS_PER_EPOCH, proposerScoreBoost: PROPOSER_SCORE_BOOST },
        anchor: anchorSummary,
        anchorEpoch: anchorRef.epoch,
        currentSlot: Math.max(clock.currentSlot, anchorSummary.slot),
      });
      const chain = new BeaconChain(
        {
          config,
          db,
          engine: modules.engine,
          forkChoice,
          clock,
          logger: root.child({ module: "beacon" }),
          metrics: modules.metrics,
        },
        { root: anchorRef.root, state: anchorState },
        genesisRoot,
      );
      await replayStoredBlocks(db, chain, anchorSummary, logger);
      await chain.updateHead();

      const attestations = new AttestationPool();
      const syncCommittee = new SyncCommitteePool();
      const ops = new OpPool();
      const protection = await SlashingProtection.open(join(opts.datadir, "slashing-protection"), {
        genesisValidatorsRoot: gvr,
      });
      const slasher = new Slasher(
        { windowEpochs: SLASHER_WINDOW_EPOCHS, slotsPerEpoch: SLOTS_PER_EPOCH },
        {
          proposerSlashing: (slashing) => {
            logger.warn(
              {
                proposer: slashing.signedHeader1.message.proposerIndex,
                slot: Number(slashing.signedHeader1.message.slot),
              },
              "Double proposal detected",
            );
            ops.addProposerSlashing(slashing);
          },
          attesterSlashing: (slashing) => {
            const both = slashing.attestation1.attestingIndices.filter((i) =>
              slashing.attestation2.attestingIndices.includes(i),
            );
            logger.warn({ validators: both }, "Slashable attestation detected");
            ops.addAttesterSlashing(slashing);
          },
        },
      );
      const producer = new BlockProducer({ chain, engine: modules.engine, attestations, syncCommittee, ops });
      const validator = new ValidatorClient(
        { feeRecipient: opts.feeRecipient, graffiti: opts.graffiti },
        opts.validatorKeys,
        {
          chain,
          clock,
          producer,
          attestations,
          syncCommittee,
          ops,
          protection,
          logger: root.child({ module: "validator" }),
          publish: modules.publish,
          metrics: modules.validatorMetrics,
        },
      );
      logger.info(
        {
          head: chain.head.slot,
          finalized: chain.finalizedCheckpoint.epoch,
          validators: opts.validatorKeys.length,
          genesisTime: anchorState.genesisTime,
        },
        "Consensus layer ready",
      );
      return new ConsensusLayer({
        db,
        config,
        clock,
        chain,
        validator,
        attestations,
        syncCommittee,
        ops,
        protection,
        slasher,
        logger,
      });
    } catch (err) {
      await db.close();
      throw err;
    }
  }

  start(): void {
    this.clock.start();
    this.validator.start();
  }

  async stop(): Promise<void> {
    this.clock.stop();
    await this.validator.stop();
    await this.chain.updateHead().catch(() => {});
    await this.protection.close();
    await this.db.close();
  }
}

/**
 * The beacon half of the datadir's genesis (`opengpu init`): builds and stores the beacon genesis
 * state, or, when the datadir already has one, checks it belongs to this execution genesis and
 * network. Returns the genesis block root.
 */
export async function initBeaconGenesis(
  opts: Pick<ConsensusOptions, "datadir" | "spec" | "elGenesis" | "genesisValidators">,
  logger: Logger,
): Promise<string> {
  assertPreset(opts.spec);
  await useNativeHasher();
  const dir = join(opts.datadir, "beacondata");
  mkdirSync(dir, { recursive: true });
  const db = await BeaconDB.open(dir);
  try {
    if (db.getMeta(BeaconMeta.genesisBlockRoot) === undefined) await initGenesis(db, opts, logger);
    checkGenesisMatches(db, opts);
    return bytesToHex(db.getMeta(BeaconMeta.genesisBlockRoot) as Uint8Array);
  } finally {
    await db.close();
  }
}

/** The stored beacon genesis must be built on this execution genesis, for this network. */
function checkGenesisMatches(db: BeaconDB, opts: Pick<ConsensusOptions, "spec" | "elGenesis">): void {
  const elGenesisHash = db.getMeta(BeaconMeta.elGenesisHash);
  if (elGenesisHash === undefined || !equalsBytes(elGenesisHash, opts.elGenesis.hash())) {
    throw new ConsensusError(
      ConsensusErrorCode.GENESIS_MISMATCH,
      `beacon data was built on execution genesis ${elGenesisHash === undefined ? "?" : bytesToHex(elGenesisHash)}, this chain's is ${bytesToHex(opts.elGenesis.hash())}`,
    );
  }
  const stored = db.getMetaJson<ConsensusSpec>(BeaconMeta.spec);
  const same = (a: ConsensusSpec, b: ConsensusSpec) =>
    a.preset === b.preset &&
    a.secondsPerSlot === b.secondsPerSlot &&
    a.networkByte === b.networkByte &&
    a.chainId === b.chainId &&
    a.depositContractAddress.toLowerCase() === b.depositContractAddress.toLowerCase() &&
    a.shardCommitteePeriod === b.shardCommitteePeriod &&
    a.withdrawabilityDelay === b.withdrawabilityDelay;
  if (stored !== undefined && !same(stored, opts.spec)) {
    throw new ConsensusError(
      ConsensusErrorCode.GENESIS_MISMATCH,
      `beacon data was created with consensus parameters ${JSON.stringify(stored)}, the chain's genesis now says ${JSON.stringify(opts.spec)}`,
    );
  }
}

async function initGenesis(
  db: BeaconDB,
  opts: Pick<ConsensusOptions, "spec" | "elGenesis" | "genesisValidators">,
  logger: Logger,
): Promise<void> {
  const forkConfig = forkConfigFor(opts.spec);
  const state = buildBeaconGenesis(forkConfig, opts.elGenesis, opts.genesisValidators);
  const header = ssz.phase0.BeaconBlockHeader.clone(state.latestBlockHeader.toValue());
  header.stateRoot = state.hashTreeRoot();
  const genesisRoot = ssz.phase0.BeaconBlockHeader.hashTreeRoot(header);
  await db.putState(0, genesisRoot, state.serialize());
  await db.putMeta(BeaconMeta.genesisStateRoot, header.stateRoot);
  await db.putMeta(BeaconMeta.genesisValidatorsRoot, state.genesisValidatorsRoot);
  await db.putMeta(BeaconMeta.elGenesisHash, opts.elGenesis.hash());
  await db.putMeta(BeaconMeta.spec, opts.spec);
  await db.putMeta(BeaconMeta.anchor, { epoch: 0, root: bytesToHex(genesisRoot) });
  // Written last: its presence marks a complete initialisation.
  await db.putMeta(BeaconMeta.genesisBlockRoot, genesisRoot);
  logger.info(
    {
      root: bytesToHex(genesisRoot),
      validators: opts.genesisValidators.length,
      genesisTime: state.genesisTime,
    },
    "Wrote beacon genesis",
  );
}

/** Fork-choice summary of the anchor block (genesis, or the finalized block a restart starts from). */
function anchorBlockSummary(
  db: BeaconDB,
  state: BeaconState,
  root: string,
  genesisRoot: string,
): BlockSummary {
  const cp = { epoch: computeEpochAtSlot(state.slot), root };
  const stored = root === genesisRoot ? undefined : db.getBlock(hexToBytes(root as Hex));
  const header = state.latestExecutionPayloadHeader;
  return {
    slot: stored?.message.slot ?? state.latestBlockHeader.slot,
    blockRoot: root,
    parentRoot: stored === undefined ? bytesToHex(new Uint8Array(32)) : toHex(stored.message.parentRoot),
    stateRoot: stored === undefined ? toHex(state.hashTreeRoot()) : toHex(stored.message.stateRoot),
    executionBlockHash: toHex(header.blockHash),
    executionBlockNumber: header.blockNumber,
    justifiedCheckpoint: cp,
    finalizedCheckpoint: cp,
    unrealizedJustifiedCheckpoint: cp,
    unrealizedFinalizedCheckpoint: cp,
    targetRoot: root,
  };
}

/** Re-imports the blocks stored after the anchor, parents first, without signature checks. */
async function replayStoredBlocks(
  db: BeaconDB,
  chain: BeaconChain,
  anchor: BlockSummary,
  logger: Logger,
): Promise<void> {
  const children = new Map<string, { root: string; block: electra.SignedBeaconBlock }[]>();
  for await (const { root, block } of db.blocks()) {
    if (block.message.slot <= anchor.slot) continue;
    const parent = toHex(block.message.parentRoot);
    const list = children.get(parent) ?? [];
    list.push({ root: toHex(root), block });
    children.set(parent, list);
  }
  let replayed = 0;
  const queue = [anchor.blockRoot];
  while (queue.length > 0) {
    const parent = queue.shift() as string;
    for (const child of (children.get(parent) ?? []).sort(
      (a, b) => a.block.message.slot - b.block.message.slot,
    )) {
      try {
        await chain.importBlock(child.block, { verifySignatures: false, replay: true, isTimely: false });
        replayed++;
        queue.push(child.root);
      } catch (err) {
        logger.warn({ err, root: child.root }, "Could not replay a stored block");
      }
    }
  }
  if (replayed > 0) logger.info({ replayed, from: anchor.slot }, "Replayed stored blocks");
}
