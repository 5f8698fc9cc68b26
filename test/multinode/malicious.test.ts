/**
 * A malicious peer on a 3-node devnet (16 interop validators split among the honest nodes): an
 * in-test libp2p host built from our own P2PHost and gossipsub settings joins every honest node
 * and gossips invalid beacon blocks (a bad proposer signature, an out-of-range proposer, bytes
 * that are not SSZ) and invalid attestations (non-zero data index, a target epoch that does not
 * match the slot, the wrong subnet) on the network's fork-digest topics. Every honest node
 * REJECTs them (Prometheus counters by reason), its gossipsub score of the peer falls below the
 * graylist threshold, it bans the peer (it leaves admin_peers and its redials are refused), and
 * the honest nodes go on finalizing on one chain.
 */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createBeaconConfig } from "@lodestar/config";
import { SLOTS_PER_EPOCH } from "@lodestar/params";
import { computeEpochAtSlot } from "@lodestar/state-transition";
import { type electra, ssz } from "@lodestar/types";
import { multiaddr } from "@multiformats/multiaddr";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadGenesisFile } from "../../genesis/index.ts";
import { chainConfigFor, consensusSpecOf } from "../../node/consensus/config.ts";
import { GOSSIP_SCORE_THRESHOLDS, gossipsubOptions } from "../../node/p2p/gossip/scoring.ts";
import {
  attestationSubnetTopic,
  ConsensusTopic,
  ETH2_NAMESPACE,
  forkDigestHex,
  topicString,
} from "../../node/p2p/gossip/topics.ts";
import { P2PHost } from "../../node/p2p/host.ts";
import { silentLogger } from "../../node/utils/logger.ts";
import { type Devnet, type DevnetNode, startDevnet } from "../../scripts/devnet.ts";
import { beacon, until } from "./util.ts";
import { FinalityRecorder, finalityOf, headOf, peersOf } from "./watch.ts";

const SLOT_SECONDS = 2;
const VALIDATORS = 16;

let dir: string;
let devnet: Devnet;
let recorder: FinalityRecorder;
let attacker: P2PHost | undefined;

const logs = () =>
  devnet.nodes.map((n) => `--- node ${n.index}\n${devnet.output(n.index).slice(-1500)}`).join("\n");

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "opengpu-malicious-test-"));
  devnet = await startDevnet({
    nodes: 3,
    validators: VALIDATORS,
    dir,
    slotSeconds: SLOT_SECONDS,
    genesisDelay: 10,
    logLevel: "info",
    extraArgs: () => ["--metrics.port", "0"],
  });
  recorder = new FinalityRecorder(devnet);
  recorder.start();
}, 120_000);

afterAll(async () => {
  recorder?.stop();
  await attacker?.stop();
  await devnet?.stop();
  if (dir === undefined) return;
  if (process.env.OPENGPU_TEST_KEEP === "1") {
    for (const n of devnet?.nodes ?? [])
      writeFileSync(join(dir, `node-${n.index}.log`), devnet.output(n.index));
    process.stdout.write(`malicious test: devnet kept in ${dir}\n`);
  } else rmSync(dir, { recursive: true, force: true });
});

/** The network's consensus topic strings, as any peer derives them from the genesis. */
async function networkTopics(
  n: DevnetNode,
): Promise<{ block: string; attestation: (subnet: number) => string }> {
  const spec = consensusSpecOf(loadGenesisFile(join(devnet.dir, "genesis.json")));
  const genesis = await beacon<{ data: { genesis_validators_root: string } }>(
    n.rest,
    "/eth/v1/beacon/genesis",
  );
  const gvr = Buffer.from(genesis.data.genesis_validators_root.slice(2), "hex");
  const digest = forkDigestHex(createBeaconConfig(chainConfigFor(spec), gvr), 0);
  return {
    block: topicString(ETH2_NAMESPACE, digest, ConsensusTopic.beaconBlock),
    attestation: (subnet) => topicString(ETH2_NAMESPACE, digest, attestationSubnetTopic(subnet)),
  };
}

