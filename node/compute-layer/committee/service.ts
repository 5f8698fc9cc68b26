/**
 * The node's committee attestations: every attestation this node's agents sign or its peers
 * gossip is checked against the chain (committee membership, output, BLS signature) and pooled;
 * agents aggregate from the pool when they settle. With a network, attestations travel on the
 * `compute_attestation` gossip topic (namespace `opengpu`), whose validator is the same check,
 * so a peer that gossips forged or foreign attestations is REJECTed and scored down.
 */

import type { Hex } from "viem";
import type { Task } from "../../../precompiles/task-market/index.ts";
import { ACCEPT, type GossipRegistry, ignore, reject } from "../../p2p/gossip/registry.ts";
import type { Network } from "../../p2p/index.ts";
import type { Logger } from "../../utils/logger.ts";
import type { ComputeChainView } from "../chain-view.ts";
import {
  AttestationPool,
  type ComputeAttestation,
  ComputeAttestationType,
  checkAttestation,
  type Vote,
} from "./attestations.ts";

export const ATTESTATION_TOPIC = "compute_attestation";

export interface ComputeAttestationsModules {
  view: ComputeChainView;
  chainId: bigint;
  logger: Logger;
}

export class ComputeAttestations {
  private readonly pool = new AttestationPool();
  private readonly view: ComputeChainView;
  private readonly chainId: bigint;
  private readonly logger: Logger;
  private registry: GossipRegistry | undefined;

  constructor(modules: ComputeAttestationsModules) {
    this.view = modules.view;
    this.chainId = modules.chainId;
    this.logger = modules.logger;
  }

  /** Registers the gossip topic on the node's network. */
  attachNetwork(network: Network): void {
    const registry = network.gossip.registry;
    this.registry = registry;
    registry.register<ComputeAttestation>(ATTESTATION_TOPIC, {
      type: {
        minSize: ComputeAttestationType.minSize,
        maxSize: ComputeAttestationType.maxSize,
        serialize: (v) => ComputeAttestationType.serialize(v),
        deserialize: (b) => ComputeAttestationType.deserialize(b),
      },
      namespace: "opengpu",
      validate: async (a) => {
        if (this.pool.has(a.taskId, a.round, `0x${Buffer.from(a.member).toString("hex")}`))
          return ignore("duplicate");
        const check = await checkAttestation(this.view, this.chainId, a);
        if (check.ok) return ACCEPT;
        return check.verdict === "REJECT"
          ? reject(check.reason, check.detail)
          : ignore(check.reason, check.detail);
      },
      handle: (a) => {
        this.pool.add(a);
      },
    });
  }

  /** Checks and pools one of our own attestations, and gossips it. */
  async publish(a: ComputeAttestation): Promise<void> {
    const check = await checkAttestation(this.view, this.chainId, a);
    if (!check.ok) throw new Error(`own attestation refused: ${check.reason} (${check.detail})`);
    this.pool.add(a);
    await this.registry?.publish(ATTESTATION_TOPIC, a).catch((err: unknown) => {
      this.logger.warn({ err, task: a.taskId.toString() }, "Could not gossip an attestation");
    });
  }

  has(taskId: bigint, round: number, member: Hex): boolean {
    return this.pool.has(taskId, round, member);
  }

  count(taskId: bigint, round: number): number {
    return this.pool.count(taskId, round);
  }

  votes(task: Task): Vote[] {
    return this.pool.votes(task);
  }

  prune(taskId: bigint): void {
    this.pool.prune(taskId);
  }
}
