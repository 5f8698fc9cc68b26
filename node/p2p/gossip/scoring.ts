/**
 * Gossipsub settings for the node: the consensus p2p spec's mesh parameters, StrictNoSign, the
 * spec message id and snappy transform, asynchronous validation (our validators' verdicts feed
 * the peer scores), and gossipsub v1.1 peer scoring modelled on the parameters Ethereum clients
 * (Lighthouse, Lodestar) use:
 *
 *  - thresholds: gossip -4000, publish -8000, graylist -16000, accept PX 100, opportunistic graft 5;
 *  - per topic: a weight (blocks 0.5, aggregates 0.5, all attestation subnets together 1,
 *    operations 0.05 each), P1 time in mesh (up to 10 per topic after an hour), P2 first
 *    deliveries (up to 40, capped where the expected message rate converges), P3 mesh delivery
 *    deficits on topics with at least a message per slot once the chain is old enough to expect
 *    them (blocks, aggregates; attestation subnets on networks of thousands of validators), and P4 invalid
 *    messages: one REJECT costs `maxPositiveScore`, the most a peer can earn on all topics;
 *  - P6 IP colocation above 3 peers per address (loopback exempt: local test networks), P7
 *    behaviour penalties (broken promises, graft floods).
 *
 * Decays are expressed in slots and epochs of the network's own clock, so a 2 s dev chain and a
 * 12 s network forget at the same pace in slots.
 */
import { type GossipsubOpts, StrictNoSign } from "@libp2p/gossipsub";
import {
  createTopicScoreParams,
  type PeerScoreParams,
  type PeerScoreThresholds,
  type TopicScoreParams,
  validateTopicScoreParams,
} from "@libp2p/gossipsub/score";
import {
  MAX_COMMITTEES_PER_SLOT,
  SYNC_COMMITTEE_SIZE,
  SYNC_COMMITTEE_SUBNET_COUNT,
  TARGET_AGGREGATORS_PER_COMMITTEE,
  TARGET_COMMITTEE_SIZE,
} from "@lodestar/params";
import {
  fastMessageId,
  GossipDataTransform,
  gossipMessageId,
  maxMessageSize,
  messageIdToString,
} from "./encoding.ts";

/** Spec gossipsub parameters. */
export const GOSSIP_D = 8;
export const GOSSIP_D_LOW = 6;
export const GOSSIP_D_HIGH = 12;
export const GOSSIP_D_LAZY = 6;
export const GOSSIP_HEARTBEAT_MS = 700;
export const GOSSIP_FANOUT_TTL_MS = 60_000;
export const GOSSIP_MCACHE_LENGTH = 6;
export const GOSSIP_MCACHE_GOSSIP = 3;
/** seen_ttl: 550 heartbeats (385 s). */
export const GOSSIP_SEEN_TTL_MS = 550 * GOSSIP_HEARTBEAT_MS;

export const GOSSIP_SCORE_THRESHOLDS: PeerScoreThresholds = {
  gossipThreshold: -4000,
  publishThreshold: -8000,
  graylistThreshold: -16000,
  acceptPXThreshold: 100,
  opportunisticGraftThreshold: 5,
};

/** Topic weights: the share of a peer's score each topic may contribute. */
export const TopicWeight = {
  beaconBlock: 0.5,
  aggregateAndProof: 0.5,
  /** Each of the 64 attestation subnets (1 in all). */
  attestationSubnet: 1 / 64,
  voluntaryExit: 0.05,
  proposerSlashing: 0.05,
  attesterSlashing: 0.05,
  blsToExecutionChange: 0.05,
  /** Each sync committee subnet. */
  syncCommitteeSubnet: 0.05,
  transactions: 0.1,
  /** Default for topics other layers register without their own score settings. */
  other: 0.05,
} as const;

const MAX_IN_MESH_SCORE = 10;
const MAX_FIRST_MESSAGE_DELIVERIES_SCORE = 40;
/** Allowance for topics registered by other layers (compute), in topic weight. */
const OTHER_TOPICS_WEIGHT = 0.5;

