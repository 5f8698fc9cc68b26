/**
 * Prometheus metrics of the gossip layer, per topic. `topic` is the registered topic's metrics
 * group (its name, with the subnet number dropped for subnet families: `beacon_attestation`,
 * `sync_committee`), so the label set stays bounded; `reason` is the validator's short reason
 * code (`invalid_signature`, `future_slot`, ...), never free text.
 */
import { Counter, Gauge, Histogram } from "prom-client";
import type { Metrics } from "./index.ts";

export interface GossipMetrics {
  /** A message arrived on a topic (before validation). */
  onReceived(topic: string): void;
  /** Our validator's verdict on a received message and how long it took. */
  onValidated(topic: string, verdict: "ACCEPT" | "IGNORE" | "REJECT", reason: string, seconds: number): void;
  /** We published a message to `recipients` peers (0: no peer subscribed yet). */
  onPublished(topic: string, recipients: number): void;
  /** Publishing failed (encoding, size, transport). */
  onPublishFailed(topic: string): void;
  /** Connected peers, peers in any topic mesh. */
  setPeers(connected: number, mesh: number): void;
}

const cache = new WeakMap<Metrics, GossipMetrics>();

/** The gossip metric group of a node's registry (created once per registry). */
export function gossipMetrics(metrics: Metrics): GossipMetrics {
  const existing = cache.get(metrics);
  if (existing !== undefined) return existing;
  const registers = [metrics.registry];
  const received = new Counter({
    name: "opengpu_gossip_messages_received_total",
    help: "Gossip messages received, by topic (before validation)",
    labelNames: ["topic"],
    registers,
  });
  const accepted = new Counter({
    name: "opengpu_gossip_messages_accepted_total",
    help: "Gossip messages accepted (valid, forwarded), by topic",
    labelNames: ["topic"],
    registers,
  });
  const ignored = new Counter({
    name: "opengpu_gossip_messages_ignored_total",
    help: "Gossip messages ignored (not useful now: duplicate, old, unknown block), by topic and reason",
    labelNames: ["topic", "reason"],
    registers,
  });
  const rejected = new Counter({
    name: "opengpu_gossip_messages_rejected_total",
    help: "Gossip messages rejected as invalid (sender penalized), by topic and reason",
    labelNames: ["topic", "reason"],
    registers,
  });
  const validationSeconds = new Histogram({
    name: "opengpu_gossip_validation_seconds",
    help: "Time to validate (and, for blocks, import) a gossip message, by topic",
    labelNames: ["topic"],
    buckets: [0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2],
    registers,
  });
  const published = new Counter({
    name: "opengpu_gossip_messages_published_total",
    help: "Gossip messages this node published, by topic",
    labelNames: ["topic"],
    registers,
  });
  const publishFailed = new Counter({
    name: "opengpu_gossip_publish_failures_total",
    help: "Gossip messages this node failed to publish, by topic",
    labelNames: ["topic"],
    registers,
  });
  const peers = new Gauge({
    name: "opengpu_gossip_peers",
    help: "Peers connected to the gossip router",
    registers,
  });
  const meshPeers = new Gauge({
    name: "opengpu_gossip_mesh_peers",
    help: "Distinct peers in at least one topic mesh",
    registers,
  });
  const group: GossipMetrics = {
    onReceived: (topic) => received.inc({ topic }),
    onValidated(topic, verdict, reason, seconds) {
      validationSeconds.observe({ topic }, seconds);
      if (verdict === "ACCEPT") accepted.inc({ topic });
      else if (verdict === "IGNORE") ignored.inc({ topic, reason });
      else rejected.inc({ topic, reason });
    },
    onPublished: (topic) => published.inc({ topic }),
    onPublishFailed: (topic) => publishFailed.inc({ topic }),
    setPeers(connected, mesh) {
      peers.set(connected);
      meshPeers.set(mesh);
    },
  };
  cache.set(metrics, group);
  return group;
}
