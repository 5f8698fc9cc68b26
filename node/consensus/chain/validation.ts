/**
 * Validation of messages that arrive from outside a block (gossip, the Beacon API), with the
 * verdict that drives peer scoring: ACCEPT (valid, forward it), IGNORE (not useful now: old,
 * duplicate, unknown block), REJECT (invalid: penalize the sender). Follows the p2p spec's
 * `beacon_attestation_{subnet_id}` rules for Electra single attestations.
 */
import { Signature, verify } from "@chainsafe/blst";
import { DOMAIN_BEACON_ATTESTER } from "@lodestar/params";
import { computeEpochAtSlot, computeSigningRoot } from "@lodestar/state-transition";
import { type electra, ssz } from "@lodestar/types";
import { LRUCache } from "lru-cache";
import type { BeaconChain } from "./chain.ts";
import { toHex } from "./state-utils.ts";

export type GossipVerdict = "ACCEPT" | "IGNORE" | "REJECT";

export interface Verdict<T> {
  verdict: GossipVerdict;
  reason?: string;
  value?: T;
}

export interface ValidatedAttestation {
  attestation: electra.SingleAttestation;
  committeeLength: number;
  positionInCommittee: number;
  indexed: electra.IndexedAttestation;
}

/** Spec ATTESTATION_PROPAGATION_SLOT_RANGE. */
const PROPAGATION_SLOT_RANGE = 32;

export class AttestationValidator {
  private readonly chain: BeaconChain;
  /** (validator, target epoch) already seen. */
  private readonly seen = new LRUCache<string, true>({ max: 65_536 });

  constructor(chain: BeaconChain) {
    this.chain = chain;
  }

  async validate(att: electra.SingleAttestation): Promise<Verdict<ValidatedAttestation>> {
    const { data } = att;
    const current = this.chain.clock.currentSlot;
    if (data.slot > current || data.slot + PROPAGATION_SLOT_RANGE < current) {
      return {
        verdict: "IGNORE",
        reason: `slot ${data.slot} outside the propagation range at slot ${current}`,
      };
    }
    if (data.index !== 0) return { verdict: "REJECT", reason: "Electra attestation data must have index 0" };
    if (data.target.epoch !== computeEpochAtSlot(data.slot))
      return { verdict: "REJECT", reason: "target epoch does not match the slot" };
    const blockRoot = toHex(data.beaconBlockRoot);
    if (!this.chain.forkChoice.hasBlock(blockRoot))
      return { verdict: "IGNORE", reason: `unknown block ${blockRoot}` };
    const seenKey = `${att.attesterIndex}:${data.target.epoch}`;
    if (this.seen.has(seenKey))
      return { verdict: "IGNORE", reason: "already seen a vote of this validator for this target" };

    const state = await this.chain.stateAtSlot(Math.max(data.slot, this.chain.head.slot));
    const epochCtx = state.epochCtx;
    if (att.committeeIndex >= epochCtx.getCommitteeCountPerSlot(data.target.epoch)) {
      return { verdict: "REJECT", reason: `committee index ${att.committeeIndex} out of range` };
    }
    const committee = epochCtx.getBeaconCommittee(data.slot, att.committeeIndex);
    const position = committee.indexOf(att.attesterIndex);
    if (position < 0)
      return {
        verdict: "REJECT",
        reason: `validator ${att.attesterIndex} is not in committee ${att.committeeIndex} of slot ${data.slot}`,
      };
    const pubkey = epochCtx.pubkeyCache.getOrThrow(att.attesterIndex);
    const signingRoot = computeSigningRoot(
      ssz.phase0.AttestationData,
      data,
      this.chain.config.getDomain(data.slot, DOMAIN_BEACON_ATTESTER),
    );
    let valid = false;
    try {
      valid = verify(signingRoot, pubkey, Signature.fromBytes(att.signature, true));
    } catch {
      valid = false;
    }
    if (!valid) return { verdict: "REJECT", reason: "invalid signature" };
    this.seen.set(seenKey, true);
    return {
      verdict: "ACCEPT",
      value: {
        attestation: att,
        committeeLength: committee.length,
        positionInCommittee: position,
        indexed: { attestingIndices: [att.attesterIndex], data, signature: att.signature },
      },
    };
  }
}
