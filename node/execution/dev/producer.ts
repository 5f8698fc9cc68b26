/**
 * Block production for the single-node dev chain before (and without) the consensus layer.
 *
 * It drives the execution layer exclusively through the Engine API interface, exactly as a
 * consensus client does: forkchoiceUpdated with payload attributes, getPayload, newPayload,
 * forkchoiceUpdated to the new head. Each block is immediately safe and finalized (one
 * producer, no forks). Modes: a block every `blockTime` seconds, or `automine` (a block as
 * soon as transactions are pending; bursts share a block).
 */
import { randomBytes } from "node:crypto";
import { bytesToHex } from "@ethereumjs/util";
import type { Logger } from "../../utils/logger.ts";
import type { ExecutionEngine, Hex } from "../engine/types.ts";

export interface DevProducerOptions {
  /** Seconds between blocks (ignored with automine). */
  blockTime: number;
  automine: boolean;
  feeRecipient: Hex;
}

export interface DevProducerModules {
  engine: ExecutionEngine;
  logger: Logger;
  /** Current head (hash, timestamp), to start from. */
  head: () => { hash: Hex; timestamp: bigint; number: bigint };
  /** Subscribes to "transactions became pending"; returns an unsubscribe function. */
  onPending: (listener: () => void) => () => void;
}

const ZERO_HASH = `0x${"00".repeat(32)}` as Hex;

export class DevBlockProducer {
  private readonly opts: DevProducerOptions;
  private readonly engine: ExecutionEngine;
  private readonly logger: Logger;
  private readonly head: DevProducerModules["head"];
  private readonly onPending: DevProducerModules["onPending"];
  private timer: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  /** Resolvers waiting for the next block (automine callers). */
  private waiters: (() => void)[] = [];

  constructor(opts: DevProducerOptions, modules: DevProducerModules) {
    this.opts = opts;
    this.engine = modules.engine;
    this.logger = modules.logger;
    this.head = modules.head;
    this.onPending = modules.onPending;
  }

  start(): void {
    if (this.opts.automine) {
      this.unsubscribe = this.onPending(() => this.trigger());
    } else {
      this.timer = setInterval(() => this.trigger(), this.opts.blockTime * 1000);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer !== undefined) clearInterval(this.timer);
    this.unsubscribe?.();
    await this.running;
  }

  /** Resolves when the block production in progress (if any) has finished; starts none. */
  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  /** Produces a block now (or right after the one in progress). */
  trigger(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    const done = new Promise<void>((resolve) => this.waiters.push(resolve));
    if (this.running !== undefined) {
      this.again = true;
      return done;
    }
    this.running = this.loop();
    return done;
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      const waiters = this.waiters;
      this.waiters = [];
      try {
        await this.produce();
      } catch (err) {
        this.logger.error({ err }, "Dev block production failed");
      }
      for (const resolve of waiters) resolve();
    } while (this.again && !this.stopped);
    this.running = undefined;
    for (const resolve of this.waiters.splice(0)) resolve();
  }

  /** One round of the Engine API dance. */
  async produce(): Promise<Hex> {
    const head = this.head();
    const now = BigInt(Math.floor(Date.now() / 1000));
    const timestamp = now > head.timestamp ? now : head.timestamp + 1n;
    const started = performance.now();
    const fcu = await this.engine.forkchoiceUpdatedV3(
      { headBlockHash: head.hash, safeBlockHash: head.hash, finalizedBlockHash: head.hash },
      {
        timestamp: `0x${timestamp.toString(16)}`,
        prevRandao: bytesToHex(randomBytes(32)) as Hex,
        suggestedFeeRecipient: this.opts.feeRecipient,
        withdrawals: [],
        parentBeaconBlockRoot: ZERO_HASH,
      },
    );
    if (fcu.payloadId === null)
      throw new Error(`forkchoiceUpdated returned no payload: ${fcu.payloadStatus.status}`);
    const { executionPayload, executionRequests } = await this.engine.getPayloadV4(fcu.payloadId);
    const status = await this.engine.newPayloadV4(executionPayload, [], ZERO_HASH, executionRequests);
    if (status.status !== "VALID")
      throw new Error(`own payload not valid: ${status.status} ${status.validationError ?? ""}`);
    const hash = executionPayload.blockHash;
    await this.engine.forkchoiceUpdatedV3(
      { headBlockHash: hash, safeBlockHash: hash, finalizedBlockHash: hash },
      null,
    );
    this.logger.info(
      {
        number: BigInt(executionPayload.blockNumber),
        hash,
        txs: executionPayload.transactions.length,
        gasUsed: BigInt(executionPayload.gasUsed),
        ms: Math.round(performance.now() - started),
      },
      "Produced block",
    );
    return hash;
  }
}
