/**
 * A block's BLS signatures verified as one batch (`verifyMultipleAggregateSignatures`: random
 * linear combination, one final exponentiation for all sets) instead of one pairing check per
 * signature inside the state transition. Only when the batch fails are the sets checked one by
 * one, to say which signature is bad.
 *
 * The sets come from Lodestar's `getBlockSignatureSets` on the block's post-state: it holds the
 * shufflings, sync committee and pubkeys of the block's slot, which is all the sets depend on
 * (processing the block's own operations changes none of them).
 */
import {
  type PublicKey,
  Signature,
  type SignatureSet,
  verifyMultipleAggregateSignatures,
} from "@chainsafe/blst";
import type { BeaconConfig } from "@lodestar/config";
import { ForkSeq } from "@lodestar/params";
import {
  BeaconStateView,
  type CachedBeaconStateElectra,
  getBlockSignatureSets,
  getSignatureSetPubkey,
  type ISignatureSet,
  verifySignatureSet,
} from "@lodestar/state-transition";
import type { electra } from "@lodestar/types";

/** A block's signature sets, each with what it signs (for error messages). */
export function blockSignatureSets(
  config: BeaconConfig,
  postState: CachedBeaconStateElectra,
  signed: electra.SignedBeaconBlock,
): { sets: ISignatureSet[]; labels: string[] } {
  const body = signed.message.body;
  const indexed = body.attestations.map((a) => postState.epochCtx.getIndexedAttestation(ForkSeq.electra, a));
  const sets = getBlockSignatureSets(
    config,
    postState.epochCtx.currentSyncCommitteeIndexed,
    new BeaconStateView(postState),
    signed,
    indexed,
  );
  // getBlockSignatureSets' order: randao, proposer slashings (2 each), attester slashings (2 each),
  // attestations, voluntary exits, the proposer, the sync aggregate (when it has participants),
  // BLS-to-execution changes.
  const labels = ["RANDAO reveal"];
  for (let i = 0; i < body.proposerSlashings.length; i++)
    labels.push(`proposer slashing ${i} header 1`, `proposer slashing ${i} header 2`);
  for (let i = 0; i < body.attesterSlashings.length; i++)
    labels.push(`attester slashing ${i} attestation 1`, `attester slashing ${i} attestation 2`);
  for (let i = 0; i < body.attestations.length; i++) labels.push(`attestation ${i}`);
  for (const e of body.voluntaryExits) labels.push(`voluntary exit of validator ${e.message.validatorIndex}`);
  labels.push("proposer signature");
  if (body.syncAggregate.syncCommitteeBits.getTrueBitIndexes().length > 0) labels.push("sync aggregate");
  for (const c of body.blsToExecutionChanges)
    labels.push(`BLS-to-execution change of validator ${c.message.validatorIndex}`);
  return { sets, labels };
}

/**
 * Verifies the sets as one batch. Returns undefined when all are valid, else the label of the
 * first invalid set.
 */
export function verifySignatureSets(
  state: CachedBeaconStateElectra,
  sets: readonly ISignatureSet[],
  labels: readonly string[],
): string | undefined {
  const pubkeyCache = state.epochCtx.pubkeyCache;
  const batch: SignatureSet[] = [];
  for (let i = 0; i < sets.length; i++) {
    let sig: Signature;
    let pk: PublicKey;
    try {
      // Signatures come from the network: subgroup-checked while decoding.
      sig = Signature.fromBytes(sets[i].signature, true);
      pk = getSignatureSetPubkey(sets[i], pubkeyCache);
    } catch {
      return labels[i] ?? `signature set ${i}`;
    }
    batch.push({ msg: sets[i].signingRoot, pk, sig });
  }
  if (batch.length === 0 || verifyMultipleAggregateSignatures(batch)) return undefined;
  for (let i = 0; i < sets.length; i++) {
    if (!verifySignatureSet(sets[i], pubkeyCache)) return labels[i] ?? `signature set ${i}`;
  }
  // The batch failed but every set verifies alone: cannot happen for honest inputs; refuse.
  return "batch verification";
}
