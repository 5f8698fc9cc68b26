/**
 * The execution layer: an EVM chain on LevelDB with its transaction pool and Engine API.
 *
 *   eth_sendRawTransaction ─► TxPool ─► (forkchoiceUpdated + attributes) ─► Executor.build ─► payload
 *   payload ─► newPayload ─► Blockchain.insertBlock (validate, execute, store) ─► forkchoiceUpdated
 *   ─► Blockchain.setHead (canonical index, 'head' event) ─► pool reset, RPC subscriptions
 *
 * `ExecutionLayer.open` wires the pieces; the consensus layer (or the dev producer) talks to it
 * only through `engine` (an `ExecutionEngine`).
 */
import { mkdirSync } from "node:fs";
import type { GethGenesis } from "../../genesis/types.ts";
import type { Metrics } from "../metrics/index.ts";
import type { Logger } from "../utils/logger.ts";
import { Blockchain } from "./chain/blockchain.ts";
import { ChainDB } from "./db/chain-db.ts";
import { type EngineOptions, InProcessEngine } from "./engine/in-process.ts";
import { SenderRecovery } from "./sender-recovery.ts";
import { TxPool, type TxPoolOptions } from "./txpool/pool.ts";

export { Blockchain } from "./chain/blockchain.ts";
export { ChainConfig } from "./chain/config.ts";
export { ChainDB } from "./db/chain-db.ts";
export { InProcessEngine } from "./engine/in-process.ts";
export type { ExecutionEngine } from "./engine/types.ts";
export { ChainError, ChainErrorCode } from "./errors.ts";
export { TxPool } from "./txpool/pool.ts";

export interface ExecutionLayerOptions {
  datadir: string;
  /** Initialises the datadir with this genesis if it holds no chain yet. */
  genesis?: GethGenesis;
  txpool?: TxPoolOptions;
  engine?: EngineOptions;
}

export interface ExecutionLayerModules {
  logger: Logger;
  metrics?: Metrics;
}

export class ExecutionLayer {
  readonly db: ChainDB;
  readonly chain: Blockchain;
  readonly pool: TxPool;
  readonly engine: InProcessEngine;
  private readonly recovery: SenderRecovery;

  private constructor(
    db: ChainDB,
    chain: Blockchain,
    pool: TxPool,
    engine: InProcessEngine,
    recovery: SenderRecovery,
  ) {
    this.recovery = recovery;
    this.db = db;
    this.chain = chain;
    this.pool = pool;
    this.engine = engine;
  }

  static async open(opts: ExecutionLayerOptions, modules: ExecutionLayerModules): Promise<ExecutionLayer> {
    const { logger, metrics } = modules;
    mkdirSync(opts.datadir, { recursive: true });
    const db = await ChainDB.open(`${opts.datadir}/chaindata`);
    const recovery = new SenderRecovery();
    try {
      if (!Blockchain.isInitialized(db)) {
        if (opts.genesis === undefined) {
          throw new Error(
            `datadir ${opts.datadir} holds no chain: run \`opengpu init --datadir ${opts.datadir} --genesis FILE\``,
          );
        }
        await Blockchain.initGenesis(db, opts.genesis, logger.child({ module: "chain" }));
      }
      const chain = await Blockchain.open({
        db,
        logger: logger.child({ module: "chain" }),
        metrics: metrics?.chain,
        recovery,
      });
      const pool = new TxPool(opts.txpool ?? {}, {
        chain,
        logger: logger.child({ module: "txpool" }),
        metrics: metrics?.txpool,
        recovery,
      });
      await pool.start();
      const engine = new InProcessEngine(opts.engine ?? {}, {
        chain,
        pool,
        logger: logger.child({ module: "engine" }),
        metrics: metrics?.chain,
      });
      return new ExecutionLayer(db, chain, pool, engine, recovery);
    } catch (err) {
      await recovery.close();
      await db.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.pool.stop();
    await this.recovery.close();
    await this.db.close();
  }
}
