import { OpenGpuError } from "../../utils/errors.ts";

/** Why the gossip layer refused a call. */
export const GossipErrorCode = {
  /** The topic name is not registered (publish) or already registered (register). */
  UNKNOWN_TOPIC: "GOSSIP_UNKNOWN_TOPIC",
  DUPLICATE_TOPIC: "GOSSIP_DUPLICATE_TOPIC",
  /** A topic name that cannot be part of a topic string (empty, or with '/'). */
  INVALID_TOPIC_NAME: "GOSSIP_INVALID_TOPIC_NAME",
  /** A message larger than MAX_PAYLOAD_SIZE or than its topic's type allows. */
  MESSAGE_TOO_LARGE: "GOSSIP_MESSAGE_TOO_LARGE",
  /** Bytes that are not a valid snappy block. */
  INVALID_SNAPPY: "GOSSIP_INVALID_SNAPPY",
  /** The P2P host's gossipsub was not started with this layer's options (`gossipsubOptions`). */
  NOT_CONFIGURED: "GOSSIP_NOT_CONFIGURED",
} as const;
export type GossipErrorCode = (typeof GossipErrorCode)[keyof typeof GossipErrorCode];

export class GossipError extends OpenGpuError<GossipErrorCode> {
  override name = "GossipError";
}
