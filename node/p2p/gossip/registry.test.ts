/**
 * The registry on real libp2p hosts over loopback, with a topic of its own as another layer
 * would register one: verdicts decide forwarding and peer scores, handlers see accepted
 * messages only, metrics count per topic and reason.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ssz } from "@lodestar/types";
import { afterEach, describe, expect, it } from "vitest";
import { gossipMetrics } from "../../metrics/gossip.ts";
import { createMetrics } from "../../metrics/index.ts";
import { silentLogger } from "../../utils/logger.ts";
import { P2PHost } from "../host.ts";
import { GossipError } from "./errors.ts";
import {
  ACCEPT,
  GossipRegistry,
  type GossipRegistryEvents,
  type GossipRouter,
  gossipRouter,
  ignore,
  reject,
} from "./registry.ts";
import { gossipsubOptions } from "./scoring.ts";

type Checkpoint = { epoch: number; root: Uint8Array };
const timing = { slotMs: 2000, slotsPerEpoch: 8 };
const dirs: string[] = [];
const hosts: P2PHost[] = [];
afterEach(async () => {
  await Promise.all(hosts.splice(0).map((h) => h.stop()));
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

interface Node {
  host: P2PHost;
  router: GossipRouter;
  registry: GossipRegistry;
  handled: Checkpoint[];
  metrics: ReturnType<typeof createMetrics>;
}

async function node(bootnodes: string[] = []): Promise<Node> {
  const dir = mkdtempSync(join(tmpdir(), "opengpu-gossip-"));
  dirs.push(dir);
  const host = await P2PHost.start(
    { datadir: dir, host: "127.0.0.1", port: 0, bootnodes, maxPeers: 10 },
    { logger: silentLogger(), gossip: gossipsubOptions(timing) },
  );
  hosts.push(host);
  const router = gossipRouter(host.libp2p.services.pubsub);
  const metrics = createMetrics();
  const registry = new GossipRegistry({
    router,
    forkDigest: "01020304",
    timing,
    currentSlot: () => 100,
    logger: silentLogger(),
    metrics: gossipMetrics(metrics),
  });
  const handled: Checkpoint[] = [];
  // Epoch 0 is IGNOREd, odd epochs are REJECTed, the rest ACCEPTed and handled.
  registry.register<Checkpoint>("checkpoints", {
    type: ssz.phase0.Checkpoint,
    namespace: "opengpu",
    validate: (cp) =>
      cp.epoch === 0 ? ignore("zero") : cp.epoch % 2 === 1 ? reject("odd", `epoch ${cp.epoch}`) : ACCEPT,
    handle: (cp) => {
      handled.push(cp);
    },
  });
  registry.start();
  return { host, router, registry, handled, metrics };
}

/** Resolves on the first `event` for which `match` holds. */
function next<K extends keyof GossipRegistryEvents>(
  registry: GossipRegistry,
  event: K,
  match: (...args: Parameters<GossipRegistryEvents[K]>) => boolean,
): Promise<Parameters<GossipRegistryEvents[K]>[0]> {
  return new Promise((resolve) => {
    const off = registry.on(event, ((...args: Parameters<GossipRegistryEvents[K]>) => {
      if (!match(...args)) return;
      off();
      resolve(args[0]);
    }) as GossipRegistryEvents[K]);
  });
}

/** Resolves once `router` has `peer` in its mesh for `topic` (grafts happen at heartbeats). */
function inMesh(router: GossipRouter, topic: string, peer: string): Promise<void> {
  return new Promise((resolve) => {
    const check = () => {
      if (!router.getMeshPeers(topic).includes(peer)) return;
      router.removeEventListener("gossipsub:heartbeat", check);
      resolve();
    };
    router.addEventListener("gossipsub:heartbeat", check);
    check();
  });
}

/** Two heartbeats: gossipsub caches a peer's score for one heartbeat interval. */
function heartbeats(router: GossipRouter, n = 2): Promise<void> {
  return new Promise((resolve) => {
    let left = n;
    const on = () => {
      if (--left > 0) return;
      router.removeEventListener("gossipsub:heartbeat", on);
      resolve();
    };
    router.addEventListener("gossipsub:heartbeat", on);
  });
}

const cp = (epoch: number): Checkpoint => ({ epoch, root: new Uint8Array(32).fill(epoch % 256) });

async function metricValue(n: Node, name: string, labels: Record<string, string>): Promise<number> {
  const metric = (await n.metrics.registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (metric as { values?: { labels: Record<string, string>; value: number }[] } | undefined)
    ?.values;
  return values?.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val))?.value ?? 0;
}