/** Deterministic filler bytes: the i-th message differs from every other. */
function bytesOf(label: string, i: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let o = 0, k = 0; o < length; k++) {
    const block = createHash("sha256").update(`${label}:${i}:${k}`).digest();
    out.set(block.subarray(0, Math.min(32, length - o)), o);
    o += 32;
  }
  return out;
}

/** Counters `name` of a Prometheus text page, by their `reason` label, for `topic`. */
async function rejectedByReason(n: DevnetNode, topic: string): Promise<Map<string, number>> {
  if (n.metrics === undefined) throw new Error(`node ${n.index} serves no metrics`);
  const text = await (await fetch(n.metrics)).text();
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    const m = /^opengpu_gossip_messages_rejected_total\{([^}]*)\} (\S+)$/.exec(line);
    if (m === null) continue;
    const labels = new Map([...m[1].matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    if (labels.get("topic") === topic) out.set(labels.get("reason") ?? "", Number(m[2]));
  }
  return out;
}

/** The `Peer banned` log records node `i` wrote about `peer`. */
function banRecords(i: number, peer: string): { reason: string; seconds: number }[] {
  return devnet
    .output(i)
    .split("\n")
    .filter((line) => line.includes('"msg":"Peer banned"') && line.includes(peer))
    .map((line) => JSON.parse(line) as { reason: string; seconds: number });
}