/** The most a peer can earn across all topics; one invalid message costs this much. */
export const MAX_POSITIVE_SCORE =
  (MAX_IN_MESH_SCORE + MAX_FIRST_MESSAGE_DELIVERIES_SCORE) *
  (TopicWeight.beaconBlock +
    TopicWeight.aggregateAndProof +
    TopicWeight.attestationSubnet * 64 +
    TopicWeight.voluntaryExit +
    TopicWeight.proposerSlashing +
    TopicWeight.attesterSlashing +
    TopicWeight.blsToExecutionChange +
    TopicWeight.syncCommitteeSubnet * SYNC_COMMITTEE_SUBNET_COUNT +
    TopicWeight.transactions +
    OTHER_TOPICS_WEIGHT);

/** Network timing the decays are derived from. */
export interface GossipTiming {
  slotMs: number;
  slotsPerEpoch: number;
}

/** How a topic is scored (what registrants describe; `topicScoreParams` turns it into gossipsub's). */
export interface TopicScoreInput {
  weight: number;
  /** Messages a well-behaved network carries on the topic per slot. */
  expectedMessagesPerSlot: number;
  /** Slots over which first deliveries keep counting. */
  firstMessageDecaySlots: number;
  /**
   * Expected deliveries from mesh peers (P3): peers below the threshold are penalized. Only for
   * busy topics with steady traffic; omitted: no mesh-delivery penalty.
   */
  meshDeliveries?: { decaySlots: number; capFactor: number; activationSlots: number };
}

function decayPerInterval(decayMs: number, intervalMs: number): number {
  const ticks = decayMs / intervalMs;
  return DECAY_TO_ZERO ** (1 / ticks);
}

function decayConvergence(decay: number, rate: number): number {
  return rate / (1 - decay);
}

const DECAY_TO_ZERO = 0.01;

function decayIntervalMs(timing: GossipTiming): number {
  // gossipsub refuses intervals under one second.
  return Math.max(1000, timing.slotMs);
}

/** Gossipsub's score parameters for one topic. */
export function topicScoreParams(
  input: TopicScoreInput,
  timing: GossipTiming,
  currentSlot: number,
): TopicScoreParams {
  const interval = decayIntervalMs(timing);
  const epochMs = timing.slotMs * timing.slotsPerEpoch;
  const rate = Math.max(input.expectedMessagesPerSlot, 1e-6);
  const p: Partial<TopicScoreParams> = { topicWeight: input.weight };
  // P1: up to MAX_IN_MESH_SCORE after an hour in the mesh, counted in slots.
  p.timeInMeshQuantum = timing.slotMs;
  p.timeInMeshCap = 3600 / (timing.slotMs / 1000);
  p.timeInMeshWeight = MAX_IN_MESH_SCORE / p.timeInMeshCap;
  // P2: first deliveries, capped where twice this peer's fair share (1/D of the traffic) converges.
  p.firstMessageDeliveriesDecay = decayPerInterval(input.firstMessageDecaySlots * timing.slotMs, interval);
  p.firstMessageDeliveriesCap = decayConvergence(p.firstMessageDeliveriesDecay, (2 * rate) / GOSSIP_D);
  p.firstMessageDeliveriesWeight = MAX_FIRST_MESSAGE_DELIVERIES_SCORE / p.firstMessageDeliveriesCap;
  const mesh = input.meshDeliveries;
  // P3 only once the chain has run longer than the decay window, and only on topics that carry
  // at least a message per slot: on a small network most attestation subnets stay silent for
  // epochs, and a deficit penalty on each of them would push every honest peer below the gossip
  // threshold.
  if (mesh !== undefined && currentSlot > mesh.decaySlots && rate >= 1) {
    const decay = decayPerInterval(mesh.decaySlots * timing.slotMs, interval);
    const threshold = decayConvergence(decay, rate / 50) * decay;
    p.meshMessageDeliveriesDecay = decay;
    p.meshMessageDeliveriesThreshold = threshold;
    p.meshMessageDeliveriesCap = Math.max(mesh.capFactor * threshold, 2);
    p.meshMessageDeliveriesActivation = mesh.activationSlots * timing.slotMs;
    p.meshMessageDeliveriesWindow = Math.max(2000, timing.slotMs);
    p.meshMessageDeliveriesWeight = -MAX_POSITIVE_SCORE / (input.weight * threshold * threshold);
    p.meshFailurePenaltyDecay = decay;
    p.meshFailurePenaltyWeight = p.meshMessageDeliveriesWeight;
  } else {
    p.meshMessageDeliveriesWeight = 0;
    p.meshMessageDeliveriesThreshold = 0;
    p.meshMessageDeliveriesDecay = 0;
    p.meshMessageDeliveriesCap = 0;
    p.meshMessageDeliveriesWindow = 0;
    p.meshMessageDeliveriesActivation = 0;
    p.meshFailurePenaltyDecay = 0;
    p.meshFailurePenaltyWeight = 0;
  }
  // P4: one invalid message wipes out everything a peer can earn; it is forgotten over 50 epochs.
  p.invalidMessageDeliveriesWeight = -MAX_POSITIVE_SCORE / input.weight;
  p.invalidMessageDeliveriesDecay = decayPerInterval(50 * epochMs, interval);
  const params = createTopicScoreParams(p);
  validateTopicScoreParams(params);
  return params;
}

