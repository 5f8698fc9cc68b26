import { StrictNoSign } from "@libp2p/gossipsub";
import { describe, expect, it } from "vitest";
import {
  consensusTopicScores,
  GOSSIP_SCORE_THRESHOLDS,
  gossipsubOptions,
  MAX_POSITIVE_SCORE,
  peerScoreParams,
  topicScoreParams,
} from "./scoring.ts";

describe("gossipsub parameters", () => {
  it("uses the consensus spec's mesh parameters, StrictNoSign and asynchronous validation", () => {
    const opts = gossipsubOptions({ slotMs: 2000, slotsPerEpoch: 8 });
    expect(opts).toMatchObject({
      D: 8,
      Dlo: 6,
      Dhi: 12,
      Dlazy: 6,
      heartbeatInterval: 700,
      fanoutTTL: 60_000,
      mcacheLength: 6,
      mcacheGossip: 3,
      seenTTL: 550 * 700,
      globalSignaturePolicy: StrictNoSign,
      asyncValidation: true,
      scoreThresholds: GOSSIP_SCORE_THRESHOLDS,
    });
  });

  it("gives every consensus topic valid score parameters, from 4 to a million validators", () => {
    for (const [validators, slotsPerEpoch, slotMs] of [
      [4, 8, 2000],
      [64, 8, 6000],
      [1_000_000, 32, 12_000],
    ]) {
      const timing = { slotMs, slotsPerEpoch };
      for (const currentSlot of [0, 100_000]) {
        for (const [name, input] of Object.entries(consensusTopicScores(validators, slotsPerEpoch))) {
          const p = topicScoreParams(input, timing, currentSlot);
          // One invalid message costs everything a peer can earn, whatever the topic's weight.
          expect(p.topicWeight * p.invalidMessageDeliveriesWeight, name).toBeCloseTo(-MAX_POSITIVE_SCORE);
          expect(p.firstMessageDeliveriesCap * p.firstMessageDeliveriesWeight, name).toBeCloseTo(40);
        }
      }
      expect(() => peerScoreParams(timing)).not.toThrow();
    }
  });

  it("penalizes mesh delivery deficits only on busy topics of a chain past its first epochs", () => {
    const timing = { slotMs: 2000, slotsPerEpoch: 8 };
    const small = consensusTopicScores(4, 8);
    const large = consensusTopicScores(1_000_000, 8);
    expect(topicScoreParams(small.beaconBlock, timing, 0).meshMessageDeliveriesWeight).toBe(0);
    expect(topicScoreParams(small.beaconBlock, timing, 10_000).meshMessageDeliveriesWeight).toBeLessThan(0);
    // Four validators leave most attestation subnets silent: no deficit penalty there.
    expect(topicScoreParams(small.attestationSubnet, timing, 10_000).meshMessageDeliveriesWeight).toBe(0);
    expect(
      topicScoreParams(large.attestationSubnet, timing, 10_000).meshMessageDeliveriesWeight,
    ).toBeLessThan(0);
  });
});
