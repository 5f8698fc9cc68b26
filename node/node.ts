/**
 * One OpenGPU node process: the execution layer, its JSON-RPC server, metrics, and (for the
 * dev chain) a block producer driving the Engine API. The consensus, p2p and compute layers
 * plug in here as they land.
 */
import { bytesToHex } from "@ethereumjs/util";
import { type FastifyInstance, fastify } from "fastify";
import type { DevAccount } from "../genesis/dev-accounts.ts";
import type { GethGenesis } from "../genesis/types.ts";
import type { BeaconApiServer } from "./api/beacon/index.ts";
import { registerComputeApiMetrics } from "./api/compute/metrics.ts";
import { ComputeQueries } from "./api/compute/queries.ts";
import { computeRestRoutes } from "./api/compute/rest.ts";
import { type AuthRpcOptions, type EngineServer, startEngineApi } from "./api/engine/index.ts";
import { DEFAULT_RPC_OPTIONS, JsonRpc, type RpcContext, type RpcOptions } from "./api/rpc/index.ts";
import { adminMethods } from "./api/rpc/methods/admin.ts";
import { opengpuMethods } from "./api/rpc/methods/opengpu.ts";
import { ComputeLayer } from "./compute-layer/index.ts";
import type { GenesisValidator } from "./consensus/genesis.ts";
import type { ConsensusLayer } from "./consensus/index.ts";
import type { ValidatorKey } from "./consensus/validator/validator.ts";
import { devSigner } from "./dev/signer.ts";
import { DevBlockProducer } from "./execution/dev/producer.ts";
import type { Hex } from "./execution/engine/types.ts";
import { ExecutionLayer } from "./execution/index.ts";
import type { TxPoolOptions } from "./execution/txpool/pool.ts";
import { beaconApiMetrics } from "./metrics/beacon-api.ts";
import { consensusMetricsSink, validatorMetricsSink } from "./metrics/consensus.ts";
import { createMetrics, type Metrics } from "./metrics/index.ts";
import type { P2POptions } from "./p2p/host.ts";
import type { Network } from "./p2p/index.ts";
import { OpenGpuError } from "./utils/errors.ts";
import type { Logger } from "./utils/logger.ts";
import { VERSION } from "./version.ts";

export interface NodeOptions {
  datadir: string;
  genesis?: GethGenesis;
  rpc: {
    host: string;
    httpPort?: number;
    wsPort?: number;
    bodyLimit: number;
    batchLimit: number;
    corsOrigins: string[];
    rateLimit: number;
    /** Serve the debug_ namespace (always on for the dev chain). */
    debug: boolean;
    /** Serve the admin_ namespace (p2p peers). */
    admin?: boolean;
    options: Partial<RpcOptions>;
  };
  metrics?: { host: string; port: number };
  txpool?: TxPoolOptions;
  /** Extra data for blocks this node builds. */
  extraData?: Uint8Array;
  /** Serve the Engine API over JWT-authenticated HTTP (geth's --authrpc.*). */
  authrpc?: AuthRpcOptions;
  /**
   * Dev chain conveniences: the dev accounts' signer (eth_accounts, eth_sendTransaction), and
   * with `producer` the consensus-less block producer (a block per `blockTime` or per burst of
   * transactions with `automine`). Without `producer` the consensus layer makes the blocks.
   */
  dev?: {
    blockTime: number;
    automine: boolean;
    accounts: DevAccount[];
    feeRecipient: Hex;
    producer?: boolean;
  };
  /** Run the in-process consensus layer (proof of stake) with these validators. */
  consensus?: NodeConsensusOptions;
  /** Serve the Beacon API (REST) here; only when the consensus layer runs. Port 0 picks one. */
  rest?: { host: string; port: number };
  /** Compute layer: `gpu` selects the CUDA execution provider where available. */
  compute?: { gpu?: boolean };
  /** Join the p2p network (libp2p); only with the consensus layer. */
  p2p?: Omit<P2POptions, "datadir">;
}