describe("gossip registry", () => {
  it("forwards accepted messages, drops and penalizes rejected ones, counts both", async () => {
    // a ─ b ─ c: c hears a only through b's forwarding.
    const a = await node();
    const b = await node([a.host.multiaddrs[0]]);
    const c = await node([b.host.multiaddrs[0]]);
    const topic = a.registry.topicOf("checkpoints");
    expect(topic).toBe("/opengpu/01020304/checkpoints/ssz_snappy");
    await inMesh(b.router, topic, a.host.peerId);
    await inMesh(b.router, topic, c.host.peerId);
    await inMesh(a.router, topic, b.host.peerId);
    const before = b.router.getScore(a.host.peerId);

    const rejected = next(b.registry, "validated", (e) => e.verdict === "REJECT");
    const ignored = next(b.registry, "validated", (e) => e.verdict === "IGNORE");
    const atC = next(c.registry, "validated", (e) => e.verdict === "ACCEPT");
    expect(await a.registry.publish("checkpoints", cp(3))).toBeGreaterThan(0);
    expect(await a.registry.publish("checkpoints", cp(0))).toBeGreaterThan(0);
    expect(await a.registry.publish("checkpoints", cp(4))).toBeGreaterThan(0);
    expect(await rejected).toMatchObject({ topic: "checkpoints", peer: a.host.peerId, reason: "odd" });
    expect(await ignored).toMatchObject({ reason: "zero" });
    // c got the accepted message from b; the rejected and the ignored one were not forwarded.
    expect(await atC).toMatchObject({ peer: b.host.peerId, message: { epoch: 4 } });
    expect(c.handled.map((x) => x.epoch)).toEqual([4]);
    expect(b.handled.map((x) => x.epoch)).toEqual([4]);
    expect(await metricValue(b, "opengpu_gossip_messages_received_total", { topic: "checkpoints" })).toBe(3);
    expect(await metricValue(b, "opengpu_gossip_messages_accepted_total", { topic: "checkpoints" })).toBe(1);
    expect(
      await metricValue(b, "opengpu_gossip_messages_rejected_total", { topic: "checkpoints", reason: "odd" }),
    ).toBe(1);
    expect(
      await metricValue(b, "opengpu_gossip_messages_ignored_total", { topic: "checkpoints", reason: "zero" }),
    ).toBe(1);
    expect(await metricValue(a, "opengpu_gossip_messages_published_total", { topic: "checkpoints" })).toBe(3);
    // The REJECT cost a the most it could ever earn; the IGNORE cost nothing (c is unaffected too).
    await heartbeats(b.router);
    expect(b.router.getScore(a.host.peerId)).toBeLessThan(before - 100);
    expect(b.router.getScore(a.host.peerId)).toBeLessThan(0);
    expect(b.router.getScore(c.host.peerId)).toBeGreaterThanOrEqual(0);
    // Publishing what the network already has is a no-op.
    expect(await c.registry.publish("checkpoints", cp(4))).toBe(0);
  });

  it("rejects undecodable messages and refuses unknown or duplicate topics", async () => {
    const a = await node();
    const b = await node([a.host.multiaddrs[0]]);
    const topic = a.registry.topicOf("checkpoints");
    await inMesh(b.router, topic, a.host.peerId);
    await inMesh(a.router, topic, b.host.peerId);
    const rejected = next(b.registry, "validated", () => true);
    // Raw bytes straight through gossipsub: 5 bytes cannot be a 40-byte Checkpoint.
    await a.router.publish(topic, Uint8Array.of(1, 2, 3, 4, 5));
    expect(await rejected).toMatchObject({ verdict: "REJECT", reason: "invalid_size" });
    await expect(a.registry.publish("nope", cp(2))).rejects.toThrow(GossipError);
    expect(() =>
      a.registry.register("checkpoints", { type: ssz.phase0.Checkpoint, validate: () => ACCEPT }),
    ).toThrow(/already registered/);
    expect(() => a.registry.register("a/b", { type: ssz.phase0.Checkpoint, validate: () => ACCEPT })).toThrow(
      GossipError,
    );
  });

  it("refuses a host whose gossipsub lacks the gossip options", async () => {
    const dir = mkdtempSync(join(tmpdir(), "opengpu-gossip-"));
    dirs.push(dir);
    const host = await P2PHost.start(
      { datadir: dir, host: "127.0.0.1", port: 0, bootnodes: [], maxPeers: 10 },
      { logger: silentLogger() },
    );
    hosts.push(host);
    expect(() => gossipRouter(host.libp2p.services.pubsub)).toThrow(/gossip layer's options/);
  });
});