/** Peer score parameters (topics are added by the registry as they are registered). */
export function peerScoreParams(timing: GossipTiming): Partial<PeerScoreParams> {
  const interval = decayIntervalMs(timing);
  const epochMs = timing.slotMs * timing.slotsPerEpoch;
  const behaviourPenaltyDecay = decayPerInterval(10 * epochMs, interval);
  const behaviourPenaltyThreshold = 6;
  const target =
    decayConvergence(behaviourPenaltyDecay, 10 / timing.slotsPerEpoch) - behaviourPenaltyThreshold;
  const topicScoreCap = MAX_POSITIVE_SCORE / 2;
  return {
    topics: {},
    topicScoreCap,
    decayInterval: interval,
    decayToZero: DECAY_TO_ZERO,
    retainScore: 100 * epochMs,
    appSpecificWeight: 1,
    IPColocationFactorThreshold: 3,
    IPColocationFactorWeight: -topicScoreCap,
    IPColocationFactorWhitelist: new Set(["127.0.0.1", "::1"]),
    behaviourPenaltyDecay,
    behaviourPenaltyThreshold,
    behaviourPenaltyWeight: target > 0 ? GOSSIP_SCORE_THRESHOLDS.gossipThreshold / (target * target) : -1,
  };
}

/**
 * Everything P2PHost.start needs in its `gossip` option so the gossip layer can run on it.
 * `GossipNetwork` refuses a host started without these.
 */
export function gossipsubOptions(timing: GossipTiming): Partial<GossipsubOpts> {
  return {
    globalSignaturePolicy: StrictNoSign,
    D: GOSSIP_D,
    Dlo: GOSSIP_D_LOW,
    Dhi: GOSSIP_D_HIGH,
    Dlazy: GOSSIP_D_LAZY,
    heartbeatInterval: GOSSIP_HEARTBEAT_MS,
    fanoutTTL: GOSSIP_FANOUT_TTL_MS,
    mcacheLength: GOSSIP_MCACHE_LENGTH,
    mcacheGossip: GOSSIP_MCACHE_GOSSIP,
    seenTTL: GOSSIP_SEEN_TTL_MS,
    msgIdFn: gossipMessageId,
    fastMsgIdFn: fastMessageId,
    msgIdToStrFn: messageIdToString,
    dataTransform: new GossipDataTransform(),
    maxInboundDataLength: maxMessageSize(),
    // Messages are forwarded only once our validators accept them.
    asyncValidation: true,
    scoreParams: peerScoreParams(timing),
    scoreThresholds: GOSSIP_SCORE_THRESHOLDS,
    // A peer has a slot to answer an IWANT before it is penalized.
    gossipsubIWantFollowupMs: Math.max(3000, timing.slotMs),
    emitSelf: false,
    floodPublish: true,
    batchPublish: true,
    allowPublishToZeroTopicPeers: true,
    // Publishing something the network already delivered to us is a no-op, not an error.
    ignoreDuplicatePublishError: true,
    // IDONTWANT only for large messages (blocks), where it saves bandwidth.
    idontwantMinDataSize: 16 * 1024,
  };
}

