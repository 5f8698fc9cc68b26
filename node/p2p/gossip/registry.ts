/**
 * The topic registry: every gossip topic the node speaks is registered here with its message
 * type, its validator and its handler; the registry subscribes, decodes, validates, reports the
 * verdict to gossipsub (which forwards ACCEPTed messages and scores their senders: a REJECT costs
 * the sender, an IGNORE does not), hands accepted messages to their handler, and publishes.
 *
 *   gossipsub 'gossipsub:message' (snappy already undone by the data transform)
 *     ─► SSZ decode (REJECT on failure) ─► validate(message, ctx) ─► ACCEPT | IGNORE | REJECT
 *     ─► reportMessageValidationResult (forward / drop, peer score) ─► handle(message) on ACCEPT
 *
 * Other layers add their own topics (the compute layer will):
 *
 *   registry.register("task_bids", { type: ssz.MyContainer, namespace: "opengpu",
 *     validate: (bid, { peer }) => ..., handle: (bid) => ... });
 *   await registry.publish("task_bids", bid);
 *
 * Reasons are short codes (`invalid_signature`): they label the per-topic metrics.
 */
import { type GossipSub, type GossipsubMessage, TopicValidatorResult } from "@libp2p/gossipsub";
import type { TopicScoreParams } from "@libp2p/gossipsub/score";
import type { GossipMetrics } from "../../metrics/gossip.ts";
import { errorMessage } from "../../utils/errors.ts";
import { TypedEmitter } from "../../utils/events.ts";
import type { Logger } from "../../utils/logger.ts";
import { GossipError, GossipErrorCode } from "./errors.ts";
import { type GossipTiming, type TopicScoreInput, TopicWeight, topicScoreParams } from "./scoring.ts";
import { ETH2_NAMESPACE, topicString } from "./topics.ts";

export type GossipVerdict = "ACCEPT" | "IGNORE" | "REJECT";

/** A validator's verdict: `reason` is a short code (metrics label), `detail` free text for logs. */
export interface GossipValidation {
  verdict: GossipVerdict;
  reason?: string;
  detail?: string;
}

export const ACCEPT: GossipValidation = { verdict: "ACCEPT" };
export function ignore(reason: string, detail?: string): GossipValidation {
  return { verdict: "IGNORE", reason, detail };
}
export function reject(reason: string, detail?: string): GossipValidation {
  return { verdict: "REJECT", reason, detail };
}

/** How a topic's messages are encoded: an SSZ type from @lodestar/types, or `rawBytes`. */
export interface GossipCodec<T> {
  readonly minSize: number;
  readonly maxSize: number;
  serialize(value: T): Uint8Array;
  deserialize(bytes: Uint8Array): T;
}

/** Messages that are opaque bytes (SSZ `ByteList[maxSize]`, whose encoding is the bytes themselves). */
export function rawBytes(maxSize: number, minSize = 1): GossipCodec<Uint8Array> {
  return {
    minSize,
    maxSize,
    serialize: (value) => value,
    deserialize: (bytes) => bytes,
  };
}

export interface MessageContext {
  /** The registered topic name (`beacon_block`). */
  topic: string;
  /** The full topic string (`/eth2/4f470005/beacon_block/ssz_snappy`). */
  topicString: string;
  /** The peer that forwarded the message to us. */
  peer: string;
  /** The spec message id, 0x-hex. */
  msgId: string;
}

export interface TopicRegistration<T> {
  type: GossipCodec<T>;
  /** Topic namespace: `eth2` (default) or `opengpu`. */
  namespace?: string;
  /** Metrics label; defaults to the name (subnet families pass their family name). */
  group?: string;
  /** Scoring of the topic's deliveries; a low-weight default when omitted. */
  score?: TopicScoreInput;
  /** Whether to subscribe (receive); publishing works either way. Default true. */
  subscribe?: boolean;
  validate(message: T, ctx: MessageContext): GossipValidation | Promise<GossipValidation>;
  /** Runs after an ACCEPT was reported (the message is already on its way to our mesh peers). */
  handle?(message: T, ctx: MessageContext): void | Promise<void>;
}

export interface GossipRegistryEvents {
  /** Every verdict on a received message (diagnostics, tests). */
  validated: (e: {
    topic: string;
    peer: string;
    verdict: GossipVerdict;
    reason?: string;
    detail?: string;
    message: unknown;
  }) => void;
  /** A message of ours went out to these peers (none: nobody subscribed, or a duplicate). */
  published: (e: { topic: string; recipients: string[] }) => void;
}

/**
 * What the registry needs of gossipsub beyond libp2p's PubSub interface (the router class is
 * not exported by @libp2p/gossipsub; these members are public on it).
 */