export interface NodeConsensusOptions {
  /** This node's validator keys. */
  validatorKeys: ValidatorKey[];
  /**
   * The genesis validator set (used when the beacon chain is created); by default the one the
   * chain's genesis defines (`config.opengpu.validators`).
   */
  genesisValidators?: GenesisValidator[];
  feeRecipient: Hex;
  graffiti?: string;
  /**
   * Also run the genesis validators `from`..`to` (inclusive) of a network whose genesis
   * validators are the public interop keys (local devnets).
   */
  interopValidators?: { from: number; to: number };
  /** Clock source (tests drive slots by hand). */
  now?: () => number;
  /** Start the slot clock and validator duties (default true; tests drive slots themselves). */
  autoStart?: boolean;
}

export class OpenGpuNode {
  readonly el: ExecutionLayer;
  readonly rpc: JsonRpc;
  readonly metrics: Metrics;
  readonly producer: DevBlockProducer | undefined;
  /** The consensus layer, when the node runs proof of stake. */
  readonly consensus: ConsensusLayer | undefined;
  /** The Beacon API (REST) server, when the consensus layer runs and `rest` was given. */
  readonly beaconApi: BeaconApiServer | undefined;
  /** The authenticated Engine API server, when `authrpc` was given. */
  readonly engineApi: EngineServer | undefined;
  /** The network (libp2p host, gossip, req/resp, sync), when the node joined one (`p2p`). */
  readonly p2p: Network | undefined;
  /** The compute layer (tasks, providers, models, blobs). */
  readonly compute: ComputeLayer;
  /** The compute layer's client-facing reads and blob uploads (opengpu_ JSON-RPC, /opengpu/v1 REST). */
  readonly computeApi: ComputeQueries;
  /** Where the Engine API's JWT secret lives, when it is served. */
  readonly jwtSecretFile: string | undefined;
  private readonly metricsServer: FastifyInstance | undefined;
  private readonly logger: Logger;
  metricsUrl: string | undefined;

  private constructor(parts: {
    el: ExecutionLayer;
    rpc: JsonRpc;
    metrics: Metrics;
    producer?: DevBlockProducer;
    consensus?: ConsensusLayer;
    compute: ComputeLayer;
    computeApi: ComputeQueries;
    beaconApi?: BeaconApiServer;
    p2p?: Network;
    engineApi?: { server: EngineServer; jwtSecretFile: string };
    metricsServer?: FastifyInstance;
    metricsUrl?: string;
    logger: Logger;
  }) {
    this.el = parts.el;
    this.rpc = parts.rpc;
    this.metrics = parts.metrics;
    this.producer = parts.producer;
    this.consensus = parts.consensus;
    this.beaconApi = parts.beaconApi;
    this.compute = parts.compute;
    this.computeApi = parts.computeApi;
    this.p2p = parts.p2p;
    this.engineApi = parts.engineApi?.server;
    this.jwtSecretFile = parts.engineApi?.jwtSecretFile;
    this.metricsServer = parts.metricsServer;
    this.metricsUrl = parts.metricsUrl;
    this.logger = parts.logger;
  }

