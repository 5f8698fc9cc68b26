/**
 * The compute layer of a node (SPEC.md section 4): what the node knows and does about GPU tasks.
 * It reaches the chain only through the system contracts (`precompiles/`: read here through
 * `ComputeChainView`, written by transactions into the node's own pool) and the block-validation
 * rule for settlements (node/execution/executor); it moves models, inputs and outputs through
 * the content-addressed `BlobService` (the p2p blob protocol between nodes), and committee
 * attestations through `ComputeAttestations` (a gossip topic between nodes). Provider agents
 * (`agent/`) run the provider's side: bidding, ONNX execution, verification, settlement.
 */
import { join } from "node:path";
import type { Blockchain } from "../execution/chain/blockchain.ts";
import type { TxPool } from "../execution/txpool/pool.ts";
import type { Metrics } from "../metrics/index.ts";
import type { Network } from "../p2p/index.ts";
import type { Logger } from "../utils/logger.ts";
import { type ComputeAgentMetrics, computeAgentMetrics } from "./agent/metrics.ts";
import { ProviderAgent, type ProviderAgentOptions } from "./agent/provider-agent.ts";
import { BlobService } from "./blobs.ts";
import { ComputeChainView } from "./chain-view.ts";
import { ComputeAttestations } from "./committee/service.ts";
import { computeRuntimeMetrics, ModelStore, OnnxRunner } from "./runtime/index.ts";
import type { ValidatorProofSource } from "./validator-proof.ts";

export type { ProviderAgentOptions, ProviderBehaviour } from "./agent/provider-agent.ts";
export { BlobService } from "./blobs.ts";
export { ComputeChainView, ComputeError, ComputeErrorCode } from "./chain-view.ts";

export interface ComputeLayerOptions {
  datadir: string;
  /** Use the CUDA execution provider when it is available (CPU otherwise, said once in the log). */
  gpu?: boolean;
  /** Seconds per slot (block time) of the chain. */
  slotSeconds?: number;
}

export interface ComputeLayerModules {
  chain: Blockchain;
  pool: TxPool;
  logger: Logger;
  metrics?: Metrics;
}

export class ComputeLayer {
  readonly view: ComputeChainView;
  readonly blobs: BlobService;
  readonly attestations: ComputeAttestations;
  readonly runner: OnnxRunner;
  readonly models: ModelStore;
  readonly agents: ProviderAgent[] = [];
  private readonly opts: ComputeLayerOptions;
  private readonly modules: ComputeLayerModules;
  private readonly logger: Logger;
  private validatorProofs: ValidatorProofSource | undefined;
  private readonly agentMetrics: ComputeAgentMetrics | undefined;

  constructor(opts: ComputeLayerOptions, modules: ComputeLayerModules) {
    this.opts = opts;
    this.modules = modules;
    this.logger = modules.logger.child({ module: "compute" });
    this.view = new ComputeChainView(modules.chain);
    this.blobs = new BlobService({ datadir: opts.datadir, logger: this.logger });
    this.attestations = new ComputeAttestations({
      view: this.view,
      chainId: modules.chain.config.chainId,
      logger: this.logger,
    });
    this.runner = new OnnxRunner({
      gpu: opts.gpu ?? false,
      logger: this.logger,
      metrics: modules.metrics === undefined ? undefined : computeRuntimeMetrics(modules.metrics),
    });
    this.models = new ModelStore({ blobs: this.blobs.store, source: this.blobs, logger: this.logger });
    this.agentMetrics = modules.metrics === undefined ? undefined : computeAgentMetrics(modules.metrics);
  }

  /** Agents prove their validator keys from here (the node's consensus layer). */
  setValidatorProofs(source: ValidatorProofSource): void {
    this.validatorProofs = source;
  }

  /** Connects the layer to the node's network (blob fetches, attestation gossip). */
  attachNetwork(network: Network): void {
    this.blobs.attachNetwork(network);
    this.attestations.attachNetwork(network);
  }

  /** Starts a provider agent on this node. */
  async startProvider(opts: ProviderAgentOptions): Promise<ProviderAgent> {
    const agent = new ProviderAgent(
      {
        stateDir: join(this.opts.datadir, "compute"),
        ...opts,
        profile: { executionProvider: this.opts.gpu === true ? "cuda" : "cpu", ...opts.profile },
      },
      {
        chain: this.modules.chain,
        pool: this.modules.pool,
        view: this.view,
        blobs: this.blobs,
        runner: this.runner,
        models: this.models,
        attestations: this.attestations,
        slotSeconds: this.opts.slotSeconds ?? 2,
        validatorProofs: this.validatorProofs,
        logger: this.modules.logger,
        metrics: this.agentMetrics,
      },
    );
    await agent.start();
    this.agents.push(agent);
    return agent;
  }

  /** Resolves when every agent has finished its current work. */
  async idle(): Promise<void> {
    await Promise.all(this.agents.map((a) => a.idle()));
  }

  async stop(): Promise<void> {
    for (const agent of this.agents) await agent.stop();
    await this.runner.close();
    await this.blobs.close();
  }
}
