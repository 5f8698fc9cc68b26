/**
 * Gossip topic strings: `/<namespace>/<fork digest>/<name>/ssz_snappy`.
 *
 * Consensus topics use Ethereum's `eth2` namespace with the consensus spec's names; the fork
 * digest (`compute_fork_digest(genesis_validators_root, epoch)`, 4 bytes, lowercase hex without
 * 0x) comes from Lodestar's BeaconConfig, so OpenGPU's own fork versions and genesis validators
 * root keep every network's topics apart from Ethereum's and from each other. OpenGPU's own
 * topics (transactions, the compute layer) live in the `opengpu` namespace under the same digest.
 */
import type { BeaconConfig } from "@lodestar/config";
import { ATTESTATION_SUBNET_COUNT, SYNC_COMMITTEE_SUBNET_COUNT } from "@lodestar/params";

export const GOSSIP_ENCODING = "ssz_snappy";
/** Ethereum's consensus topics. */
export const ETH2_NAMESPACE = "eth2";
/** OpenGPU's own topics (execution transactions, compute layer). */
export const OPENGPU_NAMESPACE = "opengpu";

/** The consensus spec's global topic names. */
export const ConsensusTopic = {
  beaconBlock: "beacon_block",
  aggregateAndProof: "beacon_aggregate_and_proof",
  voluntaryExit: "voluntary_exit",
  proposerSlashing: "proposer_slashing",
  attesterSlashing: "attester_slashing",
  blsToExecutionChange: "bls_to_execution_change",
} as const;

/** `beacon_attestation_{subnet_id}`, 0 <= subnet < ATTESTATION_SUBNET_COUNT. */
export function attestationSubnetTopic(subnet: number): string {
  return `beacon_attestation_${subnet}`;
}

/** `sync_committee_{subnet_id}`, 0 <= subnet < SYNC_COMMITTEE_SUBNET_COUNT. */
export function syncCommitteeSubnetTopic(subnet: number): string {
  return `sync_committee_${subnet}`;
}

export const ATTESTATION_SUBNETS = ATTESTATION_SUBNET_COUNT;
export const SYNC_COMMITTEE_SUBNETS = SYNC_COMMITTEE_SUBNET_COUNT;

/** The network's fork digest at `epoch` as topic strings carry it (8 lowercase hex digits). */
export function forkDigestHex(config: BeaconConfig, epoch: number): string {
  const digest = config.forkBoundary2ForkDigestHex(config.getForkBoundaryAtEpoch(epoch));
  return digest.replace(/^0x/, "").toLowerCase();
}

export function topicString(namespace: string, forkDigest: string, name: string): string {
  return `/${namespace}/${forkDigest}/${name}/${GOSSIP_ENCODING}`;
}

export interface ParsedTopic {
  namespace: string;
  forkDigest: string;
  name: string;
  encoding: string;
}

/** Splits a topic string; undefined when it does not have the four parts. */
export function parseTopic(topic: string): ParsedTopic | undefined {
  const parts = topic.split("/");
  if (parts.length !== 5 || parts[0] !== "") return undefined;
  const [, namespace, forkDigest, name, encoding] = parts;
  if (namespace === "" || forkDigest === "" || name === "" || encoding === "") return undefined;
  return { namespace, forkDigest, name, encoding };
}