export interface GossipRouter extends GossipSub {
  reportMessageValidationResult(
    msgId: string,
    propagationSource: string,
    acceptance: TopicValidatorResult,
  ): void;
  getScore(peerId: string): number;
  getMeshPeers(topic: string): string[];
  readonly score: { readonly params: { topics: Record<string, TopicScoreParams> } };
  readonly opts: { readonly asyncValidation: boolean };
}

/** The host's gossipsub as a `GossipRouter`; throws when it was not started with `gossipsubOptions`. */
export function gossipRouter(pubsub: GossipSub): GossipRouter {
  const router = pubsub as Partial<GossipRouter>;
  if (
    typeof router.reportMessageValidationResult !== "function" ||
    typeof router.getScore !== "function" ||
    typeof router.getMeshPeers !== "function" ||
    router.score?.params?.topics === undefined
  ) {
    throw new GossipError(GossipErrorCode.NOT_CONFIGURED, "the P2P host's pubsub is not gossipsub");
  }
  if (pubsub.globalSignaturePolicy !== "StrictNoSign" || router.opts?.asyncValidation !== true) {
    throw new GossipError(
      GossipErrorCode.NOT_CONFIGURED,
      "the P2P host's gossipsub was not started with the gossip layer's options (P2PHost.start(..., { gossip: gossipsubOptions(...) }))",
    );
  }
  return router as GossipRouter;
}

const ACCEPTANCE: Record<GossipVerdict, TopicValidatorResult> = {
  ACCEPT: TopicValidatorResult.Accept,
  IGNORE: TopicValidatorResult.Ignore,
  REJECT: TopicValidatorResult.Reject,
};

interface Entry {
  name: string;
  topicString: string;
  group: string;
  /** Stored type-erased; `register<T>` pairs each codec with its own validator and handler. */
  reg: TopicRegistration<unknown>;
}

export interface GossipRegistryOptions {
  router: GossipRouter;
  /** Fork digest of the topics (8 hex digits). */
  forkDigest: string;
  timing: GossipTiming;
  /** The current slot (score parameters depend on the chain's age). */
  currentSlot: () => number;
  logger: Logger;
  metrics?: GossipMetrics;
}

export class GossipRegistry extends TypedEmitter<GossipRegistryEvents> {
  readonly forkDigest: string;
  private readonly router: GossipRouter;
  private readonly timing: GossipTiming;
  private readonly currentSlot: () => number;
  private readonly logger: Logger;
  private readonly metrics: GossipMetrics | undefined;
  private readonly byName = new Map<string, Entry>();
  private readonly byTopic = new Map<string, Entry>();
  private running = false;
  /** Publications under way (`flush` waits for them). */
  private readonly publishing = new Set<Promise<unknown>>();
  /** Received messages being validated or handled (`stop` waits for them). */
  private readonly processing = new Set<Promise<void>>();
  private readonly listener = (e: CustomEvent<GossipsubMessage>) => this.onMessage(e.detail);

  constructor(opts: GossipRegistryOptions) {
    super();
    this.router = opts.router;
    this.forkDigest = opts.forkDigest;
    this.timing = opts.timing;
    this.currentSlot = opts.currentSlot;
    this.logger = opts.logger;
    this.metrics = opts.metrics;
  }

  /** Adds a topic; subscribes at once when the registry is running. */
  register<T>(name: string, reg: TopicRegistration<T>): string {
    if (name === "" || name.includes("/")) {
      throw new GossipError(GossipErrorCode.INVALID_TOPIC_NAME, `invalid gossip topic name "${name}"`);
    }
    if (this.byName.has(name)) {
      throw new GossipError(GossipErrorCode.DUPLICATE_TOPIC, `gossip topic ${name} is already registered`);
    }
    const full = topicString(reg.namespace ?? ETH2_NAMESPACE, this.forkDigest, name);
    const entry: Entry = { name, topicString: full, group: reg.group ?? name, reg };
    this.byName.set(name, entry);
    this.byTopic.set(full, entry);
    const score = reg.score ?? {
      weight: TopicWeight.other,
      expectedMessagesPerSlot: 1,
      firstMessageDecaySlots: 4 * this.timing.slotsPerEpoch,
    };
    this.router.score.params.topics[full] = topicScoreParams(score, this.timing, this.currentSlot());
    if (this.running && reg.subscribe !== false) this.router.subscribe(full);
    return full;
  }

