/**
 * The in-process validator client: duties of the node's own validators.
 *
 *   slot start  ─► update head ─► propose if one of ours is the slot's proposer
 *   1/3 of slot ─► attest (head vote + FFG vote) and send sync committee messages
 *   every slot  ─► prune pools
 *
 * Every signature goes through slashing protection first (EIP-3076 rules, persisted), so a
 * restarted or duplicated node never signs a slashable message. Proposals and attestations
 * are handed to the chain and pools directly and to `publish` (gossip, once the p2p layer
 * exists).
 */
import type { SecretKey } from "@chainsafe/blst";
import {
  DOMAIN_AGGREGATE_AND_PROOF,
  DOMAIN_BEACON_ATTESTER,
  DOMAIN_BEACON_PROPOSER,
  DOMAIN_RANDAO,
  DOMAIN_SELECTION_PROOF,
  DOMAIN_SYNC_COMMITTEE,
  EPOCHS_PER_SYNC_COMMITTEE_PERIOD,
} from "@lodestar/params";
import {
  computeEpochAtSlot,
  computeSigningRoot,
  computeStartSlotAtEpoch,
  getBlockRootAtSlot,
  isAggregatorFromCommitteeLength,
} from "@lodestar/state-transition";
import { type electra, type phase0, ssz } from "@lodestar/types";
import type { Hex } from "../../execution/engine/types.ts";
import type { Logger } from "../../utils/logger.ts";
import type { BeaconChain, BeaconState } from "../chain/chain.ts";
import { BlockError } from "../chain/errors.ts";
import type { BlockProducer } from "../chain/produce.ts";
import type { SlotClock } from "../clock.ts";
import type { AttestationPool } from "../op-pools/attestation-pool.ts";
import type { OpPool } from "../op-pools/op-pool.ts";
import type { SyncCommitteePool } from "../op-pools/sync-committee-pool.ts";
import type { SlashingProtection } from "../slashing-protection/index.ts";

export interface ValidatorKey {
  secretKey: SecretKey;
  pubkey: Uint8Array;
}

export interface ValidatorPublish {
  block?(block: electra.SignedBeaconBlock): void;
  attestation?(attestation: electra.SingleAttestation): void;
  aggregateAndProof?(aggregate: electra.SignedAggregateAndProof): void;
  syncCommitteeMessage?(message: {
    slot: number;
    beaconBlockRoot: Uint8Array;
    validatorIndex: number;
    signature: Uint8Array;
  }): void;
}

export interface ValidatorOptions {
  feeRecipient: Hex;
  graffiti?: string;
}

export interface ValidatorModules {
  chain: BeaconChain;
  clock: SlotClock;
  producer: BlockProducer;
  attestations: AttestationPool;
  syncCommittee: SyncCommitteePool;
  ops: OpPool;
  protection: SlashingProtection;
  logger: Logger;
  publish?: ValidatorPublish;
  metrics?: ValidatorMetricsSink;
}

export interface ValidatorMetricsSink {
  onProposed?(slot: number): void;
  onAttested?(count: number): void;
  onAggregated?(count: number): void;
  onMissedProposal?(slot: number): void;
}

/** Attestations are made at 1/3 of the slot (spec ATTESTATION_DUE_BPS = 3333). */
const ATTESTATION_DUE_BPS = 3333;
/** Aggregates are published at 2/3 of the slot (spec AGGREGATE_DUE_BPS = 6667). */
const AGGREGATE_DUE_BPS = 6667;

interface Duty {
  validatorIndex: number;
  committeeIndex: number;
  committeeLength: number;
  positionInCommittee: number;
}

export class ValidatorClient {
  private readonly opts: ValidatorOptions;
  private readonly m: ValidatorModules;
  private readonly keys: ValidatorKey[];
  private readonly byIndex = new Map<number, ValidatorKey>();
  private duties = new Map<number, Duty[]>();
  private dutiesEpoch = -1;
  /** The vote our attesters cast last (aggregators aggregate it at 2/3 of the slot). */
  private attested: { slot: number; data: phase0.AttestationData } | undefined;
  private unsubscribe: (() => void) | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(opts: ValidatorOptions, keys: ValidatorKey[], modules: ValidatorModules) {
    this.opts = opts;
    this.keys = keys;
    this.m = modules;
  }

  /** How many validator keys this client signs with. */
  get keyCount(): number {
    return this.keys.length;
  }

  /** Where our blocks, attestations, aggregates and sync messages go besides our own chain (gossip). */
  setPublish(publish: ValidatorPublish | undefined): void {
    this.m.publish = publish;
  }

  get validatorIndices(): number[] {
    return [...this.byIndex.keys()];
  }