  static async start(opts: NodeOptions, logger: Logger): Promise<OpenGpuNode> {
    const metrics = createMetrics({ collectDefault: true });
    let p2p: Network | undefined;
    const slotMs = opts.genesis?.config.opengpu?.consensus?.secondsPerSlot;
    const el = await ExecutionLayer.open(
      {
        datadir: opts.datadir,
        genesis: opts.genesis,
        txpool: opts.txpool,
        engine: {
          extraData: opts.extraData,
          // A payload must be ready well inside its slot: a third of it under consensus (the block
          // still has to be imported and gossiped), most of the block time with the dev producer.
          maxBuildMillis:
            opts.consensus !== undefined
              ? Math.max(300, ((slotMs ?? 2) * 1000) / 3)
              : opts.dev !== undefined
                ? Math.max(500, opts.dev.blockTime * 750)
                : 1_000,
        },
      },
      { logger, metrics },
    );
    const compute = new ComputeLayer(
      { datadir: opts.datadir, gpu: opts.compute?.gpu, slotSeconds: slotMs ?? 2 },
      { chain: el.chain, pool: el.pool, logger, metrics },
    );
    const computeApi = new ComputeQueries({ datadir: opts.datadir }, { compute, chain: el.chain });
    registerComputeApiMetrics(metrics, computeApi);
    let producer: DevBlockProducer | undefined;
    if (opts.dev !== undefined && opts.dev.producer !== false && opts.consensus === undefined) {
      producer = new DevBlockProducer(
        { blockTime: opts.dev.blockTime, automine: opts.dev.automine, feeRecipient: opts.dev.feeRecipient },
        {
          engine: el.engine,
          logger: logger.child({ module: "dev" }),
          head: () => ({
            hash: bytesToHex(el.chain.head.hash()) as Hex,
            timestamp: el.chain.head.header.timestamp,
            number: el.chain.head.header.number,
          }),
          onPending: (listener) => el.pool.on("pending", listener),
        },
      );
    }
    const namespaces = new Set(DEFAULT_RPC_OPTIONS.namespaces);
    if (opts.dev !== undefined || opts.rpc.debug) namespaces.add("debug");
    if (opts.rpc.admin === true) namespaces.add("admin");
    const ctx: RpcContext = {
      chain: el.chain,
      pool: el.pool,
      opts: { ...DEFAULT_RPC_OPTIONS, namespaces, ...opts.rpc.options },
      clientVersion: `opengpu/v${VERSION}/${process.platform}-${process.arch}/node${process.versions.node}`,
      signer: opts.dev !== undefined ? devSigner(opts.dev.accounts) : undefined,
      awaitInclusion:
        opts.dev?.automine === true && producer !== undefined
          ? async (txHash) => {
              const p = producer as DevBlockProducer;
              const mined = () => el.chain.store.getTransaction(hexBytes(txHash)) !== undefined;
              // The pool's 'pending' event already started the block that includes the
              // transaction: wait for it rather than asking for another (an empty block).
              await p.idle();
              // Mine until the transaction is in a block or has left the pool (dropped).
              for (let i = 0; i < 3 && !mined(); i++) {
                if (el.pool.get(txHash) === undefined) break;
                await p.trigger();
              }
            }
          : undefined,
      peerCount: () => p2p?.host.peers.length ?? 0,
      // While range sync runs: the EL's block numbers advance one per beacon block, so the
      // distance to the best peer's head slot bounds the blocks still to come.
      syncStatus: () => {
        if (p2p === undefined || !p2p.sync.isSyncing) return false;
        const { head, target } = p2p.sync.status;
        const current = el.chain.head.header.number;
        return {
          startingBlock: current,
          currentBlock: current,
          highestBlock: current + BigInt(target - head),
        };
      },
    };
    const rpc = await JsonRpc.start(
      {
        host: opts.rpc.host,
        httpPort: opts.rpc.httpPort,
        wsPort: opts.rpc.wsPort,
        bodyLimit: opts.rpc.bodyLimit,
        batchLimit: opts.rpc.batchLimit,
        callTimeoutMs: 30_000,
        corsOrigins: opts.rpc.corsOrigins,
        rateLimit: opts.rpc.rateLimit,
        health: () => ({
          head: Number(el.chain.head.header.number),
          finalized: Number(el.chain.finalized.number),
        }),
      },
      ctx,
      {
        logger: logger.child({ module: "rpc" }),
        metrics: metrics.rpc,
        providers: { admin: () => adminMethods(() => p2p), opengpu: () => opengpuMethods(computeApi) },
      },
    );
    const engineApi =
      opts.authrpc !== undefined
        ? await startEngineApi(
            { ...opts.authrpc, datadir: opts.datadir },
            {
              engine: el.engine,
              eth: ctx,
              logger: logger.child({ module: "engine-api" }),
              metrics: metrics.rpc,
            },
          ).catch(async (err: unknown) => {
            // e.g. port 8551 taken: release the datadir and the RPC ports before failing.
            await rpc.stop();
            await el.close();
            throw err;
          })
        : undefined;
    let metricsServer: FastifyInstance | undefined;
    let metricsUrl: string | undefined;
    if (opts.metrics !== undefined) {
      metricsServer = fastify({ logger: false });
      metricsServer.get("/metrics", async (_req, reply) => {
        reply.header("content-type", metrics.registry.contentType);
        return metrics.registry.metrics();
      });
      metricsUrl = await metricsServer.listen({ host: opts.metrics.host, port: opts.metrics.port });
      logger.info({ url: `${metricsUrl}/metrics` }, "Metrics listening");
    }
    let consensus: ConsensusLayer | undefined;
    let beaconApi: BeaconApiServer | undefined;
    if (opts.consensus !== undefined) {
      const copts = opts.consensus;
      const open = async (): Promise<ConsensusLayer> => {
        // Loaded on demand: Lodestar's preset is fixed when @lodestar/params first loads.
        const {
          ConsensusLayer: Layer,
          consensusSpecOf,
          genesisValidatorsOf,
          interopKeys,
          usesInteropValidators,
        } = await import("./consensus/index.ts");
        const genesis = el.chain.config.genesis;
        const spec = consensusSpecOf(genesis);
        const genesisValidators = copts.genesisValidators ?? genesisValidatorsOf(genesis);
        const validatorKeys = [...copts.validatorKeys];
        if (copts.interopValidators !== undefined) {
          const { from, to } = copts.interopValidators;
          if (!usesInteropValidators(genesis)) {
            throw new OpenGpuError(
              "INTEROP_KEYS_REFUSED",
              "--interop-validators: this network's genesis validators are not the public interop keys",
            );
          }
          if (to >= genesisValidators.length) {
            throw new OpenGpuError(
              "INTEROP_KEYS_REFUSED",
              `--interop-validators ${from}-${to}: the genesis has ${genesisValidators.length} validators`,
            );
          }
          validatorKeys.push(...interopKeys(genesisValidators.slice(from, to + 1)));
        }
        return Layer.open(
          {
            datadir: opts.datadir,
            spec,
            elGenesis: el.chain.genesis,
            genesisValidators,
            validatorKeys,
            feeRecipient: copts.feeRecipient,
            graffiti: copts.graffiti,
            now: copts.now,
          },
          {
            engine: el.engine,
            logger,
            metrics: consensusMetricsSink(metrics),
            validatorMetrics: validatorMetricsSink(metrics),
          },
        );
      };
      consensus = await open().catch(async (err: unknown) => {
        // e.g. a genesis without consensus parameters: release everything opened so far.
        await rpc.stop();
        await engineApi?.server.stop();
        await metricsServer?.close();
        await el.close();
        throw err;
      });
      const cl = consensus;
      const { consensusValidatorProofs } = await import("./compute-layer/validator-proof.ts");
      compute.setValidatorProofs(consensusValidatorProofs(cl.chain, el.chain));
      if (opts.p2p !== undefined) {
        const { Network: Net } = await import("./p2p/index.ts");
        p2p = await Net.start(
          { ...opts.p2p, datadir: opts.datadir },
          { consensus: cl, execution: el, logger, metrics, blobs: compute.blobs.store },
        ).catch(async (err: unknown) => {
          // e.g. the p2p port is taken: release everything opened so far before failing.
          await cl.stop();
          await rpc.stop();
          await engineApi?.server.stop();
          await metricsServer?.close();
          await el.close();
          throw err;
        });
        compute.attachNetwork(p2p);
      }
      if (opts.rest !== undefined) {
        // Loaded on demand like the consensus layer (its routes load Lodestar's preset).
        const { BeaconApiServer: Server } = await import("./api/beacon/index.ts");
        const host = p2p;
        beaconApi = await Server.start(opts.rest, {
          chain: cl.chain,
          network: host?.info(),
          operations: { pool: cl.ops, submit: cl.submit },
          logger: logger.child({ module: "beacon-api" }),
          metrics: beaconApiMetrics(metrics),
          routes: computeRestRoutes(computeApi),
        }).catch(async (err: unknown) => {
          // e.g. port 5052 taken: release everything opened so far before failing.
          await host?.stop();
          await cl.stop();
          await rpc.stop();
          await engineApi?.server.stop();
          await metricsServer?.close();
          await el.close();
          throw err;
        });
      }
      if (opts.consensus.autoStart !== false) consensus.start();
    }
    producer?.start();
    return new OpenGpuNode({
      el,
      compute,
      computeApi,
      rpc,
      metrics,
      producer,
      consensus,
      beaconApi,
      p2p,
      engineApi,
      metricsServer,
      metricsUrl,
      logger,
    });
  }

  async stop(): Promise<void> {
    await this.producer?.stop();
    this.computeApi.close();
    await this.compute.stop();
    await this.beaconApi?.stop();
    await this.p2p?.stop();
    await this.consensus?.stop();
    await this.engineApi?.stop();
    await this.rpc.stop();
    await this.metricsServer?.close();
    await this.el.close();
    this.logger.info("Stopped");
  }
}

function hexBytes(hex: string): Uint8Array {
  return Uint8Array.from(Buffer.from(hex.slice(2), "hex"));
}