describe("a peer gossiping invalid blocks and attestations", () => {
  it("is rejected, scored down and banned by every honest node, which keep finalizing", async () => {
    const honest = devnet.nodes;
    const topics = await networkTopics(honest[0]);
    const keyDir = join(dir, "attacker");
    attacker = await P2PHost.start(
      { datadir: keyDir, host: "127.0.0.1", port: 0, bootnodes: honest.map((n) => n.p2p), maxPeers: 10 },
      {
        logger: silentLogger(),
        gossip: gossipsubOptions({ slotMs: SLOT_SECONDS * 1000, slotsPerEpoch: SLOTS_PER_EPOCH }),
      },
    );
    const evil = attacker.peerId;
    const pubsub = attacker.libp2p.services.pubsub;
    // Connected to every honest node, which announced its subscriptions on the topics we derived.
    await until(
      async () => {
        const subs = new Set(pubsub.getSubscribers(topics.block).map((p) => p.toString()));
        const listed = await Promise.all(honest.map(async (n) => (await peersOf(n)).includes(evil)));
        return honest.every((n) => subs.has(n.peerId)) && listed.every(Boolean);
      },
      30_000,
      logs,
    );
    await until(async () => (await headOf(honest[0])).slot >= 1, 60_000, logs);

    // Attack in rounds until no honest node keeps the connection (each round: 3 blocks, 3 votes).
    let round = 0;
    let delivered = 0;
    const publish = async (topic: string, data: Uint8Array) => {
      delivered += (await pubsub.publish(topic, data)).recipients.length;
    };
    await until(
      async () => {
        const head = await beacon<{
          data: { root: string; header: { message: { slot: string; proposer_index: string } } };
        }>(honest[0].rest, "/eth/v1/beacon/headers/head");
        const slot = Number(head.data.header.message.slot);
        const proposer = Number(head.data.header.message.proposer_index);
        round++;
        const block = (proposerIndex: number): electra.SignedBeaconBlock => {
          const b = ssz.electra.SignedBeaconBlock.defaultValue();
          b.message.slot = slot;
          b.message.proposerIndex = proposerIndex;
          b.message.parentRoot = Buffer.from(head.data.root.slice(2), "hex");
          b.message.body.graffiti = bytesOf("graffiti", round, 32);
          b.signature = bytesOf("signature", round, 96);
          return b;
        };
        // Another validator than the slot's proposer (a new slot/proposer pair), a signature that is none.
        await publish(
          topics.block,
          ssz.electra.SignedBeaconBlock.serialize(block((proposer + 1) % VALIDATORS)),
        );
        // A proposer index past the validator set.
        await publish(topics.block, ssz.electra.SignedBeaconBlock.serialize(block(VALIDATORS + round)));
        // Bytes that do not decode as a SignedBeaconBlock.
        await publish(topics.block, bytesOf("garbage", round, ssz.electra.SignedBeaconBlock.minSize + 500));
        const vote = (index: number, targetEpoch: number): Uint8Array => {
          const a = ssz.electra.SingleAttestation.defaultValue();
          a.committeeIndex = 0;
          a.attesterIndex = round % VALIDATORS;
          a.data.slot = slot;
          a.data.index = index;
          a.data.beaconBlockRoot = Buffer.from(head.data.root.slice(2), "hex");
          a.data.target.epoch = targetEpoch;
          a.data.target.root = bytesOf("target", round, 32);
          a.signature = bytesOf("vote", round * 4 + index, 96);
          return ssz.electra.SingleAttestation.serialize(a);
        };
        const epoch = computeEpochAtSlot(slot);
        // 16 validators, 8 slots an epoch: one committee per slot, on subnet slot % 8.
        const subnet = slot % SLOTS_PER_EPOCH;
        await publish(topics.attestation(subnet), vote(1, epoch));
        await publish(topics.attestation(subnet), vote(0, epoch + 1));
        await publish(topics.attestation(subnet + 32), vote(0, epoch));
        const listed = await Promise.all(honest.map(async (n) => (await peersOf(n)).includes(evil)));
        if (listed.some(Boolean)) {
          await new Promise((r) => setTimeout(r, 500));
          return false;
        }
        return true;
      },
      60_000,
      logs,
    );
    expect(delivered).toBeGreaterThan(0);

    // Every honest node rejected each kind of message, for the spec's reason.
    for (const n of honest) {
      const blocks = await rejectedByReason(n, ConsensusTopic.beaconBlock);
      const votes = await rejectedByReason(n, "beacon_attestation");
      expect(Object.fromEntries(blocks), `node ${n.index} blocks`).toMatchObject({
        invalid_signature: expect.any(Number),
        proposer_index: expect.any(Number),
        invalid_ssz: expect.any(Number),
      });
      expect(Object.fromEntries(votes), `node ${n.index} attestations`).toMatchObject({
        nonzero_data_index: expect.any(Number),
        target_epoch_mismatch: expect.any(Number),
        wrong_subnet: expect.any(Number),
      });
      // ... and banned the sender once its score fell below the graylist threshold.
      const bans = banRecords(n.index, evil);
      expect(bans.length, `node ${n.index} ban records`).toBeGreaterThan(0);
      const score = Number(/^gossip score (-?\d+)$/.exec(bans[0].reason)?.[1]);
      expect(score).toBeLessThan(GOSSIP_SCORE_THRESHOLDS.graylistThreshold);
      expect(bans[0].seconds).toBeGreaterThan(0);
    }

    // Its redials (its host redials its bootnodes every 2 s, plus one explicit dial each) are
    // refused, while the honest nodes stay connected to each other.
    await Promise.all(honest.map((n) => attacker?.libp2p.dial(multiaddr(n.p2p)).catch(() => undefined)));
    const refusedUntil = Date.now() + 6_000;
    while (Date.now() < refusedUntil) {
      for (const n of honest) {
        const peers = await peersOf(n);
        expect(peers, `node ${n.index} took the banned peer back`).not.toContain(evil);
        for (const o of honest) if (o !== n) expect(peers).toContain(o.peerId);
      }
      await new Promise((r) => setTimeout(r, 1_000));
    }
    expect(attacker.peers.filter((p) => honest.some((n) => n.peerId === p))).toEqual([]);

    // Finality goes on: every node finalizes past what was finalized when the attack ended,
    // and past the first finalized epoch (2), on the same roots.
    const atBan = Math.max(...(await Promise.all(honest.map(finalityOf))).map((f) => f.finalized.epoch));
    const target = Math.max(3, atBan + 1);
    await until(
      async () => (await Promise.all(honest.map(finalityOf))).every((f) => f.finalized.epoch >= target),
      (target + 3) * SLOTS_PER_EPOCH * SLOT_SECONDS * 1000,
      logs,
    );
    await recorder.sample();
    expect(recorder.conflicts()).toEqual([]);
  }, 240_000);
});