  start(): void {
    this.unsubscribe = this.m.clock.on("slot", (slot) => {
      this.running = this.running
        .then(() => this.onSlot(slot))
        .catch((err: unknown) => {
          this.m.logger.error({ err, slot }, "Validator duties failed");
        });
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.unsubscribe?.();
    await this.running;
  }

  private resolveIndices(state: BeaconState): void {
    for (const key of this.keys) {
      if ([...this.byIndex.values()].includes(key)) continue;
      const index = state.epochCtx.getValidatorIndex(key.pubkey);
      if (index !== null) this.byIndex.set(index, key);
    }
  }

  private refreshDuties(state: BeaconState, epoch: number): void {
    if (this.dutiesEpoch === epoch) return;
    this.resolveIndices(state);
    const assignments = state.epochCtx.getCommitteeAssignments(epoch, this.validatorIndices);
    const duties = new Map<number, Duty[]>();
    for (const [validatorIndex, a] of assignments) {
      const list = duties.get(a.slot) ?? [];
      list.push({
        validatorIndex,
        committeeIndex: a.committeeIndex,
        committeeLength: a.committeeLength,
        positionInCommittee: a.validatorCommitteeIndex,
      });
      duties.set(a.slot, list);
    }
    this.duties = duties;
    this.dutiesEpoch = epoch;
  }

  /** All duties of one slot; exported for tests that drive slots by hand. */
  async onSlot(slot: number): Promise<void> {
    if (this.stopped) return;
    const { chain, clock } = this.m;
    await chain.updateHead();
    const state = await chain.stateAtSlot(slot);
    this.refreshDuties(state, computeEpochAtSlot(slot));
    const proposer = state.epochCtx.getBeaconProposer(slot);
    const key = this.byIndex.get(proposer);
    if (key !== undefined && chain.head.slot < slot) await this.propose(slot, proposer, key);
    await clock.waitUntil(slot, ATTESTATION_DUE_BPS);
    if (this.stopped) return;
    await this.attest(slot);
    await this.syncCommitteeMessages(slot);
    await clock.waitUntil(slot, AGGREGATE_DUE_BPS);
    if (this.stopped) return;
    this.aggregate(slot);
    this.m.attestations.prune(slot);
    this.m.syncCommittee.prune(slot);
    this.m.ops.prune(chain.headState);
  }

  private domain(slot: number, type: Uint8Array): Uint8Array {
    return this.m.chain.config.getDomain(slot, type);
  }

  async propose(slot: number, proposerIndex: number, key: ValidatorKey): Promise<string | undefined> {
    const { chain, producer, protection, logger } = this.m;
    const epoch = computeEpochAtSlot(slot);
    const randaoReveal = key.secretKey
      .sign(computeSigningRoot(ssz.Epoch, epoch, this.domain(slot, DOMAIN_RANDAO)))
      .toBytes();
    const graffiti = new Uint8Array(32);
    graffiti.set(new TextEncoder().encode((this.opts.graffiti ?? "opengpu").slice(0, 32)));
    let produced: Awaited<ReturnType<BlockProducer["produce"]>>;
    try {
      produced = await producer.produce({
        slot,
        randaoReveal,
        graffiti,
        feeRecipient: this.opts.feeRecipient,
      });
    } catch (err) {
      this.m.metrics?.onMissedProposal?.(slot);
      logger.error({ err, slot, proposerIndex }, "Block production failed");
      return undefined;
    }
    const signingRoot = computeSigningRoot(
      ssz.electra.BeaconBlock,
      produced.block,
      this.domain(slot, DOMAIN_BEACON_PROPOSER),
    );
    await protection.checkAndInsertBlockProposal(key.pubkey, { slot, signingRoot });
    const signed: electra.SignedBeaconBlock = {
      message: produced.block,
      signature: key.secretKey.sign(signingRoot).toBytes(),
    };
    try {
      const root = await chain.importBlock(signed, { isTimely: true });
      this.m.publish?.block?.(signed);
      this.m.metrics?.onProposed?.(slot);
      return root;
    } catch (err) {
      if (err instanceof BlockError)
        logger.error({ slot, code: err.code, reason: err.message }, "Own block rejected");
      else throw err;
      return undefined;
    }
  }

  /** Attestation data for `slot` on the current head (what an honest validator votes). */
  attestationData(slot: number, headState: BeaconState, headRoot: Uint8Array): phase0.AttestationData {
    const epoch = computeEpochAtSlot(slot);
    const epochStart = computeStartSlotAtEpoch(epoch);
    const targetRoot = epochStart >= headState.slot ? headRoot : getBlockRootAtSlot(headState, epochStart);
    return {
      slot,
      index: 0,
      beaconBlockRoot: headRoot,
      source: headState.currentJustifiedCheckpoint.toValue(),
      target: { epoch, root: targetRoot },
    };
  }

  async attest(slot: number): Promise<number> {
    const { chain, protection, attestations } = this.m;
    const duties = this.duties.get(slot) ?? [];
    if (duties.length === 0) return 0;
    const head = chain.head;
    const headRoot = ssz.Root.fromJson(head.blockRoot);
    const state = await chain.stateAtSlot(slot);
    const data = this.attestationData(slot, state, headRoot);
    this.attested = { slot, data };
    const signingRoot = computeSigningRoot(
      ssz.phase0.AttestationData,
      data,
      this.domain(slot, DOMAIN_BEACON_ATTESTER),
    );
    let made = 0;
    for (const duty of duties) {
      const key = this.byIndex.get(duty.validatorIndex);
      if (key === undefined) continue;
      try {
        await protection.checkAndInsertAttestation(key.pubkey, {
          sourceEpoch: data.source.epoch,
          targetEpoch: data.target.epoch,
          signingRoot,
        });
      } catch (err) {
        this.m.logger.warn(
          { err, slot, validatorIndex: duty.validatorIndex },
          "Slashing protection refused an attestation",
        );
        continue;
      }
      const signature = key.secretKey.sign(signingRoot).toBytes();
      attestations.add({
        data,
        committeeIndex: duty.committeeIndex,
        committeeLength: duty.committeeLength,
        positionInCommittee: duty.positionInCommittee,
        validatorIndex: duty.validatorIndex,
        signature,
      });
      try {
        chain.onAttestation([duty.validatorIndex], data);
      } catch {
        // A vote the fork choice cannot use yet (e.g. target not known) still goes into blocks.
      }
      this.m.publish?.attestation?.({
        committeeIndex: duty.committeeIndex,
        attesterIndex: duty.validatorIndex,
        data,
        signature,
      });
      made++;
    }
    this.m.metrics?.onAttested?.(made);
    return made;
  }

  /**
   * Aggregation duty: each of our attesters of `slot` whose selection proof makes it an aggregator
   * of its committee (about TARGET_AGGREGATORS_PER_COMMITTEE per committee) signs the committee's
   * aggregate of the vote it cast, for gossip (`publish.aggregateAndProof`). Returns them.
   */
  aggregate(slot: number): electra.SignedAggregateAndProof[] {
    const attested = this.attested;
    if (attested === undefined || attested.slot !== slot) return [];
    const out: electra.SignedAggregateAndProof[] = [];
    const selectionDomain = this.domain(slot, DOMAIN_SELECTION_PROOF);
    const aggregateDomain = this.domain(slot, DOMAIN_AGGREGATE_AND_PROOF);
    for (const duty of this.duties.get(slot) ?? []) {
      const key = this.byIndex.get(duty.validatorIndex);
      if (key === undefined) continue;
      const selectionProof = key.secretKey
        .sign(computeSigningRoot(ssz.Slot, slot, selectionDomain))
        .toBytes();
      if (!isAggregatorFromCommitteeLength(duty.committeeLength, selectionProof)) continue;
      const aggregate = this.m.attestations.aggregateFor(attested.data, duty.committeeIndex);
      if (aggregate === undefined) continue;
      const message: electra.AggregateAndProof = {
        aggregatorIndex: duty.validatorIndex,
        aggregate,
        selectionProof,
      };
      const signature = key.secretKey
        .sign(computeSigningRoot(ssz.electra.AggregateAndProof, message, aggregateDomain))
        .toBytes();
      const signed = { message, signature };
      this.m.publish?.aggregateAndProof?.(signed);
      out.push(signed);
    }
    this.m.metrics?.onAggregated?.(out.length);
    return out;
  }

  async syncCommitteeMessages(slot: number): Promise<number> {
    const { chain, syncCommittee } = this.m;
    const state = chain.headState;
    // A message for `slot` is aggregated into the block at slot+1, which verifies it against
    // the committee of slot+1's sync period: at a period's last slot that is the next committee.
    const period = (s: number) => Math.floor(computeEpochAtSlot(s) / EPOCHS_PER_SYNC_COMMITTEE_PERIOD);
    const ahead = period(slot + 1) - period(state.slot);
    if (ahead !== 0 && ahead !== 1) return 0; // head too far behind to know the committee
    const committee =
      ahead === 0 ? state.epochCtx.currentSyncCommitteeIndexed : state.epochCtx.nextSyncCommitteeIndexed;
    const headRoot = ssz.Root.fromJson(chain.head.blockRoot);
    const signingRoot = computeSigningRoot(ssz.Root, headRoot, this.domain(slot, DOMAIN_SYNC_COMMITTEE));
    let sent = 0;
    for (const [validatorIndex, key] of this.byIndex) {
      const positions = committee.validatorIndexMap.get(validatorIndex);
      if (positions === undefined || positions.length === 0) continue;
      const signature = key.secretKey.sign(signingRoot).toBytes();
      syncCommittee.add(slot, headRoot, validatorIndex, positions, signature);
      this.m.publish?.syncCommitteeMessage?.({ slot, beaconBlockRoot: headRoot, validatorIndex, signature });
      sent++;
    }
    return sent;
  }
}