/** Expected committee layout for `activeValidators` (for message-rate estimates). */
function committeesPerSlot(activeValidators: number, slotsPerEpoch: number): number {
  return Math.max(
    1,
    Math.min(MAX_COMMITTEES_PER_SLOT, Math.floor(activeValidators / slotsPerEpoch / TARGET_COMMITTEE_SIZE)),
  );
}

/** Score inputs of the consensus topics for a network with `activeValidators` validators. */
export function consensusTopicScores(
  activeValidators: number,
  slotsPerEpoch: number,
): {
  beaconBlock: TopicScoreInput;
  aggregateAndProof: TopicScoreInput;
  attestationSubnet: TopicScoreInput;
  voluntaryExit: TopicScoreInput;
  proposerSlashing: TopicScoreInput;
  attesterSlashing: TopicScoreInput;
  blsToExecutionChange: TopicScoreInput;
  syncCommitteeSubnet: TopicScoreInput;
} {
  const active = Math.max(1, activeValidators);
  const committees = committeesPerSlot(active, slotsPerEpoch);
  const committeeSize = active / (committees * slotsPerEpoch);
  const aggregatorsPerSlot = Math.max(
    1,
    committees * Math.min(committeeSize, TARGET_AGGREGATORS_PER_COMMITTEE),
  );
  // Several committees per subnet per epoch: traffic comes in frequent bursts.
  const frequentBursts = committees >= (2 * 64) / slotsPerEpoch;
  const rareOps = (rate: number, weight: number): TopicScoreInput => ({
    weight,
    expectedMessagesPerSlot: rate,
    firstMessageDecaySlots: 100 * slotsPerEpoch,
  });
  return {
    beaconBlock: {
      weight: TopicWeight.beaconBlock,
      expectedMessagesPerSlot: 1,
      firstMessageDecaySlots: 20 * slotsPerEpoch,
      meshDeliveries: { decaySlots: 5 * slotsPerEpoch, capFactor: 3, activationSlots: slotsPerEpoch },
    },
    aggregateAndProof: {
      weight: TopicWeight.aggregateAndProof,
      expectedMessagesPerSlot: aggregatorsPerSlot,
      firstMessageDecaySlots: slotsPerEpoch,
      meshDeliveries: { decaySlots: 2 * slotsPerEpoch, capFactor: 4, activationSlots: slotsPerEpoch },
    },
    attestationSubnet: {
      weight: TopicWeight.attestationSubnet,
      expectedMessagesPerSlot: active / 64 / slotsPerEpoch,
      firstMessageDecaySlots: frequentBursts ? slotsPerEpoch : 4 * slotsPerEpoch,
      meshDeliveries: {
        decaySlots: frequentBursts ? 4 * slotsPerEpoch : 16 * slotsPerEpoch,
        capFactor: 16,
        activationSlots: frequentBursts ? slotsPerEpoch / 2 + 1 : slotsPerEpoch,
      },
    },
    voluntaryExit: rareOps(4 / slotsPerEpoch, TopicWeight.voluntaryExit),
    proposerSlashing: rareOps(1 / 5 / slotsPerEpoch, TopicWeight.proposerSlashing),
    attesterSlashing: rareOps(1 / 5 / slotsPerEpoch, TopicWeight.attesterSlashing),
    blsToExecutionChange: rareOps(4 / slotsPerEpoch, TopicWeight.blsToExecutionChange),
    syncCommitteeSubnet: {
      weight: TopicWeight.syncCommitteeSubnet,
      expectedMessagesPerSlot: Math.min(active, SYNC_COMMITTEE_SIZE / SYNC_COMMITTEE_SUBNET_COUNT),
      firstMessageDecaySlots: slotsPerEpoch,
    },
  };
}