  unregister(name: string): void {
    const entry = this.byName.get(name);
    if (entry === undefined) return;
    this.byName.delete(name);
    this.byTopic.delete(entry.topicString);
    delete this.router.score.params.topics[entry.topicString];
    if (this.running && entry.reg.subscribe !== false) this.router.unsubscribe(entry.topicString);
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** The full topic string of a registered topic. */
  topicOf(name: string): string {
    return this.entry(name).topicString;
  }

  get names(): string[] {
    return [...this.byName.keys()];
  }

  private entry(name: string): Entry {
    const entry = this.byName.get(name);
    if (entry === undefined) throw this.unknown(name);
    return entry;
  }

  private unknown(name: string): GossipError {
    return new GossipError(GossipErrorCode.UNKNOWN_TOPIC, `gossip topic ${name} is not registered`);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.router.addEventListener("gossipsub:message", this.listener);
    for (const entry of this.byName.values())
      if (entry.reg.subscribe !== false) this.router.subscribe(entry.topicString);
  }

  /** Unsubscribes, then waits for the messages being validated and our publications under way. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.router.removeEventListener("gossipsub:message", this.listener);
    for (const entry of this.byName.values())
      if (entry.reg.subscribe !== false) this.router.unsubscribe(entry.topicString);
    await Promise.allSettled([...this.processing, ...this.publishing]);
  }

  /**
   * Publishes `value` on a registered topic. Returns the number of peers it was sent to (0 when
   * none is subscribed yet, or when the network already delivered the same message to us, and
   * while the registry is stopped). Rejects with GossipError for an unknown topic or an
   * oversized message.
   */
  publish<T>(name: string, value: T): Promise<number> {
    const entry = this.byName.get(name);
    if (entry === undefined) return Promise.reject(this.unknown(name));
    if (!this.running) return Promise.resolve(0);
    const done = this.send(entry, value);
    this.publishing.add(done);
    void done.then(
      () => this.publishing.delete(done),
      () => this.publishing.delete(done),
    );
    return done;
  }

  private async send(entry: Entry, value: unknown): Promise<number> {
    try {
      const bytes = entry.reg.type.serialize(value);
      const result = await this.router.publish(entry.topicString, bytes);
      const recipients = result.recipients.map((p) => p.toString());
      this.metrics?.onPublished(entry.group, recipients.length);
      this.emit("published", { topic: entry.name, recipients });
      return recipients.length;
    } catch (err) {
      this.metrics?.onPublishFailed(entry.group);
      throw err;
    }
  }

  /** Resolves once every publication started so far has gone out (or failed). */
  async flush(): Promise<void> {
    await Promise.allSettled([...this.publishing]);
  }

  /** Connected peers subscribed to a registered topic. */
  subscribers(name: string): string[] {
    return this.router.getSubscribers(this.entry(name).topicString).map((p) => p.toString());
  }

  private onMessage(detail: GossipsubMessage): void {
    const peer = detail.propagationSource.toString();
    const entry = this.byTopic.get(detail.msg.topic);
    if (entry === undefined || !this.running) {
      // Unsubscribed while in flight: drop without penalty.
      this.router.reportMessageValidationResult(detail.msgId, peer, TopicValidatorResult.Ignore);
      return;
    }
    const done = this.process(entry, detail.msg.data, peer, detail.msgId).catch((err: unknown) => {
      this.logger.error({ err, topic: entry.name }, "Gossip message processing failed");
    });
    this.processing.add(done);
    void done.then(() => this.processing.delete(done));
  }

  private async process(entry: Entry, data: Uint8Array, peer: string, msgId: string): Promise<void> {
    const started = performance.now();
    this.metrics?.onReceived(entry.group);
    const ctx: MessageContext = { topic: entry.name, topicString: entry.topicString, peer, msgId };
    let result: GossipValidation;
    let message: unknown;
    const { type } = entry.reg;
    if (data.length < type.minSize || data.length > type.maxSize) {
      result = reject("invalid_size", `${data.length} bytes, type allows ${type.minSize}..${type.maxSize}`);
    } else {
      try {
        message = type.deserialize(data);
        result = await entry.reg.validate(message, ctx);
      } catch (err) {
        if (message === undefined) result = reject("invalid_ssz", errorMessage(err));
        else {
          // A bug or an outage on our side is not the peer's fault.
          this.logger.error({ err, topic: entry.name, peer }, "Gossip validator failed");
          result = ignore("validator_error", errorMessage(err));
        }
      }
    }
    if (this.running) this.router.reportMessageValidationResult(msgId, peer, ACCEPTANCE[result.verdict]);
    this.metrics?.onValidated(
      entry.group,
      result.verdict,
      result.reason ?? "",
      (performance.now() - started) / 1000,
    );
    if (result.verdict === "REJECT") {
      this.logger.debug(
        { topic: entry.name, peer, reason: result.reason, detail: result.detail },
        "Rejected gossip message",
      );
    }
    this.emit("validated", {
      topic: entry.name,
      peer,
      verdict: result.verdict,
      reason: result.reason,
      detail: result.detail,
      message,
    });
    if (result.verdict === "ACCEPT" && entry.reg.handle !== undefined && message !== undefined) {
      try {
        await entry.reg.handle(message, ctx);
      } catch (err) {
        this.logger.error({ err, topic: entry.name }, "Gossip handler failed");
      }
    }
  }
}
