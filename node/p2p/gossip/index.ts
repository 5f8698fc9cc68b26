/** The gossip layer: topic registry, consensus and transaction topics, and the network wiring them. */
export { ConsensusGossip, type UnknownParentEvent } from "./consensus.ts";
export {
  computeMessageId,
  GossipDataTransform,
  MAX_PAYLOAD_SIZE,
  messageIdOfDecompressed,
  snappyCompress,
  snappyUncompress,
} from "./encoding.ts";
export { GossipError, GossipErrorCode } from "./errors.ts";
export { GossipNetwork, type GossipNetworkEvents, gossipsubOptionsFor, gossipTimingOf } from "./network.ts";
export {
  ACCEPT,
  type GossipCodec,
  GossipRegistry,
  type GossipValidation,
  type GossipVerdict,
  ignore,
  type MessageContext,
  rawBytes,
  reject,
  type TopicRegistration,
} from "./registry.ts";
export { GOSSIP_SCORE_THRESHOLDS, gossipsubOptions, type TopicScoreInput, TopicWeight } from "./scoring.ts";
export {
  attestationSubnetTopic,
  ConsensusTopic,
  ETH2_NAMESPACE,
  forkDigestHex,
  OPENGPU_NAMESPACE,
  syncCommitteeSubnetTopic,
  topicString,
} from "./topics.ts";
export { TRANSACTIONS_TOPIC } from "./transactions.ts";
