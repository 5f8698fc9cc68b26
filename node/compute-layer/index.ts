/**
 * The compute layer of a node (SPEC.md section 4): what the node knows and does about GPU tasks.
 * It reaches the chain only through the system contracts (`precompiles/`: read here through
 * `ComputeChainView`, written by transactions) and the block-validation rule for settlements
 * (node/execution/executor); it moves models, inputs and outputs through the content-addressed
 * `BlobService` (the p2p blob protocol between nodes).
 */
import type { Blockchain } from "../execution/chain/blockchain.ts";
import type { Network } from "../p2p/index.ts";
import type { Logger } from "../utils/logger.ts";
import { BlobService } from "./blobs.ts";
import { ComputeChainView } from "./chain-view.ts";

export { BlobService } from "./blobs.ts";
export { ComputeChainView, ComputeError, ComputeErrorCode } from "./chain-view.ts";

export interface ComputeLayerOptions {
  datadir: string;
}

export interface ComputeLayerModules {
  chain: Blockchain;
  logger: Logger;
}

export class ComputeLayer {
  readonly view: ComputeChainView;
  readonly blobs: BlobService;
  private readonly logger: Logger;

  constructor(opts: ComputeLayerOptions, modules: ComputeLayerModules) {
    this.logger = modules.logger.child({ module: "compute" });
    this.view = new ComputeChainView(modules.chain);
    this.blobs = new BlobService({ datadir: opts.datadir, logger: this.logger });
  }

  /** Connects the layer to the node's network (blob fetches from peers). */
  attachNetwork(network: Network): void {
    this.blobs.attachNetwork(network);
  }

  async stop(): Promise<void> {
    this.logger.debug("Compute layer stopped");
  }
}
