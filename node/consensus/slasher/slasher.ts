/**
 * Detects slashable behaviour of any validator in what the node sees (imported blocks, gossip
 * attestations) and turns it into proposer / attester slashings for the op pool:
 * - a proposer signing two different blocks for the same slot (double proposal);
 * - a validator signing two different attestations for the same target epoch (double vote), or
 *   one whose source/target span surrounds the other's (surround vote).
 *
 * History is kept per validator for a bounded window of epochs (`windowEpochs`): evidence older
 * than that can no longer be included anyway once validators have exited.
 */
import { bytesToHex } from "@ethereumjs/util";
import { type electra, type phase0, ssz } from "@lodestar/types";

export interface SlasherOptions {
  /** Epochs of attestation history kept per validator. */
  windowEpochs: number;
  slotsPerEpoch: number;
}

export interface SlashingSink {
  proposerSlashing(slashing: phase0.ProposerSlashing): void;
  attesterSlashing(slashing: electra.AttesterSlashing): void;
}

interface Vote {
  source: number;
  target: number;
  dataRoot: string;
  attestation: electra.IndexedAttestation;
}

export class Slasher {
  private readonly opts: SlasherOptions;
  private readonly sink: SlashingSink;
  /** proposerIndex:slot -> first signed header seen. */
  private readonly proposals = new Map<string, phase0.SignedBeaconBlockHeader>();
  /** validator -> votes by target epoch. */
  private readonly votes = new Map<number, Map<number, Vote>>();
  /** Evidence already reported (by pair root), so each offence yields one slashing. */
  private readonly reported = new Set<string>();
  detected = { proposer: 0, attester: 0 };

  constructor(opts: SlasherOptions, sink: SlashingSink) {
    this.opts = opts;
    this.sink = sink;
  }

  onBlockHeader(header: phase0.SignedBeaconBlockHeader): void {
    const key = `${header.message.proposerIndex}:${header.message.slot}`;
    const first = this.proposals.get(key);
    if (first === undefined) {
      this.proposals.set(key, header);
      return;
    }
    const a = bytesToHex(ssz.phase0.BeaconBlockHeader.hashTreeRoot(first.message));
    const b = bytesToHex(ssz.phase0.BeaconBlockHeader.hashTreeRoot(header.message));
    if (a === b || this.reported.has(`p:${key}`)) return;
    this.reported.add(`p:${key}`);
    this.detected.proposer++;
    this.sink.proposerSlashing({ signedHeader1: bigintHeader(first), signedHeader2: bigintHeader(header) });
  }

  onIndexedAttestation(attestation: electra.IndexedAttestation): void {
    const data = attestation.data;
    const dataRoot = bytesToHex(ssz.phase0.AttestationData.hashTreeRoot(data));
    const vote: Vote = { source: data.source.epoch, target: data.target.epoch, dataRoot, attestation };
    for (const validator of attestation.attestingIndices) {
      let history = this.votes.get(validator);
      if (history === undefined) {
        history = new Map();
        this.votes.set(validator, history);
      }
      const conflict = this.findConflict(history, vote);
      if (conflict !== undefined) this.report(conflict, vote);
      if (!history.has(vote.target)) history.set(vote.target, vote);
    }
  }

  private findConflict(history: Map<number, Vote>, vote: Vote): Vote | undefined {
    const same = history.get(vote.target);
    if (same !== undefined && same.dataRoot !== vote.dataRoot) return same; // double vote
    for (const other of history.values()) {
      const surrounds = other.source < vote.source && vote.target < other.target;
      const surrounded = vote.source < other.source && other.target < vote.target;
      if (surrounds || surrounded) return other;
    }
    return undefined;
  }

  private report(a: Vote, b: Vote): void {
    const key = [a.dataRoot, b.dataRoot].sort().join(":");
    if (this.reported.has(key)) return;
    this.reported.add(key);
    this.detected.attester++;
    this.sink.attesterSlashing({
      attestation1: bigintAttestation(a.attestation),
      attestation2: bigintAttestation(b.attestation),
    });
  }

  /** Forgets history older than the window before `epoch`. */
  prune(epoch: number): void {
    const min = epoch - this.opts.windowEpochs;
    for (const [validator, history] of this.votes) {
      for (const target of history.keys()) if (target < min) history.delete(target);
      if (history.size === 0) this.votes.delete(validator);
    }
    for (const [key, header] of this.proposals) {
      if (Math.floor(header.message.slot / this.opts.slotsPerEpoch) < min) this.proposals.delete(key);
    }
  }
}

/** Slashings carry slots and epochs as 64-bit (bigint) fields. */
function bigintHeader(h: phase0.SignedBeaconBlockHeader): phase0.SignedBeaconBlockHeaderBigint {
  return { message: { ...h.message, slot: BigInt(h.message.slot) }, signature: h.signature };
}

function bigintAttestation(a: electra.IndexedAttestation): electra.IndexedAttestationBigint {
  const d = a.data;
  return {
    attestingIndices: [...a.attestingIndices].sort((x, y) => x - y),
    data: {
      slot: BigInt(d.slot),
      index: BigInt(d.index),
      beaconBlockRoot: d.beaconBlockRoot,
      source: { epoch: BigInt(d.source.epoch), root: d.source.root },
      target: { epoch: BigInt(d.target.epoch), root: d.target.root },
    },
    signature: a.signature,
  };
}
